-- Privileges of the member value lists (0.6.0): the analyst and admin
-- levels of loyalty.grant_access() may run member_value, winback and
-- replenishment_due; pos and a role without a level may not; the helpers
-- value_check_args and value_fit no level may call, and nothing is granted
-- to PUBLIC.  The lists are SECURITY DEFINER with search_path pg_catalog,
-- pg_temp.  Each level then calls them (pos: refused, 42501).
--
-- (test/pgtap/privileges.sql lists every function of the extension with
-- its levels, these included; this file runs them.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;

BEGIN;
SELECT plan(43);

CREATE ROLE tap_v_admin;
CREATE ROLE tap_v_pos;
CREATE ROLE tap_v_analyst;
CREATE ROLE tap_v_nobody;
DO $$BEGIN
	PERFORM loyalty.grant_access('tap_v_admin', 'admin');
	PERFORM loyalty.grant_access('tap_v_pos', 'pos');
	PERFORM loyalty.grant_access('tap_v_analyst', 'analyst');
END$$;

-- the lists, one call each
CREATE TEMP TABLE tap_v_list (fn name, args name[], call text);
INSERT INTO tap_v_list VALUES
	('member_value', '{timestamptz,text,double precision,double precision,loyalty.bgnbd_params,loyalty.gg_params}',
	 $$SELECT count(*) FROM loyalty.member_value('2024-03-31', 'tap_v', 52, 0)$$),
	('winback', '{timestamptz,text,double precision,double precision,loyalty.bgnbd_params,loyalty.gg_params}',
	 $$SELECT count(*) FROM loyalty.winback('2024-03-31', 'tap_v', 0.5, 0.5, '(1,1,1,1,,)', '(6.25,3.74,15.44,,)')$$),
	('replenishment_due', '{timestamptz,integer,text,integer,double precision,integer}',
	 $$SELECT count(*) FROM loyalty.replenishment_due('2024-03-14 12:00+00', 7, 'tap_v', 3, 0.5, 0)$$);
CREATE TEMP TABLE tap_v_role (role name PRIMARY KEY, level text NOT NULL);
INSERT INTO tap_v_role VALUES
	('tap_v_admin', 'admin'), ('tap_v_pos', 'pos'), ('tap_v_analyst', 'analyst'), ('tap_v_nobody', 'none');
GRANT SELECT ON tap_v_list TO PUBLIC;

-- 1-12: EXECUTE per level (3 functions x 4 roles)
SELECT function_privs_are('loyalty', l.fn, l.args, r.role,
		CASE WHEN r.level IN ('admin', 'analyst') THEN '{EXECUTE}' ELSE '{}' END::name[])
  FROM tap_v_list l CROSS JOIN tap_v_role r
 ORDER BY l.fn, l.args, r.role;
-- 13-20: the helpers to nobody
SELECT function_privs_are('loyalty', h.fn, h.args, r.role, '{}'::name[])
  FROM (VALUES ('value_check_args'::name, '{timestamptz,text,double precision,double precision}'::name[]),
			   ('value_fit', '{timestamptz,bigint,loyalty.bgnbd_params,loyalty.gg_params}')) h(fn, args)
 CROSS JOIN tap_v_role r
 ORDER BY h.fn, r.role;

-- 21-25: nothing of it to PUBLIC
SELECT ok(NOT has_function_privilege('public', p.oid, 'EXECUTE'),
		  format('PUBLIC may not execute %s', p.oid::regprocedure))
  FROM pg_proc p
 WHERE p.pronamespace = 'loyalty'::regnamespace
   AND p.proname IN ('member_value', 'winback', 'replenishment_due', 'value_check_args', 'value_fit')
 ORDER BY p.oid::regprocedure::text;

-- 26-28: the lists run as the owner with a pinned search_path
SELECT ok(p.prosecdef AND 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig),
		  format('%s is SECURITY DEFINER with search_path = pg_catalog, pg_temp', p.oid::regprocedure))
  FROM tap_v_list l
  JOIN pg_proc p ON p.oid = format('loyalty.%I(%s)', l.fn, array_to_string(l.args, ','))::regprocedure
 ORDER BY l.fn;

-- Data, as the superuser: one member who bought on 2024-03-01, 03-08 and 03-15
INSERT INTO loyalty.program (code) VALUES ('tap_v');
DO $$BEGIN
	PERFORM loyalty.enroll(loyalty.card_issue('42', 1), 'tap_v', enrolled_at => '2000-01-01 00:00+00');
END$$;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'tap-v-s1', 'tap-v-' || d, loyalty.card_issue('42', 1), '2024-03-01 10:00+00'::timestamptz + d * interval '1 day', 10,
	   '[{"sku": "TAPV1", "category": "tapv", "qty": 1, "amount": 10}]'
  FROM unnest(ARRAY[0, 7, 14]) d;

-- 29-34: analyst runs each, and gets the member's figures
SET client_min_messages = warning;
SET ROLE tap_v_analyst;
SELECT lives_ok(l.call, format('analyst can run %s(%s)', l.fn, array_to_string(l.args, ', ')))
  FROM tap_v_list l ORDER BY l.fn, l.args;
SELECT is((SELECT x || ' ' || t_x || ' ' || (model_note IS NOT NULL) FROM loyalty.member_value('2024-03-31', 'tap_v')),
	'2 2 true', 'analyst: member_value of the one member (x 2, t_x 2 weeks, no model fitted)');
SELECT is((SELECT count(*) FROM loyalty.winback('2024-03-31', 'tap_v', 0.5, 0, '(1,1,1,1,,)', '(6.25,3.74,15.44,,)')),
	1::bigint, 'analyst: the member on the win-back list (P(alive) 0.27 with the pinned model)');
SELECT is((SELECT category || ' ' || expected FROM loyalty.replenishment_due('2024-03-16 12:00+00', 7, 'tap_v')),
	'tapv 2024-03-22', 'analyst: the member due again on 03-22');
RESET ROLE;

-- 35-37: pos may not
SET ROLE tap_v_pos;
SELECT throws_ok(l.call, '42501', NULL, format('pos cannot run %s(%s)', l.fn, array_to_string(l.args, ', ')))
  FROM tap_v_list l ORDER BY l.fn, l.args;
RESET ROLE;

-- 38-40: admin runs each
SET ROLE tap_v_admin;
SELECT lives_ok(l.call, format('admin can run %s(%s)', l.fn, array_to_string(l.args, ', ')))
  FROM tap_v_list l ORDER BY l.fn, l.args;
RESET ROLE;

-- 41-43: a role without a level may not
SET ROLE tap_v_nobody;
SELECT throws_ok(l.call, '42501', NULL, format('a role without a level cannot run %s', l.fn))
  FROM tap_v_list l ORDER BY l.fn, l.args;
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
