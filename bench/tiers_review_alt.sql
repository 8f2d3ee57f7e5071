-- A prototype of review_tiers_preview for bench/tiers_review.sh (BENCH_ALT=1,
-- the default), created as loyalty.review_tiers_preview_alt and
-- loyalty.review_tiers_alt (review_tiers as on main, calling the _alt
-- preview), so that one run times both.  Same result as main's
-- review_tiers_preview (as of main 199df0d: an override without end has not
-- ended, changes dated no earlier than the member's latest; checked row for row over every window kind,
-- downgrade policy, grace, overrides ended/running/for good, 29 February
-- anniversaries, three as_of, with and without members: bench/README.md).
-- What it changes (src/sql/tier.sql's review_tiers_preview would take it
-- as it is, with the name):
--   1. f, the figures, is an inner join of m with tier_day bounded below by
--      the earliest day any program's periods reach (an InitPlan), so the
--      planner hashes or merges it over one scan of the window's days,
--      instead of a nested loop of one tier_day index scan per member (the
--      LEFT JOIN from m and its 200-group estimate); members without a day
--      come back with a LEFT JOIN of f and COALESCE(..., 0);
--   2. m is narrow (periods and member columns, no ladder arrays) and
--      MATERIALIZED: it is read twice, and the ladder (pr) is joined in q;
--   3. the member selection is a UNION ALL of "all" (WHERE members IS NULL,
--      a one-time filter) and an index look-up per element of members;
--   4. "all" is only the members who may change, told by their member_tier
--      row alone (see sel below): an override, a hold run out above the
--      base tier, or running figures meeting a threshold above the tier
--      (programs with rolling or lifetime windows; calendar and anniversary
--      years review every member).  The review then reads tier_day for a
--      few percent of the members instead of all: this is what brings it
--      under the plain GROUP BY.  It relies on what the sale trigger keeps:
--      member_tier's figures are the sum of the member's tier_day rows of
--      [window_start, last_day], no day after last_day, no day negative.
-- Plain SQL (one statement) with SET jit = off, as main's.
CREATE OR REPLACE FUNCTION loyalty.review_tiers_preview_alt(as_of timestamptz DEFAULT now(), members bigint[] DEFAULT NULL,
	OUT member_id bigint, OUT from_tier text, OUT to_tier text, OUT cause text,
	OUT changed_at timestamptz, OUT held_until date,
	OUT from_tier_id integer, OUT to_tier_id integer, OUT up boolean, OUT override_ended boolean)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
	WITH ladder AS (
		SELECT t.program_id, array_agg(t.rank ORDER BY t.rank) AS ranks, array_agg(t.tier_id ORDER BY t.rank) AS ids,
			   array_agg(t.code ORDER BY t.rank) AS codes, array_agg(t.min_spend ORDER BY t.rank) AS spend,
			   array_agg(t.min_visits ORDER BY t.rank) AS visits, array_agg(t.min_points ORDER BY t.rank) AS points
		  FROM loyalty.tier t GROUP BY t.program_id),
	-- per program: the review day and, but for anniversary years (which
	-- start at each member's enrolment day), the current and previous periods
	pr AS (
		SELECT p.program_id, p.time_zone, p.tier_window, p.tier_window_days, p.tier_downgrade, p.tier_grace_days,
			   l.ranks, l.ids, l.codes, l.spend, l.visits, l.points, r.today,
			   CASE WHEN p.tier_window = 'rolling' THEN r.today - p.tier_window_days ELSE w.period_start END AS cur_start,
			   w.period_end AS cur_end,
			   CASE WHEN p.tier_window = 'calendar_year'
					THEN (loyalty.tier_period(p.tier_window, p.tier_window_days, r.today, w.period_start - 1)).period_start
					ELSE w.period_start END AS prev_start
		  FROM loyalty.program p
		  JOIN ladder l ON l.program_id = p.program_id
		 CROSS JOIN LATERAL (SELECT loyalty.local_date(review_tiers_preview_alt.as_of, p.time_zone) AS today) r
		 CROSS JOIN LATERAL loyalty.tier_period(p.tier_window, p.tier_window_days, r.today, r.today) w),
	-- per tier: the lowest threshold of each kind of the tiers above it
	above AS (
		SELECT t.tier_id, min(h.min_spend) AS spend, min(h.min_visits) AS visits, min(h.min_points) AS points
		  FROM loyalty.tier t LEFT JOIN loyalty.tier h ON h.program_id = t.program_id AND h.rank > t.rank
		 GROUP BY t.tier_id),
	-- the members reviewed: those of members (an index look-up each); or all
	-- who may change: by the member's own row, a member whose override may
	-- end, whose hold has run out in a tier above the base, or whose running
	-- figures (member_tier: the days of [window_start, last_day], no sale
	-- after last_day) meet a threshold above the tier -- they bound the
	-- review's figures from above when its window lies within theirs
	-- (rolling, lifetime: no previous period counts) and days are never
	-- negative; calendar and anniversary years count a previous period, so
	-- all their members are reviewed
	sel AS (
		SELECT mt.member_id, mt.tier_id, mt.held_until, mt.override_tier_id, mt.override_until,
			   mb.program_id, mb.enrolled_at
		  FROM loyalty.member_tier mt
		  JOIN loyalty.member mb ON mb.member_id = mt.member_id
		  JOIN pr ON pr.program_id = mb.program_id
		  LEFT JOIN above a ON a.tier_id = mt.tier_id
		 WHERE review_tiers_preview_alt.members IS NULL
		   AND (pr.tier_window IN ('calendar_year', 'anniversary_year')
				OR mt.override_tier_id IS NOT NULL
				OR (pr.tier_downgrade <> 'never' AND mt.tier_id <> pr.ids[1]
					AND pr.today >= mt.held_until + pr.tier_grace_days)
				OR mt.window_start > pr.cur_start
				OR mt.spend >= a.spend OR mt.visits >= a.visits OR mt.points >= a.points)
		UNION ALL
		SELECT mt.member_id, mt.tier_id, mt.held_until, mt.override_tier_id, mt.override_until,
			   mb.program_id, mb.enrolled_at
		  FROM loyalty.member_tier mt
		  JOIN loyalty.member mb ON mb.member_id = mt.member_id
		 WHERE review_tiers_preview_alt.members IS NOT NULL
		   AND mt.member_id IN (SELECT u.id FROM pg_catalog.unnest(review_tiers_preview_alt.members) AS u(id))),
	-- each member's periods (narrow: read twice)
	m AS MATERIALIZED (
		SELECT s.member_id, s.tier_id, s.held_until, s.override_tier_id, s.override_until, pr.program_id, pr.today, a.anchor,
			   CASE WHEN pr.tier_window = 'anniversary_year'
					THEN (loyalty.tier_period(pr.tier_window, pr.tier_window_days, a.anchor, pr.today)).period_start
					ELSE pr.cur_start END AS cur_start,
			   CASE WHEN pr.tier_window = 'anniversary_year'
					THEN (loyalty.tier_period(pr.tier_window, pr.tier_window_days, a.anchor, pr.today)).period_end
					ELSE pr.cur_end END AS cur_end,
			   CASE WHEN pr.tier_window = 'anniversary_year'
					THEN (loyalty.tier_period(pr.tier_window, pr.tier_window_days, a.anchor,
						  (loyalty.tier_period(pr.tier_window, pr.tier_window_days, a.anchor, pr.today)).period_start - 1)).period_start
					ELSE pr.prev_start END AS prev_start
		  FROM sel s
		  JOIN pr ON pr.program_id = s.program_id
		 CROSS JOIN LATERAL (SELECT CASE WHEN pr.tier_window = 'anniversary_year'
										 THEN loyalty.local_date(s.enrolled_at, pr.time_zone)
										 ELSE pr.today END AS anchor) a),
	-- the figures of the days of the current and the previous period, one
	-- pass over the days no program's periods reach before
	f AS (
		SELECT m.member_id,
			   sum(d.spend) FILTER (WHERE d.day >= m.cur_start) AS spend,
			   count(*) FILTER (WHERE d.day >= m.cur_start AND d.spend > 0) AS visits,
			   sum(d.points) FILTER (WHERE d.day >= m.cur_start) AS points,
			   sum(d.spend) FILTER (WHERE d.day < m.cur_start) AS prev_spend,
			   count(*) FILTER (WHERE d.day < m.cur_start AND d.spend > 0) AS prev_visits,
			   sum(d.points) FILTER (WHERE d.day < m.cur_start) AS prev_points
		  FROM m JOIN loyalty.tier_day d ON d.member_id = m.member_id AND d.day >= m.prev_start AND d.day <= m.today
		 WHERE d.day >= (SELECT min(CASE WHEN pr.tier_window = 'anniversary_year' THEN pr.today - 733
										 ELSE pr.prev_start END) FROM pr)
		 GROUP BY m.member_id),
	q AS (
		SELECT m.*, pr.tier_window, pr.tier_window_days, pr.tier_downgrade, pr.tier_grace_days, pr.ids, pr.codes,
			   e.entitled_i,
			   array_position(pr.ids, m.tier_id) AS cur_i,
			   array_position(pr.ids, m.override_tier_id) AS floor_i,
			   m.override_tier_id IS NOT NULL AND coalesce(m.override_until <= review_tiers_preview_alt.as_of, false) AS ended,
			   m.override_tier_id IS NOT NULL AND (m.override_until IS NULL OR m.override_until > review_tiers_preview_alt.as_of) AS overridden
		  FROM m
		  JOIN pr ON pr.program_id = m.program_id
		  LEFT JOIN f ON f.member_id = m.member_id
		 CROSS JOIN LATERAL (
			SELECT max(i) AS entitled_i FROM pg_catalog.generate_subscripts(pr.ids, 1) AS i
			 WHERE i = 1 OR pr.spend[i] <= COALESCE(f.spend, 0) OR pr.visits[i] <= COALESCE(f.visits, 0)
				OR pr.points[i] <= COALESCE(f.points, 0) OR pr.spend[i] <= COALESCE(f.prev_spend, 0)
				OR pr.visits[i] <= COALESCE(f.prev_visits, 0) OR pr.points[i] <= COALESCE(f.prev_points, 0)) e),
	n AS (
		SELECT q.*,
			   CASE WHEN q.ended THEN q.entitled_i
					WHEN q.entitled_i > q.cur_i THEN q.entitled_i
					WHEN q.today >= q.held_until + q.tier_grace_days AND q.entitled_i < q.cur_i
						 AND q.tier_downgrade <> 'never'
					THEN GREATEST(CASE WHEN q.overridden THEN q.floor_i ELSE 1 END,
								  CASE q.tier_downgrade WHEN 'one_step' THEN q.cur_i - 1 ELSE q.entitled_i END)
					ELSE q.cur_i END AS new_i
		  FROM q)
	SELECT n.member_id, n.codes[n.cur_i], n.codes[n.new_i],
		   CASE WHEN n.ended THEN 'override_ended' ELSE 'review' END,
		   GREATEST(CASE WHEN n.ended THEN n.override_until ELSE review_tiers_preview_alt.as_of END,
					(SELECT max(c.changed_at) FROM loyalty.tier_change c WHERE c.member_id = n.member_id)),
		   CASE WHEN n.new_i > n.cur_i AND NOT n.ended
				THEN CASE n.tier_window WHEN 'lifetime' THEN n.today
										WHEN 'rolling' THEN n.today + n.tier_window_days + 1
										ELSE (loyalty.tier_period(n.tier_window, n.tier_window_days, n.anchor, n.cur_end)).period_end END
				ELSE CASE n.tier_window WHEN 'lifetime' THEN n.today + 1
										WHEN 'rolling' THEN n.today + n.tier_window_days + 1
										ELSE n.cur_end END END,
		   n.ids[n.cur_i], n.ids[n.new_i], n.new_i > n.cur_i, n.ended
	  FROM n
	 WHERE n.new_i <> n.cur_i OR n.ended
$$;

CREATE OR REPLACE FUNCTION loyalty.review_tiers_alt(as_of timestamptz DEFAULT now(),
	OUT members_checked bigint, OUT upgraded bigint, OUT downgraded bigint, OUT overrides_expired bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_ids bigint[];
	v_events bigint;
BEGIN
	IF as_of IS NULL THEN
		RAISE EXCEPTION 'as_of is required' USING ERRCODE = 'LY013';
	END IF;
	IF NOT isfinite(as_of) THEN
		RAISE EXCEPTION 'as_of must be a finite time' USING ERRCODE = 'LY017';
	END IF;
	IF as_of > now() THEN
		RAISE EXCEPTION 'as_of % is in the future', as_of USING ERRCODE = 'LY016',
			DETAIL = 'A review judges the figures of days that have happened.';
	END IF;
	SELECT count(*) INTO members_checked
	  FROM loyalty.member_tier mt JOIN loyalty.member m ON m.member_id = mt.member_id
	 WHERE EXISTS (SELECT FROM loyalty.tier t WHERE t.program_id = m.program_id);
	-- 1. who changes, by what committed before this statement
	SELECT array_agg(p.member_id ORDER BY p.member_id) INTO v_ids FROM loyalty.review_tiers_preview_alt(as_of) p;
	upgraded := 0; downgraded := 0; overrides_expired := 0;
	IF v_ids IS NULL THEN
		RETURN;
	END IF;
	-- 2. their locks, in member_id order, as a sale takes a member's
	PERFORM FROM loyalty.member_balance b WHERE b.member_id = ANY (v_ids) ORDER BY b.member_id FOR NO KEY UPDATE;
	-- 3. decided again under the locks (a sale may have committed meanwhile) and applied
	WITH d AS (SELECT * FROM loyalty.review_tiers_preview_alt(as_of, v_ids)),
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
		SELECT loyalty.tier_event(d.member_id, d.from_tier, d.to_tier, d.up, d.cause, d.changed_at)
		  FROM d WHERE d.to_tier_id <> d.from_tier_id)
	SELECT count(*) FILTER (WHERE d.up AND NOT d.override_ended),
		   count(*) FILTER (WHERE NOT d.up AND d.to_tier_id <> d.from_tier_id AND NOT d.override_ended),
		   count(*) FILTER (WHERE d.override_ended), (SELECT count(*) FROM e)
	  INTO upgraded, downgraded, overrides_expired, v_events
	  FROM d;
END
$$;
