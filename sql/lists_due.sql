-- Win-back and replenishment lists (0.6.0): loyalty.winback (high value,
-- low P(alive), on member_value) with a pinned BG/NBD model so that every
-- P(alive) is worked out by hand, and loyalty.replenishment_due (the
-- cadence per member and category) with hand-computed days in a program
-- in Los Angeles, a sale near midnight there included.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'Asia/Tokyo';	-- no result may depend on it
SET extra_float_digits = 0;

CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d', '<time>', 'g');
END
$$;
-- a back-filled sale of card prefix-serial at a store: lines sku:category:amount
CREATE TEMP SEQUENCE txn;
CREATE FUNCTION pg_temp.buy(prefix text, serial int, at timestamptz, store text, VARIADIC lines text[]) RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	SELECT store, 'T' || nextval('txn'), loyalty.card_issue(prefix, serial), at,
		   sum(split_part(l, ':', 3)::numeric),
		   jsonb_agg(jsonb_build_object('sku', split_part(l, ':', 1), 'category', split_part(l, ':', 2),
										'qty', 1, 'amount', split_part(l, ':', 3)::numeric))
	  FROM unnest(lines) l
	RETURNING sale_id $$;
CREATE FUNCTION pg_temp.enrol(prefix text, serials int, program text) RETURNS bigint
LANGUAGE sql AS $$
	SELECT count(loyalty.enroll(loyalty.card_issue(prefix, i), program, enrolled_at => '2000-01-01 00:00+00'))
	  FROM generate_series(1, serials) i $$;

-- ===== winback, program wb (UTC), as of 2024-02-19 10:00 UTC, 7 weeks after
-- the first sales of 2024-01-01 10:00.  With BG/NBD pinned at r = alpha =
-- a = b = 1, P(alive) = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))
-- for x > 0, 1 for x = 0 (Fader, Hardie & Lee 2005; t_x, T in weeks):
--   W1 days 0, 7 at S1 then S2, 100 each:  x 1, t_x 1, T 7: 1 / (1 + (8/2)^2)        = 1/17 = 0.058824
--   W2 days 0, 7, 14, 21 at S3, 60 each:   x 3, t_x 3, T 7: 1 / (1 + 1/3 (8/4)^4)   = 3/19 = 0.157895
--   W3 days 0, 42, 49, 100 each:           x 2, t_x 7, T 7: 1 / (1 + 1/2 (8/8)^3)   = 2/3  = 0.666667
--   W4 day 0, 500:                         x 0:                                               1
--   W5 days 0, 7, 10 each:                 as W1                                              0.058824
--   W6 days 0, 7, 75 each, then closed:    as W1                                              0.058824
--   W7 days 28, 35, 90 each:               x 1, t_x 1, T 3: 1 / (1 + (4/2)^2)        = 1/5  = 0.2
-- Net spends ascending: W5 20, W6 150, W7 180, W1 200, W2 240, W3 300, W4 500,
-- so value_rank = percent_rank = (rank - 1) / 6: 0, 1/6, 1/3, 1/2, 2/3, 5/6, 1
-- (the closed W6 is ranked, never listed).
INSERT INTO loyalty.program (code) VALUES ('wb'), ('solo'), ('rp');
SELECT pg_temp.enrol('70', 7, 'wb') AS wb;
SELECT count(pg_temp.buy('70', w, '2024-01-01 10:00+00'::timestamptz + d * interval '1 day', st, 'A1:a:' || amount)) AS sales
  FROM (VALUES (1, 0, 'S1', 100), (1, 7, 'S2', 100),
			   (2, 0, 'S3', 60), (2, 7, 'S3', 60), (2, 14, 'S3', 60), (2, 21, 'S3', 60),
			   (3, 0, 'S1', 100), (3, 42, 'S1', 100), (3, 49, 'S1', 100),
			   (4, 0, 'S1', 500),
			   (5, 0, 'S1', 10), (5, 7, 'S1', 10),
			   (6, 0, 'S1', 75), (6, 7, 'S1', 75),
			   (7, 28, 'S4', 90), (7, 35, 'S4', 90)) v(w, d, st, amount);
SELECT loyalty.set_member_status(loyalty.card_issue('70', 6), 'closed', 'moved away');
-- a sale after as_of counts for nothing
SELECT pg_temp.buy('70', 1, '2024-02-20 10:00+00', 'S1', 'A1:a:1000') IS NOT NULL AS w1_later;
-- the default list (P(alive) <= 0.5, value_rank >= 0.5): W2, W1 (no home
-- store on record: W1's is S2, visited last, W2's S3); the spend model
-- pinned too, so CLV is there
SELECT right(card::text, 2) AS card_end, program_code, home_store, last_purchase_at, purchase_days, total,
	   round(value_rank::numeric, 4) AS value_rank, round(p_alive::numeric, 6) AS p_alive, clv > 0 AS has_clv
  FROM loyalty.winback('2024-02-19 10:00+00', 'wb', bg => '(1,1,1,1,,)', gg => '(6.25,3.74,15.44,,)');
-- a home store on record is the one listed: W2's becomes S9
UPDATE loyalty.member SET home_store = 'S9' WHERE member_id = loyalty.member_id(loyalty.card_issue('70', 2));
SELECT right(card::text, 2) AS card_end, home_store
  FROM loyalty.winback('2024-02-19 10:00+00', 'wb', bg => '(1,1,1,1,,)', gg => '(6.25,3.74,15.44,,)');
-- every value rank: W2, W1, W7, W5 (W3 and W4 are alive enough)
SELECT right(card::text, 2) AS card_end, total, round(value_rank::numeric, 4) AS value_rank, round(p_alive::numeric, 6) AS p_alive
  FROM loyalty.winback('2024-02-19 10:00+00', 'wb', 0.5, 0, bg => '(1,1,1,1,,)', gg => '(6.25,3.74,15.44,,)');
-- P(alive) <= 0.1: W1 (W5 too with every rank); <= 1: everyone of rank
-- 0.5 or more, W4 at P(alive) 1 included
SELECT right(card::text, 2) AS card_end, round(p_alive::numeric, 6) AS p_alive
  FROM loyalty.winback('2024-02-19 10:00+00', 'wb', 0.1, bg => '(1,1,1,1,,)', gg => '(6.25,3.74,15.44,,)');
SELECT right(card::text, 2) AS card_end, round(value_rank::numeric, 4) AS value_rank, round(p_alive::numeric, 6) AS p_alive
  FROM loyalty.winback('2024-02-19 10:00+00', 'wb', 1, bg => '(1,1,1,1,,)', gg => '(6.25,3.74,15.44,,)');
-- a program whose data cannot identify BG/NBD (one member) lists nobody,
-- and the NOTICE says why
SELECT pg_temp.enrol('71', 1, 'solo') AS solo;
SELECT pg_temp.buy('71', 1, '2023-01-01 10:00+00', 'S1', 'A1:a:50') IS NOT NULL AS s1a,
	   pg_temp.buy('71', 1, '2023-02-01 10:00+00', 'S1', 'A1:a:50') IS NOT NULL AS s1b;
SELECT count(*) AS solo_listed FROM loyalty.winback('2024-02-19 10:00+00', 'solo');
SELECT what, pg_temp.outcome(statement) FROM (VALUES
	('NULL as_of',            $$SELECT * FROM loyalty.winback(NULL)$$),
	('future as_of',          $$SELECT * FROM loyalty.winback(now() + interval '1 hour')$$),
	('unknown program',       $$SELECT * FROM loyalty.winback('2024-02-19', 'nope')$$),
	('max_p_alive 0',         $$SELECT * FROM loyalty.winback('2024-02-19', 'solo', 0)$$),
	('max_p_alive 1.01',      $$SELECT * FROM loyalty.winback('2024-02-19', 'solo', 1.01)$$),
	('max_p_alive NaN',       $$SELECT * FROM loyalty.winback('2024-02-19', 'solo', 'NaN')$$),
	('max_p_alive 1',         $$SELECT * FROM loyalty.winback('2024-02-19', 'solo', 1)$$),
	('max_p_alive NULL: 0.5', $$SELECT * FROM loyalty.winback('2024-02-19', 'solo', NULL)$$),
	('min_value_rank -0.1',   $$SELECT * FROM loyalty.winback('2024-02-19', 'solo', 0.5, -0.1)$$),
	('min_value_rank 1.5',    $$SELECT * FROM loyalty.winback('2024-02-19', 'solo', 0.5, 1.5)$$),
	('min_value_rank NaN',    $$SELECT * FROM loyalty.winback('2024-02-19', 'solo', 0.5, 'NaN')$$),
	('min_value_rank 1',      $$SELECT * FROM loyalty.winback('2024-02-19', 'solo', 0.5, 1)$$),
	('bad bg',                $$SELECT * FROM loyalty.winback('2024-02-19', 'wb', bg => '(0,1,1,1,,)', gg => '(6.25,3.74,15.44,,)')$$)
	) t(what, statement);

-- ===== replenishment_due, program rp in Los Angeles (PST, UTC-8 in
-- January and February 2024).  As of 2024-02-20 12:00 UTC (04:00 on the
-- 20th there), within 7 days: expected days 02-20 .. 02-27.  Days are local:
--   R1 formula 01-01, 01-21, 02-10: gaps 20 20, next 03-01 (in 10 days)
--   R2 formula 01-09, 01-23, 02-06 (two sales that day), a return on 02-15
--      and a sale after as_of: gaps 14 14, next 02-20 (today)
--   R3 diaper  01-01, 01-11, 01-31, 02-10: gaps 10 20 10, median 10, mean
--      40/3 = 13.333, stddev_samp sqrt(100/3) = 5.7735, regularity 0.4330,
--      next 02-20
--   R4 toy     02-01, 02-03, 02-13: gaps 2 10, median 6, regularity
--      stddev_samp 5.6569 / 6 = 0.9428 (too irregular), next 02-19 (overdue)
--   R5 formula 01-20, 02-10: one gap, too few days
--   R6 formula at 23:30 local on 01-16, 01-30, 02-13 (07:30 UTC the next
--      day): gaps 14 14, next 02-27 (in 7 days); in UTC it would be 02-28
--   R7 formula as R2, but closed
SELECT pg_temp.enrol('72', 7, 'rp') AS rp;
UPDATE loyalty.program SET time_zone = 'America/Los_Angeles' WHERE code = 'rp';
SELECT count(pg_temp.buy('72', r, at, 'S1', VARIADIC lines)) AS sales
  FROM (VALUES (1, '2024-01-01 10:00-08'::timestamptz, '{F1:formula:30}'::text[]), (1, '2024-01-21 10:00-08', '{F1:formula:30}'),
			   (1, '2024-02-10 10:00-08', '{F1:formula:30}'),
			   (2, '2024-01-09 10:00-08', '{F1:formula:30,D1:diaper:12}'), (2, '2024-01-23 10:00-08', '{F1:formula:30}'),
			   (2, '2024-02-06 09:00-08', '{F1:formula:30}'), (2, '2024-02-06 18:00-08', '{F2:formula:32}'),
			   (2, '2024-02-21 10:00-08', '{F1:formula:30}'),
			   (3, '2024-01-01 10:00-08', '{D1:diaper:12}'), (3, '2024-01-11 10:00-08', '{D1:diaper:12,D2:diaper:14}'),
			   (3, '2024-01-31 10:00-08', '{D1:diaper:12}'), (3, '2024-02-10 10:00-08', '{D1:diaper:12}'),
			   (4, '2024-02-01 10:00-08', '{T1:toy:20}'), (4, '2024-02-03 10:00-08', '{T1:toy:20}'),
			   (4, '2024-02-13 10:00-08', '{T1:toy:20}'),
			   (5, '2024-01-20 10:00-08', '{F1:formula:30}'), (5, '2024-02-10 10:00-08', '{F1:formula:30}'),
			   (6, '2024-01-16 23:30-08', '{F1:formula:30}'), (6, '2024-01-30 23:30-08', '{F1:formula:30}'),
			   (6, '2024-02-13 23:30-08', '{F1:formula:30}'),
			   (7, '2024-01-09 10:00-08', '{F1:formula:30}'), (7, '2024-01-23 10:00-08', '{F1:formula:30}'),
			   (7, '2024-02-06 10:00-08', '{F1:formula:30}')) v(r, at, lines);
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
SELECT s.store, 'R-R2', '2024-02-15 10:00-08', 30, '[{"sku": "F1", "qty": 1, "amount": 30}]', s.sale_id
  FROM loyalty.sale s WHERE s.pos_txn = (SELECT min(pos_txn) FROM loyalty.sale x
										  WHERE x.member_id = loyalty.member_id(loyalty.card_issue('72', 2))
											AND x.occurred_at = '2024-02-06 09:00-08');
SELECT loyalty.set_member_status(loyalty.card_issue('72', 7), 'closed', 'moved away');
-- by hand: R2 formula and R3 diaper today, R6 formula in 7 days
SELECT right(card::text, 2) AS card_end, program_code, category, purchase_days, last_bought, expected, days_until,
	   round(mean_gap::numeric, 4) AS mean_gap, median_gap, round(regularity::numeric, 4) AS regularity
  FROM loyalty.replenishment_due('2024-02-20 12:00+00', 7);
-- within 10 days: R1 too (03-01); overdue by a day and any regularity up
-- to 1: R4's toys (02-19, -1) too; NULLs are the defaults (7, 3, 0.5, 0)
SELECT right(card::text, 2) AS card_end, category, expected, days_until
  FROM loyalty.replenishment_due('2024-02-20 12:00+00', 10, 'rp');
SELECT right(card::text, 2) AS card_end, category, expected, days_until, round(regularity::numeric, 4) AS regularity
  FROM loyalty.replenishment_due('2024-02-20 12:00+00', 7, 'rp', 3, 1, 1);
SELECT count(*) AS with_nulls FROM loyalty.replenishment_due('2024-02-20 12:00+00', NULL, NULL, NULL, NULL, NULL);
-- two purchase days are enough for nobody (min_purchase_days 3 at least);
-- with 4, R3 alone
SELECT right(card::text, 2) AS card_end, category FROM loyalty.replenishment_due('2024-02-20 12:00+00', 7, 'rp', 4);
-- as of 2024-02-20 07:30 UTC it is 02-19 23:30 in Los Angeles: the window
-- is 02-19 .. 02-26, R2 and R3 due in a day, R6 (02-27) not yet
SELECT right(card::text, 2) AS card_end, category, expected, days_until
  FROM loyalty.replenishment_due('2024-02-20 07:30+00', 7, 'rp');
-- the same sales with the program in UTC (within 8 days): R6's days are
-- 01-17, 01-31, 02-14, next 02-28, in 8 days; R2's evening sale of 02-06
-- (18:00 there) is on 02-07 in UTC: days 01-09, 01-23, 02-06, 02-07, gaps
-- 14 14 1, mean 29/3, stddev_samp 7.5056, regularity 0.7764: too
-- irregular, but listed up to 1 (next 02-07 + 14 = 02-21); R3 does not move
UPDATE loyalty.program SET time_zone = 'UTC' WHERE code = 'rp';
SELECT right(card::text, 2) AS card_end, category, last_bought, expected, days_until
  FROM loyalty.replenishment_due('2024-02-20 12:00+00', 8, 'rp');
SELECT right(card::text, 2) AS card_end, category, purchase_days, last_bought, expected, days_until,
	   round(mean_gap::numeric, 4) AS mean_gap, median_gap, round(regularity::numeric, 4) AS regularity
  FROM loyalty.replenishment_due('2024-02-20 12:00+00', 8, 'rp', 3, 1);
SHOW TimeZone;
SELECT what, pg_temp.outcome(statement) FROM (VALUES
	('NULL as_of',            $$SELECT * FROM loyalty.replenishment_due(NULL)$$),
	('infinite as_of',        $$SELECT * FROM loyalty.replenishment_due('-infinity')$$),
	('future as_of',          $$SELECT * FROM loyalty.replenishment_due(now() + interval '1 hour')$$),
	('unknown program',       $$SELECT * FROM loyalty.replenishment_due('2024-02-20', 7, 'nope')$$),
	('within_days -1',        $$SELECT * FROM loyalty.replenishment_due('2024-02-20', -1)$$),
	('within_days 3661',      $$SELECT * FROM loyalty.replenishment_due('2024-02-20', 3661)$$),
	('within_days 0',         $$SELECT * FROM loyalty.replenishment_due('2024-02-20', 0)$$),
	('overdue_days -1',       $$SELECT * FROM loyalty.replenishment_due('2024-02-20', 7, overdue_days => -1)$$),
	('min_purchase_days 2',   $$SELECT * FROM loyalty.replenishment_due('2024-02-20', 7, min_purchase_days => 2)$$),
	('max_regularity -0.1',   $$SELECT * FROM loyalty.replenishment_due('2024-02-20', 7, max_regularity => -0.1)$$),
	('max_regularity NaN',    $$SELECT * FROM loyalty.replenishment_due('2024-02-20', 7, max_regularity => 'NaN')$$),
	('max_regularity 0',      $$SELECT * FROM loyalty.replenishment_due('2024-02-20', 7, max_regularity => 0)$$)
	) t(what, statement);
