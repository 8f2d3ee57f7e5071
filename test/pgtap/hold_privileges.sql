-- Tender hold privileges (0.6.0): what each access level of
-- loyalty.grant_access() may do with holds, in the catalog and by trying it.
--
--   pos      authorize, capture, void (and balance, which shows held);
--            no SELECT on the hold table, no sweep_holds
--   analyst  reads the hold table and balance; calls none of the hold
--            functions
--   admin    all of it, and alone sweep_holds
--   nobody   (PUBLIC) nothing
--
-- Everything is rolled back at the end.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;

BEGIN;
SELECT plan(42);

CREATE ROLE th_admin;
CREATE ROLE th_pos;
CREATE ROLE th_analyst;
CREATE ROLE th_nobody;
DO $$BEGIN
	PERFORM loyalty.grant_access('th_admin', 'admin');
	PERFORM loyalty.grant_access('th_pos', 'pos');
	PERFORM loyalty.grant_access('th_analyst', 'analyst');
END$$;
CREATE TEMP TABLE th_role (role name PRIMARY KEY, level text NOT NULL);
INSERT INTO th_role VALUES ('th_admin', 'admin'), ('th_pos', 'pos'), ('th_analyst', 'analyst'), ('th_nobody', 'none');
CREATE TEMP TABLE th_function_spec (fn name, args name[], levels text[]);
INSERT INTO th_function_spec VALUES
	('authorize',   '{loyalty.card,bigint,text,text}', '{admin,pos}'),
	('capture',     '{bigint,bigint}',                 '{admin,pos}'),
	('void',        '{bigint}',                        '{admin,pos}'),
	('sweep_holds', '{}',                              '{admin}');
GRANT SELECT ON th_role, th_function_spec TO PUBLIC;

-- 1-16: EXECUTE on every hold function, for every role (4 x 4)
SELECT function_privs_are('loyalty', f.fn, f.args, r.role,
		CASE WHEN r.level = ANY (f.levels) THEN '{EXECUTE}' ELSE '{}' END::name[])
  FROM th_function_spec f CROSS JOIN th_role r
 ORDER BY f.fn, r.role;

-- 17-20: the hold table: analyst and admin read it; nobody writes it
SELECT table_privs_are('loyalty', 'hold', r.role,
		CASE WHEN r.level IN ('admin', 'analyst') THEN '{SELECT}' ELSE '{}' END::name[])
  FROM th_role r ORDER BY r.role;

-- 21: hold ids are drawn at random by authorize (no sequence, no default)
SELECT col_hasnt_default('loyalty', 'hold', 'hold_id', 'hold_id has no default to draw from');

-- 22: PUBLIC has nothing on any hold object
SELECT is_empty(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
	   WHERE p.pronamespace = 'loyalty'::regnamespace
		 AND p.proname IN ('authorize', 'capture', 'void', 'sweep_holds', 'open_holds_of') AND a.grantee = 0
	  UNION ALL
	  SELECT c.oid::regclass::text FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
	   WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relname ~ '^hold' AND a.grantee = 0$$,
	'PUBLIC has no privilege on any hold function, table or sequence');

-- ---------------------------------------------------------------------------
-- Behaviour.  As the superuser: program th_p, member 42/1 with 1000 points.
-- ---------------------------------------------------------------------------
INSERT INTO loyalty.program (code) VALUES ('th_p');
SELECT loyalty.enroll(loyalty.card_issue('42', 1), 'th_p') IS NOT NULL AS enrolled;
SELECT points FROM loyalty.earn(loyalty.card_issue('42', 1), 1000, 'th-k1');

-- 23-32: pos (which finds a hold_id by retrying its authorize: it cannot
-- read the hold table)
SET SESSION AUTHORIZATION th_pos;
SELECT results_eq(
	$$SELECT hold_id > 0, points, status FROM loyalty.authorize(loyalty.card_issue('42', 1), 300, 'th-s', 'th-1')$$,
	$$VALUES (true, 300::bigint, 'open'::text)$$,
	'pos can authorize');
SELECT results_eq(
	$$SELECT available, held FROM loyalty.balance(loyalty.card_issue('42', 1))$$,
	$$VALUES (700::bigint, 300::bigint)$$,
	'pos reads held in balance');
SELECT results_eq(
	$$SELECT status, captured
		FROM loyalty.capture((SELECT hold_id FROM loyalty.authorize(loyalty.card_issue('42', 1), 300, 'th-s', 'th-1')), 200)$$,
	$$VALUES ('captured'::text, 200::bigint)$$,
	'pos can capture');
SELECT results_eq(
	$$SELECT status FROM loyalty.authorize(loyalty.card_issue('42', 1), 100, 'th-s', 'th-2')$$,
	$$VALUES ('open'::text)$$,
	'pos can authorize again');
SELECT results_eq(
	$$SELECT status FROM loyalty.void((SELECT hold_id FROM loyalty.authorize(loyalty.card_issue('42', 1), 100, 'th-s', 'th-2')))$$,
	$$VALUES ('voided'::text)$$,
	'pos can void');
SELECT throws_ok($$SELECT * FROM loyalty.sweep_holds()$$, '42501', NULL, 'pos cannot sweep holds');
SELECT throws_ok($$SELECT * FROM loyalty.hold$$, '42501', NULL, 'pos cannot read the hold table');
SELECT throws_ok($$UPDATE loyalty.hold SET status = 'open'$$, '42501', NULL, 'pos cannot write the hold table');
-- hold ids are not a sequence: walking them from 1 finds nothing
SELECT throws_ok($$SELECT loyalty.void(1)$$, 'LY100', 'hold 1 does not exist', 'pos cannot void hold 1');
SELECT throws_ok($$SELECT loyalty.capture(2)$$, 'LY100', 'hold 2 does not exist', 'pos cannot capture hold 2');
RESET SESSION AUTHORIZATION;

-- 33-38: analyst
SET SESSION AUTHORIZATION th_analyst;
SELECT throws_ok($$SELECT loyalty.authorize(loyalty.card_issue('42', 1), 1, 'th-s', 'th-3')$$, '42501', NULL,
	'analyst cannot authorize');
SELECT throws_ok($$SELECT loyalty.capture(1)$$, '42501', NULL, 'analyst cannot capture');
SELECT throws_ok($$SELECT loyalty.void(1)$$, '42501', NULL, 'analyst cannot void');
SELECT throws_ok($$SELECT * FROM loyalty.sweep_holds()$$, '42501', NULL, 'analyst cannot sweep holds');
SELECT results_eq(
	$$SELECT pos_txn, status, captured FROM loyalty.hold ORDER BY pos_txn$$,
	$$VALUES ('th-1'::text, 'captured'::text, 200::bigint), ('th-2', 'voided', NULL)$$,
	'analyst reads the hold table');
SELECT throws_ok($$DELETE FROM loyalty.hold$$, '42501', NULL, 'analyst cannot delete holds');
RESET SESSION AUTHORIZATION;

-- 39-40: nobody
SET SESSION AUTHORIZATION th_nobody;
SELECT throws_ok($$SELECT loyalty.authorize(loyalty.card_issue('42', 1), 1, 'th-s', 'th-4')$$, '42501', NULL,
	'a role without a level cannot authorize');
SELECT throws_ok($$SELECT loyalty.void(1)$$, '42501', NULL, 'a role without a level cannot void');
RESET SESSION AUTHORIZATION;

-- 41-42: admin sweeps (a hold past its expiry, as the superuser sets it up)
SELECT hold_id FROM loyalty.authorize(loyalty.card_issue('42', 1), 50, 'th-s', 'th-5');
UPDATE loyalty.hold SET expires_at = now() - interval '1 minute' WHERE pos_txn = 'th-5';
SET SESSION AUTHORIZATION th_admin;
SELECT results_eq($$SELECT holds, points FROM loyalty.sweep_holds()$$, $$VALUES (1::bigint, 50::bigint)$$,
	'admin sweeps the expired hold');
SELECT results_eq(
	$$SELECT available, held FROM loyalty.balance(loyalty.card_issue('42', 1))$$,
	$$VALUES (800::bigint, 0::bigint)$$,
	'after the sweep: 1000 - 200 captured, nothing held');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
