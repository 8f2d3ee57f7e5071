--
-- Enrolment threshold (0.6.0): a store issues a card only after a
-- qualifying purchase (3,000 or more in one sale, say).  The purchase is
-- recorded as an anonymous sale; loyalty.enroll_with_sale (src/enrolment.c)
-- then enrols the card if the sale qualifies and credits its points, as the
-- sale trigger would have awarded them, in one ledger entry.  Sales stay
-- append-only: which sales enrolled which member is loyalty.enrolment_sale.
--

ALTER TABLE loyalty.program ADD COLUMN enroll_min_spend numeric
	CHECK (enroll_min_spend > 0 AND enroll_min_spend < 1000000000000);
ALTER TABLE loyalty.program ADD COLUMN enroll_window_days integer NOT NULL DEFAULT 0
	CHECK (enroll_window_days BETWEEN 0 AND 366);
COMMENT ON COLUMN loyalty.program.enroll_min_spend IS 'enroll_with_sale enrols a card only after anonymous sales of at least this much (NULL: no threshold, any anonymous sale enrols).';
COMMENT ON COLUMN loyalty.program.enroll_window_days IS '0 (default): one sale must meet enroll_min_spend; N > 0: the sales of the last N days add up (enroll_with_sales takes several receipts).';

-- No foreign key to loyalty.sale: TRUNCATE of sales must meet their trigger
-- (LY020), not a foreign key's refusal; enroll_with_sale writes a row only
-- for a sale it read, and sales are never deleted.
CREATE TABLE loyalty.enrolment_sale (
	member_id		bigint NOT NULL REFERENCES loyalty.member,
	sale_id			bigint NOT NULL,
	entry_id		bigint,
	points			bigint NOT NULL CHECK (points >= 0),
	award			jsonb NOT NULL,
	tier			text,
	recorded_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (member_id, sale_id),
	UNIQUE (sale_id)
);
COMMENT ON TABLE loyalty.enrolment_sale IS 'The anonymous sales that enrolled a member through enroll_with_sale: each sale enrols one card once.';
COMMENT ON COLUMN loyalty.enrolment_sale.entry_id IS 'The earn entry that credited the enrolment''s sales (one for all of them; NULL: they earned nothing).';
COMMENT ON COLUMN loyalty.enrolment_sale.points IS 'This sale''s part of the entry''s points.';
COMMENT ON COLUMN loyalty.enrolment_sale.award IS 'How the rules awarded this sale at its time, as loyalty.sale.award records it for a member''s sale.';
COMMENT ON COLUMN loyalty.enrolment_sale.tier IS 'The member''s tier after this sale counted for it, as loyalty.sale.tier records it (NULL: the program had no tiers; a return of the sale then changes no tier figures).';

CREATE FUNCTION loyalty.enroll_with_sale(card loyalty.card, program text, store text, pos_txn text,
	OUT member_id bigint, OUT points bigint, OUT points_pending bigint, OUT entry_id bigint,
	OUT spend numeric)
RETURNS record
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_enroll_with_sale';
COMMENT ON FUNCTION loyalty.enroll_with_sale(loyalty.card, text, text, text) IS
'Enrols a card after the anonymous sale (store, pos_txn) met the program''s enroll_min_spend (else LY088, with the amount missing) and credits the sale''s points once; a retry answers the same.';

CREATE FUNCTION loyalty.enroll_with_sales(card loyalty.card, program text, stores text[], pos_txns text[],
	OUT member_id bigint, OUT points bigint, OUT points_pending bigint, OUT entry_id bigint,
	OUT spend numeric)
RETURNS record
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'loyalty_enroll_with_sales';
COMMENT ON FUNCTION loyalty.enroll_with_sales(loyalty.card, text, text[], text[]) IS
'enroll_with_sale with several receipts (stores[i], pos_txns[i]) of the last enroll_window_days days, whose totals add up to the threshold.';

REVOKE EXECUTE ON FUNCTION
	loyalty.enroll_with_sale(loyalty.card, text, text, text),
	loyalty.enroll_with_sales(loyalty.card, text, text[], text[])
FROM PUBLIC;
REVOKE ALL ON loyalty.enrolment_sale FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('loyalty.enrolment_sale', '');
