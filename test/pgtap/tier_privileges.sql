-- Tier privileges (0.6.0): what each access level of loyalty.grant_access()
-- may do with tiers, in the catalog and by trying it.
--
--   pos      tier_of, tier_progress, and the tier a sale reached through
--            RETURNING (column sale.tier); nothing else of the tiers
--   analyst  reads: tier_of, tier_at, tier_progress, review_tiers_preview and
--            the tier tables; changes nothing
--   admin    all of it, and alone set_tier, review_tiers and writes the
--            ladder (loyalty.tier); nobody writes member_tier, tier_day or
--            tier_change directly, nor calls the internal helpers
--            (tier_events would forge events)
--   nobody   (PUBLIC) nothing
--
-- The behaviour blocks switch with SET SESSION AUTHORIZATION, so that
-- session_user, which tier_change.actor records, is the acting role.
-- Everything is rolled back at the end.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;

BEGIN;
SELECT plan(151);

CREATE ROLE tt_admin;
CREATE ROLE tt_pos;
CREATE ROLE tt_analyst;
CREATE ROLE tt_nobody;
DO $$BEGIN
	PERFORM loyalty.grant_access('tt_admin', 'admin');
	PERFORM loyalty.grant_access('tt_pos', 'pos');
	PERFORM loyalty.grant_access('tt_analyst', 'analyst');
END$$;
CREATE TEMP TABLE tt_role (role name PRIMARY KEY, level text NOT NULL);
INSERT INTO tt_role VALUES ('tt_admin', 'admin'), ('tt_pos', 'pos'), ('tt_analyst', 'analyst'), ('tt_nobody', 'none');
GRANT SELECT ON tt_role TO PUBLIC;

-- the tier functions and who may execute them
CREATE TEMP TABLE tt_function_spec (fn name, args name[], levels text[]);
INSERT INTO tt_function_spec VALUES
	('tier_of',              '{loyalty.card}',                 '{admin,pos,analyst}'),
	('tier_progress',        '{loyalty.card}',                 '{admin,pos,analyst}'),
	('tier_at',              '{loyalty.card,timestamptz}',     '{admin,analyst}'),
	('review_tiers_preview', '{timestamptz,bigint[]}',         '{admin,analyst}'),
	('review_tiers',         '{timestamptz}',                  '{admin}'),
	('set_tier',             '{loyalty.card,text,text,timestamptz}', '{admin}'),
	('local_date',           '{timestamptz,text}',             '{}'),
	('tier_period',          '{text,integer,date,date}',       '{}'),
	('tier_ladder_check',    '{}',                             '{}'),
	('tier_events',          '{bigint[],text[],text[],boolean[],text[],timestamptz[]}', '{}'),
	('tier_review_programs', '{timestamptz}',                  '{}'),
	('tier_review_candidates', '{timestamptz}',                '{}'),
	('tier_member',          '{loyalty.card}',                 '{}'),
	('tier_missing',         '{numeric,numeric}',              '{}'),
	('tier_pending_refuse',  '{}',                             '{}');
GRANT SELECT ON tt_function_spec TO PUBLIC;

-- 1: the spec names every tier function the extension has
SELECT set_eq(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p
	   WHERE p.pronamespace = 'loyalty'::regnamespace
		 AND (p.proname ~ 'tier' OR p.proname = 'local_date') AND p.proname <> 'benefit_tier_check'$$,
	$$SELECT format('loyalty.%I(%s)', fn, array_to_string(args, ','))::regprocedure::text FROM tt_function_spec$$,
	'the spec covers every tier function');

-- 2-61: EXECUTE on every tier function, for every role (15 x 4)
SELECT function_privs_are('loyalty', f.fn, f.args, r.role,
		CASE WHEN r.level = ANY (f.levels) THEN '{EXECUTE}' ELSE '{}' END::name[])
  FROM tt_function_spec f CROSS JOIN tt_role r
 ORDER BY f.fn, r.role;

-- 62-77: the tier tables (4 x 4): admin writes the ladder only
SELECT table_privs_are('loyalty', t.tbl, r.role,
		CASE r.level WHEN 'admin' THEN t.admin WHEN 'analyst' THEN '{SELECT}'::name[] ELSE '{}'::name[] END)
  FROM (VALUES ('tier', '{SELECT,INSERT,UPDATE,DELETE}'::name[]), ('member_tier', '{SELECT}'),
			   ('tier_day', '{SELECT}'), ('tier_change', '{SELECT}')) AS t(tbl, admin)
 CROSS JOIN tt_role r
 ORDER BY t.tbl, r.role;

-- 78-85: the tier sequences (2 x 4): admin draws tier ids; change ids come
-- from the SECURITY DEFINER functions and the trigger
SELECT sequence_privs_are('loyalty', s.seq, r.role,
		CASE WHEN r.level = ANY (s.levels) THEN '{USAGE}' ELSE '{}' END::name[])
  FROM (VALUES ('tier_id_seq', '{admin}'::text[]), ('tier_change_id_seq', '{}')) AS s(seq, levels)
 CROSS JOIN tt_role r
 ORDER BY s.seq, r.role;

-- 86-87: pos reads sale.tier back (a column grant), nothing else of the tiers
SELECT column_privs_are('loyalty', 'sale', 'tier', 'tt_pos', '{SELECT}',
	'pos may read sale.tier (RETURNING)');
SELECT column_privs_are('loyalty', 'sale', 'tier', 'tt_nobody', '{}',
	'nobody else reads sale.tier without a grant');

-- 84: PUBLIC has nothing on any tier object
SELECT is_empty(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
	   WHERE p.pronamespace = 'loyalty'::regnamespace AND (p.proname ~ 'tier' OR p.proname = 'local_date')
		 AND a.grantee = 0
	  UNION ALL
	  SELECT c.oid::regclass::text FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
	   WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relname ~ 'tier' AND a.grantee = 0$$,
	'PUBLIC has no privilege on any tier function, table or sequence');

-- ---------------------------------------------------------------------------
-- Behaviour.  As the superuser: program tt_p (rolling, 365 days) with
-- base, silver (min_spend 100, earn x2) and gold (min_spend 1000); member
-- 41/1 with a sale of 150.00 yesterday (silver), member 41/2 with none.
-- ---------------------------------------------------------------------------
INSERT INTO loyalty.program (code) VALUES ('tt_p');
INSERT INTO loyalty.tier (program_id, code, rank) SELECT program_id, 'base', 0 FROM loyalty.program WHERE code = 'tt_p';
INSERT INTO loyalty.tier (program_id, code, rank, min_spend, earn_multiplier)
SELECT program_id, 'silver', 1, 100, 2 FROM loyalty.program WHERE code = 'tt_p';
INSERT INTO loyalty.tier (program_id, code, rank, min_spend) SELECT program_id, 'gold', 2, 1000 FROM loyalty.program WHERE code = 'tt_p';
SET CONSTRAINTS loyalty.tier_ladder_check IMMEDIATE;
DO $$BEGIN
	PERFORM loyalty.enroll(loyalty.card_issue('41', 1), 'tt_p', enrolled_at => now() - interval '10 days');
	PERFORM loyalty.enroll(loyalty.card_issue('41', 2), 'tt_p', enrolled_at => now() - interval '10 days');
END$$;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('tt-s', 'tt-1', loyalty.card_issue('41', 1), now() - interval '1 day', 150.00,
		'[{"sku": "A1", "qty": 1, "amount": 150.00}]');

-- 89-108: pos
SET SESSION AUTHORIZATION tt_pos;
SELECT is(loyalty.tier_of(loyalty.card_issue('41', 1)), 'silver', 'pos can call tier_of');
SELECT results_eq(
	$$SELECT tier, spend, next_tier, spend_missing FROM loyalty.tier_progress(loyalty.card_issue('41', 1))$$,
	$$VALUES ('silver'::text, 150.00::numeric, 'gold'::text, 850.00::numeric)$$,
	'pos can call tier_progress');
SELECT results_eq(
	$$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	  VALUES ('tt-s', 'tt-2', loyalty.card_issue('41', 2), 120.00, '[{"sku": "A1", "qty": 1, "amount": 120.00}]')
	  RETURNING tier, points_earned$$,
	$$VALUES ('silver'::text, 120::bigint)$$,
	'pos reads the tier a sale reached through RETURNING (it earned at base: 120)');
SELECT results_eq(
	$$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	  VALUES ('tt-s', 'tt-3', loyalty.card_issue('41', 2), 10.00, '[{"sku": "A1", "qty": 1, "amount": 10.00}]')
	  RETURNING tier, points_earned$$,
	$$VALUES ('silver'::text, 20::bigint)$$,
	'the next sale earns at silver (x2) and shows it');
SELECT results_eq(
	$$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
	  SELECT 'tt-s', 'tt-r3', 10.00, '[{"sku": "A1", "qty": 1, "amount": 10.00}]', sale_id
		FROM loyalty.sale WHERE store = 'tt-s' AND pos_txn = 'tt-3'
	  RETURNING tier, points_earned$$,
	$$VALUES ('silver'::text, -20::bigint)$$,
	'pos reads the tier through a return''s RETURNING (a return never moves a member down)');
SELECT is((SELECT tier FROM loyalty.sale WHERE store = 'tt-s' AND pos_txn = 'tt-2'), 'silver',
	'pos can read sale.tier back by (store, pos_txn)');
SELECT is((SELECT tier FROM loyalty.quote(loyalty.card_issue('41', 2), '[{"sku": "A1", "qty": 1, "amount": 1}]')),
	'silver', 'pos sees the tier in a quote');
SELECT throws_ok($$SELECT loyalty.set_tier(loyalty.card_issue('41', 2), 'gold', 'pos wants gold')$$, '42501',
	'permission denied for function set_tier', 'pos cannot call set_tier');
SELECT throws_ok($$SELECT * FROM loyalty.review_tiers()$$, '42501',
	'permission denied for function review_tiers', 'pos cannot call review_tiers');
SELECT throws_ok($$SELECT loyalty.tier_at(loyalty.card_issue('41', 1), now())$$, '42501',
	'permission denied for function tier_at', 'pos cannot call tier_at (history is the analyst''s)');
SELECT throws_ok($$SELECT * FROM loyalty.review_tiers_preview()$$, '42501',
	'permission denied for function review_tiers_preview', 'pos cannot preview a review (every member''s tier)');
SELECT throws_ok($$SELECT count(*) FROM loyalty.tier$$, '42501',
	'permission denied for table tier', 'pos cannot read the ladder table');
SELECT throws_ok($$INSERT INTO loyalty.tier (program_id, code, rank, min_spend) VALUES (1, 'pos-tier', 7, 5)$$, '42501',
	'permission denied for table tier', 'pos cannot write the ladder');
SELECT throws_ok($$SELECT count(*) FROM loyalty.member_tier$$, '42501',
	'permission denied for table member_tier', 'pos cannot read member_tier');
SELECT throws_ok($$UPDATE loyalty.member_tier SET tier_id = tier_id$$, '42501',
	'permission denied for table member_tier', 'pos cannot update member_tier');
SELECT throws_ok($$SELECT count(*) FROM loyalty.tier_change$$, '42501',
	'permission denied for table tier_change', 'pos cannot read the tier history');
SELECT throws_ok($$INSERT INTO loyalty.tier_day VALUES (1, current_date, 1000000, 0)$$, '42501',
	'permission denied for table tier_day', 'pos cannot write day figures');
SELECT throws_ok($$SELECT loyalty.tier_events('{1}', '{base}', '{gold}', '{true}', '{qualified}', ARRAY[now()])$$, '42501',
	'permission denied for function tier_events', 'pos cannot forge a tier event');
SELECT throws_ok($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, tier)
				   VALUES ('tt-s', 'tt-4', loyalty.card_issue('41', 2), 1, '[{"sku": "A1", "qty": 1, "amount": 1}]', 'gold')$$,
	'42501', 'permission denied for table sale', 'pos cannot write sale.tier');
SELECT throws_ok($$SELECT loyalty.local_date(now(), 'UTC')$$, '42501',
	'permission denied for function local_date', 'pos cannot call the internal local_date');
RESET SESSION AUTHORIZATION;

-- 109-126: analyst
SET SESSION AUTHORIZATION tt_analyst;
SELECT is(loyalty.tier_of(loyalty.card_issue('41', 1)), 'silver', 'analyst can call tier_of');
SELECT is(loyalty.tier_at(loyalty.card_issue('41', 1), now() - interval '2 days'), 'base', 'analyst can call tier_at (before the sale: base)');
SELECT is(loyalty.tier_at(loyalty.card_issue('41', 1), now()), 'silver', 'analyst can call tier_at (now: silver)');
SELECT is((SELECT tier FROM loyalty.tier_progress(loyalty.card_issue('41', 2))), 'silver', 'analyst can call tier_progress');
SELECT is_empty($$SELECT * FROM loyalty.review_tiers_preview()$$,
	'analyst can call review_tiers_preview (nothing to change)');
SELECT is((SELECT count(*) FROM loyalty.tier_change WHERE cause = 'qualified'), 2::bigint,
	'analyst can read the tier history (two upgrades)');
SELECT is((SELECT count(*) FROM loyalty.member_tier), 2::bigint, 'analyst can read member_tier');
SELECT is((SELECT array_agg(t.code ORDER BY t.rank) FROM loyalty.tier t JOIN loyalty.program p USING (program_id) WHERE p.code = 'tt_p'),
	ARRAY['base', 'silver', 'gold'], 'analyst can read the ladder');
SELECT throws_ok($$SELECT loyalty.set_tier(loyalty.card_issue('41', 2), 'gold', 'analyst wants gold')$$, '42501',
	'permission denied for function set_tier', 'analyst cannot call set_tier');
SELECT throws_ok($$SELECT * FROM loyalty.review_tiers()$$, '42501',
	'permission denied for function review_tiers', 'analyst cannot call review_tiers');
SELECT throws_ok($$INSERT INTO loyalty.tier (program_id, code, rank, min_spend) VALUES (1, 'an-tier', 7, 5)$$, '42501',
	'permission denied for table tier', 'analyst cannot add a tier');
SELECT throws_ok($$UPDATE loyalty.tier SET min_spend = 1 WHERE code = 'gold'$$, '42501',
	'permission denied for table tier', 'analyst cannot change a threshold');
SELECT throws_ok($$DELETE FROM loyalty.tier WHERE code = 'gold'$$, '42501',
	'permission denied for table tier', 'analyst cannot delete a tier');
SELECT throws_ok($$UPDATE loyalty.member_tier SET override_tier_id = tier_id$$, '42501',
	'permission denied for table member_tier', 'analyst cannot set an override by hand');
SELECT throws_ok($$INSERT INTO loyalty.tier_change (member_id, from_tier_id, to_tier_id, changed_at, cause)
				   SELECT member_id, tier_id, tier_id, now(), 'override' FROM loyalty.member_tier LIMIT 1$$, '42501',
	'permission denied for table tier_change', 'analyst cannot write the tier history');
SELECT throws_ok($$DELETE FROM loyalty.tier_day$$, '42501',
	'permission denied for table tier_day', 'analyst cannot delete day figures');
SELECT throws_ok($$SELECT loyalty.tier_events('{1}', '{base}', '{gold}', '{true}', '{qualified}', ARRAY[now()])$$, '42501',
	'permission denied for function tier_events', 'analyst cannot forge a tier event');
SELECT throws_ok($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
				   VALUES ('tt-s', 'tt-an', loyalty.card_issue('41', 2), 1, '[{"sku": "A1", "qty": 1, "amount": 1}]')$$,
	'42501', 'permission denied for table sale', 'analyst cannot insert a sale (which could move a tier)');
RESET SESSION AUTHORIZATION;

-- 127-142: admin
SET SESSION AUTHORIZATION tt_admin;
SELECT cmp_ok(loyalty.set_tier(loyalty.card_issue('41', 2), 'gold', 'complaint handled', now() + interval '30 days'), '>', 0::bigint,
	'admin can call set_tier');
SELECT results_eq(
	$$SELECT f.code, t.code, c.cause, c.actor, c.reason
		FROM loyalty.tier_change c JOIN loyalty.tier f ON f.tier_id = c.from_tier_id JOIN loyalty.tier t ON t.tier_id = c.to_tier_id
	   WHERE c.member_id = loyalty.member_id(loyalty.card_issue('41', 2)) AND c.cause = 'override'$$,
	$$VALUES ('silver'::text, 'gold'::text, 'override'::text, 'tt_admin'::text, 'complaint handled'::text)$$,
	'the override is in the history with its actor (the session user) and reason');
SELECT is(loyalty.tier_of(loyalty.card_issue('41', 2)), 'gold', 'the override holds now');
SELECT results_eq($$SELECT members_checked, upgraded, downgraded, overrides_expired FROM loyalty.review_tiers()$$,
	$$VALUES (2::bigint, 0::bigint, 0::bigint, 0::bigint)$$,
	'admin can call review_tiers (nothing to change)');
SELECT throws_ok($$SELECT * FROM loyalty.review_tiers(now() + interval '1 day')$$, 'LY016', NULL,
	'review_tiers refuses an as_of in the future (LY016)');
SELECT lives_ok($$INSERT INTO loyalty.tier (program_id, code, rank, min_spend, discount_pct)
				  SELECT program_id, 'platinum', 3, 5000, 5 FROM loyalty.program WHERE code = 'tt_p'$$,
	'admin can add a tier');
SELECT lives_ok($$UPDATE loyalty.tier SET min_spend = 4000 WHERE code = 'platinum'$$, 'admin can change a threshold');
SELECT throws_ok($$UPDATE loyalty.tier SET min_spend = 50 WHERE code = 'platinum'$$, 'LY052', NULL,
	'admin cannot give a higher tier a lower threshold (LY052)');
SELECT lives_ok($$DELETE FROM loyalty.tier WHERE code = 'platinum'$$, 'admin can delete a tier nobody ever held');
SELECT throws_ok($$DELETE FROM loyalty.tier WHERE code = 'silver'$$, '23503', NULL,
	'admin cannot delete a tier members hold or held');
SELECT throws_ok($$UPDATE loyalty.member_tier SET tier_id = tier_id$$, '42501',
	'permission denied for table member_tier', 'admin cannot write member_tier by hand (set_tier does)');
SELECT throws_ok($$DELETE FROM loyalty.tier_change$$, '42501',
	'permission denied for table tier_change', 'admin cannot delete tier history');
SELECT throws_ok($$UPDATE loyalty.tier_day SET spend = spend + 1000$$, '42501',
	'permission denied for table tier_day', 'admin cannot inflate day figures');
SELECT throws_ok($$SELECT loyalty.tier_events('{1}', '{base}', '{gold}', '{true}', '{qualified}', ARRAY[now()])$$, '42501',
	'permission denied for function tier_events', 'admin cannot forge a tier event');
SELECT throws_ok($$SELECT loyalty.tier_member(loyalty.card_issue('41', 1))$$, '42501',
	'permission denied for function tier_member', 'admin cannot call the internal tier_member');
SELECT throws_ok($$SELECT loyalty.set_tier(loyalty.card_issue('41', 2), 'diamond', 'no such tier')$$, 'LY050', NULL,
	'set_tier refuses an unknown tier code (LY050)');
RESET SESSION AUTHORIZATION;

-- 143-148: nobody (PUBLIC)
SET SESSION AUTHORIZATION tt_nobody;
SELECT throws_ok($$SELECT loyalty.tier_of(loyalty.card_issue('41', 1))$$, '42501', NULL, 'nobody cannot call tier_of');
SELECT throws_ok($$SELECT * FROM loyalty.tier_progress(loyalty.card_issue('41', 1))$$, '42501', NULL, 'nobody cannot call tier_progress');
SELECT throws_ok($$SELECT loyalty.tier_at(loyalty.card_issue('41', 1), now())$$, '42501', NULL, 'nobody cannot call tier_at');
SELECT throws_ok($$SELECT * FROM loyalty.review_tiers()$$, '42501', NULL, 'nobody cannot call review_tiers');
SELECT throws_ok($$SELECT loyalty.set_tier(loyalty.card_issue('41', 1), 'gold', 'x')$$, '42501', NULL, 'nobody cannot call set_tier');
SELECT throws_ok($$SELECT count(*) FROM loyalty.tier$$, '42501', NULL, 'nobody cannot read the ladder');
RESET SESSION AUTHORIZATION;

-- 149-151: what the attempts above left behind: the superuser's view
SELECT is((SELECT count(*) FROM loyalty.tier_change), 3::bigint,
	'three tier changes: two upgrades by sales, one override; nothing else got in');
SELECT is((SELECT count(*) FROM loyalty.outbox WHERE kind IN ('tier_up', 'tier_down')), 3::bigint,
	'three tier events, none forged');
SELECT is((SELECT actor FROM loyalty.tier_change c JOIN loyalty.sale s ON s.sale_id = c.sale_id WHERE s.pos_txn = 'tt-2'),
	'tt_pos', 'an upgrade by a sale records the POS''s session user as actor');

SELECT * FROM finish();
ROLLBACK;
