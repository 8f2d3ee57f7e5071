-- loyalty 0.5.0 -> 0.6.0: tiers (issue "Tier evaluation in C") and
-- segmentation aggregates (issue "Segmentation aggregates and customer-base
-- models in C").
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.6.0'" to load this file. \quit

--
-- Tiers.
--
ALTER TABLE loyalty.sale ADD COLUMN tier text;
COMMENT ON COLUMN loyalty.sale.tier IS 'The member''s tier code after this sale (filled by the trigger; NULL: anonymous, or a program without tiers).';
--
-- Tiers (0.6.0): a program's ladder of grades, each member's place on it,
-- the day figures that qualify them and the history of every change.  The
-- sale trigger keeps the figures and upgrades in C (src/tier.c); the review,
-- overrides and questions are the functions below.
--

ALTER TABLE loyalty.program ADD COLUMN tier_window text NOT NULL DEFAULT 'rolling'
	CHECK (tier_window IN ('lifetime', 'rolling', 'calendar_year', 'anniversary_year'));
ALTER TABLE loyalty.program ADD COLUMN tier_window_days integer NOT NULL DEFAULT 365
	CHECK (tier_window_days BETWEEN 1 AND 3660);
ALTER TABLE loyalty.program ADD COLUMN tier_downgrade text NOT NULL DEFAULT 'to_qualified'
	CHECK (tier_downgrade IN ('to_qualified', 'one_step', 'never'));
ALTER TABLE loyalty.program ADD COLUMN tier_grace_days integer NOT NULL DEFAULT 0
	CHECK (tier_grace_days BETWEEN 0 AND 366);
COMMENT ON COLUMN loyalty.program.tier_window IS 'Which sales qualify a member for a tier: lifetime (all), rolling (the last tier_window_days days), calendar_year, or anniversary_year (years from the enrolment day); days in the program''s time zone.';
COMMENT ON COLUMN loyalty.program.tier_window_days IS 'Length of a rolling tier window in days (365 by default): on day D it counts the sales of days D - tier_window_days through D.';
COMMENT ON COLUMN loyalty.program.tier_downgrade IS 'What review_tiers does with a member whose tier is no longer earned: to_qualified (default: down to the tier the figures earn), one_step (one rank down per review period), never.';
COMMENT ON COLUMN loyalty.program.tier_grace_days IS 'Days after a tier''s hold ends before review_tiers may take it away (0 by default).';

CREATE SEQUENCE loyalty.tier_id_seq AS integer;
COMMENT ON SEQUENCE loyalty.tier_id_seq IS 'Tier ids.';
CREATE TABLE loyalty.tier (
	tier_id			integer NOT NULL DEFAULT pg_catalog.nextval('loyalty.tier_id_seq') PRIMARY KEY,
	program_id		integer NOT NULL REFERENCES loyalty.program,
	code			text NOT NULL CHECK (code <> ''),
	name			text,
	rank			integer NOT NULL CHECK (rank BETWEEN 0 AND 1000),
	min_spend		numeric CHECK (min_spend > 0 AND min_spend < 1000000000000),
	min_visits		integer CHECK (min_visits BETWEEN 1 AND 100000),
	min_points		bigint CHECK (min_points BETWEEN 1 AND 1000000000000000),
	earn_multiplier	numeric NOT NULL DEFAULT 1 CHECK (earn_multiplier > 0 AND earn_multiplier <= 100),
	discount_pct	numeric NOT NULL DEFAULT 0 CHECK (discount_pct >= 0 AND discount_pct < 100),
	UNIQUE (program_id, code),
	UNIQUE (program_id, rank),
	CHECK ((rank = 0) = (min_spend IS NULL AND min_visits IS NULL AND min_points IS NULL))
);
COMMENT ON TABLE loyalty.tier IS 'A program''s tier ladder: rank 0 is the base tier every member starts in; a member qualifies for a higher tier by meeting any one of its thresholds in the program''s tier window. A program without rows here has no tiers.';
COMMENT ON COLUMN loyalty.tier.rank IS '0: the base tier (no thresholds); higher is better.  Ranks need not be consecutive.';
COMMENT ON COLUMN loyalty.tier.min_spend IS 'Qualifies: money spent in the window (sale totals net of returns), at least this much.';
COMMENT ON COLUMN loyalty.tier.min_visits IS 'Qualifies: at least this many visit days in the window (days whose sales, net of returns, spent more than zero).';
COMMENT ON COLUMN loyalty.tier.min_points IS 'Qualifies: at least this many points earned by sales in the window, net of returns (never the balance).';
COMMENT ON COLUMN loyalty.tier.earn_multiplier IS 'Multiplies the base rate of a sale of a member in this tier (1 by default); explain_sale shows it as its own line.';
COMMENT ON COLUMN loyalty.tier.discount_pct IS 'Member price: the percentage off that quote() shows for a member in this tier (0 by default).';

CREATE TABLE loyalty.member_tier (
	member_id		bigint PRIMARY KEY REFERENCES loyalty.member,
	tier_id			integer NOT NULL REFERENCES loyalty.tier,
	since			timestamptz NOT NULL,
	held_until		date NOT NULL,
	override_tier_id integer REFERENCES loyalty.tier,
	override_until	timestamptz,
	window_start	date NOT NULL,
	last_day		date NOT NULL,
	spend			numeric NOT NULL DEFAULT 0,
	visits			integer NOT NULL DEFAULT 0,
	points			bigint NOT NULL DEFAULT 0,
	CHECK (override_until IS NULL OR override_tier_id IS NOT NULL)
);
COMMENT ON TABLE loyalty.member_tier IS 'Each member''s current tier (no row: the base tier) and the running qualifying figures of the window of the member''s latest sale, kept by the sale trigger under the member''s lock.';
COMMENT ON COLUMN loyalty.member_tier.since IS 'When the member reached the current tier (a sale''s occurred_at, a review''s as_of, an override''s moment).';
COMMENT ON COLUMN loyalty.member_tier.held_until IS 'The tier is kept at least until this day (program time zone); review_tiers takes it away only from this day plus tier_grace_days on.';
COMMENT ON COLUMN loyalty.member_tier.override_tier_id IS 'set_tier''s tier: the review keeps the member at least there until override_until (NULL: for good).';
COMMENT ON COLUMN loyalty.member_tier.window_start IS 'First day counted in spend, visits and points (the window of last_day).';
COMMENT ON COLUMN loyalty.member_tier.last_day IS 'Latest sale day counted.';

-- One row per member and visit day: what the rolling window adds and drops,
-- and what review_tiers sums.  No foreign key: written with each sale of a
-- member whose balance row (which has one) the trigger holds locked.
CREATE TABLE loyalty.tier_day (
	member_id		bigint NOT NULL,
	day				date NOT NULL,
	spend			numeric NOT NULL,
	points			bigint NOT NULL,
	PRIMARY KEY (member_id, day)
);
COMMENT ON TABLE loyalty.tier_day IS 'Qualifying figures per member and day (program time zone), net of returns; a day is a visit while its spend is above zero.';

CREATE SEQUENCE loyalty.tier_change_id_seq;
COMMENT ON SEQUENCE loyalty.tier_change_id_seq IS 'Tier change ids.';
CREATE TABLE loyalty.tier_change (
	member_id		bigint NOT NULL REFERENCES loyalty.member,
	change_id		bigint NOT NULL DEFAULT pg_catalog.nextval('loyalty.tier_change_id_seq'),
	from_tier_id	integer NOT NULL REFERENCES loyalty.tier,
	to_tier_id		integer NOT NULL REFERENCES loyalty.tier,
	changed_at		timestamptz NOT NULL,
	cause			text NOT NULL CHECK (cause IN ('qualified', 'review', 'override', 'override_ended')),
	sale_id			bigint,
	actor			text NOT NULL DEFAULT CURRENT_USER,
	reason			text,
	recorded_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (member_id, change_id),
	CHECK (from_tier_id <> to_tier_id)
);
CREATE INDEX tier_change_at_idx ON loyalty.tier_change (member_id, changed_at);
COMMENT ON TABLE loyalty.tier_change IS 'Every change of a member''s tier: qualified (a sale), review (review_tiers), override (set_tier), override_ended (review_tiers at an override''s end); append-only.';
COMMENT ON COLUMN loyalty.tier_change.changed_at IS 'When the change took effect: the sale''s occurred_at, the review''s as_of, the override''s moment; tier_at reads it.';
COMMENT ON COLUMN loyalty.tier_change.actor IS 'The role that caused it: the sale''s inserter, the review''s or the override''s caller.';

SELECT pg_catalog.pg_extension_config_dump('loyalty.tier', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.tier_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.member_tier', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.tier_day', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.tier_change', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.tier_change_id_seq', '');

-- section: analytics models
--
-- Purchase summaries and cadence by day, the BG/NBD and Gamma-Gamma models
-- and CLV (src/sql/analytics.sql; the same objects, in the same shape).
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

-- the analyst and admin levels run the analytics (privileges.sql)
CREATE OR REPLACE FUNCTION loyalty.grant_access(role regrole, access text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	-- what each level may call; the card type's functions are public anyway
	pos_functions text[] := ARRAY[
		'enroll(loyalty.card, text, date, text, text, text, text, text, jsonb, timestamptz)',
		'member_id(loyalty.card)',
		'redeem(loyalty.card, bigint, text, text)',
		'balance(loyalty.card)',
		'quote(loyalty.card, jsonb, numeric, text, timestamptz)'];
	analyst_functions text[] := ARRAY[
		'member_id(loyalty.card)',
		'balance(loyalty.card)',
		'balance_at(loyalty.card, timestamptz, timestamptz)',
		'statement(loyalty.card, timestamptz, timestamptz)',
		'lots_at(bigint, timestamptz, timestamptz)',
		'check_invariants()',
		'explain_sale(bigint)',
		-- analytics models (analytics.sql)
		'purchase_summary(timestamptz, numeric, timestamptz)',
		'purchase_summary(timestamptz, numeric, timestamptz, interval)',
		'cadence(timestamptz)',
		'bgnbd_fit(integer, double precision, double precision)',
		'bgnbd_p_alive(loyalty.bgnbd_params, integer, double precision, double precision)',
		'bgnbd_expected(loyalty.bgnbd_params, double precision, integer, double precision, double precision)',
		'bgnbd_pmf(loyalty.bgnbd_params, double precision, integer)',
		'gg_fit(integer, double precision)',
		'gg_expected_spend(loyalty.gg_params, integer, double precision)',
		'clv(loyalty.bgnbd_params, loyalty.gg_params, integer, double precision, double precision, double precision, double precision, double precision)'];
	admin_functions text[] := analyst_functions || pos_functions || ARRAY[
		'set_member_status(loyalty.card, text, text)',
		'replace_card(loyalty.card, loyalty.card)',
		'earn(loyalty.card, bigint, text, text, timestamptz, timestamptz)',
		'adjust(loyalty.card, bigint, text, text, timestamptz)',
		'reverse(loyalty.card, bigint, bigint, text, text)',
		'expire_points(timestamptz)'];
	f text;
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role is required' USING ERRCODE = 'LY013';
	END IF;
	IF access IS NULL THEN
		RAISE EXCEPTION 'access level is required' USING ERRCODE = 'LY013',
			DETAIL = 'The access levels are admin, pos and analyst.';
	END IF;
	IF access NOT IN ('admin', 'pos', 'analyst') THEN
		RAISE EXCEPTION 'invalid access level: "%"', access
			USING ERRCODE = 'LY008', DETAIL = 'The access levels are admin, pos and analyst.';
	END IF;
	EXECUTE format('GRANT USAGE ON SCHEMA loyalty TO %s', role);
	IF access IN ('admin', 'analyst') THEN
		EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA loyalty TO %s', role);
	END IF;
	IF access IN ('admin', 'pos') THEN
		-- a sale is one INSERT; RETURNING reads back what the trigger filled in
		-- only the POS's own columns: what the trigger fills in (award above
		-- all, which marks a processed row) stays the trigger's
		EXECUTE format('GRANT INSERT (store, pos_txn, card, occurred_at, total, lines, return_of) '
					   'ON loyalty.sale TO %s', role);
		EXECUTE format('GRANT SELECT (sale_id, store, pos_txn, return_of, member_id, points_earned, '
					   'points_pending, entry_id) ON loyalty.sale TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.sale_id_seq TO %s', role);
	END IF;
	IF access = 'admin' THEN
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON loyalty.program, loyalty.rule, loyalty.store TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.program_program_id_seq, loyalty.rule_rule_id_seq TO %s', role);
		-- consuming the outbox: DELETE ... WHERE event_id IN (SELECT ... FOR UPDATE SKIP LOCKED)
		EXECUTE format('GRANT UPDATE, DELETE ON loyalty.outbox TO %s', role);
		EXECUTE format('GRANT UPDATE (status, status_reason, birth_date, gender, region, income_band, '
					   'home_store, channel, attributes) ON loyalty.member TO %s', role);
	END IF;
	FOREACH f IN ARRAY CASE access WHEN 'pos' THEN pos_functions
								   WHEN 'analyst' THEN analyst_functions
								   ELSE admin_functions END
	LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION loyalty.%s TO %s', f, role);
	END LOOP;
END
$$;
