-- The CDNOW sample (test/data/README.md): the raw transactions of 2,357
-- customers, summarised by purchase_summary (calibration ends 1997-09-30,
-- weeks), must give the summary Fader, Hardie & Lee published, and
-- bgnbd_fit and gg_fit their estimates (Marketing Science 24(2), 2005):
--   BG/NBD r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
--   Gamma-Gamma (946 repeat buyers) p = 6.25, q = 3.74, gamma = 15.44
-- to the precision published.  Then P(alive) and expected purchases of a
-- few customers against test/reference/bgnbd_reference.py (a numerical
-- integration in plain Python, nothing shared with src/bgnbd.c), and the
-- figures of Hardie's spreadsheets.
SET client_min_messages = warning;
SET extra_float_digits = 0;

-- the file: "master_id sample_id date(YYYYMMDD) cds dollars", blank
-- separated, CRLF (\copy reads it relative to the directory make runs in)
CREATE TEMP TABLE cdnow_raw (line text);
\copy cdnow_raw FROM 'test/data/cdnow_sample.txt'
CREATE TEMP TABLE cdnow AS
SELECT f[2]::int AS customer, to_date(f[3], 'YYYYMMDD')::timestamptz AS at, f[5]::numeric AS dollars
  FROM (SELECT regexp_split_to_array(btrim(line, E' \r'), ' +') AS f FROM cdnow_raw) s;
SELECT count(*) AS rows, count(DISTINCT customer) AS customers, min(at)::date, max(at)::date FROM cdnow;

-- Hardie's summary (x, t_x, T in weeks, zbar), 2 decimals
CREATE TEMP TABLE hardie (id int, x int, t_x float8, t float8, zbar float8);
\copy hardie FROM 'test/data/cdnow_summary.csv' WITH (FORMAT csv, HEADER)

CREATE TEMP TABLE cal AS
SELECT customer, (loyalty.purchase_summary(at, dollars, '1997-09-30')).*
  FROM cdnow GROUP BY customer;

-- the README's checks: 2,357 customers, sum of x 2,457, 1,411 with x = 0,
-- 946 repeat buyers; 1,882 repeat transactions (purchase days) in the
-- hold-out, 1997-10-01 .. 1998-06-30
SELECT count(*) AS customers, sum(x) AS sum_x, count(*) FILTER (WHERE x = 0) AS no_repeat,
	   count(*) FILTER (WHERE x > 0) AS repeat_buyers
  FROM cal;
SELECT sum(f.x - c.x) AS holdout_repeat_days
  FROM cal c
  JOIN (SELECT customer, (loyalty.purchase_summary(at, dollars, '1998-06-30')).x FROM cdnow GROUP BY customer) f USING (customer);
-- every customer as in Hardie's file, to its 2 decimals
SELECT count(*) AS compared,
	   count(*) FILTER (WHERE c.x <> h.x) AS x_differs,
	   count(*) FILTER (WHERE abs(c.t_x - h.t_x) > 0.005 + 1e-9) AS t_x_differs,
	   count(*) FILTER (WHERE abs(c.t - h.t) > 0.005 + 1e-9) AS t_differs,
	   count(*) FILTER (WHERE abs(c.monetary - h.zbar) > 0.005 + 1e-9) AS monetary_differs
  FROM cal c JOIN hardie h ON h.id = c.customer;

-- BG/NBD, to the published precision
CREATE TEMP TABLE fit AS SELECT loyalty.bgnbd_fit(x, t_x, t) AS bg, loyalty.gg_fit(x, monetary) AS gg FROM cal;
SELECT round(r::numeric, 3) AS r, round(alpha::numeric, 3) AS alpha, round(a::numeric, 3) AS a,
	   round(b::numeric, 3) AS b, round(ll::numeric, 1) AS ll, n,
	   (round(r::numeric, 3), round(alpha::numeric, 3), round(a::numeric, 3), round(b::numeric, 3), round(ll::numeric, 1))
		   = (0.243, 4.414, 0.793, 2.426, -9582.4) AS as_published
  FROM (SELECT (bg).* FROM fit) f;
-- Gamma-Gamma, over the 946 repeat buyers' mean repeat spend
SELECT round(p::numeric, 2) AS p, round(q::numeric, 2) AS q, round(gamma::numeric, 2) AS gamma, n,
	   (round(p::numeric, 2), round(q::numeric, 2), round(gamma::numeric, 2)) = (6.25, 3.74, 15.44) AS as_published
  FROM (SELECT (gg).* FROM fit) f;

-- Expected purchases in the 39 weeks after calibration of the customer
-- with x = 2, t_x = 30.43, T = 38.86: 1.226 in Fader, Hardie & Lee's
-- spreadsheet (brucehardie.com/notes/004; lifetimes tests the same figure)
SELECT round(loyalty.bgnbd_expected(bg, 39, 2, 30.43, 38.86)::numeric, 3) AS expected_39_weeks
  FROM fit;

-- P(alive) and expected purchases in 39 weeks with the published
-- parameters, against test/reference/bgnbd_reference.py, whose output was:
--     1 x=2 t_x=30.428571 T=38.857143  P(alive)=0.726589721835  E[Y(39)]=1.22611580615
--     2 x=1 t_x=1.714286 T=38.857143  P(alive)=0.212260062555  E[Y(39)]=0.203351041087
--     3 x=0 t_x=0.000000 T=38.857143  P(alive)=1  E[Y(39)]=0.195109664993
--   157 x=29 t_x=37.714286 T=38.000000  P(alive)=0.969218399918  E[Y(39)]=20.0547881023
--  1042 x=3 t_x=18.000000 T=33.285714  P(alive)=0.508293269769  E[Y(39)]=1.36868115886
--  1901 x=21 t_x=4.714286 T=29.285714  P(alive)=2.52152437221e-11  E[Y(39)]=4.5573428044e-10
-- (agreement to 1e-9 relative: the quadrature there is good to about 1e-12)
SELECT c.customer, c.x, round(c.t_x::numeric, 6) AS t_x, round(c.t::numeric, 6) AS t,
	   to_char(m.pa, '0.9999999999EEEE') AS p_alive, to_char(m.e, '0.9999999999EEEE') AS expected_39,
	   abs(m.pa - ref.ref_pa) <= 1e-9 * ref.ref_pa AS p_alive_agrees, abs(m.e - ref.ref_e) <= 1e-9 * ref.ref_e AS expected_agrees
  FROM cal c
  JOIN (VALUES (1, 0.726589721835, 1.22611580615), (2, 0.212260062555, 0.203351041087),
			   (3, 1, 0.195109664993), (157, 0.969218399918, 20.0547881023),
			   (1042, 0.508293269769, 1.36868115886), (1901, 2.52152437221e-11, 4.5573428044e-10))
		AS ref(customer, ref_pa, ref_e) USING (customer),
	   LATERAL (SELECT loyalty.bgnbd_p_alive('(0.243,4.414,0.793,2.426,,)', c.x, c.t_x, c.t) AS pa,
					   loyalty.bgnbd_expected('(0.243,4.414,0.793,2.426,,)', 39, c.x, c.t_x, c.t) AS e) m
 ORDER BY c.customer;

-- Expected spend of the first ten customers: Fader & Hardie's spreadsheet
-- for "The Gamma-Gamma Model of Monetary Value" (brucehardie.com/notes/025,
-- as lifetimes' tests quote it, 2 decimals) with the fitted parameters
SELECT c.customer, c.x, round(c.monetary::numeric, 3) AS monetary,
	   round(loyalty.gg_expected_spend(gg, c.x, c.monetary)::numeric, 2) AS expected_spend,
	   ref.spend AS spreadsheet,
	   round(loyalty.gg_expected_spend(gg, c.x, c.monetary)::numeric, 2) = ref.spend AS same
  FROM cal c, fit,
	   (VALUES (1, 24.65), (2, 18.91), (3, 35.17), (4, 35.17), (5, 35.17),
			   (6, 71.46), (7, 18.91), (8, 35.17), (9, 27.28), (10, 35.17)) AS ref(customer, spend)
 WHERE ref.customer = c.customer
 ORDER BY c.customer;
