--
-- Tier edges, hand-computed: days in the program's time zone (a year's
-- last minute, a DST day), the rolling window's day 365 against 366, an
-- anniversary year from 29 February, and a back-fill of 10,000 sales in one
-- INSERT ... SELECT through the trigger, checked against the sales
-- themselves, then reviewed twice.
--
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
CREATE FUNCTION te_ladder(p_program text) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO loyalty.tier (program_id, code, rank, min_spend, min_visits)
	SELECT program_id, v.code, v.rank, v.min_spend, v.min_visits FROM loyalty.program,
		   (VALUES ('base', 0, NULL::numeric, NULL::integer), ('silver', 1, 100, 3), ('gold', 2, 1000, 30))
			AS v(code, rank, min_spend, min_visits)
	 WHERE program.code = p_program;
$$;
CREATE FUNCTION te_sale(p_serial int, p_txn text, p_at timestamptz, p_total numeric) RETURNS text
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	VALUES ('TE', p_txn, loyalty.card_issue('40', p_serial), p_at, p_total,
			jsonb_build_array(jsonb_build_object('sku', 'A', 'qty', 1, 'amount', p_total)))
	RETURNING format('%s: tier %s', pos_txn, tier)
$$;
CREATE FUNCTION te_days(p_serial int) RETURNS TABLE (day date, spend numeric)
LANGUAGE sql AS $$
	SELECT d.day, d.spend FROM loyalty.tier_day d
	 WHERE d.member_id = loyalty.member_id(loyalty.card_issue('40', p_serial)) ORDER BY d.day
$$;

--
-- 1. New York (calendar year; silver: 100.00 or 3 visit days, gold:
-- 1000.00 or 30).  600.00 at 23:59 on 31 December 2024 (04:59 UTC on 1
-- January) and 600.00 a minute after midnight are two years: silver only.
-- The same sales in a UTC program are both on 1 January 2025: gold.
-- 9 March 2025, the day New York moves its clocks forward: 00:30 EST and
-- 23:30 EDT are one day, 00:10 EDT on the 10th the next: 2 + 1 days.
--
INSERT INTO loyalty.program (code, time_zone, tier_window) VALUES ('te_ny', 'America/New_York', 'calendar_year'),
	('te_utc', 'UTC', 'calendar_year');
SELECT te_ladder('te_ny'), te_ladder('te_utc');
SELECT loyalty.enroll(loyalty.card_issue('40', 1), 'te_ny', enrolled_at => '2000-01-01 00:00+00') > 0 AS ny,
	   loyalty.enroll(loyalty.card_issue('40', 2), 'te_utc', enrolled_at => '2000-01-01 00:00+00') > 0 AS utc,
	   loyalty.enroll(loyalty.card_issue('40', 3), 'te_ny', enrolled_at => '2000-01-01 00:00+00') > 0 AS ny_dst;
SELECT te_sale(1, 'ny-1', '2024-12-31 23:59-05', 600.00), te_sale(1, 'ny-2', '2025-01-01 00:01-05', 600.00);
SELECT te_sale(2, 'utc-1', '2024-12-31 23:59-05', 600.00), te_sale(2, 'utc-2', '2025-01-01 00:01-05', 600.00);
SELECT * FROM te_days(1);
SELECT * FROM te_days(2);
SELECT te_sale(3, 'dst-1', '2025-03-09 00:30-05', 10.00), te_sale(3, 'dst-2', '2025-03-09 23:30-04', 10.00),
	   te_sale(3, 'dst-3', '2025-03-10 00:10-04', 10.00);
SELECT * FROM te_days(3);
SELECT t.code, mt.window_start, mt.last_day, mt.spend, mt.visits
  FROM loyalty.member_tier mt JOIN loyalty.tier t USING (tier_id)
 WHERE mt.member_id = loyalty.member_id(loyalty.card_issue('40', 3));

--
-- 2. The rolling window's edge (365 days, UTC): gold with 1000.00 on
-- 2024-06-01 12:00, held until 2025-06-02, the day the sale leaves the
-- window (2025-06-01 - 365 = 2024-06-01 still counts it).  The review as of
-- 2025-06-01 23:59 changes nothing; as of 2025-06-02 00:01 the window is
-- 2024-06-02 .. 2025-06-02, empty: down to base.
--
INSERT INTO loyalty.program (code, tier_window, tier_window_days) VALUES ('te_roll', 'rolling', 365);
SELECT te_ladder('te_roll');
SELECT loyalty.enroll(loyalty.card_issue('40', 4), 'te_roll', enrolled_at => '2000-01-01 00:00+00') > 0 AS enrolled;
SELECT te_sale(4, 'roll-1', '2024-06-01 12:00+00', 1000.00);
SELECT held_until FROM loyalty.member_tier WHERE member_id = loyalty.member_id(loyalty.card_issue('40', 4));
SELECT from_tier, to_tier FROM loyalty.review_tiers_preview('2025-06-01 23:59+00', ARRAY[loyalty.member_id(loyalty.card_issue('40', 4))]);
SELECT from_tier, to_tier, held_until FROM loyalty.review_tiers_preview('2025-06-02 00:01+00', ARRAY[loyalty.member_id(loyalty.card_issue('40', 4))]);

--
-- 3. An anniversary year from 29 February 2024 (UTC): the years begin on
-- 28 February in other years, 29 February in leap years.  600.00 on
-- 2025-02-27 and 600.00 on 2025-02-28 are two anniversary years: silver
-- (3 visits or 100.00), not gold; the running figures start on 2025-02-28.
--
INSERT INTO loyalty.program (code, tier_window) VALUES ('te_anniv', 'anniversary_year');
SELECT te_ladder('te_anniv');
SELECT loyalty.enroll(loyalty.card_issue('40', 5), 'te_anniv', enrolled_at => '2024-02-29 12:00+00') > 0 AS enrolled;
SELECT te_sale(5, 'an-1', '2025-02-27 12:00+00', 600.00), te_sale(5, 'an-2', '2025-02-28 12:00+00', 600.00);
SELECT t.code, mt.window_start, mt.last_day, mt.spend, mt.held_until
  FROM loyalty.member_tier mt JOIN loyalty.tier t USING (tier_id)
 WHERE mt.member_id = loyalty.member_id(loyalty.card_issue('40', 5));
SELECT d, p.* FROM unnest(ARRAY['2025-02-27', '2025-02-28', '2027-02-27', '2028-02-28', '2028-02-29']::date[]) d,
	   loyalty.tier_period('anniversary_year', 365, '2024-02-29', d) p;

--
-- 4. A back-fill of 10,000 sales of 100 members over 2024 and the first
-- half of 2025, in time order, in one INSERT ... SELECT (rolling 90 days,
-- New York).  Checked against the sales alone:
-- - tier_day: per member and local day, the sales' totals and points;
-- - member_tier's figures: the sums over window_start .. last_day, which is
--   the 90 days before the member's last sale day;
-- - each member's tier: the highest any sale qualified it for, on the
--   sales of its window up to and including that sale (a back-fill moves
--   members up only); the history is a chain in order of time;
-- then the review as of 2025-08-01 runs twice: the second changes nothing.
--
INSERT INTO loyalty.program (code, time_zone, tier_window, tier_window_days) VALUES ('te_bf', 'America/New_York', 'rolling', 90);
INSERT INTO loyalty.tier (program_id, code, rank, min_spend, min_visits, earn_multiplier)
SELECT program_id, v.code, v.rank, v.min_spend, v.min_visits, v.mult FROM loyalty.program,
	   (VALUES ('base', 0, NULL::numeric, NULL::integer, 1.0), ('silver', 1, 1500, 12, 1.5), ('gold', 2, 4000, 25, 2))
		AS v(code, rank, min_spend, min_visits, mult)
 WHERE program.code = 'te_bf';
SELECT count(loyalty.enroll(loyalty.card_issue('41', s), 'te_bf', enrolled_at => '2023-12-01 00:00+00')) AS enrolled
  FROM generate_series(1, 100) s;
SELECT setseed(0.25);
CREATE TEMP TABLE te_backfill AS
SELECT g, 1 + (g * 37) % 100 AS serial,
	   timestamptz '2024-01-01 00:00+00' + (random() * 547 * 86400) * interval '1 second' AS at,
	   round((1 + random() * 250)::numeric, 2) AS total
  FROM generate_series(1, 10000) g;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'TE', 'bf-' || g, loyalty.card_issue('41', serial), at, total,
	   jsonb_build_array(jsonb_build_object('sku', 'A', 'qty', 1, 'amount', total))
  FROM te_backfill ORDER BY at, g;
CREATE TEMP TABLE te_members AS
SELECT s AS serial, loyalty.member_id(loyalty.card_issue('41', s)) AS member_id FROM generate_series(1, 100) s;
-- tier_day = the sales by local day
SELECT count(*) AS days, count(*) FILTER (WHERE (d.spend, d.points) IS DISTINCT FROM (s.spend, s.points)) AS days_wrong
  FROM (SELECT x.member_id, (x.occurred_at AT TIME ZONE 'America/New_York')::date AS day,
			   sum(x.total) AS spend, sum(x.points_earned) AS points
		  FROM loyalty.sale x JOIN te_members m USING (member_id) GROUP BY 1, 2) s
  FULL JOIN (SELECT d.* FROM loyalty.tier_day d JOIN te_members m USING (member_id)) d USING (member_id, day);
-- member_tier = the sales of the 90 days before the last sale day
SELECT count(*) AS members,
	   count(*) FILTER (WHERE mt.last_day <> s.last_day OR mt.window_start <> s.last_day - 90) AS window_wrong,
	   count(*) FILTER (WHERE (mt.spend, mt.visits::bigint, mt.points::numeric) IS DISTINCT FROM
								(SELECT ROW(sum(x.total), count(DISTINCT (x.occurred_at AT TIME ZONE 'America/New_York')::date),
										sum(x.points_earned))
								   FROM loyalty.sale x
								  WHERE x.member_id = mt.member_id
									AND (x.occurred_at AT TIME ZONE 'America/New_York')::date BETWEEN s.last_day - 90 AND s.last_day))
		 AS figures_wrong
  FROM loyalty.member_tier mt JOIN te_members m USING (member_id)
  JOIN (SELECT x.member_id, max((x.occurred_at AT TIME ZONE 'America/New_York')::date) AS last_day
		  FROM loyalty.sale x JOIN te_members USING (member_id) GROUP BY 1) s USING (member_id);
-- each member's tier = the highest any sale qualified it for, held 91 days
-- after the last sale that qualified for it; and who the review must move
WITH x AS (
	SELECT x.member_id, x.sale_id, x.occurred_at, (x.occurred_at AT TIME ZONE 'America/New_York')::date AS day
	  FROM loyalty.sale x JOIN te_members USING (member_id)),
f AS (
	SELECT x.member_id, x.sale_id,
		   (SELECT sum(y.total) FROM loyalty.sale y
			 WHERE y.member_id = x.member_id AND y.occurred_at <= x.occurred_at
			   AND (y.occurred_at AT TIME ZONE 'America/New_York')::date BETWEEN x.day - 90 AND x.day) AS spend,
		   (SELECT count(DISTINCT (y.occurred_at AT TIME ZONE 'America/New_York')::date) FROM loyalty.sale y
			 WHERE y.member_id = x.member_id AND y.occurred_at <= x.occurred_at
			   AND (y.occurred_at AT TIME ZONE 'America/New_York')::date BETWEEN x.day - 90 AND x.day) AS visits
	  FROM x),
fq AS (
	SELECT f.*, x.day, CASE WHEN f.spend >= 4000 OR f.visits >= 25 THEN 2
							 WHEN f.spend >= 1500 OR f.visits >= 12 THEN 1 ELSE 0 END AS rank
	  FROM f JOIN x USING (member_id, sale_id)),
q AS (
	SELECT fq.member_id, max(fq.rank) AS rank FROM fq GROUP BY 1),
-- held: 91 days after the last sale that qualified for the tier reached
h AS (
	SELECT q.member_id, q.rank, max(fq.day) + 91 AS held_until
	  FROM q JOIN fq ON fq.member_id = q.member_id AND fq.rank = q.rank GROUP BY 1, 2),
-- the review as of 2025-08-01 (New York): the 90 days before, and the hold
r AS (
	SELECT h.*, CASE WHEN s.spend >= 4000 OR s.visits >= 25 THEN 2
					 WHEN s.spend >= 1500 OR s.visits >= 12 THEN 1 ELSE 0 END AS entitled
	  FROM h CROSS JOIN LATERAL (
			SELECT coalesce(sum(y.total), 0) AS spend, count(DISTINCT (y.occurred_at AT TIME ZONE 'America/New_York')::date) AS visits
			  FROM loyalty.sale y WHERE y.member_id = h.member_id
			   AND (y.occurred_at AT TIME ZONE 'America/New_York')::date BETWEEN date '2025-08-01' - 90 AND date '2025-08-01') s)
SELECT count(*) FILTER (WHERE t.rank = r.rank) AS tier_right, count(*) FILTER (WHERE t.rank <> r.rank) AS tier_wrong,
	   count(*) FILTER (WHERE r.rank = 2) AS gold, count(*) FILTER (WHERE r.rank = 1) AS silver,
	   count(*) FILTER (WHERE mt.held_until <> r.held_until) AS held_wrong,
	   count(*) FILTER (WHERE date '2025-08-01' >= r.held_until AND r.entitled < r.rank) AS review_will_move_down
  FROM r JOIN loyalty.member_tier mt USING (member_id) JOIN loyalty.tier t ON t.tier_id = mt.tier_id;
-- the histories: chains in order of time, and every upgrade named its sale
SELECT count(*) AS changes,
	   count(*) FILTER (WHERE c.prev_to IS DISTINCT FROM c.from_tier_id AND c.prev_to IS NOT NULL) AS broken_links,
	   count(*) FILTER (WHERE c.changed_at < c.prev_at) AS back_in_time,
	   count(*) FILTER (WHERE c.cause = 'qualified' AND c.changed_at <> (SELECT s.occurred_at FROM loyalty.sale s WHERE s.sale_id = c.sale_id))
		 AS not_at_their_sale
  FROM (SELECT c.*, lag(c.to_tier_id) OVER w AS prev_to, lag(c.changed_at) OVER w AS prev_at
		  FROM loyalty.tier_change c JOIN te_members USING (member_id)
		WINDOW w AS (PARTITION BY c.member_id ORDER BY c.change_id)) c;
-- (it also moves member 40/4 of section 2 down: 12 in all)
SELECT upgraded, downgraded FROM loyalty.review_tiers('2025-08-01 12:00+00');
SELECT count(*) AS moved_down FROM loyalty.tier_change c JOIN te_members USING (member_id)
 WHERE c.cause = 'review' AND c.to_tier_id <> c.from_tier_id;
SELECT upgraded, downgraded, overrides_expired FROM loyalty.review_tiers('2025-08-01 12:00+00');
SELECT count(*) FILTER (WHERE loyalty.tier_of(loyalty.card_issue('41', serial))
						   IS DISTINCT FROM loyalty.tier_at(loyalty.card_issue('41', serial), now())) AS tier_at_now_wrong
  FROM te_members;

--
-- 5. A hostile session: a schema first on its search_path with operators
-- and functions named like the ones the tier code uses (each records that
-- it ran), and odd TimeZone, DateStyle and IntervalStyle.  A sale that
-- crosses silver, the review, set_tier, tier_progress and tier_at all run
-- as without them (the sale's day in the program's zone: 9 March in New
-- York) and call none of them.
--
CREATE SCHEMA te_evil;
CREATE TABLE te_evil.ran (what text);
GRANT ALL ON SCHEMA te_evil TO PUBLIC;
GRANT ALL ON te_evil.ran TO PUBLIC;
CREATE FUNCTION te_evil.ge(numeric, numeric) RETURNS boolean LANGUAGE sql AS $$ INSERT INTO te_evil.ran VALUES ('>='); SELECT true $$;
CREATE OPERATOR te_evil.>= (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = te_evil.ge);
CREATE FUNCTION te_evil.plus(numeric, numeric) RETURNS numeric LANGUAGE sql AS $$ INSERT INTO te_evil.ran VALUES ('+'); SELECT 0::numeric $$;
CREATE OPERATOR te_evil.+ (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = te_evil.plus);
CREATE FUNCTION te_evil.max(timestamptz) RETURNS timestamptz LANGUAGE sql AS $$ INSERT INTO te_evil.ran VALUES ('max'); SELECT $1 $$;
CREATE FUNCTION te_evil.local_date(timestamptz, text) RETURNS date LANGUAGE sql AS $$ INSERT INTO te_evil.ran VALUES ('local_date'); SELECT date '2000-01-01' $$;
INSERT INTO loyalty.program (code, time_zone) VALUES ('te_evil', 'America/New_York');
SELECT te_ladder('te_evil');
SELECT loyalty.enroll(loyalty.card_issue('40', 6), 'te_evil', enrolled_at => '2000-01-01 00:00+00') > 0 AS enrolled;
SET search_path = te_evil, pg_catalog, public;
SET TimeZone = 'Pacific/Chatham';
SET DateStyle = 'German, DMY';
SET IntervalStyle = 'iso_8601';
SELECT te_sale(6, 'evil-1', '2025-03-09 23:30-04', 150.00);
SELECT true AS reviewed FROM loyalty.review_tiers('2025-03-10 12:00+00');
SELECT loyalty.set_tier(loyalty.card_issue('40', 6), 'gold', 'hostile session', '2100-01-01 00:00+00') > 0 AS set;
SELECT tier, override_tier FROM loyalty.tier_progress(loyalty.card_issue('40', 6));
SELECT loyalty.tier_at(loyalty.card_issue('40', 6), '2025-03-10 04:00+00') AS tier_at_sale;
SELECT day::text, spend::text FROM loyalty.tier_day WHERE member_id = loyalty.member_id(loyalty.card_issue('40', 6));
RESET search_path;
RESET TimeZone;
RESET DateStyle;
RESET IntervalStyle;
SELECT count(*) AS evil_calls FROM te_evil.ran;
DROP SCHEMA te_evil CASCADE;

DROP FUNCTION te_ladder(text);
DROP FUNCTION te_sale(int, text, timestamptz, numeric);
DROP FUNCTION te_days(int);
