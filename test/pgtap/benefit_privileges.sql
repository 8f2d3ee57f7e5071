-- Privileges of benefits and the enrolment threshold (0.6.0): pos may call
-- use_benefit, enroll_with_sale and enroll_with_sales; only admin writes
-- loyalty.benefit (and may back-fill uses with use_benefit_at); analyst reads
-- the tables and calls none of them; a role without a level gets nothing.
-- (privileges.sql checks that every object has a privilege spec; the specs
-- of these objects are there too.)
--
-- Four roles, created and dropped with the transaction:
--   tapb_admin, tapb_pos, tapb_analyst  one grant_access() level each
--   tapb_nobody                         no grant at all (what PUBLIC gets)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;

BEGIN;
SELECT plan(62);

CREATE ROLE tapb_admin;
CREATE ROLE tapb_pos;
CREATE ROLE tapb_analyst;
CREATE ROLE tapb_nobody;
DO $$BEGIN
	PERFORM loyalty.grant_access('tapb_admin', 'admin');
	PERFORM loyalty.grant_access('tapb_pos', 'pos');
	PERFORM loyalty.grant_access('tapb_analyst', 'analyst');
END$$;
CREATE TEMP TABLE tapb_role (role name PRIMARY KEY, level text NOT NULL);
INSERT INTO tapb_role VALUES
	('tapb_admin', 'admin'), ('tapb_pos', 'pos'), ('tapb_analyst', 'analyst'), ('tapb_nobody', 'none');
GRANT SELECT ON tapb_role TO PUBLIC;

CREATE TEMP TABLE tapb_function_spec (fn name, args name[], levels text[]);
INSERT INTO tapb_function_spec VALUES
	('use_benefit',        '{loyalty.card,text,text,text}',             '{admin,pos}'),
	('use_benefit_at',     '{loyalty.card,text,text,text,timestamptz}', '{admin}'),
	('enroll_with_sale',   '{loyalty.card,text,text,text}',             '{admin,pos}'),
	('enroll_with_sales',  '{loyalty.card,text,text[],text[]}',         '{admin,pos}'),
	('benefit_tier_check', '{}',                                        '{}');

-- 1-20: EXECUTE on each function, for every role (5 functions x 4 roles)
SELECT function_privs_are('loyalty', f.fn, f.args, r.role,
		CASE WHEN r.level = ANY (f.levels) THEN '{EXECUTE}' ELSE '{}' END::name[])
  FROM tapb_function_spec f CROSS JOIN tapb_role r
 ORDER BY f.fn, r.role;

-- 21-32: the tables, for every role (3 tables x 4 roles): only admin writes
-- benefits; uses and enrolments are written by the functions alone
SELECT table_privs_are('loyalty', t.tbl, r.role,
		CASE r.level WHEN 'admin' THEN t.admin WHEN 'pos' THEN t.pos
					 WHEN 'analyst' THEN t.analyst ELSE '{}' END)
  FROM (VALUES
	('benefit',        '{SELECT,INSERT,UPDATE,DELETE}'::name[], '{}'::name[], '{SELECT}'::name[]),
	('benefit_use',    '{SELECT}',                              '{}',          '{SELECT}'),
	('enrolment_sale', '{SELECT}',                              '{}',          '{SELECT}')) AS t(tbl, admin, pos, analyst)
 CROSS JOIN tapb_role r
 ORDER BY t.tbl, r.role;

-- 33-40: the sequences (2 x 4 roles): admin draws benefit ids
SELECT sequence_privs_are('loyalty', s.seq, r.role,
		CASE WHEN r.level = ANY (s.levels) THEN '{USAGE}' ELSE '{}' END::name[])
  FROM (VALUES ('benefit_id_seq', '{admin}'::text[]), ('benefit_use_id_seq', '{}')) AS s(seq, levels)
 CROSS JOIN tapb_role r
 ORDER BY s.seq, r.role;

-- what each level can do, end to end
INSERT INTO loyalty.program (code, enroll_min_spend) VALUES ('tapb', 3000);
SELECT loyalty.enroll(loyalty.card_issue('47', 1), 'tapb', enrolled_at => '2000-01-01 00:00+00');
INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES
	('tapb-S', 'tapb-A1', 3000, '[{"sku":"sofa","qty":1,"amount":3000}]'),
	('tapb-S', 'tapb-A2', 3000, '[{"sku":"sofa","qty":1,"amount":3000}]'),
	('tapb-S', 'tapb-A3', 3000, '[{"sku":"sofa","qty":1,"amount":3000}]');

-- 41-47: admin configures benefits and the program's threshold, back-fills a use
SET ROLE tapb_admin;
SELECT lives_ok($$INSERT INTO loyalty.benefit (program_id, code)
				  SELECT program_id, 'water' FROM loyalty.program WHERE code = 'tapb'$$,
	'admin may INSERT a benefit');
SELECT lives_ok($$UPDATE loyalty.benefit SET name = 'still water' WHERE code = 'water'$$,
	'admin may UPDATE a benefit');
SELECT lives_ok($$INSERT INTO loyalty.benefit (program_id, code) SELECT program_id, 'gone' FROM loyalty.program WHERE code = 'tapb'$$,
	'admin may INSERT another');
SELECT lives_ok($$DELETE FROM loyalty.benefit WHERE code = 'gone'$$,
	'admin may DELETE an unused benefit');
SELECT lives_ok($$UPDATE loyalty.program SET enroll_min_spend = 3000, enroll_window_days = 0 WHERE code = 'tapb'$$,
	'admin may set the enrolment threshold');
SELECT is((SELECT member_id FROM loyalty.use_benefit_at(loyalty.card_issue('47', 1), 'water', 'tapb-S', 'tapb-U0', now() - interval '1 minute')),
	loyalty.member_id(loyalty.card_issue('47', 1)), 'admin may back-fill a use with use_benefit_at');
SELECT is((SELECT points FROM loyalty.enroll_with_sale(loyalty.card_issue('47', 3), 'tapb', 'tapb-S', 'tapb-A3')),
	3000::bigint, 'admin may enrol with a sale');
RESET ROLE;

-- 48-54: pos uses benefits and enrols with a sale; it may not configure them
SET ROLE tapb_pos;
SELECT is((SELECT member_id FROM loyalty.use_benefit(loyalty.card_issue('47', 1), 'water', 'tapb-S', 'tapb-U1')),
	loyalty.member_id(loyalty.card_issue('47', 1)), 'pos may call use_benefit');
SELECT is((SELECT points FROM loyalty.enroll_with_sale(loyalty.card_issue('47', 2), 'tapb', 'tapb-S', 'tapb-A1')),
	3000::bigint, 'pos may call enroll_with_sale');
SELECT is((SELECT points FROM loyalty.enroll_with_sales(loyalty.card_issue('47', 4), 'tapb', '{tapb-S}', '{tapb-A2}')),
	3000::bigint, 'pos may call enroll_with_sales');
SELECT throws_ok($$INSERT INTO loyalty.benefit (program_id, code) VALUES (1, 'free-sofa')$$, '42501', NULL,
	'pos may not INSERT a benefit');
SELECT throws_ok($$UPDATE loyalty.benefit SET per_day = 100$$, '42501', NULL,
	'pos may not UPDATE a benefit');
SELECT throws_ok($$SELECT loyalty.use_benefit_at(loyalty.card_issue('47', 1), 'water', 'tapb-S', 'tapb-U2', now())$$, '42501', NULL,
	'pos may not back-fill a use');
SELECT throws_ok($$SELECT count(*) FROM loyalty.benefit_use$$, '42501', NULL,
	'pos may not read the uses');
RESET ROLE;

-- 55-60: analyst reads; it neither uses, enrols nor configures
SET ROLE tapb_analyst;
SELECT is((SELECT count(*) FROM loyalty.benefit_use), 2::bigint, 'analyst reads the uses');
SELECT is((SELECT count(*) FROM loyalty.enrolment_sale), 3::bigint, 'analyst reads the enrolments');
SELECT throws_ok($$SELECT loyalty.use_benefit(loyalty.card_issue('47', 1), 'water', 'tapb-S', 'tapb-U3')$$, '42501', NULL,
	'analyst may not call use_benefit');
SELECT throws_ok($$SELECT loyalty.enroll_with_sale(loyalty.card_issue('47', 5), 'tapb', 'tapb-S', 'tapb-A2')$$, '42501', NULL,
	'analyst may not call enroll_with_sale');
SELECT throws_ok($$INSERT INTO loyalty.benefit (program_id, code) VALUES (1, 'free-sofa')$$, '42501', NULL,
	'analyst may not INSERT a benefit');
SELECT throws_ok($$UPDATE loyalty.program SET enroll_min_spend = 1$$, '42501', NULL,
	'analyst may not change the enrolment threshold');
RESET ROLE;

-- 61-62: a role without a level gets nothing
SET ROLE tapb_nobody;
SELECT throws_ok($$SELECT loyalty.use_benefit(loyalty.card_issue('47', 1), 'water', 'tapb-S', 'tapb-U4')$$, '42501', NULL,
	'a role without a level may not call use_benefit');
SELECT throws_ok($$SELECT loyalty.enroll_with_sale(loyalty.card_issue('47', 6), 'tapb', 'tapb-S', 'tapb-A2')$$, '42501', NULL,
	'a role without a level may not call enroll_with_sale');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
