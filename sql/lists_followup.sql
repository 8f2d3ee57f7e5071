-- Follow-up lists (0.6.0): loyalty.callbacks (the call list N days after a
-- purchase, each sale's day at its store), loyalty.buyers_of (through the
-- GIN indexes on the lines), the home_store aggregate (recency-weighted,
-- hand-computed weights, ties, a parallel plan against the serial one) and
-- loyalty.home_stores.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
DROP TABLE IF EXISTS home_visits;
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
-- A back-filled sale of some lines (sku, category, amount), and a return
-- of part of its first line's amount (qty 0.01, so that there can be many).
CREATE TEMP SEQUENCE txn;
CREATE FUNCTION pg_temp.buy(prefix text, serial int, at timestamptz, store text, VARIADIC lines text[]) RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	SELECT store, 'T' || nextval('txn'), CASE WHEN serial > 0 THEN loyalty.card_issue(prefix, serial) END, at,
		   sum(split_part(l, ':', 3)::numeric),
		   jsonb_agg(jsonb_build_object('sku', split_part(l, ':', 1), 'category', split_part(l, ':', 2),
										'qty', 1, 'amount', split_part(l, ':', 3)::numeric))
	  FROM unnest(lines) l
	RETURNING sale_id $$;
CREATE FUNCTION pg_temp.give_back(sale bigint, at timestamptz, refund numeric) RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
	SELECT s.store, 'R' || nextval('txn'), at, refund,
		   jsonb_build_array(jsonb_build_object('sku', s.lines->0->>'sku', 'qty', 0.01, 'amount', refund)), sale
	  FROM loyalty.sale s WHERE s.sale_id = sale
	RETURNING sale_id $$;
CREATE FUNCTION pg_temp.enrol(prefix text, serials int, program text) RETURNS bigint
LANGUAGE sql AS $$
	SELECT count(loyalty.enroll(loyalty.card_issue(prefix, i), program, enrolled_at => '2000-01-01 00:00+00'))
	  FROM generate_series(1, serials) i $$;

-- ===== callbacks, program cb (UTC); store LA is in Los Angeles, S1 and S2
-- have no row (the program's zone).  As of 2024-05-10 15:00 UTC (08:00 in
-- Los Angeles), 3 days after: purchases of 05-07.
INSERT INTO loyalty.program (code) VALUES ('cb'), ('bo'), ('hs');
INSERT INTO loyalty.store (store, region, time_zone) VALUES ('LA', 'west', 'America/Los_Angeles');
SELECT pg_temp.enrol('77', 7, 'cb') AS cb;
-- K1: 05-07 10:00 at S1, a sofa and a lamp: listed
SELECT pg_temp.buy('77', 1, '2024-05-07 10:00+00', 'S1', 'SOFA1:sofa:500', 'LAMP1:lamp:40') IS NOT NULL AS k1;
-- K2: 05-06 23:59 and 05-08 00:00: the days either side, not listed
SELECT pg_temp.buy('77', 2, '2024-05-06 23:59+00', 'S1', 'SOFA1:sofa:100') IS NOT NULL AS k2a,
	   pg_temp.buy('77', 2, '2024-05-08 00:00+00', 'S1', 'SOFA2:sofa:110') IS NOT NULL AS k2b;
-- K3: at LA on 05-08 05:00 UTC, which is 05-07 22:00 there: listed
SELECT pg_temp.buy('77', 3, '2024-05-08 05:00+00', 'LA', 'BED1:bed:300') IS NOT NULL AS k3;
-- K4: 05-07, refunded in full on 05-09: not listed
SELECT pg_temp.give_back(pg_temp.buy('77', 4, '2024-05-07 12:00+00', 'S1', 'CHAIR1:chair:80'), '2024-05-09 12:00+00', 80) IS NOT NULL AS k4;
-- K5: 05-07, 50 refunded on 05-09 and 20 after as_of: listed, 200 - 50 = 150
SELECT pg_temp.buy('77', 5, '2024-05-07 12:00+00', 'S1', 'TABLE1:table:200') AS k5_sale \gset
SELECT pg_temp.give_back(:k5_sale, '2024-05-09 12:00+00', 50) IS NOT NULL AS k5a,
	   pg_temp.give_back(:k5_sale, '2024-05-10 16:00+00', 20) IS NOT NULL AS k5b;
-- K6: 05-07, but the membership is closed: not listed
SELECT pg_temp.buy('77', 6, '2024-05-07 12:00+00', 'S1', 'RUG1:rug:70') IS NOT NULL AS k6;
SELECT loyalty.set_member_status(loyalty.card_issue('77', 6), 'closed', 'moved away');
-- K7: two sales on 05-07 at S1 and S2: one row, both stores
SELECT pg_temp.buy('77', 7, '2024-05-07 09:00+00', 'S1', 'SOFA1:sofa:100') IS NOT NULL AS k7a,
	   pg_temp.buy('77', 7, '2024-05-07 17:00+00', 'S2', 'RUG1:rug:60') IS NOT NULL AS k7b;
-- an anonymous sale of 05-07: nobody to call
SELECT pg_temp.buy('77', 0, '2024-05-07 11:00+00', 'S1', 'LAMP1:lamp:40') IS NOT NULL AS anonymous;
-- By hand: K1 (S1, lamp sofa, 540), K3 (LA, bed, 300), K5 (S1, table, 150),
-- K7 (S1 S2, rug sofa, 160)
SELECT right(card::text, 2) AS card_end, program_code, purchase_day, stores, categories, skus, amount, cardinality(sale_ids) AS sales
  FROM loyalty.callbacks('2024-05-10 15:00+00', 3);
-- the default is 3 days; NULL is the default
SELECT count(*) AS three_days FROM loyalty.callbacks('2024-05-10 15:00+00');
SELECT count(*) AS null_days FROM loyalty.callbacks('2024-05-10 15:00+00', NULL);
-- day N + 1 and N - 1: K2's sales of 05-06 (4 days) and 05-08 (2 days)
SELECT right(card::text, 2) AS card_end, purchase_day, skus FROM loyalty.callbacks('2024-05-10 15:00+00', 4);
SELECT right(card::text, 2) AS card_end, purchase_day, skus FROM loyalty.callbacks('2024-05-10 15:00+00', 2);
-- as of 2024-05-10 06:00 UTC it is 05-09 23:00 in Los Angeles: 3 days back
-- is 05-06 there (K3 not listed), 05-07 at S1 and S2
SELECT right(card::text, 2) AS card_end, purchase_day, stores FROM loyalty.callbacks('2024-05-10 06:00+00', 3);
-- 0 days: today's buyers up to as_of (K1 at 14:00; not its 16:00 sale)
SELECT pg_temp.buy('77', 1, '2024-05-10 14:00+00', 'S1', 'PILLOW1:pillow:10') IS NOT NULL AS k1_today,
	   pg_temp.buy('77', 1, '2024-05-10 16:00+00', 'S1', 'PILLOW2:pillow:12') IS NOT NULL AS k1_later;
SELECT right(card::text, 2) AS card_end, purchase_day, skus, amount FROM loyalty.callbacks('2024-05-10 15:00+00', 0);
SELECT what, pg_temp.outcome(statement) FROM (VALUES
	('NULL as_of',        $$SELECT * FROM loyalty.callbacks(NULL)$$),
	('infinite as_of',    $$SELECT * FROM loyalty.callbacks('infinity')$$),
	('future as_of',      $$SELECT * FROM loyalty.callbacks(now() + interval '1 hour')$$),
	('days_after -1',     $$SELECT * FROM loyalty.callbacks('2024-05-10', -1)$$),
	('days_after 3661',   $$SELECT * FROM loyalty.callbacks('2024-05-10', 3661)$$),
	('days_after 3660',   $$SELECT * FROM loyalty.callbacks('2024-05-10', 3660)$$)
	) t(what, statement);

-- ===== buyers_of, program bo: formula F1 and F2, diaper D1, toy T1
SELECT pg_temp.enrol('78', 7, 'bo') AS bo;
SELECT pg_temp.buy('78', 1, '2024-02-01 10:00+00', 'S1', 'F1:formula:30') IS NOT NULL AS b1a,			-- B1: F1 twice
	   pg_temp.buy('78', 1, '2024-03-01 10:00+00', 'S1', 'F1:formula:30', 'D1:diaper:12') IS NOT NULL AS b1b,
	   pg_temp.buy('78', 2, '2024-02-10 10:00+00', 'S1', 'F2:formula:35') IS NOT NULL AS b2,			-- B2: F2
	   pg_temp.buy('78', 3, '2023-06-01 10:00+00', 'S1', 'F1:formula:28') IS NOT NULL AS b3,			-- B3: before since
	   pg_temp.buy('78', 0, '2024-02-12 10:00+00', 'S1', 'F1:formula:30') IS NOT NULL AS anonymous,
	   pg_temp.give_back(pg_temp.buy('78', 5, '2024-02-15 10:00+00', 'S1', 'F1:formula:30'),
						 '2024-02-16 10:00+00', 30) IS NOT NULL AS b5,									-- B5: returned it
	   pg_temp.buy('78', 6, '2024-02-20 10:00+00', 'S1', 'F1:formula:30') IS NOT NULL AS b6,			-- B6: closed
	   pg_temp.buy('78', 7, '2024-02-20 10:00+00', 'S1', 'T1:toy:15') IS NOT NULL AS b7;				-- B7: a toy
SELECT loyalty.set_member_status(loyalty.card_issue('78', 6), 'closed', 'left');
-- The predicate buyers_of runs is the one of the GIN indexes (their
-- expressions and their WHERE): a bitmap scan of each, or-ed.  (The
-- planner prefers a sequential scan of a table this small; with it
-- disabled, a predicate the indexes did not match would still scan the
-- table.)
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT s.member_id FROM loyalty.sale s
 WHERE (pg_catalog.jsonb_path_query_array(s.lines, '$[*].sku') OPERATOR(pg_catalog.?|) '{F1}'::text[]
		OR pg_catalog.jsonb_path_query_array(s.lines, '$[*].category') OPERATOR(pg_catalog.?|) '{}'::text[])
   AND s.member_id IS NOT NULL AND s.return_of IS NULL
   AND s.occurred_at >= '2024-01-01';
-- and buyers_of itself scans both indexes, once each.  (Its first call in
-- this session: from the sixth call on PL/pgSQL may take a generic plan,
-- made without the arrays' values, and on a table of a few rows its guess
-- is a bitmap scan of all of sale_member_idx.  On a million sales the
-- generic plan scans the GIN indexes too: bench/lists.sh checks it.)
BEGIN;
SELECT pg_stat_get_xact_numscans('loyalty.sale_line_sku_idx'::regclass) AS sku_scans,
	   pg_stat_get_xact_numscans('loyalty.sale_line_category_idx'::regclass) AS category_scans \gset
SELECT count(*) AS buyers FROM loyalty.buyers_of('{F1}');
SELECT pg_stat_get_xact_numscans('loyalty.sale_line_sku_idx'::regclass) - :sku_scans AS sku_index_scans,
	   pg_stat_get_xact_numscans('loyalty.sale_line_category_idx'::regclass) - :category_scans AS category_index_scans;
COMMIT;
RESET enable_seqscan;
-- F1 since 2024: B1 (2 sales), B5 (bought it; returns are not netted)
SELECT right(card::text, 2) AS card_end, program_code, bought_skus, bought_categories, sales, first_bought_at, last_bought_at
  FROM loyalty.buyers_of('{F1}', since => '2024-01-01');
-- ever: B3 too
SELECT right(card::text, 2) AS card_end, bought_skus, sales FROM loyalty.buyers_of('{F1}');
-- the category: B1, B2, B5
SELECT right(card::text, 2) AS card_end, bought_skus, bought_categories, sales
  FROM loyalty.buyers_of(categories => '{formula}', since => '2024-01-01');
-- a sku or a category: B1 (D1 and formula; both its sales), B2, B5
SELECT right(card::text, 2) AS card_end, bought_skus, bought_categories, sales
  FROM loyalty.buyers_of('{D1}', '{formula}', '2024-01-01');
SELECT count(*) AS nobody FROM loyalty.buyers_of('{NOPE}', '{nope}');
SELECT what, pg_temp.outcome(statement) FROM (VALUES
	('nothing',          $$SELECT * FROM loyalty.buyers_of()$$),
	('empty arrays',     $$SELECT * FROM loyalty.buyers_of('{}', '{}')$$),
	('a NULL sku',       $$SELECT * FROM loyalty.buyers_of(ARRAY['F1', NULL])$$)
	) t(what, statement);

-- ===== the home_store aggregate: weight 2^(-age / half_life) per visit
-- As of 06-01: X two visits 30 days back, Y one at as_of (weight 1).
-- Half-life 10 days: X 2 x 2^-3 = 0.25: Y.  30 days: X 2 x 0.5 = 1, a tie
-- (exact: 2 x 2^31 = 2^32 units): the latest visit, Y.  60 days: X 2 x
-- 2^-0.5 = 1.41: X.
CREATE TEMP TABLE v (store text, at timestamptz);
INSERT INTO v VALUES ('X', '2024-05-02 00:00+00'), ('X', '2024-05-02 00:00+00'), ('Y', '2024-06-01 00:00+00');
SELECT h AS half_life, loyalty.home_store(v.store, v.at, '2024-06-01 00:00+00', h) AS home
  FROM v, unnest(ARRAY['10 days', '30 days', '60 days']::interval[]) h
 GROUP BY h ORDER BY h;
-- the rows' order does not matter (the tie of 30 days)
SELECT loyalty.home_store(store, at, '2024-06-01 00:00+00', '30 days' ORDER BY at) AS ascending,
	   loyalty.home_store(store, at, '2024-06-01 00:00+00', '30 days' ORDER BY at DESC) AS descending,
	   loyalty.home_store(store, at, '2024-06-01 00:00+00', '30 days' ORDER BY store DESC) AS by_store
  FROM v;
-- equal weight and equal latest visit: the name that sorts first
SELECT loyalty.home_store(store, at, '2024-06-01 00:00+00' ORDER BY store) AS ascending,
	   loyalty.home_store(store, at, '2024-06-01 00:00+00' ORDER BY store DESC) AS descending
  FROM (VALUES ('S2', '2024-05-27 00:00+00'::timestamptz), ('S1', '2024-05-27 00:00+00')) x(store, at);
-- rows after as_of, with a NULL store or time: skipped; none left: NULL
SELECT loyalty.home_store(store, at, '2024-06-01 00:00+00') AS skipped
  FROM (VALUES ('X', '2024-05-01 00:00+00'::timestamptz), ('LATER', '2024-06-02 00:00+00'),
			   ('LATER', '2024-06-03 00:00+00'), (NULL, '2024-05-31 00:00+00'), ('NOTIME', NULL)) x(store, at);
SELECT loyalty.home_store(store, at, '2024-06-01 00:00+00') IS NULL AS nothing_left
  FROM (VALUES ('LATER', '2024-06-02 00:00+00'::timestamptz), (NULL, '2024-05-31 00:00+00')) x(store, at);
SELECT loyalty.home_store(store, at, '2024-06-01 00:00+00') IS NULL AS no_rows FROM v WHERE false;
-- 33 half-lives and more weigh nothing (under 2^-33): then the latest
-- visit decides, here B's one visit 40 days back over A's hundred 50 days back
SELECT loyalty.home_store(store, at, '2024-06-01 00:00+00', '1 day') AS ancient
  FROM (SELECT 'A', '2024-04-12 00:00+00'::timestamptz FROM generate_series(1, 100)
		UNION ALL SELECT 'B', '2024-04-22 00:00+00') x(store, at);
-- the 3-argument form is a half-life of 180 days, as is a NULL half_life:
-- 180 days: P one visit at as_of (1), Q two 180 days back (0.5 + 0.5): a
-- tie, the latest visit: P; 181 days: Q's two weigh a bit more: Q
SELECT loyalty.home_store(store, at, '2024-06-01 00:00+00') AS three_args,
	   loyalty.home_store(store, at, '2024-06-01 00:00+00', NULL) AS null_half_life,
	   loyalty.home_store(store, at, '2024-06-01 00:00+00', '180 days') AS days_180,
	   loyalty.home_store(store, at, '2024-06-01 00:00+00', '181 days') AS days_181
  FROM (VALUES ('P', '2024-06-01 00:00+00'::timestamptz), ('Q', '2023-12-04 00:00+00'), ('Q', '2023-12-04 00:00+00')) x(store, at);
SELECT what, pg_temp.outcome(statement) FROM (VALUES
	('NULL as_of',         $$SELECT loyalty.home_store(store, at, NULL) FROM v$$),
	('infinite as_of',     $$SELECT loyalty.home_store(store, at, 'infinity') FROM v$$),
	('half_life 0',        $$SELECT loyalty.home_store(store, at, '2024-06-01', '0') FROM v$$),
	('half_life -1 day',   $$SELECT loyalty.home_store(store, at, '2024-06-01', '-1 day') FROM v$$),
	('half_life 1 month - 30 days', $$SELECT loyalty.home_store(store, at, '2024-06-01', '1 month -30 days') FROM v$$),
	('as_of of each row',  $$SELECT loyalty.home_store(store, at, at + interval '1 day') FROM v$$),
	('half-life of each row', $$SELECT loyalty.home_store(store, at, '2024-06-01', at - '2024-01-01') FROM v$$)
	) t(what, statement);

-- ===== a parallel plan gives the serial plan's answer.  60,000 visits of 7
-- members to 13 stores over a year; the weights of each member's stores
-- are close, so a sum that depended on the order of the rows or of the
-- partial states could pick another store.
CREATE TABLE home_visits (member int, store text, at timestamptz);
INSERT INTO home_visits
SELECT i % 7, 'S' || (i * 7919 % 13), '2023-06-01 00:00+00'::timestamptz + (i::bigint * 104729 % 525600) * interval '1 minute'
  FROM generate_series(1, 60000) i;
ANALYZE home_visits;
CREATE FUNCTION pg_temp.homes(half_life interval) RETURNS text
LANGUAGE sql AS $$
	SELECT string_agg(member || ':' || home, ' ' ORDER BY member)
	  FROM (SELECT member, CASE WHEN half_life IS NULL THEN loyalty.home_store(store, at, '2024-06-01 00:00+00')
								ELSE loyalty.home_store(store, at, '2024-06-01 00:00+00', half_life) END AS home
			  FROM home_visits GROUP BY member) x $$;
-- workers launched by a plan, from EXPLAIN ANALYZE
CREATE FUNCTION pg_temp.workers(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	line text;
	found text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query LOOP
		IF line ~ 'Workers Launched|Partial|Finalize' THEN
			found := found || btrim(regexp_replace(line, '\(actual.*\)', '')) || '; ';
		END IF;
	END LOOP;
	RETURN found;
END
$$;
SET max_parallel_workers_per_gather = 0;
SELECT pg_temp.homes(NULL) AS serial_180, pg_temp.homes('7 days') AS serial_7 \gset
SELECT loyalty.home_store(store, at, '2024-06-01 00:00+00', '30 days') AS serial_all FROM home_visits \gset
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF)
SELECT member, loyalty.home_store(store, at, '2024-06-01 00:00+00', '7 days') FROM home_visits GROUP BY member;
EXPLAIN (COSTS OFF)
SELECT loyalty.home_store(store, at, '2024-06-01 00:00+00') FROM home_visits;
SELECT pg_temp.workers($$SELECT member, loyalty.home_store(store, at, '2024-06-01 00:00+00', '7 days') FROM home_visits GROUP BY member$$) AS grouped,
	   pg_temp.workers($$SELECT loyalty.home_store(store, at, '2024-06-01 00:00+00') FROM home_visits$$) AS whole_table;
SELECT pg_temp.homes(NULL) = :'serial_180' AS same_180, pg_temp.homes('7 days') = :'serial_7' AS same_7,
	   (SELECT loyalty.home_store(store, at, '2024-06-01 00:00+00', '30 days') FROM home_visits) = :'serial_all' AS same_all,
	   :'serial_180' AS homes_180, :'serial_7' AS homes_7, :'serial_all' AS home_of_all;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
RESET enable_hashagg;
DROP TABLE home_visits;

-- ===== home_stores, program hs: recorded home store and the one the sales
-- show, as of 2024-06-01 (half-life 180 days)
SELECT loyalty.enroll(loyalty.card_issue('79', 1), 'hs', home_store => 'S1', enrolled_at => '2000-01-01 00:00+00') IS NOT NULL AS h1,
	   loyalty.enroll(loyalty.card_issue('79', 2), 'hs', enrolled_at => '2000-01-01 00:00+00') IS NOT NULL AS h2,
	   loyalty.enroll(loyalty.card_issue('79', 3), 'hs', home_store => 'S1', enrolled_at => '2000-01-01 00:00+00') IS NOT NULL AS h3;
-- H1: S1 three times a year ago (3 x 2^(-366/180) = 0.73), S2 once a week
-- ago (0.97): S2.  H2: S1.  H3: S1, and a return at S2 (no visit)
SELECT pg_temp.buy('79', 1, d, 'S1', 'A:a:10') IS NOT NULL AS h1_old
  FROM unnest(ARRAY['2023-06-01 10:00+00', '2023-06-01 11:00+00', '2023-06-01 12:00+00']::timestamptz[]) d;
SELECT pg_temp.buy('79', 1, '2024-05-25 10:00+00', 'S2', 'A:a:10') IS NOT NULL AS h1_new,
	   pg_temp.buy('79', 2, '2024-05-20 10:00+00', 'S1', 'A:a:10') IS NOT NULL AS h2,
	   pg_temp.buy('79', 3, '2024-05-20 10:00+00', 'S1', 'A:a:10') AS h3_sale \gset
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
VALUES ('S2', 'R-H3', '2024-05-21 10:00+00', 10, '[{"sku":"A","qty":1,"amount":10}]', :h3_sale);
SELECT right(c.card::text, 2) AS card_end, h.program_code, h.home_store, h.recorded_home_store,
	   h.home_store IS DISTINCT FROM h.recorded_home_store AS differs, h.visits, h.last_visit_at
  FROM loyalty.home_stores('2024-06-01 00:00+00', program => 'hs') h
  JOIN loyalty.member_card c ON c.member_id = h.member_id;
-- a half-life of 1000 days: H1's three old visits (2.33) beat the new one (0.99)
SELECT right(c.card::text, 2) AS card_end, h.home_store
  FROM loyalty.home_stores('2024-06-01 00:00+00', '1000 days', 'hs') h
  JOIN loyalty.member_card c ON c.member_id = h.member_id;
SELECT what, pg_temp.outcome(statement) FROM (VALUES
	('NULL as_of',        $$SELECT * FROM loyalty.home_stores(NULL)$$),
	('infinite as_of',    $$SELECT * FROM loyalty.home_stores('infinity')$$),
	('future as_of',      $$SELECT * FROM loyalty.home_stores(now() + interval '1 hour')$$),
	('half_life 0',       $$SELECT * FROM loyalty.home_stores('2024-06-01', '0')$$),
	('NULL half_life',    $$SELECT * FROM loyalty.home_stores('2024-06-01', NULL)$$),
	('unknown program',   $$SELECT * FROM loyalty.home_stores('2024-06-01', NULL, 'nope')$$)
	) t(what, statement);
