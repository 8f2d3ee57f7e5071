--
-- The points ledger.  Entries are append-only; lots and balances are the
-- derived state the C posting code (src/ledger.c) keeps in step with every
-- entry, in the same transaction, under the member's balance row lock.
--

CREATE TABLE loyalty.member_balance (
	member_id		bigint PRIMARY KEY REFERENCES loyalty.member,
	net				bigint NOT NULL DEFAULT 0,
	debt			bigint NOT NULL DEFAULT 0 CHECK (debt >= 0),
	lifetime_earned	bigint NOT NULL DEFAULT 0,
	lifetime_redeemed bigint NOT NULL DEFAULT 0,
	expired			bigint NOT NULL DEFAULT 0,
	reversed		bigint NOT NULL DEFAULT 0,
	adjusted		bigint NOT NULL DEFAULT 0,
	shortfall		bigint NOT NULL DEFAULT 0,
	last_entry_id	bigint,
	updated_at		timestamptz NOT NULL DEFAULT now(),
	status			text NOT NULL DEFAULT 'active',
	card			loyalty.card NOT NULL
);
COMMENT ON TABLE loyalty.member_balance IS 'One row per member, updated with every ledger entry: net = sum of the member''s ledger = sum of open lots - debt.';
COMMENT ON COLUMN loyalty.member_balance.net IS 'Sum of all the member''s ledger entries.';
COMMENT ON COLUMN loyalty.member_balance.debt IS 'Points owed after a debit the program let go negative (negative_balance = allow); later earnings repay it first.';
COMMENT ON COLUMN loyalty.member_balance.status IS 'Copy of member.status kept under the balance row lock, so a posting waiting for that lock sees a status change that committed meanwhile.';
COMMENT ON COLUMN loyalty.member_balance.card IS 'The member''s current card, kept under the balance row lock for the same reason (a replaced card is refused even by a posting that was already waiting).';
COMMENT ON COLUMN loyalty.member_balance.shortfall IS 'Points a truncated debit could not take (negative_balance = truncate).';

CREATE SEQUENCE loyalty.ledger_entry_id_seq;
COMMENT ON SEQUENCE loyalty.ledger_entry_id_seq IS 'Ledger entry ids (also lot ids and redemption ids).';

CREATE TABLE loyalty.ledger (
	member_id		bigint NOT NULL REFERENCES loyalty.member,
	entry_id		bigint NOT NULL DEFAULT nextval('loyalty.ledger_entry_id_seq'),
	kind			text NOT NULL CHECK (kind IN ('earn', 'redeem', 'expire', 'reverse', 'adjust')),
	points			bigint NOT NULL,
	effective_at	timestamptz NOT NULL,
	posted_at		timestamptz NOT NULL DEFAULT now(),
	source			text NOT NULL,
	reason			text,
	actor			text NOT NULL DEFAULT session_user,
	idem_key		text,
	store			text,
	pos_txn			text,
	value			numeric,
	pending_until	timestamptz,
	expires_at		timestamptz,
	reverses		bigint,
	shortfall		bigint NOT NULL DEFAULT 0,
	lot_ids			bigint[],
	lot_points		bigint[],
	PRIMARY KEY (member_id, entry_id),
	CHECK (CASE kind WHEN 'earn' THEN points > 0
					 WHEN 'redeem' THEN points < 0 OR (points = 0 AND shortfall > 0)
					 WHEN 'expire' THEN points < 0
					 ELSE points <> 0 OR shortfall > 0 END),
	CHECK (kind <> 'reverse' OR points <= 0),
	CHECK (pg_catalog.cardinality(lot_ids) = pg_catalog.cardinality(lot_points))
);
CREATE UNIQUE INDEX ledger_idem_key_idx ON loyalty.ledger (member_id, idem_key) WHERE idem_key IS NOT NULL;
CREATE UNIQUE INDEX ledger_redeem_pos_txn_idx ON loyalty.ledger (store, pos_txn) WHERE kind = 'redeem';
CREATE INDEX ledger_effective_idx ON loyalty.ledger (member_id, effective_at);
CREATE INDEX ledger_reverses_idx ON loyalty.ledger (member_id, reverses) WHERE reverses IS NOT NULL;
COMMENT ON TABLE loyalty.ledger IS 'Append-only points ledger: one row per earn, redeem, expire, reverse or adjust; UPDATE, DELETE and TRUNCATE are refused (SQLSTATE LY020).';
COMMENT ON COLUMN loyalty.ledger.points IS 'Signed points: earn positive; redeem, expire, reverse negative; adjust either.';
COMMENT ON COLUMN loyalty.ledger.effective_at IS 'When the entry counts (balance_at uses it); an expiry counts at the lot''s expiry time.';
COMMENT ON COLUMN loyalty.ledger.posted_at IS 'When the entry was written (transaction time).';
COMMENT ON COLUMN loyalty.ledger.source IS 'What produced the entry: api, redemption, expiry, manual, sale, rule ...';
COMMENT ON COLUMN loyalty.ledger.actor IS 'The session user who posted the entry.';
COMMENT ON COLUMN loyalty.ledger.idem_key IS 'Idempotency key, unique per member; for redemptions (store, pos_txn) is the key.';
COMMENT ON COLUMN loyalty.ledger.value IS 'Money value of a redemption, at the program''s point value when it was made.';
COMMENT ON COLUMN loyalty.ledger.reverses IS 'For a reverse entry: the earn entry it takes back.';
COMMENT ON COLUMN loyalty.ledger.shortfall IS 'Points a truncated debit could not take (negative_balance = truncate).';
COMMENT ON COLUMN loyalty.ledger.lot_ids IS 'The lots this entry consumed (debits) or opened (credits), parallel to lot_points.';
COMMENT ON COLUMN loyalty.ledger.lot_points IS 'Points taken from (debits) or put into (credits) each lot of lot_ids.';

CREATE TABLE loyalty.lot (
	member_id		bigint NOT NULL REFERENCES loyalty.member,
	lot_id			bigint NOT NULL,
	points			bigint NOT NULL CHECK (points > 0),
	remaining		bigint NOT NULL CHECK (remaining >= 0 AND remaining <= points),
	earned_at		timestamptz NOT NULL,
	available_from	timestamptz NOT NULL,
	expires_at		timestamptz,
	PRIMARY KEY (member_id, lot_id)
);
CREATE INDEX lot_open_idx ON loyalty.lot (member_id, expires_at, lot_id) WHERE remaining > 0;
CREATE INDEX lot_expiry_idx ON loyalty.lot (expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;
COMMENT ON TABLE loyalty.lot IS 'Points lots: every credit opens one (lot_id = its ledger entry_id); debits consume them earliest expiry first.';
COMMENT ON COLUMN loyalty.lot.available_from IS 'Pending until this moment: counted and shown, not redeemable.';
COMMENT ON COLUMN loyalty.lot.expires_at IS 'NULL: never expires.';

-- Append-only: no one, not even the owner, rewrites the ledger.  The trigger
-- is ENABLE ALWAYS so session_replication_role = replica does not skip it.
CREATE FUNCTION loyalty.ledger_refuse_change() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'loyalty_ledger_refuse_change';
COMMENT ON FUNCTION loyalty.ledger_refuse_change() IS 'Trigger: refuses UPDATE, DELETE and TRUNCATE of the ledger (SQLSTATE LY020).';
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON loyalty.ledger
	FOR EACH ROW EXECUTE FUNCTION loyalty.ledger_refuse_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON loyalty.ledger
	FOR EACH STATEMENT EXECUTE FUNCTION loyalty.ledger_refuse_change();
ALTER TABLE loyalty.ledger ENABLE ALWAYS TRIGGER ledger_append_only;
ALTER TABLE loyalty.ledger ENABLE ALWAYS TRIGGER ledger_no_truncate;

SELECT pg_catalog.pg_extension_config_dump('loyalty.member_balance', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.ledger', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.ledger_entry_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.lot', '');

-- ---------------------------------------------------------------------------
-- Posting API (C, src/ledger.c).  SECURITY DEFINER because the roles that
-- call them may not write the tables themselves: the functions are the only
-- way in, and they keep the invariants.
-- ---------------------------------------------------------------------------

CREATE TYPE loyalty.posting AS (
	entry_id		bigint,
	member_id		bigint,
	kind			text,
	points			bigint,
	shortfall		bigint,
	effective_at	timestamptz,
	pending_until	timestamptz,
	expires_at		timestamptz
);
COMMENT ON TYPE loyalty.posting IS 'What earn, adjust and reverse posted (or, on a replay, had posted).';

CREATE TYPE loyalty.redemption AS (
	redemption_id	bigint,
	member_id		bigint,
	points			bigint,
	value			numeric,
	currency		text,
	redeemed_at		timestamptz
);
COMMENT ON TYPE loyalty.redemption IS 'What redeem took: points and their money value; redemption_id is the ledger entry_id.';

CREATE FUNCTION loyalty.member_id(card loyalty.card) RETURNS bigint
LANGUAGE C STABLE PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_member_id';
COMMENT ON FUNCTION loyalty.member_id(loyalty.card) IS 'The member of a card; unknown (LY001) and replaced (LY002) cards are refused.';

CREATE FUNCTION loyalty.earn(
	card loyalty.card, points bigint, idem_key text, reason text DEFAULT NULL,
	effective_at timestamptz DEFAULT NULL, pending_until timestamptz DEFAULT NULL)
RETURNS loyalty.posting
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_earn';
COMMENT ON FUNCTION loyalty.earn(loyalty.card, bigint, text, text, timestamptz, timestamptz) IS
'Credits points not tied to a sale (bonus, goodwill); idempotent per member and idem_key.';

CREATE FUNCTION loyalty.redeem(card loyalty.card, points bigint, store text, pos_txn text)
RETURNS loyalty.redemption
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_redeem';
COMMENT ON FUNCTION loyalty.redeem(loyalty.card, bigint, text, text) IS
'Spends available points as tender at a POS; idempotent per (store, pos_txn); never overdraws (LY010).';

CREATE FUNCTION loyalty.adjust(
	card loyalty.card, points bigint, idem_key text, reason text,
	effective_at timestamptz DEFAULT NULL)
RETURNS loyalty.posting
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_adjust';
COMMENT ON FUNCTION loyalty.adjust(loyalty.card, bigint, text, text, timestamptz) IS
'Manual signed correction with a required reason; a debit follows the program''s negative_balance policy.';

CREATE FUNCTION loyalty.reverse(
	card loyalty.card, entry_id bigint, points bigint, idem_key text, reason text DEFAULT NULL)
RETURNS loyalty.posting
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_reverse';
COMMENT ON FUNCTION loyalty.reverse(loyalty.card, bigint, bigint, text, text) IS
'Takes back points of an earn entry (at most what it earned, over all reversals); follows the negative_balance policy.';

CREATE FUNCTION loyalty.expire_points(as_of timestamptz DEFAULT NULL,
	OUT entries bigint, OUT points bigint)
RETURNS record
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_expire_points';
COMMENT ON FUNCTION loyalty.expire_points(timestamptz) IS
'Posts one expire entry per lot whose expiry is at or before as_of (default now()); re-running it for the same moment posts nothing.';
