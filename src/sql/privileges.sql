--
-- Privileges.  Nothing but the card type's own support functions (and the
-- pure loyalty.time_zone_is_valid of the time zone CHECKs) is open to
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
		'balance(loyalty.card)',
		'quote(loyalty.card, jsonb, numeric, text, timestamptz)',
		'tier_of(loyalty.card)',
		'tier_progress(loyalty.card)',
		'use_benefit(loyalty.card, text, text, text)',
		'enroll_with_sale(loyalty.card, text, text, text)',
		'enroll_with_sales(loyalty.card, text, text[], text[])',
		'check_voucher(text, loyalty.card, text, jsonb)',
		'use_voucher(text, loyalty.card, text, text, jsonb)',
		-- audiences (audience.sql): the member clips an opt-in offer
		'clip_offer(text, loyalty.card)',
		-- tender holds (hold.sql)
		'authorize(loyalty.card, bigint, text, text)',
		'capture(bigint, bigint)',
		'void(bigint)'];
	analyst_functions text[] := ARRAY[
		'rfm(timestamptz, text)',
		'rfm_segment(integer, integer, integer)',
		'repurchase(timestamptz, timestamptz, integer, text, text)',
		'activity(timestamptz, text, text)',
		'callbacks(timestamptz, integer)',
		'buyers_of(text[], text[], timestamptz)',
		'home_store(text, timestamptz, timestamptz)',
		'home_store(text, timestamptz, timestamptz, interval)',
		'home_stores(timestamptz, interval, text)',
		'member_value(timestamptz, text, double precision, double precision, loyalty.bgnbd_params, loyalty.gg_params)',
		'winback(timestamptz, text, double precision, double precision, loyalty.bgnbd_params, loyalty.gg_params)',
		'replenishment_due(timestamptz, integer, text, integer, double precision, integer)',
		'member_id(loyalty.card)',
		'balance(loyalty.card)',
		'balance_at(loyalty.card, timestamptz, timestamptz)',
		'statement(loyalty.card, timestamptz, timestamptz)',
		'lots_at(bigint, timestamptz, timestamptz)',
		'check_invariants()',
		'explain_sale(bigint)',
		'tier_of(loyalty.card)',
		'tier_at(loyalty.card, timestamptz)',
		'tier_progress(loyalty.card)',
		'review_tiers_preview(timestamptz, bigint[])',
		-- analytics models (analytics.sql)
		'purchase_summary(timestamptz, numeric, timestamptz)',
		'purchase_summary(timestamptz, numeric, timestamptz, interval)',
		'cadence(timestamptz)',
		'bgnbd_fit(integer, double precision, double precision)',
		'bgnbd_p_alive(loyalty.bgnbd_params, integer, double precision, double precision)',
		'bgnbd_expected(loyalty.bgnbd_params, double precision, integer, double precision, double precision)',
		'bgnbd_pmf(loyalty.bgnbd_params, double precision, integer)',
		'gg_fit(integer, double precision)',
		'gg_expected_spend(loyalty.gg_params, integer, double precision)',
		'clv(loyalty.bgnbd_params, loyalty.gg_params, integer, double precision, double precision, double precision, double precision, double precision)',
		-- segments (segment.sql); the view member_features calls member_features_at
		'member_features_at(timestamptz, text)',
		'segment_sizes(date, text)',
		'segment_overlap(date, text)',
		'segment_migration(date, date, text)'];
	admin_functions text[] := analyst_functions || pos_functions || ARRAY[
		'set_member_status(loyalty.card, text, text)',
		'replace_card(loyalty.card, loyalty.card)',
		'earn(loyalty.card, bigint, text, text, timestamptz, timestamptz)',
		'adjust(loyalty.card, bigint, text, text, timestamptz)',
		'reverse(loyalty.card, bigint, bigint, text, text)',
		'expire_points(timestamptz)',
		'set_tier(loyalty.card, text, text, timestamptz)',
		'review_tiers(timestamptz)',
		'use_benefit_at(loyalty.card, text, text, text, timestamptz)',
		'issue_voucher(text, loyalty.card, numeric, timestamptz, text)',
		-- the segment_check trigger calls it as the writer of a segment
		'segment_predicate_check(text)',
		'refresh_segments(timestamptz)',
		-- audiences (audience.sql): loaded and emptied by admin
		'audience_targets(text, loyalty.card[])',
		'audience_add(text, loyalty.card[])',
		'audience_remove(text, loyalty.card[])',
		-- tender holds (hold.sql): releases holds past their expiry
		'sweep_holds()'];
	f text;
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role is required' USING ERRCODE = 'LY013';
	END IF;
	IF access IS NULL THEN
		RAISE EXCEPTION 'access level is required' USING ERRCODE = 'LY013',
			DETAIL = 'The access levels are admin, pos and analyst.';
	END IF;
	IF access NOT IN ('admin', 'pos', 'analyst') THEN
		RAISE EXCEPTION 'invalid access level: "%"', access
			USING ERRCODE = 'LY008', DETAIL = 'The access levels are admin, pos and analyst.';
	END IF;
	EXECUTE format('GRANT USAGE ON SCHEMA loyalty TO %s', role);
	IF access IN ('admin', 'analyst') THEN
		EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA loyalty TO %s', role);
	END IF;
	IF access IN ('admin', 'pos') THEN
		-- a sale is one INSERT; RETURNING reads back what the trigger filled in
		-- only the POS's own columns: what the trigger fills in (award above
		-- all, which marks a processed row) stays the trigger's
		EXECUTE format('GRANT INSERT (store, pos_txn, card, occurred_at, total, lines, return_of, vouchers) '
					   'ON loyalty.sale TO %s', role);
		EXECUTE format('GRANT SELECT (sale_id, store, pos_txn, return_of, member_id, points_earned, '
					   'points_pending, entry_id, tier, vouchers, vouchers_issued) ON loyalty.sale TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.sale_id_seq TO %s', role);
	END IF;
	IF access = 'admin' THEN
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON loyalty.program, loyalty.rule, loyalty.store, loyalty.tier TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.program_program_id_seq, loyalty.rule_rule_id_seq, loyalty.tier_id_seq TO %s', role);
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON loyalty.benefit TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.benefit_id_seq TO %s', role);
		-- vouchers: types configured and vouchers issued by admin only
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON loyalty.voucher_type TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.voucher_type_id_seq TO %s', role);
		-- segments: defined by admin only (a predicate runs as its writer)
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON loyalty.segment TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.segment_id_seq TO %s', role);
		-- audiences of targeted offers, and their members (INSERT ... SELECT)
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON loyalty.audience, loyalty.audience_member TO %s', role);
		EXECUTE format('GRANT USAGE ON SEQUENCE loyalty.audience_id_seq TO %s', role);
		-- consuming the outbox: DELETE ... WHERE event_id IN (SELECT ... FOR UPDATE SKIP LOCKED)
		EXECUTE format('GRANT UPDATE, DELETE ON loyalty.outbox TO %s', role);
		-- and waking up when the outbox's sequence moves (pg_sequence_last_value)
		EXECUTE format('GRANT SELECT ON SEQUENCE loyalty.outbox_event_id_seq TO %s', role);
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
'Grants a role one access level: admin (configure programs, rules, stores, tiers, benefits, segments, voucher types and audiences, issue vouchers, refresh segments, load audiences, sweep expired holds, post corrections, override tiers, review them, consume the outbox, read all), pos (enrol, insert sales, redeem, authorize, capture and void holds, quote, read a card''s balance and tier, use benefits, enrol with a sale, check and use vouchers, clip offers) or analyst (read all, run the analytics, member features and segment history). Run it again after an update for the new release''s functions.';
