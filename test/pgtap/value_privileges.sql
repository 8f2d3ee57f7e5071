-- Privileges of the member value lists (0.6.0): the analyst and admin
-- levels of loyalty.grant_access() may run member_value; pos and a role
-- without a level may not; its helpers value_check_args and value_fit no
-- level may call, and nothing is granted to PUBLIC.  member_value is
-- SECURITY DEFINER with search_path pg_catalog, pg_temp.  Each level then
-- calls it (pos: refused, 42501).
--
-- (test/pgtap/privileges.sql lists every function of the extension with
-- its levels, these included; this file runs them.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;

BEGIN;
SELECT plan(21);

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
	 $$SELECT count(*) FROM loyalty.member_value('2024-03-31', 'tap_v', 52, 0)$$);
CREATE TEMP TABLE tap_v_role (role name PRIMARY KEY, level text NOT NULL);
INSERT INTO tap_v_role VALUES
	('tap_v_admin', 'admin'), ('tap_v_pos', 'pos'), ('tap_v_analyst', 'analyst'), ('tap_v_nobody', 'none');
GRANT SELECT ON tap_v_list TO PUBLIC;

-- 1-4: EXECUTE per level
SELECT function_privs_are('loyalty', l.fn, l.args, r.role,
		CASE WHEN r.level IN ('admin', 'analyst') THEN '{EXECUTE}' ELSE '{}' END::name[])
  FROM tap_v_list l CROSS JOIN tap_v_role r
 ORDER BY l.fn, l.args, r.role;
-- 5-12: the helpers to nobody
SELECT function_privs_are('loyalty', h.fn, h.args, r.role, '{}'::name[])
  FROM (VALUES ('value_check_args'::name, '{timestamptz,text,double precision,double precision}'::name[]),
			   ('value_fit', '{timestamptz,bigint,loyalty.bgnbd_params,loyalty.gg_params}')) h(fn, args)
 CROSS JOIN tap_v_role r
 ORDER BY h.fn, r.role;

-- 13-15: nothing of it to PUBLIC
SELECT ok(NOT has_function_privilege('public', p.oid, 'EXECUTE'),
		  format('PUBLIC may not execute %s', p.oid::regprocedure))
  FROM pg_proc p
 WHERE p.pronamespace = 'loyalty'::regnamespace
   AND p.proname IN ('member_value', 'value_check_args', 'value_fit')
 ORDER BY p.oid::regprocedure::text;

-- 16: the lists run as the owner with a pinned search_path
SELECT ok(p.prosecdef AND 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig),
		  format('%s is SECURITY DEFINER with search_path = pg_catalog, pg_temp', p.oid::regprocedure))
  FROM tap_v_list l
  JOIN pg_proc p ON p.oid = format('loyalty.%I(%s)', l.fn, array_to_string(l.args, ','))::regprocedure
 ORDER BY l.fn;

-- Data, as the superuser: one member who bought on 2024-03-01 and 03-08
INSERT INTO loyalty.program (code) VALUES ('tap_v');
DO $$BEGIN
	PERFORM loyalty.enroll(loyalty.card_issue('42', 1), 'tap_v', enrolled_at => '2000-01-01 00:00+00');
END$$;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('tap-v-s1', 'tap-v-1', loyalty.card_issue('42', 1), '2024-03-01 10:00+00', 10,
		'[{"sku": "TAPV1", "category": "tapv", "qty": 1, "amount": 10}]'),
	   ('tap-v-s1', 'tap-v-2', loyalty.card_issue('42', 1), '2024-03-08 10:00+00', 12,
		'[{"sku": "TAPV1", "category": "tapv", "qty": 1, "amount": 12}]');

-- 17-18: analyst runs each, and gets the member's summary (one customer:
-- no model, a note)
SET client_min_messages = warning;
SET ROLE tap_v_analyst;
SELECT lives_ok(l.call, format('analyst can run %s(%s)', l.fn, array_to_string(l.args, ', ')))
  FROM tap_v_list l ORDER BY l.fn, l.args;
SELECT is((SELECT x || ' ' || t_x || ' ' || (model_note IS NOT NULL) FROM loyalty.member_value('2024-03-31', 'tap_v')),
	'1 1 true', 'analyst: member_value of the one member (x 1, t_x 1 week, no model)');
RESET ROLE;

-- 19: pos may not
SET ROLE tap_v_pos;
SELECT throws_ok(l.call, '42501', NULL, format('pos cannot run %s(%s)', l.fn, array_to_string(l.args, ', ')))
  FROM tap_v_list l ORDER BY l.fn, l.args;
RESET ROLE;

-- 20: admin runs each
SET ROLE tap_v_admin;
SELECT lives_ok(l.call, format('admin can run %s(%s)', l.fn, array_to_string(l.args, ', ')))
  FROM tap_v_list l ORDER BY l.fn, l.args;
RESET ROLE;

-- 21: a role without a level may not
SET ROLE tap_v_nobody;
SELECT throws_ok($$SELECT count(*) FROM loyalty.member_value('2024-03-31')$$, '42501', NULL, 'a role without a level cannot run member_value');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
