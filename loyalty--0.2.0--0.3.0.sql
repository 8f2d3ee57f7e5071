-- loyalty 0.2.0 -> 0.3.0: budget shares (loyalty.rule_spend has a row per slot); the sale
-- trigger writes without SPI and a statement-level trigger ends each sale statement.
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.3.0'" to load this file. \quit

--
-- Budget shares (0.3.0).  A budgeted rule's loyalty.rule_spend is one row per
-- slot instead of one per rule: the budget is split into shares that sales
-- spend without waiting for each other, and split again when the shares run
-- low (src/budget.c).  A 0.2.0 row becomes slot 0, with no share yet.
--
ALTER TABLE loyalty.rule_spend DROP CONSTRAINT rule_spend_pkey;
ALTER TABLE loyalty.rule_spend ADD COLUMN slot smallint NOT NULL DEFAULT 0
	CHECK (slot >= 0);
ALTER TABLE loyalty.rule_spend ADD COLUMN share bigint NOT NULL DEFAULT 0;
ALTER TABLE loyalty.rule_spend ADD COLUMN split_of bigint;
ALTER TABLE loyalty.rule_spend ADD PRIMARY KEY (rule_id, slot);
COMMENT ON TABLE loyalty.rule_spend IS 'Points and uses of budgeted rules across all members, one row per slot: a rule has spent the sum of its slots.';
COMMENT ON COLUMN loyalty.rule_spend.slot IS 'The slot (0 to 7): each sale spends in one slot, sales in different slots do not wait for each other.';
COMMENT ON COLUMN loyalty.rule_spend.points IS 'Points this slot has spent.';
COMMENT ON COLUMN loyalty.rule_spend.uses IS 'Awards this slot has paid for.';
COMMENT ON COLUMN loyalty.rule_spend.share IS 'The most points this slot may have spent; the shares of a rule''s slots add up to split_of.';
COMMENT ON COLUMN loyalty.rule_spend.split_of IS 'The budget_points the shares were split from (NULL: not split yet); a changed budget is split again.';

--
-- The end of a sale statement (0.3.0).  The sale trigger writes the ledger,
-- lots, outbox and balances without SPI, keeping those tables open for the
-- rows of one statement (src/writer.c); this statement-level trigger closes
-- them, and lets go of the last (store, pos_txn) claim.
--
CREATE FUNCTION loyalty.sale_statement_end() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'loyalty_sale_statement_end';
COMMENT ON FUNCTION loyalty.sale_statement_end() IS 'AFTER INSERT FOR EACH STATEMENT on loyalty.sale: closes the tables the sale trigger wrote and releases its last (store, pos_txn) claim (src/sale_trigger.c).';
CREATE TRIGGER sale_statement_end AFTER INSERT ON loyalty.sale
	FOR EACH STATEMENT EXECUTE FUNCTION loyalty.sale_statement_end();
ALTER TABLE loyalty.sale ENABLE ALWAYS TRIGGER sale_statement_end;
REVOKE EXECUTE ON FUNCTION loyalty.sale_statement_end() FROM PUBLIC;
