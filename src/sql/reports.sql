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

-- balance(card) reads the holds too: it is in hold.sql.

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

-- check_invariants() covers the holds too: it is in hold.sql.
