-- loyalty install script, built by the Makefile from src/sql/*.sql.
\echo Use "CREATE EXTENSION loyalty" to load this file. \quit

-- The extension owns its schema, so DROP EXTENSION removes it too (as pg_cron
-- does: the control file names pg_catalog and the script creates the schema).
CREATE SCHEMA loyalty;
COMMENT ON SCHEMA loyalty IS 'The loyalty extension: programs, members, cards and the points ledger.';


--
-- The card type: membership card numbers (8 to 19 digits, Luhn check digit).
-- Stored as an int64 (see src/card.c), so the comparison and hash support
-- reuses the int8 internals, as contrib/isn does.
--

CREATE TYPE loyalty.card;

CREATE FUNCTION loyalty.card_in(cstring)
	RETURNS loyalty.card
	AS 'MODULE_PATHNAME', 'card_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION loyalty.card_out(loyalty.card)
	RETURNS cstring
	AS 'MODULE_PATHNAME', 'card_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION loyalty.card_recv(internal)
	RETURNS loyalty.card
	AS 'MODULE_PATHNAME', 'card_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION loyalty.card_send(loyalty.card)
	RETURNS bytea
	AS 'MODULE_PATHNAME', 'card_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE loyalty.card (
	INPUT = loyalty.card_in,
	OUTPUT = loyalty.card_out,
	RECEIVE = loyalty.card_recv,
	SEND = loyalty.card_send,
	LIKE = pg_catalog.int8
);

COMMENT ON TYPE loyalty.card IS 'Membership card number: 8 to 19 digits ending in a Luhn (ISO/IEC 7812) check digit; leading zeros are significant.';
COMMENT ON FUNCTION loyalty.card_in(cstring) IS 'Text input for card: digits, optionally grouped by single spaces or hyphens; checks the length and the Luhn check digit.';
COMMENT ON FUNCTION loyalty.card_out(loyalty.card) IS 'Text output for card: the plain digits, check digit included.';
COMMENT ON FUNCTION loyalty.card_recv(internal) IS 'Binary input for card.';
COMMENT ON FUNCTION loyalty.card_send(loyalty.card) IS 'Binary output for card.';

-- Comparison support, backed by the int8 internals.

CREATE FUNCTION loyalty.card_eq(loyalty.card, loyalty.card)
	RETURNS boolean
	AS 'int8eq'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION loyalty.card_ne(loyalty.card, loyalty.card)
	RETURNS boolean
	AS 'int8ne'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION loyalty.card_lt(loyalty.card, loyalty.card)
	RETURNS boolean
	AS 'int8lt'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION loyalty.card_le(loyalty.card, loyalty.card)
	RETURNS boolean
	AS 'int8le'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION loyalty.card_gt(loyalty.card, loyalty.card)
	RETURNS boolean
	AS 'int8gt'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION loyalty.card_ge(loyalty.card, loyalty.card)
	RETURNS boolean
	AS 'int8ge'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION loyalty.card_cmp(loyalty.card, loyalty.card)
	RETURNS integer
	AS 'btint8cmp'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION loyalty.card_hash(loyalty.card)
	RETURNS integer
	AS 'hashint8'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION loyalty.card_hash_extended(loyalty.card, bigint)
	RETURNS bigint
	AS 'hashint8extended'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION loyalty.card_eq(loyalty.card, loyalty.card) IS 'Implementation of = for card.';
COMMENT ON FUNCTION loyalty.card_ne(loyalty.card, loyalty.card) IS 'Implementation of <> for card.';
COMMENT ON FUNCTION loyalty.card_lt(loyalty.card, loyalty.card) IS 'Implementation of < for card.';
COMMENT ON FUNCTION loyalty.card_le(loyalty.card, loyalty.card) IS 'Implementation of <= for card.';
COMMENT ON FUNCTION loyalty.card_gt(loyalty.card, loyalty.card) IS 'Implementation of > for card.';
COMMENT ON FUNCTION loyalty.card_ge(loyalty.card, loyalty.card) IS 'Implementation of >= for card.';
COMMENT ON FUNCTION loyalty.card_cmp(loyalty.card, loyalty.card) IS 'Three-way comparison of cards (btree support): shorter card numbers first, then numerically.';
COMMENT ON FUNCTION loyalty.card_hash(loyalty.card) IS 'Hash of a card (hash index and hash join support).';
COMMENT ON FUNCTION loyalty.card_hash_extended(loyalty.card, bigint) IS 'Seeded 64-bit hash of a card (hash partitioning support).';

CREATE OPERATOR loyalty.= (
	LEFTARG = loyalty.card,
	RIGHTARG = loyalty.card,
	FUNCTION = loyalty.card_eq,
	COMMUTATOR = OPERATOR(loyalty.=),
	NEGATOR = OPERATOR(loyalty.<>),
	RESTRICT = pg_catalog.eqsel,
	JOIN = pg_catalog.eqjoinsel,
	HASHES,
	MERGES
);

CREATE OPERATOR loyalty.<> (
	LEFTARG = loyalty.card,
	RIGHTARG = loyalty.card,
	FUNCTION = loyalty.card_ne,
	COMMUTATOR = OPERATOR(loyalty.<>),
	NEGATOR = OPERATOR(loyalty.=),
	RESTRICT = pg_catalog.neqsel,
	JOIN = pg_catalog.neqjoinsel
);

CREATE OPERATOR loyalty.< (
	LEFTARG = loyalty.card,
	RIGHTARG = loyalty.card,
	FUNCTION = loyalty.card_lt,
	COMMUTATOR = OPERATOR(loyalty.>),
	NEGATOR = OPERATOR(loyalty.>=),
	RESTRICT = pg_catalog.scalarltsel,
	JOIN = pg_catalog.scalarltjoinsel
);

CREATE OPERATOR loyalty.<= (
	LEFTARG = loyalty.card,
	RIGHTARG = loyalty.card,
	FUNCTION = loyalty.card_le,
	COMMUTATOR = OPERATOR(loyalty.>=),
	NEGATOR = OPERATOR(loyalty.>),
	RESTRICT = pg_catalog.scalarlesel,
	JOIN = pg_catalog.scalarlejoinsel
);

CREATE OPERATOR loyalty.> (
	LEFTARG = loyalty.card,
	RIGHTARG = loyalty.card,
	FUNCTION = loyalty.card_gt,
	COMMUTATOR = OPERATOR(loyalty.<),
	NEGATOR = OPERATOR(loyalty.<=),
	RESTRICT = pg_catalog.scalargtsel,
	JOIN = pg_catalog.scalargtjoinsel
);

CREATE OPERATOR loyalty.>= (
	LEFTARG = loyalty.card,
	RIGHTARG = loyalty.card,
	FUNCTION = loyalty.card_ge,
	COMMUTATOR = OPERATOR(loyalty.<=),
	NEGATOR = OPERATOR(loyalty.<),
	RESTRICT = pg_catalog.scalargesel,
	JOIN = pg_catalog.scalargejoinsel
);

COMMENT ON OPERATOR loyalty.= (loyalty.card, loyalty.card) IS 'Card numbers are equal (same digits, same length).';
COMMENT ON OPERATOR loyalty.<> (loyalty.card, loyalty.card) IS 'Card numbers differ.';
COMMENT ON OPERATOR loyalty.< (loyalty.card, loyalty.card) IS 'Card number sorts before (shorter first, then numerically).';
COMMENT ON OPERATOR loyalty.<= (loyalty.card, loyalty.card) IS 'Card number sorts before or is equal (shorter first, then numerically).';
COMMENT ON OPERATOR loyalty.> (loyalty.card, loyalty.card) IS 'Card number sorts after (shorter first, then numerically).';
COMMENT ON OPERATOR loyalty.>= (loyalty.card, loyalty.card) IS 'Card number sorts after or is equal (shorter first, then numerically).';

CREATE OPERATOR CLASS loyalty.card_ops
	DEFAULT FOR TYPE loyalty.card USING btree AS
	OPERATOR 1 loyalty.<,
	OPERATOR 2 loyalty.<=,
	OPERATOR 3 loyalty.=,
	OPERATOR 4 loyalty.>=,
	OPERATOR 5 loyalty.>,
	FUNCTION 1 loyalty.card_cmp(loyalty.card, loyalty.card);

CREATE OPERATOR CLASS loyalty.card_ops
	DEFAULT FOR TYPE loyalty.card USING hash AS
	OPERATOR 1 loyalty.=,
	FUNCTION 1 loyalty.card_hash(loyalty.card),
	FUNCTION 2 loyalty.card_hash_extended(loyalty.card, bigint);

COMMENT ON OPERATOR CLASS loyalty.card_ops USING btree IS 'Default btree operator class for card: shorter card numbers first, then numerically.';
COMMENT ON OPERATOR FAMILY loyalty.card_ops USING btree IS 'Btree operator family for card.';
COMMENT ON OPERATOR CLASS loyalty.card_ops USING hash IS 'Default hash operator class for card.';
COMMENT ON OPERATOR FAMILY loyalty.card_ops USING hash IS 'Hash operator family for card.';

CREATE CAST (loyalty.card AS text) WITH INOUT AS ASSIGNMENT;
CREATE CAST (text AS loyalty.card) WITH INOUT AS ASSIGNMENT;

COMMENT ON CAST (loyalty.card AS text) IS 'The plain digits of the card number.';
COMMENT ON CAST (text AS loyalty.card) IS 'Parses and checks a card number, as card input does.';

-- Issuing and checking card numbers.

CREATE FUNCTION loyalty.card_issue(prefix text, serial bigint, length integer DEFAULT 16)
	RETURNS loyalty.card
	AS 'MODULE_PATHNAME', 'loyalty_card_issue'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION loyalty.card_issue(text, bigint, integer) IS 'Card number of the given length (16 by default): the prefix digits, the serial zero-padded to fill the digits left, then the Luhn check digit.';

CREATE FUNCTION loyalty.card_is_valid(number text)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'loyalty_card_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION loyalty.card_is_valid(text) IS 'True when the text is a valid card number (as card input would accept it), false otherwise; never raises an error.';
--
-- Programs and members: plain SQL rows a DBA configures and a POS enrols into.
--

CREATE TABLE loyalty.program (
	program_id		integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	code			text NOT NULL UNIQUE CHECK (code <> ''),
	name			text,
	currency		text NOT NULL DEFAULT 'XXX' CHECK (currency ~ '^[A-Z]{3}$'),
	points_per_unit	numeric NOT NULL DEFAULT 1 CHECK (points_per_unit >= 0),
	point_value		numeric NOT NULL DEFAULT 0.01 CHECK (point_value >= 0),
	expiry_after	interval CHECK (expiry_after > interval '0'),
	expiry_rounding	text CHECK (expiry_rounding IN ('day', 'month', 'quarter', 'year')),
	pending_days	integer NOT NULL DEFAULT 0 CHECK (pending_days >= 0),
	rounding		text NOT NULL DEFAULT 'floor' CHECK (rounding IN ('floor', 'half_up', 'ceil')),
	negative_balance text NOT NULL DEFAULT 'truncate' CHECK (negative_balance IN ('truncate', 'allow')),
	created_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE loyalty.program IS 'Loyalty programs; INSERT (code) alone gives a working program with the documented defaults.';
COMMENT ON COLUMN loyalty.program.code IS 'Name a POS or DBA uses for the program (enroll takes it).';
COMMENT ON COLUMN loyalty.program.currency IS 'ISO 4217 code of the money points are worth; XXX (no currency) by default.';
COMMENT ON COLUMN loyalty.program.points_per_unit IS 'Base earn rate: points per currency unit spent (1 by default).';
COMMENT ON COLUMN loyalty.program.point_value IS 'Money value of one point when redeemed as tender (0.01 by default).';
COMMENT ON COLUMN loyalty.program.expiry_after IS 'Points expire this long after they are earned; NULL (default) means never.';
COMMENT ON COLUMN loyalty.program.expiry_rounding IS 'Push each expiry to the end of its day, month, quarter or year (in UTC); NULL keeps it exact.';
COMMENT ON COLUMN loyalty.program.pending_days IS 'Days earned points stay pending (the return window) before they can be redeemed; 0 by default.';
COMMENT ON COLUMN loyalty.program.rounding IS 'How fractional points are rounded when earned from a spend: floor (default), half_up or ceil.';
COMMENT ON COLUMN loyalty.program.negative_balance IS 'What a reversal or negative adjustment does when it exceeds the available points: truncate (default: take what is available and record the shortfall) or allow (the balance goes negative; later earnings repay the debt). A redemption never overdraws.';

CREATE TABLE loyalty.member (
	member_id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	program_id		integer NOT NULL REFERENCES loyalty.program,
	status			text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
	birth_date		date,
	gender			text,
	region			text,
	income_band		text,
	home_store		text,
	channel			text,
	attributes		jsonb NOT NULL DEFAULT '{}',
	enrolled_at		timestamptz NOT NULL DEFAULT now(),
	status_changed_at timestamptz,
	status_reason	text
);
CREATE INDEX member_program_idx ON loyalty.member (program_id);
COMMENT ON TABLE loyalty.member IS 'Members of a program, with their status and optional attributes for segmentation.';
COMMENT ON COLUMN loyalty.member.status IS 'active, suspended (no postings until reactivated) or closed (final).';
COMMENT ON COLUMN loyalty.member.attributes IS 'Free-form attributes (jsonb) for segmentation.';

CREATE TABLE loyalty.member_card (
	card			loyalty.card PRIMARY KEY,
	member_id		bigint NOT NULL REFERENCES loyalty.member,
	issued_at		timestamptz NOT NULL DEFAULT now(),
	replaced_at		timestamptz,
	replaced_by		loyalty.card,
	CHECK ((replaced_at IS NULL) = (replaced_by IS NULL))
);
CREATE UNIQUE INDEX member_card_current_idx ON loyalty.member_card (member_id) WHERE replaced_at IS NULL;
COMMENT ON TABLE loyalty.member_card IS 'Every card ever issued to a member; exactly one current card (replaced_at IS NULL) per member.';

COMMENT ON COLUMN loyalty.member_card.replaced_by IS 'The card that replaced this one (a lost card); a replaced card is refused with SQLSTATE LY002.';

-- A closed membership stays closed, whoever updates the row.
-- It also copies the status into member_balance, under that row's lock: a
-- posting waiting for the lock then sees the new status (SECURITY DEFINER:
-- admin may update members but not balances).
CREATE FUNCTION loyalty.member_status_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NEW.status IS DISTINCT FROM OLD.status THEN
		IF OLD.status = 'closed' THEN
			RAISE EXCEPTION 'member % is closed', OLD.member_id
				USING ERRCODE = 'LY007',
					  DETAIL = 'A closed membership cannot be reopened.',
					  HINT = 'Enrol a new card instead.';
		END IF;
		NEW.status_changed_at := now();
		UPDATE loyalty.member_balance b SET status = NEW.status WHERE b.member_id = NEW.member_id;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.member_status_guard() IS 'Trigger: refuses to reopen a closed member (LY007), stamps status changes and copies the status to member_balance under its lock.';
CREATE TRIGGER member_status_guard BEFORE UPDATE OF status ON loyalty.member
	FOR EACH ROW EXECUTE FUNCTION loyalty.member_status_guard();

-- Two enrolments of one card at once: the loser's INSERT into member_card
-- waits for the winner, finds the card taken, undoes its member row and
-- answers like a retry (under REPEATABLE READ it gets 40001 instead).
CREATE FUNCTION loyalty.enroll(
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
		 WHERE c.card OPERATOR(loyalty.=) enroll.card;
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
			INSERT INTO loyalty.member_balance (member_id, card) VALUES (v_member, enroll.card);
			RETURN v_member;
		END IF;
		DELETE FROM loyalty.member m WHERE m.member_id = v_member;	-- lost the race
	END LOOP;
END
$$;
COMMENT ON FUNCTION loyalty.enroll(loyalty.card, text, date, text, text, text, text, text, jsonb, timestamptz) IS
'Enrols a card in a program and returns the new member_id; enrolling the same card in the same program again returns the same member.';

CREATE FUNCTION loyalty.set_member_status(card loyalty.card, status text, reason text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_member bigint := loyalty.member_id(set_member_status.card);
BEGIN
	IF set_member_status.status IS NULL OR set_member_status.status NOT IN ('active', 'suspended', 'closed') THEN
		RAISE EXCEPTION 'invalid member status: "%"', set_member_status.status
			USING ERRCODE = 'LY007', DETAIL = 'A member is active, suspended or closed.';
	END IF;
	UPDATE loyalty.member m
	   SET status = set_member_status.status, status_reason = set_member_status.reason
	 WHERE m.member_id = v_member AND m.status IS DISTINCT FROM set_member_status.status;
	RETURN set_member_status.status;
END
$$;
COMMENT ON FUNCTION loyalty.set_member_status(loyalty.card, text, text) IS
'Sets a member active, suspended or closed (closed is final: LY007); returns the new status.';

CREATE FUNCTION loyalty.replace_card(old_card loyalty.card, new_card loyalty.card)
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
	 WHERE c.card OPERATOR(loyalty.=) old_card;
	IF FOUND THEN
		PERFORM FROM loyalty.member_balance b WHERE b.member_id = v_old.member_id FOR NO KEY UPDATE;
		SELECT c.member_id, c.replaced_by, m.status INTO v_old
		  FROM loyalty.member_card c JOIN loyalty.member m ON m.member_id = c.member_id
		 WHERE c.card OPERATOR(loyalty.=) old_card;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'card "%" is not enrolled', old_card USING ERRCODE = 'LY001';
	END IF;
	IF v_old.replaced_by IS NOT NULL THEN
		IF v_old.replaced_by OPERATOR(loyalty.=) new_card THEN
			RETURN v_old.member_id;		-- a retried replacement
		END IF;
		RAISE EXCEPTION 'card "%" has been replaced', old_card
			USING ERRCODE = 'LY002', DETAIL = 'A replaced card can no longer be used.';
	END IF;
	IF v_old.status = 'closed' THEN
		RAISE EXCEPTION 'member of card "%" is closed', old_card USING ERRCODE = 'LY004';
	END IF;
	UPDATE loyalty.member_card c SET replaced_at = now(), replaced_by = new_card
	 WHERE c.card OPERATOR(loyalty.=) old_card;
	INSERT INTO loyalty.member_card (card, member_id) VALUES (new_card, v_old.member_id)
	ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'card "%" is already in use', new_card USING ERRCODE = 'LY006';
	END IF;
	UPDATE loyalty.member_balance b SET card = new_card WHERE b.member_id = v_old.member_id;
	RETURN v_old.member_id;
END
$$;
COMMENT ON FUNCTION loyalty.replace_card(loyalty.card, loyalty.card) IS
'Moves a member to a new card (lost card): the member keeps its balance and history; the old card is refused from now on (LY002).';

SELECT pg_catalog.pg_extension_config_dump('loyalty.program', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.program_program_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.member', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.member_member_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.member_card', '');
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
					 WHEN 'redeem' THEN points < 0
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
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
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
	HAVING sum(CASE WHEN e.points > 0 THEN m.pts ELSE -m.pts END) <> 0
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
LANGUAGE sql STABLE PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
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
	  FROM m, s, l
$$;
COMMENT ON FUNCTION loyalty.balance_at(loyalty.card, timestamptz, timestamptz) IS
'A member''s balance at any past moment, from the ledger by effective time; with as_posted_by, only entries posted by then (what the ledger said at that time).';

CREATE FUNCTION loyalty.statement(card loyalty.card, from_at timestamptz, to_at timestamptz,
	OUT entry_id bigint, OUT kind text, OUT points bigint, OUT balance_after bigint,
	OUT effective_at timestamptz, OUT posted_at timestamptz, OUT pending_until timestamptz,
	OUT expires_at timestamptz, OUT source text, OUT store text, OUT pos_txn text,
	OUT reason text, OUT actor text, OUT idem_key text)
RETURNS SETOF record
LANGUAGE sql STABLE PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
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
	 ORDER BY s.effective_at, s.entry_id
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
	 WHERE b.status <> m.status OR c.card IS NULL OR b.card OPERATOR(loyalty.<>) c.card
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
--
-- Privileges.  Nothing but the card type's own support functions is open to
-- PUBLIC; loyalty.grant_access() gives one of three access levels to a role
-- the DBA names.  No level may write the ledger, lots or balances directly:
-- only the SECURITY DEFINER posting functions do, and the ledger's trigger
-- refuses UPDATE, DELETE and TRUNCATE even to the owner.
--

REVOKE ALL ON ALL TABLES IN SCHEMA loyalty FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA loyalty FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
	loyalty.enroll(loyalty.card, text, date, text, text, text, text, text, jsonb, timestamptz),
	loyalty.set_member_status(loyalty.card, text, text),
	loyalty.replace_card(loyalty.card, loyalty.card),
	loyalty.member_id(loyalty.card),
	loyalty.earn(loyalty.card, bigint, text, text, timestamptz, timestamptz),
	loyalty.redeem(loyalty.card, bigint, text, text),
	loyalty.adjust(loyalty.card, bigint, text, text, timestamptz),
	loyalty.reverse(loyalty.card, bigint, bigint, text, text),
	loyalty.expire_points(timestamptz),
	loyalty.lots_at(bigint, timestamptz, timestamptz),
	loyalty.balance(loyalty.card),
	loyalty.balance_at(loyalty.card, timestamptz, timestamptz),
	loyalty.statement(loyalty.card, timestamptz, timestamptz),
	loyalty.check_invariants(),
	loyalty.member_status_guard(),
	loyalty.ledger_refuse_change()
FROM PUBLIC;

CREATE FUNCTION loyalty.grant_access(role regrole, access text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	-- what each level may call; the card type's functions are public anyway
	pos_functions text[] := ARRAY[
		'enroll(loyalty.card, text, date, text, text, text, text, text, jsonb, timestamptz)',
		'member_id(loyalty.card)',
		'redeem(loyalty.card, bigint, text, text)',
		'balance(loyalty.card)'];
	analyst_functions text[] := ARRAY[
		'member_id(loyalty.card)',
		'balance(loyalty.card)',
		'balance_at(loyalty.card, timestamptz, timestamptz)',
		'statement(loyalty.card, timestamptz, timestamptz)',
		'lots_at(bigint, timestamptz, timestamptz)',
		'check_invariants()'];
	admin_functions text[] := analyst_functions || pos_functions || ARRAY[
		'set_member_status(loyalty.card, text, text)',
		'replace_card(loyalty.card, loyalty.card)',
		'earn(loyalty.card, bigint, text, text, timestamptz, timestamptz)',
		'adjust(loyalty.card, bigint, text, text, timestamptz)',
		'reverse(loyalty.card, bigint, bigint, text, text)',
		'expire_points(timestamptz)'];
	f text;
BEGIN
	IF role IS NULL OR access IS NULL OR access NOT IN ('admin', 'pos', 'analyst') THEN
		RAISE EXCEPTION 'invalid access level: "%"', access
			USING ERRCODE = 'LY008', DETAIL = 'The access levels are admin, pos and analyst.';
	END IF;
	EXECUTE format('GRANT USAGE ON SCHEMA loyalty TO %s', role);
	IF access IN ('admin', 'analyst') THEN
		EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA loyalty TO %s', role);
	END IF;
	IF access = 'admin' THEN
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON loyalty.program TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.program_program_id_seq TO %s', role);
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
REVOKE EXECUTE ON FUNCTION loyalty.grant_access(regrole, text) FROM PUBLIC;
COMMENT ON FUNCTION loyalty.grant_access(regrole, text) IS
'Grants a role one access level: admin (configure everything, post corrections, read all), pos (enrol, redeem, read a card''s balance) or analyst (read only).';
