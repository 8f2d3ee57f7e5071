-- Repurchase cohorts and active members (0.6.0): loyalty.repurchase and
-- loyalty.activity over small customer bases worked out by hand in the
-- comments: cohorts across a month boundary, the window's last day (N) and
-- the day after (N + 1), same-day purchases, refunds inside and outside the
-- window, breakdowns by store and region, the trailing months' edges, and
-- days at midnight in the program's time zone.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'UTC';

CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d', '<time>', 'g');
END
$$;
-- A back-filled one-line sale (as the owner) and a partial return.
CREATE TEMP SEQUENCE txn;
CREATE FUNCTION pg_temp.buy(prefix text, serial int, at timestamptz, total numeric, store text DEFAULT 'S1') RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	VALUES (store, 'T' || nextval('txn'), loyalty.card_issue(prefix, serial), at, total,
			jsonb_build_array(jsonb_build_object('sku', 'A', 'category', 'c', 'qty', 1, 'amount', total)))
	RETURNING sale_id $$;
CREATE FUNCTION pg_temp.give_back(sale bigint, at timestamptz, refund numeric) RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
	VALUES ('S1', 'R' || nextval('txn'), at, refund,
			jsonb_build_array(jsonb_build_object('sku', 'A', 'qty', 1, 'amount', refund)), sale)
	RETURNING sale_id $$;
CREATE FUNCTION pg_temp.enrol(prefix text, serials int, program text) RETURNS bigint
LANGUAGE sql AS $$
	SELECT count(loyalty.enroll(loyalty.card_issue(prefix, i), program, enrolled_at => '2000-01-01 00:00+00'))
	  FROM generate_series(1, serials) i $$;

-- S1 is in the north, S3 in the south; S2 has no row in loyalty.store (no region)
INSERT INTO loyalty.store (store, region) VALUES ('S1', 'north'), ('S3', 'south');
INSERT INTO loyalty.program (code) VALUES ('rc'), ('act');
INSERT INTO loyalty.program (code, time_zone) VALUES ('rp', 'Europe/Paris');
SELECT pg_temp.enrol('74', 8, 'rc') AS rc, pg_temp.enrol('75', 2, 'rp') AS rp, pg_temp.enrol('76', 7, 'act') AS act;

-- ===== repurchase, program rc (UTC)
-- M1: first 01-31 at S1 (100), again 02-03 (+3 days, 50)
SELECT pg_temp.buy('74', 1, '2024-01-31 10:00+00', 100, 'S1') IS NOT NULL AS m1a,
	   pg_temp.buy('74', 1, '2024-02-03 10:00+00', 50, 'S2') IS NOT NULL AS m1b;
-- M2: first 02-01 at S2 (80), again 02-05 (+4 days, 70)
SELECT pg_temp.buy('74', 2, '2024-02-01 10:00+00', 80, 'S2') IS NOT NULL AS m2a,
	   pg_temp.buy('74', 2, '2024-02-05 10:00+00', 70, 'S1') IS NOT NULL AS m2b;
-- M3: no purchase.  M4: first 01-15 at S2 (30; 5 of it refunded on 01-20,
-- +5 days), later that day at S1 (20: the same day, no return purchase),
-- again 01-17 (+2 days, 40; 10 of it refunded on 01-18, +3 days)
SELECT pg_temp.give_back(pg_temp.buy('74', 4, '2024-01-15 10:00+00', 30, 'S2'), '2024-01-20 10:00+00', 5) IS NOT NULL AS m4a,
	   pg_temp.buy('74', 4, '2024-01-15 15:00+00', 20, 'S1') IS NOT NULL AS m4b,
	   pg_temp.give_back(pg_temp.buy('74', 4, '2024-01-17 10:00+00', 40, 'S1'), '2024-01-18 10:00+00', 10) IS NOT NULL AS m4c;
-- M5: one purchase, 01-20 at S1 (60)
SELECT pg_temp.buy('74', 5, '2024-01-20 10:00+00', 60, 'S1') IS NOT NULL AS m5;
-- M6: first bought in December: no new customer in January
SELECT pg_temp.buy('74', 6, '2023-12-20 10:00+00', 25, 'S1') IS NOT NULL AS m6a,
	   pg_temp.buy('74', 6, '2024-01-10 10:00+00', 35, 'S1') IS NOT NULL AS m6b;
-- By hand, cohorts of [2024-01-01, 2024-03-01), within 3 days:
--   January: M1, M4, M5 (new 3); back within 3: M1 (+3), M4 (+2): 2, 0.6667;
--     window revenue M1 100 + 50, M4 30 + 20 + (40 - 10) (the 5 refunded on
--     +5 is outside), M5 60: 150 + 80 + 60 = 290; repeat 50 + 30 = 80;
--     share 80 / 290 = 0.2759
--   February: M2 (new 1), back on +4 only: 0, 0.0000; 80, 0, 0.0000
SELECT * FROM loyalty.repurchase('2024-01-01', '2024-03-01', 3, program => 'rc');
-- within 4: M2's +4 counts: February 1, 1.0000, 150, 70, 0.4667; January
-- as before
SELECT cohort, new_customers, repurchasers, repurchase_rate, window_revenue, repeat_revenue, repeat_revenue_share
  FROM loyalty.repurchase('2024-01-01', '2024-03-01', 4, program => 'rc');
-- within 5: M4's refund of 5 on +5 is inside now, against its first day:
-- January window 285, repeat still 80, share 80 / 285 = 0.2807
SELECT cohort, new_customers, repurchasers, window_revenue, repeat_revenue, repeat_revenue_share
  FROM loyalty.repurchase('2024-01-01', '2024-03-01', 5, program => 'rc');
-- within_days NULL: the default, 90 days (as 5 here: nobody bought later)
SELECT cohort, new_customers, repurchasers, window_revenue, repeat_revenue
  FROM loyalty.repurchase('2024-01-01', '2024-03-01', NULL, program => 'rc');
-- by store of the first purchase (M4's first sale of 01-15 was at S2):
--   January S1: M1, M5: 2, 1, 0.5000, 150 + 60 = 210, 50, 50 / 210 = 0.2381
--   January S2: M4: 1, 1, 1.0000, 80, 30, 0.3750
--   February S2: M2: 1, 0, 0.0000, 80, 0, 0.0000
SELECT cohort, breakdown, new_customers, repurchasers, repurchase_rate, window_revenue, repeat_revenue, repeat_revenue_share
  FROM loyalty.repurchase('2024-01-01', '2024-03-01', 3, 'store', 'rc');
-- by region: S1 is north, S2 has none (NULL, last)
SELECT cohort, breakdown, new_customers, repurchasers, window_revenue, repeat_revenue
  FROM loyalty.repurchase('2024-01-01', '2024-03-01', 3, 'region', 'rc');
-- [from_at, to_at): a first purchase at to_at is out (M1), at from_at in
SELECT cohort, new_customers FROM loyalty.repurchase('2024-01-01', '2024-01-31 10:00+00', 3, program => 'rc');
SELECT cohort, new_customers FROM loyalty.repurchase('2024-01-31 10:00+00', '2024-02-01', 3, program => 'rc');
-- December: M6, back on 01-10 (+21): within 30 days yes, within 20 no
SELECT cohort, new_customers, repurchasers FROM loyalty.repurchase('2023-12-01', '2024-01-01', 21, program => 'rc');
SELECT cohort, new_customers, repurchasers FROM loyalty.repurchase('2023-12-01', '2024-01-01', 20, program => 'rc');

-- M8: two first sales at the same moment, at S3 then (a greater sale_id) at
-- S1: the first purchase's store is the first sale's, S3
SELECT pg_temp.buy('74', 8, '2023-11-05 10:00+00', 10, 'S3') IS NOT NULL AS m8a,
	   pg_temp.buy('74', 8, '2023-11-05 10:00+00', 20, 'S1') IS NOT NULL AS m8b;
SELECT cohort, breakdown, new_customers, window_revenue FROM loyalty.repurchase('2023-11-01', '2023-12-01', 3, 'store', 'rc');

-- ===== program rp (Europe/Paris): cohorts and windows by Paris days
-- P1: first 01-31 23:30 UTC = 02-01 00:30 in Paris (February), again
-- 02-04 22:30 UTC = 02-04 23:30 (+3)
SELECT pg_temp.buy('75', 1, '2024-01-31 23:30+00', 10) IS NOT NULL AS p1a,
	   pg_temp.buy('75', 1, '2024-02-04 22:30+00', 20) IS NOT NULL AS p1b;
-- P2: first 01-31 22:30 UTC = 01-31 23:30 in Paris (January), again
-- 02-03 23:30 UTC = 02-04 00:30 (+4; in UTC it would be +3)
SELECT pg_temp.buy('75', 2, '2024-01-31 22:30+00', 10) IS NOT NULL AS p2a,
	   pg_temp.buy('75', 2, '2024-02-03 23:30+00', 20) IS NOT NULL AS p2b;
-- By hand, within 3: January P2: 1, 0, 10, 0; February P1: 1, 1, 30, 20,
-- 0.6667.  Every program: rc's rows, then rp's.  The session's TimeZone
-- changes nothing.
SET TimeZone = 'Pacific/Auckland';
SELECT * FROM loyalty.repurchase('2024-01-01', '2024-03-01', 3);
SET TimeZone = 'UTC';

-- complete: false while a member's window is still open (M7 bought
-- yesterday; 3 days have not passed)
SELECT pg_temp.buy('74', 7, now() - interval '1 day', 15) IS NOT NULL AS m7;
SELECT program_code, new_customers, repurchasers, complete
  FROM loyalty.repurchase(now() - interval '2 days', now() + interval '1 day', 3);

SELECT what, pg_temp.outcome(statement) FROM (VALUES
	('NULL from_at',      $$SELECT * FROM loyalty.repurchase(NULL, '2024-03-01')$$),
	('from_at = to_at',   $$SELECT * FROM loyalty.repurchase('2024-03-01', '2024-03-01')$$),
	('from_at > to_at',   $$SELECT * FROM loyalty.repurchase('2024-03-02', '2024-03-01')$$),
	('within_days 0',     $$SELECT * FROM loyalty.repurchase('2024-01-01', '2024-03-01', 0)$$),
	('within_days -5',    $$SELECT * FROM loyalty.repurchase('2024-01-01', '2024-03-01', -5)$$),
	('within_days 3661',  $$SELECT * FROM loyalty.repurchase('2024-01-01', '2024-03-01', 3661)$$),
	('within_days 3660',  $$SELECT * FROM loyalty.repurchase('2024-01-01', '2024-03-01', 3660)$$),
	('by city',           $$SELECT * FROM loyalty.repurchase('2024-01-01', '2024-03-01', 90, 'city')$$),
	('unknown program',   $$SELECT * FROM loyalty.repurchase('2024-01-01', '2024-03-01', 90, NULL, 'nope')$$),
	('all time',          $$SELECT * FROM loyalty.repurchase('-infinity', 'infinity')$$)
	) t(what, statement);

-- ===== activity, program act (UTC), as of 2024-06-30 12:00 UTC: active in
-- 12 months = a purchase day after 2023-06-30, in 3 months after 2024-03-30
SELECT pg_temp.buy('76', 1, '2024-06-30 11:00+00', 10, 'S1') IS NOT NULL AS q1a,	-- 12 and 3
	   pg_temp.buy('76', 1, '2023-12-01 11:00+00', 10, 'S3') IS NOT NULL AS q1b,
	   pg_temp.buy('76', 2, '2024-03-31 11:00+00', 10, 'S3') IS NOT NULL AS q2,	-- 12 and 3
	   pg_temp.buy('76', 3, '2024-03-30 11:00+00', 10, 'S1') IS NOT NULL AS q3,	-- 12 only (3 months to the day)
	   pg_temp.buy('76', 4, '2023-07-01 11:00+00', 10, 'S2') IS NOT NULL AS q4,	-- 12 only
	   pg_temp.buy('76', 5, '2023-06-30 11:00+00', 10, 'S1') IS NOT NULL AS q5a,	-- neither (12 months to the day)
	   pg_temp.buy('76', 5, '2024-07-01 11:00+00', 10, 'S1') IS NOT NULL AS q5b,	-- after as_of
	   pg_temp.buy('76', 6, '2024-06-30 12:30+00', 10, 'S1') IS NOT NULL AS q6;	-- after as_of: no customer yet
-- Q7, Q8: never bought.  Q9: bought long ago, returned it in June: a return is
-- no purchase.  Q10: enrolled now, after as_of.
SELECT pg_temp.enrol('76', 9, 'act') AS act_members;
SELECT loyalty.enroll(loyalty.card_issue('76', 10), 'act') IS NOT NULL AS q10_enrolled_now;
SELECT pg_temp.give_back(pg_temp.buy('76', 9, '2023-06-10 11:00+00', 10, 'S1'), '2024-06-01 11:00+00', 10) IS NOT NULL AS q9;
-- By hand, per program as of 2024-06-30 12:00:
--   act: enrolled Q1..Q9 = 9 (Q10 enrolled after as_of); customers Q1 Q2
--     Q3 Q4 Q5 Q9 = 6; active 12 months Q1 Q2 Q3 Q4 = 4; 3 months Q1 Q2 = 2
--   rc: enrolled 8; customers M1 M2 M4 M5 M6 M8 = 6 (M7 bought after
--     as_of), all active in 12 months (November 2023 to February 2024), none
--     in 3
--   rp: enrolled 2, customers 2, 12 months 2, 3 months 0
SELECT * FROM loyalty.activity('2024-06-30 12:00+00');
-- by store (program act): S1: Q1 (06-30), Q3 (03-30), Q5 (2023-06-30), Q9
-- (2023-06-10): 4, 2, 1; S2: Q4: 1, 1, 0; S3: Q2 (03-31), Q1 (2023-12-01):
-- 2, 2, 1.  A member is counted at each store.
SELECT * FROM loyalty.activity('2024-06-30 12:00+00', 'store', 'act');
-- by region: north (S1) 4, 2, 1; south (S3) 2, 2, 1; none (S2) 1, 1, 0
SELECT * FROM loyalty.activity('2024-06-30 12:00+00', 'region', 'act');
-- Paris days at midnight (program rp): P1 and P2 last bought on 02-04 in
-- Paris.  2024-05-03 21:50 UTC is 05-03 23:50 in Paris: 3 months back is
-- 02-03, both active.  20 minutes later it is 05-04 00:10 in Paris: 3
-- months back is 02-04, neither (in UTC both moments are on 05-03).
SELECT as_of, a.active_12m, a.active_3m
  FROM unnest(ARRAY['2024-05-03 21:50+00', '2024-05-03 22:10+00']::timestamptz[]) as_of,
	   LATERAL loyalty.activity(as_of, NULL, 'rp') a;

SELECT what, pg_temp.outcome(statement) FROM (VALUES
	('NULL as_of',       $$SELECT * FROM loyalty.activity(NULL)$$),
	('infinite as_of',   $$SELECT * FROM loyalty.activity('-infinity')$$),
	('future as_of',     $$SELECT * FROM loyalty.activity(now() + interval '1 day')$$),
	('by city',          $$SELECT * FROM loyalty.activity('2024-06-30', 'city')$$),
	('unknown program',  $$SELECT * FROM loyalty.activity('2024-06-30', NULL, 'nope')$$)
	) t(what, statement);
