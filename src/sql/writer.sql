
--
-- The end of a sale statement (0.3.0).  The sale trigger writes the ledger,
-- lots, outbox and balances without SPI, keeping those tables open for the
-- rows of one statement (src/writer.c); this statement-level trigger closes
-- them, and lets go of the last (store, pos_txn) claim.
--
CREATE FUNCTION loyalty.sale_statement_end() RETURNS trigger
LANGUAGE C SECURITY DEFINER
AS 'MODULE_PATHNAME', 'loyalty_sale_statement_end';
COMMENT ON FUNCTION loyalty.sale_statement_end() IS 'AFTER INSERT FOR EACH STATEMENT on loyalty.sale: closes the tables the sale trigger wrote and releases its last (store, pos_txn) claim (src/sale_trigger.c).';
CREATE TRIGGER sale_statement_end AFTER INSERT ON loyalty.sale
	FOR EACH STATEMENT EXECUTE FUNCTION loyalty.sale_statement_end();
ALTER TABLE loyalty.sale ENABLE ALWAYS TRIGGER sale_statement_end;
REVOKE EXECUTE ON FUNCTION loyalty.sale_statement_end() FROM PUBLIC;

-- One index fewer to write per sale: nothing looks entries up by sale_id (a
-- sale's entry is sale.entry_id, found by the ledger's primary key; a
-- reversal names its entry in reverses).
DROP INDEX loyalty.ledger_sale_idx;
