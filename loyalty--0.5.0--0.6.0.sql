-- loyalty 0.5.0 -> 0.6.0: tiers (issue "Tier evaluation in C") and
-- segmentation aggregates (issue "Segmentation aggregates and customer-base
-- models in C").
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.6.0'" to load this file. \quit

--
-- section: tiers
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
	actor			text NOT NULL DEFAULT session_user,
	reason			text,
	recorded_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (member_id, change_id)
);
CREATE INDEX tier_change_at_idx ON loyalty.tier_change (member_id, changed_at);
COMMENT ON TABLE loyalty.tier_change IS 'Every change of a member''s tier: qualified (a sale), review (review_tiers), override (set_tier), override_ended (review_tiers at an override''s end); append-only.';
COMMENT ON COLUMN loyalty.tier_change.changed_at IS 'When the change took effect: the sale''s occurred_at (never ahead of the server''s clock), the review''s as_of, the override''s moment or end; never before the member''s previous change, so that the history is in order of time; tier_at reads it.';
COMMENT ON COLUMN loyalty.tier_change.actor IS 'The session user who caused it: the sale''s inserter, the review''s or the override''s caller.';
COMMENT ON COLUMN loyalty.tier_change.from_tier_id IS 'The tier before (the same as to_tier_id for an override that confirms the current tier).';

-- Days and windows, computed in C so that SQL counts them as the sale
-- trigger does: a program's time zone (never the session's), 29 February.
CREATE FUNCTION loyalty.local_date(at timestamptz, time_zone text) RETURNS date
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_local_date';
COMMENT ON FUNCTION loyalty.local_date(timestamptz, text) IS
'The date of a moment in a tz database zone (a program''s), whatever the session''s TimeZone: the day tiers count it on.';

CREATE FUNCTION loyalty.tier_period(tier_window text, tier_window_days integer, anchor date, day date,
	OUT period_start date, OUT period_end date)
RETURNS record
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_tier_period';
COMMENT ON FUNCTION loyalty.tier_period(text, integer, date, date) IS
'The tier window holding a day, [period_start, period_end): lifetime (-infinity, infinity), rolling (day - tier_window_days, day + 1), calendar_year, anniversary_year (from the latest anniversary of anchor, the enrolment day; 29 February: the 28th in other years).';

-- The ladder is checked as a whole at commit, so that it can be built or
-- rebuilt row by row in one transaction.
CREATE FUNCTION loyalty.tier_ladder_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_program integer := CASE WHEN TG_OP = 'DELETE' THEN OLD.program_id ELSE NEW.program_id END;
	v_bad record;
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.program_id IS DISTINCT FROM OLD.program_id THEN
		RAISE EXCEPTION 'tier % cannot move to another program', OLD.code
			USING ERRCODE = 'LY054',
				  DETAIL = 'Members, benefits and the tier history name the tier by its id.',
				  HINT = 'Add a tier to the other program instead.';
	END IF;
	IF EXISTS (SELECT FROM loyalty.tier t WHERE t.program_id = v_program)
	   AND NOT EXISTS (SELECT FROM loyalty.tier t WHERE t.program_id = v_program AND t.rank = 0) THEN
		RAISE EXCEPTION 'the tier ladder of program % has no base tier (rank 0)',
			(SELECT p.code FROM loyalty.program p WHERE p.program_id = v_program)
			USING ERRCODE = 'LY051',
				  DETAIL = 'Every member starts in the rank-0 tier, which has no thresholds.',
				  HINT = 'Add a tier with rank 0, or delete all the program''s tiers.';
	END IF;
	SELECT lo.code AS lo_code, hi.code AS hi_code,
		   CASE WHEN hi.min_spend <= lo.min_spend THEN 'min_spend'
				WHEN hi.min_visits <= lo.min_visits THEN 'min_visits'
				ELSE 'min_points' END AS what
	  INTO v_bad
	  FROM loyalty.tier lo JOIN loyalty.tier hi ON hi.program_id = lo.program_id AND hi.rank > lo.rank
	 WHERE lo.program_id = v_program
	   AND (hi.min_spend <= lo.min_spend OR hi.min_visits <= lo.min_visits OR hi.min_points <= lo.min_points)
	 ORDER BY lo.rank, hi.rank
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'tier % asks no more % than the lower tier %', v_bad.hi_code, v_bad.what, v_bad.lo_code
			USING ERRCODE = 'LY052',
				  DETAIL = 'A threshold that two tiers both have must rise with the rank.',
				  HINT = 'Raise the higher tier''s threshold, lower the lower one''s, or swap their ranks.';
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION loyalty.tier_ladder_check() IS 'Constraint trigger (deferred to commit): a program''s ladder has a rank-0 tier (LY051) and thresholds that rise with the rank (LY052).';
CREATE CONSTRAINT TRIGGER tier_ladder_check AFTER INSERT OR UPDATE OR DELETE ON loyalty.tier
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION loyalty.tier_ladder_check();
CREATE TRIGGER rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.tier
	FOR EACH STATEMENT EXECUTE FUNCTION loyalty.rules_changed();

-- Tier events: an outbox row each (tier_up or tier_down, in the order given),
-- and with loyalty.notify on one payload-less NOTIFY for them all, as the
-- sales send it.  The
-- arrays are the events' columns, of one length: set_tier writes one event,
-- review_tiers all of its changes with one INSERT.
CREATE FUNCTION loyalty.tier_events(member_ids bigint[], from_tiers text[], to_tiers text[], ups boolean[],
	causes text[], changed_ats timestamptz[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_written bigint;
BEGIN
	INSERT INTO loyalty.outbox (member_id, kind, payload)
	SELECT e.member_id, k.kind,
		   jsonb_build_object('event', k.kind, 'member_id', e.member_id, 'from', e.from_tier, 'to', e.to_tier,
							  'cause', e.cause, 'changed_at',
							  rtrim(rtrim(to_char(e.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '0'), '.')
							  || '+00:00')
	  FROM unnest(member_ids, from_tiers, to_tiers, ups, causes, changed_ats) WITH ORDINALITY
		   AS e(member_id, from_tier, to_tier, up, cause, changed_at, i)
	 CROSS JOIN LATERAL (SELECT CASE WHEN e.up THEN 'tier_up' ELSE 'tier_down' END AS kind) k
	 ORDER BY e.i;
	GET DIAGNOSTICS v_written = ROW_COUNT;
	-- loyalty.notify: off unless set (the library defines it, off, when it loads)
	IF v_written > 0 AND coalesce(current_setting('loyalty.notify', true), 'off')::boolean THEN
		PERFORM pg_notify('loyalty_events', '');
	END IF;
	RETURN v_written;
END
$$;
COMMENT ON FUNCTION loyalty.tier_events(bigint[], text[], text[], boolean[], text[], timestamptz[]) IS 'Internal: writes tier_up and tier_down events to the outbox, one row per element of the arrays (the events'' columns), and with loyalty.notify on wakes their consumer once (set_tier, review_tiers). Returns how many it wrote.';

-- The member of a card for the tier questions: any card the member ever had.
CREATE FUNCTION loyalty.tier_member(card loyalty.card) RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_member bigint;
BEGIN
	IF card IS NULL THEN
		RAISE EXCEPTION 'card is required' USING ERRCODE = 'LY013';
	END IF;
	SELECT mc.member_id INTO v_member FROM loyalty.member_card mc WHERE mc.card = tier_member.card;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'card "%" is not enrolled', card USING ERRCODE = 'LY001';
	END IF;
	RETURN v_member;
END
$$;
COMMENT ON FUNCTION loyalty.tier_member(loyalty.card) IS 'Internal: the member of a card, current or replaced (LY001 if none), for tier_of, tier_at and tier_progress.';

CREATE FUNCTION loyalty.tier_of(card loyalty.card) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT t.code
	  FROM loyalty.member m
	  JOIN loyalty.tier t ON t.program_id = m.program_id
	  LEFT JOIN loyalty.member_tier mt ON mt.member_id = m.member_id
	 WHERE m.member_id = loyalty.tier_member(tier_of.card)
	   AND (t.tier_id = mt.tier_id OR (mt.tier_id IS NULL AND t.rank = 0))
$$;
COMMENT ON FUNCTION loyalty.tier_of(loyalty.card) IS 'The code of the member''s current tier (the base tier before any change; NULL: the program has no tiers).';

CREATE FUNCTION loyalty.tier_at(card loyalty.card, at timestamptz) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_member bigint := loyalty.tier_member(tier_at.card);
	v_code text;
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'at is required' USING ERRCODE = 'LY013';
	END IF;
	SELECT t.code INTO v_code
	  FROM loyalty.tier_change c JOIN loyalty.tier t ON t.tier_id = c.to_tier_id
	 WHERE c.member_id = v_member AND c.changed_at <= tier_at.at
	 ORDER BY c.changed_at DESC, c.change_id DESC
	 LIMIT 1;
	IF FOUND THEN
		RETURN v_code;
	END IF;
	-- no change by then: the base tier, if the member was a member then
	RETURN (SELECT t.code FROM loyalty.member m JOIN loyalty.tier t ON t.program_id = m.program_id AND t.rank = 0
			 WHERE m.member_id = v_member AND m.enrolled_at <= tier_at.at);
END
$$;
COMMENT ON FUNCTION loyalty.tier_at(loyalty.card, timestamptz) IS 'The code of the member''s tier at a moment, from the tier history (the base tier before any change; NULL before enrolment or without tiers).';

-- The review's view of each program with tiers, as of a moment: its ladder
-- (arrays in rank order: ids[1] is the base tier), its day (the program's
-- time zone) and the windows whose figures a review judges: the current
-- one [cur_start, cur_end), and from prev_start the one before it
-- (calendar years; the other kinds judge the current window alone:
-- prev_start = cur_start).  Anniversary years start at each member's
-- enrolment day: their windows are NULL here, computed per member.  Like
-- tier_review_candidates, called by the SECURITY DEFINER review functions
-- only (granted to no one), so with its caller's rights.
CREATE FUNCTION loyalty.tier_review_programs(as_of timestamptz,
	OUT program_id integer, OUT time_zone text, OUT tier_window text, OUT tier_window_days integer,
	OUT tier_downgrade text, OUT tier_grace_days integer, OUT today date,
	OUT cur_start date, OUT cur_end date, OUT prev_start date,
	OUT ids integer[], OUT codes text[], OUT spend numeric[], OUT visits integer[], OUT points bigint[])
RETURNS SETOF record
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp ROWS 10 AS $$
	WITH ladder AS (
		SELECT t.program_id, array_agg(t.tier_id ORDER BY t.rank) AS ids,
			   array_agg(t.code ORDER BY t.rank) AS codes, array_agg(t.min_spend ORDER BY t.rank) AS spend,
			   array_agg(t.min_visits ORDER BY t.rank) AS visits, array_agg(t.min_points ORDER BY t.rank) AS points
		  FROM loyalty.tier t GROUP BY t.program_id)
	SELECT p.program_id, p.time_zone, p.tier_window, p.tier_window_days, p.tier_downgrade, p.tier_grace_days,
		   d.today, w.period_start, w.period_end,
		   CASE WHEN p.tier_window = 'calendar_year'
				THEN (loyalty.tier_period(p.tier_window, p.tier_window_days, d.today, w.period_start - 1)).period_start
				ELSE w.period_start END,
		   l.ids, l.codes, l.spend, l.visits, l.points
	  FROM loyalty.program p
	  JOIN ladder l ON l.program_id = p.program_id
	 CROSS JOIN LATERAL (SELECT loyalty.local_date(tier_review_programs.as_of, p.time_zone) AS today) d
	  LEFT JOIN LATERAL loyalty.tier_period(p.tier_window, p.tier_window_days, d.today, d.today) w
		ON p.tier_window <> 'anniversary_year'
$$;
COMMENT ON FUNCTION loyalty.tier_review_programs(timestamptz) IS 'Internal: per program with tiers, as of a moment, what review_tiers judges by: the ladder in rank order, the program''s day, the current window and the start of the one before (calendar years); anniversary years'' windows are per member (NULL here).';

-- Who a review as of a moment may change, told by each member's
-- member_tier row without reading its days; and how many members it checks
-- (members_checked: every member with a row in a program with tiers; a
-- member without one is in the base tier with nothing counted, which no
-- review changes).  A member is a candidate when
--   1. it has an override (running, or ended: the review ends it);
--   2. its hold plus the grace days has run out in a tier above the base,
--      and the program's policy moves members down;
--   3. its running figures meet a threshold of a tier above its own (the
--      sale trigger moves a member up at once, so: a ladder lowered or a
--      rung added since);
--   4. the review counts days before the running figures' window_start (a
--      calendar or anniversary year whose year before the running figures
--      no longer hold; a window made longer, or of another kind, since the
--      member's latest sale; a review as of a past day).
-- Nothing else changes in a review: without 4, every day the review counts
-- lies in [window_start, last_day] (no day comes after last_day), whose sum
-- the running figures are (the sale trigger keeps them so, under the
-- member's lock); days are never negative (a sale's total and points are at
-- least 0, a return takes back at most its sale), so the figures of each
-- window the review judges are at most the running figures, and without 3
-- they earn no tier above the member's: no upgrade.  Without 1 and 2: no
-- downgrade and no override to end.
CREATE FUNCTION loyalty.tier_review_candidates(as_of timestamptz, OUT members_checked bigint, OUT candidates bigint[])
RETURNS record
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp SET jit = off AS $$
	WITH prog AS (SELECT * FROM loyalty.tier_review_programs(tier_review_candidates.as_of)),
	-- per tier: the lowest threshold of each kind among the tiers above it
	above AS (
		SELECT t.tier_id, min(h.min_spend) AS spend, min(h.min_visits) AS visits, min(h.min_points) AS points
		  FROM loyalty.tier t JOIN loyalty.tier h ON h.program_id = t.program_id AND h.rank > t.rank
		 GROUP BY t.tier_id)
	SELECT count(*),
		   COALESCE(array_agg(mt.member_id) FILTER (
			WHERE mt.override_tier_id IS NOT NULL											-- 1
			   OR (g.tier_downgrade <> 'never' AND mt.tier_id <> g.ids[1]					-- 2
				   AND g.today >= mt.held_until + g.tier_grace_days)
			   OR mt.spend >= a.spend OR mt.visits >= a.visits OR mt.points >= a.points	-- 3
			   OR mt.window_start > COALESCE(g.prev_start,								-- 4
					(loyalty.tier_period(g.tier_window, g.tier_window_days, y.anchor,
						(loyalty.tier_period(g.tier_window, g.tier_window_days, y.anchor, g.today)).period_start - 1)).period_start)),
			'{}')
	  FROM loyalty.member_tier mt
	  JOIN loyalty.member mb ON mb.member_id = mt.member_id
	  JOIN prog g ON g.program_id = mb.program_id
	  LEFT JOIN above a ON a.tier_id = mt.tier_id
	 CROSS JOIN LATERAL (SELECT CASE WHEN g.tier_window = 'anniversary_year'
									 THEN loyalty.local_date(mb.enrolled_at, g.time_zone) END AS anchor) y
$$;
COMMENT ON FUNCTION loyalty.tier_review_candidates(timestamptz) IS 'Internal: the members a review as of a moment may change (an override; a hold plus grace run out above the base; running figures meeting a higher tier; a window reaching before the running figures''), told by member_tier alone, and how many members with a tier row it checks.';

-- What review_tiers would do: one row per member whose tier or override
-- changes.  members: only these (review_tiers' second pass); NULL: the
-- candidates, who are every member a review may change.
CREATE FUNCTION loyalty.review_tiers_preview(as_of timestamptz DEFAULT now(), members bigint[] DEFAULT NULL,
	OUT member_id bigint, OUT from_tier text, OUT to_tier text, OUT cause text,
	OUT changed_at timestamptz, OUT held_until date,
	OUT from_tier_id integer, OUT to_tier_id integer, OUT up boolean, OUT override_ended boolean)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
DECLARE
	v_members bigint[] := review_tiers_preview.members;
BEGIN
	IF review_tiers_preview.as_of IS NULL THEN
		RAISE EXCEPTION 'as_of is required' USING ERRCODE = 'LY013';
	END IF;
	IF v_members IS NULL THEN
		SELECT c.candidates INTO v_members FROM loyalty.tier_review_candidates(review_tiers_preview.as_of) c;
	END IF;
	-- planned for v_members' values (force_custom_plan): how many there are
	-- decides between index look-ups and one pass over the days
	RETURN QUERY
	WITH prog AS (SELECT * FROM loyalty.tier_review_programs(review_tiers_preview.as_of)),
	-- the members judged and their windows (anniversary years: from the
	-- member's enrolment day); narrow, and read three times
	m AS MATERIALIZED (
		SELECT mt.member_id, mt.tier_id, mt.held_until, mt.override_tier_id, mt.override_until,
			   g.program_id, g.today, a.anchor,
			   COALESCE(g.cur_start, c.cur_start) AS cur_start, COALESCE(g.cur_end, c.cur_end) AS cur_end,
			   COALESCE(g.prev_start, c.prev_start) AS prev_start
		  FROM loyalty.member_tier mt
		  JOIN loyalty.member mb ON mb.member_id = mt.member_id
		  JOIN prog g ON g.program_id = mb.program_id
		 CROSS JOIN LATERAL (SELECT CASE WHEN g.tier_window = 'anniversary_year'
										 THEN loyalty.local_date(mb.enrolled_at, g.time_zone) END AS anchor) a
		 CROSS JOIN LATERAL (SELECT w.period_start AS cur_start, w.period_end AS cur_end,
									(loyalty.tier_period(g.tier_window, g.tier_window_days, a.anchor, w.period_start - 1)).period_start AS prev_start
							   FROM loyalty.tier_period(g.tier_window, g.tier_window_days, a.anchor, g.today) w) c
		 WHERE mt.member_id = ANY (v_members)),
	-- their figures in the current window and the one before, by a join
	-- bounded below by the earliest day any of them counts (so that one pass
	-- over those days can serve many members); a member without days there
	-- has none (LEFT JOIN in q)
	f AS (
		SELECT m.member_id,
			   sum(d.spend) FILTER (WHERE d.day >= m.cur_start) AS spend,
			   count(*) FILTER (WHERE d.day >= m.cur_start AND d.spend > 0) AS visits,
			   sum(d.points) FILTER (WHERE d.day >= m.cur_start) AS points,
			   sum(d.spend) FILTER (WHERE d.day < m.cur_start) AS prev_spend,
			   count(*) FILTER (WHERE d.day < m.cur_start AND d.spend > 0) AS prev_visits,
			   sum(d.points) FILTER (WHERE d.day < m.cur_start) AS prev_points
		  FROM m JOIN loyalty.tier_day d ON d.member_id = m.member_id AND d.day >= m.prev_start AND d.day <= m.today
		 WHERE d.day >= (SELECT min(m.prev_start) FROM m)
		 GROUP BY m.member_id),
	-- the tier the figures earn (entitled), the current one, the override's
	q AS (
		SELECT m.*, g.tier_window, g.tier_window_days, g.tier_downgrade, g.tier_grace_days, g.ids, g.codes,
			   e.entitled_i,
			   array_position(g.ids, m.tier_id) AS cur_i,
			   array_position(g.ids, m.override_tier_id) AS floor_i,
			   m.override_tier_id IS NOT NULL AND coalesce(m.override_until <= review_tiers_preview.as_of, false) AS ended,
			   -- the tier the member holds by figures and reviews, without the override
			   CASE WHEN m.override_until <= review_tiers_preview.as_of
					THEN array_position(g.ids, COALESCE(
						(SELECT c.to_tier_id FROM loyalty.tier_change c
						  WHERE c.member_id = m.member_id AND c.cause <> 'override'
						  ORDER BY c.changed_at DESC, c.change_id DESC LIMIT 1), g.ids[1])) END AS own_i,
			   m.override_tier_id IS NOT NULL AND (m.override_until IS NULL OR m.override_until > review_tiers_preview.as_of) AS overridden
		  FROM m
		  JOIN prog g ON g.program_id = m.program_id
		  LEFT JOIN f ON f.member_id = m.member_id
		 CROSS JOIN LATERAL (
			SELECT max(i) AS entitled_i FROM generate_subscripts(g.ids, 1) AS i
			 WHERE i = 1 OR g.spend[i] <= COALESCE(f.spend, 0) OR g.visits[i] <= COALESCE(f.visits, 0)
				OR g.points[i] <= COALESCE(f.points, 0) OR g.spend[i] <= COALESCE(f.prev_spend, 0)
				OR g.visits[i] <= COALESCE(f.prev_visits, 0) OR g.points[i] <= COALESCE(f.prev_points, 0)) e),
	-- the decision: an override's end, up, down by the policy after the hold
	n AS (
		SELECT q.*,
			   CASE WHEN q.ended
					THEN CASE WHEN q.tier_downgrade = 'never' OR q.today < q.held_until + q.tier_grace_days
							  THEN GREATEST(q.entitled_i, q.own_i)
							  WHEN q.tier_downgrade = 'one_step' THEN GREATEST(q.entitled_i, q.own_i - 1, 1)
							  ELSE q.entitled_i END
					WHEN q.entitled_i > q.cur_i THEN q.entitled_i
					WHEN q.today >= q.held_until + q.tier_grace_days AND q.entitled_i < q.cur_i
						 AND q.tier_downgrade <> 'never'
					THEN GREATEST(CASE WHEN q.overridden THEN q.floor_i ELSE 1 END,
								  CASE q.tier_downgrade WHEN 'one_step' THEN q.cur_i - 1 ELSE q.entitled_i END)
					ELSE q.cur_i END AS new_i
		  FROM q)
	SELECT n.member_id, n.codes[n.cur_i], n.codes[n.new_i],
		   CASE WHEN n.ended THEN 'override_ended' ELSE 'review' END,
		   -- never before the member's latest change: the history stays in
		   -- order of time (a review as of a past moment, a late review of
		   -- an override's end)
		   GREATEST(CASE WHEN n.ended THEN n.override_until ELSE review_tiers_preview.as_of END,
					(SELECT max(c.changed_at) FROM loyalty.tier_change c WHERE c.member_id = n.member_id)),
		   CASE WHEN n.new_i > n.cur_i AND NOT n.ended
				THEN CASE n.tier_window WHEN 'lifetime' THEN n.today
										WHEN 'rolling' THEN n.today + n.tier_window_days + 1
										ELSE (loyalty.tier_period(n.tier_window, n.tier_window_days, COALESCE(n.anchor, n.today), n.cur_end)).period_end END
				ELSE CASE n.tier_window WHEN 'lifetime' THEN n.today + 1
										WHEN 'rolling' THEN n.today + n.tier_window_days + 1
										ELSE n.cur_end END END,
		   n.ids[n.cur_i], n.ids[n.new_i], n.new_i > n.cur_i, n.ended
	  FROM n
	 WHERE n.new_i <> n.cur_i OR n.ended;
END
$$;
COMMENT ON FUNCTION loyalty.review_tiers_preview(timestamptz, bigint[]) IS 'What review_tiers(as_of) would change, writing nothing: one row per member moving up, down, or whose override ends (members: only these).';

-- Refuses (LY055) while a sale statement of the same query still holds
-- members' tier rows in memory (tier_pending.c): set_tier and review_tiers
-- call it before they write.
CREATE FUNCTION loyalty.tier_pending_refuse() RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'loyalty_tier_pending_refuse';
REVOKE EXECUTE ON FUNCTION loyalty.tier_pending_refuse() FROM PUBLIC;
COMMENT ON FUNCTION loyalty.tier_pending_refuse() IS 'Internal: LY055 while a sale statement of the same query has not written its members'' tier rows (set_tier, review_tiers).';

CREATE FUNCTION loyalty.review_tiers(as_of timestamptz DEFAULT now(),
	OUT members_checked bigint, OUT upgraded bigint, OUT downgraded bigint, OUT overrides_expired bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_ids bigint[];
	v_events bigint;
BEGIN
	PERFORM loyalty.tier_pending_refuse();
	PERFORM loyalty.check_as_of(as_of, 'review_tiers judges the figures of the days up to as_of.');
	-- 1. who may change (by their member_tier rows), and who does, by what
	-- committed before these statements
	SELECT c.members_checked, c.candidates INTO members_checked, v_ids
	  FROM loyalty.tier_review_candidates(as_of) c;
	SELECT array_agg(p.member_id ORDER BY p.member_id) INTO v_ids FROM loyalty.review_tiers_preview(as_of, v_ids) p;
	upgraded := 0; downgraded := 0; overrides_expired := 0;
	IF v_ids IS NULL THEN
		RETURN;
	END IF;
	-- 2. their locks, in member_id order, as a sale takes a member's
	PERFORM FROM loyalty.member_balance b WHERE b.member_id = ANY (v_ids) ORDER BY b.member_id FOR NO KEY UPDATE;
	-- 3. decided again under the locks (a sale may have committed meanwhile)
	-- and applied: the tiers, their history, and one event per tier that
	-- changed, written together
	WITH d AS (SELECT * FROM loyalty.review_tiers_preview(as_of, v_ids)),
	u AS (
		UPDATE loyalty.member_tier mt
		   SET tier_id = d.to_tier_id, held_until = d.held_until,
			   since = CASE WHEN d.to_tier_id <> d.from_tier_id THEN d.changed_at ELSE mt.since END,
			   override_tier_id = CASE WHEN d.override_ended THEN NULL ELSE mt.override_tier_id END,
			   override_until = CASE WHEN d.override_ended THEN NULL ELSE mt.override_until END
		  FROM d WHERE mt.member_id = d.member_id),
	c AS (
		INSERT INTO loyalty.tier_change (member_id, from_tier_id, to_tier_id, changed_at, cause)
		SELECT d.member_id, d.from_tier_id, d.to_tier_id, d.changed_at, d.cause FROM d),
	e AS (
		SELECT loyalty.tier_events(array_agg(d.member_id ORDER BY d.member_id),
								   array_agg(d.from_tier ORDER BY d.member_id), array_agg(d.to_tier ORDER BY d.member_id),
								   array_agg(d.up ORDER BY d.member_id), array_agg(d.cause ORDER BY d.member_id),
								   array_agg(d.changed_at ORDER BY d.member_id)) AS written
		  FROM d WHERE d.to_tier_id <> d.from_tier_id)
	SELECT count(*) FILTER (WHERE d.up AND NOT d.override_ended),
		   count(*) FILTER (WHERE NOT d.up AND d.to_tier_id <> d.from_tier_id AND NOT d.override_ended),
		   count(*) FILTER (WHERE d.override_ended), (SELECT e.written FROM e)
	  INTO upgraded, downgraded, overrides_expired, v_events
	  FROM d;
END
$$;
COMMENT ON FUNCTION loyalty.review_tiers(timestamptz) IS 'The periodic tier review as of a moment (not in the future): moves members down whose tier''s hold (plus tier_grace_days) has ended without qualifying again, by the program''s tier_downgrade; up those whose figures qualify higher; ends overrides. Reads the day figures only of the members whose tier row says they may change; members_checked counts every member with a tier row. Idempotent for one as_of.';

CREATE FUNCTION loyalty.set_tier(card loyalty.card, tier_code text, reason text, until timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_member bigint;
	v_program integer;
	v_tz text;
	v_to record;
	v_from record;
	v_day date;
	v_start date;
	v_change bigint;
	v_status text;
	v_at timestamptz;
BEGIN
	PERFORM loyalty.tier_pending_refuse();
	IF tier_code IS NULL THEN
		RAISE EXCEPTION 'tier_code is required' USING ERRCODE = 'LY013';
	END IF;
	IF reason IS NULL OR reason = '' THEN
		RAISE EXCEPTION 'reason is required' USING ERRCODE = 'LY013',
			DETAIL = 'An override is recorded in the tier history with its actor and reason.';
	END IF;
	IF until IS NOT NULL AND NOT isfinite(until) THEN
		RAISE EXCEPTION 'until must be a finite time; NULL means for good' USING ERRCODE = 'LY017';
	END IF;
	IF until <= now() THEN
		RAISE EXCEPTION 'an override until % would already have ended', until USING ERRCODE = 'LY053',
			HINT = 'Give a moment in the future, or NULL for an override without end.';
	END IF;
	v_member := loyalty.member_id(card);
	SELECT b.status INTO v_status FROM loyalty.member_balance b WHERE b.member_id = v_member FOR NO KEY UPDATE;
	IF v_status = 'closed' THEN
		RAISE EXCEPTION 'member % is closed', v_member USING ERRCODE = 'LY004';
	END IF;
	-- now, but never before the member's latest change (one that committed
	-- while this transaction waited): the history stays in order of time
	v_at := GREATEST(now(), (SELECT max(c.changed_at) FROM loyalty.tier_change c WHERE c.member_id = v_member));
	SELECT m.program_id, p.time_zone, loyalty.local_date(now(), p.time_zone) AS today,
		   (loyalty.tier_period(p.tier_window, p.tier_window_days, loyalty.local_date(m.enrolled_at, p.time_zone),
								loyalty.local_date(now(), p.time_zone))).period_start AS start
	  INTO v_program, v_tz, v_day, v_start
	  FROM loyalty.member m JOIN loyalty.program p ON p.program_id = m.program_id
	 WHERE m.member_id = v_member;
	SELECT t.tier_id, t.code, t.rank INTO v_to FROM loyalty.tier t WHERE t.program_id = v_program AND t.code = tier_code;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tier "%" is not a tier of the member''s program', tier_code USING ERRCODE = 'LY050',
			DETAIL = coalesce('Its tiers: ' || (SELECT string_agg(t.code, ', ' ORDER BY t.rank) FROM loyalty.tier t
											  WHERE t.program_id = v_program) || '.', 'The program has no tiers.');
	END IF;
	SELECT t.tier_id, t.code, t.rank INTO v_from
	  FROM loyalty.tier t LEFT JOIN loyalty.member_tier mt ON mt.member_id = v_member
	 WHERE t.program_id = v_program AND (t.tier_id = mt.tier_id OR (mt.tier_id IS NULL AND t.rank = 0));
	INSERT INTO loyalty.member_tier AS mt (member_id, tier_id, since, held_until, window_start, last_day,
										   override_tier_id, override_until)
	VALUES (v_member, v_to.tier_id, v_at, v_day, v_start, v_day, v_to.tier_id, until)
	ON CONFLICT (member_id) DO UPDATE
	   SET tier_id = excluded.tier_id, override_tier_id = excluded.override_tier_id,
		   override_until = excluded.override_until,
		   since = CASE WHEN mt.tier_id <> excluded.tier_id THEN excluded.since ELSE mt.since END;
	INSERT INTO loyalty.tier_change (member_id, from_tier_id, to_tier_id, changed_at, cause, reason)
	VALUES (v_member, v_from.tier_id, v_to.tier_id, v_at, 'override', reason)
	RETURNING change_id INTO v_change;
	IF v_from.tier_id <> v_to.tier_id THEN
		PERFORM loyalty.tier_events(ARRAY[v_member], ARRAY[v_from.code], ARRAY[v_to.code], ARRAY[v_to.rank > v_from.rank],
									ARRAY['override'], ARRAY[v_at]);
	END IF;
	RETURN v_change;
END
$$;
COMMENT ON FUNCTION loyalty.set_tier(loyalty.card, text, text, timestamptz) IS 'An admin''s override: puts the member in a tier now, recorded with actor and reason; review_tiers keeps the member at least there until until (NULL: for good), then lets the figures decide. Returns the tier_change id.';

-- What is still missing for a threshold: NULL when the tier has none.
CREATE FUNCTION loyalty.tier_missing(threshold numeric, figure numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN threshold IS NOT NULL THEN GREATEST(threshold - figure, 0) END
$$;
COMMENT ON FUNCTION loyalty.tier_missing(numeric, numeric) IS 'Internal: how much of a tier threshold a figure still misses (0: met; NULL: no such threshold), for tier_progress.';

CREATE FUNCTION loyalty.tier_progress(card loyalty.card,
	OUT tier text, OUT tier_window text, OUT window_start date, OUT window_end date,
	OUT spend numeric, OUT visits integer, OUT points bigint,
	OUT next_tier text, OUT spend_missing numeric, OUT visits_missing integer, OUT points_missing bigint,
	OUT held_until date, OUT review_from date,
	OUT keep_spend numeric, OUT keep_visits integer, OUT keep_points bigint,
	OUT override_tier text, OUT override_until timestamptz)
RETURNS record
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	WITH m AS (
		SELECT mb.member_id, mb.program_id, p.tier_window, p.tier_window_days, p.tier_grace_days,
			   loyalty.local_date(now(), p.time_zone) AS today,
			   loyalty.local_date(mb.enrolled_at, p.time_zone) AS anchor,
			   mt.tier_id, mt.held_until, mt.override_tier_id, mt.override_until
		  FROM loyalty.member mb JOIN loyalty.program p ON p.program_id = mb.program_id
		  LEFT JOIN loyalty.member_tier mt ON mt.member_id = mb.member_id
		 WHERE mb.member_id = loyalty.tier_member(tier_progress.card)),
	w AS (
		SELECT m.*, w.period_start, w.period_end
		  FROM m CROSS JOIN LATERAL loyalty.tier_period(m.tier_window, m.tier_window_days, m.anchor, m.today) w),
	cur AS (
		SELECT t.* FROM w JOIN loyalty.tier t ON t.program_id = w.program_id
		 WHERE t.tier_id = w.tier_id OR (w.tier_id IS NULL AND t.rank = 0)),
	nxt AS (
		SELECT t.* FROM cur JOIN loyalty.tier t ON t.program_id = cur.program_id AND t.rank > cur.rank
		 ORDER BY t.rank LIMIT 1),
	f AS (
		SELECT COALESCE(sum(d.spend), 0) AS spend, count(*) FILTER (WHERE d.spend > 0)::integer AS visits,
			   COALESCE(sum(d.points), 0)::bigint AS points
		  FROM w LEFT JOIN loyalty.tier_day d ON d.member_id = w.member_id AND d.day >= w.period_start
			   AND d.day <= w.today)
	SELECT cur.code, w.tier_window, w.period_start, w.period_end - 1, f.spend, f.visits, f.points,
		   nxt.code, loyalty.tier_missing(nxt.min_spend, f.spend), loyalty.tier_missing(nxt.min_visits, f.visits)::integer,
		   loyalty.tier_missing(nxt.min_points, f.points)::bigint,
		   CASE WHEN cur.rank > 0 THEN w.held_until END, CASE WHEN cur.rank > 0 THEN w.held_until + w.tier_grace_days END,
		   loyalty.tier_missing(cur.min_spend, f.spend), loyalty.tier_missing(cur.min_visits, f.visits)::integer,
		   loyalty.tier_missing(cur.min_points, f.points)::bigint,
		   (SELECT t.code FROM loyalty.tier t WHERE t.tier_id = w.override_tier_id), w.override_until
	  FROM w JOIN cur ON true CROSS JOIN f LEFT JOIN nxt ON true
$$;
COMMENT ON FUNCTION loyalty.tier_progress(loyalty.card) IS 'Where the member stands: the current tier, the window and its figures so far, the next tier and what is still missing for it (any one threshold suffices), the hold and from when a review may move the member down, and what keeps the current tier.';

REVOKE EXECUTE ON FUNCTION
	loyalty.local_date(timestamptz, text),
	loyalty.tier_period(text, integer, date, date),
	loyalty.tier_ladder_check(),
	loyalty.tier_events(bigint[], text[], text[], boolean[], text[], timestamptz[]),
	loyalty.tier_member(loyalty.card),
	loyalty.tier_missing(numeric, numeric),
	loyalty.tier_of(loyalty.card),
	loyalty.tier_at(loyalty.card, timestamptz),
	loyalty.tier_review_programs(timestamptz),
	loyalty.tier_review_candidates(timestamptz),
	loyalty.review_tiers_preview(timestamptz, bigint[]),
	loyalty.review_tiers(timestamptz),
	loyalty.set_tier(loyalty.card, text, text, timestamptz),
	loyalty.tier_progress(loyalty.card)
FROM PUBLIC;
REVOKE ALL ON loyalty.tier, loyalty.member_tier, loyalty.tier_day, loyalty.tier_change FROM PUBLIC;
REVOKE ALL ON SEQUENCE loyalty.tier_id_seq, loyalty.tier_change_id_seq FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('loyalty.tier', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.tier_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.member_tier', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.tier_day', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.tier_change', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.tier_change_id_seq', '');

-- quote() also returns the member price: a new result type, so the function
-- is made again, with the EXECUTE grants it had.
SELECT pg_catalog.set_config('loyalty_upgrade.quote_grantees',
	COALESCE((SELECT pg_catalog.string_agg(a.grantee::regrole::text, ',')
				FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
			   WHERE p.oid = 'loyalty.quote(loyalty.card, jsonb, numeric, text, timestamptz)'::pg_catalog.regprocedure
				 AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner AND a.grantee <> 0), ''), true);
DROP FUNCTION loyalty.quote(loyalty.card, jsonb, numeric, text, timestamptz);
CREATE FUNCTION loyalty.quote(card loyalty.card, lines jsonb, total numeric DEFAULT NULL,
	store text DEFAULT NULL, at timestamptz DEFAULT NULL,
	OUT points bigint, OUT award jsonb,
	OUT tier text, OUT discount_pct numeric, OUT discount numeric, OUT member_total numeric)
RETURNS record
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_quote';
COMMENT ON FUNCTION loyalty.quote(loyalty.card, jsonb, numeric, text, timestamptz) IS
'What a basket would earn (points, and the award as explain_sale shows it) and the member price (the tier, its discount_pct, the discount rounded to the cent, the member total), writing nothing.';
REVOKE EXECUTE ON FUNCTION loyalty.quote(loyalty.card, jsonb, numeric, text, timestamptz) FROM PUBLIC;
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY pg_catalog.string_to_array(pg_catalog.current_setting('loyalty_upgrade.quote_grantees'), ',')
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION loyalty.quote(loyalty.card, jsonb, numeric, text, timestamptz) TO %s', r);
	END LOOP;
END
$$;

-- grant_access gives the tier functions (run it again for existing roles)
-- (grant_access: made once, at the end of this script)

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
	tier			text,
	recorded_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (member_id, sale_id),
	UNIQUE (sale_id)
);
COMMENT ON TABLE loyalty.enrolment_sale IS 'The anonymous sales that enrolled a member through enroll_with_sale: each sale enrols one card once.';
COMMENT ON COLUMN loyalty.enrolment_sale.entry_id IS 'The earn entry that credited the enrolment''s sales (one for all of them; NULL: they earned nothing).';
COMMENT ON COLUMN loyalty.enrolment_sale.points IS 'This sale''s part of the entry''s points.';
COMMENT ON COLUMN loyalty.enrolment_sale.award IS 'How the rules awarded this sale at its time, as loyalty.sale.award records it for a member''s sale.';
COMMENT ON COLUMN loyalty.enrolment_sale.tier IS 'The member''s tier after this sale counted for it, as loyalty.sale.tier records it (NULL: the program had no tiers; a return of the sale then changes no tier figures).';

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
-- section: analytics lists
--
-- Analytics lists (0.6.0): RFM scores and segments, repurchase cohorts,
-- active members, and the lists stores work from: callbacks some days after
-- a purchase, buyers of a discontinued sku or category, members' home
-- stores.  Set-based SQL over loyalty.sale; the segment map and the
-- home_store aggregate are C (src/lists.c).
--
-- Days: a member's figures (rfm, repurchase, activity) count days in the
-- member's program's time zone, as tiers count visit days
-- (loyalty.local_date: never the session's TimeZone); callbacks counts each
-- sale's day at its store (store.time_zone, else the program's), as the
-- earning rules do.  A purchase is a sale (return_of IS NULL); a return
-- takes its refund off the money, never a purchase day.
--
-- The functions that read sales are SECURITY DEFINER with search_path
-- pg_catalog, pg_temp, so that the analyst level needs no grant beyond what
-- grant_access gives; none is executable by PUBLIC.  They run with jit off:
-- their cost estimates (the default selectivity of a GIN predicate, a join
-- per member) cross the JIT thresholds where compiling took longer than the
-- query (buyers_of: half a second before an answer of 60 ms) and saved
-- nothing measurable on the big passes (bench/lists.sh).
--

CREATE FUNCTION loyalty.rfm_segment(r integer, f integer, m integer) RETURNS text
LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_rfm_segment';
COMMENT ON FUNCTION loyalty.rfm_segment(integer, integer, integer) IS
'The named RFM segment of scores r, f, m (1..5): by R and FM = floor((f + m) / 2) on the grid of the README; NULL is LY013, a score outside 1..5 LY098.';

CREATE FUNCTION loyalty.check_as_of(as_of timestamptz, reads text) RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF as_of IS NULL THEN
		RAISE EXCEPTION 'as_of is required' USING ERRCODE = 'LY013', DETAIL = reads;
	END IF;
	IF NOT isfinite(as_of) THEN
		RAISE EXCEPTION 'as_of must be a finite time' USING ERRCODE = 'LY017';
	END IF;
	IF as_of > now() THEN
		RAISE EXCEPTION 'as_of % is in the future', as_of USING ERRCODE = 'LY016',
			DETAIL = concat_ws(' ', reads, 'The sales after now are not there yet.');
	END IF;
END
$$;
COMMENT ON FUNCTION loyalty.check_as_of(timestamptz, text) IS
'Internal: the as_of argument of the analytics lists, segments and tier reviews is required (LY013), finite (LY017) and not in the future (LY016); reads says what the caller reads up to as_of (the errors'' detail).';

CREATE FUNCTION loyalty.check_program(program text) RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF program IS NOT NULL AND NOT EXISTS (SELECT FROM loyalty.program p WHERE p.code = check_program.program) THEN
		RAISE EXCEPTION 'program "%" does not exist', program USING ERRCODE = 'LY005',
			HINT = 'Pass a loyalty.program code, or NULL for every program.';
	END IF;
END
$$;
COMMENT ON FUNCTION loyalty.check_program(text) IS
'Internal: the program argument of the analytics lists and segment questions is NULL (every program) or an existing code (LY005).';

CREATE FUNCTION loyalty.program_zones(program text,
	OUT time_zone text, OUT ids integer[], OUT every boolean)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
	PERFORM loyalty.check_program(program_zones.program);
	RETURN QUERY
	SELECT p.time_zone, array_agg(p.program_id ORDER BY p.code),
		   count(*) = (SELECT count(*) FROM loyalty.program)
	  FROM loyalty.program p
	 WHERE program_zones.program IS NULL OR p.code = program_zones.program
	 GROUP BY p.time_zone
	 ORDER BY min(p.code);
END
$$;
COMMENT ON FUNCTION loyalty.program_zones(text) IS
'Internal: the programs the lists read (one, or all when program is NULL; LY005 for an unknown code) grouped by time zone, one row per zone in the order of their first code: the zone, its programs'' ids, and every = true when they are all the programs (no need to filter the sales by program).';

CREATE FUNCTION loyalty.rfm(as_of timestamptz, program text DEFAULT NULL,
	OUT member_id bigint, OUT program_code text, OUT last_purchase date,
	OUT recency integer, OUT frequency integer, OUT monetary numeric,
	OUT r integer, OUT f integer, OUT m integer, OUT code text, OUT segment text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET jit = off AS $$
#variable_conflict use_column
DECLARE
	z record;
BEGIN
	PERFORM loyalty.check_as_of(rfm.as_of, 'rfm scores the sales up to as_of.');
	-- The programs of one time zone at a time: their sales are grouped by
	-- member first, with the zone a constant (no join per sale), and the
	-- members' programs are looked up per member afterwards.  Only when some
	-- program is left out are the sales filtered by their member's program.
	FOR z IN SELECT * FROM loyalty.program_zones(rfm.program) LOOP
		RETURN QUERY
		WITH x AS (
			-- one row per sale or return up to as_of; a purchase has its day
			SELECT s.member_id,
				   CASE WHEN s.return_of IS NULL THEN loyalty.local_date(s.occurred_at, z.time_zone) END AS day,
				   CASE WHEN s.return_of IS NULL THEN s.total ELSE -s.total END AS amount
			  FROM loyalty.sale s
			 WHERE s.member_id IS NOT NULL AND s.occurred_at <= rfm.as_of
			   AND (z.every
					OR s.member_id IN (SELECT mb.member_id FROM loyalty.member mb WHERE mb.program_id = ANY (z.ids)))
			OFFSET 0	-- not pulled up: each row's day is computed once, not once per aggregate
		), b AS (
			SELECT x.member_id, max(x.day) AS last_day, count(DISTINCT x.day) AS days, sum(x.amount) AS spend
			  FROM x
			 GROUP BY x.member_id
			HAVING max(x.day) IS NOT NULL
		), k AS (
			-- ranks from the worst value up: ties share the lowest rank
			SELECT b.*, p.code, loyalty.local_date(rfm.as_of, z.time_zone) - b.last_day AS recency_days,
				   count(*) OVER w AS pop,
				   rank() OVER (w ORDER BY b.last_day) AS r_rank,
				   rank() OVER (w ORDER BY b.days) AS f_rank,
				   rank() OVER (w ORDER BY b.spend) AS m_rank
			  FROM b
			  JOIN loyalty.member mb ON mb.member_id = b.member_id
			  JOIN loyalty.program p ON p.program_id = mb.program_id
			WINDOW w AS (PARTITION BY p.code)
		), sc AS (
			-- score = max(1, ceil(5 * (rank - 1) / (pop - 1))), in integers
			SELECT k.member_id, k.code, k.last_day, k.recency_days, k.days, k.spend,
				   CASE WHEN k.pop = 1 THEN 1 ELSE greatest(1, (5 * (k.r_rank - 1) + k.pop - 2) / (k.pop - 1)) END::integer AS rs,
				   CASE WHEN k.pop = 1 THEN 1 ELSE greatest(1, (5 * (k.f_rank - 1) + k.pop - 2) / (k.pop - 1)) END::integer AS fs,
				   CASE WHEN k.pop = 1 THEN 1 ELSE greatest(1, (5 * (k.m_rank - 1) + k.pop - 2) / (k.pop - 1)) END::integer AS ms
			  FROM k
		)
		SELECT sc.member_id, sc.code, sc.last_day, sc.recency_days, sc.days::integer, sc.spend,
			   sc.rs, sc.fs, sc.ms, sc.rs::text || sc.fs::text || sc.ms::text,
			   loyalty.rfm_segment(sc.rs, sc.fs, sc.ms)
		  FROM sc
		 ORDER BY sc.code, sc.member_id;
	END LOOP;
END
$$;
COMMENT ON FUNCTION loyalty.rfm(timestamptz, text) IS
'RFM of every member with a purchase up to as_of (of one program, or of each): recency in days, frequency in purchase days, monetary net of returns, scores 1..5 ranked within the member''s program (equal values, equal scores), the code and the named segment.';

CREATE FUNCTION loyalty.repurchase(from_at timestamptz, to_at timestamptz, within_days integer DEFAULT 90,
	by text DEFAULT NULL, program text DEFAULT NULL,
	OUT program_code text, OUT cohort date, OUT breakdown text,
	OUT new_customers bigint, OUT repurchasers bigint, OUT repurchase_rate numeric,
	OUT window_revenue numeric, OUT repeat_revenue numeric, OUT repeat_revenue_share numeric,
	OUT complete boolean)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET jit = off AS $$
#variable_conflict use_column
DECLARE
	v_days integer := COALESCE(repurchase.within_days, 90);
	z record;
	v_today date;
BEGIN
	IF repurchase.from_at IS NULL OR repurchase.to_at IS NULL THEN
		RAISE EXCEPTION 'from_at and to_at are required' USING ERRCODE = 'LY013',
			DETAIL = 'The cohorts are the members whose first purchase is in [from_at, to_at); use ''-infinity'' or ''infinity'' for no bound.';
	END IF;
	IF repurchase.from_at >= repurchase.to_at THEN
		RAISE EXCEPTION 'from_at % is not before to_at %', repurchase.from_at, repurchase.to_at
			USING ERRCODE = 'LY095', DETAIL = 'The cohorts are the members whose first purchase is in [from_at, to_at).';
	END IF;
	IF v_days NOT BETWEEN 1 AND 3660 THEN
		RAISE EXCEPTION 'within_days out of range: %', v_days USING ERRCODE = 'LY096',
			DETAIL = 'A member came back when another purchase day follows the first within 1 to 3660 days.';
	END IF;
	IF repurchase.by IS NOT NULL AND repurchase.by NOT IN ('store', 'region') THEN
		RAISE EXCEPTION 'repurchase has no breakdown "%"', repurchase.by USING ERRCODE = 'LY097',
			DETAIL = 'by is NULL (none), ''store'' or ''region'' (of the first purchase''s store).';
	END IF;
	-- One time zone's programs at a time (see rfm).  One pass over their
	-- sales, sorted by member: each row learns its member's first purchase
	-- (time and store) from a window, the rows of the first N + 2 days are
	-- kept, and the exact days are tested after.
	FOR z IN SELECT * FROM loyalty.program_zones(repurchase.program) LOOP
		v_today := loyalty.local_date(now(), z.time_zone);
		RETURN QUERY
		WITH x AS (
			SELECT s.member_id, s.return_of, s.total, s.occurred_at,
				   COALESCE(o.occurred_at, s.occurred_at) AS bought_at,	-- a return: when its sale was made
				   first_value(s.occurred_at) OVER w AS first_at,
				   first_value(s.store) OVER w AS first_store,
				   first_value(s.return_of IS NULL) OVER w AS has_purchase
			  FROM loyalty.sale s
			  LEFT JOIN loyalty.sale o ON o.sale_id = s.return_of
			 WHERE s.member_id IS NOT NULL
			   AND (z.every
					OR s.member_id IN (SELECT mb.member_id FROM loyalty.member mb WHERE mb.program_id = ANY (z.ids)))
			WINDOW w AS (PARTITION BY s.member_id ORDER BY s.return_of IS NOT NULL, s.occurred_at, s.sale_id)
		), y AS (
			SELECT x.*, loyalty.local_date(x.first_at, z.time_zone) AS first_day,
				   loyalty.local_date(x.occurred_at, z.time_zone) AS day,
				   loyalty.local_date(x.bought_at, z.time_zone) AS bought_day
			  FROM x
			 WHERE x.has_purchase AND x.first_at >= repurchase.from_at AND x.first_at < repurchase.to_at
			   AND x.occurred_at < x.first_at + (v_days + 2) * interval '1 day'
		), mw AS (
			-- per member, the purchases of days first_day .. first_day + N net
			-- of their refunds made by then; repeat: those after the first day
			SELECT y.member_id, y.first_day, y.first_store,
				   COALESCE(bool_or(y.return_of IS NULL AND y.day > y.first_day AND y.day <= y.first_day + v_days), false) AS came_back,
				   COALESCE(sum(CASE WHEN y.return_of IS NULL THEN y.total ELSE -y.total END)
							FILTER (WHERE y.day <= y.first_day + v_days AND y.bought_day <= y.first_day + v_days), 0) AS revenue,
				   COALESCE(sum(CASE WHEN y.return_of IS NULL THEN y.total ELSE -y.total END)
							FILTER (WHERE y.day <= y.first_day + v_days AND y.bought_day > y.first_day
									AND y.bought_day <= y.first_day + v_days), 0) AS repeat
			  FROM y
			 GROUP BY y.member_id, y.first_day, y.first_store
		)
		SELECT p.code, date_trunc('month', mw.first_day::timestamp)::date AS cohort,
			   CASE repurchase.by WHEN 'store' THEN mw.first_store WHEN 'region' THEN st.region END AS breakdown,
			   count(*), count(*) FILTER (WHERE mw.came_back),
			   round(count(*) FILTER (WHERE mw.came_back)::numeric / count(*), 4),
			   sum(mw.revenue), sum(mw.repeat),
			   round(sum(mw.repeat) / NULLIF(sum(mw.revenue), 0), 4),
			   max(mw.first_day) + v_days < v_today
		  FROM mw
		  JOIN loyalty.member mb ON mb.member_id = mw.member_id
		  JOIN loyalty.program p ON p.program_id = mb.program_id
		  LEFT JOIN loyalty.store st ON repurchase.by = 'region' AND st.store = mw.first_store
		 GROUP BY p.code, 2, 3
		 ORDER BY p.code, 2, 3 NULLS LAST;
	END LOOP;
END
$$;
COMMENT ON FUNCTION loyalty.repurchase(timestamptz, timestamptz, integer, text, text) IS
'Per program and first-purchase cohort (month; optionally by the first purchase''s store or region): new customers, how many bought again on another day within within_days days of the first purchase day, the share, and the share of the cohort''s revenue in that window that the repeat purchases brought (RN3 with 90 days).';

CREATE FUNCTION loyalty.activity(as_of timestamptz, by text DEFAULT NULL, program text DEFAULT NULL,
	OUT program_code text, OUT breakdown text, OUT enrolled bigint, OUT customers bigint,
	OUT active_12m bigint, OUT active_3m bigint)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET jit = off AS $$
#variable_conflict use_column
DECLARE
	z record;
	v_today date;
BEGIN
	PERFORM loyalty.check_as_of(activity.as_of, 'activity counts the members who bought in the 12 and 3 months up to as_of.');
	IF activity.by IS NOT NULL AND activity.by NOT IN ('store', 'region') THEN
		RAISE EXCEPTION 'activity has no breakdown "%"', activity.by USING ERRCODE = 'LY097',
			DETAIL = 'by is NULL (per program), ''store'' or ''region'' (of the store of each purchase).';
	END IF;
	-- one time zone's programs at a time (see rfm): the sales are grouped
	-- by member (and store) first, the members' programs looked up after
	FOR z IN SELECT * FROM loyalty.program_zones(activity.program) LOOP
		v_today := loyalty.local_date(activity.as_of, z.time_zone);
		RETURN QUERY
		WITH d AS (
			-- per member (and store), the last purchase day up to as_of
			SELECT s.member_id, CASE WHEN activity.by IS NOT NULL THEN s.store END AS store,
				   max(loyalty.local_date(s.occurred_at, z.time_zone)) AS last_day
			  FROM loyalty.sale s
			 WHERE s.member_id IS NOT NULL AND s.return_of IS NULL AND s.occurred_at <= activity.as_of
			   AND (z.every
					OR s.member_id IN (SELECT mb.member_id FROM loyalty.member mb WHERE mb.program_id = ANY (z.ids)))
			 GROUP BY s.member_id, 2
		), g AS (
			SELECT d.member_id, CASE activity.by WHEN 'store' THEN d.store WHEN 'region' THEN st.region END AS breakdown,
				   max(d.last_day) AS last_day
			  FROM d
			  LEFT JOIN loyalty.store st ON st.store = d.store
			 GROUP BY d.member_id, 2
		), a AS (
			SELECT mb.program_id, g.breakdown, count(*) AS customers,
				   count(*) FILTER (WHERE g.last_day > (v_today - interval '12 months')::date) AS a12,
				   count(*) FILTER (WHERE g.last_day > (v_today - interval '3 months')::date) AS a3
			  FROM g
			  JOIN loyalty.member mb ON mb.member_id = g.member_id
			 GROUP BY mb.program_id, g.breakdown
		)
		SELECT p.code, a.breakdown,
			   CASE WHEN activity.by IS NULL THEN
					(SELECT count(*) FROM loyalty.member mb
					  WHERE mb.program_id = p.program_id AND mb.enrolled_at <= activity.as_of) END,
			   COALESCE(a.customers, 0), COALESCE(a.a12, 0), COALESCE(a.a3, 0)
		  FROM loyalty.program p
		  LEFT JOIN a ON a.program_id = p.program_id
		 WHERE p.program_id = ANY (z.ids) AND (activity.by IS NULL OR a.program_id IS NOT NULL)
		 ORDER BY p.code, a.breakdown NULLS LAST;
	END LOOP;
END
$$;
COMMENT ON FUNCTION loyalty.activity(timestamptz, text, text) IS
'Active members as of a moment: per program (or program and store, or program and store region), the members enrolled by then (per program only), those with a purchase up to as_of, and those with a purchase day in the trailing 12 and 3 months.';

CREATE FUNCTION loyalty.callbacks(as_of timestamptz, days_after integer DEFAULT 3,
	OUT member_id bigint, OUT card loyalty.card, OUT program_code text, OUT purchase_day date,
	OUT stores text[], OUT categories text[], OUT skus text[], OUT amount numeric, OUT sale_ids bigint[])
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET jit = off AS $$
#variable_conflict use_column
DECLARE
	v_days integer := COALESCE(callbacks.days_after, 3);
BEGIN
	PERFORM loyalty.check_as_of(callbacks.as_of, 'callbacks lists the purchases of as_of''s day minus days_after.');
	IF v_days NOT BETWEEN 0 AND 3660 THEN
		RAISE EXCEPTION 'days_after out of range: %', v_days USING ERRCODE = 'LY096',
			DETAIL = 'days_after counts 0 to 3660 days back from as_of''s day.';
	END IF;
	RETURN QUERY
	WITH s AS (
		-- the sales near the day; the exact day test is below, in each
		-- sale's own zone (two days of slack cover every zone's offset)
		SELECT s.sale_id, s.member_id, s.store, s.total, s.lines, p.code,
			   loyalty.local_date(s.occurred_at, COALESCE(st.time_zone, p.time_zone)) AS day,
			   loyalty.local_date(callbacks.as_of, COALESCE(st.time_zone, p.time_zone)) AS today,
			   (SELECT sum(r.total) FROM loyalty.sale r
				 WHERE r.return_of = s.sale_id AND r.occurred_at <= callbacks.as_of) AS refunded
		  FROM loyalty.sale s
		  JOIN loyalty.member mb ON mb.member_id = s.member_id AND mb.status <> 'closed'
		  JOIN loyalty.program p ON p.program_id = mb.program_id
		  LEFT JOIN loyalty.store st ON st.store = s.store
		 WHERE s.member_id IS NOT NULL AND s.return_of IS NULL
		   AND s.occurred_at <= callbacks.as_of
		   AND s.occurred_at > callbacks.as_of - (v_days + 2) * interval '1 day'
		   AND s.occurred_at < callbacks.as_of - (v_days - 2) * interval '1 day'
	), k AS (
		SELECT s.* FROM s
		 WHERE s.day = s.today - v_days
		   AND (s.refunded IS NULL OR s.refunded < s.total)
	), g AS (
		SELECT k.member_id, k.code, k.day,
			   array_agg(DISTINCT k.store ORDER BY k.store) AS stores,
			   sum(k.total - COALESCE(k.refunded, 0)) AS amount,
			   array_agg(k.sale_id ORDER BY k.sale_id) AS sale_ids,
			   jsonb_agg(k.lines) AS lines
		  FROM k
		 GROUP BY k.member_id, k.code, k.day
	)
	SELECT g.member_id, c.card, g.code, g.day, g.stores,
		   ARRAY(SELECT DISTINCT v #>> '{}' FROM jsonb_path_query(g.lines, '$[*][*].category') v
				  WHERE jsonb_typeof(v) = 'string' ORDER BY 1),
		   ARRAY(SELECT DISTINCT v #>> '{}' FROM jsonb_path_query(g.lines, '$[*][*].sku') v
				  WHERE jsonb_typeof(v) = 'string' ORDER BY 1),
		   g.amount, g.sale_ids
	  FROM g
	  LEFT JOIN loyalty.member_card c ON c.member_id = g.member_id AND c.replaced_at IS NULL
	 ORDER BY g.code, g.member_id, g.day;
END
$$;
COMMENT ON FUNCTION loyalty.callbacks(timestamptz, integer) IS
'The follow-up call list: members (not closed) with a purchase on the day days_after days before as_of''s day (each sale''s day at its store), one row per member and day with the stores, categories and skus bought, the spend net of refunds made by as_of, and the sales; a sale refunded in full is left out.';

CREATE FUNCTION loyalty.buyers_of(skus text[] DEFAULT NULL, categories text[] DEFAULT NULL,
	since timestamptz DEFAULT NULL,
	OUT member_id bigint, OUT card loyalty.card, OUT program_code text,
	OUT bought_skus text[], OUT bought_categories text[], OUT sales bigint,
	OUT first_bought_at timestamptz, OUT last_bought_at timestamptz)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET jit = off AS $$
#variable_conflict use_column
DECLARE
	v_skus text[] := COALESCE(buyers_of.skus, '{}');
	v_categories text[] := COALESCE(buyers_of.categories, '{}');
BEGIN
	IF array_position(v_skus, NULL) IS NOT NULL OR array_position(v_categories, NULL) IS NOT NULL
	   OR cardinality(array_remove(v_skus, NULL)) + cardinality(array_remove(v_categories, NULL)) = 0 THEN
		RAISE EXCEPTION 'skus or categories are required, without NULL elements' USING ERRCODE = 'LY013',
			DETAIL = 'buyers_of lists the members who bought any of the skus or any of the categories.';
	END IF;
	RETURN QUERY
	WITH hit AS (
		-- the predicate of the GIN indexes sale_line_sku_idx and
		-- sale_line_category_idx, word for word: a bitmap scan of each
		SELECT s.member_id, s.occurred_at, s.lines
		  FROM loyalty.sale s
		 WHERE (pg_catalog.jsonb_path_query_array(s.lines, '$[*].sku') OPERATOR(pg_catalog.?|) v_skus
				OR pg_catalog.jsonb_path_query_array(s.lines, '$[*].category') OPERATOR(pg_catalog.?|) v_categories)
		   AND s.member_id IS NOT NULL AND s.return_of IS NULL
		   AND s.occurred_at >= COALESCE(buyers_of.since, '-infinity')
	), g AS (
		SELECT h.member_id, count(*) AS sales, min(h.occurred_at) AS first_at, max(h.occurred_at) AS last_at,
			   jsonb_agg(h.lines) AS lines
		  FROM hit h
		 GROUP BY h.member_id
	)
	SELECT g.member_id, c.card, p.code,
		   ARRAY(SELECT DISTINCT v #>> '{}' FROM jsonb_path_query(g.lines, '$[*][*].sku') v
				  WHERE jsonb_typeof(v) = 'string' AND (v #>> '{}') = ANY (v_skus) ORDER BY 1),
		   ARRAY(SELECT DISTINCT v #>> '{}' FROM jsonb_path_query(g.lines, '$[*][*].category') v
				  WHERE jsonb_typeof(v) = 'string' AND (v #>> '{}') = ANY (v_categories) ORDER BY 1),
		   g.sales, g.first_at, g.last_at
	  FROM g
	  JOIN loyalty.member mb ON mb.member_id = g.member_id AND mb.status <> 'closed'
	  JOIN loyalty.program p ON p.program_id = mb.program_id
	  LEFT JOIN loyalty.member_card c ON c.member_id = g.member_id AND c.replaced_at IS NULL
	 ORDER BY g.member_id;
END
$$;
COMMENT ON FUNCTION loyalty.buyers_of(text[], text[], timestamptz) IS
'Members (not closed) who bought any of the skus or any of the categories since a moment (NULL: ever), for discontinuation notices: which of them they bought, how many sales, first and last; found through the GIN indexes on the sales'' lines.';

CREATE FUNCTION loyalty.home_store_transfn(state internal, store text, occurred_at timestamptz, as_of timestamptz) RETURNS internal
LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_home_store_transfn';
COMMENT ON FUNCTION loyalty.home_store_transfn(internal, text, timestamptz, timestamptz) IS
'Internal: transition function of home_store(store, occurred_at, as_of), half-life 180 days.';
CREATE FUNCTION loyalty.home_store_transfn(state internal, store text, occurred_at timestamptz, as_of timestamptz,
	half_life interval) RETURNS internal
LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_home_store_transfn_half_life';
COMMENT ON FUNCTION loyalty.home_store_transfn(internal, text, timestamptz, timestamptz, interval) IS
'Internal: transition function of home_store(store, occurred_at, as_of, half_life).';
CREATE FUNCTION loyalty.home_store_combine(state internal, other internal) RETURNS internal
LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_home_store_combine';
COMMENT ON FUNCTION loyalty.home_store_combine(internal, internal) IS
'Internal: combines two partial home_store states (parallel aggregation).';
CREATE FUNCTION loyalty.home_store_serialize(state internal) RETURNS bytea
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_home_store_serialize';
COMMENT ON FUNCTION loyalty.home_store_serialize(internal) IS
'Internal: a partial home_store state as bytea (parallel aggregation).';
CREATE FUNCTION loyalty.home_store_deserialize(bytes bytea, state internal) RETURNS internal
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_home_store_deserialize';
COMMENT ON FUNCTION loyalty.home_store_deserialize(bytea, internal) IS
'Internal: a partial home_store state from bytea, checked (parallel aggregation).';
CREATE FUNCTION loyalty.home_store_final(state internal) RETURNS text
LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_home_store_final';
COMMENT ON FUNCTION loyalty.home_store_final(internal) IS
'Internal: final function of home_store: the store of the greatest weight.';

CREATE AGGREGATE loyalty.home_store(store text, occurred_at timestamptz, as_of timestamptz) (
	SFUNC = loyalty.home_store_transfn,
	STYPE = internal,
	FINALFUNC = loyalty.home_store_final,
	COMBINEFUNC = loyalty.home_store_combine,
	SERIALFUNC = loyalty.home_store_serialize,
	DESERIALFUNC = loyalty.home_store_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE loyalty.home_store(text, timestamptz, timestamptz) IS
'The store of the greatest recency-weighted number of visits: each row weighs 2^(-(as_of - occurred_at) / 180 days); rows after as_of or with a NULL store or time are skipped.';
CREATE AGGREGATE loyalty.home_store(store text, occurred_at timestamptz, as_of timestamptz, half_life interval) (
	SFUNC = loyalty.home_store_transfn,
	STYPE = internal,
	FINALFUNC = loyalty.home_store_final,
	COMBINEFUNC = loyalty.home_store_combine,
	SERIALFUNC = loyalty.home_store_serialize,
	DESERIALFUNC = loyalty.home_store_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE loyalty.home_store(text, timestamptz, timestamptz, interval) IS
'The store of the greatest recency-weighted number of visits: each row weighs 2^(-(as_of - occurred_at) / half_life) (NULL: 180 days); rows after as_of or with a NULL store or time are skipped.';

CREATE FUNCTION loyalty.home_stores(as_of timestamptz, half_life interval DEFAULT '180 days',
	program text DEFAULT NULL,
	OUT member_id bigint, OUT program_code text, OUT home_store text, OUT recorded_home_store text,
	OUT visits bigint, OUT last_visit_at timestamptz)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET jit = off AS $$
#variable_conflict use_column
BEGIN
	PERFORM loyalty.check_as_of(home_stores.as_of, 'home_stores weighs each visit by its age at as_of.');
	IF home_stores.half_life <= interval '0' THEN
		RAISE EXCEPTION 'half_life must be positive: "%"', home_stores.half_life USING ERRCODE = 'LY096',
			DETAIL = 'A visit half_life before as_of weighs half as much as a visit at as_of.';
	END IF;
	PERFORM loyalty.check_program(home_stores.program);
	RETURN QUERY
	WITH h AS (
		-- grouped by member first; the members' programs are looked up after
		SELECT s.member_id,
			   loyalty.home_store(s.store, s.occurred_at, home_stores.as_of, home_stores.half_life) AS home,
			   count(*) AS visits, max(s.occurred_at) AS last_at
		  FROM loyalty.sale s
		 WHERE s.member_id IS NOT NULL AND s.return_of IS NULL AND s.occurred_at <= home_stores.as_of
		   AND (home_stores.program IS NULL
				OR s.member_id IN (SELECT mb.member_id FROM loyalty.member mb
									 JOIN loyalty.program p ON p.program_id = mb.program_id
									WHERE p.code = home_stores.program))
		 GROUP BY s.member_id
	)
	SELECT h.member_id, p.code, h.home, mb.home_store, h.visits, h.last_at
	  FROM h
	  JOIN loyalty.member mb ON mb.member_id = h.member_id
	  JOIN loyalty.program p ON p.program_id = mb.program_id
	 ORDER BY h.member_id;
END
$$;
COMMENT ON FUNCTION loyalty.home_stores(timestamptz, interval, text) IS
'Every member''s home store as of a moment from the purchases up to then (home_store, recency-weighted with half_life; NULL: 180 days), beside member.home_store as recorded, with the visits counted and the latest: old customers back to their old store.';

REVOKE EXECUTE ON FUNCTION
	loyalty.check_as_of(timestamptz, text),
	loyalty.check_program(text),
	loyalty.program_zones(text),
	loyalty.rfm_segment(integer, integer, integer),
	loyalty.rfm(timestamptz, text),
	loyalty.repurchase(timestamptz, timestamptz, integer, text, text),
	loyalty.activity(timestamptz, text, text),
	loyalty.callbacks(timestamptz, integer),
	loyalty.buyers_of(text[], text[], timestamptz),
	loyalty.home_store_transfn(internal, text, timestamptz, timestamptz),
	loyalty.home_store_transfn(internal, text, timestamptz, timestamptz, interval),
	loyalty.home_store_combine(internal, internal),
	loyalty.home_store_serialize(internal),
	loyalty.home_store_deserialize(bytea, internal),
	loyalty.home_store_final(internal),
	loyalty.home_store(text, timestamptz, timestamptz),
	loyalty.home_store(text, timestamptz, timestamptz, interval),
	loyalty.home_stores(timestamptz, interval, text)
FROM PUBLIC;

-- grant_access gives the analytics lists to analyst and admin (run it again for existing roles)
-- (grant_access: made once, at the end of this script)


-- section: segments
-- (0.6.0, issue 9 item 7): the objects of src/sql/segment.sql as a fresh
-- install makes them (rule.segments included); grant_access at the end
-- gives the analyst the features and the segment history, the admin also
-- segments and refresh_segments.

--
-- Segments (0.6.0): a documented set of per-member features at a moment
-- (loyalty.member_features_at, the view loyalty.member_features), segments
-- defined as a predicate over them (loyalty.segment, admin only), their
-- membership materialised with enter and exit days by
-- loyalty.refresh_segments, and the analyst's questions over that history
-- (segment_sizes, segment_overlap, segment_migration).  Earning rules can
-- target segments (rule.segments): the sale trigger reads the member's
-- current segments by one index probe (src/segment.c), only for a program
-- that has such a rule.
--
-- A predicate is SQL written by an admin.  It is checked when written (one
-- boolean expression over the features' columns, LY063) and evaluated by
-- refresh_segments as the role that wrote the predicate (run_as, stamped by
-- a trigger), in a security-restricted operation (no SET ROLE,
-- no SET SESSION AUTHORIZATION, GUC changes undone): never with more
-- privileges than its author's (src/segment.c).
--

CREATE FUNCTION loyalty.member_features_at(as_of timestamptz, program text DEFAULT NULL,
	OUT member_id bigint, OUT program_code text, OUT card loyalty.card, OUT status text,
	OUT enrolled_at timestamptz, OUT age integer, OUT gender text, OUT region text,
	OUT income_band text, OUT channel text, OUT attributes jsonb, OUT tier text,
	OUT recency_days integer, OUT frequency integer, OUT monetary numeric,
	OUT r integer, OUT f integer, OUT m integer, OUT rfm_code text, OUT rfm_segment text,
	OUT visit_days integer, OUT mean_gap_days double precision, OUT next_expected date,
	OUT p_alive double precision, OUT categories text[], OUT home_store text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET jit = off SET TimeZone = 'UTC'
SET client_min_messages = warning AS $$
#variable_conflict use_column
DECLARE
	p record;
	v_one boolean := (SELECT count(*) FROM loyalty.program) = 1;
	v_base text;
BEGIN
	PERFORM loyalty.check_as_of(member_features_at.as_of, 'member_features_at describes every member at as_of.');
	PERFORM loyalty.check_program(member_features_at.program);
	-- One program at a time, in its time zone: the days of cadence and
	-- purchase_summary (the session's TimeZone, set here and undone when the
	-- function returns) are then the program's days, as rfm's are.
	FOR p IN
		SELECT pr.program_id, pr.code, pr.time_zone
		  FROM loyalty.program pr
		 WHERE member_features_at.program IS NULL OR pr.code = member_features_at.program
		 ORDER BY pr.code
	LOOP
		PERFORM set_config('TimeZone', p.time_zone, true);
		v_base := (SELECT t.code FROM loyalty.tier t WHERE t.program_id = p.program_id AND t.rank = 0);
		RETURN QUERY
		WITH s AS (
			SELECT s.member_id, s.store, s.occurred_at, s.return_of, s.total, s.lines
			  FROM loyalty.sale s
			 WHERE s.member_id IS NOT NULL AND s.occurred_at <= member_features_at.as_of
			   AND (v_one OR s.member_id IN (SELECT mb.member_id FROM loyalty.member mb
											  WHERE mb.program_id = p.program_id))
		), a AS (
			SELECT s.member_id,
				   loyalty.cadence(s.occurred_at) FILTER (WHERE s.return_of IS NULL) AS cad,
				   loyalty.home_store(s.store, s.occurred_at, member_features_at.as_of)
						FILTER (WHERE s.return_of IS NULL) AS home
			  FROM s
			 GROUP BY s.member_id
		), c AS (
			SELECT s.member_id, array_agg(DISTINCT v.cat #>> '{}' ORDER BY v.cat #>> '{}') AS cats
			  FROM s, jsonb_path_query(s.lines, '$[*].category') AS v(cat)
			 WHERE s.return_of IS NULL AND jsonb_typeof(v.cat) = 'string'
			 GROUP BY s.member_id
		), rf AS (
			SELECT * FROM loyalty.rfm(member_features_at.as_of, p.code)
		), mv AS (
			-- P(alive) as member_value gives it (its fit per program; NULL when
			-- the data cannot identify the model, its NOTICE silenced here)
			SELECT v.member_id, v.p_alive FROM loyalty.member_value(member_features_at.as_of, p.code) v
		)
		SELECT mb.member_id, p.code, mc.card, mb.status, mb.enrolled_at,
			   extract(year FROM age(loyalty.local_date(member_features_at.as_of, p.time_zone),
									 mb.birth_date))::integer,
			   mb.gender, mb.region, mb.income_band, mb.channel, mb.attributes,
			   COALESCE(tc.code, v_base),
			   rf.recency, rf.frequency, rf.monetary, rf.r, rf.f, rf.m, rf.code, rf.segment,
			   (a.cad).visit_days, (a.cad).mean_gap, (a.cad).next_expected,
			   mv.p_alive,
			   COALESCE(c.cats, '{}'), a.home
		  FROM loyalty.member mb
		  LEFT JOIN loyalty.member_card mc ON mc.member_id = mb.member_id AND mc.replaced_at IS NULL
		  LEFT JOIN a ON a.member_id = mb.member_id
		  LEFT JOIN c ON c.member_id = mb.member_id
		  LEFT JOIN rf ON rf.member_id = mb.member_id
		  LEFT JOIN mv ON mv.member_id = mb.member_id
		  LEFT JOIN LATERAL (
				SELECT t.code
				  FROM loyalty.tier_change ch JOIN loyalty.tier t ON t.tier_id = ch.to_tier_id
				 WHERE ch.member_id = mb.member_id AND ch.changed_at <= member_features_at.as_of
				 ORDER BY ch.changed_at DESC, ch.change_id DESC
				 LIMIT 1) tc ON v_base IS NOT NULL
		 WHERE mb.program_id = p.program_id AND mb.enrolled_at <= member_features_at.as_of
		 ORDER BY mb.member_id;
	END LOOP;
END
$$;
COMMENT ON FUNCTION loyalty.member_features_at(timestamptz, text) IS
'One row per member enrolled by as_of (of one program, or of each): demographics, the tier at as_of, RFM, cadence, P(alive) of one BG/NBD fit per program, the categories bought and the home store; days in the program''s time zone.  The columns segment predicates are written over (README, "Segments").';

CREATE VIEW loyalty.member_features AS
	SELECT * FROM loyalty.member_features_at(pg_catalog.now());
COMMENT ON VIEW loyalty.member_features IS 'loyalty.member_features_at(now()): every member''s features now; the columns a segment predicate may use.';

-- A predicate must be one expression: parsed as SELECT (predicate) and
-- nothing else (src/segment.c).
CREATE FUNCTION loyalty.segment_predicate_check(predicate text) RETURNS void
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_segment_predicate_check';
COMMENT ON FUNCTION loyalty.segment_predicate_check(text) IS
'Internal: LY063 unless the text is one SQL expression (no statement, clause or comment around it).';

CREATE SEQUENCE loyalty.segment_id_seq;
COMMENT ON SEQUENCE loyalty.segment_id_seq IS 'Segment ids.';
CREATE TABLE loyalty.segment (
	segment_id		bigint NOT NULL DEFAULT pg_catalog.nextval('loyalty.segment_id_seq') PRIMARY KEY,
	program_id		integer NOT NULL REFERENCES loyalty.program,
	code			text NOT NULL CHECK (code <> ''),
	name			text,
	predicate		text NOT NULL,
	description		text,
	run_as			regrole NOT NULL DEFAULT current_user::regrole,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by		text NOT NULL DEFAULT current_user,
	UNIQUE (program_id, code)
);
COMMENT ON TABLE loyalty.segment IS 'Segments of a program''s members: a boolean SQL expression over the columns of loyalty.member_features; membership is materialised by refresh_segments into loyalty.segment_member.';
COMMENT ON COLUMN loyalty.segment.predicate IS 'One boolean SQL expression over the columns of loyalty.member_features (names resolved with search_path pg_catalog, pg_temp: qualify loyalty functions); checked when written (LY063).';
COMMENT ON COLUMN loyalty.segment.run_as IS 'The role that wrote the predicate (set by a trigger, whatever the statement says): refresh_segments evaluates the predicate as this role, in a security-restricted operation.';

CREATE TABLE loyalty.segment_member (
	member_id		bigint NOT NULL REFERENCES loyalty.member,
	segment_id		bigint NOT NULL REFERENCES loyalty.segment ON DELETE CASCADE,
	entered_on		date NOT NULL,
	exited_on		date,
	PRIMARY KEY (member_id, segment_id, entered_on),
	CHECK (exited_on > entered_on)
);
CREATE UNIQUE INDEX segment_member_current_idx ON loyalty.segment_member (member_id, segment_id)
	WHERE exited_on IS NULL;
CREATE INDEX segment_member_segment_idx ON loyalty.segment_member (segment_id, entered_on);
COMMENT ON TABLE loyalty.segment_member IS 'Segment membership history: a member is in the segment on the days [entered_on, exited_on) (exited_on NULL: still in it); a re-entry is a new row.  Days in the program''s time zone.';

CREATE TABLE loyalty.segment_refresh (
	segment_id		bigint NOT NULL REFERENCES loyalty.segment ON DELETE CASCADE,
	as_of			timestamptz NOT NULL,
	day				date NOT NULL,
	members			bigint NOT NULL,
	entered			bigint NOT NULL,
	exited			bigint NOT NULL,
	refreshed_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (segment_id, as_of)
);
COMMENT ON TABLE loyalty.segment_refresh IS 'One row per segment and refresh_segments as_of: the members after it and how many entered and exited.';

-- A predicate is checked as its writer: one expression (LY063 otherwise),
-- over the columns of member_features, of type boolean.  Planned and
-- initialised over no row (WHERE false): nothing of it runs, but its names,
-- types and EXECUTE privileges are checked.  run_as: the role that wrote the
-- predicate, whatever the statement says; an update that leaves the
-- predicate as it was (a new name, a description) keeps run_as.  An insert
-- that names another run_as keeps it (and created_by, created_at) only when
-- the inserting role has that role's privileges: pg_restore's superuser
-- restores each segment as its writer wrote it, instead of lending every
-- predicate its own rights.
CREATE FUNCTION loyalty.segment_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_state text;
	v_msg text;
BEGIN
	IF TG_OP = 'INSERT' AND NEW.run_as IS DISTINCT FROM current_user::regrole
	   AND pg_has_role(current_user, NEW.run_as, 'USAGE') THEN
		-- a row that names another writer whose privileges the inserting
		-- role has (pg_restore, a copy between databases): as it was
		-- written.  Stamped with the restoring superuser instead, a
		-- predicate would gain its rights.  Parsed, not planned: planning
		-- runs its immutable functions on constants, here with the
		-- inserting role's rights (it was planned as its writer when written).
		PERFORM loyalty.segment_predicate_check(NEW.predicate);
		RETURN NEW;
	ELSIF TG_OP = 'INSERT' THEN
		NEW.created_by := current_user;
		NEW.created_at := now();
		NEW.run_as := current_user::regrole;
	ELSIF NEW.predicate IS NOT DISTINCT FROM OLD.predicate THEN
		NEW.run_as := OLD.run_as;
		RETURN NEW;
	ELSE
		NEW.run_as := current_user::regrole;
	END IF;
	BEGIN
		PERFORM loyalty.segment_predicate_check(NEW.predicate);
		EXECUTE format(E'SELECT CASE WHEN (\n%s\n) THEN 1 END FROM loyalty.member_features WHERE false',
					   NEW.predicate);
		-- and in the shape segment_hits evaluates it (a column of a
		-- subquery over the features aliased f, then a WHERE): an aggregate,
		-- a bare literal or NULL (typed text there), a column named through
		-- the view's name would pass the line above and break every refresh
		EXECUTE format(E'SELECT q.member_id FROM (SELECT f.member_id, (\n%s\n) AS hit FROM loyalty.member_features f WHERE false) q WHERE q.hit',
					   NEW.predicate);
	EXCEPTION WHEN syntax_error OR undefined_column OR undefined_function OR datatype_mismatch
				   OR undefined_table OR ambiguous_column OR ambiguous_function OR grouping_error
				   OR invalid_text_representation OR cannot_coerce THEN
		GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
		RAISE EXCEPTION 'invalid predicate of segment "%": %', NEW.code, v_msg USING ERRCODE = 'LY063',
			DETAIL = format('The predicate is one boolean expression over the columns of loyalty.member_features (SQLSTATE %s).', v_state),
			HINT = 'Qualify the extension''s functions (loyalty.x): names are resolved with search_path pg_catalog, pg_temp.';
	END;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.segment_check() IS 'Trigger: stamps run_as with the role that writes the predicate (created_by on insert; an update that keeps the predicate keeps run_as; an insert naming a run_as whose privileges the inserter has, as pg_restore does, keeps it) and refuses a predicate that is not one boolean expression over member_features (LY063).';
CREATE TRIGGER segment_check BEFORE INSERT OR UPDATE ON loyalty.segment
	FOR EACH ROW EXECUTE FUNCTION loyalty.segment_check();
ALTER TABLE loyalty.segment ENABLE ALWAYS TRIGGER segment_check;

-- A segment a rule targets keeps its code and program (LY065).
CREATE FUNCTION loyalty.segment_in_use() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_rule text;
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.code = OLD.code AND NEW.program_id = OLD.program_id THEN
		RETURN NEW;
	END IF;
	SELECT r.code INTO v_rule FROM loyalty.rule r
	 WHERE r.program_id = OLD.program_id AND OLD.code = ANY (r.segments)
	 ORDER BY r.code LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'segment "%" is targeted by rule "%"', OLD.code, v_rule USING ERRCODE = 'LY065',
			DETAIL = 'A rule''s segments name segments of its program by code.',
			HINT = 'Take the segment out of the rule''s segments first.';
	END IF;
	RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION loyalty.segment_in_use() IS 'Trigger: refuses to delete a segment, or change its code or program, while a rule of its program targets it (LY065).';
CREATE TRIGGER segment_in_use BEFORE UPDATE OR DELETE ON loyalty.segment
	FOR EACH ROW EXECUTE FUNCTION loyalty.segment_in_use();
ALTER TABLE loyalty.segment ENABLE ALWAYS TRIGGER segment_in_use;
CREATE TRIGGER rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.segment
	FOR EACH STATEMENT EXECUTE FUNCTION loyalty.rules_changed();

-- rule.segments: codes of segments of the rule's program (LY064 otherwise).
ALTER TABLE loyalty.rule ADD COLUMN segments text[]
	CHECK (pg_catalog.cardinality(segments) > 0 AND pg_catalog.array_position(segments, NULL) IS NULL);
COMMENT ON COLUMN loyalty.rule.segments IS 'Codes of segments of the rule''s program: the rule applies only to a member currently in at least one of them (as the last refresh_segments left it); NULL: every member.';

CREATE FUNCTION loyalty.rule_segments_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_missing text;
BEGIN
	IF NEW.segments IS NULL THEN
		RETURN NEW;
	END IF;
	SELECT c INTO v_missing
	  FROM unnest(NEW.segments) c
	 WHERE NOT EXISTS (SELECT FROM loyalty.segment s WHERE s.program_id = NEW.program_id AND s.code = c)
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'rule "%" targets segment "%", which its program does not have', NEW.code, v_missing
			USING ERRCODE = 'LY064', DETAIL = 'rule.segments names segments of the rule''s program by code.';
	END IF;
	-- the segments stay until this commits (segment_in_use sees the rule after)
	PERFORM FROM loyalty.segment s WHERE s.program_id = NEW.program_id AND s.code = ANY (NEW.segments) FOR KEY SHARE;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.rule_segments_check() IS 'Trigger: refuses a rule whose segments are not all segments of its program (LY064).';
CREATE TRIGGER rule_segments_check BEFORE INSERT OR UPDATE OF segments, program_id ON loyalty.rule
	FOR EACH ROW EXECUTE FUNCTION loyalty.rule_segments_check();
ALTER TABLE loyalty.rule ENABLE ALWAYS TRIGGER rule_segments_check;

-- The members of a program whose features satisfy a segment's predicate,
-- evaluated as the segment's run_as role in a security-restricted operation
-- (src/segment.c).  Called by refresh_segments only.
CREATE FUNCTION loyalty.segment_hits(features regclass, segment_id bigint) RETURNS bigint[]
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'loyalty_segment_hits';
COMMENT ON FUNCTION loyalty.segment_hits(regclass, bigint) IS
'Internal: the member_ids of a features table (member_features columns) of the segment''s program, not closed, whose features satisfy its predicate, evaluated as the segment''s run_as role in a security-restricted operation.';

CREATE FUNCTION loyalty.refresh_segments(as_of timestamptz DEFAULT now(),
	OUT program text, OUT segment text, OUT members bigint, OUT entered bigint, OUT exited bigint)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET jit = off AS $$
#variable_conflict use_column
DECLARE
	sg record;
	v_latest timestamptz;
	v_hits bigint[];
	v_day date;
	v_exited bigint;
	v_entered bigint;
	v_role regrole;
BEGIN
	PERFORM loyalty.check_as_of(refresh_segments.as_of, 'refresh_segments evaluates every segment over the members'' features at as_of.');
	-- one refresh at a time (sales and readers go on: they take weaker locks)
	LOCK TABLE loyalty.segment_refresh IN SHARE ROW EXCLUSIVE MODE;
	v_latest := (SELECT max(r.as_of) FROM loyalty.segment_refresh r);
	IF refresh_segments.as_of < v_latest THEN
		RAISE EXCEPTION 'as_of % is before the latest refresh, %', refresh_segments.as_of, v_latest
			USING ERRCODE = 'LY066',
			DETAIL = 'Segment history is recorded in order: a refresh is as of the latest one or later.';
	END IF;
	-- the features, computed once for every segment
	IF to_regclass('pg_temp.loyalty_segment_features') IS NOT NULL THEN
		DROP TABLE pg_temp.loyalty_segment_features;
	END IF;
	CREATE TEMP TABLE loyalty_segment_features ON COMMIT DROP AS
		SELECT * FROM loyalty.member_features_at(refresh_segments.as_of);
	ANALYZE pg_temp.loyalty_segment_features;
	FOR v_role IN SELECT DISTINCT s.run_as FROM loyalty.segment s JOIN pg_roles r ON r.oid = s.run_as LOOP
		EXECUTE format('GRANT SELECT ON pg_temp.loyalty_segment_features TO %s', v_role);
	END LOOP;
	FOR sg IN
		SELECT s.segment_id, s.code, p.code AS program_code, p.time_zone
		  FROM loyalty.segment s JOIN loyalty.program p ON p.program_id = s.program_id
		 ORDER BY p.code, s.code
	LOOP
		v_day := loyalty.local_date(refresh_segments.as_of, sg.time_zone);
		v_hits := loyalty.segment_hits('pg_temp.loyalty_segment_features'::regclass, sg.segment_id);
		-- exits: a row entered this same day goes (never a member at a day's end)
		WITH gone AS (
			SELECT sm.member_id, sm.entered_on
			  FROM loyalty.segment_member sm
			 WHERE sm.segment_id = sg.segment_id AND sm.exited_on IS NULL
			   AND sm.member_id <> ALL (v_hits)
		), d AS (
			DELETE FROM loyalty.segment_member sm USING gone g
			 WHERE sm.segment_id = sg.segment_id AND sm.member_id = g.member_id
			   AND sm.entered_on = g.entered_on AND g.entered_on = v_day
			RETURNING 1
		), u AS (
			UPDATE loyalty.segment_member sm SET exited_on = v_day FROM gone g
			 WHERE sm.segment_id = sg.segment_id AND sm.member_id = g.member_id
			   AND sm.entered_on = g.entered_on AND g.entered_on < v_day
			RETURNING 1
		)
		SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM u) INTO v_exited;
		-- entries: a row exited this same day is reopened, else a new row
		WITH came AS (
			SELECT h.member_id
			  FROM unnest(v_hits) AS h(member_id)
			 WHERE NOT EXISTS (SELECT FROM loyalty.segment_member sm
								WHERE sm.member_id = h.member_id AND sm.segment_id = sg.segment_id
								  AND sm.exited_on IS NULL)
		), reopened AS (
			UPDATE loyalty.segment_member sm SET exited_on = NULL FROM came c
			 WHERE sm.member_id = c.member_id AND sm.segment_id = sg.segment_id AND sm.exited_on = v_day
			RETURNING sm.member_id
		), ins AS (
			INSERT INTO loyalty.segment_member (member_id, segment_id, entered_on)
			SELECT c.member_id, sg.segment_id, v_day FROM came c
			 WHERE c.member_id NOT IN (SELECT rr.member_id FROM reopened rr)
			RETURNING 1
		)
		SELECT (SELECT count(*) FROM reopened) + (SELECT count(*) FROM ins) INTO v_entered;
		INSERT INTO loyalty.segment_refresh AS r (segment_id, as_of, day, members, entered, exited)
		VALUES (sg.segment_id, refresh_segments.as_of, v_day, cardinality(v_hits), v_entered, v_exited)
		ON CONFLICT (segment_id, as_of) DO UPDATE
		   SET members = EXCLUDED.members, entered = r.entered + EXCLUDED.entered,
			   exited = r.exited + EXCLUDED.exited, refreshed_at = EXCLUDED.refreshed_at;
		program := sg.program_code;
		segment := sg.code;
		members := cardinality(v_hits);
		entered := v_entered;
		exited := v_exited;
		RETURN NEXT;
	END LOOP;
	DROP TABLE pg_temp.loyalty_segment_features;
END
$$;
COMMENT ON FUNCTION loyalty.refresh_segments(timestamptz) IS
'Evaluates every segment over the members'' features at as_of (computed once) and records who entered and exited, on as_of''s day in the program''s time zone; idempotent for one as_of; LY066 for an as_of before the latest refresh; one refresh at a time.';

-- Who was in which segment on a day, as the refreshes recorded it: one row
-- per segment (of one program, or of each) and member, a segment without
-- members once with member_id NULL.  The day condition lives here only.
CREATE FUNCTION loyalty.segment_members_on(day date, program text,
	OUT program_code text, OUT segment text, OUT name text, OUT member_id bigint)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
	IF segment_members_on.day IS NULL THEN
		RAISE EXCEPTION 'day is required' USING ERRCODE = 'LY013';
	END IF;
	PERFORM loyalty.check_program(segment_members_on.program);
	RETURN QUERY
	SELECT p.code, s.code, s.name, sm.member_id
	  FROM loyalty.segment s
	  JOIN loyalty.program p ON p.program_id = s.program_id
	  LEFT JOIN loyalty.segment_member sm
		ON sm.segment_id = s.segment_id AND sm.entered_on <= segment_members_on.day
	   AND (sm.exited_on IS NULL OR sm.exited_on > segment_members_on.day)
	 WHERE segment_members_on.program IS NULL OR p.code = segment_members_on.program;
END
$$;
COMMENT ON FUNCTION loyalty.segment_members_on(date, text) IS
'Internal: the members of every segment (of one program, or of each) on a day, a segment without members once with member_id NULL; LY005 for an unknown program (segment_sizes, segment_overlap, segment_migration).';

CREATE FUNCTION loyalty.segment_sizes(at date, program text DEFAULT NULL,
	OUT program_code text, OUT segment text, OUT name text, OUT members bigint)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
	IF segment_sizes.at IS NULL THEN
		RAISE EXCEPTION 'at is required' USING ERRCODE = 'LY013';
	END IF;
	RETURN QUERY
	SELECT o.program_code, o.segment, o.name, count(o.member_id)
	  FROM loyalty.segment_members_on(segment_sizes.at, segment_sizes.program) o
	 GROUP BY o.program_code, o.segment, o.name
	 ORDER BY o.program_code, o.segment;
END
$$;
COMMENT ON FUNCTION loyalty.segment_sizes(date, text) IS
'Members of every segment (of one program, or of each) on a day, as the refreshes recorded them.';

CREATE FUNCTION loyalty.segment_overlap(at date, program text DEFAULT NULL,
	OUT program_code text, OUT segment_a text, OUT segment_b text, OUT members bigint)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
	IF segment_overlap.at IS NULL THEN
		RAISE EXCEPTION 'at is required' USING ERRCODE = 'LY013';
	END IF;
	RETURN QUERY
	WITH m AS (
		SELECT * FROM loyalty.segment_members_on(segment_overlap.at, segment_overlap.program)
	), s AS (
		SELECT DISTINCT m.program_code, m.segment FROM m
	)
	SELECT a.program_code, a.segment, b.segment,
		   (SELECT count(*) FROM m ma JOIN m mb ON mb.member_id = ma.member_id
			 WHERE ma.program_code = a.program_code AND ma.segment = a.segment
			   AND mb.program_code = b.program_code AND mb.segment = b.segment)
	  FROM s a JOIN s b ON b.program_code = a.program_code AND b.segment > a.segment
	 ORDER BY a.program_code, a.segment, b.segment;
END
$$;
COMMENT ON FUNCTION loyalty.segment_overlap(date, text) IS
'Every pair of segments of a program (a before b by code) and the members in both on a day.';

CREATE FUNCTION loyalty.segment_migration(from_on date, to_on date, program text DEFAULT NULL,
	OUT program_code text, OUT from_segment text, OUT to_segment text, OUT members bigint)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
	IF segment_migration.from_on IS NULL OR segment_migration.to_on IS NULL THEN
		RAISE EXCEPTION 'from_on and to_on are required' USING ERRCODE = 'LY013';
	END IF;
	IF segment_migration.from_on > segment_migration.to_on THEN
		RAISE EXCEPTION 'from_on % is after to_on %', segment_migration.from_on, segment_migration.to_on
			USING ERRCODE = 'LY067', DETAIL = 'Migration is from the earlier day to the later one.';
	END IF;
	RETURN QUERY
	WITH f AS (
		SELECT o.member_id, o.program_code, o.segment AS code
		  FROM loyalty.segment_members_on(segment_migration.from_on, segment_migration.program) o
		 WHERE o.member_id IS NOT NULL
	), t AS (
		SELECT o.member_id, o.program_code, o.segment AS code
		  FROM loyalty.segment_members_on(segment_migration.to_on, segment_migration.program) o
		 WHERE o.member_id IS NOT NULL
	), left_ AS (
		SELECT f.* FROM f WHERE NOT EXISTS (SELECT FROM t WHERE t.member_id = f.member_id AND t.code = f.code)
	), entered AS (
		SELECT t.* FROM t WHERE NOT EXISTS (SELECT FROM f WHERE f.member_id = t.member_id AND f.code = t.code)
	), pairs AS (
		-- stayed: (a, a); moved: every segment left with every segment entered,
		-- "(none)" on the side that has none
		SELECT f.program_code, f.code AS a, f.code AS b
		  FROM f JOIN t ON t.member_id = f.member_id AND t.code = f.code
		UNION ALL
		SELECT COALESCE(l.program_code, e.program_code), COALESCE(l.code, '(none)'), COALESCE(e.code, '(none)')
		  FROM left_ l FULL JOIN entered e ON e.member_id = l.member_id
	)
	SELECT pairs.program_code, pairs.a, pairs.b, count(*)
	  FROM pairs
	 GROUP BY pairs.program_code, pairs.a, pairs.b
	 ORDER BY pairs.program_code, pairs.a, pairs.b;
END
$$;
COMMENT ON FUNCTION loyalty.segment_migration(date, date, text) IS
'Where members went between two days: (a, a) for a segment a member is in on both days; for the segments a member left and those it entered, every pair (left, entered), "(none)" on the side that has none; members per pair.';

REVOKE EXECUTE ON FUNCTION
	loyalty.member_features_at(timestamptz, text),
	loyalty.segment_predicate_check(text),
	loyalty.segment_check(),
	loyalty.segment_in_use(),
	loyalty.rule_segments_check(),
	loyalty.segment_hits(regclass, bigint),
	loyalty.refresh_segments(timestamptz),
	loyalty.segment_members_on(date, text),
	loyalty.segment_sizes(date, text),
	loyalty.segment_overlap(date, text),
	loyalty.segment_migration(date, date, text)
FROM PUBLIC;
REVOKE ALL ON loyalty.member_features, loyalty.segment, loyalty.segment_member, loyalty.segment_refresh FROM PUBLIC;
REVOKE ALL ON SEQUENCE loyalty.segment_id_seq FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('loyalty.segment', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.segment_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.segment_member', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.segment_refresh', '');

-- grant_access gives the segment functions (run it again for existing roles)
-- (grant_access: made once, at the end of this script)

--
-- Member value lists (0.6.0): every member's BG/NBD and Gamma-Gamma scores
-- from one fit of each model per program (member_value), the win-back list
-- built on it (winback) and the replenishment list of the cadence per member
-- and category (replenishment_due).  SQL over the C aggregates and
-- functions of analytics.sql.
--
-- Days are dates in the member's program's time zone, as in the other
-- analytics lists: purchase_summary counts days in the session's TimeZone,
-- so these functions carry SET TimeZone (the caller's setting comes back
-- when they return) and set it to each program's zone in turn with
-- set_config(..., true).  Times are in weeks (purchase_summary's default).
-- Setting a parameter and catching a fit's error (a subtransaction) cannot
-- be done in a parallel worker: the lists and value_fit are PARALLEL UNSAFE.
-- SECURITY DEFINER with search_path pg_catalog, pg_temp and jit off, like
-- lists.sql; nothing is executable by PUBLIC.
--

CREATE FUNCTION loyalty.value_check_args(as_of timestamptz, program text, horizon_weeks double precision,
	discount_rate double precision) RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM loyalty.check_as_of(as_of, 'The list reads the purchases up to as_of.');
	PERFORM loyalty.check_program(program);
	-- NULL passes: the callers put their defaults in first
	IF NOT (horizon_weeks > 0 AND horizon_weeks <= 100000) THEN
		RAISE EXCEPTION 'horizon_weeks out of range: %', horizon_weeks USING ERRCODE = 'LY072',
			DETAIL = 'The horizon of expected purchases and CLV is more than 0 and at most 100000 weeks.';
	END IF;
	IF NOT (discount_rate >= 0 AND discount_rate < 'infinity') THEN
		RAISE EXCEPTION 'discount_rate out of range: %', discount_rate USING ERRCODE = 'LY073',
			DETAIL = 'The discount rate is per week, 0 or more and finite (0.0018 a week is about 10% a year).';
	END IF;
END
$$;
COMMENT ON FUNCTION loyalty.value_check_args(timestamptz, text, double precision, double precision) IS
'Internal: the argument checks of member_value, winback and replenishment_due (LY013, LY017, LY016, LY005, LY072, LY073).';

CREATE FUNCTION loyalty.value_fit(as_of timestamptz, program bigint, given_bg loyalty.bgnbd_params,
	given_gg loyalty.gg_params,
	OUT program_id bigint, OUT bg loyalty.bgnbd_params, OUT gg loyalty.gg_params, OUT note text)
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_ps loyalty.purchase_summary[];
BEGIN
	program_id := program;
	bg := given_bg;
	gg := given_gg;
	IF bg IS NOT NULL AND gg IS NOT NULL THEN
		RETURN;
	END IF;
	SELECT array_agg(q.ps) INTO v_ps
	  FROM (SELECT loyalty.purchase_summary(s.occurred_at, CASE WHEN s.return_of IS NULL THEN s.total ELSE -s.total END,
											value_fit.as_of) AS ps
			  FROM loyalty.sale s
			  JOIN loyalty.member mb ON mb.member_id = s.member_id
			 WHERE mb.program_id = value_fit.program AND s.occurred_at <= value_fit.as_of
			 GROUP BY s.member_id) q;
	BEGIN
		bg := COALESCE(given_bg, (SELECT loyalty.bgnbd_fit(u.x, u.t_x, u.t) FROM unnest(v_ps) u WHERE given_bg IS NULL));
	EXCEPTION WHEN SQLSTATE 'LY092' OR SQLSTATE 'LY093' THEN
		note := SQLSTATE || ': ' || SQLERRM;
	END;
	BEGIN
		gg := COALESCE(given_gg, (SELECT loyalty.gg_fit(u.x, u.monetary) FROM unnest(v_ps) u WHERE given_gg IS NULL));
	EXCEPTION WHEN SQLSTATE 'LY092' OR SQLSTATE 'LY093' THEN
		note := concat_ws('; ', note, SQLSTATE || ': ' || SQLERRM);
	END;
	IF note IS NOT NULL THEN
		RAISE NOTICE 'program "%": %', (SELECT p.code FROM loyalty.program p WHERE p.program_id = value_fit.program), note;
	END IF;
END
$$;
COMMENT ON FUNCTION loyalty.value_fit(timestamptz, bigint, loyalty.bgnbd_params, loyalty.gg_params) IS
'Internal: the BG/NBD and Gamma-Gamma fits of one program''s members'' purchase summaries up to as_of (days in the session''s TimeZone), each NULL with a note (SQLSTATE: message) and a NOTICE when the data cannot identify it; a model given is taken as it is.';

CREATE FUNCTION loyalty.member_value(as_of timestamptz, program text DEFAULT NULL,
	horizon_weeks double precision DEFAULT 52, discount_rate double precision DEFAULT 0.0,
	bg loyalty.bgnbd_params DEFAULT NULL, gg loyalty.gg_params DEFAULT NULL,
	OUT member_id bigint, OUT program_code text, OUT x integer, OUT t_x double precision,
	OUT t double precision, OUT monetary double precision, OUT total numeric,
	OUT first_purchase_at timestamptz, OUT last_purchase_at timestamptz,
	OUT p_alive double precision, OUT expected_purchases double precision,
	OUT expected_spend double precision, OUT clv double precision, OUT model_note text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET jit = off SET TimeZone = 'UTC' AS $$
#variable_conflict use_column
DECLARE
	z record;
	v_horizon double precision := COALESCE(member_value.horizon_weeks, 52);
	v_discount double precision := COALESCE(member_value.discount_rate, 0);
	-- the fits of a zone's programs when some program's fit failed
	v_ids bigint[];
	v_bg loyalty.bgnbd_params[];
	v_gg loyalty.gg_params[];
	v_notes text[];
BEGIN
	PERFORM loyalty.value_check_args(member_value.as_of, member_value.program, v_horizon, v_discount);
	FOR z IN SELECT * FROM loyalty.program_zones(member_value.program) LOOP
		PERFORM pg_catalog.set_config('TimeZone', z.time_zone, true);
		v_ids := NULL;
		<<attempt>>
		LOOP
			BEGIN
				RETURN QUERY
				WITH s AS (
					SELECT s.member_id,
						   loyalty.purchase_summary(s.occurred_at, CASE WHEN s.return_of IS NULL THEN s.total ELSE -s.total END,
													member_value.as_of) AS ps
					  FROM loyalty.sale s
					 WHERE s.member_id IS NOT NULL AND s.occurred_at <= member_value.as_of
					   AND (z.every
							OR s.member_id IN (SELECT mb.member_id FROM loyalty.member mb WHERE mb.program_id = ANY (z.ids)))
					 GROUP BY s.member_id
				), m AS MATERIALIZED (
					SELECT s.member_id, mb.program_id, (s.ps).*
					  FROM s
					  JOIN loyalty.member mb ON mb.member_id = s.member_id
					 WHERE s.ps IS NOT NULL
				), f AS MATERIALIZED (
					-- one fit of each model per program (none for a model given);
					-- the fits made one by one, when one failed
					SELECT m.program_id,
						   COALESCE(member_value.bg, loyalty.bgnbd_fit(m.x, m.t_x, m.t) FILTER (WHERE member_value.bg IS NULL)) AS bg,
						   COALESCE(member_value.gg, loyalty.gg_fit(m.x, m.monetary) FILTER (WHERE member_value.gg IS NULL)) AS gg,
						   NULL::text AS note
					  FROM m
					 WHERE v_ids IS NULL
					 GROUP BY m.program_id
					UNION ALL
					SELECT v_ids[i], v_bg[i], v_gg[i], v_notes[i]
					  FROM generate_subscripts(v_ids, 1) i
				), v AS (
					SELECT m.*, f.note, p.code, f.bg, f.gg,
						   loyalty.gg_expected_spend(f.gg, m.x, greatest(m.monetary, 0)) AS spend
					  FROM m
					  JOIN f ON f.program_id = m.program_id
					  JOIN loyalty.program p ON p.program_id = m.program_id
					 -- every fit is made before the first row goes out
					 WHERE (SELECT count(*) FROM f) > 0
				)
				SELECT v.member_id, v.code, v.x, v.t_x, v.t, v.monetary, v.total, v.first_at, v.last_at,
					   loyalty.bgnbd_p_alive(v.bg, v.x, v.t_x, v.t),
					   loyalty.bgnbd_expected(v.bg, v_horizon, v.x, v.t_x, v.t),
					   v.spend,
					   CASE WHEN v.spend IS NOT NULL THEN
							loyalty.clv(v.bg, v.gg, v.x, v.t_x, v.t, greatest(v.monetary, 0),
										v_horizon, v_discount) END,
					   v.note
				  FROM v
				 ORDER BY v.code, v.member_id;
				EXIT attempt;
			EXCEPTION WHEN SQLSTATE 'LY092' OR SQLSTATE 'LY093' THEN
				IF v_ids IS NOT NULL THEN
					RAISE;
				END IF;
			END;
			-- some program's data cannot identify a model: each fit on its own
			SELECT array_agg(f.program_id), array_agg(f.bg), array_agg(f.gg), array_agg(f.note)
			  INTO v_ids, v_bg, v_gg, v_notes
			  FROM unnest(z.ids) i, loyalty.value_fit(member_value.as_of, i, member_value.bg, member_value.gg) f;
		END LOOP;
	END LOOP;
END
$$;
COMMENT ON FUNCTION loyalty.member_value(timestamptz, text, double precision, double precision, loyalty.bgnbd_params, loyalty.gg_params) IS
'Every member with a purchase up to as_of (of one program, or of each) scored by one BG/NBD and one Gamma-Gamma fit per program (or the bg and gg given) over its members'' purchase summaries in weeks: P(alive), expected purchases and CLV over horizon_weeks (discount_rate per week), expected spend per purchase; NULL scores and a model_note where the program''s data cannot identify a model.';

CREATE FUNCTION loyalty.winback(as_of timestamptz, program text DEFAULT NULL,
	max_p_alive double precision DEFAULT 0.5, min_value_rank double precision DEFAULT 0.5,
	bg loyalty.bgnbd_params DEFAULT NULL, gg loyalty.gg_params DEFAULT NULL,
	OUT member_id bigint, OUT card loyalty.card, OUT program_code text, OUT home_store text,
	OUT last_purchase_at timestamptz, OUT purchase_days integer, OUT total numeric,
	OUT value_rank double precision, OUT p_alive double precision, OUT clv double precision)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET jit = off AS $$
#variable_conflict use_column
DECLARE
	v_max double precision := COALESCE(winback.max_p_alive, 0.5);
	v_rank double precision := COALESCE(winback.min_value_rank, 0.5);
BEGIN
	PERFORM loyalty.value_check_args(winback.as_of, winback.program, 52, 0);
	IF NOT (v_max > 0 AND v_max <= 1) THEN
		RAISE EXCEPTION 'max_p_alive out of range: %', v_max USING ERRCODE = 'LY074',
			DETAIL = 'A member is listed when the probability that he is still a customer is at most max_p_alive, in (0, 1].';
	END IF;
	IF NOT (v_rank >= 0 AND v_rank <= 1) THEN
		RAISE EXCEPTION 'min_value_rank out of range: %', v_rank USING ERRCODE = 'LY075',
			DETAIL = 'value_rank is the percent rank of a member''s net spend in his program, from 0 to 1.';
	END IF;
	RETURN QUERY
	WITH v AS (
		-- ranked among every member of the program with a purchase
		SELECT mv.member_id, mv.program_code, mv.last_purchase_at, mv.x, mv.total, mv.p_alive, mv.clv,
			   percent_rank() OVER (PARTITION BY mv.program_code ORDER BY mv.total) AS value_rank
		  FROM loyalty.member_value(winback.as_of, winback.program, bg => winback.bg, gg => winback.gg) mv
	)
	SELECT v.member_id, c.card, v.program_code,
		   -- the home store on record; else where he shopped, from his sales
		   -- (sale_member_idx), only for the members listed
		   COALESCE(mb.home_store,
					(SELECT loyalty.home_store(s.store, s.occurred_at, winback.as_of)
					   FROM loyalty.sale s
					  WHERE s.member_id = v.member_id AND s.return_of IS NULL AND s.occurred_at <= winback.as_of)),
		   v.last_purchase_at, v.x + 1, v.total, v.value_rank, v.p_alive, v.clv
	  FROM v
	  JOIN loyalty.member mb ON mb.member_id = v.member_id AND mb.status <> 'closed'
	  LEFT JOIN loyalty.member_card c ON c.member_id = v.member_id AND c.replaced_at IS NULL
	 WHERE v.p_alive <= v_max AND v.value_rank >= v_rank
	 ORDER BY v.program_code, v.total DESC, v.member_id;
END
$$;
COMMENT ON FUNCTION loyalty.winback(timestamptz, text, double precision, double precision, loyalty.bgnbd_params, loyalty.gg_params) IS
'The win-back list: members (not closed) whose P(alive) at as_of is at most max_p_alive and whose net spend ranks at least min_value_rank (percent_rank within the program), the biggest spenders first, with card, home store (on record, else home_store of his purchases), last purchase, purchase days, spend and the 52-week CLV; the models fitted per program by member_value, or bg and gg as given.';

CREATE FUNCTION loyalty.replenishment_due(as_of timestamptz, within_days integer DEFAULT 7,
	program text DEFAULT NULL, min_purchase_days integer DEFAULT 3,
	max_regularity double precision DEFAULT 0.5, overdue_days integer DEFAULT 0,
	OUT member_id bigint, OUT card loyalty.card, OUT program_code text, OUT category text,
	OUT purchase_days integer, OUT last_bought date, OUT expected date, OUT days_until integer,
	OUT mean_gap double precision, OUT median_gap double precision, OUT regularity double precision)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET jit = off SET TimeZone = 'UTC' AS $$
#variable_conflict use_column
DECLARE
	z record;
	v_within integer := COALESCE(replenishment_due.within_days, 7);
	v_min integer := COALESCE(replenishment_due.min_purchase_days, 3);
	v_reg double precision := COALESCE(replenishment_due.max_regularity, 0.5);
	v_overdue integer := COALESCE(replenishment_due.overdue_days, 0);
	v_today date;
BEGIN
	PERFORM loyalty.value_check_args(replenishment_due.as_of, replenishment_due.program, 52, 0);
	IF v_within NOT BETWEEN 0 AND 3660 OR v_overdue NOT BETWEEN 0 AND 3660 THEN
		RAISE EXCEPTION 'within_days or overdue_days out of range: % and %', v_within, v_overdue USING ERRCODE = 'LY076',
			DETAIL = 'The list covers the expected days from as_of''s day minus overdue_days to as_of''s day plus within_days, each 0 to 3660.';
	END IF;
	IF v_min NOT BETWEEN 3 AND 100000 THEN
		RAISE EXCEPTION 'min_purchase_days out of range: %', v_min USING ERRCODE = 'LY077',
			DETAIL = 'A cadence needs two gaps at least (three purchase days) to say how regular it is.';
	END IF;
	IF NOT (v_reg >= 0 AND v_reg < 'infinity') THEN
		RAISE EXCEPTION 'max_regularity out of range: %', v_reg USING ERRCODE = 'LY078',
			DETAIL = 'Regularity is the coefficient of variation of the gaps: 0 or more (0: like clockwork).';
	END IF;
	-- One time zone's programs at a time, their days in it (see rfm)
	FOR z IN SELECT * FROM loyalty.program_zones(replenishment_due.program) LOOP
		PERFORM pg_catalog.set_config('TimeZone', z.time_zone, true);
		v_today := replenishment_due.as_of::date;
		RETURN QUERY
		WITH c AS (
			SELECT s.member_id, l.category, loyalty.cadence(s.occurred_at) AS cd
			  FROM loyalty.sale s
			 CROSS JOIN LATERAL (SELECT e #>> '{}' AS category
								   FROM jsonb_path_query(s.lines, '$[*].category') e
								  WHERE jsonb_typeof(e) = 'string') l
			 WHERE s.member_id IS NOT NULL AND s.return_of IS NULL AND s.occurred_at <= replenishment_due.as_of
			   AND (z.every
					OR s.member_id IN (SELECT mb.member_id FROM loyalty.member mb WHERE mb.program_id = ANY (z.ids)))
			 GROUP BY s.member_id, l.category
		), d AS (
			SELECT c.member_id, c.category, (c.cd).*
			  FROM c
		)
		SELECT d.member_id, mc.card, p.code, d.category, d.visit_days, d.last_day, d.next_expected,
			   d.next_expected - v_today, d.mean_gap, d.median_gap, d.regularity
		  FROM d
		  JOIN loyalty.member mb ON mb.member_id = d.member_id AND mb.status <> 'closed'
		  JOIN loyalty.program p ON p.program_id = mb.program_id
		  LEFT JOIN loyalty.member_card mc ON mc.member_id = d.member_id AND mc.replaced_at IS NULL
		 WHERE d.visit_days >= v_min AND d.regularity <= v_reg
		   AND d.next_expected BETWEEN v_today - v_overdue AND v_today + v_within
		 ORDER BY p.code, d.next_expected, d.member_id, d.category;
	END LOOP;
END
$$;
COMMENT ON FUNCTION loyalty.replenishment_due(timestamptz, integer, text, integer, double precision, integer) IS
'The replenishment list: per member (not closed) and category with at least min_purchase_days purchase days up to as_of and a regularity (coefficient of variation of the gaps) of at most max_regularity, the next expected purchase day (cadence: last day + median gap) when it falls from as_of''s day minus overdue_days to as_of''s day plus within_days; days in the program''s time zone.';

REVOKE EXECUTE ON FUNCTION
	loyalty.value_check_args(timestamptz, text, double precision, double precision),
	loyalty.value_fit(timestamptz, bigint, loyalty.bgnbd_params, loyalty.gg_params),
	loyalty.member_value(timestamptz, text, double precision, double precision, loyalty.bgnbd_params, loyalty.gg_params),
	loyalty.winback(timestamptz, text, double precision, double precision, loyalty.bgnbd_params, loyalty.gg_params),
	loyalty.replenishment_due(timestamptz, integer, text, integer, double precision, integer)
FROM PUBLIC;

--
-- section: vouchers
--
--
-- Vouchers (0.6.0): coupons with a code -- an amount, a percentage, points
-- or a free item -- issued to a member (or to the bearer) and used once or a
-- few times at the till.  loyalty.voucher_type says what a voucher is worth
-- and when and where it can be used; loyalty.voucher is one row per issued
-- voucher, with its own code; loyalty.voucher_use one row per use, keyed by
-- the POS's (store, pos_txn).  Issuing (src/voucher.c) writes its rows
-- without SQL; check_voucher and use_voucher judge a use in C.
--

CREATE SEQUENCE loyalty.voucher_type_id_seq AS integer;
COMMENT ON SEQUENCE loyalty.voucher_type_id_seq IS 'Voucher type ids.';
CREATE TABLE loyalty.voucher_type (
	voucher_type_id	integer NOT NULL DEFAULT pg_catalog.nextval('loyalty.voucher_type_id_seq') PRIMARY KEY,
	program_id		integer NOT NULL REFERENCES loyalty.program,
	code			text NOT NULL CHECK (code <> ''),
	name			text,
	kind			text NOT NULL CHECK (kind IN ('amount', 'percent', 'points', 'item')),
	value			numeric CHECK (value > 0 AND value <= 1000000000000000),
	sku				text CHECK (sku <> ''),
	min_basket		numeric CHECK (min_basket > 0 AND min_basket <= 1000000000000000),
	valid_days		integer CHECK (valid_days BETWEEN 1 AND 36600),
	valid_from		timestamptz,
	valid_to		timestamptz,
	days_of_week	integer[] CHECK (days_of_week <@ '{1,2,3,4,5,6,7}'::integer[] AND pg_catalog.cardinality(days_of_week) > 0),
	stores			text[] CHECK (pg_catalog.cardinality(stores) > 0),
	max_uses		integer NOT NULL DEFAULT 1 CHECK (max_uses BETWEEN 1 AND 1000000),
	member_bound	boolean NOT NULL DEFAULT true,
	UNIQUE (program_id, code),
	CONSTRAINT voucher_type_valid_check CHECK (valid_to > valid_from),
	CONSTRAINT voucher_type_item_sku_check CHECK ((kind = 'item') = (sku IS NOT NULL)),
	CONSTRAINT voucher_type_kind_value_check CHECK (CASE kind
		WHEN 'item' THEN value IS NULL
		WHEN 'percent' THEN value <= 100
		WHEN 'points' THEN value = pg_catalog.trunc(value)
		ELSE value IS NOT NULL END)
);
COMMENT ON TABLE loyalty.voucher_type IS 'What a voucher is worth and when, where and how often it can be used; loyalty.issue_voucher issues vouchers of a type.';
COMMENT ON COLUMN loyalty.voucher_type.code IS 'Name issue_voucher takes; unique per program.';
COMMENT ON COLUMN loyalty.voucher_type.kind IS 'amount (value off the basket, at most the basket), percent (value % of the basket, rounded to the cent), points (value points credited to the card''s member), item (one unit of sku free: its price in the basket).';
COMMENT ON COLUMN loyalty.voucher_type.value IS 'Money off (amount), percentage (percent, at most 100), points (points, whole); NULL for item. A voucher may carry its own value instead (loyalty.voucher.value).';
COMMENT ON COLUMN loyalty.voucher_type.sku IS 'The item an item voucher gives free; NULL for the other kinds.';
COMMENT ON COLUMN loyalty.voucher_type.min_basket IS 'Least basket (sum of the lines'' amounts) the voucher can be used on; NULL: any.';
COMMENT ON COLUMN loyalty.voucher_type.valid_days IS 'A voucher is valid this many days from its start (its issue, or valid_from if later); NULL: until valid_to, else no end.';
COMMENT ON COLUMN loyalty.voucher_type.valid_from IS 'No voucher of the type is valid before this moment (one issued earlier starts then); NULL: from its issue.';
COMMENT ON COLUMN loyalty.voucher_type.valid_to IS 'No voucher of the type is valid from this moment on; NULL: no fixed end.';
COMMENT ON COLUMN loyalty.voucher_type.days_of_week IS 'ISO days (1 = Monday) in the store''s, else the program''s, time zone; NULL: every day.';
COMMENT ON COLUMN loyalty.voucher_type.stores IS 'Stores the voucher can be used in; NULL: every store.';
COMMENT ON COLUMN loyalty.voucher_type.max_uses IS 'Uses of one voucher (1 by default).';
COMMENT ON COLUMN loyalty.voucher_type.member_bound IS 'true: only the member it was issued to can use it (with a card of theirs); false: a bearer voucher, usable by whoever has the code.';

-- One row per issued voucher.  Looked up by its code (voucher_code_key);
-- the member's vouchers by voucher_member_idx.  No member-leading key: a
-- bearer voucher has no member, and the till names a voucher by its code.
CREATE SEQUENCE loyalty.voucher_id_seq;
COMMENT ON SEQUENCE loyalty.voucher_id_seq IS 'Voucher ids.';
CREATE TABLE loyalty.voucher (
	voucher_id		bigint NOT NULL DEFAULT pg_catalog.nextval('loyalty.voucher_id_seq') PRIMARY KEY,
	code			text NOT NULL,
	voucher_type_id	integer NOT NULL REFERENCES loyalty.voucher_type,
	member_id		bigint REFERENCES loyalty.member,
	value			numeric CHECK (value > 0 AND value <= 1000000000000000),
	issued_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	valid_from		timestamptz NOT NULL,
	valid_to		timestamptz,
	uses_left		integer NOT NULL CHECK (uses_left >= 0),
	issued_by_sale	bigint,
	issued_by_rule	integer,
	actor			text NOT NULL DEFAULT SESSION_USER,
	CONSTRAINT voucher_code_key UNIQUE (code),
	CONSTRAINT voucher_valid_check CHECK (valid_to > valid_from)
);
CREATE INDEX voucher_member_idx ON loyalty.voucher (member_id) WHERE member_id IS NOT NULL;
COMMENT ON TABLE loyalty.voucher IS 'Issued vouchers, one row each: written by issue_voucher (and by the sale trigger''s voucher rules); uses_left goes down with each use_voucher.';
COMMENT ON COLUMN loyalty.voucher.code IS '13 characters of 23456789ABCDEFGHJKMNPQRSTUVWXYZ: 12 random (pg_strong_random), then a check character (README "Vouchers").';
COMMENT ON COLUMN loyalty.voucher.member_id IS 'The member it was issued to; NULL: a bearer voucher issued without a card.';
COMMENT ON COLUMN loyalty.voucher.value IS 'This voucher''s own value (a Christmas-tree voucher worth what the tree cost), in the unit of its type''s kind; NULL: the type''s value.';
COMMENT ON COLUMN loyalty.voucher.valid_from IS 'First moment it can be used.';
COMMENT ON COLUMN loyalty.voucher.valid_to IS 'It can be used before this moment; NULL: no end.';
COMMENT ON COLUMN loyalty.voucher.uses_left IS 'Uses left: the type''s max_uses at issue, one less for each use.';
COMMENT ON COLUMN loyalty.voucher.issued_by_sale IS 'The sale (or return) whose voucher rule issued it; NULL: issued by issue_voucher.';
COMMENT ON COLUMN loyalty.voucher.issued_by_rule IS 'The rule that issued it; NULL: issued by issue_voucher.';
COMMENT ON COLUMN loyalty.voucher.actor IS 'The session user who issued it.';

-- One row per use; (store, pos_txn) names one use, and a retry -- the same
-- code, card and lines -- is answered from it.
CREATE SEQUENCE loyalty.voucher_use_id_seq;
COMMENT ON SEQUENCE loyalty.voucher_use_id_seq IS 'Voucher use ids.';
CREATE TABLE loyalty.voucher_use (
	use_id			bigint NOT NULL DEFAULT pg_catalog.nextval('loyalty.voucher_use_id_seq') PRIMARY KEY,
	voucher_id		bigint NOT NULL REFERENCES loyalty.voucher,
	member_id		bigint REFERENCES loyalty.member,
	store			text NOT NULL,
	pos_txn			text NOT NULL,
	used_at			timestamptz NOT NULL,
	discount		numeric NOT NULL CHECK (discount >= 0),
	points			bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
	entry_id		bigint,
	uses_left		integer NOT NULL,
	actor			text NOT NULL DEFAULT SESSION_USER,
	card			loyalty.card,
	lines_hash		bigint NOT NULL,
	CONSTRAINT voucher_use_pos_txn_key UNIQUE (store, pos_txn),
	CONSTRAINT voucher_use_card_check CHECK ((card IS NULL) = (member_id IS NULL))
);
CREATE INDEX voucher_use_voucher_idx ON loyalty.voucher_use (voucher_id);
COMMENT ON TABLE loyalty.voucher_use IS 'Every use of a voucher, written by use_voucher under the voucher''s row lock; (store, pos_txn) names one use.';
COMMENT ON COLUMN loyalty.voucher_use.member_id IS 'The member of the card given at the till; NULL: a bearer voucher used without a card.';
COMMENT ON COLUMN loyalty.voucher_use.discount IS 'Money taken off the basket (0 for a points voucher).';
COMMENT ON COLUMN loyalty.voucher_use.points IS 'Points credited (a points voucher), by the ledger entry entry_id.';
COMMENT ON COLUMN loyalty.voucher_use.uses_left IS 'Uses of the voucher left after this one (what use_voucher answered).';
COMMENT ON COLUMN loyalty.voucher_use.card IS 'The card given at the till (member_id is its member); NULL: none. A retry must give the same card, or none again.';
COMMENT ON COLUMN loyalty.voucher_use.lines_hash IS 'pg_catalog.jsonb_hash_extended(lines, 0) of the basket given at the till: a retry must give lines equal as jsonb (same hash).';

-- Which vouchers paid for a sale (the POS names them); explain_sale shows them.
ALTER TABLE loyalty.sale ADD COLUMN vouchers text[];
COMMENT ON COLUMN loyalty.sale.vouchers IS 'Codes of the vouchers used on this sale (used with use_voucher at the same store); explain_sale lists them.';

CREATE FUNCTION loyalty.voucher_code_is_valid(code text) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_voucher_code_is_valid';
COMMENT ON FUNCTION loyalty.voucher_code_is_valid(text) IS
'Whether the text is a well-formed voucher code with the right check character (hyphens and spaces ignored, any case), without looking it up.';

CREATE FUNCTION loyalty.issue_voucher(voucher_type text, card loyalty.card,
	value numeric DEFAULT NULL, valid_from timestamptz DEFAULT NULL, program text DEFAULT NULL)
RETURNS text
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_issue_voucher';
COMMENT ON FUNCTION loyalty.issue_voucher(text, loyalty.card, numeric, timestamptz, text) IS
'Issues one voucher of a type of the card''s program (NULL card: a bearer voucher of a type with member_bound false, of the program named) and returns its code; value overrides the type''s, valid_from delays its start. In bulk: SELECT loyalty.issue_voucher(''t'', card) FROM ...';

CREATE FUNCTION loyalty.check_voucher(code text, card loyalty.card, store text, lines jsonb,
	OUT ok boolean, OUT kind text, OUT discount numeric, OUT points bigint, OUT uses_left integer,
	OUT valid_to timestamptz, OUT sqlstate text, OUT reason text)
RETURNS record
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_check_voucher';
COMMENT ON FUNCTION loyalty.check_voucher(text, loyalty.card, text, jsonb) IS
'What use_voucher would take off (discount, or points credited) now, or why not (ok false, with the SQLSTATE use_voucher would raise and its message), writing nothing.';

CREATE FUNCTION loyalty.use_voucher(code text, card loyalty.card, store text, pos_txn text, lines jsonb,
	OUT use_id bigint, OUT voucher_id bigint, OUT kind text, OUT discount numeric, OUT points bigint,
	OUT uses_left integer, OUT used_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_use_voucher';
COMMENT ON FUNCTION loyalty.use_voucher(text, loyalty.card, text, text, jsonb) IS
'Uses a voucher on a basket: returns the discount (money off) or the points credited, or refuses with the reason''s SQLSTATE (LY110-LY124); idempotent per (store, pos_txn).';

REVOKE EXECUTE ON FUNCTION
	loyalty.issue_voucher(text, loyalty.card, numeric, timestamptz, text),
	loyalty.check_voucher(text, loyalty.card, text, jsonb),
	loyalty.use_voucher(text, loyalty.card, text, text, jsonb)
FROM PUBLIC;
REVOKE ALL ON loyalty.voucher_type, loyalty.voucher, loyalty.voucher_use FROM PUBLIC;
REVOKE ALL ON SEQUENCE loyalty.voucher_type_id_seq, loyalty.voucher_id_seq, loyalty.voucher_use_id_seq FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('loyalty.voucher_type', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.voucher_type_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.voucher', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.voucher_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.voucher_use', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.voucher_use_id_seq', '');

-- explain_sale lists the vouchers a sale names
CREATE OR REPLACE FUNCTION loyalty.explain_sale(sale_id bigint,
	OUT rule_id integer, OUT code text, OUT kind text, OUT fired boolean, OUT points bigint, OUT why text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
	IF explain_sale.sale_id IS NULL THEN
		RAISE EXCEPTION 'sale_id is required' USING ERRCODE = 'LY013';
	END IF;
	RETURN QUERY
	SELECT (a.r->>'rule')::integer, a.r->>'code', a.r->>'kind', (a.r->>'fired')::boolean,
		   (a.r->>'points')::bigint, a.r->>'why'
	  FROM loyalty.sale s, jsonb_array_elements(s.award->'rules') WITH ORDINALITY AS a(r, n)
	 WHERE s.sale_id = explain_sale.sale_id
	 ORDER BY a.n;
	-- then the vouchers the sale names (voucher.sql), with their latest use at its store
	RETURN QUERY
	SELECT NULL::integer, c.code, 'voucher', u.use_id IS NOT NULL, COALESCE(u.points, 0),
		   CASE WHEN u.use_id IS NULL THEN 'no use of this voucher at the sale''s store'
				WHEN t.kind = 'points' THEN format('%s voucher "%s": %s points credited', t.kind, t.code, u.points)
				ELSE format('%s voucher "%s": %s off', t.kind, t.code, u.discount) END
	  FROM loyalty.sale s
	 CROSS JOIN LATERAL unnest(s.vouchers) WITH ORDINALITY AS c(code, n)
	  LEFT JOIN loyalty.voucher v ON v.code = upper(translate(c.code, '- ', ''))
	  LEFT JOIN loyalty.voucher_type t ON t.voucher_type_id = v.voucher_type_id
	  LEFT JOIN LATERAL (SELECT x.use_id, x.points, x.discount FROM loyalty.voucher_use x
						  WHERE x.voucher_id = v.voucher_id AND x.store = s.store
						  ORDER BY x.used_at DESC, x.use_id DESC LIMIT 1) u ON true
	 WHERE s.sale_id = explain_sale.sale_id
	 ORDER BY c.n;
END
$$;
COMMENT ON FUNCTION loyalty.explain_sale(bigint) IS 'Every rule considered for a sale, in the order applied: whether it fired, its points, and why not; then each voucher the sale names (kind voucher), with what its latest use at the sale''s store took off or credited.';

--
-- Targeted offers (audiences, 0.6.0; as src/sql/audience.sql).  An audience
-- is a list of members of one
-- program, loaded in bulk (INSERT ... SELECT into loyalty.audience_member,
-- or loyalty.audience_add), with an optional window and an optional opt-in:
-- an opt_in audience counts a member only once the member clipped the offer
-- (loyalty.clip_offer, from the POS or an app).  An earning rule names an
-- audience by code (rule.audience): it then fires only for the audience's
-- members, within the audience's window as well as its own, and with its
-- caps and budget as usual.  The sale trigger compiles the code into the
-- audience's id with the rules (a change to loyalty.audience recompiles
-- them) and reads membership by one probe of audience_member_pkey per rule
-- that names an audience (src/audience.c); membership changes need no
-- recompilation.  An audience a rule names cannot be deleted, renamed or
-- moved to another program (LY131): take it out of the rule first.
--

CREATE SEQUENCE loyalty.audience_id_seq;
COMMENT ON SEQUENCE loyalty.audience_id_seq IS 'Audience ids.';
CREATE TABLE loyalty.audience (
	audience_id		bigint NOT NULL DEFAULT pg_catalog.nextval('loyalty.audience_id_seq') PRIMARY KEY,
	program_id		integer NOT NULL REFERENCES loyalty.program,
	code			text NOT NULL CHECK (code <> ''),
	name			text,
	opt_in			boolean NOT NULL DEFAULT false,
	valid_from		timestamptz,
	valid_to		timestamptz,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	UNIQUE (program_id, code),
	CHECK (valid_to > valid_from)
);
COMMENT ON TABLE loyalty.audience IS 'Audiences of targeted offers: lists of members of a program (loyalty.audience_member) that earning rules can be limited to (rule.audience).';
COMMENT ON COLUMN loyalty.audience.code IS 'Name rules, audience_add and clip_offer use; unique per program.';
COMMENT ON COLUMN loyalty.audience.opt_in IS 'true: a member counts only once clipped (clip_offer sets audience_member.clipped_at); false: every member of the list counts.';
COMMENT ON COLUMN loyalty.audience.valid_from IS 'A rule naming the audience fires for sales from this moment on; NULL: no start.';
COMMENT ON COLUMN loyalty.audience.valid_to IS 'A rule naming the audience fires for sales before this moment, and the offer can be clipped until then; NULL: no end.';

CREATE TABLE loyalty.audience_member (
	member_id		bigint NOT NULL REFERENCES loyalty.member,
	audience_id		bigint NOT NULL REFERENCES loyalty.audience ON DELETE CASCADE,
	added_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	clipped_at		timestamptz,
	PRIMARY KEY (member_id, audience_id)
);
CREATE INDEX audience_member_audience_idx ON loyalty.audience_member (audience_id);
COMMENT ON TABLE loyalty.audience_member IS 'Members of audiences, one row per member and audience; the sale trigger probes the primary key (member_id, audience_id).  Load in bulk with INSERT ... SELECT or audience_add.';
COMMENT ON COLUMN loyalty.audience_member.clipped_at IS 'When the member clipped the offer (clip_offer; the first clip stays); counts only for an opt_in audience.';

-- A member of an audience is a member of the audience's program (LY132):
-- checked once per statement over the rows it wrote (one join, however
-- many rows a bulk load inserts).
CREATE FUNCTION loyalty.audience_member_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_member bigint;
	v_audience text;
BEGIN
	SELECT n.member_id, a.code INTO v_member, v_audience
	  FROM new_rows n
	  JOIN loyalty.audience a ON a.audience_id = n.audience_id
	  JOIN loyalty.member m ON m.member_id = n.member_id
	 WHERE m.program_id <> a.program_id
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'member % is not a member of the program of audience "%"', v_member, v_audience
			USING ERRCODE = 'LY132', DETAIL = 'An audience lists members of its own program.';
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION loyalty.audience_member_check() IS 'Trigger: refuses audience members of another program than the audience''s (LY132), once per statement.';
CREATE TRIGGER audience_member_insert AFTER INSERT ON loyalty.audience_member
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION loyalty.audience_member_check();
CREATE TRIGGER audience_member_update AFTER UPDATE ON loyalty.audience_member
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION loyalty.audience_member_check();
ALTER TABLE loyalty.audience_member ENABLE ALWAYS TRIGGER audience_member_insert;
ALTER TABLE loyalty.audience_member ENABLE ALWAYS TRIGGER audience_member_update;

-- An audience a rule names keeps its code and program (LY131).
CREATE FUNCTION loyalty.audience_in_use() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_rule text;
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.code = OLD.code AND NEW.program_id = OLD.program_id THEN
		RETURN NEW;
	END IF;
	SELECT r.code INTO v_rule FROM loyalty.rule r
	 WHERE r.program_id = OLD.program_id AND r.audience = OLD.code
	 ORDER BY r.code LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'audience "%" is named by rule "%"', OLD.code, v_rule USING ERRCODE = 'LY131',
			DETAIL = 'A rule''s audience names an audience of its program by code.',
			HINT = 'Set the rule''s audience to another audience or NULL (or delete the rule) first.';
	END IF;
	RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION loyalty.audience_in_use() IS 'Trigger: refuses to delete an audience, or change its code or program, while a rule of its program names it (LY131).';
CREATE TRIGGER audience_in_use BEFORE UPDATE OR DELETE ON loyalty.audience
	FOR EACH ROW EXECUTE FUNCTION loyalty.audience_in_use();
ALTER TABLE loyalty.audience ENABLE ALWAYS TRIGGER audience_in_use;
-- opt_in and the window are compiled into the rules; membership is not
CREATE TRIGGER rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.audience
	FOR EACH STATEMENT EXECUTE FUNCTION loyalty.rules_changed();

-- rule.audience: the code of an audience of the rule's program (LY130 otherwise).
ALTER TABLE loyalty.rule ADD COLUMN audience text CHECK (audience <> '');
COMMENT ON COLUMN loyalty.rule.audience IS 'Code of an audience of the rule''s program: the rule fires only for its members (clipped, if the audience is opt_in), within the audience''s window; NULL: every member.';

CREATE FUNCTION loyalty.rule_audience_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NEW.audience IS NULL THEN
		RETURN NEW;
	END IF;
	-- the audience stays until this commits (audience_in_use sees the rule after)
	PERFORM FROM loyalty.audience a WHERE a.program_id = NEW.program_id AND a.code = NEW.audience FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'rule "%" names audience "%", which its program does not have', NEW.code, NEW.audience
			USING ERRCODE = 'LY130', DETAIL = 'rule.audience names an audience of the rule''s program by code.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.rule_audience_check() IS 'Trigger: refuses a rule whose audience is not an audience of its program (LY130).';
CREATE TRIGGER rule_audience_check BEFORE INSERT OR UPDATE OF audience, program_id ON loyalty.rule
	FOR EACH ROW EXECUTE FUNCTION loyalty.rule_audience_check();
ALTER TABLE loyalty.rule ENABLE ALWAYS TRIGGER rule_audience_check;

-- The cards of a list as members, each with the audience of its program
-- named audience.  Refuses a NULL or unknown audience name (LY013, LY130),
-- an unknown or replaced card (LY001, LY002) or a NULL card (LY013).
CREATE FUNCTION loyalty.audience_targets(audience text, cards loyalty.card[])
RETURNS TABLE (member_id bigint, audience_id bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_card loyalty.card;
BEGIN
	IF audience_targets.audience IS NULL THEN
		RAISE EXCEPTION 'audience is required' USING ERRCODE = 'LY013';
	END IF;
	IF cards IS NULL OR array_position(cards, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'cards are required, and none may be NULL' USING ERRCODE = 'LY013';
	END IF;
	-- the first card that is unknown or replaced: member_id says which and why
	SELECT c.card INTO v_card FROM unnest(cards) c(card)
	  LEFT JOIN loyalty.member_card mc ON mc.card = c.card
	 WHERE mc.card IS NULL OR mc.replaced_at IS NOT NULL
	 LIMIT 1;
	IF FOUND THEN
		PERFORM loyalty.member_id(v_card);
	END IF;
	SELECT c.card INTO v_card FROM unnest(cards) c(card)
	  JOIN loyalty.member_card mc ON mc.card = c.card
	  JOIN loyalty.member m ON m.member_id = mc.member_id
	 WHERE NOT EXISTS (SELECT FROM loyalty.audience a
						WHERE a.program_id = m.program_id AND a.code = audience_targets.audience)
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'the program of card % has no audience "%"', v_card, audience_targets.audience
			USING ERRCODE = 'LY130', DETAIL = 'A card is added to the audience of that code of its own program.';
	END IF;
	RETURN QUERY
	SELECT DISTINCT mc.member_id, a.audience_id FROM unnest(cards) c(card)
	  JOIN loyalty.member_card mc ON mc.card = c.card
	  JOIN loyalty.member m ON m.member_id = mc.member_id
	  JOIN loyalty.audience a ON a.program_id = m.program_id AND a.code = audience_targets.audience;
END
$$;
COMMENT ON FUNCTION loyalty.audience_targets(text, loyalty.card[]) IS
'Internal (audience_add, audience_remove): each card''s member and the audience of that code of its program; refuses NULLs (LY013), unknown or replaced cards (LY001, LY002) and programs without the audience (LY130).';

CREATE FUNCTION loyalty.audience_add(audience text, cards loyalty.card[],
	OUT added bigint, OUT already bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_targets bigint;
BEGIN
	WITH t AS MATERIALIZED (SELECT * FROM loyalty.audience_targets(audience_add.audience, cards)),
	i AS (INSERT INTO loyalty.audience_member (member_id, audience_id)
		  SELECT t.member_id, t.audience_id FROM t
		  ON CONFLICT ON CONSTRAINT audience_member_pkey DO NOTHING
		  RETURNING 1)
	SELECT (SELECT count(*) FROM i), (SELECT count(*) FROM t) INTO added, v_targets;
	already := v_targets - added;
END
$$;
COMMENT ON FUNCTION loyalty.audience_add(text, loyalty.card[]) IS
'Adds the members of cards to the audience of that code of each card''s program, in one statement: how many were added and how many were in it already (a repeated card counts once).';

CREATE FUNCTION loyalty.audience_remove(audience text, cards loyalty.card[],
	OUT removed bigint, OUT absent bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_targets bigint;
BEGIN
	WITH t AS MATERIALIZED (SELECT * FROM loyalty.audience_targets(audience_remove.audience, cards)),
	d AS (DELETE FROM loyalty.audience_member am USING t
		   WHERE am.member_id = t.member_id AND am.audience_id = t.audience_id
		  RETURNING 1)
	SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM t) INTO removed, v_targets;
	absent := v_targets - removed;
END
$$;
COMMENT ON FUNCTION loyalty.audience_remove(text, loyalty.card[]) IS
'Takes the members of cards out of the audience of that code of each card''s program, in one statement: how many were removed and how many were not in it.';

CREATE FUNCTION loyalty.clip_offer(audience text, card loyalty.card)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_member bigint;
	v_aud loyalty.audience;
	v_clipped timestamptz;
BEGIN
	IF clip_offer.audience IS NULL THEN
		RAISE EXCEPTION 'audience is required' USING ERRCODE = 'LY013';
	END IF;
	IF clip_offer.card IS NULL THEN
		RAISE EXCEPTION 'card is required' USING ERRCODE = 'LY013';
	END IF;
	v_member := loyalty.member_id(clip_offer.card);
	SELECT au.* INTO v_aud FROM loyalty.audience au JOIN loyalty.member m ON m.program_id = au.program_id
	 WHERE m.member_id = v_member AND au.code = clip_offer.audience;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the program of card % has no audience "%"', clip_offer.card, clip_offer.audience
			USING ERRCODE = 'LY130';
	END IF;
	IF NOT v_aud.opt_in THEN
		RAISE EXCEPTION 'audience "%" is not opt-in', v_aud.code USING ERRCODE = 'LY134',
			DETAIL = 'Its members get its offers without clipping them.';
	END IF;
	IF v_aud.valid_to IS NOT NULL AND now() >= v_aud.valid_to THEN
		RAISE EXCEPTION 'the offer of audience "%" ended %', v_aud.code, v_aud.valid_to USING ERRCODE = 'LY134';
	END IF;
	-- the first clip stays: a retry, or a second till, returns it
	UPDATE loyalty.audience_member am SET clipped_at = coalesce(am.clipped_at, now())
	 WHERE am.member_id = v_member AND am.audience_id = v_aud.audience_id
	RETURNING am.clipped_at INTO v_clipped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'card % is not in audience "%"', clip_offer.card, v_aud.code USING ERRCODE = 'LY133',
			DETAIL = 'Only the members of an audience can clip its offer.';
	END IF;
	RETURN v_clipped;
END
$$;
COMMENT ON FUNCTION loyalty.clip_offer(text, loyalty.card) IS
'The member of card clips the offer of the opt-in audience of that code of its program: from then on, rules naming the audience fire for it.  Idempotent: returns when it was first clipped.';

REVOKE EXECUTE ON FUNCTION
	loyalty.audience_member_check(),
	loyalty.audience_in_use(),
	loyalty.rule_audience_check(),
	loyalty.audience_targets(text, loyalty.card[]),
	loyalty.audience_add(text, loyalty.card[]),
	loyalty.audience_remove(text, loyalty.card[]),
	loyalty.clip_offer(text, loyalty.card)
FROM PUBLIC;
REVOKE ALL ON loyalty.audience, loyalty.audience_member FROM PUBLIC;
REVOKE ALL ON SEQUENCE loyalty.audience_id_seq FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('loyalty.audience', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.audience_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.audience_member', '');

--
-- section: voucher rules
--
ALTER TABLE loyalty.rule DROP CONSTRAINT rule_kind_check;
ALTER TABLE loyalty.rule ADD CONSTRAINT rule_kind_check
	CHECK (kind IN ('exclude', 'multiplier', 'bonus', 'first_purchase', 'nth_visit', 'voucher'));
COMMENT ON COLUMN loyalty.rule.kind IS 'exclude (matching lines earn nothing), multiplier (matching lines earn multiplier times the base), bonus (fixed points), first_purchase (points on a member''s first sale), nth_visit (points on every every_nth visit day in the visit_period), voucher (issues one voucher of voucher_type).';

--
-- Voucher rules (0.6.0): a rule of kind 'voucher' issues one voucher of its
-- voucher_type when a sale matches, in the sale's own INSERT (the codes are
-- in sale.vouchers_issued, readable by RETURNING); with on_return it fires on
-- a return instead -- the Christmas tree: a return of its skus, dated in the
-- rule's window, of a sale made in [sold_from, sold_to), issues a voucher
-- worth what the returned lines cost.  Evaluated in C with the other rules
-- (src/rules.c), issued by the voucher code (src/voucher.c) from the sale
-- trigger (src/voucher_rule.c).
--
ALTER TABLE loyalty.rule ADD COLUMN voucher_type text;
ALTER TABLE loyalty.rule ADD COLUMN on_return boolean NOT NULL DEFAULT false;
ALTER TABLE loyalty.rule ADD COLUMN sold_from timestamptz;
ALTER TABLE loyalty.rule ADD COLUMN sold_to timestamptz;
ALTER TABLE loyalty.rule ADD CONSTRAINT rule_voucher_type_check
	CHECK ((kind = 'voucher') = (voucher_type IS NOT NULL));
ALTER TABLE loyalty.rule ADD CONSTRAINT rule_on_return_check
	CHECK (NOT on_return OR kind = 'voucher');
ALTER TABLE loyalty.rule ADD CONSTRAINT rule_sold_check
	CHECK ((sold_from IS NULL AND sold_to IS NULL) OR on_return);
ALTER TABLE loyalty.rule ADD CONSTRAINT rule_sold_order_check
	CHECK (sold_to > sold_from);
ALTER TABLE loyalty.rule ADD CONSTRAINT rule_voucher_caps_check
	CHECK (kind <> 'voucher' OR member_max_points IS NULL);
-- a voucher type a rule issues is renamed with the rule, and not deleted
ALTER TABLE loyalty.rule ADD CONSTRAINT rule_voucher_type_fkey
	FOREIGN KEY (program_id, voucher_type) REFERENCES loyalty.voucher_type (program_id, code)
	ON UPDATE CASCADE;
CREATE INDEX rule_voucher_type_idx ON loyalty.rule (program_id, voucher_type) WHERE voucher_type IS NOT NULL;
COMMENT ON COLUMN loyalty.rule.voucher_type IS 'kind voucher: the code of the voucher type of the rule''s program it issues, one voucher each time it fires.';
COMMENT ON COLUMN loyalty.rule.on_return IS 'kind voucher: fire on a return of the rule''s lines (dated in its windows) instead of on a sale, issuing a voucher worth what the returned matching lines cost (the Christmas tree).';
COMMENT ON COLUMN loyalty.rule.sold_from IS 'on_return: the returned sale was made at or after this moment; NULL: any time.';
COMMENT ON COLUMN loyalty.rule.sold_to IS 'on_return: the returned sale was made before this moment; NULL: any time.';

ALTER TABLE loyalty.sale ADD COLUMN vouchers_issued text[];
COMMENT ON COLUMN loyalty.sale.vouchers_issued IS 'Codes of the vouchers the sale''s (or return''s) voucher rules issued, in rule order (filled by the trigger; NULL: none), so RETURNING gives the POS what to print.';

-- rule.voucher_type: a type of the rule's program (LY125); an on_return
-- rule's type is of kind amount, whose value the returned lines set (LY126).
CREATE FUNCTION loyalty.rule_voucher_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_kind text;
BEGIN
	IF NEW.voucher_type IS NULL THEN
		RETURN NEW;
	END IF;
	SELECT t.kind INTO v_kind FROM loyalty.voucher_type t
	 WHERE t.program_id = NEW.program_id AND t.code = NEW.voucher_type;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'rule "%" issues voucher type "%", which its program does not have', NEW.code, NEW.voucher_type
			USING ERRCODE = 'LY125', DETAIL = 'rule.voucher_type names a voucher type of the rule''s program by code.';
	END IF;
	IF NEW.on_return AND v_kind <> 'amount' THEN
		RAISE EXCEPTION 'return rule "%" issues voucher type "%" of kind %', NEW.code, NEW.voucher_type, v_kind
			USING ERRCODE = 'LY126',
			DETAIL = 'A rule with on_return issues a voucher worth what the returned lines cost: its type is of kind amount.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.rule_voucher_check() IS 'Trigger: refuses a voucher rule whose voucher_type is not a type of its program (LY125), or an on_return rule whose type is not of kind amount (LY126).';
CREATE TRIGGER rule_voucher_check BEFORE INSERT OR UPDATE OF voucher_type, program_id, on_return ON loyalty.rule
	FOR EACH ROW EXECUTE FUNCTION loyalty.rule_voucher_check();
ALTER TABLE loyalty.rule ENABLE ALWAYS TRIGGER rule_voucher_check;

-- A return rule's type stays of kind amount (LY126).
CREATE FUNCTION loyalty.voucher_type_rule_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_rule text;
BEGIN
	IF NEW.kind = 'amount' THEN
		RETURN NEW;
	END IF;
	SELECT r.code INTO v_rule FROM loyalty.rule r
	 WHERE r.program_id = NEW.program_id AND r.voucher_type = NEW.code AND r.on_return
	 ORDER BY r.code LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'voucher type "%" is issued by return rule "%"', NEW.code, v_rule
			USING ERRCODE = 'LY126',
			DETAIL = 'A rule with on_return issues a voucher worth what the returned lines cost: its type is of kind amount.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.voucher_type_rule_check() IS 'Trigger: refuses to change the kind of a voucher type a return rule issues away from amount (LY126).';
CREATE TRIGGER voucher_type_rule_check BEFORE UPDATE OF kind ON loyalty.voucher_type
	FOR EACH ROW EXECUTE FUNCTION loyalty.voucher_type_rule_check();
ALTER TABLE loyalty.voucher_type ENABLE ALWAYS TRIGGER voucher_type_rule_check;
-- the rules cache what they read of their types
CREATE TRIGGER rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.voucher_type
	FOR EACH STATEMENT EXECUTE FUNCTION loyalty.rules_changed();

REVOKE EXECUTE ON FUNCTION loyalty.rule_voucher_check(), loyalty.voucher_type_rule_check() FROM PUBLIC;

-- voucher_type.audience: a type limited to an audience is issued only to
-- its members (clipped, if the audience is opt_in, within its window): a
-- voucher rule does not fire for anyone else, issue_voucher refuses them
-- (LY127).  The code of an audience of the type's program (LY128), which
-- then keeps its code and program (LY129).
ALTER TABLE loyalty.voucher_type ADD COLUMN audience text CHECK (audience <> '');
COMMENT ON COLUMN loyalty.voucher_type.audience IS 'Code of an audience of the type''s program: its vouchers are issued only to the audience''s members (clipped, if opt_in; within its window), by rules and by issue_voucher (LY127 for anyone else); NULL: anyone.';

CREATE FUNCTION loyalty.voucher_type_audience_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NEW.audience IS NULL THEN
		RETURN NEW;
	END IF;
	-- the audience stays until this commits (audience_voucher_type_in_use sees the type after)
	PERFORM FROM loyalty.audience a WHERE a.program_id = NEW.program_id AND a.code = NEW.audience FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'voucher type "%" names audience "%", which its program does not have', NEW.code, NEW.audience
			USING ERRCODE = 'LY128', DETAIL = 'voucher_type.audience names an audience of the type''s program by code.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.voucher_type_audience_check() IS 'Trigger: refuses a voucher type whose audience is not an audience of its program (LY128).';
CREATE TRIGGER voucher_type_audience_check BEFORE INSERT OR UPDATE OF audience, program_id ON loyalty.voucher_type
	FOR EACH ROW EXECUTE FUNCTION loyalty.voucher_type_audience_check();
ALTER TABLE loyalty.voucher_type ENABLE ALWAYS TRIGGER voucher_type_audience_check;

CREATE FUNCTION loyalty.audience_voucher_type_in_use() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_type text;
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.code = OLD.code AND NEW.program_id = OLD.program_id THEN
		RETURN NEW;
	END IF;
	SELECT t.code INTO v_type FROM loyalty.voucher_type t
	 WHERE t.program_id = OLD.program_id AND t.audience = OLD.code
	 ORDER BY t.code LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'audience "%" is named by voucher type "%"', OLD.code, v_type USING ERRCODE = 'LY129',
			DETAIL = 'A voucher type''s audience names an audience of its program by code.',
			HINT = 'Set the voucher type''s audience to another audience or NULL first.';
	END IF;
	RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION loyalty.audience_voucher_type_in_use() IS 'Trigger: refuses to delete an audience, or change its code or program, while a voucher type of its program names it (LY129).';
CREATE TRIGGER audience_voucher_type_in_use BEFORE UPDATE OR DELETE ON loyalty.audience
	FOR EACH ROW EXECUTE FUNCTION loyalty.audience_voucher_type_in_use();
ALTER TABLE loyalty.audience ENABLE ALWAYS TRIGGER audience_voucher_type_in_use;

REVOKE EXECUTE ON FUNCTION loyalty.voucher_type_audience_check(), loyalty.audience_voucher_type_in_use() FROM PUBLIC;

--
--
-- Tender holds (0.6.0): a POS reserves points (authorize), then spends them
-- (capture, all or less) or gives them back (void).  Held points are taken
-- out of their lots at authorize time, so neither another debit nor
-- expire_points can touch them; a release puts them back in the lots they
-- came from.  A hold not captured within the program's hold_minutes counts
-- as released at once (balance, and every later posting of the member
-- releases it for real); sweep_holds() releases them all and emits
-- hold_expired.  The C code is src/hold.c.
--
-- balance() and check_invariants() read the holds: balance() gains the
-- column held (a new result type: made again, with the EXECUTE grants it
-- had), check_invariants() is replaced.
--

ALTER TABLE loyalty.program ADD COLUMN hold_minutes integer NOT NULL DEFAULT 30
	CHECK (hold_minutes BETWEEN 1 AND 10080);
COMMENT ON COLUMN loyalty.program.hold_minutes IS 'Minutes an authorized hold lasts before it is released unless captured (30 by default, at most a week).';

ALTER TABLE loyalty.member_balance ADD COLUMN held bigint NOT NULL DEFAULT 0 CHECK (held >= 0);
ALTER TABLE loyalty.member_balance ADD COLUMN open_holds bigint NOT NULL DEFAULT 0 CHECK (open_holds >= 0);
COMMENT ON COLUMN loyalty.member_balance.held IS 'Points the member''s open holds keep out of the lots (points - taken of each; not yet captured or released): net = open lots + held - debt.';
COMMENT ON COLUMN loyalty.member_balance.open_holds IS 'The member''s open holds (a hold a reversal emptied counts too): postings and sweep_holds() look for lapsed holds only while it is above 0.';

-- A capture may find that a reversal took the points it held and, under
-- 'truncate', nothing else to take: its redeem entry is then all shortfall
-- (0 points).  The new check is weaker than the old one, so its validation
-- (one scan of the ledger) cannot fail.
ALTER TABLE loyalty.ledger DROP CONSTRAINT ledger_check,
	ADD CONSTRAINT ledger_check CHECK (CASE kind WHEN 'earn' THEN points > 0
											 WHEN 'redeem' THEN points < 0 OR (points = 0 AND shortfall > 0)
											 WHEN 'expire' THEN points < 0
											 ELSE points <> 0 OR shortfall > 0 END);

CREATE TABLE loyalty.hold (
	member_id		bigint NOT NULL REFERENCES loyalty.member,
	hold_id			bigint NOT NULL CHECK (hold_id > 0),
	store			text NOT NULL,
	pos_txn			text NOT NULL,
	points			bigint NOT NULL CHECK (points > 0),
	value			numeric NOT NULL,
	currency		text NOT NULL,
	status			text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'captured', 'voided', 'expired')),
	authorized_at	timestamptz NOT NULL,
	expires_at		timestamptz NOT NULL,
	closed_at		timestamptz,
	captured		bigint CHECK (captured > 0 AND captured <= points),
	captured_value	numeric,
	redemption_id	bigint,
	taken			bigint NOT NULL DEFAULT 0 CHECK (taken >= 0 AND taken <= points),
	lot_ids			bigint[] NOT NULL,
	lot_points		bigint[] NOT NULL,
	PRIMARY KEY (member_id, hold_id),
	UNIQUE (hold_id),
	UNIQUE (store, pos_txn),
	CHECK ((status = 'open') = (closed_at IS NULL)),
	CHECK ((status = 'captured') = (captured IS NOT NULL AND redemption_id IS NOT NULL)),
	CHECK (pg_catalog.cardinality(lot_ids) = pg_catalog.cardinality(lot_points))
) WITH (fillfactor = 80);
CREATE INDEX hold_member_expires_idx ON loyalty.hold (member_id, expires_at);
-- No index on status: a hold's one update (its close) then changes no
-- indexed column and, with the room fillfactor leaves on the page, is a HOT
-- update (no index entries).  A member's open holds are read only while
-- member_balance.open_holds says there are some, as the first open_holds
-- open ones walking hold_member_expires_idx from the latest expiry back
-- (src/hold.c, WalkOpenHolds; open_holds_of() below): the holds since
-- the oldest open one, not the member's whole hold history.
-- src/txn_key.c probes hold_store_pos_txn_key (the UNIQUE (store, pos_txn)
-- above) and ledger_redeem_pos_txn_idx by name: holds and redemptions share
-- the key.
COMMENT ON TABLE loyalty.hold IS 'Tender holds: points a POS authorized (taken out of their lots), then captured (a redeem entry), voided or expired; idempotent by (store, pos_txn).';
COMMENT ON COLUMN loyalty.hold.hold_id IS 'A random positive 63-bit number (authorize draws it with pg_strong_random): whoever knows it can capture or void the hold, so it is not guessable from another hold''s id.';
COMMENT ON COLUMN loyalty.hold.points IS 'Points held.';
COMMENT ON COLUMN loyalty.hold.value IS 'Money value of the held points at the program''s point value when authorized.';
COMMENT ON COLUMN loyalty.hold.status IS 'open, captured, voided or expired; an open hold past expires_at counts as expired until a posting, void or sweep_holds() releases it.';
COMMENT ON COLUMN loyalty.hold.expires_at IS 'authorized_at + the program''s hold_minutes: capture is refused from then on (LY103).';
COMMENT ON COLUMN loyalty.hold.captured IS 'Points the capture spent (the rest went back to the lots).';
COMMENT ON COLUMN loyalty.hold.redemption_id IS 'The redeem ledger entry the capture posted.';
COMMENT ON COLUMN loyalty.hold.taken IS 'Points of the hold a reversal or negative adjustment took from its lots while it was open (they are in that entry''s lots): the hold keeps points - taken in lot_points, a capture takes the rest from the member''s other points.';
COMMENT ON COLUMN loyalty.hold.lot_ids IS 'The lots the held points were taken from, parallel to lot_points; a capture spends them in this order.';
SELECT pg_catalog.pg_extension_config_dump('loyalty.hold', '');

CREATE FUNCTION loyalty.authorize(card loyalty.card, points bigint, store text, pos_txn text)
RETURNS loyalty.hold
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_authorize';
COMMENT ON FUNCTION loyalty.authorize(loyalty.card, bigint, text, text) IS
'Holds available points for a payment in progress; idempotent per (store, pos_txn); never overdraws (LY010).';

CREATE FUNCTION loyalty.capture(hold_id bigint, points bigint DEFAULT NULL)
RETURNS loyalty.hold
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_capture';
COMMENT ON FUNCTION loyalty.capture(bigint, bigint) IS
'Spends a hold (all its points, or fewer: the rest is released) as one redeem entry; a retry returns the same capture.';

CREATE FUNCTION loyalty.void(hold_id bigint)
RETURNS loyalty.hold
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_void';
COMMENT ON FUNCTION loyalty.void(bigint) IS
'Releases a hold''s points back to their lots; a retry returns the same outcome; a hold that expired stays expired.';

CREATE FUNCTION loyalty.sweep_holds(OUT holds bigint, OUT points bigint)
RETURNS record
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_sweep_holds';
COMMENT ON FUNCTION loyalty.sweep_holds() IS
'Releases every open hold past its expiry (one hold_expired event each); not needed for correctness, which never waits for it.';

CREATE FUNCTION loyalty.open_holds_of(member_id bigint, open_holds bigint)
RETURNS SETOF loyalty.hold
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED ROWS 1
AS 'MODULE_PATHNAME', 'loyalty_open_holds_of';
COMMENT ON FUNCTION loyalty.open_holds_of(bigint, bigint) IS
'A member''s open holds: the first open_holds (member_balance.open_holds) open ones walking hold_member_expires_idx from the latest expiry back, so balance() reads the holds since the oldest open one, never the member''s whole hold history. Granted to no role.';

SELECT pg_catalog.set_config('loyalty_upgrade.balance_grantees',
	COALESCE((SELECT pg_catalog.string_agg(a.grantee::regrole::text, ',')
				FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
			   WHERE p.oid = 'loyalty.balance(loyalty.card)'::pg_catalog.regprocedure
				 AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner AND a.grantee <> 0), ''), true);
DROP FUNCTION loyalty.balance(loyalty.card);
CREATE FUNCTION loyalty.balance(card loyalty.card,
	OUT member_id bigint, OUT available bigint, OUT pending bigint,
	OUT lifetime_earned bigint, OUT lifetime_redeemed bigint, OUT expired bigint,
	OUT reversed bigint, OUT adjusted bigint, OUT debt bigint,
	OUT next_expiry_at timestamptz, OUT next_expiry_points bigint,
	OUT value numeric, OUT currency text, OUT held bigint)
RETURNS record
LANGUAGE sql STABLE PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
	WITH b AS (
		-- the present, not the transaction start: an entry posted earlier in
		-- this transaction is dated at its lock time (see ledger.c)
		SELECT b.*, p.point_value, p.currency, clock_timestamp() AS at
		  FROM loyalty.member_balance b
		  JOIN loyalty.member m ON m.member_id = b.member_id
		  JOIN loyalty.program p ON p.program_id = m.program_id
		 WHERE b.member_id = loyalty.member_id(balance.card)
	), h AS (
		-- open holds; one past its expiry counts as released: its points
		-- are back in their lots (and lapsed with a lot past its expiry)
		SELECT COALESCE(sum(h.points - h.taken) FILTER (WHERE h.expires_at > b.at), 0)::bigint AS held,
			   COALESCE(sum(x.pts) FILTER (WHERE h.expires_at <= b.at AND l.expires_at <= b.at), 0)::bigint AS lapsed
		  FROM b
		  -- open_holds_of: never the member's closed holds
		  CROSS JOIN LATERAL loyalty.open_holds_of(b.member_id, CASE WHEN b.held > 0 THEN b.open_holds ELSE 0 END) h
		  LEFT JOIN LATERAL unnest(h.lot_ids, h.lot_points) AS x(lot_id, pts) ON h.expires_at <= b.at
		  LEFT JOIN loyalty.lot l ON l.member_id = h.member_id AND l.lot_id = x.lot_id
	), l AS (
		SELECT COALESCE(sum(l.remaining) FILTER (WHERE l.expires_at <= b.at), 0)::bigint AS lapsed,
			   COALESCE(sum(l.remaining) FILTER (WHERE l.available_from > b.at
								AND (l.expires_at IS NULL OR l.expires_at > b.at)), 0)::bigint AS pending,
			   min(l.expires_at) FILTER (WHERE l.expires_at > b.at) AS next_expiry_at
		  FROM loyalty.lot l, b
		 WHERE l.member_id = b.member_id AND l.remaining > 0
	)
	SELECT b.member_id,
		   b.net - l.pending - l.lapsed - h.lapsed - h.held,
		   l.pending,
		   b.lifetime_earned, b.lifetime_redeemed, b.expired + l.lapsed + h.lapsed,
		   b.reversed, b.adjusted, b.debt,
		   l.next_expiry_at,
		   (SELECT sum(x.remaining)::bigint FROM loyalty.lot x
			 WHERE x.member_id = b.member_id AND x.remaining > 0 AND x.expires_at = l.next_expiry_at),
		   (b.net - l.pending - l.lapsed - h.lapsed - h.held) * b.point_value,
		   b.currency,
		   h.held
	  FROM b, l, h
$$;
COMMENT ON FUNCTION loyalty.balance(loyalty.card) IS
'A member''s points now: available (redeemable), pending, lifetime figures, debt, the next expiry, the money value of the available points, and the points held by open holds. Points past their expiry count as expired even before expire_points() posts them; a hold past its expiry counts as released.';

REVOKE EXECUTE ON FUNCTION loyalty.balance(loyalty.card) FROM PUBLIC;
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY pg_catalog.string_to_array(pg_catalog.current_setting('loyalty_upgrade.balance_grantees'), ',')
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION loyalty.balance(loyalty.card) TO %s', r);
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION loyalty.check_invariants(OUT member_id bigint, OUT invariant text, OUT detail text)
RETURNS SETOF record
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
	WITH led AS (
		SELECT l.member_id, sum(l.points) AS net,
			   COALESCE(sum(l.points) FILTER (WHERE kind = 'earn'), 0) AS earned,
			   COALESCE(-sum(l.points) FILTER (WHERE kind = 'redeem'), 0) AS redeemed,
			   COALESCE(-sum(l.points) FILTER (WHERE kind = 'expire'), 0) AS expired,
			   COALESCE(-sum(l.points) FILTER (WHERE kind = 'reverse'), 0) AS reversed,
			   COALESCE(sum(l.points) FILTER (WHERE kind = 'adjust'), 0) AS adjusted,
			   sum(l.shortfall) AS shortfall
		  FROM loyalty.ledger l GROUP BY l.member_id
	), lots AS (
		SELECT l.member_id, sum(l.remaining) AS remaining FROM loyalty.lot l GROUP BY l.member_id
	), holds AS (
		SELECT h.member_id, sum(h.points - h.taken) AS held, count(*) AS n FROM loyalty.hold h
		 WHERE h.status = 'open' GROUP BY h.member_id
	), moves AS (
		-- what the ledger moved, plus what open holds keep out of each lot
		SELECT x.member_id, x.lot_id,
			   sum(x.pts) FILTER (WHERE x.credit) AS put_in,
			   COALESCE(sum(x.pts) FILTER (WHERE NOT x.credit), 0) AS taken
		  FROM (SELECT e.member_id, m.lot_id, m.pts, e.points > 0 AS credit
				  FROM loyalty.ledger e CROSS JOIN LATERAL unnest(e.lot_ids, e.lot_points) AS m(lot_id, pts)
				UNION ALL
				SELECT h.member_id, m.lot_id, m.pts, false
				  FROM loyalty.hold h CROSS JOIN LATERAL unnest(h.lot_ids, h.lot_points) AS m(lot_id, pts)
				 WHERE h.status = 'open') x
		 GROUP BY x.member_id, x.lot_id
	), bal AS (
		SELECT b.*, COALESCE(led.net, 0) AS l_net, COALESCE(led.earned, 0) AS l_earned,
			   COALESCE(led.redeemed, 0) AS l_redeemed, COALESCE(led.expired, 0) AS l_expired,
			   COALESCE(led.reversed, 0) AS l_reversed, COALESCE(led.adjusted, 0) AS l_adjusted,
			   COALESCE(led.shortfall, 0) AS l_shortfall,
			   COALESCE(lots.remaining, 0) AS lots_remaining, COALESCE(holds.held, 0) AS h_held, COALESCE(holds.n, 0) AS h_open,
			   p.negative_balance
		  FROM loyalty.member_balance b
		  JOIN loyalty.member m ON m.member_id = b.member_id
		  JOIN loyalty.program p ON p.program_id = m.program_id
		  LEFT JOIN led ON led.member_id = b.member_id
		  LEFT JOIN lots ON lots.member_id = b.member_id
		  LEFT JOIN holds ON holds.member_id = b.member_id
	)
	SELECT member_id, 'balance = ledger sum', format('balance net %s, ledger sum %s', net, l_net)
	  FROM bal WHERE net <> l_net
	UNION ALL
	SELECT member_id, 'balance = open lots + held - debt',
		   format('balance net %s, open lots %s, held %s, debt %s', net, lots_remaining, held, debt)
	  FROM bal WHERE net <> lots_remaining + held - debt
	UNION ALL
	SELECT member_id, 'held = open holds',
		   format('balance held %s, open holds %s', held, h_held)
	  FROM bal WHERE held <> h_held
	UNION ALL
	SELECT member_id, 'open_holds = open holds',
		   format('balance open_holds %s, open holds %s', open_holds, h_open)
	  FROM bal WHERE open_holds <> h_open
	UNION ALL
	SELECT h.member_id, 'hold = its lots and its capture',
		   format('hold %s (%s): points %s, in lots %s, taken %s, captured %s, redemption %s of %s points short %s',
				  h.hold_id, h.status, h.points, (SELECT sum(p) FROM unnest(h.lot_points) p), h.taken, h.captured,
				  h.redemption_id, -e.points, e.shortfall)
	  FROM loyalty.hold h
	  LEFT JOIN loyalty.ledger e ON e.member_id = h.member_id AND e.entry_id = h.redemption_id
	 WHERE h.points <> (SELECT COALESCE(sum(p), 0) FROM unnest(h.lot_points) p) + h.taken
		OR (h.status = 'captured' AND (e.entry_id IS NULL OR e.kind <> 'redeem' OR e.shortfall - e.points <> h.captured))
	UNION ALL
	SELECT member_id, 'lifetime figures = ledger by kind',
		   format('balance %s/%s/%s/%s/%s/%s, ledger %s/%s/%s/%s/%s/%s (earned/redeemed/expired/reversed/adjusted/shortfall)',
				  lifetime_earned, lifetime_redeemed, expired, reversed, adjusted, shortfall,
				  l_earned, l_redeemed, l_expired, l_reversed, l_adjusted, l_shortfall)
	  FROM bal
	 WHERE (lifetime_earned, lifetime_redeemed, expired, reversed, adjusted, shortfall)
		   IS DISTINCT FROM (l_earned, l_redeemed, l_expired, l_reversed, l_adjusted, l_shortfall)
	UNION ALL
	SELECT l.member_id, 'lot dates = its credit entry',
		   format('lot %s: earned %s, from %s, expires %s', l.lot_id, l.earned_at, l.available_from, l.expires_at)
	  FROM loyalty.lot l
	  JOIN loyalty.ledger e ON e.member_id = l.member_id AND e.entry_id = l.lot_id
	 WHERE l.earned_at <> e.effective_at
		OR l.available_from <> GREATEST(COALESCE(e.pending_until, e.effective_at), e.effective_at)
		OR l.expires_at IS DISTINCT FROM e.expires_at
	UNION ALL
	SELECT member_id, 'no debt unless the program allows it', format('debt %s under policy %s', debt, negative_balance)
	  FROM bal WHERE debt > 0 AND negative_balance <> 'allow'
	UNION ALL
	SELECT COALESCE(l.member_id, mv.member_id), 'lot = ledger and hold moves',
		   format('lot %s: points %s remaining %s, ledger put in %s, ledger and open holds took %s',
				  COALESCE(l.lot_id, mv.lot_id), l.points, l.remaining, mv.put_in, mv.taken)
	  FROM loyalty.lot l
	  FULL JOIN moves mv ON mv.member_id = l.member_id AND mv.lot_id = l.lot_id
	 WHERE l.lot_id IS NULL OR mv.lot_id IS NULL
		OR l.points IS DISTINCT FROM mv.put_in OR l.remaining <> mv.put_in - mv.taken
	UNION ALL
	SELECT m.member_id, 'balance row has the member''s status and current card',
		   format('status %s / %s, card %s / %s', m.status, b.status, c.card, b.card)
	  FROM loyalty.member m
	  JOIN loyalty.member_balance b ON b.member_id = m.member_id
	  LEFT JOIN loyalty.member_card c ON c.member_id = m.member_id AND c.replaced_at IS NULL
	 WHERE b.status <> m.status OR c.card IS NULL OR b.card OPERATOR(pg_catalog.<>) c.card
	UNION ALL
	SELECT m.member_id, 'one current card and one balance row per member',
		   format('%s current cards, %s balance rows',
				  (SELECT count(*) FROM loyalty.member_card c WHERE c.member_id = m.member_id AND c.replaced_at IS NULL),
				  (SELECT count(*) FROM loyalty.member_balance b WHERE b.member_id = m.member_id))
	  FROM loyalty.member m
	 WHERE (SELECT count(*) FROM loyalty.member_card c WHERE c.member_id = m.member_id AND c.replaced_at IS NULL) <> 1
		OR NOT EXISTS (SELECT FROM loyalty.member_balance b WHERE b.member_id = m.member_id)
	UNION ALL
	SELECT b.member_id, 'balance row up to date', format('last_entry_id %s, newest entry %s', b.last_entry_id, x.max_id)
	  FROM loyalty.member_balance b
	  JOIN (SELECT l.member_id, max(l.entry_id) AS max_id FROM loyalty.ledger l GROUP BY l.member_id) x
		ON x.member_id = b.member_id
	 WHERE b.last_entry_id IS DISTINCT FROM x.max_id
	UNION ALL
	SELECT v.member_id, 'voucher uses_left = its uses',
		   format('voucher %s: uses_left %s, %s uses leaving %s down to %s', v.voucher_id, v.uses_left,
				  u.n, u.most, u.least)
	  FROM loyalty.voucher v
	  JOIN (SELECT x.voucher_id, count(*) AS n, max(x.uses_left) AS most, min(x.uses_left) AS least
			  FROM loyalty.voucher_use x GROUP BY x.voucher_id) u ON u.voucher_id = v.voucher_id
	 WHERE v.uses_left <> u.least OR u.n <> u.most - u.least + 1
	UNION ALL
	SELECT u.member_id, 'points voucher use = its earn entry',
		   format('use %s of voucher %s: %s points, entry %s (%s, %s points, member %s)', u.use_id, u.voucher_id,
				  u.points, u.entry_id, e.kind, e.points, e.member_id)
	  FROM loyalty.voucher_use u
	  LEFT JOIN loyalty.ledger e ON e.member_id = u.member_id AND e.entry_id = u.entry_id
	 WHERE (u.points > 0 OR u.entry_id IS NOT NULL)
	   AND (e.entry_id IS NULL OR e.kind <> 'earn' OR e.points <> u.points)
	UNION ALL
	SELECT v.member_id, 'voucher of its member''s program',
		   format('voucher %s of type %s (program %s), member of program %s', v.voucher_id, t.code, t.program_id, m.program_id)
	  FROM loyalty.voucher v
	  JOIN loyalty.voucher_type t ON t.voucher_type_id = v.voucher_type_id
	  JOIN loyalty.member m ON m.member_id = v.member_id
	 WHERE m.program_id <> t.program_id
$$;
COMMENT ON FUNCTION loyalty.check_invariants() IS
'One row per broken invariant (none when healthy): balance = ledger sum = open lots + held - debt, held and open_holds = open holds, each hold against its lots and its capture, lifetime figures, lots against the ledger and the open holds, debt policy, one current card per member, each voucher''s uses_left against its uses, each points voucher use against its earn entry, each voucher of its member''s program.';

REVOKE EXECUTE ON FUNCTION
	loyalty.authorize(loyalty.card, bigint, text, text),
	loyalty.capture(bigint, bigint),
	loyalty.void(bigint),
	loyalty.sweep_holds(),
	loyalty.open_holds_of(bigint, bigint)
FROM PUBLIC;
REVOKE ALL ON loyalty.hold FROM PUBLIC;

COMMENT ON TABLE loyalty.member_balance IS 'One row per member, updated with every ledger entry and hold: net = sum of the member''s ledger = sum of open lots + held - debt.';


-- grant_access as 0.6.0 has it (every section's functions); run it again
-- for existing roles.
--
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
		'tier_of(loyalty.card)',
		'tier_progress(loyalty.card)',
		'use_benefit(loyalty.card, text, text, text)',
		'enroll_with_sale(loyalty.card, text, text, text)',
		'enroll_with_sales(loyalty.card, text, text[], text[])',
		'check_voucher(text, loyalty.card, text, jsonb)',
		'use_voucher(text, loyalty.card, text, text, jsonb)',
		-- audiences (audience.sql): the member clips an opt-in offer
		'clip_offer(text, loyalty.card)',
		-- tender holds (hold.sql)
		'authorize(loyalty.card, bigint, text, text)',
		'capture(bigint, bigint)',
		'void(bigint)'];
	analyst_functions text[] := ARRAY[
		'rfm(timestamptz, text)',
		'rfm_segment(integer, integer, integer)',
		'repurchase(timestamptz, timestamptz, integer, text, text)',
		'activity(timestamptz, text, text)',
		'callbacks(timestamptz, integer)',
		'buyers_of(text[], text[], timestamptz)',
		'home_store(text, timestamptz, timestamptz)',
		'home_store(text, timestamptz, timestamptz, interval)',
		'home_stores(timestamptz, interval, text)',
		'member_value(timestamptz, text, double precision, double precision, loyalty.bgnbd_params, loyalty.gg_params)',
		'winback(timestamptz, text, double precision, double precision, loyalty.bgnbd_params, loyalty.gg_params)',
		'replenishment_due(timestamptz, integer, text, integer, double precision, integer)',
		'member_id(loyalty.card)',
		'balance(loyalty.card)',
		'balance_at(loyalty.card, timestamptz, timestamptz)',
		'statement(loyalty.card, timestamptz, timestamptz)',
		'lots_at(bigint, timestamptz, timestamptz)',
		'check_invariants()',
		'explain_sale(bigint)',
		'tier_of(loyalty.card)',
		'tier_at(loyalty.card, timestamptz)',
		'tier_progress(loyalty.card)',
		'review_tiers_preview(timestamptz, bigint[])',
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
		'clv(loyalty.bgnbd_params, loyalty.gg_params, integer, double precision, double precision, double precision, double precision, double precision)',
		-- segments (segment.sql); the view member_features calls member_features_at
		'member_features_at(timestamptz, text)',
		'segment_sizes(date, text)',
		'segment_overlap(date, text)',
		'segment_migration(date, date, text)'];
	admin_functions text[] := analyst_functions || pos_functions || ARRAY[
		'set_member_status(loyalty.card, text, text)',
		'replace_card(loyalty.card, loyalty.card)',
		'earn(loyalty.card, bigint, text, text, timestamptz, timestamptz)',
		'adjust(loyalty.card, bigint, text, text, timestamptz)',
		'reverse(loyalty.card, bigint, bigint, text, text)',
		'expire_points(timestamptz)',
		'set_tier(loyalty.card, text, text, timestamptz)',
		'review_tiers(timestamptz)',
		'use_benefit_at(loyalty.card, text, text, text, timestamptz)',
		'issue_voucher(text, loyalty.card, numeric, timestamptz, text)',
		-- the segment_check trigger calls it as the writer of a segment
		'segment_predicate_check(text)',
		'refresh_segments(timestamptz)',
		-- audiences (audience.sql): loaded and emptied by admin
		'audience_targets(text, loyalty.card[])',
		'audience_add(text, loyalty.card[])',
		'audience_remove(text, loyalty.card[])',
		-- tender holds (hold.sql): releases holds past their expiry
		'sweep_holds()'];
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
		EXECUTE format('GRANT INSERT (store, pos_txn, card, occurred_at, total, lines, return_of, vouchers) '
					   'ON loyalty.sale TO %s', role);
		EXECUTE format('GRANT SELECT (sale_id, store, pos_txn, return_of, member_id, points_earned, '
					   'points_pending, entry_id, tier, vouchers, vouchers_issued) ON loyalty.sale TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.sale_id_seq TO %s', role);
	END IF;
	IF access = 'admin' THEN
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON loyalty.program, loyalty.rule, loyalty.store, loyalty.tier TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.program_program_id_seq, loyalty.rule_rule_id_seq, loyalty.tier_id_seq TO %s', role);
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON loyalty.benefit TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.benefit_id_seq TO %s', role);
		-- vouchers: types configured and vouchers issued by admin only
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON loyalty.voucher_type TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.voucher_type_id_seq TO %s', role);
		-- segments: defined by admin only (a predicate runs as its writer)
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON loyalty.segment TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.segment_id_seq TO %s', role);
		-- audiences of targeted offers, and their members (INSERT ... SELECT)
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON loyalty.audience, loyalty.audience_member TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.audience_id_seq TO %s', role);
		-- consuming the outbox: DELETE ... WHERE event_id IN (SELECT ... FOR UPDATE SKIP LOCKED)
		EXECUTE format('GRANT UPDATE, DELETE ON loyalty.outbox TO %s', role);
		-- and waking up when the outbox's sequence moves (pg_sequence_last_value)
		EXECUTE format('GRANT SELECT ON SEQUENCE loyalty.outbox_event_id_seq TO %s', role);
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
REVOKE EXECUTE ON FUNCTION loyalty.grant_access(regrole, text) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.grant_access(regrole, text) IS
'Grants a role one access level: admin (configure programs, rules, stores, tiers, benefits, segments, voucher types and audiences, issue vouchers, refresh segments, load audiences, sweep expired holds, post corrections, override tiers, review them, consume the outbox, read all), pos (enrol, insert sales, redeem, authorize, capture and void holds, quote, read a card''s balance and tier, use benefits, enrol with a sale, check and use vouchers, clip offers) or analyst (read all, run the analytics, member features and segment history). Run it again after an update for the new release''s functions.';
