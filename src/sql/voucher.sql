--
-- Vouchers (0.6.0): coupons with a code -- an amount, a percentage, points
-- or a free item -- issued to a member (or to the bearer) and used once or a
-- few times at the till.  loyalty.voucher_type says what a voucher is worth
-- and when and where it can be used; loyalty.voucher is one row per issued
-- voucher, with its own code; loyalty.voucher_use one row per use, keyed by
-- the POS's (store, pos_txn).  Issuing (src/voucher.c) writes its rows
-- without SQL; check_voucher and use_voucher judge a use in C.
--

CREATE SEQUENCE loyalty.voucher_type_id_seq AS integer;
COMMENT ON SEQUENCE loyalty.voucher_type_id_seq IS 'Voucher type ids.';
CREATE TABLE loyalty.voucher_type (
	voucher_type_id	integer NOT NULL DEFAULT pg_catalog.nextval('loyalty.voucher_type_id_seq') PRIMARY KEY,
	program_id		integer NOT NULL REFERENCES loyalty.program,
	code			text NOT NULL CHECK (code <> ''),
	name			text,
	kind			text NOT NULL CHECK (kind IN ('amount', 'percent', 'points', 'item')),
	value			numeric CHECK (value > 0 AND value <= 1000000000000000),
	sku				text CHECK (sku <> ''),
	min_basket		numeric CHECK (min_basket > 0 AND min_basket <= 1000000000000000),
	valid_days		integer CHECK (valid_days BETWEEN 1 AND 36600),
	valid_from		timestamptz,
	valid_to		timestamptz,
	days_of_week	integer[] CHECK (days_of_week <@ '{1,2,3,4,5,6,7}'::integer[] AND pg_catalog.cardinality(days_of_week) > 0),
	stores			text[] CHECK (pg_catalog.cardinality(stores) > 0),
	max_uses		integer NOT NULL DEFAULT 1 CHECK (max_uses BETWEEN 1 AND 1000000),
	member_bound	boolean NOT NULL DEFAULT true,
	UNIQUE (program_id, code),
	CONSTRAINT voucher_type_valid_check CHECK (valid_to > valid_from),
	CONSTRAINT voucher_type_item_sku_check CHECK ((kind = 'item') = (sku IS NOT NULL)),
	CONSTRAINT voucher_type_kind_value_check CHECK (CASE kind
		WHEN 'item' THEN value IS NULL
		WHEN 'percent' THEN value <= 100
		WHEN 'points' THEN value = pg_catalog.trunc(value)
		ELSE value IS NOT NULL END)
);
COMMENT ON TABLE loyalty.voucher_type IS 'What a voucher is worth and when, where and how often it can be used; loyalty.issue_voucher issues vouchers of a type.';
COMMENT ON COLUMN loyalty.voucher_type.code IS 'Name issue_voucher takes; unique per program.';
COMMENT ON COLUMN loyalty.voucher_type.kind IS 'amount (value off the basket, at most the basket), percent (value % of the basket, rounded to the cent), points (value points credited to the card''s member), item (one unit of sku free: its price in the basket).';
COMMENT ON COLUMN loyalty.voucher_type.value IS 'Money off (amount), percentage (percent, at most 100), points (points, whole); NULL for item. A voucher may carry its own value instead (loyalty.voucher.value).';
COMMENT ON COLUMN loyalty.voucher_type.sku IS 'The item an item voucher gives free; NULL for the other kinds.';
COMMENT ON COLUMN loyalty.voucher_type.min_basket IS 'Least basket (sum of the lines'' amounts) the voucher can be used on; NULL: any.';
COMMENT ON COLUMN loyalty.voucher_type.valid_days IS 'A voucher is valid this many days from its start (its issue, or valid_from if later); NULL: until valid_to, else no end.';
COMMENT ON COLUMN loyalty.voucher_type.valid_from IS 'No voucher of the type is valid before this moment (one issued earlier starts then); NULL: from its issue.';
COMMENT ON COLUMN loyalty.voucher_type.valid_to IS 'No voucher of the type is valid from this moment on; NULL: no fixed end.';
COMMENT ON COLUMN loyalty.voucher_type.days_of_week IS 'ISO days (1 = Monday) in the store''s, else the program''s, time zone; NULL: every day.';
COMMENT ON COLUMN loyalty.voucher_type.stores IS 'Stores the voucher can be used in; NULL: every store.';
COMMENT ON COLUMN loyalty.voucher_type.max_uses IS 'Uses of one voucher (1 by default).';
COMMENT ON COLUMN loyalty.voucher_type.member_bound IS 'true: only the member it was issued to can use it (with a card of theirs); false: a bearer voucher, usable by whoever has the code.';

-- One row per issued voucher.  Looked up by its code (voucher_code_key);
-- the member's vouchers by voucher_member_idx.  No member-leading key: a
-- bearer voucher has no member, and the till names a voucher by its code.
CREATE SEQUENCE loyalty.voucher_id_seq;
COMMENT ON SEQUENCE loyalty.voucher_id_seq IS 'Voucher ids.';
CREATE TABLE loyalty.voucher (
	voucher_id		bigint NOT NULL DEFAULT pg_catalog.nextval('loyalty.voucher_id_seq') PRIMARY KEY,
	code			text NOT NULL,
	voucher_type_id	integer NOT NULL REFERENCES loyalty.voucher_type,
	member_id		bigint REFERENCES loyalty.member,
	value			numeric CHECK (value > 0 AND value <= 1000000000000000),
	issued_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	valid_from		timestamptz NOT NULL,
	valid_to		timestamptz,
	uses_left		integer NOT NULL CHECK (uses_left >= 0),
	issued_by_sale	bigint,
	issued_by_rule	integer,
	actor			text NOT NULL DEFAULT SESSION_USER,
	CONSTRAINT voucher_code_key UNIQUE (code),
	CONSTRAINT voucher_valid_check CHECK (valid_to > valid_from)
);
CREATE INDEX voucher_member_idx ON loyalty.voucher (member_id) WHERE member_id IS NOT NULL;
COMMENT ON TABLE loyalty.voucher IS 'Issued vouchers, one row each: written by issue_voucher (and by the sale trigger''s voucher rules); uses_left goes down with each use_voucher.';
COMMENT ON COLUMN loyalty.voucher.code IS '13 characters of 23456789ABCDEFGHJKMNPQRSTUVWXYZ: 12 random (pg_strong_random), then a check character (README "Vouchers").';
COMMENT ON COLUMN loyalty.voucher.member_id IS 'The member it was issued to; NULL: a bearer voucher issued without a card.';
COMMENT ON COLUMN loyalty.voucher.value IS 'This voucher''s own value (a Christmas-tree voucher worth what the tree cost), in the unit of its type''s kind; NULL: the type''s value.';
COMMENT ON COLUMN loyalty.voucher.valid_from IS 'First moment it can be used.';
COMMENT ON COLUMN loyalty.voucher.valid_to IS 'It can be used before this moment; NULL: no end.';
COMMENT ON COLUMN loyalty.voucher.uses_left IS 'Uses left: the type''s max_uses at issue, one less for each use.';
COMMENT ON COLUMN loyalty.voucher.issued_by_sale IS 'The sale (or return) whose voucher rule issued it; NULL: issued by issue_voucher.';
COMMENT ON COLUMN loyalty.voucher.issued_by_rule IS 'The rule that issued it; NULL: issued by issue_voucher.';
COMMENT ON COLUMN loyalty.voucher.actor IS 'The session user who issued it.';

-- One row per use; (store, pos_txn) names one use, and a retry -- the same
-- code, card and lines -- is answered from it.
CREATE SEQUENCE loyalty.voucher_use_id_seq;
COMMENT ON SEQUENCE loyalty.voucher_use_id_seq IS 'Voucher use ids.';
CREATE TABLE loyalty.voucher_use (
	use_id			bigint NOT NULL DEFAULT pg_catalog.nextval('loyalty.voucher_use_id_seq') PRIMARY KEY,
	voucher_id		bigint NOT NULL REFERENCES loyalty.voucher,
	member_id		bigint REFERENCES loyalty.member,
	store			text NOT NULL,
	pos_txn			text NOT NULL,
	used_at			timestamptz NOT NULL,
	discount		numeric NOT NULL CHECK (discount >= 0),
	points			bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
	entry_id		bigint,
	uses_left		integer NOT NULL,
	actor			text NOT NULL DEFAULT SESSION_USER,
	card			loyalty.card,
	lines_hash		bigint NOT NULL,
	CONSTRAINT voucher_use_pos_txn_key UNIQUE (store, pos_txn),
	CONSTRAINT voucher_use_card_check CHECK ((card IS NULL) = (member_id IS NULL))
);
CREATE INDEX voucher_use_voucher_idx ON loyalty.voucher_use (voucher_id);
COMMENT ON TABLE loyalty.voucher_use IS 'Every use of a voucher, written by use_voucher under the voucher''s row lock; (store, pos_txn) names one use.';
COMMENT ON COLUMN loyalty.voucher_use.member_id IS 'The member of the card given at the till; NULL: a bearer voucher used without a card.';
COMMENT ON COLUMN loyalty.voucher_use.discount IS 'Money taken off the basket (0 for a points voucher).';
COMMENT ON COLUMN loyalty.voucher_use.points IS 'Points credited (a points voucher), by the ledger entry entry_id.';
COMMENT ON COLUMN loyalty.voucher_use.uses_left IS 'Uses of the voucher left after this one (what use_voucher answered).';
COMMENT ON COLUMN loyalty.voucher_use.card IS 'The card given at the till (member_id is its member); NULL: none. A retry must give the same card, or none again.';
COMMENT ON COLUMN loyalty.voucher_use.lines_hash IS 'pg_catalog.jsonb_hash_extended(lines, 0) of the basket given at the till: a retry must give lines equal as jsonb (same hash).';

-- Which vouchers paid for a sale (the POS names them); explain_sale shows them.
ALTER TABLE loyalty.sale ADD COLUMN vouchers text[];
COMMENT ON COLUMN loyalty.sale.vouchers IS 'Codes of the vouchers used on this sale (used with use_voucher at the same store); explain_sale lists them.';

CREATE FUNCTION loyalty.voucher_code_is_valid(code text) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_voucher_code_is_valid';
COMMENT ON FUNCTION loyalty.voucher_code_is_valid(text) IS
'Whether the text is a well-formed voucher code with the right check character (hyphens and spaces ignored, any case), without looking it up.';

CREATE FUNCTION loyalty.issue_voucher(voucher_type text, card loyalty.card,
	value numeric DEFAULT NULL, valid_from timestamptz DEFAULT NULL, program text DEFAULT NULL)
RETURNS text
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_issue_voucher';
COMMENT ON FUNCTION loyalty.issue_voucher(text, loyalty.card, numeric, timestamptz, text) IS
'Issues one voucher of a type of the card''s program (NULL card: a bearer voucher of a type with member_bound false, of the program named) and returns its code; value overrides the type''s, valid_from delays its start. In bulk: SELECT loyalty.issue_voucher(''t'', card) FROM ...';

CREATE FUNCTION loyalty.check_voucher(code text, card loyalty.card, store text, lines jsonb,
	OUT ok boolean, OUT kind text, OUT discount numeric, OUT points bigint, OUT uses_left integer,
	OUT valid_to timestamptz, OUT sqlstate text, OUT reason text)
RETURNS record
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_check_voucher';
COMMENT ON FUNCTION loyalty.check_voucher(text, loyalty.card, text, jsonb) IS
'What use_voucher would take off (discount, or points credited) now, or why not (ok false, with the SQLSTATE use_voucher would raise and its message), writing nothing.';

CREATE FUNCTION loyalty.use_voucher(code text, card loyalty.card, store text, pos_txn text, lines jsonb,
	OUT use_id bigint, OUT voucher_id bigint, OUT kind text, OUT discount numeric, OUT points bigint,
	OUT uses_left integer, OUT used_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_use_voucher';
COMMENT ON FUNCTION loyalty.use_voucher(text, loyalty.card, text, text, jsonb) IS
'Uses a voucher on a basket: returns the discount (money off) or the points credited, or refuses with the reason''s SQLSTATE (LY110-LY124); idempotent per (store, pos_txn).';

REVOKE EXECUTE ON FUNCTION
	loyalty.issue_voucher(text, loyalty.card, numeric, timestamptz, text),
	loyalty.check_voucher(text, loyalty.card, text, jsonb),
	loyalty.use_voucher(text, loyalty.card, text, text, jsonb)
FROM PUBLIC;
REVOKE ALL ON loyalty.voucher_type, loyalty.voucher, loyalty.voucher_use FROM PUBLIC;
REVOKE ALL ON SEQUENCE loyalty.voucher_type_id_seq, loyalty.voucher_id_seq, loyalty.voucher_use_id_seq FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('loyalty.voucher_type', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.voucher_type_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.voucher', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.voucher_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.voucher_use', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.voucher_use_id_seq', '');
