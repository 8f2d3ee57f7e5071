
--
-- Voucher rules (0.6.0): a rule of kind 'voucher' issues one voucher of its
-- voucher_type when a sale matches, in the sale's own INSERT (the codes are
-- in sale.vouchers_issued, readable by RETURNING); with on_return it fires on
-- a return instead -- the Christmas tree: a return of its skus, dated in the
-- rule's window, of a sale made in [sold_from, sold_to), issues a voucher
-- worth what the returned lines cost.  Evaluated in C with the other rules
-- (src/rules.c), issued by the voucher code (src/voucher.c) from the sale
-- trigger (src/voucher_rule.c).
--
ALTER TABLE loyalty.rule ADD COLUMN voucher_type text;
ALTER TABLE loyalty.rule ADD COLUMN on_return boolean NOT NULL DEFAULT false;
ALTER TABLE loyalty.rule ADD COLUMN sold_from timestamptz;
ALTER TABLE loyalty.rule ADD COLUMN sold_to timestamptz;
ALTER TABLE loyalty.rule ADD CONSTRAINT rule_voucher_type_check
	CHECK ((kind = 'voucher') = (voucher_type IS NOT NULL));
ALTER TABLE loyalty.rule ADD CONSTRAINT rule_on_return_check
	CHECK (NOT on_return OR kind = 'voucher');
ALTER TABLE loyalty.rule ADD CONSTRAINT rule_sold_check
	CHECK ((sold_from IS NULL AND sold_to IS NULL) OR on_return);
ALTER TABLE loyalty.rule ADD CONSTRAINT rule_sold_order_check
	CHECK (sold_to > sold_from);
ALTER TABLE loyalty.rule ADD CONSTRAINT rule_voucher_caps_check
	CHECK (kind <> 'voucher' OR member_max_points IS NULL);
-- a voucher type a rule issues is renamed with the rule, and not deleted
ALTER TABLE loyalty.rule ADD CONSTRAINT rule_voucher_type_fkey
	FOREIGN KEY (program_id, voucher_type) REFERENCES loyalty.voucher_type (program_id, code)
	ON UPDATE CASCADE;
CREATE INDEX rule_voucher_type_idx ON loyalty.rule (program_id, voucher_type) WHERE voucher_type IS NOT NULL;
COMMENT ON COLUMN loyalty.rule.voucher_type IS 'kind voucher: the code of the voucher type of the rule''s program it issues, one voucher each time it fires.';
COMMENT ON COLUMN loyalty.rule.on_return IS 'kind voucher: fire on a return of the rule''s lines (dated in its windows) instead of on a sale, issuing a voucher worth what the returned matching lines cost (the Christmas tree).';
COMMENT ON COLUMN loyalty.rule.sold_from IS 'on_return: the returned sale was made at or after this moment; NULL: any time.';
COMMENT ON COLUMN loyalty.rule.sold_to IS 'on_return: the returned sale was made before this moment; NULL: any time.';

ALTER TABLE loyalty.sale ADD COLUMN vouchers_issued text[];
COMMENT ON COLUMN loyalty.sale.vouchers_issued IS 'Codes of the vouchers the sale''s (or return''s) voucher rules issued, in rule order (filled by the trigger; NULL: none), so RETURNING gives the POS what to print.';

-- rule.voucher_type: a type of the rule's program (LY125); an on_return
-- rule's type is of kind amount, whose value the returned lines set (LY126).
CREATE FUNCTION loyalty.rule_voucher_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_kind text;
BEGIN
	IF NEW.voucher_type IS NULL THEN
		RETURN NEW;
	END IF;
	SELECT t.kind INTO v_kind FROM loyalty.voucher_type t
	 WHERE t.program_id = NEW.program_id AND t.code = NEW.voucher_type;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'rule "%" issues voucher type "%", which its program does not have', NEW.code, NEW.voucher_type
			USING ERRCODE = 'LY125', DETAIL = 'rule.voucher_type names a voucher type of the rule''s program by code.';
	END IF;
	IF NEW.on_return AND v_kind <> 'amount' THEN
		RAISE EXCEPTION 'return rule "%" issues voucher type "%" of kind %', NEW.code, NEW.voucher_type, v_kind
			USING ERRCODE = 'LY126',
			DETAIL = 'A rule with on_return issues a voucher worth what the returned lines cost: its type is of kind amount.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.rule_voucher_check() IS 'Trigger: refuses a voucher rule whose voucher_type is not a type of its program (LY125), or an on_return rule whose type is not of kind amount (LY126).';
CREATE TRIGGER rule_voucher_check BEFORE INSERT OR UPDATE OF voucher_type, program_id, on_return ON loyalty.rule
	FOR EACH ROW EXECUTE FUNCTION loyalty.rule_voucher_check();
ALTER TABLE loyalty.rule ENABLE ALWAYS TRIGGER rule_voucher_check;

-- A return rule's type stays of kind amount (LY126).
CREATE FUNCTION loyalty.voucher_type_rule_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_rule text;
BEGIN
	IF NEW.kind = 'amount' THEN
		RETURN NEW;
	END IF;
	SELECT r.code INTO v_rule FROM loyalty.rule r
	 WHERE r.program_id = NEW.program_id AND r.voucher_type = NEW.code AND r.on_return
	 ORDER BY r.code LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'voucher type "%" is issued by return rule "%"', NEW.code, v_rule
			USING ERRCODE = 'LY126',
			DETAIL = 'A rule with on_return issues a voucher worth what the returned lines cost: its type is of kind amount.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.voucher_type_rule_check() IS 'Trigger: refuses to change the kind of a voucher type a return rule issues away from amount (LY126).';
CREATE TRIGGER voucher_type_rule_check BEFORE UPDATE OF kind ON loyalty.voucher_type
	FOR EACH ROW EXECUTE FUNCTION loyalty.voucher_type_rule_check();
ALTER TABLE loyalty.voucher_type ENABLE ALWAYS TRIGGER voucher_type_rule_check;
-- the rules cache what they read of their types
CREATE TRIGGER rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.voucher_type
	FOR EACH STATEMENT EXECUTE FUNCTION loyalty.rules_changed();

REVOKE EXECUTE ON FUNCTION loyalty.rule_voucher_check(), loyalty.voucher_type_rule_check() FROM PUBLIC;

-- voucher_type.audience: a type limited to an audience is issued only to
-- its members (clipped, if the audience is opt_in, within its window): a
-- voucher rule does not fire for anyone else, issue_voucher refuses them
-- (LY127).  The code of an audience of the type's program (LY128), which
-- then keeps its code and program (LY129).
ALTER TABLE loyalty.voucher_type ADD COLUMN audience text CHECK (audience <> '');
COMMENT ON COLUMN loyalty.voucher_type.audience IS 'Code of an audience of the type''s program: its vouchers are issued only to the audience''s members (clipped, if opt_in; within its window), by rules and by issue_voucher (LY127 for anyone else); NULL: anyone.';

CREATE FUNCTION loyalty.voucher_type_audience_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NEW.audience IS NULL THEN
		RETURN NEW;
	END IF;
	-- the audience stays until this commits (audience_voucher_type_in_use sees the type after)
	PERFORM FROM loyalty.audience a WHERE a.program_id = NEW.program_id AND a.code = NEW.audience FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'voucher type "%" names audience "%", which its program does not have', NEW.code, NEW.audience
			USING ERRCODE = 'LY128', DETAIL = 'voucher_type.audience names an audience of the type''s program by code.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.voucher_type_audience_check() IS 'Trigger: refuses a voucher type whose audience is not an audience of its program (LY128).';
CREATE TRIGGER voucher_type_audience_check BEFORE INSERT OR UPDATE OF audience, program_id ON loyalty.voucher_type
	FOR EACH ROW EXECUTE FUNCTION loyalty.voucher_type_audience_check();
ALTER TABLE loyalty.voucher_type ENABLE ALWAYS TRIGGER voucher_type_audience_check;

CREATE FUNCTION loyalty.audience_voucher_type_in_use() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_type text;
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.code = OLD.code AND NEW.program_id = OLD.program_id THEN
		RETURN NEW;
	END IF;
	SELECT t.code INTO v_type FROM loyalty.voucher_type t
	 WHERE t.program_id = OLD.program_id AND t.audience = OLD.code
	 ORDER BY t.code LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'audience "%" is named by voucher type "%"', OLD.code, v_type USING ERRCODE = 'LY129',
			DETAIL = 'A voucher type''s audience names an audience of its program by code.',
			HINT = 'Set the voucher type''s audience to another audience or NULL first.';
	END IF;
	RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION loyalty.audience_voucher_type_in_use() IS 'Trigger: refuses to delete an audience, or change its code or program, while a voucher type of its program names it (LY129).';
CREATE TRIGGER audience_voucher_type_in_use BEFORE UPDATE OR DELETE ON loyalty.audience
	FOR EACH ROW EXECUTE FUNCTION loyalty.audience_voucher_type_in_use();
ALTER TABLE loyalty.audience ENABLE ALWAYS TRIGGER audience_voucher_type_in_use;

REVOKE EXECUTE ON FUNCTION loyalty.voucher_type_audience_check(), loyalty.audience_voucher_type_in_use() FROM PUBLIC;
