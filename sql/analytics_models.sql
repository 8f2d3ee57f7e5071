-- The BG/NBD and Gamma-Gamma functions against closed forms worked out by
-- hand, the fits against a log-likelihood computed here in SQL (an
-- implementation of its own), and every error (LY090 - LY093).  The CDNOW
-- figures are in analytics_cdnow.
SET client_min_messages = warning;
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

-- ln Gamma(z), z > 0, in SQL: the recurrence up to z + 8, then Stirling's
-- series (error below 1e-13 there)
CREATE FUNCTION pg_temp.lgamma(z float8) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
	SELECT (w - 0.5) * ln(w) - w + 0.5 * ln(2 * pi()) + 1 / (12 * w) - 1 / (360 * w ^ 3)
		   + 1 / (1260 * w ^ 5) - 1 / (1680 * w ^ 7)
		   - (SELECT sum(ln(z + k)) FROM generate_series(0, 7) k)
	  FROM (SELECT z + 8 AS w) s
$$;
-- the BG/NBD log-likelihood of one customer (FHL 2005, eq. 6), in SQL
CREATE FUNCTION pg_temp.bgnbd_ll(r float8, al float8, a float8, b float8, x int, t_x float8, t float8)
RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_temp.lgamma(r + x) - pg_temp.lgamma(r) + r * ln(al)
		 + pg_temp.lgamma(a + b) + pg_temp.lgamma(b + x) - pg_temp.lgamma(b) - pg_temp.lgamma(a + b + x)
		 + ln(exp(-(r + x) * ln(al + t))
			  + CASE WHEN x > 0 THEN exp(ln(a) - ln(b + x - 1) - (r + x) * ln(al + t_x)) ELSE 0 END)
$$;
-- the Gamma-Gamma log-likelihood of one repeat buyer, in SQL
CREATE FUNCTION pg_temp.gg_ll(p float8, q float8, g float8, x int, m float8)
RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_temp.lgamma(p * x + q) - pg_temp.lgamma(p * x) - pg_temp.lgamma(q) + q * ln(g)
		 + (p * x - 1) * ln(m) + p * x * ln(x) - (p * x + q) * ln(x * m + g)
$$;
SELECT round(pg_temp.lgamma(0.5)::numeric, 12) AS lgamma_half, round((0.5 * ln(pi()))::numeric, 12) AS half_ln_pi,
	   round(pg_temp.lgamma(10)::numeric, 12) AS lgamma_10, round(ln(362880)::numeric, 12) AS ln_9_factorial;

-- 1. P(alive).  x = 0: 1 (the BG/NBD has nobody drop out before a repeat
-- purchase).  FHL's customer (x = 2, t_x = 30.43, t = 38.86) with the
-- published parameters: the closed form, written out again in SQL.
SELECT loyalty.bgnbd_p_alive('(0.243,4.414,0.793,2.426,,)', 0, 0, 38.86) AS x_zero,
	   round(loyalty.bgnbd_p_alive('(0.243,4.414,0.793,2.426,,)', 2, 30.43, 38.86)::numeric, 12) AS p_alive,
	   round((1 / (1 + 0.793 / (2.426 + 2 - 1) * ((4.414 + 38.86) / (4.414 + 30.43)) ^ (0.243 + 2)))::numeric, 12) AS by_hand;
-- no overflow at x = 1000 (and P(alive) = 1 when t_x = t)
SELECT loyalty.bgnbd_p_alive('(0.243,4.414,0.793,2.426,,)', 1000, 10, 52) AS gone,
	   round(loyalty.bgnbd_p_alive('(0.243,4.414,0.793,2.426,,)', 1000, 52, 52)::numeric, 12) AS alive,
	   round((1 / (1 + 0.793 / (2.426 + 999)))::numeric, 12) AS alive_by_hand;

-- 2. Expected purchases, where the integral has a closed form.  With
-- alpha + t = 1 and r = 1, x = 0, the expectation is E[h / (1 + p h)] over
-- p ~ Beta(a, b):
--   a = 1, b = 1 (p uniform):      ln(1 + h)
--   a = 2, b = 1 (density 2p):     2 (1 - ln(1 + h) / h)
--   a = 1/2, b = 1 (p = s^2):      sqrt(h) atan(sqrt(h))
-- at h = 1 (the series) and h = 100 (z = 100/101 > 0.95: the quadrature).
SELECT a, h, round(loyalty.bgnbd_expected(ROW(1, 1, a, 1, NULL, NULL)::loyalty.bgnbd_params, h, 0, 0, 0)::numeric, 11) AS expected,
	   round(CASE a WHEN 1 THEN ln(1 + h) WHEN 2 THEN 2 * (1 - ln(1 + h) / h) ELSE sqrt(h) * atan(sqrt(h)) END::numeric, 11) AS by_hand
  FROM (VALUES (1.0::float8), (2.0), (0.5)) va(a), (VALUES (1.0::float8), (100.0)) vh(h)
 ORDER BY a, h;
-- a next to 1 (FHL's (a + b + x - 1) / (a - 1) would divide by about 0):
-- the same answer as at a = 1, to the digits the change of a allows
SELECT a, round(loyalty.bgnbd_expected(ROW(1, 1, a, 1, NULL, NULL)::loyalty.bgnbd_params, 1, 0, 0, 0)::numeric, 8) AS expected
  FROM (VALUES (1 - 1e-9), (1.0), (1 + 1e-9)) v(a);
-- where the series hands over to the quadrature (z = 0.95, h = 19 (alpha + t)):
-- continuous, for x = 0, 2 and 1000 and a below and above 1
SELECT x, a, abs(e1 - e2) / e2 < 1e-10 AS continuous, e2 > 0 AS positive
  FROM (SELECT x, a,
			   loyalty.bgnbd_expected(ROW(0.243, 4.414, a, 2.426, NULL, NULL)::loyalty.bgnbd_params, 19 * (4.414 + 52) * (1 - 1e-12), x, tx, 52) AS e1,
			   loyalty.bgnbd_expected(ROW(0.243, 4.414, a, 2.426, NULL, NULL)::loyalty.bgnbd_params, 19 * (4.414 + 52) * (1 + 1e-12), x, tx, 52) AS e2
		  FROM (VALUES (0, 0.0), (2, 40.0), (1000, 51.0)) vx(x, tx), (VALUES (0.793::float8), (1.7)) va(a)) s
 ORDER BY x, a;
-- more time, more purchases; none in no time
SELECT bool_and(e2 > e1) AS increasing, min(e0) AS at_zero
  FROM (SELECT loyalty.bgnbd_expected('(0.243,4.414,0.793,2.426,,)', h, 2, 30.43, 38.86) AS e1,
			   loyalty.bgnbd_expected('(0.243,4.414,0.793,2.426,,)', h * 1.5, 2, 30.43, 38.86) AS e2,
			   loyalty.bgnbd_expected('(0.243,4.414,0.793,2.426,,)', 0, 2, 30.43, 38.86) AS e0
		  FROM generate_series(1, 2000, 7) h) s;

-- 3. P(X(t) = n) for a new customer, by hand at r = alpha = a = b = 1, t = 1:
--   n = 0: (1/2)^1                                            = 1/2
--   n = 1: B(1,2) (1/2)(1/2) + B(2,1) (1 - 1/2)                = 1/8 + 1/4 = 3/8
--   n = 2: B(1,3) (1/2)(1/4) + B(2,2) (1 - (1/2)(1 + 1/2))     = 1/24 + 1/24 = 1/12
SELECT n, round(loyalty.bgnbd_pmf('(1,1,1,1,,)', 1, n)::numeric, 14) AS pmf
  FROM generate_series(0, 2) n;
-- it sums to 1; at horizon 0 all mass is at 0; a probability of 1e-268 is
-- not lost to 1 - (1 - 1e-268) (mpmath at 60 digits: 1.0683e-268)
SELECT round(sum(loyalty.bgnbd_pmf('(0.243,4.414,0.793,2.426,,)', 39, n))::numeric, 12) AS total,
	   loyalty.bgnbd_pmf('(0.243,4.414,0.793,2.426,,)', 0, 0) AS none_at_zero,
	   loyalty.bgnbd_pmf('(0.243,4.414,0.793,2.426,,)', 0, 3) AS three_at_zero
  FROM generate_series(0, 3000) n;
SELECT loyalty.bgnbd_pmf('(0.243,4.414,0.793,2.426,,)', 0.01, 100) BETWEEN 1e-269 AND 1e-267 AS tiny_but_there;

-- 4. Gamma-Gamma expected spend: p (gamma + x m) / (p x + q - 1);
-- 6.25 (15.44 + 2 * 22.35) / (12.5 + 2.74) = 24.663714; x = 0: the mean
-- p gamma / (q - 1) = 96.5 / 2.74 = 35.218978 (m is ignored)
SELECT round(loyalty.gg_expected_spend('(6.25,3.74,15.44,,)', 2, 22.35)::numeric, 6) AS repeat_buyer,
	   round(loyalty.gg_expected_spend('(6.25,3.74,15.44,,)', 0, 99)::numeric, 6) AS new_buyer;

-- 5. CLV: spend times the expected purchases of each unit, discounted at
-- the unit's end; here by hand from bgnbd_expected and gg_expected_spend.
WITH v AS (
	SELECT '(0.243,4.414,0.793,2.426,,)'::loyalty.bgnbd_params AS bg, '(6.25,3.74,15.44,,)'::loyalty.gg_params AS gg
)
SELECT round(loyalty.clv(bg, gg, 2, 30.43, 38.86, 22.35, 2, 0.1)::numeric, 10) AS clv_2,
	   round((loyalty.gg_expected_spend(gg, 2, 22.35)
			  * (loyalty.bgnbd_expected(bg, 1, 2, 30.43, 38.86) / 1.1
				 + (loyalty.bgnbd_expected(bg, 2, 2, 30.43, 38.86) - loyalty.bgnbd_expected(bg, 1, 2, 30.43, 38.86)) / 1.21))::numeric, 10) AS by_hand_2,
	   round(loyalty.clv(bg, gg, 2, 30.43, 38.86, 22.35, 1.5, 0.1)::numeric, 10) AS clv_1_5,
	   round((loyalty.gg_expected_spend(gg, 2, 22.35)
			  * (loyalty.bgnbd_expected(bg, 1, 2, 30.43, 38.86) / 1.1
				 + (loyalty.bgnbd_expected(bg, 1.5, 2, 30.43, 38.86) - loyalty.bgnbd_expected(bg, 1, 2, 30.43, 38.86)) / 1.1 ^ 1.5))::numeric, 10) AS by_hand_1_5,
	   round(loyalty.clv(bg, gg, 2, 30.43, 38.86, 22.35, 52, 0)::numeric, 10) AS undiscounted,
	   round((loyalty.gg_expected_spend(gg, 2, 22.35) * loyalty.bgnbd_expected(bg, 52, 2, 30.43, 38.86))::numeric, 10) AS spend_times_purchases,
	   loyalty.clv(bg, gg, 2, 30.43, 38.86, 22.35, 0, 0.1) AS nothing
  FROM v;

-- 6. Fits.  31 customers whose likelihood has its maximum inside the
-- parameter space; at the fit, the log-likelihood computed in SQL equals
-- ll, and moving any parameter by 0.1% either way lowers it.
CREATE TEMP TABLE hist (x int, t_x float8, t float8);
INSERT INTO hist
SELECT x, t_x, t FROM (VALUES (0, 0, 30, 10), (1, 2, 30, 3), (2, 25, 30, 2), (5, 28, 30, 2), (10, 29.5, 30, 1),
							  (3, 5, 30, 2), (1, 20, 30, 3), (0, 0, 20, 5), (2, 3, 20, 2), (4, 18, 20, 1)) v(x, t_x, t, k),
	   generate_series(1, k);
CREATE TEMP TABLE bg AS SELECT (loyalty.bgnbd_fit(x, t_x, t)).* FROM hist;
SELECT round(r::numeric, 4) AS r, round(alpha::numeric, 4) AS alpha, round(a::numeric, 4) AS a,
	   round(b::numeric, 4) AS b, round(ll::numeric, 6) AS ll, n FROM bg;
SELECT round((SELECT sum(pg_temp.bgnbd_ll(r, alpha, a, b, x, t_x, t)) FROM hist)::numeric, 6) AS ll_in_sql,
	   bool_and(moved < best) AS a_maximum
  FROM bg,
	   LATERAL (SELECT sum(pg_temp.bgnbd_ll(r, alpha, a, b, x, t_x, t)) AS best FROM hist) b0,
	   LATERAL (SELECT k, sum(pg_temp.bgnbd_ll(r * CASE k WHEN 1 THEN f ELSE 1 END, alpha * CASE k WHEN 2 THEN f ELSE 1 END,
											 a * CASE k WHEN 3 THEN f ELSE 1 END, b * CASE k WHEN 4 THEN f ELSE 1 END, x, t_x, t)) AS moved
				  FROM generate_series(1, 4) k, (VALUES (1.001::float8), (0.999)) vf(f), hist GROUP BY k, f) m
 GROUP BY ll, r, alpha, a, b;
-- every customer twice: the same estimates, bit for bit, ll doubled; the
-- rows in another order: the same fit
SELECT f2.r = f1.r AND f2.alpha = f1.alpha AND f2.a = f1.a AND f2.b = f1.b AS same_estimates,
	   f2.ll = 2 * f1.ll AS ll_doubled, f2.n, f3 = f1 AS order_does_not_matter
  FROM (SELECT (loyalty.bgnbd_fit(x, t_x, t)).* FROM hist) f1,
	   (SELECT (loyalty.bgnbd_fit(x, t_x, t)).* FROM hist, generate_series(1, 2)) f2,
	   (SELECT (loyalty.bgnbd_fit(x, t_x, t ORDER BY t DESC, x, t_x DESC)).* FROM hist) f3;

-- Gamma-Gamma on 500 repeat buyers drawn from the model (p = 6, q = 4,
-- gamma = 15; Erlang sums of a seeded random(): the same numbers on every
-- run of PostgreSQL 15)
SELECT setseed(0.25);
CREATE TEMP TABLE spend AS
SELECT i, x, (SELECT sum(-ln(1 - random())) FROM generate_series(1, 6 * x)) / (x * nu) AS m
  FROM (SELECT i, 1 + i % 6 AS x, (SELECT sum(-ln(1 - random())) FROM generate_series(1, 4 + 0 * i)) / 15 AS nu
		  FROM generate_series(1, 500) i) s;
-- and rows gg_fit skips: no repeat purchase, no positive spend
INSERT INTO spend VALUES (501, 0, 10), (502, 3, 0), (503, 2, -5), (504, NULL, 3), (505, 1, NULL);
CREATE TEMP TABLE gg AS SELECT (loyalty.gg_fit(x, m)).* FROM spend;
SELECT round(p::numeric, 4) AS p, round(q::numeric, 4) AS q, round(gamma::numeric, 4) AS gamma,
	   round(ll::numeric, 6) AS ll, n FROM gg;
SELECT round((SELECT sum(pg_temp.gg_ll(p, q, gamma, x, m)) FROM spend WHERE x > 0 AND m > 0)::numeric, 6) AS ll_in_sql,
	   bool_and(moved < best) AS a_maximum
  FROM gg,
	   LATERAL (SELECT sum(pg_temp.gg_ll(p, q, gamma, x, m)) AS best FROM spend WHERE x > 0 AND m > 0) b0,
	   LATERAL (SELECT k, sum(pg_temp.gg_ll(p * CASE k WHEN 1 THEN f ELSE 1 END, q * CASE k WHEN 2 THEN f ELSE 1 END,
										   gamma * CASE k WHEN 3 THEN f ELSE 1 END, x, m)) AS moved
				  FROM generate_series(1, 3) k, (VALUES (1.001::float8), (0.999)) vf(f), spend
				 WHERE x > 0 AND m > 0 GROUP BY k, f) mv
 GROUP BY ll, p, q, gamma;
-- no rows: NULL, as avg() of nothing
SELECT loyalty.bgnbd_fit(x, t_x, t) IS NULL AS bg_none, loyalty.gg_fit(x, t) IS NULL AS gg_none FROM hist WHERE false;

-- 7. Errors
-- (where an estimate ran off to, in parentheses, depends on the last
-- iterations: not shown)
SELECT what, regexp_replace(pg_temp.outcome(statement), ' \([0-9.e+-]*\)$', ' (...)') AS outcome FROM (VALUES
	-- LY090: a history or spend that cannot be
	('negative x',          $$SELECT loyalty.bgnbd_p_alive('(0.243,4.414,0.793,2.426,,)', -1, 0, 10)$$),
	('t_x after t',         $$SELECT loyalty.bgnbd_expected('(0.243,4.414,0.793,2.426,,)', 1, 2, 11, 10)$$),
	('t not a number',      $$SELECT loyalty.bgnbd_p_alive('(0.243,4.414,0.793,2.426,,)', 1, 1, 'NaN')$$),
	('negative t_x',        $$SELECT loyalty.clv('(0.243,4.414,0.793,2.426,,)', '(6.25,3.74,15.44,,)', 1, -1, 10, 5, 10, 0)$$),
	('fit: t infinite',     $$SELECT loyalty.bgnbd_fit(x, t_x, 'Infinity') FROM hist$$),
	('gg: negative x',      $$SELECT loyalty.gg_expected_spend('(6.25,3.74,15.44,,)', -2, 10)$$),
	('gg: m negative',      $$SELECT loyalty.gg_expected_spend('(6.25,3.74,15.44,,)', 2, -10)$$),
	('gg fit: m NaN',       $$SELECT loyalty.gg_fit(2, 'NaN')$$),
	-- LY091: parameters and arguments of a model
	('r zero',              $$SELECT loyalty.bgnbd_p_alive('(0,4.414,0.793,2.426,,)', 1, 1, 10)$$),
	('alpha negative',      $$SELECT loyalty.bgnbd_expected('(0.243,-4.414,0.793,2.426,,)', 1, 1, 1, 10)$$),
	('a not a number',      $$SELECT loyalty.bgnbd_pmf('(0.243,4.414,NaN,2.426,,)', 1, 1)$$),
	('b missing',           $$SELECT loyalty.bgnbd_pmf('(0.243,4.414,0.793,,,)', 1, 1)$$),
	('gamma infinite',      $$SELECT loyalty.gg_expected_spend('(6.25,3.74,Infinity,,)', 1, 1)$$),
	('horizon negative',    $$SELECT loyalty.bgnbd_expected('(0.243,4.414,0.793,2.426,,)', -1, 1, 1, 10)$$),
	('horizon NaN',         $$SELECT loyalty.bgnbd_pmf('(0.243,4.414,0.793,2.426,,)', 'NaN', 1)$$),
	('n negative',          $$SELECT loyalty.bgnbd_pmf('(0.243,4.414,0.793,2.426,,)', 1, -1)$$),
	('no mean spend',       $$SELECT loyalty.gg_expected_spend('(6.25,0.9,15.44,,)', 0, 0)$$),
	('discount negative',   $$SELECT loyalty.clv('(0.243,4.414,0.793,2.426,,)', '(6.25,3.74,15.44,,)', 1, 1, 10, 5, 10, -0.1)$$),
	('horizon too long',    $$SELECT loyalty.clv('(0.243,4.414,0.793,2.426,,)', '(6.25,3.74,15.44,,)', 1, 1, 10, 5, 1e6, 0.01)$$),
	-- LY092: data that cannot identify the model
	('one customer',        $$SELECT loyalty.bgnbd_fit(2, 5, 10)$$),
	('no repeat purchase',  $$SELECT loyalty.bgnbd_fit(0, 0, t) FROM generate_series(1, 50) t$$),
	('one repeat buyer',    $$SELECT loyalty.gg_fit(x, 10) FROM (VALUES (0), (3)) v(x)$$),
	('all spend the same',  $$SELECT loyalty.gg_fit(x, 10) FROM generate_series(1, 50) x$$),
	-- LY093: the likelihood grows towards the edge
	('five customers',      $$SELECT loyalty.bgnbd_fit(x, t_x, t) FROM (VALUES (0, 0.0, 10.0), (2, 5.0, 10.0), (1, 2.0, 9.0), (0, 0.0, 8.0), (3, 9.0, 10.0)) v(x, t_x, t)$$),
	('no spread of rates',  $$SELECT loyalty.gg_fit(x, m) FROM (VALUES (1, 10.0), (2, 30.0), (3, 20.0), (1, 15.0), (1, 50), (2, 12), (4, 22), (1, 8), (3, 40), (2, 18)) v(x, m)$$)
) AS t(what, statement);
