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
