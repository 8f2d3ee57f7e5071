-- Every analytics aggregate in a parallel plan (Partial Aggregate in the
-- workers, combine in the leader) gives the serial plan's answer, bit for
-- bit.  The rows of each member are spread over the whole table, so the
-- workers, which take the table's blocks in turn (the leader takes none
-- here), each see part of most members: their partial states have to be
-- merged, days and sums, in whatever order the blocks came.
SET client_min_messages = warning;
SET extra_float_digits = 0;
SET TimeZone = 'America/New_York';

-- 300 members x 80 rows: purchases at all hours (so local midnights split
-- days), returns, several rows a day, rows after as_of
CREATE TABLE par_sale (member int, at timestamptz, amount numeric);
INSERT INTO par_sale
SELECT i % 300,
	   timestamptz '2025-01-01 00:00-05' + ((i * 7919) % 100003) * interval '5 minutes' * ((i % 300) % 7 + 1),
	   CASE WHEN i % 17 = 0 THEN -((i % 23) + 0.5) ELSE (i % 97) + 0.25 END
  FROM generate_series(1, 24000) i;
-- the CDNOW calibration summaries, ten times over (a fit of copies is the
-- fit of one: analytics_models)
CREATE TEMP TABLE cdnow_raw (line text);
\copy cdnow_raw FROM 'test/data/cdnow_sample.txt'
CREATE TABLE par_cal AS
SELECT s.*
  FROM (SELECT (loyalty.purchase_summary(to_date(f[3], 'YYYYMMDD')::timestamptz, f[5]::numeric, '1997-09-30')).*
		  FROM (SELECT regexp_split_to_array(btrim(line, E' \r'), ' +') AS f FROM cdnow_raw) r
		 GROUP BY f[2]) s, generate_series(1, 10);
ANALYZE par_sale;
ANALYZE par_cal;

-- serial answers
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial_member AS
SELECT member, loyalty.purchase_summary(at, amount, '2026-06-30', '1 day') AS days,
	   loyalty.purchase_summary(at, amount, '2026-06-30') AS weeks, loyalty.cadence(at) AS cadence
  FROM par_sale GROUP BY member;
CREATE TEMP TABLE serial_fit AS
SELECT loyalty.bgnbd_fit(x, t_x, t) AS bg, loyalty.gg_fit(x, monetary) AS gg FROM par_cal;

-- parallel plans
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF)
SELECT member, loyalty.purchase_summary(at, amount, '2026-06-30', '1 day') AS days,
	   loyalty.purchase_summary(at, amount, '2026-06-30') AS weeks, loyalty.cadence(at) AS cadence
  FROM par_sale GROUP BY member;
CREATE TEMP TABLE parallel_member AS
SELECT member, loyalty.purchase_summary(at, amount, '2026-06-30', '1 day') AS days,
	   loyalty.purchase_summary(at, amount, '2026-06-30') AS weeks, loyalty.cadence(at) AS cadence
  FROM par_sale GROUP BY member;
EXPLAIN (COSTS OFF)
SELECT loyalty.bgnbd_fit(x, t_x, t) AS bg, loyalty.gg_fit(x, monetary) AS gg FROM par_cal;
CREATE TEMP TABLE parallel_fit AS
SELECT loyalty.bgnbd_fit(x, t_x, t) AS bg, loyalty.gg_fit(x, monetary) AS gg FROM par_cal;
RESET ALL;
SET extra_float_digits = 0;

-- the same, member by member, every field (text: exact floats)
SELECT count(*) AS members,
	   count(*) FILTER (WHERE s.days::text = p.days::text) AS same_purchase_summary,
	   count(*) FILTER (WHERE s.weeks::text = p.weeks::text) AS same_in_weeks,
	   count(*) FILTER (WHERE s.cadence::text = p.cadence::text) AS same_cadence
  FROM serial_member s FULL JOIN parallel_member p USING (member);
-- what was summarised: returns, rows after as_of, several rows a day
SELECT count(*) AS rows, count(*) FILTER (WHERE amount < 0) AS returns,
	   count(*) FILTER (WHERE at > '2026-06-30') AS after_as_of,
	   (SELECT sum((days).purchase_days) FROM serial_member) AS purchase_days
  FROM par_sale;
SELECT s.bg::text = p.bg::text AS same_bgnbd_fit, s.gg::text = p.gg::text AS same_gg_fit,
	   round((p.bg).r::numeric, 3) AS r, (p.bg).n AS bg_n, round((p.gg).p::numeric, 2) AS p, (p.gg).n AS gg_n
  FROM serial_fit s, parallel_fit p;
DROP TABLE par_sale, par_cal;
