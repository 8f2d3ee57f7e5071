-- purchase_summary and cadence on small cases computed by hand: one
-- customer, days merged, returns, rows after as_of, rows in any order,
-- midnight in the session's TimeZone, and the errors (LY090, LY094).
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SET extra_float_digits = 0;

CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

CREATE TEMP TABLE buy (member int, at timestamptz, amount numeric, note text);

-- 1. One customer, one purchase: no repeat purchase, t = 28 days = 4 weeks
INSERT INTO buy VALUES (1, '2026-01-01 10:00+00', 10, 'the only purchase');
SELECT (s).* FROM (SELECT loyalty.purchase_summary(at, amount, '2026-01-29 00:00+00') AS s
					 FROM buy WHERE member = 1) q;

-- 2. Member 2, by hand (unit 1 day, as_of 2026-01-31 00:00):
--    purchase days Jan 3 (8 - 3 = 5), Jan 10 (20 + 5 = 25), Jan 17 (30):
--    x = 2, t_x = 17 - 3 = 14, t = 31 - 3 = 28;
--    repeat spend 25 + 30 - 10 (the return of Jan 20, a day with no
--    purchase) = 45, monetary 45 / 2 = 22.5;
--    total 5 + 25 + 30 - 10 - 4 (the return of Jan 1, before any purchase) = 46;
--    the purchase of Feb 5 is after as_of: ignored.
INSERT INTO buy VALUES
	(2, '2026-01-10 09:00+00', 20, 'repeat day'),
	(2, '2026-01-10 18:00+00', 5, 'same day: merged'),
	(2, '2026-01-03 12:00+00', 8, 'first purchase'),
	(2, '2026-01-03 13:00+00', -3, 'return on the first day'),
	(2, '2026-01-17 12:00+00', 30, 'repeat day'),
	(2, '2026-01-20 12:00+00', -10, 'return on a day without purchase'),
	(2, '2026-01-01 12:00+00', -4, 'return before any purchase'),
	(2, '2026-02-05 12:00+00', 100, 'after as_of');
-- in every order of the rows: the same answer
SELECT 'time' AS fed_by, (loyalty.purchase_summary(at, amount, '2026-01-31', '1 day' ORDER BY at)).*
  FROM buy WHERE member = 2
UNION ALL
SELECT 'time desc', (loyalty.purchase_summary(at, amount, '2026-01-31', '1 day' ORDER BY at DESC)).*
  FROM buy WHERE member = 2
UNION ALL
SELECT 'amount', (loyalty.purchase_summary(at, amount, '2026-01-31', '1 day' ORDER BY amount)).*
  FROM buy WHERE member = 2
UNION ALL
SELECT 'amount desc', (loyalty.purchase_summary(at, amount, '2026-01-31', '1 day' ORDER BY amount DESC)).*
  FROM buy WHERE member = 2;
-- the 3-argument form measures in weeks: t_x = 2, t = 4
SELECT (s).x, (s).t_x, (s).t, (s).monetary
  FROM (SELECT loyalty.purchase_summary(at, amount, '2026-01-31') AS s FROM buy WHERE member = 2) q;
-- hours are fine too: a unit of 12 hours doubles t_x and t
SELECT (s).x, (s).t_x, (s).t
  FROM (SELECT loyalty.purchase_summary(at, amount, '2026-01-31', '12 hours') AS s FROM buy WHERE member = 2) q;
-- as_of is a moment: the purchase of Jan 17 12:00 counts with as_of at
-- 12:00 that day and not a microsecond before (t is measured to as_of's day)
SELECT as_of, (s).x, (s).t_x, (s).t
  FROM (VALUES (timestamptz '2026-01-17 12:00+00'), ('2026-01-17 11:59:59.999999+00')) v(as_of),
	   LATERAL (SELECT loyalty.purchase_summary(at, amount, v.as_of, '1 day') AS s FROM buy WHERE member = 2) q;

-- 3. Nothing on or before as_of: NULL (the customer had not been acquired)
SELECT loyalty.purchase_summary(at, amount, '2025-12-31') IS NULL AS not_yet_a_customer
  FROM buy WHERE member = 2;
-- only returns: no purchase day, NULL as well
SELECT loyalty.purchase_summary(at, amount, '2026-01-02') IS NULL AS only_a_return
  FROM buy WHERE member = 2;
-- a row with a NULL is skipped
SELECT (loyalty.purchase_summary(at, amount, '2026-01-31', '1 day')).purchase_days
  FROM (SELECT at, amount FROM buy WHERE member = 2 UNION ALL SELECT NULL, 1 UNION ALL SELECT '2026-01-25', NULL) q;

-- 4. Midnight: 23:59 and 00:01 in New York are one UTC day (2026-03-11,
-- 03:59 and 04:01 UTC), two New York days.  as_of 2026-03-12 12:00 UTC
-- is 08:00 in New York: t = 12 - 10 = 2 days there, 12 - 11 = 1 in UTC.
INSERT INTO buy VALUES (3, '2026-03-10 23:59 America/New_York', 7, 'late'),
					   (3, '2026-03-11 00:01 America/New_York', 9, 'early');
SET TimeZone = 'UTC';
SELECT current_setting('TimeZone') AS zone, (s).x, (s).t_x, (s).t, (s).monetary, (s).purchase_days
  FROM (SELECT loyalty.purchase_summary(at, amount, '2026-03-12 12:00+00', '1 day') AS s FROM buy WHERE member = 3) q;
SELECT (loyalty.cadence(at)).* FROM buy WHERE member = 3;
SET TimeZone = 'America/New_York';
SELECT current_setting('TimeZone') AS zone, (s).x, (s).t_x, (s).t, (s).monetary, (s).purchase_days
  FROM (SELECT loyalty.purchase_summary(at, amount, '2026-03-12 12:00+00', '1 day') AS s FROM buy WHERE member = 3) q;
SELECT (loyalty.cadence(at)).* FROM buy WHERE member = 3;
SET TimeZone = 'UTC';

-- 5. Days are exactly what ::date says, in zones with odd offsets and
-- transitions, from 1850 to 2150 (dayset.c keeps the offsets of 1900-2100
-- and asks the tz library for the rest)
CREATE TEMP TABLE stamp AS
SELECT timestamptz '1850-01-01 00:00+00' + (i * 7919 % 100000) * interval '1 day' / 91.3 + i * interval '1 minute' AS at
  FROM generate_series(1, 20000) i;
CREATE TEMP TABLE zone_check (zone text, mismatches bigint);
DO $$
DECLARE
	z text;
BEGIN
	FOREACH z IN ARRAY ARRAY['UTC', 'America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe',
							 'Asia/Kathmandu', 'Pacific/Apia', 'America/St_Johns', 'Europe/Dublin',
							 'Pacific/Chatham', 'EST5EDT']
	LOOP
		PERFORM set_config('TimeZone', z, true);
		INSERT INTO zone_check
		SELECT z, count(*) FILTER (WHERE d <> at::date)
		  FROM (SELECT at, (loyalty.cadence(at)).first_day AS d FROM stamp GROUP BY at) q;
	END LOOP;
END
$$;
SELECT * FROM zone_check;
SET TimeZone = 'UTC';

-- 6. Many rows in a scrambled order: 3000 rows on 1000 days
CREATE TEMP TABLE many AS
SELECT timestamptz '2020-01-01 12:00+00' + (i % 1000) * interval '1 day' + (i / 1000) * interval '1 hour' AS at
  FROM generate_series(0, 2999) i ORDER BY md5(i::text);
SELECT (s).purchase_days, (s).x, (s).t_x, (s).total, (c).visit_days, (c).mean_gap, (c).median_gap, (c).regularity,
	   (SELECT count(DISTINCT at::date) FROM many) AS distinct_days
  FROM (SELECT loyalty.purchase_summary(at, 1, '2030-01-01', '1 day') AS s, loyalty.cadence(at) AS c FROM many) q;

-- 7. Cadence, by hand.
-- Member 5: visits Jan 1, Jan 31 (twice), Mar 2, Apr 2: gaps 30, 30, 31;
-- mean 91/3, median 30, regularity stddev_samp(30, 30, 31) / (91/3) =
-- 0.57735 / 30.3333 = 0.019034; next expected Apr 2 + 30 = May 2.
-- Member 6: gaps 10, 20: mean and median 15, regularity 7.0711 / 15 =
-- 0.471405, next Jan 31 + 15 = Feb 15.  Member 7: gaps 10, 11: median 10.5,
-- rounded half up: next Jan 22 + 11 = Feb 2.  Member 8: one visit.
INSERT INTO buy VALUES
	(5, '2026-01-01 09:00+00', 1, NULL), (5, '2026-01-31 09:00+00', 1, NULL), (5, '2026-01-31 17:00+00', 1, NULL),
	(5, '2026-03-02 09:00+00', 1, NULL), (5, '2026-04-02 09:00+00', 1, NULL),
	(6, '2026-01-01 09:00+00', 1, NULL), (6, '2026-01-11 09:00+00', 1, NULL), (6, '2026-01-31 09:00+00', 1, NULL),
	(7, '2026-01-01 09:00+00', 1, NULL), (7, '2026-01-11 09:00+00', 1, NULL), (7, '2026-01-22 09:00+00', 1, NULL),
	(8, '2026-01-01 09:00+00', 1, NULL);
SELECT member, (c).visit_days, (c).first_day, (c).last_day, round((c).mean_gap::numeric, 6) AS mean_gap,
	   (c).median_gap, round((c).regularity::numeric, 6) AS regularity, (c).next_expected
  FROM (SELECT member, loyalty.cadence(at ORDER BY at DESC) AS c FROM buy WHERE member >= 5 GROUP BY member) q
 ORDER BY member;
SELECT loyalty.cadence(at) IS NULL AS no_visit FROM buy WHERE false;

-- 8. On loyalty.sale: per member, and per member and category
-- (replenishment), returns as negative amounts.
INSERT INTO loyalty.program (code) VALUES ('ana');
SELECT loyalty.enroll(loyalty.card_issue('77', 1), 'ana', enrolled_at => '2024-01-01') AS m1 \gset
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES
	('S1', 'A-1', loyalty.card_issue('77', 1), '2025-01-05 10:00+00', 40,
	 '[{"sku":"F1","category":"formula","qty":1,"amount":30},{"sku":"D1","category":"diapers","qty":1,"amount":10}]'),
	('S1', 'A-2', loyalty.card_issue('77', 1), '2025-01-12 10:00+00', 10,
	 '[{"sku":"D1","category":"diapers","qty":1,"amount":10}]'),
	('S1', 'A-3', loyalty.card_issue('77', 1), '2025-02-04 10:00+00', 40,
	 '[{"sku":"F1","category":"formula","qty":1,"amount":30},{"sku":"D1","category":"diapers","qty":1,"amount":10}]'),
	('S1', 'A-4', loyalty.card_issue('77', 1), '2025-03-06 10:00+00', 30,
	 '[{"sku":"F1","category":"formula","qty":1,"amount":30}]');
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
SELECT 'S1', 'A-5', '2025-02-05 10:00+00', 10, '[{"sku":"D1","category":"diapers","qty":1,"amount":10}]', sale_id
  FROM loyalty.sale WHERE pos_txn = 'A-3';
-- days Jan 5, Jan 12, Feb 4, Mar 6: x = 3; t_x = (Mar 6 - Jan 5) = 60 days;
-- repeat spend 10 + 40 - 10 (the return, Feb 5) + 30 = 70, monetary 70/3
SELECT (s).x, (s).t_x, (s).t, round((s).monetary::numeric, 4) AS monetary, (s).total
  FROM (SELECT loyalty.purchase_summary(occurred_at, CASE WHEN return_of IS NULL THEN total ELSE -total END,
										'2025-03-31', '1 day') AS s
		  FROM loyalty.sale WHERE member_id = :m1) q;
-- formula every 30 days: next Apr 5; diapers on Jan 5, 12, Feb 4 (gaps 7
-- and 23, median 15): next Feb 19
SELECT category, (c).visit_days, (c).median_gap, (c).next_expected
  FROM (SELECT l->>'category' AS category, loyalty.cadence(s.occurred_at) AS c
		  FROM loyalty.sale s, jsonb_array_elements(s.lines) l
		 WHERE s.member_id = :m1 AND s.return_of IS NULL
		 GROUP BY l->>'category') q
 ORDER BY category;

-- 9. Errors
SELECT what, pg_temp.outcome(statement) FROM (VALUES
	('unit of a month',    $$SELECT loyalty.purchase_summary(now(), 1, now(), '1 month')$$),
	('unit of zero',       $$SELECT loyalty.purchase_summary(now(), 1, now(), '0 days')$$),
	('negative unit',      $$SELECT loyalty.purchase_summary(now(), 1, now(), '-7 days')$$),
	('as_of infinite',     $$SELECT loyalty.purchase_summary(now(), 1, 'infinity')$$),
	('as_of differs',      $$SELECT loyalty.purchase_summary(at, 1, at) FROM buy WHERE member = 2$$),
	('unit differs',       $$SELECT loyalty.purchase_summary(at, 1, '2030-01-01', CASE WHEN amount > 10 THEN interval '1 day' ELSE '7 days' END) FROM buy WHERE member = 2$$),
	('time infinite',      $$SELECT loyalty.purchase_summary('-infinity', 1, now())$$),
	('amount NaN',         $$SELECT loyalty.purchase_summary(now(), 'NaN', now())$$),
	('amount infinite',    $$SELECT loyalty.purchase_summary(now(), 'Infinity', now())$$),
	('cadence infinite',   $$SELECT loyalty.cadence('infinity')$$)
) AS t(what, statement);
