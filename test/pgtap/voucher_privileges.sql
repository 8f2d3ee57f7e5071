-- Privileges of vouchers (0.6.0): admin configures voucher types and issues
-- vouchers (one or in bulk); pos checks and uses them (and names them on a
-- sale); analyst reads the tables and calls none of them; a role without a
-- level gets nothing.  (privileges.sql checks that every object has a
-- privilege spec; the specs of these objects are there too.)
--
-- Four roles, created and dropped with the transaction:
--   tapv_admin, tapv_pos, tapv_analyst  one grant_access() level each
--   tapv_nobody                         no grant at all (what PUBLIC gets)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;

BEGIN;
SELECT plan(40);

CREATE ROLE tapv_admin;
CREATE ROLE tapv_pos;
CREATE ROLE tapv_analyst;
CREATE ROLE tapv_nobody;
DO $$BEGIN
	PERFORM loyalty.grant_access('tapv_admin', 'admin');
	PERFORM loyalty.grant_access('tapv_pos', 'pos');
	PERFORM loyalty.grant_access('tapv_analyst', 'analyst');
END$$;
CREATE TEMP TABLE tapv_role (role name PRIMARY KEY, level text NOT NULL);
INSERT INTO tapv_role VALUES
	('tapv_admin', 'admin'), ('tapv_pos', 'pos'), ('tapv_analyst', 'analyst'), ('tapv_nobody', 'none');
GRANT SELECT ON tapv_role TO PUBLIC;
-- the codes issued below, for the roles that use them
CREATE TEMP TABLE tapv_code (name text PRIMARY KEY, code text);
GRANT SELECT, INSERT ON tapv_code TO PUBLIC;

-- 1-16: EXECUTE on each function, for every role (4 functions x 4 roles)
SELECT function_privs_are('loyalty', f.fn, f.args, r.role,
		CASE WHEN 'public' = ANY (f.levels) OR r.level = ANY (f.levels) THEN '{EXECUTE}' ELSE '{}' END::name[])
  FROM (VALUES
	('issue_voucher',         '{text,loyalty.card,numeric,timestamptz,text}'::name[], '{admin}'::text[]),
	('check_voucher',         '{text,loyalty.card,text,jsonb}',      '{admin,pos}'),
	('use_voucher',           '{text,loyalty.card,text,text,jsonb}', '{admin,pos}'),
	('voucher_code_is_valid', '{text}',                              '{public}')) AS f(fn, args, levels)
 CROSS JOIN tapv_role r
 ORDER BY f.fn, r.role;

-- 17-28: the tables, for every role (3 tables x 4 roles): only admin writes
-- types; vouchers and uses are written by the functions alone
SELECT table_privs_are('loyalty', t.tbl, r.role,
		CASE r.level WHEN 'admin' THEN t.admin WHEN 'pos' THEN t.pos
					 WHEN 'analyst' THEN t.analyst ELSE '{}' END)
  FROM (VALUES
	('voucher_type', '{SELECT,INSERT,UPDATE,DELETE}'::name[], '{}'::name[], '{SELECT}'::name[]),
	('voucher',      '{SELECT}',                              '{}',          '{SELECT}'),
	('voucher_use',  '{SELECT}',                              '{}',          '{SELECT}')) AS t(tbl, admin, pos, analyst)
 CROSS JOIN tapv_role r
 ORDER BY t.tbl, r.role;

INSERT INTO loyalty.program (code) VALUES ('tapv');
SELECT loyalty.enroll(loyalty.card_issue('48', n), 'tapv') FROM generate_series(1, 3) n;

-- 29-31: admin configures a type and issues in bulk, in one statement
SET ROLE tapv_admin;
SELECT lives_ok($$INSERT INTO loyalty.voucher_type (program_id, code, kind, value)
				  SELECT program_id, 'five', 'amount', 5 FROM loyalty.program WHERE code = 'tapv'$$,
	'admin may INSERT a voucher type');
SELECT lives_ok($$INSERT INTO tapv_code SELECT 'v' || n, loyalty.issue_voucher('five', loyalty.card_issue('48', n))
				  FROM generate_series(1, 3) n$$,
	'admin may issue vouchers in bulk');
SELECT is((SELECT count(*) FROM loyalty.voucher), 3::bigint, 'admin reads the vouchers');
RESET ROLE;

-- 32-36: pos checks and uses a voucher; it may neither issue nor configure
SET ROLE tapv_pos;
SELECT is((SELECT ok FROM tapv_code c, loyalty.check_voucher(c.code, loyalty.card_issue('48', 1), 'S', '[{"sku":"A","qty":1,"amount":9}]') WHERE c.name = 'v1'),
	true, 'pos may call check_voucher');
SELECT is((SELECT discount FROM tapv_code c, loyalty.use_voucher(c.code, loyalty.card_issue('48', 1), 'S', 'tapv-T1', '[{"sku":"A","qty":1,"amount":9}]') WHERE c.name = 'v1'),
	5::numeric, 'pos may call use_voucher');
SELECT throws_ok($$SELECT loyalty.issue_voucher('five', loyalty.card_issue('48', 1))$$, '42501', NULL,
	'pos may not issue a voucher');
SELECT throws_ok($$UPDATE loyalty.voucher_type SET value = 500$$, '42501', NULL,
	'pos may not UPDATE a voucher type');
SELECT throws_ok($$SELECT count(*) FROM loyalty.voucher$$, '42501', NULL,
	'pos may not read the vouchers (their codes)');
RESET ROLE;

-- 37-39: analyst reads; it neither uses, issues nor configures
SET ROLE tapv_analyst;
SELECT is((SELECT count(*) FROM loyalty.voucher_use), 1::bigint, 'analyst reads the uses');
SELECT throws_ok($$SELECT loyalty.use_voucher(code, loyalty.card_issue('48', 2), 'S', 'tapv-T2', '[]') FROM tapv_code WHERE name = 'v2'$$, '42501', NULL,
	'analyst may not call use_voucher');
SELECT throws_ok($$SELECT loyalty.issue_voucher('five', loyalty.card_issue('48', 1))$$, '42501', NULL,
	'analyst may not issue a voucher');
RESET ROLE;

-- 40: a role without a level gets nothing
SET ROLE tapv_nobody;
SELECT throws_ok($$SELECT loyalty.check_voucher(code, loyalty.card_issue('48', 2), 'S', '[]') FROM tapv_code WHERE name = 'v2'$$, '42501', NULL,
	'a role without a level may not call check_voucher');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
