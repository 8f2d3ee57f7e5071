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
