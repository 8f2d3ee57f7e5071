-- Privileges: what each access level of loyalty.grant_access() may do, object
-- by object, and that the ledger stays append-only for everyone.
--
-- The expected privileges are written down once, in tap_function_spec and
-- tap_table_spec below; the first tests check that these lists name exactly
-- the functions and tables the extension has, so a new function or table
-- without a privilege decision fails here instead of going unchecked.
--
-- Four roles, created and dropped with the transaction:
--   tap_admin, tap_pos, tap_analyst  one grant_access() level each
--   tap_nobody                       no grant at all (what PUBLIC gets)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;

BEGIN;
SELECT plan(242);

CREATE ROLE tap_admin;
CREATE ROLE tap_pos;
CREATE ROLE tap_analyst;
CREATE ROLE tap_nobody;
DO $$BEGIN
	PERFORM loyalty.grant_access('tap_admin', 'admin');
	PERFORM loyalty.grant_access('tap_pos', 'pos');
	PERFORM loyalty.grant_access('tap_analyst', 'analyst');
END$$;

CREATE TEMP TABLE tap_role (role name PRIMARY KEY, level text NOT NULL);
INSERT INTO tap_role VALUES
	('tap_admin', 'admin'), ('tap_pos', 'pos'), ('tap_analyst', 'analyst'), ('tap_nobody', 'none');

-- Who may execute each function.  'public': everyone (the card type and its
-- pure helpers, which read no data); otherwise the levels that get EXECUTE.
-- No level gets grant_access() or the trigger functions.
CREATE TEMP TABLE tap_function_spec (fn name, args name[], levels text[]);
INSERT INTO tap_function_spec VALUES
	('card_in',            '{cstring}',                             '{public}'),
	('card_out',           '{loyalty.card}',                        '{public}'),
	('card_recv',          '{internal}',                            '{public}'),
	('card_send',          '{loyalty.card}',                        '{public}'),
	('card_eq',            '{loyalty.card,loyalty.card}',           '{public}'),
	('card_ne',            '{loyalty.card,loyalty.card}',           '{public}'),
	('card_lt',            '{loyalty.card,loyalty.card}',           '{public}'),
	('card_le',            '{loyalty.card,loyalty.card}',           '{public}'),
	('card_gt',            '{loyalty.card,loyalty.card}',           '{public}'),
	('card_ge',            '{loyalty.card,loyalty.card}',           '{public}'),
	('card_cmp',           '{loyalty.card,loyalty.card}',           '{public}'),
	('card_hash',          '{loyalty.card}',                        '{public}'),
	('card_hash_extended', '{loyalty.card,bigint}',                 '{public}'),
	('card_issue',         '{text,bigint,integer}',                 '{public}'),
	('card_is_valid',      '{text}',                                '{public}'),
	('enroll',             '{loyalty.card,text,date,text,text,text,text,text,jsonb,timestamptz}', '{admin,pos}'),
	('member_id',          '{loyalty.card}',                        '{admin,pos,analyst}'),
	('redeem',             '{loyalty.card,bigint,text,text}',       '{admin,pos}'),
	('balance',            '{loyalty.card}',                        '{admin,pos,analyst}'),
	('balance_at',         '{loyalty.card,timestamptz,timestamptz}', '{admin,analyst}'),
	('statement',          '{loyalty.card,timestamptz,timestamptz}', '{admin,analyst}'),
	('lots_at',            '{bigint,timestamptz,timestamptz}',      '{admin,analyst}'),
	('check_invariants',   '{}',                                    '{admin,analyst}'),
	('set_member_status',  '{loyalty.card,text,text}',              '{admin}'),
	('replace_card',       '{loyalty.card,loyalty.card}',           '{admin}'),
	('earn',               '{loyalty.card,bigint,text,text,timestamptz,timestamptz}', '{admin}'),
	('adjust',             '{loyalty.card,bigint,text,text,timestamptz}', '{admin}'),
	('reverse',            '{loyalty.card,bigint,bigint,text,text}', '{admin}'),
	('expire_points',      '{timestamptz}',                         '{admin}'),
	('grant_access',       '{regrole,text}',                        '{}'),
	('member_status_guard', '{}',                                   '{}'),
	('ledger_refuse_change', '{}',                                  '{}');

-- Table privileges per level (column privileges are checked further down).
-- Nobody may INSERT, UPDATE, DELETE or TRUNCATE the ledger, lots, balances or
-- cards: only the SECURITY DEFINER posting functions write them.
CREATE TEMP TABLE tap_table_spec (tbl name, admin name[], pos name[], analyst name[]);
INSERT INTO tap_table_spec VALUES
	('program',        '{SELECT,INSERT,UPDATE,DELETE}', '{}', '{SELECT}'),
	('member',         '{SELECT}',                      '{}', '{SELECT}'),
	('member_card',    '{SELECT}',                      '{}', '{SELECT}'),
	('member_balance', '{SELECT}',                      '{}', '{SELECT}'),
	('ledger',         '{SELECT}',                      '{}', '{SELECT}'),
	('lot',            '{SELECT}',                      '{}', '{SELECT}');

-- 1-2: the specs cover exactly what the extension installs
SELECT set_eq(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'loyalty'::regnamespace$$,
	$$SELECT format('loyalty.%I(%s)', fn, array_to_string(args, ','))::regprocedure::text FROM tap_function_spec$$,
	'every function in schema loyalty has a privilege spec, and every spec a function');
SELECT set_eq(
	$$SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')$$,
	$$SELECT tbl::text FROM tap_table_spec$$,
	'every table in schema loyalty has a privilege spec, and every spec a table');

-- 3-130: EXECUTE on every function, for every role (32 functions x 4 roles)
SELECT function_privs_are('loyalty', f.fn, f.args, r.role,
		CASE WHEN 'public' = ANY (f.levels) OR r.level = ANY (f.levels)
			 THEN '{EXECUTE}' ELSE '{}' END::name[])
  FROM tap_function_spec f CROSS JOIN tap_role r
 ORDER BY f.fn, r.role;

-- 131-154: privileges on every table, for every role (6 tables x 4 roles)
SELECT table_privs_are('loyalty', t.tbl, r.role,
		CASE r.level WHEN 'admin' THEN t.admin WHEN 'pos' THEN t.pos
					 WHEN 'analyst' THEN t.analyst ELSE '{}' END)
  FROM tap_table_spec t CROSS JOIN tap_role r
 ORDER BY t.tbl, r.role;

-- 155-167: admin's column privileges on member: UPDATE of status and the
-- segmentation attributes; never of the keys or the timestamps
SELECT column_privs_are('loyalty', 'member', c.col, 'tap_admin', c.privs)
  FROM (VALUES
	('member_id',         '{SELECT}'::name[]),
	('program_id',        '{SELECT}'),
	('status',            '{SELECT,UPDATE}'),
	('birth_date',        '{SELECT,UPDATE}'),
	('gender',            '{SELECT,UPDATE}'),
	('region',            '{SELECT,UPDATE}'),
	('income_band',       '{SELECT,UPDATE}'),
	('home_store',        '{SELECT,UPDATE}'),
	('channel',           '{SELECT,UPDATE}'),
	('attributes',        '{SELECT,UPDATE}'),
	('enrolled_at',       '{SELECT}'),
	('status_changed_at', '{SELECT}'),
	('status_reason',     '{SELECT,UPDATE}')) AS c(col, privs)
 ORDER BY c.col;

-- 168: no column-level write privilege anywhere beyond the above and admin's
-- table-level grants on program (table_privs_are cannot see column grants)
SELECT set_eq(
	$$SELECT r.role::text, c.relname::text AS tbl, a.attname::text AS col, p.priv
		FROM tap_role r
	   CROSS JOIN pg_class c
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	   CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'REFERENCES']) AS p(priv)
	   WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind = 'r'
		 AND has_column_privilege(r.role, c.oid, a.attnum, p.priv)$$,
	$$SELECT 'tap_admin' AS role, 'member' AS tbl, col, 'UPDATE' AS priv
		FROM unnest(ARRAY['status', 'status_reason', 'birth_date', 'gender', 'region',
						  'income_band', 'home_store', 'channel', 'attributes']) AS col
	  UNION ALL
	  SELECT 'tap_admin', 'program', a.attname::text, p.priv
		FROM pg_attribute a CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE']) AS p(priv)
	   WHERE a.attrelid = 'loyalty.program'::regclass AND a.attnum > 0 AND NOT a.attisdropped$$,
	'the only column-level write privileges are admin''s on program and on member''s editable columns');

-- 169-180: sequences: only admin may draw program ids; ledger ids come from
-- the posting functions alone
SELECT sequence_privs_are('loyalty', s.seq, r.role,
		CASE WHEN r.level = 'admin' AND s.seq = 'program_program_id_seq'
			 THEN '{USAGE}' ELSE '{}' END::name[])
  FROM (VALUES ('program_program_id_seq'::name), ('member_member_id_seq'), ('ledger_entry_id_seq')) AS s(seq)
 CROSS JOIN tap_role r
 ORDER BY s.seq, r.role;

-- 181-184: schema USAGE for the three levels only
SELECT schema_privs_are('loyalty', r.role,
		CASE WHEN r.level = 'none' THEN '{}' ELSE '{USAGE}' END::name[])
  FROM tap_role r ORDER BY r.role;

-- 185: SECURITY DEFINER functions pin their search_path
SELECT is_empty(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p
	   WHERE p.pronamespace = 'loyalty'::regnamespace AND p.prosecdef
		 AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)$$,
	'every SECURITY DEFINER function sets search_path = pg_catalog, pg_temp');

-- ---------------------------------------------------------------------------
-- Behaviour.  Set up as the superuser: a program, a member with 100 points.
-- ---------------------------------------------------------------------------
INSERT INTO loyalty.program (code) VALUES ('tap_p');
DO $$BEGIN
	PERFORM loyalty.enroll(loyalty.card_issue('40', 1), 'tap_p');
	PERFORM loyalty.earn(loyalty.card_issue('40', 1), 100, 'tap-seed');
END$$;

-- 186-195: pos
SET ROLE tap_pos;
SELECT lives_ok($$SELECT loyalty.enroll(loyalty.card_issue('40', 2), 'tap_p')$$,
	'pos can enroll a card');
SELECT is((SELECT available FROM loyalty.balance(loyalty.card_issue('40', 1))), 100::bigint,
	'pos can read a balance');
SELECT lives_ok($$SELECT loyalty.redeem(loyalty.card_issue('40', 1), 30, 'tap-store', 'tap-txn-1')$$,
	'pos can redeem (SECURITY DEFINER: no table privileges needed)');
SELECT is((SELECT available FROM loyalty.balance(loyalty.card_issue('40', 1))), 70::bigint,
	'the redemption by pos took 30 points');
SELECT throws_ok($$SELECT count(*) FROM loyalty.ledger$$, '42501',
	'permission denied for table ledger', 'pos cannot read the ledger');
SELECT throws_ok($$SELECT count(*) FROM loyalty.member$$, '42501',
	'permission denied for table member', 'pos cannot read members');
SELECT throws_ok($$SELECT loyalty.earn(loyalty.card_issue('40', 1), 5, 'tap-pos-earn')$$, '42501',
	'permission denied for function earn', 'pos cannot call earn');
SELECT throws_ok($$SELECT loyalty.adjust(loyalty.card_issue('40', 1), 5, 'tap-pos-adj', 'x')$$, '42501',
	'permission denied for function adjust', 'pos cannot call adjust');
SELECT throws_ok($$SELECT * FROM loyalty.statement(loyalty.card_issue('40', 1), '-infinity', 'infinity')$$, '42501',
	'permission denied for function statement', 'pos cannot read a statement');
SELECT throws_ok($$INSERT INTO loyalty.ledger (member_id, kind, points, effective_at, source)
				   VALUES (1, 'earn', 1000, now(), 'tap')$$, '42501',
	'permission denied for table ledger', 'pos cannot insert into the ledger');
RESET ROLE;

-- 196-202: analyst
SET ROLE tap_analyst;
SELECT is((SELECT count(*) FROM loyalty.ledger WHERE member_id = loyalty.member_id(loyalty.card_issue('40', 1))), 2::bigint,
	'analyst can read the ledger (the seed earn and the redemption)');
SELECT is((SELECT count(*) FROM loyalty.member m JOIN loyalty.program p USING (program_id) WHERE p.code = 'tap_p'),
	2::bigint, 'analyst can read members');
SELECT is((SELECT count(*) FROM loyalty.statement(loyalty.card_issue('40', 1), '-infinity', 'infinity')),
	2::bigint, 'analyst can read a statement');
SELECT throws_ok($$INSERT INTO loyalty.program (code) VALUES ('tap_analyst_p')$$, '42501',
	'permission denied for table program', 'analyst cannot create a program');
SELECT throws_ok($$UPDATE loyalty.member SET region = 'x'$$, '42501',
	'permission denied for table member', 'analyst cannot update members');
SELECT throws_ok($$SELECT loyalty.redeem(loyalty.card_issue('40', 1), 1, 'tap-store', 'tap-txn-2')$$, '42501',
	'permission denied for function redeem', 'analyst cannot redeem');
SELECT throws_ok($$SELECT loyalty.enroll(loyalty.card_issue('40', 3), 'tap_p')$$, '42501',
	'permission denied for function enroll', 'analyst cannot enroll');
RESET ROLE;

-- 203-216: admin
SET ROLE tap_admin;
SELECT lives_ok($$INSERT INTO loyalty.program (code) VALUES ('tap_admin_p')$$,
	'admin can create a program');
SELECT lives_ok($$UPDATE loyalty.program SET name = 'Admin' WHERE code = 'tap_admin_p'$$,
	'admin can configure a program');
SELECT lives_ok($$DELETE FROM loyalty.program WHERE code = 'tap_admin_p'$$,
	'admin can delete a program');
SELECT lives_ok($$UPDATE loyalty.member SET region = 'north' WHERE member_id = loyalty.member_id(loyalty.card_issue('40', 1))$$,
	'admin can update a member''s attributes');
SELECT throws_ok($$UPDATE loyalty.member SET program_id = program_id$$, '42501',
	'permission denied for table member', 'admin cannot move a member to another program');
SELECT throws_ok($$DELETE FROM loyalty.member$$, '42501',
	'permission denied for table member', 'admin cannot delete members');
SELECT lives_ok($$SELECT loyalty.earn(loyalty.card_issue('40', 1), 5, 'tap-admin-earn')$$,
	'admin can call earn');
SELECT throws_ok($$UPDATE loyalty.ledger SET points = points + 1$$, '42501',
	'permission denied for table ledger', 'admin cannot update the ledger');
SELECT throws_ok($$DELETE FROM loyalty.ledger$$, '42501',
	'permission denied for table ledger', 'admin cannot delete from the ledger');
SELECT throws_ok($$TRUNCATE loyalty.ledger$$, '42501',
	'permission denied for table ledger', 'admin cannot truncate the ledger');
SELECT throws_ok($$INSERT INTO loyalty.ledger (member_id, kind, points, effective_at, source)
				   VALUES (1, 'earn', 1000, now(), 'tap')$$, '42501',
	'permission denied for table ledger', 'admin cannot insert into the ledger');
SELECT throws_ok($$UPDATE loyalty.member_balance SET net = net + 1000$$, '42501',
	'permission denied for table member_balance', 'admin cannot update balances');
SELECT throws_ok($$UPDATE loyalty.lot SET remaining = points$$, '42501',
	'permission denied for table lot', 'admin cannot update lots');
SELECT throws_ok($$SELECT loyalty.grant_access('tap_nobody', 'admin')$$, '42501',
	'permission denied for function grant_access', 'admin cannot grant access');
RESET ROLE;

-- 217-224: the ledger is append-only even for the superuser (and with
-- session_replication_role = replica: the triggers are ENABLE ALWAYS)
SELECT throws_ok($$UPDATE loyalty.ledger SET points = points + 1$$, 'LY020', NULL,
	'superuser UPDATE of the ledger is refused (LY020)');
SELECT throws_ok($$DELETE FROM loyalty.ledger$$, 'LY020', NULL,
	'superuser DELETE from the ledger is refused (LY020)');
SELECT throws_ok($$TRUNCATE loyalty.ledger$$, 'LY020', NULL,
	'superuser TRUNCATE of the ledger is refused (LY020)');
SELECT throws_ok($$TRUNCATE loyalty.ledger CASCADE$$, 'LY020', NULL,
	'superuser TRUNCATE ... CASCADE of the ledger is refused (LY020)');
SET LOCAL session_replication_role = replica;
SELECT throws_ok($$UPDATE loyalty.ledger SET points = points + 1$$, 'LY020', NULL,
	'UPDATE of the ledger is refused under session_replication_role = replica');
SELECT throws_ok($$DELETE FROM loyalty.ledger$$, 'LY020', NULL,
	'DELETE from the ledger is refused under session_replication_role = replica');
SELECT throws_ok($$TRUNCATE loyalty.ledger$$, 'LY020', NULL,
	'TRUNCATE of the ledger is refused under session_replication_role = replica');
SET LOCAL session_replication_role = origin;
SELECT is((SELECT count(*) FROM loyalty.ledger WHERE member_id = loyalty.member_id(loyalty.card_issue('40', 1))), 3::bigint,
	'the ledger still holds its three entries');

-- 225-229: a role with no grant (PUBLIC) gets nothing
SET ROLE tap_nobody;
SELECT throws_ok($$SELECT * FROM loyalty.balance(loyalty.card_issue('40', 1))$$, '42501',
	'permission denied for schema loyalty', 'a role without a grant cannot call balance');
RESET ROLE;
GRANT USAGE ON SCHEMA loyalty TO tap_nobody;	-- past the schema, to the objects' own ACLs
SET ROLE tap_nobody;
SELECT throws_ok($$SELECT * FROM loyalty.balance(loyalty.card_issue('40', 1))$$, '42501',
	'permission denied for function balance', 'even with USAGE on the schema, PUBLIC cannot call balance');
SELECT throws_ok($$SELECT loyalty.member_id(loyalty.card_issue('40', 1))$$, '42501',
	'permission denied for function member_id', 'PUBLIC cannot call member_id');
SELECT throws_ok($$SELECT count(*) FROM loyalty.program$$, '42501',
	'permission denied for table program', 'PUBLIC cannot read programs');
SELECT is(loyalty.card_issue('40', 7)::text, loyalty.card_issue('40', 7)::text,
	'PUBLIC can use the card type and its helpers');
RESET ROLE;

-- 230-235: grant_access() itself
SELECT throws_ok($$SELECT loyalty.grant_access('tap_nobody', 'superuser')$$, 'LY008',
	'invalid access level: "superuser"', 'grant_access refuses an unknown level (LY008)');
SELECT throws_ok($$SELECT loyalty.grant_access('tap_nobody', NULL)$$, 'LY008', NULL,
	'grant_access refuses a NULL level (LY008)');
SELECT throws_ok($$SELECT loyalty.grant_access('tap_nobody', 'POS')$$, 'LY008', NULL,
	'grant_access levels are case sensitive (LY008)');
SELECT throws_ok($$SELECT loyalty.grant_access(NULL, 'pos')$$, 'LY008', NULL,
	'grant_access refuses a NULL role (LY008)');
CREATE ROLE "tap Pos; 2";
SELECT lives_ok($$SELECT loyalty.grant_access('"tap Pos; 2"', 'pos')$$,
	'grant_access quotes a role name that needs it');
SELECT ok(has_function_privilege('tap Pos; 2', 'loyalty.redeem(loyalty.card, bigint, text, text)', 'EXECUTE')
	  AND NOT has_function_privilege('tap Pos; 2', 'loyalty.earn(loyalty.card, bigint, text, text, timestamptz, timestamptz)', 'EXECUTE'),
	'that role got the pos level and nothing more');

-- 236-242: granting twice is harmless and a level never leaks into another
SELECT lives_ok($$SELECT loyalty.grant_access('tap_pos', 'pos')$$, 'grant_access can be repeated');
SELECT function_privs_are('loyalty', 'earn', '{loyalty.card,bigint,text,text,timestamptz,timestamptz}',
	'tap_pos', '{}', 'a repeated pos grant still gives no earn');
SELECT table_privs_are('loyalty', 'ledger', 'tap_pos', '{}', 'a repeated pos grant still gives no ledger access');
SET ROLE tap_pos;
SELECT throws_ok($$SELECT loyalty.redeem(loyalty.card_issue('40', 1), 1000, 'tap-store', 'tap-txn-3')$$, 'LY010', NULL,
	'pos cannot overdraw through redeem (LY010)');
SELECT is((SELECT available FROM loyalty.balance(loyalty.card_issue('40', 1))), 75::bigint,
	'balance after the admin earn is 75');
RESET ROLE;
SELECT is_empty($$SELECT * FROM loyalty.check_invariants()$$, 'invariants hold after all of the above');
SELECT is((SELECT actor FROM loyalty.ledger WHERE kind = 'redeem' AND pos_txn = 'tap-txn-1'), session_user::text,
	'the ledger records the session user as actor');

SELECT * FROM finish();
ROLLBACK;
