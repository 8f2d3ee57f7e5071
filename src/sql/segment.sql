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
