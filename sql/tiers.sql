--
-- Tiers: ladders, the figures a sale keeps, upgrades inside the sale, the
-- review and its policies, overrides, history.  Each part runs in its own
-- transaction and is rolled back, so that review_tiers (which reviews every
-- program) sees only that part's members; the override's end needs real
-- time to pass and comes last, committed.
--
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM ||
						  CASE WHEN SQLSTATE LIKE 'LY%' AND detail <> '' THEN ' / ' || detail ELSE '' END,
						  '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d(:\d\d)*|(?<=member )\d+', '<x>', 'g');
END
$$;
-- a sale of one line of the given amount; returns its points and the tier after it
CREATE FUNCTION pg_temp.sale(card loyalty.card, txn text, at timestamptz, amount numeric,
	OUT points bigint, OUT tier text) RETURNS record
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	VALUES ('S1', txn, card, at, amount,
			jsonb_build_array(jsonb_build_object('sku', 'A', 'qty', 1, 'amount', amount)))
	RETURNING points_earned, tier
$$;
CREATE FUNCTION pg_temp.refund(txn text, at timestamptz, amount numeric,
	OUT points bigint, OUT tier text) RETURNS record
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines, return_of)
	SELECT 'S1', 'R-' || txn, NULL, at, amount,
		   jsonb_build_array(jsonb_build_object('sku', 'A', 'qty', 1, 'amount', amount)), s.sale_id
	  FROM loyalty.sale s WHERE s.pos_txn = txn
	RETURNING points_earned, tier
$$;
CREATE FUNCTION pg_temp.card(n integer) RETURNS loyalty.card
LANGUAGE sql AS $$ SELECT loyalty.card_issue('77', n) $$;
-- the member behind a review's row, as its card number
CREATE FUNCTION pg_temp.who(member bigint) RETURNS text
LANGUAGE sql AS $$ SELECT card::text FROM loyalty.member_card WHERE member_id = member AND replaced_at IS NULL $$;
-- a member's tier row and figures, and what tier_day adds up to
CREATE FUNCTION pg_temp.figures(n integer,
	OUT tier text, OUT held_until date, OUT window_start date, OUT last_day date,
	OUT spend numeric, OUT visits integer, OUT points bigint) RETURNS record
LANGUAGE sql AS $$
	SELECT t.code, mt.held_until, mt.window_start, mt.last_day, mt.spend, mt.visits, mt.points
	  FROM loyalty.member_tier mt JOIN loyalty.tier t USING (tier_id)
	 WHERE mt.member_id = loyalty.member_id(pg_temp.card(n))
$$;

-- ===== 1. the ladder: rank 0, thresholds that rise, bounds
BEGIN;
INSERT INTO loyalty.program (code) VALUES ('lad');
-- a ladder without its base tier is refused at commit (here: at SET CONSTRAINTS)
INSERT INTO loyalty.tier (program_id, code, rank, min_spend) SELECT program_id, 'silver', 1, 100 FROM loyalty.program WHERE code = 'lad';
SELECT 'no_rank_0' AS ladder, pg_temp.outcome('SET CONSTRAINTS ALL IMMEDIATE');
SET CONSTRAINTS ALL DEFERRED;
INSERT INTO loyalty.tier (program_id, code, rank) SELECT program_id, 'base', 0 FROM loyalty.program WHERE code = 'lad';
-- gold asks less spend than silver: refused
INSERT INTO loyalty.tier (program_id, code, rank, min_spend) SELECT program_id, 'gold', 2, 50 FROM loyalty.program WHERE code = 'lad';
SELECT 'gold_below_silver' AS ladder, pg_temp.outcome('SET CONSTRAINTS ALL IMMEDIATE');
SET CONSTRAINTS ALL DEFERRED;
-- equal is not more either; other thresholds that only one tier has are free
UPDATE loyalty.tier SET min_spend = 100, min_visits = 3 WHERE code = 'gold';
SELECT 'gold_equal_to_silver' AS ladder, pg_temp.outcome('SET CONSTRAINTS ALL IMMEDIATE');
SET CONSTRAINTS ALL DEFERRED;
UPDATE loyalty.tier SET min_spend = 500 WHERE code = 'gold';
SELECT 'rising_ladder' AS ladder, pg_temp.outcome('SET CONSTRAINTS ALL IMMEDIATE');
-- visits must rise too, where two tiers have them
SET CONSTRAINTS ALL DEFERRED;
UPDATE loyalty.tier SET min_visits = 3 WHERE code = 'silver';
SELECT 'visits_equal' AS ladder, pg_temp.outcome('SET CONSTRAINTS ALL IMMEDIATE');
SET CONSTRAINTS ALL DEFERRED;
UPDATE loyalty.tier SET min_visits = 2 WHERE code = 'silver';
SELECT 'visits_rising' AS ladder, pg_temp.outcome('SET CONSTRAINTS ALL IMMEDIATE');
-- per row: rank 0 has no threshold, the others at least one; bounds
SELECT pg_temp.outcome($$INSERT INTO loyalty.tier (program_id, code, rank, min_points) SELECT program_id, 'b2', 0, 10 FROM loyalty.program WHERE code = 'lad'$$) AS base_with_threshold;
SELECT pg_temp.outcome($$INSERT INTO loyalty.tier (program_id, code, rank) SELECT program_id, 'p', 3 FROM loyalty.program WHERE code = 'lad'$$) AS tier_without_threshold;
SELECT pg_temp.outcome($$INSERT INTO loyalty.tier (program_id, code, rank, min_spend) SELECT program_id, 'silver', 3, 1000 FROM loyalty.program WHERE code = 'lad'$$) AS code_taken;
SELECT pg_temp.outcome($$INSERT INTO loyalty.tier (program_id, code, rank, min_spend) SELECT program_id, 'p', 2, 1000 FROM loyalty.program WHERE code = 'lad'$$) AS rank_taken;
SELECT pg_temp.outcome($$INSERT INTO loyalty.tier (program_id, code, rank, min_spend, earn_multiplier) SELECT program_id, 'p', 3, 1000, 0 FROM loyalty.program WHERE code = 'lad'$$) AS multiplier_0;
SELECT pg_temp.outcome($$INSERT INTO loyalty.tier (program_id, code, rank, min_spend, discount_pct) SELECT program_id, 'p', 3, 1000, 100 FROM loyalty.program WHERE code = 'lad'$$) AS discount_100;
SELECT pg_temp.outcome($$UPDATE loyalty.program SET tier_window = 'weekly' WHERE code = 'lad'$$) AS unknown_window;
SELECT pg_temp.outcome($$UPDATE loyalty.program SET tier_downgrade = 'two_steps' WHERE code = 'lad'$$) AS unknown_policy;
SELECT pg_temp.outcome($$UPDATE loyalty.program SET tier_window_days = 0 WHERE code = 'lad'$$) AS window_0_days;
-- deleting every tier is fine: the program has no tiers again
DELETE FROM loyalty.tier;
SELECT 'no_tiers_at_all' AS ladder, pg_temp.outcome('SET CONSTRAINTS ALL IMMEDIATE');
ROLLBACK;

-- ===== 2. windows as tier_period counts them
SELECT w, d, (loyalty.tier_period(w, 365, '2024-02-29', d)).*
  FROM unnest(ARRAY['lifetime', 'rolling', 'calendar_year', 'anniversary_year']) AS w,
	   unnest(ARRAY['2024-02-29', '2025-02-27', '2025-02-28', '2028-02-28', '2028-02-29']::date[]) AS d
 ORDER BY w, d;
SELECT pg_temp.outcome($$SELECT loyalty.tier_period('weekly', 365, '2024-01-01', '2024-01-01')$$) AS unknown_window,
	   pg_temp.outcome($$SELECT loyalty.tier_period('rolling', 0, '2024-01-01', '2024-01-01')$$) AS zero_days,
	   pg_temp.outcome($$SELECT loyalty.tier_period('rolling', 365, '2024-01-01', 'infinity')$$) AS infinite_day;
-- a program's day, whatever the session's TimeZone
SET TimeZone = 'Pacific/Kiritimati';
SELECT loyalty.local_date('2024-12-31 22:59:00+00', 'Europe/Paris') AS paris_2359,
	   loyalty.local_date('2024-12-31 23:01:00+00', 'Europe/Paris') AS paris_0001,
	   loyalty.local_date('2024-12-31 23:01:00+00', 'UTC') AS utc;
SET TimeZone = 'UTC';

-- ===== 3. lifetime: back-filled history moves up in order, the multiplier,
-- returns lower the figures but never the tier, the review does
BEGIN;
INSERT INTO loyalty.program (code, tier_window, return_days) VALUES ('life', 'lifetime', 3650);
INSERT INTO loyalty.tier (program_id, code, rank, min_spend, min_visits, earn_multiplier, discount_pct)
SELECT program_id, t.code, t.rank, t.spend, t.visits, t.mult, t.disc
  FROM loyalty.program,
	   (VALUES ('base', 0, NULL, NULL, 1, 0), ('silver', 1, 100, NULL, 1.5, 5),
			   ('gold', 2, 500, 4, 2, 10)) AS t(code, rank, spend, visits, mult, disc)
 WHERE program.code = 'life';
SELECT loyalty.enroll(pg_temp.card(1), 'life', enrolled_at => '2000-01-01 00:00+00') IS NOT NULL AS enrolled;
SELECT loyalty.tier_of(pg_temp.card(1)) AS before_any_sale;
-- one back-fill statement, in time order: 60 (base), 50 (110: silver),
-- 100 and 10 on one day (x1.5: 150 and 15), 1 (the 4th visit day: gold;
-- earned at silver: 1 + floor(0.5) = 1), 100 (x2: 200)
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S1', 'L' || n, pg_temp.card(1), at, amount,
	   jsonb_build_array(jsonb_build_object('sku', 'A', 'qty', 1, 'amount', amount))
  FROM (VALUES (1, timestamptz '2024-01-10 12:00+00', 60), (2, '2024-01-11 12:00+00', 50),
			   (3, '2024-01-12 12:00+00', 100), (4, '2024-01-12 18:00+00', 10),
			   (5, '2024-01-13 12:00+00', 1), (6, '2024-01-14 12:00+00', 100)) AS s(n, at, amount)
 ORDER BY at
RETURNING pos_txn, points_earned, tier;
SELECT * FROM pg_temp.figures(1);
SELECT day, spend, points FROM loyalty.tier_day ORDER BY day;
SELECT f.code AS from_tier, t.code AS to_tier, c.changed_at, c.cause, s.pos_txn, c.actor = session_user AS actor_is_me
  FROM loyalty.tier_change c JOIN loyalty.tier f ON f.tier_id = c.from_tier_id JOIN loyalty.tier t ON t.tier_id = c.to_tier_id
  LEFT JOIN loyalty.sale s ON s.sale_id = c.sale_id
 ORDER BY c.change_id;
SELECT payload->>'from' AS from_tier, payload->>'to' AS to_tier, payload->>'cause' AS cause
  FROM loyalty.outbox WHERE kind = 'tier_up' ORDER BY event_id;
-- what a moment's tier was
SELECT at, loyalty.tier_at(pg_temp.card(1), at)
  FROM unnest(ARRAY['1999-12-31 23:59+00', '2024-01-11 11:59+00', '2024-01-11 12:00+00',
					'2024-01-13 11:59:59+00', '2024-01-13 12:00+00', 'infinity']::timestamptz[]) AS at;
-- the sale at gold shows the tier's part; a quote shows the member price
SELECT code, kind, fired, points, why FROM loyalty.explain_sale((SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'L6'));
SELECT points, tier, discount_pct, discount, member_total
  FROM loyalty.quote(pg_temp.card(1), '[{"sku":"A","qty":1,"amount":99.99}]');
-- where the member stands: gold, the top (nothing next), and what keeps
-- gold (500 spend or 4 visit days: the visits are there)
SELECT * FROM loyalty.tier_progress(pg_temp.card(1));
-- returns of the last two sales: 101 less spend, 201 less points, two
-- visit days fewer (each day's spend is 0 now); the member stays gold
SELECT * FROM pg_temp.refund('L6', '2024-01-20 12:00+00', 100);
SELECT * FROM pg_temp.refund('L5', '2024-01-20 12:00+00', 1);
SELECT * FROM pg_temp.figures(1);
SELECT loyalty.tier_of(pg_temp.card(1)) AS after_returns;
-- a partial return takes its share of the day: the day stays a visit
SELECT * FROM pg_temp.refund('L3', '2024-01-21 12:00+00', 40);
SELECT * FROM pg_temp.figures(1);
-- the review moves the member to what the figures earn (180 spend, 3 visit
-- days: silver), once
SELECT pg_temp.who(member_id) AS member, from_tier, to_tier, cause, changed_at, held_until, up, override_ended
  FROM loyalty.review_tiers_preview('2024-02-01 00:00+00');
SELECT * FROM loyalty.review_tiers('2024-02-01 00:00+00');
SELECT * FROM loyalty.review_tiers('2024-02-01 00:00+00');
SELECT * FROM pg_temp.figures(1);
SELECT payload->>'from' AS from_tier, payload->>'to' AS to_tier, payload->>'cause' AS cause, payload->>'changed_at' AS changed_at
  FROM loyalty.outbox WHERE kind = 'tier_down';
SELECT loyalty.tier_at(pg_temp.card(1), '2024-01-31 23:59+00') AS before_review,
	   loyalty.tier_at(pg_temp.card(1), '2024-02-01 00:00+00') AS at_review;
-- sales move the member up again at once: 320 more (at silver: 320 + 160)
SELECT * FROM loyalty.tier_progress(pg_temp.card(1));
SELECT * FROM pg_temp.sale(pg_temp.card(1), 'L7', '2024-02-05 12:00+00', 320);
SELECT * FROM pg_temp.figures(1);
-- a program without tiers has no tier on its sales, and writes no tier rows
INSERT INTO loyalty.program (code) VALUES ('flat');
SELECT loyalty.enroll(pg_temp.card(2), 'flat', enrolled_at => '2000-01-01 00:00+00') IS NOT NULL AS enrolled;
SELECT * FROM pg_temp.sale(pg_temp.card(2), 'F1', '2024-01-10 12:00+00', 1000);
SELECT loyalty.tier_of(pg_temp.card(2)) AS flat_tier,
	   (SELECT count(*) FROM loyalty.tier_day WHERE member_id = loyalty.member_id(pg_temp.card(2))) AS flat_days,
	   (SELECT tier FROM loyalty.quote(pg_temp.card(2)::loyalty.card, '[{"sku":"A","qty":1,"amount":10}]')) AS flat_quote_tier,
	   (SELECT member_total FROM loyalty.quote(pg_temp.card(2)::loyalty.card, '[{"sku":"A","qty":1,"amount":10}]')) AS flat_member_total;
-- an anonymous sale has no tier
INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'ANON', 5, '[{"sku":"A","qty":1,"amount":5}]') RETURNING tier;
SELECT * FROM loyalty.check_invariants();
ROLLBACK;

-- ===== 4. rolling (365 days, Paris): a sale counts on day 365, not on day 366
BEGIN;
INSERT INTO loyalty.program (code, time_zone, return_days) VALUES ('roll', 'Europe/Paris', 3650);
INSERT INTO loyalty.tier (program_id, code, rank, min_spend)
SELECT program_id, t.code, t.rank, t.spend FROM loyalty.program,
	   (VALUES ('base', 0, NULL), ('silver', 1, 100)) AS t(code, rank, spend)
 WHERE program.code = 'roll';
SELECT count(loyalty.enroll(pg_temp.card(n), 'roll', enrolled_at => '2000-01-01 00:00+00')) AS enrolled
  FROM generate_series(3, 5) AS n;
-- member 3 reaches silver on 10 March 2024 and keeps it one window:
-- held until 11 March 2025, the day that sale stops counting
SELECT * FROM pg_temp.sale(pg_temp.card(3), 'R3', '2024-03-10 12:00+01', 100);
SELECT tier, held_until FROM pg_temp.figures(3);
-- members 4 and 5: 60 on 10 March 2024, then 50 on day 365 or day 366
SELECT * FROM pg_temp.sale(pg_temp.card(4), 'R4a', '2024-03-10 12:00+01', 60);
SELECT * FROM pg_temp.sale(pg_temp.card(4), 'R4b', '2025-03-10 12:00+01', 50);
SELECT * FROM pg_temp.sale(pg_temp.card(5), 'R5a', '2024-03-10 12:00+01', 60);
SELECT * FROM pg_temp.sale(pg_temp.card(5), 'R5b', '2025-03-11 12:00+01', 50);
SELECT n, f.* FROM generate_series(4, 5) AS n, pg_temp.figures(n) f;
-- the review on day 365 (23:59 in Paris) keeps member 3; at 00:01 on day
-- 366 in Paris (still 10 March in UTC) member 3 goes down, member 4 keeps
-- silver (held, and 110 in the window)
SELECT count(*) AS changes_day_365 FROM loyalty.review_tiers_preview('2025-03-10 22:59+00');
SELECT pg_temp.who(member_id) AS member, from_tier, to_tier, changed_at, held_until FROM loyalty.review_tiers_preview('2025-03-10 23:01+00');
-- the window moves with each sale: member 4's 60 leaves it when a sale of
-- 11 March 2025 comes (day 366 of that sale), and the 50 of day 365 stays
SELECT * FROM pg_temp.sale(pg_temp.card(4), 'R4c', '2025-03-11 09:00+01', 1);
SELECT * FROM pg_temp.figures(4);
SELECT * FROM loyalty.review_tiers('2025-03-11 12:00+01');
SELECT n, f.tier, f.held_until FROM generate_series(3, 5) AS n, pg_temp.figures(n) f;
-- member 4 stays silver: held until 11 March 2026 (reached on 10 March 2025)
SELECT * FROM loyalty.check_invariants();
ROLLBACK;

-- ===== 5. calendar year (Paris), one step down per review, 31 days' grace
BEGIN;
INSERT INTO loyalty.program (code, time_zone, tier_window, tier_downgrade, tier_grace_days, return_days)
VALUES ('cal', 'Europe/Paris', 'calendar_year', 'one_step', 31, 3650);
INSERT INTO loyalty.tier (program_id, code, rank, min_spend)
SELECT program_id, t.code, t.rank, t.spend FROM loyalty.program,
	   (VALUES ('base', 0, NULL), ('silver', 1, 100), ('gold', 2, 500)) AS t(code, rank, spend)
 WHERE program.code = 'cal';
SELECT count(loyalty.enroll(pg_temp.card(n), 'cal', enrolled_at => '2000-01-01 00:00+00')) AS enrolled
  FROM generate_series(6, 9) AS n;
-- 23:59 and 00:01 in Paris are two years: member 6 stays base; member 7's
-- two sales of 31 December reach silver
SELECT * FROM pg_temp.sale(pg_temp.card(6), 'C6a', '2024-12-31 23:59+01', 60);
SELECT * FROM pg_temp.sale(pg_temp.card(6), 'C6b', '2025-01-01 00:01+01', 60);
SELECT * FROM pg_temp.sale(pg_temp.card(7), 'C7a', '2024-12-31 22:00+01', 60);
SELECT * FROM pg_temp.sale(pg_temp.card(7), 'C7b', '2024-12-31 23:59+01', 60);
SELECT day, spend FROM loyalty.tier_day WHERE member_id = loyalty.member_id(pg_temp.card(6)) ORDER BY day;
-- member 8: gold in 2024, held to the end of 2025; member 9 meets gold
-- again in 2025, held to the end of 2026
SELECT * FROM pg_temp.sale(pg_temp.card(8), 'C8', '2024-06-01 12:00+02', 600);
SELECT * FROM pg_temp.sale(pg_temp.card(9), 'C9a', '2024-06-01 12:00+02', 600);
SELECT * FROM pg_temp.sale(pg_temp.card(9), 'C9b', '2025-06-01 12:00+02', 500);
SELECT n, f.tier, f.held_until, f.window_start, f.spend FROM generate_series(6, 9) AS n, pg_temp.figures(n) f;
-- within the grace days nobody goes down; on 1 February (Paris) members 7
-- and 8 go one step down, held to the end of 2026; again: nothing more
SELECT * FROM loyalty.review_tiers('2026-01-31 22:59+00');
SELECT * FROM loyalty.review_tiers('2026-01-31 23:01+00');
SELECT * FROM loyalty.review_tiers('2026-01-31 23:01+00');
SELECT n, f.tier, f.held_until FROM generate_series(6, 9) AS n, pg_temp.figures(n) f;
-- a year later, by each policy: one_step, to_qualified, never
SELECT pg_temp.who(member_id) AS member, from_tier, to_tier, held_until FROM loyalty.review_tiers_preview('2027-02-01 12:00+00') ORDER BY member_id;
UPDATE loyalty.program SET tier_downgrade = 'to_qualified' WHERE code = 'cal';
SELECT pg_temp.who(member_id) AS member, from_tier, to_tier, held_until FROM loyalty.review_tiers_preview('2027-02-01 12:00+00') ORDER BY member_id;
UPDATE loyalty.program SET tier_downgrade = 'never' WHERE code = 'cal';
SELECT count(*) AS changes_never FROM loyalty.review_tiers_preview('2027-02-01 12:00+00');
-- a review may not judge the future
SELECT pg_temp.outcome($$SELECT loyalty.review_tiers(now() + interval '1 minute')$$) AS future_review,
	   pg_temp.outcome($$SELECT loyalty.review_tiers('infinity')$$) AS infinite_review;
ROLLBACK;

-- ===== 6. anniversary years from 29 February
BEGIN;
INSERT INTO loyalty.program (code, tier_window, return_days) VALUES ('anni', 'anniversary_year', 3650);
INSERT INTO loyalty.tier (program_id, code, rank, min_spend)
SELECT program_id, t.code, t.rank, t.spend FROM loyalty.program,
	   (VALUES ('base', 0, NULL), ('silver', 1, 100)) AS t(code, rank, spend)
 WHERE program.code = 'anni';
SELECT loyalty.enroll(pg_temp.card(10), 'anni', enrolled_at => '2024-02-29 12:00+00') IS NOT NULL AS enrolled;
-- 27 February 2025 closes the first year, 28 February opens the second
SELECT * FROM pg_temp.sale(pg_temp.card(10), 'A1', '2025-02-27 12:00+00', 60);
SELECT * FROM pg_temp.sale(pg_temp.card(10), 'A2', '2025-02-28 12:00+00', 60);
SELECT * FROM pg_temp.figures(10);
SELECT * FROM pg_temp.sale(pg_temp.card(10), 'A3', '2025-03-01 12:00+00', 50);
-- silver, held to the end of the next anniversary year (28 February 2027)
SELECT * FROM pg_temp.figures(10);
ROLLBACK;

-- ===== 7. overrides
BEGIN;
INSERT INTO loyalty.program (code, tier_window, return_days) VALUES ('ovr', 'lifetime', 3650);
INSERT INTO loyalty.tier (program_id, code, rank, min_spend)
SELECT program_id, t.code, t.rank, t.spend FROM loyalty.program,
	   (VALUES ('base', 0, NULL), ('silver', 1, 100), ('gold', 2, 1000)) AS t(code, rank, spend)
 WHERE program.code = 'ovr';
SELECT count(loyalty.enroll(pg_temp.card(n), 'ovr', enrolled_at => '2000-01-01 00:00+00')) AS enrolled
  FROM generate_series(11, 12) AS n;
SELECT * FROM pg_temp.sale(pg_temp.card(11), 'O1', '2025-01-01 12:00+00', 150);
SELECT 'set_tier' AS call, pg_temp.outcome($$SELECT loyalty.set_tier(pg_temp.card(11), 'platinum', 'typo')$$) AS unknown_tier,
	   pg_temp.outcome($$SELECT loyalty.set_tier(pg_temp.card(11), 'gold', 'late', now() - interval '1 second')$$) AS ended_already,
	   pg_temp.outcome($$SELECT loyalty.set_tier(pg_temp.card(11), 'gold', NULL)$$) AS no_reason,
	   pg_temp.outcome($$SELECT loyalty.set_tier(pg_temp.card(11), 'gold', '')$$) AS empty_reason,
	   pg_temp.outcome($$SELECT loyalty.set_tier(loyalty.card_issue('77', 999), 'gold', 'who')$$) AS unknown_card;
SELECT loyalty.set_tier(pg_temp.card(11), 'gold', 'complaint handled', now() + interval '30 days') > 0 AS overridden;
SELECT loyalty.tier_of(pg_temp.card(11)) AS now_tier;
SELECT f.code AS from_tier, t.code AS to_tier, c.cause, c.reason, c.actor = session_user AS actor_is_me, c.changed_at = now() AS now
  FROM loyalty.tier_change c JOIN loyalty.tier f ON f.tier_id = c.from_tier_id JOIN loyalty.tier t ON t.tier_id = c.to_tier_id
 WHERE c.member_id = loyalty.member_id(pg_temp.card(11)) ORDER BY c.change_id;
-- the review keeps the override (gold, though 150 spent earns silver) ...
SELECT * FROM loyalty.review_tiers();
-- ... until it ends: then the member falls back to what the figures earn
SELECT pg_temp.who(member_id) AS member, from_tier, to_tier, cause, changed_at = now() + interval '30 days' AS at_until, override_ended
  FROM loyalty.review_tiers_preview(now() + interval '31 days');
SELECT tier, override_tier, override_until = now() + interval '30 days' AS until
  FROM loyalty.tier_progress(pg_temp.card(11));
-- an override is a floor, not a ceiling: set to base, a sale still moves
-- the member up to what the figures earn
SELECT loyalty.set_tier(pg_temp.card(12), 'base', 'fraud check') > 0 AS overridden;
SELECT * FROM pg_temp.sale(pg_temp.card(12), 'O2', '2025-01-02 12:00+00', 100);
SELECT count(*) AS no_review_change FROM loyalty.review_tiers_preview();
-- a closed member takes no override
SELECT loyalty.set_member_status(pg_temp.card(12), 'closed', 'left') IS NOT NULL AS closed;
SELECT pg_temp.outcome($$SELECT loyalty.set_tier(pg_temp.card(12), 'gold', 'too late')$$) AS closed_member;
ROLLBACK;

-- ===== 8. an override's end, as review_tiers applies it (committed: the
-- override must end in the future, and the review may not judge it)
INSERT INTO loyalty.program (code, tier_window, return_days) VALUES ('ovr_end', 'lifetime', 3650);
INSERT INTO loyalty.tier (program_id, code, rank, min_spend)
SELECT program_id, t.code, t.rank, t.spend FROM loyalty.program,
	   (VALUES ('base', 0, NULL), ('silver', 1, 100), ('gold', 2, 1000)) AS t(code, rank, spend)
 WHERE program.code = 'ovr_end';
SELECT loyalty.enroll(pg_temp.card(13), 'ovr_end', enrolled_at => '2000-01-01 00:00+00') IS NOT NULL AS enrolled;
SELECT * FROM pg_temp.sale(pg_temp.card(13), 'E1', '2025-01-01 12:00+00', 150);
SELECT loyalty.set_tier(pg_temp.card(13), 'gold', 'a week of gold', clock_timestamp() + interval '200 milliseconds') > 0 AS overridden;
SELECT * FROM loyalty.review_tiers();
SELECT pg_sleep(0.3);
SELECT * FROM loyalty.review_tiers();
SELECT * FROM loyalty.review_tiers();
SELECT loyalty.tier_of(pg_temp.card(13)) AS after_override,
	   (SELECT override_tier_id IS NULL AND override_until IS NULL FROM loyalty.member_tier
		 WHERE member_id = loyalty.member_id(pg_temp.card(13))) AS override_cleared;
SELECT f.code AS from_tier, t.code AS to_tier, c.cause, c.reason,
	   c.changed_at = (SELECT max(changed_at) FROM loyalty.tier_change WHERE cause = 'override') AS same_moment
  FROM loyalty.tier_change c JOIN loyalty.tier f ON f.tier_id = c.from_tier_id JOIN loyalty.tier t ON t.tier_id = c.to_tier_id
 WHERE c.member_id = loyalty.member_id(pg_temp.card(13)) ORDER BY c.change_id;
SELECT kind, payload->>'from' AS from_tier, payload->>'to' AS to_tier, payload->>'cause' AS cause
  FROM loyalty.outbox WHERE kind LIKE 'tier%' AND member_id = loyalty.member_id(pg_temp.card(13)) ORDER BY event_id;
