-- Tier history of a program's members, written directly (as the owner) in
-- the state the sale trigger would have left it in, had it taken these sales
-- one by one in time order with no review_tiers in between
-- (bench/pos_tier_setup.sql, bench/tiers_review.sh).
--
-- psql variables: program (code), moff (member ids are moff+1 .. moff+members),
-- members, sales (how many), days (sales spread over the past `days` days).
--
-- 1. bench_tier_sale (member_id, occurred_at, total): `sales` sales, each a
--    member drawn with a skew (member moff+1+floor(members * random()^3):
--    a few members buy often, most seldom: at 10 sales per member about 1%
--    of the members have none), a moment in
--    the past `days` days (ending 10 minutes ago), a total of 3.00 to 180.00
--    (a three-line POS basket).  Kept: tiers_review.sh's baseline reads it.
-- 2. loyalty.tier_day: one row per member and local day (program time zone)
--    with the day's spend and points, written in day order (as the sales
--    write them: a member's days are scattered over the table).  Points are the base rate, floor(total)
--    per sale at points_per_unit 1: the ten rules' bonuses and the tier
--    multipliers are not replayed (the ladder used here has no min_points).
-- 3. loyalty.member_tier, loyalty.tier_change: replaying the trigger's rule
--    day by day: the rolling figures of each visit day (a window function
--    over the program's tier_window_days), the highest tier they qualify
--    for, an upgrade (tier_change 'qualified', dated at noon local of the
--    day, no sale_id) whenever that is above every tier reached before; no
--    downgrade (only a review downgrades); held_until = the last day the
--    figures met the tier held + tier_window_days + 1 (the base tier: the
--    first sale day); the running figures of the window of the last day.
-- Rolling windows only (what both benchmarks use).
SELECT program_id AS prog, time_zone AS tz, tier_window_days AS wdays
  FROM loyalty.program WHERE code = :'program' \gset
SET work_mem = '512MB';
SELECT setseed(0.17);
DROP TABLE IF EXISTS bench_tier_sale;
CREATE TABLE bench_tier_sale (member_id bigint NOT NULL, occurred_at timestamptz NOT NULL, total numeric NOT NULL);
INSERT INTO bench_tier_sale
SELECT :moff + 1 + floor(power(random(), 3) * :members)::bigint,
       now() - interval '10 minutes' - random() * (:days * interval '1 day'),
       (300 + floor(random() * 17701)) / 100.0
  FROM generate_series(1, :sales);

INSERT INTO loyalty.tier_day (member_id, day, spend, points)
SELECT member_id, (occurred_at AT TIME ZONE :'tz')::date, sum(total), sum(floor(total))::bigint
  FROM bench_tier_sale GROUP BY 1, 2 ORDER BY 2, 1;

-- the figures of each visit day's rolling window, and the rank they qualify for
CREATE TEMP TABLE seed_days AS
WITH w AS (
	SELECT d.member_id, d.day,
		   sum(d.spend) OVER win AS spend, count(*) FILTER (WHERE d.spend > 0) OVER win AS visits,
		   sum(d.points) OVER win AS points
	  FROM loyalty.tier_day d
	 WHERE d.member_id > :moff AND d.member_id <= :moff + :members
	WINDOW win AS (PARTITION BY d.member_id ORDER BY d.day
				   RANGE BETWEEN (:wdays * interval '1 day') PRECEDING AND CURRENT ROW)),
q AS (
	SELECT w.*, (SELECT max(t.rank) FROM loyalty.tier t
				  WHERE t.program_id = :prog
					AND (t.rank = 0 OR t.min_spend <= w.spend OR t.min_visits <= w.visits
						 OR t.min_points <= w.points)) AS rank
	  FROM w)
SELECT q.*, COALESCE(max(q.rank) OVER (PARTITION BY q.member_id ORDER BY q.day
										ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
  FROM q;

INSERT INTO loyalty.tier_change (member_id, from_tier_id, to_tier_id, changed_at, cause, actor)
SELECT s.member_id, f.tier_id, t.tier_id, (s.day + time '12:00') AT TIME ZONE :'tz', 'qualified', 'bench'
  FROM seed_days s
  JOIN loyalty.tier f ON f.program_id = :prog AND f.rank = s.before
  JOIN loyalty.tier t ON t.program_id = :prog AND t.rank = s.rank
 WHERE s.rank > s.before
 ORDER BY s.member_id, s.day;

INSERT INTO loyalty.member_tier (member_id, tier_id, since, held_until, window_start, last_day, spend, visits, points)
SELECT m.member_id, t.tier_id, (m.since_day + time '12:00') AT TIME ZONE :'tz',
	   CASE WHEN m.top > 0 THEN m.held_day + :wdays + 1 ELSE m.first_day END,
	   m.last_day - :wdays, m.last_day, l.spend, l.visits, l.points
  FROM (SELECT member_id, max(rank) AS top, min(day) AS first_day, max(day) AS last_day,
			   (array_agg(day ORDER BY rank DESC, day))[1] AS since_day,
			   (array_agg(day ORDER BY rank DESC, day DESC))[1] AS held_day
		  FROM seed_days GROUP BY member_id) m
  JOIN seed_days l ON l.member_id = m.member_id AND l.day = m.last_day
  JOIN loyalty.tier t ON t.program_id = :prog AND t.rank = m.top;
DROP TABLE seed_days;
RESET work_mem;
