-- loyalty 0.4.0 -> 0.5.0: hardening (issue "Hardening I").
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.5.0'" to load this file. \quit

-- Input bounds and session independence: store and program time
-- zones are tz database names, checked and resolved in C.  Rows whose zone
-- is not one (an abbreviation such as CST, a POSIX spec, another spelling)
-- stop the update: which zone an abbreviation meant (CST: US Central?
-- China?) is the DBA's call, not the update's.
CREATE FUNCTION loyalty.time_zone_is_valid(name text) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_time_zone_is_valid';
COMMENT ON FUNCTION loyalty.time_zone_is_valid(text) IS
'Whether the text is the name of a zone of the tz database, spelled as the database spells it (America/Chicago; not CST, not a POSIX spec).';
DO $$
DECLARE
	bad text;
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.format('%s %L: %L', t, k, z), ', ' ORDER BY t, k) INTO bad
	  FROM (SELECT 'store' AS t, s.store AS k, s.time_zone AS z FROM loyalty.store s
			 WHERE s.time_zone IS NOT NULL AND NOT loyalty.time_zone_is_valid(s.time_zone)
			UNION ALL
			SELECT 'program', p.code, p.time_zone FROM loyalty.program p
			 WHERE NOT loyalty.time_zone_is_valid(p.time_zone)) x;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'time zones that are not tz database names: %', bad
			USING ERRCODE = 'check_violation',
				  DETAIL = 'From 0.5.0 on, a store''s or program''s time zone is a tz database name, never an abbreviation or a POSIX spec, so that no session setting moves a rule''s hours.',
				  HINT = 'Set each to its tz database name (UPDATE loyalty.store SET time_zone = ''America/Chicago'' WHERE time_zone = ''CST''), then run ALTER EXTENSION loyalty UPDATE again.';
	END IF;
END
$$;
ALTER TABLE loyalty.store DROP CONSTRAINT store_time_zone_check,
	ADD CONSTRAINT store_time_zone_check CHECK (time_zone IS NULL OR loyalty.time_zone_is_valid(time_zone));
ALTER TABLE loyalty.program DROP CONSTRAINT program_time_zone_check,
	ADD CONSTRAINT program_time_zone_check CHECK (loyalty.time_zone_is_valid(time_zone));
COMMENT ON COLUMN loyalty.store.time_zone IS 'Time zone of the store, a tz database name (America/Chicago); NULL: the program''s.';
COMMENT ON COLUMN loyalty.program.time_zone IS 'Time zone of rule day and hour windows where the store has none, a tz database name (UTC by default).';
-- Back-dating policy: how far back a POS may date a sale or a return.
ALTER TABLE loyalty.program ADD COLUMN backdate_limit interval NOT NULL DEFAULT interval '1 day'
	CHECK (backdate_limit >= interval '0' AND backdate_limit <= interval '366 days');
COMMENT ON COLUMN loyalty.program.backdate_limit IS 'How far back a POS may date a sale or a return (occurred_at): 1 day by default, at most 366 days. A caller who may change this column (the admin level) is not bound by it: a back-fill. No member''s sale is dated before the member''s enrolment, a back-fill''s neither.';
-- Security and the SQL surface: the card operators move to pg_catalog, NULL
-- arguments are refused (LY013) instead of acting on card 00000000, times
-- are checked, and program and rule settings are bounded.

-- The card type's operators move from loyalty to pg_catalog (see card.sql):
-- they keep their OIDs, so the operator classes, indexes and stored queries
-- that use them are unchanged.
ALTER OPERATOR loyalty.= (loyalty.card, loyalty.card) SET SCHEMA pg_catalog;
ALTER OPERATOR loyalty.<> (loyalty.card, loyalty.card) SET SCHEMA pg_catalog;
ALTER OPERATOR loyalty.< (loyalty.card, loyalty.card) SET SCHEMA pg_catalog;
ALTER OPERATOR loyalty.<= (loyalty.card, loyalty.card) SET SCHEMA pg_catalog;
ALTER OPERATOR loyalty.> (loyalty.card, loyalty.card) SET SCHEMA pg_catalog;
ALTER OPERATOR loyalty.>= (loyalty.card, loyalty.card) SET SCHEMA pg_catalog;

-- Functions that name the operators (OPERATOR(pg_catalog.=) now) or refuse
-- NULL and non-finite arguments.
CREATE OR REPLACE FUNCTION loyalty.enroll(
	card loyalty.card,
	program text,
	birth_date date DEFAULT NULL,
	gender text DEFAULT NULL,
	region text DEFAULT NULL,
	income_band text DEFAULT NULL,
	home_store text DEFAULT NULL,
	channel text DEFAULT NULL,
	attributes jsonb DEFAULT '{}',
	enrolled_at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_program	integer;
	v_member	bigint;
	v_found		record;
BEGIN
	IF enroll.card IS NULL THEN
		RAISE EXCEPTION 'card is required' USING ERRCODE = 'LY013';
	END IF;
	IF enroll.program IS NULL THEN
		RAISE EXCEPTION 'program is required' USING ERRCODE = 'LY013';
	END IF;
	-- NULL: now; a POS's clock may run a little ahead, as for sales
	IF enroll.enrolled_at IS NOT NULL THEN
		IF NOT isfinite(enroll.enrolled_at) THEN
			RAISE EXCEPTION 'time must be finite: %', enroll.enrolled_at
				USING ERRCODE = 'LY017', DETAIL = 'An enrolment happens at a real moment; NULL means now.';
		END IF;
		IF enroll.enrolled_at > clock_timestamp() + interval '5 minutes' THEN
			RAISE EXCEPTION 'enrolment time % is in the future', enroll.enrolled_at
				USING ERRCODE = 'LY016',
					  DETAIL = 'An enrolment may be dated at most 5 minutes ahead of the server''s clock.';
		END IF;
	END IF;
	SELECT p.program_id INTO v_program FROM loyalty.program p WHERE p.code = enroll.program;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'program "%" does not exist', enroll.program
			USING ERRCODE = 'LY005', HINT = 'Create it with INSERT INTO loyalty.program (code).';
	END IF;
	LOOP
		SELECT c.member_id, c.replaced_at, m.program_id, p.code INTO v_found
		  FROM loyalty.member_card c
		  JOIN loyalty.member m ON m.member_id = c.member_id
		  JOIN loyalty.program p ON p.program_id = m.program_id
		 WHERE c.card OPERATOR(pg_catalog.=) enroll.card;
		IF FOUND THEN
			IF v_found.replaced_at IS NOT NULL THEN
				RAISE EXCEPTION 'card "%" has been replaced', enroll.card
					USING ERRCODE = 'LY002', DETAIL = 'A replaced card can no longer be used.';
			END IF;
			IF v_found.program_id <> v_program THEN
				RAISE EXCEPTION 'card "%" is already enrolled in program "%"', enroll.card, v_found.code
					USING ERRCODE = 'LY006';
			END IF;
			RETURN v_found.member_id;	-- a retried enrolment returns the member it made
		END IF;
		INSERT INTO loyalty.member (program_id, birth_date, gender, region, income_band,
									home_store, channel, attributes, enrolled_at)
		VALUES (v_program, enroll.birth_date, enroll.gender, enroll.region, enroll.income_band,
				enroll.home_store, enroll.channel, COALESCE(enroll.attributes, '{}'),
				COALESCE(enroll.enrolled_at, now()))
		RETURNING member_id INTO v_member;
		INSERT INTO loyalty.member_card (card, member_id, issued_at)
		VALUES (enroll.card, v_member, COALESCE(enroll.enrolled_at, now()))
		ON CONFLICT DO NOTHING;
		IF FOUND THEN
			INSERT INTO loyalty.member_balance (member_id, card, program_id)
			VALUES (v_member, enroll.card, v_program);
			RETURN v_member;
		END IF;
		DELETE FROM loyalty.member m WHERE m.member_id = v_member;	-- lost the race
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION loyalty.set_member_status(card loyalty.card, status text, reason text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_member bigint := loyalty.member_id(set_member_status.card);
BEGIN
	IF set_member_status.status IS NULL THEN
		RAISE EXCEPTION 'status is required' USING ERRCODE = 'LY013';
	END IF;
	IF set_member_status.status NOT IN ('active', 'suspended', 'closed') THEN
		RAISE EXCEPTION 'invalid member status: "%"', set_member_status.status
			USING ERRCODE = 'LY007', DETAIL = 'A member is active, suspended or closed.';
	END IF;
	UPDATE loyalty.member m
	   SET status = set_member_status.status, status_reason = set_member_status.reason
	 WHERE m.member_id = v_member AND m.status IS DISTINCT FROM set_member_status.status;
	RETURN set_member_status.status;
END
$$;

CREATE OR REPLACE FUNCTION loyalty.replace_card(old_card loyalty.card, new_card loyalty.card)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_old record;
BEGIN
	IF old_card IS NULL OR new_card IS NULL THEN
		RAISE EXCEPTION 'old and new card are required' USING ERRCODE = 'LY013';
	END IF;
	-- the member's balance row lock serialises this with its postings and
	-- with another replacement of the same card
	SELECT c.member_id, c.replaced_by, m.status INTO v_old
	  FROM loyalty.member_card c JOIN loyalty.member m ON m.member_id = c.member_id
	 WHERE c.card OPERATOR(pg_catalog.=) old_card;
	IF FOUND THEN
		PERFORM FROM loyalty.member_balance b WHERE b.member_id = v_old.member_id FOR NO KEY UPDATE;
		SELECT c.member_id, c.replaced_by, m.status INTO v_old
		  FROM loyalty.member_card c JOIN loyalty.member m ON m.member_id = c.member_id
		 WHERE c.card OPERATOR(pg_catalog.=) old_card;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'card "%" is not enrolled', old_card USING ERRCODE = 'LY001';
	END IF;
	IF v_old.replaced_by IS NOT NULL THEN
		IF v_old.replaced_by OPERATOR(pg_catalog.=) new_card THEN
			RETURN v_old.member_id;		-- a retried replacement
		END IF;
		RAISE EXCEPTION 'card "%" has been replaced', old_card
			USING ERRCODE = 'LY002', DETAIL = 'A replaced card can no longer be used.';
	END IF;
	IF v_old.status = 'closed' THEN
		RAISE EXCEPTION 'member of card "%" is closed', old_card USING ERRCODE = 'LY004';
	END IF;
	UPDATE loyalty.member_card c SET replaced_at = now(), replaced_by = new_card
	 WHERE c.card OPERATOR(pg_catalog.=) old_card;
	INSERT INTO loyalty.member_card (card, member_id) VALUES (new_card, v_old.member_id)
	ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'card "%" is already in use', new_card USING ERRCODE = 'LY006';
	END IF;
	UPDATE loyalty.member_balance b SET card = new_card WHERE b.member_id = v_old.member_id;
	RETURN v_old.member_id;
END
$$;

CREATE OR REPLACE FUNCTION loyalty.lots_at(member_id bigint, at timestamptz, as_posted_by timestamptz DEFAULT NULL,
	OUT lot_id bigint, OUT points bigint, OUT available_from timestamptz, OUT expires_at timestamptz)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
	IF lots_at.member_id IS NULL THEN
		RAISE EXCEPTION 'member_id is required' USING ERRCODE = 'LY013';
	END IF;
	IF lots_at.at IS NULL THEN
		RAISE EXCEPTION 'time is required' USING ERRCODE = 'LY013',
			DETAIL = 'lots_at needs the moment to answer for.';
	END IF;
	RETURN QUERY
	SELECT m.lot_id,
		   sum(CASE WHEN e.points > 0 THEN m.pts ELSE -m.pts END)::bigint,
		   max(COALESCE(c.pending_until, c.effective_at)),
		   max(c.expires_at)
	  FROM loyalty.ledger e
	 CROSS JOIN LATERAL unnest(e.lot_ids, e.lot_points) AS m(lot_id, pts)
	  JOIN loyalty.ledger c ON c.member_id = e.member_id AND c.entry_id = m.lot_id
	 WHERE e.member_id = lots_at.member_id
	   AND e.effective_at <= lots_at.at
	   AND (lots_at.as_posted_by IS NULL OR e.posted_at <= lots_at.as_posted_by)
	 GROUP BY m.lot_id
	HAVING sum(CASE WHEN e.points > 0 THEN m.pts ELSE -m.pts END) <> 0;
END
$$;

CREATE OR REPLACE FUNCTION loyalty.balance_at(card loyalty.card, at timestamptz, as_posted_by timestamptz DEFAULT NULL,
	OUT member_id bigint, OUT available bigint, OUT pending bigint,
	OUT lifetime_earned bigint, OUT lifetime_redeemed bigint, OUT expired bigint,
	OUT reversed bigint, OUT adjusted bigint, OUT net bigint)
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
	IF balance_at.card IS NULL THEN
		RAISE EXCEPTION 'card is required' USING ERRCODE = 'LY013';
	END IF;
	IF balance_at.at IS NULL THEN
		RAISE EXCEPTION 'time is required' USING ERRCODE = 'LY013',
			DETAIL = 'balance_at needs the moment to answer for.';
	END IF;
	WITH m AS (SELECT loyalty.member_id(balance_at.card) AS member_id),
	e AS (
		SELECT e.kind, e.points
		  FROM loyalty.ledger e, m
		 WHERE e.member_id = m.member_id AND e.effective_at <= balance_at.at
		   AND (balance_at.as_posted_by IS NULL OR e.posted_at <= balance_at.as_posted_by)
	), s AS (
		SELECT COALESCE(sum(points), 0)::bigint AS net,
			   COALESCE(sum(points) FILTER (WHERE kind = 'earn'), 0)::bigint AS earned,
			   COALESCE(-sum(points) FILTER (WHERE kind = 'redeem'), 0)::bigint AS redeemed,
			   COALESCE(-sum(points) FILTER (WHERE kind = 'expire'), 0)::bigint AS expired,
			   COALESCE(-sum(points) FILTER (WHERE kind = 'reverse'), 0)::bigint AS reversed,
			   COALESCE(sum(points) FILTER (WHERE kind = 'adjust'), 0)::bigint AS adjusted
		  FROM e
	), l AS (
		SELECT COALESCE(sum(points) FILTER (WHERE expires_at <= balance_at.at), 0)::bigint AS lapsed,
			   COALESCE(sum(points) FILTER (WHERE available_from > balance_at.at
								AND (expires_at IS NULL OR expires_at > balance_at.at)), 0)::bigint AS pending
		  FROM m, loyalty.lots_at(m.member_id, balance_at.at, balance_at.as_posted_by)
	)
	SELECT m.member_id, s.net - l.pending - l.lapsed, l.pending,
		   s.earned, s.redeemed, s.expired + l.lapsed, s.reversed, s.adjusted, s.net
	  INTO balance_at.member_id, balance_at.available, balance_at.pending,
		   balance_at.lifetime_earned, balance_at.lifetime_redeemed, balance_at.expired,
		   balance_at.reversed, balance_at.adjusted, balance_at.net
	  FROM m, s, l;
END
$$;

CREATE OR REPLACE FUNCTION loyalty.statement(card loyalty.card, from_at timestamptz, to_at timestamptz,
	OUT entry_id bigint, OUT kind text, OUT points bigint, OUT balance_after bigint,
	OUT effective_at timestamptz, OUT posted_at timestamptz, OUT pending_until timestamptz,
	OUT expires_at timestamptz, OUT source text, OUT store text, OUT pos_txn text,
	OUT reason text, OUT actor text, OUT idem_key text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
	IF statement.card IS NULL THEN
		RAISE EXCEPTION 'card is required' USING ERRCODE = 'LY013';
	END IF;
	IF statement.from_at IS NULL OR statement.to_at IS NULL THEN
		RAISE EXCEPTION 'from_at and to_at are required' USING ERRCODE = 'LY013',
			DETAIL = 'A statement covers [from_at, to_at); use ''-infinity'' or ''infinity'' for no bound.';
	END IF;
	RETURN QUERY
	SELECT * FROM (
		SELECT e.entry_id, e.kind, e.points,
			   (sum(e.points) OVER (ORDER BY e.effective_at, e.entry_id))::bigint,
			   e.effective_at, e.posted_at, e.pending_until, e.expires_at, e.source,
			   e.store, e.pos_txn, e.reason, e.actor, e.idem_key
		  FROM loyalty.ledger e
		 WHERE e.member_id = loyalty.member_id(statement.card)
		   AND e.effective_at < statement.to_at
	) s
	 WHERE s.effective_at >= statement.from_at
	 ORDER BY s.effective_at, s.entry_id;
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
	), moves AS (
		SELECT e.member_id, m.lot_id,
			   sum(m.pts) FILTER (WHERE e.points > 0) AS put_in,
			   COALESCE(sum(m.pts) FILTER (WHERE e.points <= 0), 0) AS taken
		  FROM loyalty.ledger e CROSS JOIN LATERAL unnest(e.lot_ids, e.lot_points) AS m(lot_id, pts)
		 GROUP BY e.member_id, m.lot_id
	), bal AS (
		SELECT b.*, COALESCE(led.net, 0) AS l_net, COALESCE(led.earned, 0) AS l_earned,
			   COALESCE(led.redeemed, 0) AS l_redeemed, COALESCE(led.expired, 0) AS l_expired,
			   COALESCE(led.reversed, 0) AS l_reversed, COALESCE(led.adjusted, 0) AS l_adjusted,
			   COALESCE(led.shortfall, 0) AS l_shortfall,
			   COALESCE(lots.remaining, 0) AS lots_remaining, p.negative_balance
		  FROM loyalty.member_balance b
		  JOIN loyalty.member m ON m.member_id = b.member_id
		  JOIN loyalty.program p ON p.program_id = m.program_id
		  LEFT JOIN led ON led.member_id = b.member_id
		  LEFT JOIN lots ON lots.member_id = b.member_id
	)
	SELECT member_id, 'balance = ledger sum', format('balance net %s, ledger sum %s', net, l_net)
	  FROM bal WHERE net <> l_net
	UNION ALL
	SELECT member_id, 'balance = open lots - debt',
		   format('balance net %s, open lots %s, debt %s', net, lots_remaining, debt)
	  FROM bal WHERE net <> lots_remaining - debt
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
	SELECT COALESCE(l.member_id, mv.member_id), 'lot = ledger moves',
		   format('lot %s: points %s remaining %s, ledger put in %s took %s',
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
$$;

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
END
$$;

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
		'explain_sale(bigint)'];
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

-- Bounded program and rule settings: larger values (and NaN or Infinity)
-- made every sale or return fail.  A row outside the bounds makes this
-- update fail; correct it first.
ALTER TABLE loyalty.program DROP CONSTRAINT program_points_per_unit_check,
	ADD CONSTRAINT program_points_per_unit_check CHECK (points_per_unit >= 0 AND points_per_unit <= 10000);
ALTER TABLE loyalty.program DROP CONSTRAINT program_point_value_check,
	ADD CONSTRAINT program_point_value_check CHECK (point_value >= 0 AND point_value <= 1000000);
ALTER TABLE loyalty.program DROP CONSTRAINT program_expiry_after_check,
	ADD CONSTRAINT program_expiry_after_check CHECK (expiry_after >= interval '1 day' AND expiry_after <= interval '100 years');
ALTER TABLE loyalty.program DROP CONSTRAINT program_pending_days_check,
	ADD CONSTRAINT program_pending_days_check CHECK (pending_days BETWEEN 0 AND 3650);
ALTER TABLE loyalty.program DROP CONSTRAINT program_return_days_check,
	ADD CONSTRAINT program_return_days_check CHECK (return_days BETWEEN 0 AND 3650);
ALTER TABLE loyalty.rule DROP CONSTRAINT rule_min_basket_check,
	ADD CONSTRAINT rule_min_basket_check CHECK (min_basket > 0 AND min_basket <= 1000000000000000);
ALTER TABLE loyalty.rule DROP CONSTRAINT rule_multiplier_check,
	ADD CONSTRAINT rule_multiplier_check CHECK (multiplier > 0 AND multiplier <= 1000);
ALTER TABLE loyalty.rule DROP CONSTRAINT rule_points_check,
	ADD CONSTRAINT rule_points_check CHECK (points BETWEEN 1 AND 1000000000);
