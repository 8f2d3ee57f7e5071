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

--
-- section: benefits and enrolment
-- (0.6.0, issue 8 items 6, 7, 10): the objects of src/sql/benefit.sql and
-- src/sql/enrolment.sql as a fresh install makes them, and grant_access
-- as src/sql/privileges.sql has it (pos: use_benefit, enroll_with_sale,
-- enroll_with_sales; admin: use_benefit_at and writing loyalty.benefit).
--

--
-- Member benefits (0.6.0): perks a member takes at the till -- a free coffee
-- Monday to Friday once a day, a gift in the birthday month, a design
-- consultation Monday to Thursday -- configured as rows of loyalty.benefit.
-- loyalty.use_benefit (src/benefit.c) grants one use under the member's
-- lock, or refuses it with the reason's own SQLSTATE; every use is a row of
-- loyalty.benefit_use, keyed by member, with the local day, week and month
-- it counts in.
--

CREATE SEQUENCE loyalty.benefit_id_seq AS integer;
COMMENT ON SEQUENCE loyalty.benefit_id_seq IS 'Benefit ids.';
CREATE TABLE loyalty.benefit (
	benefit_id		integer NOT NULL DEFAULT pg_catalog.nextval('loyalty.benefit_id_seq') PRIMARY KEY,
	program_id		integer NOT NULL REFERENCES loyalty.program,
	code			text NOT NULL CHECK (code <> ''),
	name			text,
	tier_id			integer REFERENCES loyalty.tier,
	days_of_week	integer[] CHECK (days_of_week <@ '{1,2,3,4,5,6,7}'::integer[] AND pg_catalog.cardinality(days_of_week) > 0),
	hour_from		integer CHECK (hour_from BETWEEN 0 AND 23),
	hour_to			integer CHECK (hour_to BETWEEN 1 AND 24),
	per_day			integer CHECK (per_day BETWEEN 1 AND 1000000),
	per_week		integer CHECK (per_week BETWEEN 1 AND 1000000),
	per_month		integer CHECK (per_month BETWEEN 1 AND 1000000),
	birthday_month	boolean NOT NULL DEFAULT false,
	valid_from		timestamptz,
	valid_to		timestamptz,
	UNIQUE (program_id, code),
	CONSTRAINT benefit_hours_check CHECK ((hour_from IS NULL) = (hour_to IS NULL) AND hour_to > hour_from),
	CONSTRAINT benefit_valid_check CHECK (valid_to > valid_from)
);
CREATE INDEX benefit_tier_idx ON loyalty.benefit (tier_id) WHERE tier_id IS NOT NULL;
COMMENT ON TABLE loyalty.benefit IS 'Member benefits (free coffee Monday to Friday once a day, a birthday-month gift, ...): who may use them, when, and how often; loyalty.use_benefit grants a use.';
COMMENT ON COLUMN loyalty.benefit.code IS 'Name the POS passes to use_benefit; unique per program.';
COMMENT ON COLUMN loyalty.benefit.tier_id IS 'NULL: every member of the program; else members of this tier and of every higher rank of the program''s ladder (a tier of the same program: LY087).';
COMMENT ON COLUMN loyalty.benefit.days_of_week IS 'ISO days (1 = Monday) in the store''s, else the program''s, time zone; NULL: every day.';
COMMENT ON COLUMN loyalty.benefit.hour_from IS 'Local hour window [hour_from, hour_to) in the same zone; NULL: all day.';
COMMENT ON COLUMN loyalty.benefit.per_day IS 'Uses per member and local day at most; NULL: no cap (0 is refused: end the validity instead).';
COMMENT ON COLUMN loyalty.benefit.per_week IS 'Uses per member and local ISO week (Monday to Sunday) at most; NULL: no cap.';
COMMENT ON COLUMN loyalty.benefit.per_month IS 'Uses per member and local calendar month at most; NULL: no cap.';
COMMENT ON COLUMN loyalty.benefit.birthday_month IS 'Only in the local calendar month of the member''s birth_date; a member without birth_date never gets it.';
COMMENT ON COLUMN loyalty.benefit.valid_from IS 'First moment the benefit can be used; NULL: always could.';
COMMENT ON COLUMN loyalty.benefit.valid_to IS 'The benefit can be used before this moment; NULL: no end.';

-- A benefit's tier is a tier of its own program: a cross-table rule no CHECK
-- can state (a tier that does not exist at all is the foreign key's 23503).
CREATE FUNCTION loyalty.benefit_tier_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_program integer;
BEGIN
	IF NEW.tier_id IS NULL THEN
		RETURN NEW;
	END IF;
	SELECT t.program_id INTO v_program FROM loyalty.tier t WHERE t.tier_id = NEW.tier_id;
	IF FOUND AND v_program <> NEW.program_id THEN
		RAISE EXCEPTION 'tier % of benefit "%" belongs to another program', NEW.tier_id, NEW.code
			USING ERRCODE = 'LY087',
				  DETAIL = 'A benefit''s tier is a tier of the benefit''s own program.',
				  HINT = 'Take the tier_id from loyalty.tier WHERE program_id = the benefit''s program_id.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.benefit_tier_check() IS 'Trigger: a benefit''s tier must be a tier of the benefit''s program (LY087).';
CREATE TRIGGER benefit_tier_check BEFORE INSERT OR UPDATE OF program_id, tier_id ON loyalty.benefit
	FOR EACH ROW EXECUTE FUNCTION loyalty.benefit_tier_check();

-- One row per use, member first (the member's uses of a benefit in a day,
-- week or month are one range of benefit_use_day_idx).  The answer the till
-- got is kept with it, so a retry gets the same answer.
CREATE SEQUENCE loyalty.benefit_use_id_seq;
COMMENT ON SEQUENCE loyalty.benefit_use_id_seq IS 'Benefit use ids.';
CREATE TABLE loyalty.benefit_use (
	member_id		bigint NOT NULL REFERENCES loyalty.member,
	use_id			bigint NOT NULL DEFAULT pg_catalog.nextval('loyalty.benefit_use_id_seq'),
	benefit_id		integer NOT NULL REFERENCES loyalty.benefit,
	store			text NOT NULL,
	pos_txn			text NOT NULL,
	used_at			timestamptz NOT NULL,
	time_zone		text NOT NULL,
	day				date NOT NULL,
	week			date NOT NULL,
	month			date NOT NULL,
	left_today		integer,
	left_this_week	integer,
	left_this_month	integer,
	actor			text NOT NULL DEFAULT SESSION_USER,
	recorded_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (member_id, use_id),
	UNIQUE (store, pos_txn)
);
CREATE INDEX benefit_use_day_idx ON loyalty.benefit_use (member_id, benefit_id, day);
COMMENT ON TABLE loyalty.benefit_use IS 'Every use of a benefit, written by use_benefit under the member''s lock; (store, pos_txn) names one use.';
COMMENT ON COLUMN loyalty.benefit_use.used_at IS 'When the benefit was used: the moment use_benefit got the member''s lock (use_benefit_at: the time given).';
COMMENT ON COLUMN loyalty.benefit_use.time_zone IS 'The zone day, week and month are reckoned in: the store''s, else the program''s.';
COMMENT ON COLUMN loyalty.benefit_use.day IS 'Local date of the use; per_day counts the uses of one day.';
COMMENT ON COLUMN loyalty.benefit_use.week IS 'Monday of the local ISO week of the use; per_week counts the uses of one week.';
COMMENT ON COLUMN loyalty.benefit_use.month IS 'First day of the local month of the use; per_month counts the uses of one month.';
COMMENT ON COLUMN loyalty.benefit_use.left_today IS 'What use_benefit answered: uses left today after this one (NULL: no daily cap); likewise left_this_week and left_this_month.';
COMMENT ON COLUMN loyalty.benefit_use.actor IS 'The session user who recorded the use.';

CREATE FUNCTION loyalty.use_benefit(card loyalty.card, benefit text, store text, pos_txn text,
	OUT use_id bigint, OUT member_id bigint, OUT used_at timestamptz,
	OUT left_today integer, OUT left_this_week integer, OUT left_this_month integer)
RETURNS record
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_use_benefit';
COMMENT ON FUNCTION loyalty.use_benefit(loyalty.card, text, text, text) IS
'Grants one use of a benefit now and returns the uses left today, this week and this month (NULL: no such cap), or refuses it with the reason''s SQLSTATE (LY080-LY086); idempotent per (store, pos_txn).';

CREATE FUNCTION loyalty.use_benefit_at(card loyalty.card, benefit text, store text, pos_txn text,
	at timestamptz,
	OUT use_id bigint, OUT member_id bigint, OUT used_at timestamptz,
	OUT left_today integer, OUT left_this_week integer, OUT left_this_month integer)
RETURNS record
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_use_benefit_at';
COMMENT ON FUNCTION loyalty.use_benefit_at(loyalty.card, text, text, text, timestamptz) IS
'use_benefit at a given moment, for an admin''s back-fill of uses recorded elsewhere: judged and counted as at that moment.';

REVOKE EXECUTE ON FUNCTION
	loyalty.benefit_tier_check(),
	loyalty.use_benefit(loyalty.card, text, text, text),
	loyalty.use_benefit_at(loyalty.card, text, text, text, timestamptz)
FROM PUBLIC;
REVOKE ALL ON loyalty.benefit, loyalty.benefit_use FROM PUBLIC;
REVOKE ALL ON SEQUENCE loyalty.benefit_id_seq, loyalty.benefit_use_id_seq FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('loyalty.benefit', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.benefit_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.benefit_use', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.benefit_use_id_seq', '');

--
-- Enrolment threshold (0.6.0): a store issues a card only after a
-- qualifying purchase (3,000 or more in one sale, say).  The purchase is
-- recorded as an anonymous sale; loyalty.enroll_with_sale (src/enrolment.c)
-- then enrols the card if the sale qualifies and credits its points, as the
-- sale trigger would have awarded them, in one ledger entry.  Sales stay
-- append-only: which sales enrolled which member is loyalty.enrolment_sale.
--

ALTER TABLE loyalty.program ADD COLUMN enroll_min_spend numeric
	CHECK (enroll_min_spend > 0 AND enroll_min_spend < 1000000000000);
ALTER TABLE loyalty.program ADD COLUMN enroll_window_days integer NOT NULL DEFAULT 0
	CHECK (enroll_window_days BETWEEN 0 AND 366);
COMMENT ON COLUMN loyalty.program.enroll_min_spend IS 'enroll_with_sale enrols a card only after anonymous sales of at least this much (NULL: no threshold, any anonymous sale enrols).';
COMMENT ON COLUMN loyalty.program.enroll_window_days IS '0 (default): one sale must meet enroll_min_spend; N > 0: the sales of the last N days add up (enroll_with_sales takes several receipts).';

-- No foreign key to loyalty.sale: TRUNCATE of sales must meet their trigger
-- (LY020), not a foreign key's refusal; enroll_with_sale writes a row only
-- for a sale it read, and sales are never deleted.
CREATE TABLE loyalty.enrolment_sale (
	member_id		bigint NOT NULL REFERENCES loyalty.member,
	sale_id			bigint NOT NULL,
	entry_id		bigint,
	points			bigint NOT NULL CHECK (points >= 0),
	award			jsonb NOT NULL,
	recorded_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (member_id, sale_id),
	UNIQUE (sale_id)
);
COMMENT ON TABLE loyalty.enrolment_sale IS 'The anonymous sales that enrolled a member through enroll_with_sale: each sale enrols one card once.';
COMMENT ON COLUMN loyalty.enrolment_sale.entry_id IS 'The earn entry that credited the enrolment''s sales (one for all of them; NULL: they earned nothing).';
COMMENT ON COLUMN loyalty.enrolment_sale.points IS 'This sale''s part of the entry''s points.';
COMMENT ON COLUMN loyalty.enrolment_sale.award IS 'How the rules awarded this sale at its time, as loyalty.sale.award records it for a member''s sale.';

CREATE FUNCTION loyalty.enroll_with_sale(card loyalty.card, program text, store text, pos_txn text,
	OUT member_id bigint, OUT points bigint, OUT points_pending bigint, OUT entry_id bigint,
	OUT spend numeric)
RETURNS record
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_enroll_with_sale';
COMMENT ON FUNCTION loyalty.enroll_with_sale(loyalty.card, text, text, text) IS
'Enrols a card after the anonymous sale (store, pos_txn) met the program''s enroll_min_spend (else LY088, with the amount missing) and credits the sale''s points once; a retry answers the same.';

CREATE FUNCTION loyalty.enroll_with_sales(card loyalty.card, program text, stores text[], pos_txns text[],
	OUT member_id bigint, OUT points bigint, OUT points_pending bigint, OUT entry_id bigint,
	OUT spend numeric)
RETURNS record
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_enroll_with_sales';
COMMENT ON FUNCTION loyalty.enroll_with_sales(loyalty.card, text, text[], text[]) IS
'enroll_with_sale with several receipts (stores[i], pos_txns[i]) of the last enroll_window_days days, whose totals add up to the threshold.';

REVOKE EXECUTE ON FUNCTION
	loyalty.enroll_with_sale(loyalty.card, text, text, text),
	loyalty.enroll_with_sales(loyalty.card, text, text[], text[])
FROM PUBLIC;
REVOKE ALL ON loyalty.enrolment_sale FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('loyalty.enrolment_sale', '');

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
		'quote(loyalty.card, jsonb, numeric, text, timestamptz)',
		'use_benefit(loyalty.card, text, text, text)',
		'enroll_with_sale(loyalty.card, text, text, text)',
		'enroll_with_sales(loyalty.card, text, text[], text[])'];
	analyst_functions text[] := ARRAY[
		'member_id(loyalty.card)',
		'balance(loyalty.card)',
		'balance_at(loyalty.card, timestamptz, timestamptz)',
		'statement(loyalty.card, timestamptz, timestamptz)',
		'lots_at(bigint, timestamptz, timestamptz)',
		'check_invariants()',
		'explain_sale(bigint)'];
	admin_functions text[] := analyst_functions || pos_functions || ARRAY[
		'set_member_status(loyalty.card, text, text)',
		'replace_card(loyalty.card, loyalty.card)',
		'earn(loyalty.card, bigint, text, text, timestamptz, timestamptz)',
		'adjust(loyalty.card, bigint, text, text, timestamptz)',
		'reverse(loyalty.card, bigint, bigint, text, text)',
		'expire_points(timestamptz)',
		'use_benefit_at(loyalty.card, text, text, text, timestamptz)'];
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
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON loyalty.benefit TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.benefit_id_seq TO %s', role);
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
