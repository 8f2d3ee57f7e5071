-- Privileges of the analytics lists (0.6.0): the analyst and admin levels
-- of loyalty.grant_access() may run rfm, rfm_segment, repurchase, activity,
-- callbacks, buyers_of, home_store and home_stores; pos and a role without a
-- level may not, and nothing is granted to PUBLIC.  The functions that read
-- sales are SECURITY DEFINER with search_path pg_catalog, pg_temp.  Each
-- level then calls every one of them (pos: refused, 42501).
--
-- (test/pgtap/privileges.sql lists every function of the extension with
-- its levels, these included; this file runs them.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;

BEGIN;
SELECT plan(90);

CREATE ROLE tap_l_admin;
CREATE ROLE tap_l_pos;
CREATE ROLE tap_l_analyst;
CREATE ROLE tap_l_nobody;
DO $$BEGIN
	PERFORM loyalty.grant_access('tap_l_admin', 'admin');
	PERFORM loyalty.grant_access('tap_l_pos', 'pos');
	PERFORM loyalty.grant_access('tap_l_analyst', 'analyst');
END$$;

-- the lists, one call each (a sale of 2024-03-01 is in every one of them)
CREATE TEMP TABLE tap_list (fn name, args name[], call text, reads_sales boolean);
INSERT INTO tap_list VALUES
	('rfm',         '{timestamptz,text}',
	 $$SELECT count(*) FROM loyalty.rfm('2024-03-31', 'tap_l')$$, true),
	('rfm_segment', '{integer,integer,integer}',
	 $$SELECT loyalty.rfm_segment(5, 5, 5)$$, false),
	('repurchase',  '{timestamptz,timestamptz,integer,text,text}',
	 $$SELECT count(*) FROM loyalty.repurchase('2024-03-01', '2024-04-01', 90, 'store', 'tap_l')$$, true),
	('activity',    '{timestamptz,text,text}',
	 $$SELECT count(*) FROM loyalty.activity('2024-03-31', 'region', 'tap_l')$$, true),
	('callbacks',   '{timestamptz,integer}',
	 $$SELECT count(*) FROM loyalty.callbacks('2024-03-04 12:00+00', 3)$$, true),
	('buyers_of',   '{text[],text[],timestamptz}',
	 $$SELECT count(*) FROM loyalty.buyers_of('{TAPL1}', '{tapl}', '2024-01-01')$$, true),
	('home_store',  '{text,timestamptz,timestamptz}',
	 $$SELECT loyalty.home_store(store, occurred_at, '2024-03-31') FROM (VALUES ('S1', '2024-03-01'::timestamptz)) v(store, occurred_at)$$, false),
	('home_store',  '{text,timestamptz,timestamptz,interval}',
	 $$SELECT loyalty.home_store(store, occurred_at, '2024-03-31', '30 days') FROM (VALUES ('S1', '2024-03-01'::timestamptz)) v(store, occurred_at)$$, false),
	('home_stores', '{timestamptz,interval,text}',
	 $$SELECT count(*) FROM loyalty.home_stores('2024-03-31', '90 days', 'tap_l')$$, true);
CREATE TEMP TABLE tap_l_role (role name PRIMARY KEY, level text NOT NULL);
INSERT INTO tap_l_role VALUES
	('tap_l_admin', 'admin'), ('tap_l_pos', 'pos'), ('tap_l_analyst', 'analyst'), ('tap_l_nobody', 'none');
GRANT SELECT ON tap_list TO PUBLIC;

-- 1-36: EXECUTE per level (9 functions x 4 roles)
SELECT function_privs_are('loyalty', l.fn, l.args, r.role,
		CASE WHEN r.level IN ('admin', 'analyst') THEN '{EXECUTE}' ELSE '{}' END::name[])
  FROM tap_list l CROSS JOIN tap_l_role r
 ORDER BY l.fn, l.args, r.role;

-- 37-51: nothing of it to PUBLIC, the aggregate's support functions included
SELECT ok(NOT has_function_privilege('public', p.oid, 'EXECUTE'),
		  format('PUBLIC may not execute %s', p.oid::regprocedure))
  FROM pg_proc p
 WHERE p.pronamespace = 'loyalty'::regnamespace
   AND p.proname IN ('rfm', 'rfm_segment', 'repurchase', 'activity', 'callbacks', 'buyers_of',
					 'home_store', 'home_stores', 'home_store_transfn', 'home_store_combine',
					 'home_store_serialize', 'home_store_deserialize', 'home_store_final')
 ORDER BY p.oid::regprocedure::text;

-- 52-57: the functions that read sales run as the owner with a pinned
-- search_path (the analyst level needs no grant beyond grant_access's)
SELECT ok(p.prosecdef AND 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig),
		  format('%s is SECURITY DEFINER with search_path = pg_catalog, pg_temp', p.oid::regprocedure))
  FROM tap_list l
  JOIN pg_proc p ON p.oid = format('loyalty.%I(%s)', l.fn, array_to_string(l.args, ','))::regprocedure
 WHERE l.reads_sales
 ORDER BY l.fn;

-- Data, as the superuser: one member who bought on 2024-03-01.
INSERT INTO loyalty.program (code) VALUES ('tap_l');
INSERT INTO loyalty.store (store, region) VALUES ('tap-l-s1', 'tap-north');
DO $$BEGIN
	PERFORM loyalty.enroll(loyalty.card_issue('41', 1), 'tap_l', enrolled_at => '2000-01-01 00:00+00');
END$$;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('tap-l-s1', 'tap-l-1', loyalty.card_issue('41', 1), '2024-03-01 10:00+00', 10,
		'[{"sku": "TAPL1", "category": "tapl", "qty": 1, "amount": 10}]');

-- 58-66: analyst runs each
SET ROLE tap_l_analyst;
SELECT lives_ok(l.call, format('analyst can run %s(%s)', l.fn, array_to_string(l.args, ', ')))
  FROM tap_list l ORDER BY l.fn, l.args;
-- 67-69: and gets the member's figures
SELECT is((SELECT code || ' ' || segment FROM loyalty.rfm('2024-03-31', 'tap_l')), '111 Lost',
	'analyst: rfm of the one member (a population of one scores 111)');
SELECT is((SELECT array_agg(right(card::text, 2) || ' ' || purchase_day) FROM loyalty.callbacks('2024-03-04 12:00+00', 3)),
	ARRAY[right(loyalty.card_issue('41', 1)::text, 2) || ' 2024-03-01'], 'analyst: the callback of 2024-03-01');
SELECT is((SELECT home_store FROM loyalty.home_stores('2024-03-31', NULL, 'tap_l')), 'tap-l-s1',
	'analyst: the home store');
RESET ROLE;

-- 70-78: pos may not
SET ROLE tap_l_pos;
SELECT throws_ok(l.call, '42501', NULL, format('pos cannot run %s(%s)', l.fn, array_to_string(l.args, ', ')))
  FROM tap_list l ORDER BY l.fn, l.args;
RESET ROLE;

-- 79-87: admin runs each
SET ROLE tap_l_admin;
SELECT lives_ok(l.call, format('admin can run %s(%s)', l.fn, array_to_string(l.args, ', ')))
  FROM tap_list l ORDER BY l.fn, l.args;
RESET ROLE;

-- 88-90: a role without a level may not (a sample: it lacks even USAGE)
SET ROLE tap_l_nobody;
SELECT throws_ok($$SELECT count(*) FROM loyalty.rfm('2024-03-31')$$, '42501', NULL, 'a role without a level cannot run rfm');
SELECT throws_ok($$SELECT count(*) FROM loyalty.buyers_of('{TAPL1}')$$, '42501', NULL, 'a role without a level cannot run buyers_of');
SELECT throws_ok($$SELECT count(*) FROM loyalty.callbacks('2024-03-04')$$, '42501', NULL, 'a role without a level cannot run callbacks');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
