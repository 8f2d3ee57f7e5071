--
-- Analytics (0.6.0): purchase summaries and cadence by day, and the
-- customer-base models BG/NBD and Gamma-Gamma with CLV, in C (src/summary.c,
-- src/bgnbd.c, src/gammagamma.c).  Aggregates with an internal state have
-- combine, serialise and deserialise functions and are PARALLEL SAFE.  The
-- support functions are called by the aggregates only; nothing here is
-- granted to PUBLIC (privileges.sql: the analyst and admin levels).  SSPACE
-- is the state's size for a customer of a few days (the planner assumes 8kB
-- for an internal state without it, and then never hashes a big GROUP BY).
--

CREATE TYPE loyalty.purchase_summary AS (
	x				integer,
	t_x				double precision,
	t				double precision,
	monetary		double precision,
	first_at		timestamptz,
	last_at			timestamptz,
	purchase_days	integer,
	total			numeric
);
COMMENT ON TYPE loyalty.purchase_summary IS 'What purchase_summary says of a customer: x repeat purchase days, t_x and t in units from the first purchase day, the mean net amount of the repeat days, the first and last purchase, the purchase days and the net total.';

CREATE FUNCTION loyalty.purchase_summary_trans(internal, timestamptz, numeric, timestamptz)
RETURNS internal LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_purchase_summary_trans';
COMMENT ON FUNCTION loyalty.purchase_summary_trans(internal, timestamptz, numeric, timestamptz) IS 'Transition function of purchase_summary (3 arguments, unit 7 days).';
CREATE FUNCTION loyalty.purchase_summary_trans(internal, timestamptz, numeric, timestamptz, interval)
RETURNS internal LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_purchase_summary_trans';
COMMENT ON FUNCTION loyalty.purchase_summary_trans(internal, timestamptz, numeric, timestamptz, interval) IS 'Transition function of purchase_summary.';
CREATE FUNCTION loyalty.purchase_summary_combine(internal, internal)
RETURNS internal LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_purchase_summary_combine';
COMMENT ON FUNCTION loyalty.purchase_summary_combine(internal, internal) IS 'Combine function of purchase_summary (parallel plans).';
CREATE FUNCTION loyalty.purchase_summary_serialize(internal)
RETURNS bytea LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_purchase_summary_serialize';
COMMENT ON FUNCTION loyalty.purchase_summary_serialize(internal) IS 'Serialisation function of purchase_summary.';
CREATE FUNCTION loyalty.purchase_summary_deserialize(bytea, internal)
RETURNS internal LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_purchase_summary_deserialize';
COMMENT ON FUNCTION loyalty.purchase_summary_deserialize(bytea, internal) IS 'Deserialisation function of purchase_summary.';
CREATE FUNCTION loyalty.purchase_summary_final(internal)
RETURNS loyalty.purchase_summary LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_purchase_summary_final';
COMMENT ON FUNCTION loyalty.purchase_summary_final(internal) IS 'Final function of purchase_summary.';

CREATE AGGREGATE loyalty.purchase_summary(occurred_at timestamptz, amount numeric, as_of timestamptz) (
	SFUNC = loyalty.purchase_summary_trans,
	STYPE = internal,
	SSPACE = 256,
	FINALFUNC = loyalty.purchase_summary_final,
	COMBINEFUNC = loyalty.purchase_summary_combine,
	SERIALFUNC = loyalty.purchase_summary_serialize,
	DESERIALFUNC = loyalty.purchase_summary_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE loyalty.purchase_summary(timestamptz, numeric, timestamptz) IS 'A customer''s purchase summary at as_of, in weeks: purchase_summary(occurred_at, amount, as_of, ''7 days'').';
CREATE AGGREGATE loyalty.purchase_summary(occurred_at timestamptz, amount numeric, as_of timestamptz, unit interval) (
	SFUNC = loyalty.purchase_summary_trans,
	STYPE = internal,
	SSPACE = 256,
	FINALFUNC = loyalty.purchase_summary_final,
	COMBINEFUNC = loyalty.purchase_summary_combine,
	SERIALFUNC = loyalty.purchase_summary_serialize,
	DESERIALFUNC = loyalty.purchase_summary_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE loyalty.purchase_summary(timestamptz, numeric, timestamptz, interval) IS 'A customer''s purchase summary at as_of (rows after it ignored): repeat purchase days (days in the session''s TimeZone; amount < 0 is a return), t_x and t in units, mean repeat spend.  NULL without a purchase by as_of.';

CREATE TYPE loyalty.cadence AS (
	visit_days		integer,
	first_day		date,
	last_day		date,
	mean_gap		double precision,
	median_gap		double precision,
	regularity		double precision,
	next_expected	date
);
COMMENT ON TYPE loyalty.cadence IS 'What cadence says of a series of visits: visit days, first and last, mean and median gap in days, regularity (coefficient of variation of the gaps) and the next expected day (last day + median gap).';

CREATE FUNCTION loyalty.cadence_trans(internal, timestamptz)
RETURNS internal LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_cadence_trans';
COMMENT ON FUNCTION loyalty.cadence_trans(internal, timestamptz) IS 'Transition function of cadence.';
CREATE FUNCTION loyalty.cadence_combine(internal, internal)
RETURNS internal LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_cadence_combine';
COMMENT ON FUNCTION loyalty.cadence_combine(internal, internal) IS 'Combine function of cadence (parallel plans).';
CREATE FUNCTION loyalty.cadence_serialize(internal)
RETURNS bytea LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_cadence_serialize';
COMMENT ON FUNCTION loyalty.cadence_serialize(internal) IS 'Serialisation function of cadence.';
CREATE FUNCTION loyalty.cadence_deserialize(bytea, internal)
RETURNS internal LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_cadence_deserialize';
COMMENT ON FUNCTION loyalty.cadence_deserialize(bytea, internal) IS 'Deserialisation function of cadence.';
CREATE FUNCTION loyalty.cadence_final(internal)
RETURNS loyalty.cadence LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_cadence_final';
COMMENT ON FUNCTION loyalty.cadence_final(internal) IS 'Final function of cadence.';

CREATE AGGREGATE loyalty.cadence(occurred_at timestamptz) (
	SFUNC = loyalty.cadence_trans,
	STYPE = internal,
	SSPACE = 96,
	FINALFUNC = loyalty.cadence_final,
	COMBINEFUNC = loyalty.cadence_combine,
	SERIALFUNC = loyalty.cadence_serialize,
	DESERIALFUNC = loyalty.cadence_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE loyalty.cadence(timestamptz) IS 'Purchase cadence of a series of visits (days in the session''s TimeZone): gaps between visit days, their regularity, the next expected day.  Memory grows with the visit days (the median needs every gap).';

CREATE TYPE loyalty.bgnbd_params AS (
	r				double precision,
	alpha			double precision,
	a				double precision,
	b				double precision,
	ll				double precision,
	n				bigint
);
COMMENT ON TYPE loyalty.bgnbd_params IS 'BG/NBD parameters (Fader, Hardie & Lee 2005): purchase rates Gamma(r, alpha), dropout probabilities Beta(a, b); ll the log-likelihood and n the customers of the fit (may be NULL in a row written by hand).';

CREATE TYPE loyalty.gg_params AS (
	p				double precision,
	q				double precision,
	gamma			double precision,
	ll				double precision,
	n				bigint
);
COMMENT ON TYPE loyalty.gg_params IS 'Gamma-Gamma spend parameters (Fader, Hardie & Lee 2005; Fader & Hardie 2013): spends Gamma(p, nu), nu Gamma(q, gamma); ll the log-likelihood and n the repeat buyers of the fit.';

CREATE FUNCTION loyalty.model_fit_combine(internal, internal)
RETURNS internal LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_model_fit_combine';
COMMENT ON FUNCTION loyalty.model_fit_combine(internal, internal) IS 'Combine function of bgnbd_fit and gg_fit (parallel plans).';
CREATE FUNCTION loyalty.model_fit_serialize(internal)
RETURNS bytea LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_model_fit_serialize';
COMMENT ON FUNCTION loyalty.model_fit_serialize(internal) IS 'Serialisation function of bgnbd_fit and gg_fit.';
CREATE FUNCTION loyalty.model_fit_deserialize(bytea, internal)
RETURNS internal LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_model_fit_deserialize';
COMMENT ON FUNCTION loyalty.model_fit_deserialize(bytea, internal) IS 'Deserialisation function of bgnbd_fit and gg_fit.';

CREATE FUNCTION loyalty.bgnbd_fit_trans(internal, integer, double precision, double precision)
RETURNS internal LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_bgnbd_fit_trans';
COMMENT ON FUNCTION loyalty.bgnbd_fit_trans(internal, integer, double precision, double precision) IS 'Transition function of bgnbd_fit.';
CREATE FUNCTION loyalty.bgnbd_fit_final(internal)
RETURNS loyalty.bgnbd_params LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_bgnbd_fit_final';
COMMENT ON FUNCTION loyalty.bgnbd_fit_final(internal) IS 'Final function of bgnbd_fit: the maximum-likelihood fit.';
CREATE AGGREGATE loyalty.bgnbd_fit(x integer, t_x double precision, t double precision) (
	SFUNC = loyalty.bgnbd_fit_trans,
	STYPE = internal,
	FINALFUNC = loyalty.bgnbd_fit_final,
	COMBINEFUNC = loyalty.model_fit_combine,
	SERIALFUNC = loyalty.model_fit_serialize,
	DESERIALFUNC = loyalty.model_fit_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE loyalty.bgnbd_fit(integer, double precision, double precision) IS 'Maximum-likelihood BG/NBD fit over customers'' (x, t_x, t); rows with a NULL skipped.  Memory: 32 bytes per distinct (x, t_x, t).';

CREATE FUNCTION loyalty.gg_fit_trans(internal, integer, double precision)
RETURNS internal LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_gg_fit_trans';
COMMENT ON FUNCTION loyalty.gg_fit_trans(internal, integer, double precision) IS 'Transition function of gg_fit.';
CREATE FUNCTION loyalty.gg_fit_final(internal)
RETURNS loyalty.gg_params LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_gg_fit_final';
COMMENT ON FUNCTION loyalty.gg_fit_final(internal) IS 'Final function of gg_fit: the maximum-likelihood fit.';
CREATE AGGREGATE loyalty.gg_fit(x integer, m double precision) (
	SFUNC = loyalty.gg_fit_trans,
	STYPE = internal,
	FINALFUNC = loyalty.gg_fit_final,
	COMBINEFUNC = loyalty.model_fit_combine,
	SERIALFUNC = loyalty.model_fit_serialize,
	DESERIALFUNC = loyalty.model_fit_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE loyalty.gg_fit(integer, double precision) IS 'Maximum-likelihood Gamma-Gamma fit over repeat buyers'' (x, mean repeat spend m); rows with a NULL, x = 0 or m <= 0 skipped.  Memory: 32 bytes per distinct (x, m).';

CREATE FUNCTION loyalty.bgnbd_p_alive(p loyalty.bgnbd_params, x integer, t_x double precision, t double precision)
RETURNS double precision LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_bgnbd_p_alive';
COMMENT ON FUNCTION loyalty.bgnbd_p_alive(loyalty.bgnbd_params, integer, double precision, double precision) IS 'BG/NBD probability that a customer with history (x, t_x, t) is still alive at t.';
CREATE FUNCTION loyalty.bgnbd_expected(p loyalty.bgnbd_params, horizon double precision, x integer, t_x double precision, t double precision)
RETURNS double precision LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_bgnbd_expected';
COMMENT ON FUNCTION loyalty.bgnbd_expected(loyalty.bgnbd_params, double precision, integer, double precision, double precision) IS 'BG/NBD conditional expected purchases in the next horizon units of a customer with history (x, t_x, t).';
CREATE FUNCTION loyalty.bgnbd_pmf(p loyalty.bgnbd_params, horizon double precision, n integer)
RETURNS double precision LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_bgnbd_pmf';
COMMENT ON FUNCTION loyalty.bgnbd_pmf(loyalty.bgnbd_params, double precision, integer) IS 'BG/NBD probability that a new customer makes exactly n repeat purchases in horizon units.';
CREATE FUNCTION loyalty.gg_expected_spend(p loyalty.gg_params, x integer, m double precision)
RETURNS double precision LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_gg_expected_spend';
COMMENT ON FUNCTION loyalty.gg_expected_spend(loyalty.gg_params, integer, double precision) IS 'Gamma-Gamma expected spend per purchase of a customer with x repeat purchases of mean m.';
CREATE FUNCTION loyalty.clv(bg loyalty.bgnbd_params, gg loyalty.gg_params, x integer, t_x double precision, t double precision,
	m double precision, horizon double precision, discount_rate double precision)
RETURNS double precision LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_clv';
COMMENT ON FUNCTION loyalty.clv(loyalty.bgnbd_params, loyalty.gg_params, integer, double precision, double precision, double precision, double precision, double precision) IS 'Customer lifetime value of the next horizon units: expected spend times BG/NBD expected purchases per unit, discounted at discount_rate per unit.';

REVOKE EXECUTE ON FUNCTION
	loyalty.purchase_summary_trans(internal, timestamptz, numeric, timestamptz),
	loyalty.purchase_summary_trans(internal, timestamptz, numeric, timestamptz, interval),
	loyalty.purchase_summary_combine(internal, internal),
	loyalty.purchase_summary_serialize(internal),
	loyalty.purchase_summary_deserialize(bytea, internal),
	loyalty.purchase_summary_final(internal),
	loyalty.purchase_summary(timestamptz, numeric, timestamptz),
	loyalty.purchase_summary(timestamptz, numeric, timestamptz, interval),
	loyalty.cadence_trans(internal, timestamptz),
	loyalty.cadence_combine(internal, internal),
	loyalty.cadence_serialize(internal),
	loyalty.cadence_deserialize(bytea, internal),
	loyalty.cadence_final(internal),
	loyalty.cadence(timestamptz),
	loyalty.model_fit_combine(internal, internal),
	loyalty.model_fit_serialize(internal),
	loyalty.model_fit_deserialize(bytea, internal),
	loyalty.bgnbd_fit_trans(internal, integer, double precision, double precision),
	loyalty.bgnbd_fit_final(internal),
	loyalty.bgnbd_fit(integer, double precision, double precision),
	loyalty.gg_fit_trans(internal, integer, double precision),
	loyalty.gg_fit_final(internal),
	loyalty.gg_fit(integer, double precision),
	loyalty.bgnbd_p_alive(loyalty.bgnbd_params, integer, double precision, double precision),
	loyalty.bgnbd_expected(loyalty.bgnbd_params, double precision, integer, double precision, double precision),
	loyalty.bgnbd_pmf(loyalty.bgnbd_params, double precision, integer),
	loyalty.gg_expected_spend(loyalty.gg_params, integer, double precision),
	loyalty.clv(loyalty.bgnbd_params, loyalty.gg_params, integer, double precision, double precision, double precision, double precision, double precision)
FROM PUBLIC;
