-- Privileges of the analytics models (purchase_summary, cadence, bgnbd_*,
-- gg_*, clv): the analyst and admin levels may run every aggregate and
-- function, pos and a role without a level none.  The support functions of
-- the aggregates (transition, final, combine, (de)serialise) are executable
-- by nobody but the owner: PostgreSQL checks them against the aggregate's
-- owner, so an analyst runs the aggregate without them.
--
-- test/pgtap/privileges.sql covers every other function of the schema and
-- leaves out the names below; test 1 here checks that this spec names
-- exactly the functions with those names.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;

BEGIN;
SELECT plan(154);

CREATE ROLE ana_admin;
CREATE ROLE ana_pos;
CREATE ROLE ana_analyst;
CREATE ROLE ana_nobody;
DO $$BEGIN
	PERFORM loyalty.grant_access('ana_admin', 'admin');
	PERFORM loyalty.grant_access('ana_pos', 'pos');
	PERFORM loyalty.grant_access('ana_analyst', 'analyst');
END$$;

CREATE TEMP TABLE ana_role (role name PRIMARY KEY, level text NOT NULL);
INSERT INTO ana_role VALUES
	('ana_admin', 'admin'), ('ana_pos', 'pos'), ('ana_analyst', 'analyst'), ('ana_nobody', 'none');
GRANT SELECT ON ana_role TO PUBLIC;

CREATE TEMP TABLE ana_function_spec (fn name, args name[], levels text[]);
INSERT INTO ana_function_spec VALUES
	('purchase_summary',             '{timestamptz,numeric,timestamptz}',          '{admin,analyst}'),
	('purchase_summary',             '{timestamptz,numeric,timestamptz,interval}', '{admin,analyst}'),
	('cadence',                      '{timestamptz}',                              '{admin,analyst}'),
	('bgnbd_fit',                    '{integer,float8,float8}',                    '{admin,analyst}'),
	('gg_fit',                       '{integer,float8}',                           '{admin,analyst}'),
	('bgnbd_p_alive',                '{loyalty.bgnbd_params,integer,float8,float8}', '{admin,analyst}'),
	('bgnbd_expected',               '{loyalty.bgnbd_params,float8,integer,float8,float8}', '{admin,analyst}'),
	('bgnbd_pmf',                    '{loyalty.bgnbd_params,float8,integer}',      '{admin,analyst}'),
	('gg_expected_spend',            '{loyalty.gg_params,integer,float8}',         '{admin,analyst}'),
	('clv',                          '{loyalty.bgnbd_params,loyalty.gg_params,integer,float8,float8,float8,float8,float8}', '{admin,analyst}'),
	('purchase_summary_trans',       '{internal,timestamptz,numeric,timestamptz}', '{}'),
	('purchase_summary_trans',       '{internal,timestamptz,numeric,timestamptz,interval}', '{}'),
	('purchase_summary_combine',     '{internal,internal}',                        '{}'),
	('purchase_summary_serialize',   '{internal}',                                 '{}'),
	('purchase_summary_deserialize', '{bytea,internal}',                           '{}'),
	('purchase_summary_final',       '{internal}',                                 '{}'),
	('cadence_trans',                '{internal,timestamptz}',                     '{}'),
	('cadence_combine',              '{internal,internal}',                        '{}'),
	('cadence_serialize',            '{internal}',                                 '{}'),
	('cadence_deserialize',          '{bytea,internal}',                           '{}'),
	('cadence_final',                '{internal}',                                 '{}'),
	('bgnbd_fit_trans',              '{internal,integer,float8,float8}',           '{}'),
	('bgnbd_fit_final',              '{internal}',                                 '{}'),
	('gg_fit_trans',                 '{internal,integer,float8}',                  '{}'),
	('gg_fit_final',                 '{internal}',                                 '{}'),
	('model_fit_combine',            '{internal,internal}',                        '{}'),
	('model_fit_serialize',          '{internal}',                                 '{}'),
	('model_fit_deserialize',        '{bytea,internal}',                           '{}');

-- 1: the spec covers exactly the analytics functions
SELECT set_eq(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'loyalty'::regnamespace
		AND p.proname ~ '^(purchase_summary|cadence|bgnbd|gg|clv|model_fit)(_|$)'$$,
	$$SELECT format('loyalty.%I(%s)', fn, array_to_string(args, ','))::regprocedure::text FROM ana_function_spec$$,
	'every analytics function and aggregate has a privilege spec, and every spec a function');

-- 2-113: EXECUTE on each (28 functions x 4 roles); 114: PUBLIC has none
SELECT function_privs_are('loyalty', f.fn, f.args, r.role,
		CASE WHEN r.level = ANY (f.levels) THEN '{EXECUTE}' ELSE '{}' END::name[])
  FROM ana_function_spec f CROSS JOIN ana_role r
 ORDER BY f.fn, f.args, r.role;
SELECT is_empty(
	$$SELECT p.oid::regprocedure FROM pg_proc p WHERE p.pronamespace = 'loyalty'::regnamespace
		AND p.proname ~ '^(purchase_summary|cadence|bgnbd|gg|clv|model_fit)(_|$)'
		AND has_function_privilege('public', p.oid, 'EXECUTE')$$,
	'PUBLIC may execute none of the analytics functions');

-- Data to run them on: three customers' sales
CREATE TEMP TABLE ana_sale (member_id int, at timestamptz, amount numeric);
INSERT INTO ana_sale VALUES
	(1, '2026-01-01 10:00+00', 10), (1, '2026-01-15 10:00+00', 20), (1, '2026-02-01 10:00+00', 30),
	(2, '2026-01-05 10:00+00', 15), (3, '2026-01-10 10:00+00', 25), (3, '2026-01-24 10:00+00', 35);
-- 31 customers' (x, t_x, t) and 500 repeat buyers' spends that identify
-- the models (as in sql/analytics_models.sql)
CREATE TEMP TABLE ana_hist AS
SELECT x, t_x::float8 AS t_x, t::float8 AS t
  FROM (VALUES (0, 0, 30, 10), (1, 2, 30, 3), (2, 25, 30, 2), (5, 28, 30, 2), (10, 29.5, 30, 1),
			   (3, 5, 30, 2), (1, 20, 30, 3), (0, 0, 20, 5), (2, 3, 20, 2), (4, 18, 20, 1)) v(x, t_x, t, k),
	   generate_series(1, k);
SELECT setseed(0.25);
CREATE TEMP TABLE ana_spend AS
SELECT x, (SELECT sum(-ln(1 - random())) FROM generate_series(1, 6 * x)) / (x * nu) AS m
  FROM (SELECT i, 1 + i % 6 AS x, (SELECT sum(-ln(1 - random())) FROM generate_series(1, 4 + 0 * i)) / 15 AS nu
		  FROM generate_series(1, 500) i) s;
GRANT SELECT ON ana_sale, ana_hist, ana_spend TO PUBLIC;

-- the calls, each as one statement
CREATE TEMP TABLE ana_call (what text, stmt text);
INSERT INTO ana_call VALUES
	('purchase_summary (3 arguments)',
	 $$SELECT (loyalty.purchase_summary(at, amount, '2026-03-01')).x FROM ana_sale GROUP BY member_id$$),
	('purchase_summary (4 arguments)',
	 $$SELECT (loyalty.purchase_summary(at, amount, '2026-03-01', '1 day')).x FROM ana_sale GROUP BY member_id$$),
	('cadence', $$SELECT (loyalty.cadence(at)).visit_days FROM ana_sale GROUP BY member_id$$),
	('bgnbd_fit', $$SELECT (loyalty.bgnbd_fit(x, t_x, t)).r FROM ana_hist$$),
	('gg_fit', $$SELECT (loyalty.gg_fit(x, m)).p FROM ana_spend$$),
	('bgnbd_p_alive', $$SELECT loyalty.bgnbd_p_alive('(0.243,4.414,0.793,2.426,,)', 2, 30.43, 38.86)$$),
	('bgnbd_expected', $$SELECT loyalty.bgnbd_expected('(0.243,4.414,0.793,2.426,,)', 39, 2, 30.43, 38.86)$$),
	('bgnbd_pmf', $$SELECT loyalty.bgnbd_pmf('(0.243,4.414,0.793,2.426,,)', 39, 1)$$),
	('gg_expected_spend', $$SELECT loyalty.gg_expected_spend('(6.25,3.74,15.44,,)', 2, 22.35)$$),
	('clv', $$SELECT loyalty.clv('(0.243,4.414,0.793,2.426,,)', '(6.25,3.74,15.44,,)', 2, 30.43, 38.86, 22.35, 52, 0.001)$$);
GRANT SELECT ON ana_call TO PUBLIC;

-- 115-124: analyst runs each
SET ROLE ana_analyst;
SELECT lives_ok(stmt, 'analyst may run ' || what) FROM ana_call ORDER BY what;
RESET ROLE;

-- 125-134: admin too
SET ROLE ana_admin;
SELECT lives_ok(stmt, 'admin may run ' || what) FROM ana_call ORDER BY what;
RESET ROLE;

-- 135-154: pos may not (42501), and neither may a role without a level
-- (no USAGE on the schema: 42501 as well)
SET ROLE ana_pos;
SELECT throws_ok(stmt, '42501', NULL, 'pos may not run ' || what) FROM ana_call ORDER BY what;
RESET ROLE;
SET ROLE ana_nobody;
SELECT throws_ok(stmt, '42501', NULL, 'a role without a level may not run ' || what) FROM ana_call ORDER BY what;
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
