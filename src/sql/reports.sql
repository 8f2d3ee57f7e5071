--
-- Reading the ledger: balances now and at any past moment, statements, and
-- the invariant check.  Plain SQL over the tables ledger.c keeps.
--

-- Lot state at a moment: points put in by credits minus points taken by
-- debits, from the ledger's lot_ids/lot_points alone (so it works for any
-- past moment, not only for now).
CREATE FUNCTION loyalty.lots_at(member_id bigint, at timestamptz, as_posted_by timestamptz DEFAULT NULL,
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
COMMENT ON FUNCTION loyalty.lots_at(bigint, timestamptz, timestamptz) IS
'Points left in each lot of a member at a past moment, rebuilt from the ledger alone.';

CREATE FUNCTION loyalty.balance(card loyalty.card,
	OUT member_id bigint, OUT available bigint, OUT pending bigint,
	OUT lifetime_earned bigint, OUT lifetime_redeemed bigint, OUT expired bigint,
	OUT reversed bigint, OUT adjusted bigint, OUT debt bigint,
	OUT next_expiry_at timestamptz, OUT next_expiry_points bigint,
	OUT value numeric, OUT currency text)
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
	), l AS (
		SELECT COALESCE(sum(l.remaining) FILTER (WHERE l.expires_at <= b.at), 0)::bigint AS lapsed,
			   COALESCE(sum(l.remaining) FILTER (WHERE l.available_from > b.at
								AND (l.expires_at IS NULL OR l.expires_at > b.at)), 0)::bigint AS pending,
			   min(l.expires_at) FILTER (WHERE l.expires_at > b.at) AS next_expiry_at
		  FROM loyalty.lot l, b
		 WHERE l.member_id = b.member_id AND l.remaining > 0
	)
	SELECT b.member_id,
		   b.net - l.pending - l.lapsed,
		   l.pending,
		   b.lifetime_earned, b.lifetime_redeemed, b.expired + l.lapsed,
		   b.reversed, b.adjusted, b.debt,
		   l.next_expiry_at,
		   (SELECT sum(x.remaining)::bigint FROM loyalty.lot x
			 WHERE x.member_id = b.member_id AND x.remaining > 0 AND x.expires_at = l.next_expiry_at),
		   (b.net - l.pending - l.lapsed) * b.point_value,
		   b.currency
	  FROM b, l
$$;
COMMENT ON FUNCTION loyalty.balance(loyalty.card) IS
'A member''s points now: available (redeemable), pending, lifetime figures, debt, the next expiry, and the money value of the available points. Points past their expiry count as expired even before expire_points() posts them.';

CREATE FUNCTION loyalty.balance_at(card loyalty.card, at timestamptz, as_posted_by timestamptz DEFAULT NULL,
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
COMMENT ON FUNCTION loyalty.balance_at(loyalty.card, timestamptz, timestamptz) IS
'A member''s balance at any past moment, from the ledger by effective time; with as_posted_by, only entries posted by then (what the ledger said at that time).';

CREATE FUNCTION loyalty.statement(card loyalty.card, from_at timestamptz, to_at timestamptz,
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
COMMENT ON FUNCTION loyalty.statement(loyalty.card, timestamptz, timestamptz) IS
'A member''s ledger entries effective in [from_at, to_at), oldest first, each with the net balance after it.';

CREATE FUNCTION loyalty.check_invariants(OUT member_id bigint, OUT invariant text, OUT detail text)
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
COMMENT ON FUNCTION loyalty.check_invariants() IS
'One row per broken invariant (none when healthy): balance = ledger sum = open lots - debt, lifetime figures, lots against the ledger, debt policy, one current card per member.';
