
--
-- The card type: membership card numbers (8 to 19 digits, Luhn check digit).
-- Stored as an int64 (see src/card.c), so the comparison and hash support
-- reuses the int8 internals, as contrib/isn does.
--

CREATE TYPE @extschema@.card;

CREATE FUNCTION @extschema@.card_in(cstring)
	RETURNS @extschema@.card
	AS 'MODULE_PATHNAME', 'card_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.card_out(@extschema@.card)
	RETURNS cstring
	AS 'MODULE_PATHNAME', 'card_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.card_recv(internal)
	RETURNS @extschema@.card
	AS 'MODULE_PATHNAME', 'card_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.card_send(@extschema@.card)
	RETURNS bytea
	AS 'MODULE_PATHNAME', 'card_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE @extschema@.card (
	INPUT = @extschema@.card_in,
	OUTPUT = @extschema@.card_out,
	RECEIVE = @extschema@.card_recv,
	SEND = @extschema@.card_send,
	LIKE = pg_catalog.int8
);

COMMENT ON TYPE @extschema@.card IS 'Membership card number: 8 to 19 digits ending in a Luhn (ISO/IEC 7812) check digit; leading zeros are significant.';
COMMENT ON FUNCTION @extschema@.card_in(cstring) IS 'Text input for card: digits, optionally grouped by single spaces or hyphens; checks the length and the Luhn check digit.';
COMMENT ON FUNCTION @extschema@.card_out(@extschema@.card) IS 'Text output for card: the plain digits, check digit included.';
COMMENT ON FUNCTION @extschema@.card_recv(internal) IS 'Binary input for card.';
COMMENT ON FUNCTION @extschema@.card_send(@extschema@.card) IS 'Binary output for card.';

-- Comparison support, backed by the int8 internals.

CREATE FUNCTION @extschema@.card_eq(@extschema@.card, @extschema@.card)
	RETURNS boolean
	AS 'int8eq'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.card_ne(@extschema@.card, @extschema@.card)
	RETURNS boolean
	AS 'int8ne'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.card_lt(@extschema@.card, @extschema@.card)
	RETURNS boolean
	AS 'int8lt'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.card_le(@extschema@.card, @extschema@.card)
	RETURNS boolean
	AS 'int8le'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.card_gt(@extschema@.card, @extschema@.card)
	RETURNS boolean
	AS 'int8gt'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.card_ge(@extschema@.card, @extschema@.card)
	RETURNS boolean
	AS 'int8ge'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.card_cmp(@extschema@.card, @extschema@.card)
	RETURNS integer
	AS 'btint8cmp'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.card_hash(@extschema@.card)
	RETURNS integer
	AS 'hashint8'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.card_hash_extended(@extschema@.card, bigint)
	RETURNS bigint
	AS 'hashint8extended'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.card_eq(@extschema@.card, @extschema@.card) IS 'Implementation of = for card.';
COMMENT ON FUNCTION @extschema@.card_ne(@extschema@.card, @extschema@.card) IS 'Implementation of <> for card.';
COMMENT ON FUNCTION @extschema@.card_lt(@extschema@.card, @extschema@.card) IS 'Implementation of < for card.';
COMMENT ON FUNCTION @extschema@.card_le(@extschema@.card, @extschema@.card) IS 'Implementation of <= for card.';
COMMENT ON FUNCTION @extschema@.card_gt(@extschema@.card, @extschema@.card) IS 'Implementation of > for card.';
COMMENT ON FUNCTION @extschema@.card_ge(@extschema@.card, @extschema@.card) IS 'Implementation of >= for card.';
COMMENT ON FUNCTION @extschema@.card_cmp(@extschema@.card, @extschema@.card) IS 'Three-way comparison of cards (btree support): shorter card numbers first, then numerically.';
COMMENT ON FUNCTION @extschema@.card_hash(@extschema@.card) IS 'Hash of a card (hash index and hash join support).';
COMMENT ON FUNCTION @extschema@.card_hash_extended(@extschema@.card, bigint) IS 'Seeded 64-bit hash of a card (hash partitioning support).';

CREATE OPERATOR @extschema@.= (
	LEFTARG = @extschema@.card,
	RIGHTARG = @extschema@.card,
	FUNCTION = @extschema@.card_eq,
	COMMUTATOR = OPERATOR(@extschema@.=),
	NEGATOR = OPERATOR(@extschema@.<>),
	RESTRICT = pg_catalog.eqsel,
	JOIN = pg_catalog.eqjoinsel,
	HASHES,
	MERGES
);

CREATE OPERATOR @extschema@.<> (
	LEFTARG = @extschema@.card,
	RIGHTARG = @extschema@.card,
	FUNCTION = @extschema@.card_ne,
	COMMUTATOR = OPERATOR(@extschema@.<>),
	NEGATOR = OPERATOR(@extschema@.=),
	RESTRICT = pg_catalog.neqsel,
	JOIN = pg_catalog.neqjoinsel
);

CREATE OPERATOR @extschema@.< (
	LEFTARG = @extschema@.card,
	RIGHTARG = @extschema@.card,
	FUNCTION = @extschema@.card_lt,
	COMMUTATOR = OPERATOR(@extschema@.>),
	NEGATOR = OPERATOR(@extschema@.>=),
	RESTRICT = pg_catalog.scalarltsel,
	JOIN = pg_catalog.scalarltjoinsel
);

CREATE OPERATOR @extschema@.<= (
	LEFTARG = @extschema@.card,
	RIGHTARG = @extschema@.card,
	FUNCTION = @extschema@.card_le,
	COMMUTATOR = OPERATOR(@extschema@.>=),
	NEGATOR = OPERATOR(@extschema@.>),
	RESTRICT = pg_catalog.scalarlesel,
	JOIN = pg_catalog.scalarlejoinsel
);

CREATE OPERATOR @extschema@.> (
	LEFTARG = @extschema@.card,
	RIGHTARG = @extschema@.card,
	FUNCTION = @extschema@.card_gt,
	COMMUTATOR = OPERATOR(@extschema@.<),
	NEGATOR = OPERATOR(@extschema@.<=),
	RESTRICT = pg_catalog.scalargtsel,
	JOIN = pg_catalog.scalargtjoinsel
);

CREATE OPERATOR @extschema@.>= (
	LEFTARG = @extschema@.card,
	RIGHTARG = @extschema@.card,
	FUNCTION = @extschema@.card_ge,
	COMMUTATOR = OPERATOR(@extschema@.<=),
	NEGATOR = OPERATOR(@extschema@.<),
	RESTRICT = pg_catalog.scalargesel,
	JOIN = pg_catalog.scalargejoinsel
);

COMMENT ON OPERATOR @extschema@.= (@extschema@.card, @extschema@.card) IS 'Card numbers are equal (same digits, same length).';
COMMENT ON OPERATOR @extschema@.<> (@extschema@.card, @extschema@.card) IS 'Card numbers differ.';
COMMENT ON OPERATOR @extschema@.< (@extschema@.card, @extschema@.card) IS 'Card number sorts before (shorter first, then numerically).';
COMMENT ON OPERATOR @extschema@.<= (@extschema@.card, @extschema@.card) IS 'Card number sorts before or is equal (shorter first, then numerically).';
COMMENT ON OPERATOR @extschema@.> (@extschema@.card, @extschema@.card) IS 'Card number sorts after (shorter first, then numerically).';
COMMENT ON OPERATOR @extschema@.>= (@extschema@.card, @extschema@.card) IS 'Card number sorts after or is equal (shorter first, then numerically).';

CREATE OPERATOR CLASS @extschema@.card_ops
	DEFAULT FOR TYPE @extschema@.card USING btree AS
	OPERATOR 1 @extschema@.<,
	OPERATOR 2 @extschema@.<=,
	OPERATOR 3 @extschema@.=,
	OPERATOR 4 @extschema@.>=,
	OPERATOR 5 @extschema@.>,
	FUNCTION 1 @extschema@.card_cmp(@extschema@.card, @extschema@.card);

CREATE OPERATOR CLASS @extschema@.card_ops
	DEFAULT FOR TYPE @extschema@.card USING hash AS
	OPERATOR 1 @extschema@.=,
	FUNCTION 1 @extschema@.card_hash(@extschema@.card),
	FUNCTION 2 @extschema@.card_hash_extended(@extschema@.card, bigint);

COMMENT ON OPERATOR CLASS @extschema@.card_ops USING btree IS 'Default btree operator class for card: shorter card numbers first, then numerically.';
COMMENT ON OPERATOR FAMILY @extschema@.card_ops USING btree IS 'Btree operator family for card.';
COMMENT ON OPERATOR CLASS @extschema@.card_ops USING hash IS 'Default hash operator class for card.';
COMMENT ON OPERATOR FAMILY @extschema@.card_ops USING hash IS 'Hash operator family for card.';

CREATE CAST (@extschema@.card AS text) WITH INOUT AS ASSIGNMENT;
CREATE CAST (text AS @extschema@.card) WITH INOUT AS ASSIGNMENT;

COMMENT ON CAST (@extschema@.card AS text) IS 'The plain digits of the card number.';
COMMENT ON CAST (text AS @extschema@.card) IS 'Parses and checks a card number, as card input does.';

-- Issuing and checking card numbers.

CREATE FUNCTION @extschema@.card_issue(prefix text, serial bigint, length integer DEFAULT 16)
	RETURNS @extschema@.card
	AS 'MODULE_PATHNAME', 'loyalty_card_issue'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.card_issue(text, bigint, integer) IS 'Card number of the given length (16 by default): the prefix digits, the serial zero-padded to fill the digits left, then the Luhn check digit.';

CREATE FUNCTION @extschema@.card_is_valid(number text)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'loyalty_card_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.card_is_valid(text) IS 'True when the text is a valid card number (as card input would accept it), false otherwise; never raises an error.';
