
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
-- balance() and check_invariants() read the holds, so they are defined here
-- (after every column the releases before 0.6.0 added), not in reports.sql.
--

ALTER TABLE loyalty.program ADD COLUMN hold_minutes integer NOT NULL DEFAULT 30
	CHECK (hold_minutes BETWEEN 1 AND 10080);
COMMENT ON COLUMN loyalty.program.hold_minutes IS 'Minutes an authorized hold lasts before it is released unless captured (30 by default, at most a week).';

ALTER TABLE loyalty.member_balance ADD COLUMN held bigint NOT NULL DEFAULT 0 CHECK (held >= 0);
ALTER TABLE loyalty.member_balance ADD COLUMN open_holds bigint NOT NULL DEFAULT 0 CHECK (open_holds >= 0);
COMMENT ON COLUMN loyalty.member_balance.held IS 'Points the member''s open holds keep out of the lots (points - taken of each; not yet captured or released): net = open lots + held - debt.';
COMMENT ON COLUMN loyalty.member_balance.open_holds IS 'The member''s open holds (a hold a reversal emptied counts too): postings and sweep_holds() look for lapsed holds only while it is above 0.';

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

COMMENT ON TABLE loyalty.member_balance IS 'One row per member, updated with every ledger entry and hold: net = sum of the member''s ledger = sum of open lots + held - debt.';
