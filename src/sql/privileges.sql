--
-- Privileges.  Nothing but the card type's own support functions is open to
-- PUBLIC; loyalty.grant_access() gives one of three access levels to a role
-- the DBA names.  No level may write the ledger, lots or balances directly:
-- only the SECURITY DEFINER posting functions do, and the ledger's trigger
-- refuses UPDATE, DELETE and TRUNCATE even to the owner.
--

REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
	@extschema@.enroll(@extschema@.card, text, date, text, text, text, text, text, jsonb, timestamptz),
	@extschema@.set_member_status(@extschema@.card, text, text),
	@extschema@.replace_card(@extschema@.card, @extschema@.card),
	@extschema@.member_id(@extschema@.card),
	@extschema@.earn(@extschema@.card, bigint, text, text, timestamptz, timestamptz),
	@extschema@.redeem(@extschema@.card, bigint, text, text),
	@extschema@.adjust(@extschema@.card, bigint, text, text, timestamptz),
	@extschema@.reverse(@extschema@.card, bigint, bigint, text, text),
	@extschema@.expire_points(timestamptz),
	@extschema@.lots_at(bigint, timestamptz, timestamptz),
	@extschema@.balance(@extschema@.card),
	@extschema@.balance_at(@extschema@.card, timestamptz, timestamptz),
	@extschema@.statement(@extschema@.card, timestamptz, timestamptz),
	@extschema@.check_invariants(),
	@extschema@.member_status_guard(),
	@extschema@.ledger_refuse_change()
FROM PUBLIC;

CREATE FUNCTION @extschema@.grant_access(role regrole, access text) RETURNS void
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
REVOKE EXECUTE ON FUNCTION @extschema@.grant_access(regrole, text) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.grant_access(regrole, text) IS
'Grants a role one access level: admin (configure everything, post corrections, read all), pos (enrol, redeem, read a card''s balance) or analyst (read only).';
