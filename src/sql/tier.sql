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
