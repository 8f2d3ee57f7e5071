-- Privileges: what each access level of loyalty.grant_access() may do, object
-- by object, and that the ledger and the sales stay append-only for everyone.
--
-- The expected privileges are written down once, in tap_function_spec,
-- tap_table_spec and tap_sequence_spec below; the first tests check that
-- these lists name exactly the functions, tables and sequences the extension
-- has, so a new object without a privilege decision fails here instead of
-- going unchecked.
--
-- Four roles, created and dropped with the transaction:
--   tap_admin, tap_pos, tap_analyst  one grant_access() level each
--   tap_nobody                       no grant at all (what PUBLIC gets)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;

BEGIN;
SELECT plan(759);

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
	('time_zone_is_valid', '{text}',                                '{public}'),
	('voucher_code_is_valid', '{text}',                             '{public}'),
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
	('quote',              '{loyalty.card,jsonb,numeric,text,timestamptz}', '{admin,pos}'),
	('use_benefit',        '{loyalty.card,text,text,text}',         '{admin,pos}'),
	('use_benefit_at',     '{loyalty.card,text,text,text,timestamptz}', '{admin}'),
	('enroll_with_sale',   '{loyalty.card,text,text,text}',         '{admin,pos}'),
	('enroll_with_sales',  '{loyalty.card,text,text[],text[]}',     '{admin,pos}'),
	('benefit_tier_check', '{}',                                    '{}'),
	('explain_sale',       '{bigint}',                              '{admin,analyst}'),
	('grant_access',       '{regrole,text}',                        '{}'),
	('member_status_guard', '{}',                                   '{}'),
	('ledger_refuse_change', '{}',                                  '{}'),
	('sale_trigger',       '{}',                                    '{}'),
	('sale_statement_end', '{}',                                    '{}'),
	('rules_changed',      '{}',                                    '{}'),
	-- voucher rules (voucher_rule.sql): triggers only
	('rule_voucher_check', '{}',                                    '{}'),
	('voucher_type_rule_check', '{}',                               '{}'),
	('voucher_type_audience_check', '{}',                           '{}'),
	('audience_voucher_type_in_use', '{}',                          '{}'),
	('local_date',         '{timestamptz,text}',                    '{}'),
	('tier_period',        '{text,integer,date,date}',              '{}'),
	('tier_ladder_check',  '{}',                                    '{}'),
	('tier_events',        '{bigint[],text[],text[],boolean[],text[],timestamptz[]}', '{}'),
	('tier_review_programs', '{timestamptz}',                       '{}'),
	('tier_review_candidates', '{timestamptz}',                     '{}'),
	('tier_pending_refuse', '{}',                                   '{}'),
	('check_as_of',        '{timestamptz,text}',                    '{}'),
	('program_zones',      '{text}',                                '{}'),
	('check_program',      '{text}',                                '{}'),
	('tier_member',        '{loyalty.card}',                        '{}'),
	('tier_missing',       '{numeric,numeric}',                     '{}'),
	('tier_of',            '{loyalty.card}',                        '{admin,analyst,pos}'),
	('tier_progress',      '{loyalty.card}',                        '{admin,analyst,pos}'),
	('tier_at',            '{loyalty.card,timestamptz}',            '{admin,analyst}'),
	('review_tiers_preview', '{timestamptz,bigint[]}',              '{admin,analyst}'),
	('review_tiers',       '{timestamptz}',                         '{admin}'),
	('set_tier',           '{loyalty.card,text,text,timestamptz}',  '{admin}'),
	-- the analytics lists (test/pgtap/lists_privileges.sql runs them per level)
	('rfm',                '{timestamptz,text}',                    '{admin,analyst}'),
	('rfm_segment',        '{integer,integer,integer}',             '{admin,analyst}'),
	('repurchase',         '{timestamptz,timestamptz,integer,text,text}', '{admin,analyst}'),
	('activity',           '{timestamptz,text,text}',               '{admin,analyst}'),
	('callbacks',          '{timestamptz,integer}',                 '{admin,analyst}'),
	('buyers_of',          '{text[],text[],timestamptz}',           '{admin,analyst}'),
	('home_store',         '{text,timestamptz,timestamptz}',        '{admin,analyst}'),
	('home_store',         '{text,timestamptz,timestamptz,interval}', '{admin,analyst}'),
	('home_stores',        '{timestamptz,interval,text}',           '{admin,analyst}'),
	('home_store_transfn', '{internal,text,timestamptz,timestamptz}', '{}'),
	('home_store_transfn', '{internal,text,timestamptz,timestamptz,interval}', '{}'),
	('home_store_combine', '{internal,internal}',                   '{}'),
	('home_store_serialize', '{internal}',                          '{}'),
	('home_store_deserialize', '{bytea,internal}',                  '{}'),
	('home_store_final',   '{internal}',                            '{}'),
	-- segments (test/pgtap/segment_privileges.sql runs them per level)
	('member_features_at', '{timestamptz,text}',                    '{admin,analyst}'),
	('segment_sizes',      '{date,text}',                           '{admin,analyst}'),
	('segment_overlap',    '{date,text}',                           '{admin,analyst}'),
	('segment_migration',  '{date,date,text}',                      '{admin,analyst}'),
	('refresh_segments',   '{timestamptz}',                         '{admin}'),
	('segment_predicate_check', '{text}',                           '{admin}'),
	('segment_hits',       '{regclass,bigint}',                     '{}'),
	('segment_members_on', '{date,text}',                           '{}'),
	('segment_check',      '{}',                                    '{}'),
	('segment_in_use',     '{}',                                    '{}'),
	('rule_segments_check', '{}',                                   '{}'),
	-- audiences (test/pgtap/audience_privileges.sql runs them per level)
	('audience_add',       '{text,loyalty.card[]}',                 '{admin}'),
	('audience_remove',    '{text,loyalty.card[]}',                 '{admin}'),
	('audience_targets',   '{text,loyalty.card[]}',                 '{admin}'),
	('clip_offer',         '{text,loyalty.card}',                   '{admin,pos}'),
	('audience_member_check', '{}',                                 '{}'),
	('audience_in_use',    '{}',                                    '{}'),
	('rule_audience_check', '{}',                                   '{}'),
	-- the member value lists (test/pgtap/value_privileges.sql runs them per level)
	('member_value',       '{timestamptz,text,double precision,double precision,loyalty.bgnbd_params,loyalty.gg_params}', '{admin,analyst}'),
	('winback',            '{timestamptz,text,double precision,double precision,loyalty.bgnbd_params,loyalty.gg_params}', '{admin,analyst}'),
	('replenishment_due',  '{timestamptz,integer,text,integer,double precision,integer}', '{admin,analyst}'),
	('value_check_args',   '{timestamptz,text,double precision,double precision}', '{}'),
	('value_fit',          '{timestamptz,bigint,loyalty.bgnbd_params,loyalty.gg_params}', '{}'),
	-- tender holds (test/pgtap/hold_privileges.sql tries them per level)
	('authorize',          '{loyalty.card,bigint,text,text}',       '{admin,pos}'),
	('capture',            '{bigint,bigint}',                       '{admin,pos}'),
	('void',               '{bigint}',                              '{admin,pos}'),
	('sweep_holds',        '{}',                                    '{admin}'),
	('open_holds_of',      '{bigint,bigint}',                       '{}'),
	-- vouchers (test/pgtap/voucher_privileges.sql runs them per level)
	('issue_voucher',      '{text,loyalty.card,numeric,timestamptz,text}', '{admin}'),
	('check_voucher',      '{text,loyalty.card,text,jsonb}',        '{admin,pos}'),
	('use_voucher',        '{text,loyalty.card,text,text,jsonb}',   '{admin,pos}');

-- Table privileges per level (column privileges are checked further down).
-- Nobody may INSERT, UPDATE, DELETE or TRUNCATE the ledger, lots, balances,
-- cards or the rules' counters: only the SECURITY DEFINER posting functions
-- and the sale trigger write them.  pos and admin INSERT sales (pos reads
-- back some of their columns: column grants, below); only admin configures
-- rules and stores and consumes (deletes) the outbox.
CREATE TEMP TABLE tap_table_spec (tbl name, admin name[], pos name[], analyst name[]);
INSERT INTO tap_table_spec VALUES
	('program',         '{SELECT,INSERT,UPDATE,DELETE}', '{}',       '{SELECT}'),
	('member',          '{SELECT}',                      '{}',       '{SELECT}'),
	('member_card',     '{SELECT}',                      '{}',       '{SELECT}'),
	('member_balance',  '{SELECT}',                      '{}',       '{SELECT}'),
	('ledger',          '{SELECT}',                      '{}',       '{SELECT}'),
	('lot',             '{SELECT}',                      '{}',       '{SELECT}'),
	('store',           '{SELECT,INSERT,UPDATE,DELETE}', '{}',       '{SELECT}'),
	('rule',            '{SELECT,INSERT,UPDATE,DELETE}', '{}',       '{SELECT}'),
	('rule_spend',      '{SELECT}',                      '{}',       '{SELECT}'),
	('member_rule_use', '{SELECT}',                      '{}',       '{SELECT}'),
	('sale',            '{SELECT}',                      '{}',       '{SELECT}'),
	('outbox',          '{SELECT,UPDATE,DELETE}',        '{}',       '{SELECT}'),
	('tier',            '{SELECT,INSERT,UPDATE,DELETE}', '{}',       '{SELECT}'),
	('member_tier',     '{SELECT}',                      '{}',       '{SELECT}'),
	('tier_day',        '{SELECT}',                      '{}',       '{SELECT}'),
	('tier_change',     '{SELECT}',                      '{}',       '{SELECT}'),
	('benefit',         '{SELECT,INSERT,UPDATE,DELETE}', '{}',       '{SELECT}'),
	('benefit_use',     '{SELECT}',                      '{}',       '{SELECT}'),
	('enrolment_sale',  '{SELECT}',                      '{}',       '{SELECT}'),
	('member_features', '{SELECT}',                      '{}',       '{SELECT}'),
	('segment',         '{SELECT,INSERT,UPDATE,DELETE}', '{}',       '{SELECT}'),
	('segment_member',  '{SELECT}',                      '{}',       '{SELECT}'),
	('segment_refresh', '{SELECT}',                      '{}',       '{SELECT}'),
	('audience',        '{SELECT,INSERT,UPDATE,DELETE}', '{}',       '{SELECT}'),
	('audience_member', '{SELECT,INSERT,UPDATE,DELETE}', '{}',       '{SELECT}'),
	('hold',            '{SELECT}',                      '{}',       '{SELECT}'),
	('voucher_type',    '{SELECT,INSERT,UPDATE,DELETE}', '{}',       '{SELECT}'),
	('voucher',         '{SELECT}',                      '{}',       '{SELECT}'),
	('voucher_use',     '{SELECT}',                      '{}',       '{SELECT}');

-- Sequence privileges per level: admin draws program and rule ids, pos and
-- admin sale ids (the default of sale_id) with USAGE; member, ledger and
-- outbox ids come from the SECURITY DEFINER functions and the sale trigger
-- alone; admin may read the outbox sequence's position (SELECT: the
-- consumer's wake-up), not draw from it.
CREATE TEMP TABLE tap_sequence_spec (seq name, levels text[], privs name[] DEFAULT '{USAGE}');
INSERT INTO tap_sequence_spec VALUES
	('program_program_id_seq', '{admin}', DEFAULT),
	('member_member_id_seq',   '{}', DEFAULT),
	('ledger_entry_id_seq',    '{}', DEFAULT),
	('rule_rule_id_seq',       '{admin}', DEFAULT),
	('sale_id_seq',            '{admin,pos}', DEFAULT),
	('outbox_event_id_seq',    '{admin}', '{SELECT}'),
	('tier_id_seq',            '{admin}', DEFAULT),
	('tier_change_id_seq',     '{}', DEFAULT),
	('benefit_id_seq',         '{admin}', DEFAULT),
	('benefit_use_id_seq',     '{}', DEFAULT),
	('segment_id_seq',         '{admin}', DEFAULT),
	('audience_id_seq',        '{admin}', DEFAULT),
	('voucher_type_id_seq',    '{admin}', DEFAULT),
	('voucher_id_seq',         '{}', DEFAULT),
	('voucher_use_id_seq',     '{}', DEFAULT);

-- The columns of loyalty.sale that pos may read back (RETURNING, or by
-- (store, pos_txn) after ON CONFLICT DO NOTHING); not card, lines, award.
CREATE TEMP TABLE tap_pos_sale_columns (col name PRIMARY KEY);
INSERT INTO tap_pos_sale_columns VALUES
	('sale_id'), ('store'), ('pos_txn'), ('return_of'),
	('member_id'), ('points_earned'), ('points_pending'), ('entry_id'), ('tier'), ('vouchers'),
	('vouchers_issued');
-- The columns of loyalty.sale that pos and admin may write: the POS's own;
-- what the trigger fills in (award above all) stays the trigger's.
CREATE TEMP TABLE tap_sale_insert_columns (col name PRIMARY KEY);
INSERT INTO tap_sale_insert_columns VALUES
	('store'), ('pos_txn'), ('card'), ('occurred_at'), ('total'), ('lines'), ('return_of'), ('vouchers');

-- 1-3: the specs cover exactly what the extension installs (the analytics
-- models' functions and aggregates, named as below: test/pgtap/analytics_privileges.sql)
SELECT set_eq(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'loyalty'::regnamespace
		AND p.proname !~ '^(purchase_summary|cadence|bgnbd|gg|clv|model_fit)(_|$)'$$,
	$$SELECT format('loyalty.%I(%s)', fn, array_to_string(args, ','))::regprocedure::text FROM tap_function_spec$$,
	'every function in schema loyalty has a privilege spec, and every spec a function');
SELECT set_eq(
	$$SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')$$,
	$$SELECT tbl::text FROM tap_table_spec$$,
	'every table in schema loyalty has a privilege spec, and every spec a table');
SELECT set_eq(
	$$SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind = 'S'$$,
	$$SELECT seq::text FROM tap_sequence_spec$$,
	'every sequence in schema loyalty has a privilege spec, and every spec a sequence');

-- 4-155: EXECUTE on every function, for every role (38 functions x 4 roles)
SELECT function_privs_are('loyalty', f.fn, f.args, r.role,
		CASE WHEN 'public' = ANY (f.levels) OR r.level = ANY (f.levels)
			 THEN '{EXECUTE}' ELSE '{}' END::name[])
  FROM tap_function_spec f CROSS JOIN tap_role r
 ORDER BY f.fn, r.role;

-- 156-203: privileges on every table, for every role (12 tables x 4 roles)
SELECT table_privs_are('loyalty', t.tbl, r.role,
		CASE r.level WHEN 'admin' THEN t.admin WHEN 'pos' THEN t.pos
					 WHEN 'analyst' THEN t.analyst ELSE '{}' END)
  FROM tap_table_spec t CROSS JOIN tap_role r
 ORDER BY t.tbl, r.role;

-- 204-216: admin's column privileges on member: UPDATE of status and the
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

-- 217-230: pos's column privileges on sale: INSERT of its own columns, SELECT of
-- the columns RETURNING reads back
SELECT column_privs_are('loyalty', 'sale', a.attname, 'tap_pos',
		array_remove(ARRAY[
			CASE WHEN a.attname IN (SELECT col FROM tap_pos_sale_columns) THEN 'SELECT' END,
			CASE WHEN a.attname IN (SELECT col FROM tap_sale_insert_columns) THEN 'INSERT' END]::name[], NULL))
  FROM pg_attribute a
 WHERE a.attrelid = 'loyalty.sale'::regclass AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum;

-- 231: no column-level write privilege anywhere beyond admin's on member and what
-- the table-level INSERT and UPDATE grants of tap_table_spec imply for every
-- column (table_privs_are cannot see column grants)
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
	  SELECT r, 'sale', col::text, 'INSERT' FROM tap_sale_insert_columns, unnest(ARRAY['tap_admin', 'tap_pos']) AS r
	  UNION ALL
	  SELECT r.role::text, t.tbl::text, a.attname::text, p.priv::text
		FROM tap_table_spec t
	   CROSS JOIN tap_role r
		JOIN pg_attribute a ON a.attrelid = format('loyalty.%I', t.tbl)::regclass AND a.attnum > 0 AND NOT a.attisdropped
	   CROSS JOIN LATERAL unnest(CASE r.level WHEN 'admin' THEN t.admin WHEN 'pos' THEN t.pos
											  WHEN 'analyst' THEN t.analyst ELSE '{}' END) AS p(priv)
	   WHERE p.priv IN ('INSERT', 'UPDATE')$$,
	'the only column-level write privileges are admin''s on member''s editable columns and those of the table grants (program, rule, store, sale)');

-- 232: no column-level SELECT without the table-level one anywhere but pos's on
-- the sale columns it reads back
SELECT set_eq(
	$$SELECT r.role::text, c.relname::text AS tbl, a.attname::text AS col
		FROM tap_role r
	   CROSS JOIN pg_class c
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	   WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind = 'r'
		 AND has_column_privilege(r.role, c.oid, a.attnum, 'SELECT')
		 AND NOT has_table_privilege(r.role, c.oid, 'SELECT')$$,
	$$SELECT 'tap_pos'::text AS role, 'sale'::text AS tbl, col::text FROM tap_pos_sale_columns$$,
	'the only column-level SELECT privileges are pos''s on the sale columns RETURNING reads back');

-- 233-256: sequences, for every role (6 sequences x 4 roles), as tap_sequence_spec says
SELECT sequence_privs_are('loyalty', s.seq, r.role,
		CASE WHEN r.level = ANY (s.levels) THEN s.privs ELSE '{}' END::name[])
  FROM tap_sequence_spec s CROSS JOIN tap_role r
 ORDER BY s.seq, r.role;

-- 257-260: schema USAGE for the three levels only
SELECT schema_privs_are('loyalty', r.role,
		CASE WHEN r.level = 'none' THEN '{}' ELSE '{USAGE}' END::name[])
  FROM tap_role r ORDER BY r.role;

-- 261: SECURITY DEFINER functions pin their search_path.  The two sale
-- triggers do it in C, around each statement they run through SPI (a SET
-- clause would be applied on every row; src/loyalty.c, SqlSettingsPush), and
-- have no SET clause at all; sql/sale.sql shows the settings their SQL sees.
SELECT is_empty(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p
	   WHERE p.pronamespace = 'loyalty'::regnamespace AND p.prosecdef
		 AND CASE WHEN p.oid IN ('loyalty.sale_trigger()'::regprocedure,
								 'loyalty.sale_statement_end()'::regprocedure)
				  THEN p.proconfig IS NOT NULL OR p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
				  ELSE NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false) END$$,
	'every SECURITY DEFINER function sets search_path = pg_catalog, pg_temp (the C sale triggers: in C)');

-- ---------------------------------------------------------------------------
-- Behaviour.  Set up as the superuser: a program (1 point per unit, none
-- pending), a member with 100 points, an inactive rule (so that there is a
-- rule to read, which changes no award).
-- ---------------------------------------------------------------------------
INSERT INTO loyalty.program (code) VALUES ('tap_p');
DO $$BEGIN
	PERFORM loyalty.enroll(loyalty.card_issue('40', 1), 'tap_p');
	PERFORM loyalty.earn(loyalty.card_issue('40', 1), 100, 'tap-seed');
END$$;
INSERT INTO loyalty.rule (program_id, code, kind, points, active)
SELECT program_id, 'tap-inactive', 'bonus', 5, false FROM loyalty.program WHERE code = 'tap_p';

-- 262-285: pos
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

-- 272-285: pos and sales (card 40/2, enrolled above): the POS contract of the README
SELECT results_eq(
	$$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	  VALUES ('tap-s1', 'tap-sale-1', loyalty.card_issue('40', 2), 12.50,
			  '[{"sku": "A1", "category": "baby", "qty": 1, "amount": 12.50}]')
	  RETURNING sale_id > 0, member_id = loyalty.member_id(loyalty.card_issue('40', 2)), points_earned, points_pending$$,
	$$VALUES (true, true, 12::bigint, 0::bigint)$$,
	'pos can insert a sale and read back sale_id, member_id, points_earned, points_pending (RETURNING)');
SELECT is_empty(
	$$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	  VALUES ('tap-s1', 'tap-sale-1', loyalty.card_issue('40', 2), 12.50,
			  '[{"sku": "A1", "category": "baby", "qty": 1, "amount": 12.50}]')
	  ON CONFLICT (store, pos_txn) DO NOTHING
	  RETURNING sale_id, member_id, points_earned, points_pending$$,
	'pos can retry a sale with ON CONFLICT (store, pos_txn) DO NOTHING: no row, no error');
SELECT results_eq(
	$$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	  VALUES ('tap-s1', 'tap-sale-2', loyalty.card_issue('40', 2), 5,
			  '[{"sku": "B2", "qty": 2, "amount": 5}]')
	  ON CONFLICT (store, pos_txn) DO NOTHING
	  RETURNING points_earned, points_pending$$,
	$$VALUES (5::bigint, 0::bigint)$$,
	'pos can insert a new sale with ON CONFLICT (store, pos_txn) DO NOTHING');
SELECT is((SELECT points_earned FROM loyalty.sale WHERE store = 'tap-s1' AND pos_txn = 'tap-sale-1'), 12::bigint,
	'pos can read a sale back by (store, pos_txn)');
SELECT results_eq(
	$$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
	  SELECT 'tap-s1', 'tap-return-1', 12.50, '[{"sku": "A1", "category": "baby", "qty": 1, "amount": 12.50}]', sale_id
		FROM loyalty.sale WHERE store = 'tap-s1' AND pos_txn = 'tap-sale-1'
	  RETURNING points_earned$$,
	$$VALUES (-12::bigint)$$,
	'pos can insert a return (the trigger reverses the award)');
SELECT is((SELECT points FROM loyalty.quote(loyalty.card_issue('40', 2), '[{"sku": "A1", "qty": 1, "amount": 12.50}]', 12.50)),
	12::bigint, 'pos can quote a basket');
SELECT throws_ok($$SELECT award FROM loyalty.sale$$, '42501',
	'permission denied for table sale', 'pos cannot read the award of sales');
SELECT throws_ok($$SELECT lines FROM loyalty.sale$$, '42501',
	'permission denied for table sale', 'pos cannot read the lines of sales');
SELECT throws_ok(
	$$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	  VALUES ('tap-s1', 'tap-sale-3', loyalty.card_issue('40', 2), 1, '[{"sku": "C3", "qty": 1, "amount": 1}]')
	  RETURNING award$$, '42501',
	'permission denied for table sale', 'pos cannot read the award through RETURNING');
SELECT throws_ok(
	$$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, award)
	  VALUES ('tap-s1', 'tap-sale-4', loyalty.card_issue('40', 2), 1, '[{"sku": "C3", "qty": 1, "amount": 1}]', '{}')$$,
	'42501', 'permission denied for table sale',
	'pos cannot write award (which would make the trigger pass the row untouched)');
SELECT throws_ok(
	$$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, points_earned)
	  VALUES ('tap-s1', 'tap-sale-5', loyalty.card_issue('40', 2), 1, '[{"sku": "C3", "qty": 1, "amount": 1}]', 1000)$$,
	'42501', 'permission denied for table sale', 'pos cannot write points_earned');
SELECT throws_ok($$SELECT card FROM loyalty.sale$$, '42501',
	'permission denied for table sale', 'pos cannot read the cards of sales');
SELECT throws_ok($$UPDATE loyalty.sale SET total = total$$, '42501',
	'permission denied for table sale', 'pos cannot update a sale');
SELECT throws_ok($$DELETE FROM loyalty.sale$$, '42501',
	'permission denied for table sale', 'pos cannot delete a sale');
SELECT throws_ok($$SELECT count(*) FROM loyalty.outbox$$, '42501',
	'permission denied for table outbox', 'pos cannot read the outbox');
SELECT throws_ok($$SELECT count(*) FROM loyalty.rule$$, '42501',
	'permission denied for table rule', 'pos cannot read the rules');
SELECT throws_ok($$SELECT * FROM loyalty.explain_sale(1)$$, '42501',
	'permission denied for function explain_sale', 'pos cannot call explain_sale');
RESET ROLE;

-- 286-298: analyst
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
SELECT is((SELECT array_agg(pos_txn || ' ' || points_earned ORDER BY sale_id) FROM loyalty.sale WHERE store = 'tap-s1'),
	ARRAY['tap-sale-1 12', 'tap-sale-2 5', 'tap-return-1 -12'], 'analyst can read the sales');
SELECT is((SELECT array_agg(code) FROM loyalty.rule), ARRAY['tap-inactive'], 'analyst can read the rules');
SELECT is((SELECT array_agg(kind || ' ' || (payload->>'points') ORDER BY event_id) FROM loyalty.outbox),
	ARRAY['award 12', 'award 5', 'reversal -12'], 'analyst can read the outbox (two awards and a reversal)');
SELECT results_eq(
	$$SELECT e.code, e.fired, e.points FROM loyalty.sale s, loyalty.explain_sale(s.sale_id) e
	   WHERE s.store = 'tap-s1' AND s.pos_txn = 'tap-sale-1'$$,
	$$VALUES ('base', true, 12::bigint)$$,
	'analyst can call explain_sale');
SELECT throws_ok(
	$$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	  VALUES ('tap-s1', 'tap-analyst-sale', loyalty.card_issue('40', 2), 1, '[{"sku": "C3", "qty": 1, "amount": 1}]')$$, '42501',
	'permission denied for table sale', 'analyst cannot insert a sale');
SELECT throws_ok($$SELECT * FROM loyalty.quote(loyalty.card_issue('40', 2), '[{"sku": "A1", "qty": 1, "amount": 1}]')$$, '42501',
	'permission denied for function quote', 'analyst cannot quote');
RESET ROLE;

-- 299-320: admin
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
SELECT lives_ok(
	$$INSERT INTO loyalty.rule (program_id, code, kind, points, active)
	  SELECT program_id, 'tap-admin-rule', 'bonus', 7, false FROM loyalty.program WHERE code = 'tap_p'$$,
	'admin can create a rule');
SELECT lives_ok($$INSERT INTO loyalty.store (store, time_zone) VALUES ('tap-s1', 'Europe/Paris')$$,
	'admin can create a store');
SELECT throws_ok($$UPDATE loyalty.sale SET total = total$$, '42501',
	'permission denied for table sale', 'admin cannot update a sale');
SELECT throws_ok($$DELETE FROM loyalty.sale$$, '42501',
	'permission denied for table sale', 'admin cannot delete a sale');
SELECT throws_ok($$UPDATE loyalty.rule_spend SET points = 0$$, '42501',
	'permission denied for table rule_spend', 'admin cannot reset a rule''s budget spend');
-- the README's way of consuming the outbox (needs FOR UPDATE on outbox rows)
SELECT lives_ok(
	$$DELETE FROM loyalty.outbox
	   WHERE event_id IN (SELECT event_id FROM loyalty.outbox ORDER BY event_id
						   LIMIT 100 FOR UPDATE SKIP LOCKED)
	  RETURNING event_id, kind, payload$$,
	'admin can consume the outbox as the README says (DELETE ... FOR UPDATE SKIP LOCKED ... RETURNING)');
SELECT lives_ok($$DELETE FROM loyalty.outbox WHERE kind IN ('award', 'reversal')$$,
	'admin can delete from the outbox');
SELECT is_empty($$SELECT * FROM loyalty.outbox$$, 'the outbox is empty after admin''s DELETE');
RESET ROLE;

-- 321-328: the ledger is append-only even for the superuser (and with
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

-- 329-335: sales are append-only like the ledger, for the superuser too
SELECT throws_ok($$UPDATE loyalty.sale SET total = total$$, 'LY020', NULL,
	'superuser UPDATE of a sale is refused (LY020)');
SELECT throws_ok($$DELETE FROM loyalty.sale$$, 'LY020', NULL,
	'superuser DELETE from sale is refused (LY020)');
SELECT throws_ok($$TRUNCATE loyalty.sale$$, 'LY020', NULL,
	'superuser TRUNCATE of sale is refused (LY020)');
SET LOCAL session_replication_role = replica;
SELECT throws_ok($$UPDATE loyalty.sale SET total = total$$, 'LY020', NULL,
	'UPDATE of a sale is refused under session_replication_role = replica');
SELECT throws_ok($$DELETE FROM loyalty.sale$$, 'LY020', NULL,
	'DELETE from sale is refused under session_replication_role = replica');
SELECT throws_ok($$TRUNCATE loyalty.sale$$, 'LY020', NULL,
	'TRUNCATE of sale is refused under session_replication_role = replica');
SET LOCAL session_replication_role = origin;
SELECT is((SELECT count(*) FROM loyalty.sale), 3::bigint, 'the sales are all still there');

-- 336-340: a role with no grant (PUBLIC) gets nothing
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

-- 341-346: grant_access() itself
SELECT throws_ok($$SELECT loyalty.grant_access('tap_nobody', 'superuser')$$, 'LY008',
	'invalid access level: "superuser"', 'grant_access refuses an unknown level (LY008)');
SELECT throws_ok($$SELECT loyalty.grant_access('tap_nobody', NULL)$$, 'LY013',
	'access level is required', 'grant_access refuses a NULL level (LY013)');
SELECT throws_ok($$SELECT loyalty.grant_access('tap_nobody', 'POS')$$, 'LY008', NULL,
	'grant_access levels are case sensitive (LY008)');
SELECT throws_ok($$SELECT loyalty.grant_access(NULL, 'pos')$$, 'LY013',
	'role is required', 'grant_access refuses a NULL role (LY013)');
CREATE ROLE "tap Pos; 2";
SELECT lives_ok($$SELECT loyalty.grant_access('"tap Pos; 2"', 'pos')$$,
	'grant_access quotes a role name that needs it');
SELECT ok(has_function_privilege('tap Pos; 2', 'loyalty.redeem(loyalty.card, bigint, text, text)', 'EXECUTE')
	  AND NOT has_function_privilege('tap Pos; 2', 'loyalty.earn(loyalty.card, bigint, text, text, timestamptz, timestamptz)', 'EXECUTE'),
	'that role got the pos level and nothing more');

-- 347-353: granting twice is harmless and a level never leaks into another
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
