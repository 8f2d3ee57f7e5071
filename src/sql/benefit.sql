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
