-- RFM (0.6.0): loyalty.rfm_segment's map of all 125 codes, and loyalty.rfm
-- over small customer bases whose recency, frequency, monetary, scores and
-- segments are worked out by hand in the comments: ties (equal values get
-- equal scores), one customer, purchases merged per day, a return, sales
-- after as_of, and days counted in the program's time zone at midnight,
-- whatever the session's TimeZone.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;

-- Runs a statement and shows its SQLSTATE and message (or that it worked).
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d', '<time>');
END
$$;
SET DateStyle = 'ISO, YMD';
-- A back-filled one-line sale (as the owner: no back-dating limit), and a
-- return of part of one.
CREATE TEMP SEQUENCE txn;
CREATE FUNCTION pg_temp.buy(prefix text, serial int, at timestamptz, total numeric) RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	VALUES ('S1', 'T' || nextval('txn'), loyalty.card_issue(prefix, serial), at, total,
			jsonb_build_array(jsonb_build_object('sku', 'A', 'category', 'c', 'qty', 1, 'amount', total)))
	RETURNING sale_id $$;
CREATE FUNCTION pg_temp.give_back(sale bigint, at timestamptz, refund numeric) RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
	VALUES ('S1', 'R' || nextval('txn'), at, refund,
			jsonb_build_array(jsonb_build_object('sku', 'A', 'qty', 1, 'amount', refund)), sale)
	RETURNING sale_id $$;
-- who is who: a name for each member
CREATE TEMP TABLE who (member_id bigint PRIMARY KEY, name text);

-- ===== the segment map: R against FM = floor((f + m) / 2)
-- f = m = FM shows the grid as the README draws it
SELECT r, string_agg(loyalty.rfm_segment(r, fm, fm), ' | ' ORDER BY fm) AS "FM 1 .. 5"
  FROM generate_series(1, 5) r, generate_series(1, 5) fm
 GROUP BY r ORDER BY r DESC;
-- all 125 codes: each has one segment (none NULL), 11 segments in all.
-- By hand: pairs (f, m) per FM: FM1 f+m in {2,3}: 3; FM2 {4,5}: 7; FM3
-- {6,7}: 9; FM4 {8,9}: 5; FM5 {10}: 1.  Lost R1 x FM1-2 = 10; Hibernating
-- R2 x FM1-2 = 10; About to Sleep R3 x FM1-2 = 10; Need Attention R3 x FM3
-- = 9; At Risk R1-2 x FM3-4 = 2 x 14 = 28; Can't Lose Them R1-2 x FM5 = 2;
-- Loyal R3-4 x FM4-5 = 2 x 6 = 12; Promising R4 x FM1 = 3; New R5 x FM1 =
-- 3; Potential Loyalist R4-5 x FM2-3 = 2 x 16 = 32; Champions R5 x FM4-5
-- = 6.  Sum 125.
SELECT segment, count(*) AS codes, string_agg(code, ' ' ORDER BY code) AS which
  FROM (SELECT r::text || f || m AS code, loyalty.rfm_segment(r, f, m) AS segment
		  FROM generate_series(1, 5) r, generate_series(1, 5) f, generate_series(1, 5) m) x
 GROUP BY segment ORDER BY codes DESC, segment;
SELECT count(*) AS codes, count(DISTINCT r::text || f || m) AS distinct_codes,
	   count(loyalty.rfm_segment(r, f, m)) AS with_a_segment,
	   count(DISTINCT loyalty.rfm_segment(r, f, m)) AS segments
  FROM generate_series(1, 5) r, generate_series(1, 5) f, generate_series(1, 5) m;
-- floor, not round: 512 and 521 are New (FM 1), 522 Potential Loyalist
-- (FM 2), 544 and 535 Champions (FM 4), 545 Champions, 455 Loyal
SELECT code, loyalty.rfm_segment(substr(code, 1, 1)::int, substr(code, 2, 1)::int, substr(code, 3, 1)::int)
  FROM unnest(ARRAY['512', '521', '522', '544', '535', '534', '455', '155', '154', '211', '311', '333']) code;
SELECT what, pg_temp.outcome(statement) FROM (VALUES
	('r 0',       $$SELECT loyalty.rfm_segment(0, 1, 1)$$),
	('f 6',       $$SELECT loyalty.rfm_segment(1, 6, 1)$$),
	('m -1',      $$SELECT loyalty.rfm_segment(1, 1, -1)$$),
	('NULL m',    $$SELECT loyalty.rfm_segment(1, 1, NULL)$$)
	) t(what, statement);

-- ===== ties: six members of program "ties" (UTC), as of 2024-03-31 12:00 UTC
INSERT INTO loyalty.program (code) VALUES ('ties'), ('solo');
INSERT INTO loyalty.program (code, time_zone) VALUES ('tz', 'America/New_York');
INSERT INTO who SELECT loyalty.enroll(loyalty.card_issue('71', i), 'ties', enrolled_at => '2000-01-01 00:00+00'),
					   (ARRAY['A', 'B', 'C', 'D', 'E', 'F', 'G'])[i]
  FROM generate_series(1, 7) i;
-- A: one day, 2024-03-31, 100 (and a sale after as_of, not counted)
SELECT pg_temp.buy('71', 1, '2024-03-31 09:00+00', 100) IS NOT NULL AS a;
SELECT pg_temp.buy('71', 1, '2024-04-02 09:00+00', 999) IS NOT NULL AS a_later;
-- B: one day, 03-21, 50
SELECT pg_temp.buy('71', 2, '2024-03-21 09:00+00', 50) IS NOT NULL AS b;
-- C: two days, last 03-21, 20 + 30 = 50
SELECT pg_temp.buy('71', 3, '2024-03-01 09:00+00', 20) IS NOT NULL AS c1,
	   pg_temp.buy('71', 3, '2024-03-21 18:00+00', 30) IS NOT NULL AS c2;
-- D: three sales on two days (two on 02-20 merge into one day), 200
SELECT pg_temp.buy('71', 4, '2024-01-10 09:00+00', 100) IS NOT NULL AS d1,
	   pg_temp.buy('71', 4, '2024-02-20 09:00+00', 60) IS NOT NULL AS d2,
	   pg_temp.buy('71', 4, '2024-02-20 23:59+00', 40) IS NOT NULL AS d3;
-- E: three days, last 03-26; 350 bought, 50 of the last sale returned on
-- 03-28: monetary 300, and the return is no purchase day (recency 5)
SELECT pg_temp.buy('71', 5, '2024-03-01 09:00+00', 100) IS NOT NULL AS e1,
	   pg_temp.buy('71', 5, '2024-03-10 09:00+00', 100) IS NOT NULL AS e2;
SELECT pg_temp.give_back(pg_temp.buy('71', 5, '2024-03-26 09:00+00', 150), '2024-03-28 09:00+00', 50) IS NOT NULL AS e3_and_return;
-- F: five days 2023-12-28 .. 2024-01-01, 60 each: 300, recency 90
SELECT count(pg_temp.buy('71', 6, d, 60)) AS f
  FROM generate_series('2023-12-28 10:00+00'::timestamptz, '2024-01-01 10:00+00', '1 day') d;
-- G: buys only after as_of: left out
SELECT pg_temp.buy('71', 7, '2024-04-05 09:00+00', 10) IS NOT NULL AS g;
-- By hand, as of 2024-03-31 (N = 6: score = max(1, ceil(5 (rank - 1) / 5))
-- = max(1, rank - 1); ranks from the worst value, ties at their lowest):
--   recency A 0, B 10, C 10, D 40, E 5, F 90: ranks F 1, D 2, B C 3, E 5, A 6
--     -> F 1, D 1, B 2, C 2, E 4, A 5
--   frequency A 1, B 1, C 2, D 2, E 3, F 5: ranks A B 1, C D 3, E 5, F 6
--     -> A 1, B 1, C 2, D 2, E 4, F 5
--   monetary A 100, B 50, C 50, D 200, E 300, F 300: ranks B C 1, A 3, D 4, E F 5
--     -> B 1, C 1, A 2, D 3, E 4, F 4
--   codes: A 512 (FM 1: New), B 211 (Hibernating), C 221 (FM 1: Hibernating),
--   D 123 (FM 2: Lost), E 444 (Loyal), F 154 (FM 4: At Risk)
SELECT w.name, r.program_code, r.last_purchase, r.recency, r.frequency, r.monetary,
	   r.r, r.f, r.m, r.code, r.segment
  FROM loyalty.rfm('2024-03-31 12:00+00', 'ties') r JOIN who w USING (member_id)
 ORDER BY w.name;

-- ===== one customer: program "solo"; a population of one ranks first on
-- everything, so it scores 1 1 1 (Lost): nothing to rank it against
INSERT INTO who VALUES (loyalty.enroll(loyalty.card_issue('72', 1), 'solo', enrolled_at => '2000-01-01 00:00+00'), 'S');
SELECT pg_temp.buy('72', 1, '2024-03-15 09:00+00', 42) IS NOT NULL AS s;
SELECT w.name, r.program_code, r.recency, r.frequency, r.monetary, r.code, r.segment
  FROM loyalty.rfm('2024-03-31 12:00+00', 'solo') r JOIN who w USING (member_id);
-- every program at once: each scored within its own program (solo's member
-- still 111, the ties members as above); tz has no sale yet
SELECT w.name, r.program_code, r.code, r.segment
  FROM loyalty.rfm('2024-03-31 12:00+00') r JOIN who w USING (member_id);

-- ===== days in the program's time zone, at midnight: program "tz" is
-- America/New_York (DST began 2024-03-10 02:00 local).  As of 2024-03-11
-- 03:00 UTC, which is 2024-03-10 23:00 in New York.
INSERT INTO who SELECT loyalty.enroll(loyalty.card_issue('73', i), 'tz', enrolled_at => '2000-01-01 00:00+00'),
					   (ARRAY['N1', 'N2'])[i]
  FROM generate_series(1, 2) i;
-- N1: 03-10 04:30 UTC = 03-09 23:30 EST and 03-10 05:30 UTC = 03-10 00:30
-- EST: two days in New York (one in UTC)
SELECT pg_temp.buy('73', 1, '2024-03-10 04:30+00', 10) IS NOT NULL AS n1a,
	   pg_temp.buy('73', 1, '2024-03-10 05:30+00', 10) IS NOT NULL AS n1b;
-- N2: 03-10 05:30 UTC = 03-10 00:30 EST and 03-11 02:00 UTC = 03-10 22:00
-- EDT: one day in New York (two in UTC)
SELECT pg_temp.buy('73', 2, '2024-03-10 05:30+00', 10) IS NOT NULL AS n2a,
	   pg_temp.buy('73', 2, '2024-03-11 02:00+00', 10) IS NOT NULL AS n2b;
-- By hand: N1 frequency 2, N2 1; both last bought on 03-10, as_of's day in
-- New York is 03-10: recency 0 for both (in UTC N1's would be 1).  N = 2:
-- score = max(1, ceil(5 (rank - 1))): recency tied (rank 1): 1 and 1;
-- frequency N2 rank 1 -> 1, N1 rank 2 -> 5; monetary 20 and 20: 1 and 1.
-- N1 151 (FM 3, R 1: At Risk), N2 111 (Lost).  The session's TimeZone
-- changes nothing.
SET TimeZone = 'UTC';
SELECT w.name, r.last_purchase, r.recency, r.frequency, r.monetary, r.code, r.segment
  FROM loyalty.rfm('2024-03-11 03:00+00', 'tz') r JOIN who w USING (member_id) ORDER BY w.name;
SET TimeZone = 'Asia/Tokyo';
SELECT w.name, r.last_purchase, r.recency, r.frequency, r.monetary, r.code, r.segment
  FROM loyalty.rfm('2024-03-11 03:00+00', 'tz') r JOIN who w USING (member_id) ORDER BY w.name;
RESET TimeZone;
-- one minute earlier N2's second sale is after as_of: N2 bought on one day,
-- as_of's day in New York is still 03-10
SELECT w.name, r.frequency, r.monetary, r.recency
  FROM loyalty.rfm('2024-03-11 01:59+00', 'tz') r JOIN who w USING (member_id) ORDER BY w.name;
-- as of 03-10 05:00 UTC (00:00 EST, midnight): N1's first sale (23:30 the
-- day before) is one day back; N2 has not bought yet
SELECT w.name, r.last_purchase, r.recency, r.frequency
  FROM loyalty.rfm('2024-03-10 05:00+00', 'tz') r JOIN who w USING (member_id) ORDER BY w.name;

-- ===== arguments
SELECT what, pg_temp.outcome(statement) FROM (VALUES
	('NULL as_of',       $$SELECT * FROM loyalty.rfm(NULL)$$),
	('infinite as_of',   $$SELECT * FROM loyalty.rfm('infinity')$$),
	('future as_of',     $$SELECT * FROM loyalty.rfm(now() + interval '1 hour')$$),
	('unknown program',  $$SELECT * FROM loyalty.rfm('2024-03-31', 'nope')$$),
	('now',              $$SELECT * FROM loyalty.rfm(now())$$)
	) t(what, statement);
-- before anyone bought: nothing
SELECT count(*) AS members FROM loyalty.rfm('2020-01-01');
