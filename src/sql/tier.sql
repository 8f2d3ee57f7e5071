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
