-- loyalty 0.2.0 -> 0.3.0: budget shares (rule_spend has a row per slot); the sale
-- trigger writes without SPI, and a statement-level trigger ends each sale statement;
-- member_balance carries the member's program and sales count.
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
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp
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

--
-- The member's program on the balance row (0.3.0).  A posting locks the
-- member_balance row anyway; with the program there, finding a card's member
-- takes two index look-ups (member_card, member_balance) instead of three.
-- enroll() writes it; member_status_guard copies a changed program_id as it
-- copies the status (both in program.sql; the upgrade script replaces them).
--
ALTER TABLE loyalty.member_balance ADD COLUMN program_id integer;
UPDATE loyalty.member_balance b SET program_id = m.program_id
  FROM loyalty.member m WHERE m.member_id = b.member_id;
ALTER TABLE loyalty.member_balance ALTER COLUMN program_id SET NOT NULL;
COMMENT ON COLUMN loyalty.member_balance.program_id IS 'The member''s program (a copy of member.program_id, kept by enroll() and the member_status_guard trigger).';

-- enroll() writes the program into member_balance; member_status_guard copies a
-- changed program_id there, as it copies the status
CREATE OR REPLACE FUNCTION loyalty.enroll(
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
			INSERT INTO loyalty.member_balance (member_id, card, program_id)
			VALUES (v_member, enroll.card, v_program);
			RETURN v_member;
		END IF;
		DELETE FROM loyalty.member m WHERE m.member_id = v_member;	-- lost the race
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION loyalty.member_status_guard() RETURNS trigger
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
	IF NEW.program_id IS DISTINCT FROM OLD.program_id THEN
		UPDATE loyalty.member_balance b SET program_id = NEW.program_id WHERE b.member_id = NEW.member_id;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.member_status_guard() IS 'Trigger: refuses to reopen a closed member (LY007), stamps status changes and copies the status and the program to member_balance under its lock.';
DROP TRIGGER member_status_guard ON loyalty.member;
CREATE TRIGGER member_status_guard BEFORE UPDATE OF status, program_id ON loyalty.member
	FOR EACH ROW EXECUTE FUNCTION loyalty.member_status_guard();

--
-- The member's sales count on the balance row (0.3.0): the sale trigger adds
-- one per sale (returns do not count) under the member's lock, in the update
-- of the row it makes anyway, and the first-purchase test reads it instead
-- of looking for an earlier sale.  It is also the F of RFM.
--
ALTER TABLE loyalty.member_balance ADD COLUMN sales bigint NOT NULL DEFAULT 0;
UPDATE loyalty.member_balance b SET sales = s.n
  FROM (SELECT member_id, count(*) AS n FROM loyalty.sale
         WHERE member_id IS NOT NULL AND return_of IS NULL GROUP BY member_id) s
 WHERE s.member_id = b.member_id;
COMMENT ON COLUMN loyalty.member_balance.sales IS 'The member''s sales (returns not counted), counted by the sale trigger.';
