
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

-- The operators live in pg_catalog, the support functions in loyalty.
-- pg_catalog is searched first in every session (unless a search_path names
-- it later explicitly), so `card = '...'` and joins on card columns resolve
-- with any search_path, and an operator of the same name and argument types
-- that someone creates in a schema they may write (public, say) is never
-- chosen instead: it would run with the privileges of whoever ran the query.
-- (plpgsql and adminpack put their objects in pg_catalog the same way.)
CREATE OPERATOR pg_catalog.= (
	LEFTARG = loyalty.card,
	RIGHTARG = loyalty.card,
	FUNCTION = loyalty.card_eq,
	COMMUTATOR = OPERATOR(pg_catalog.=),
	NEGATOR = OPERATOR(pg_catalog.<>),
	RESTRICT = pg_catalog.eqsel,
	JOIN = pg_catalog.eqjoinsel,
	HASHES,
	MERGES
);

CREATE OPERATOR pg_catalog.<> (
	LEFTARG = loyalty.card,
	RIGHTARG = loyalty.card,
	FUNCTION = loyalty.card_ne,
	COMMUTATOR = OPERATOR(pg_catalog.<>),
	NEGATOR = OPERATOR(pg_catalog.=),
	RESTRICT = pg_catalog.neqsel,
	JOIN = pg_catalog.neqjoinsel
);

CREATE OPERATOR pg_catalog.< (
	LEFTARG = loyalty.card,
	RIGHTARG = loyalty.card,
	FUNCTION = loyalty.card_lt,
	COMMUTATOR = OPERATOR(pg_catalog.>),
	NEGATOR = OPERATOR(pg_catalog.>=),
	RESTRICT = pg_catalog.scalarltsel,
	JOIN = pg_catalog.scalarltjoinsel
);

CREATE OPERATOR pg_catalog.<= (
	LEFTARG = loyalty.card,
	RIGHTARG = loyalty.card,
	FUNCTION = loyalty.card_le,
	COMMUTATOR = OPERATOR(pg_catalog.>=),
	NEGATOR = OPERATOR(pg_catalog.>),
	RESTRICT = pg_catalog.scalarlesel,
	JOIN = pg_catalog.scalarlejoinsel
);

CREATE OPERATOR pg_catalog.> (
	LEFTARG = loyalty.card,
	RIGHTARG = loyalty.card,
	FUNCTION = loyalty.card_gt,
	COMMUTATOR = OPERATOR(pg_catalog.<),
	NEGATOR = OPERATOR(pg_catalog.<=),
	RESTRICT = pg_catalog.scalargtsel,
	JOIN = pg_catalog.scalargtjoinsel
);

CREATE OPERATOR pg_catalog.>= (
	LEFTARG = loyalty.card,
	RIGHTARG = loyalty.card,
	FUNCTION = loyalty.card_ge,
	COMMUTATOR = OPERATOR(pg_catalog.<=),
	NEGATOR = OPERATOR(pg_catalog.<),
	RESTRICT = pg_catalog.scalargesel,
	JOIN = pg_catalog.scalargejoinsel
);

COMMENT ON OPERATOR pg_catalog.= (loyalty.card, loyalty.card) IS 'Card numbers are equal (same digits, same length).';
COMMENT ON OPERATOR pg_catalog.<> (loyalty.card, loyalty.card) IS 'Card numbers differ.';
COMMENT ON OPERATOR pg_catalog.< (loyalty.card, loyalty.card) IS 'Card number sorts before (shorter first, then numerically).';
COMMENT ON OPERATOR pg_catalog.<= (loyalty.card, loyalty.card) IS 'Card number sorts before or is equal (shorter first, then numerically).';
COMMENT ON OPERATOR pg_catalog.> (loyalty.card, loyalty.card) IS 'Card number sorts after (shorter first, then numerically).';
COMMENT ON OPERATOR pg_catalog.>= (loyalty.card, loyalty.card) IS 'Card number sorts after or is equal (shorter first, then numerically).';

CREATE OPERATOR CLASS loyalty.card_ops
	DEFAULT FOR TYPE loyalty.card USING btree AS
	OPERATOR 1 pg_catalog.<,
	OPERATOR 2 pg_catalog.<=,
	OPERATOR 3 pg_catalog.=,
	OPERATOR 4 pg_catalog.>=,
	OPERATOR 5 pg_catalog.>,
	FUNCTION 1 loyalty.card_cmp(loyalty.card, loyalty.card);

CREATE OPERATOR CLASS loyalty.card_ops
	DEFAULT FOR TYPE loyalty.card USING hash AS
	OPERATOR 1 pg_catalog.=,
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
