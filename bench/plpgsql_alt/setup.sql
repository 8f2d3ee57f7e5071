-- The alternative a DBA would otherwise write (bench/plpgsql_alt.sh): a plain
-- PL/pgSQL BEFORE INSERT trigger on plt_sale, a copy of loyalty.sale, that
-- implements the same earning rules (read from loyalty.rule, the ten of
-- pos_rules.sql) and the tier ladder (loyalty.tier, a rolling window) and
-- writes the same rows as the C trigger, into copies of the extension's
-- tables with the same columns, CHECKs, indexes and member foreign keys:
--
--   plt_sale         the sale row (member_id, points, entry_id, award, tier filled in)
--   plt_ledger       the earn entry, with rule_points
--   plt_lot          its lot
--   plt_balance      the member's balance row (net, lifetime_earned, sales, ...)
--   plt_rule_spend   the budgeted rule's slot (eight slots, one per member_id % 8)
--   plt_outbox       the award event (and tier_up on an upgrade); NOTIFY when loyalty.notify is on
--   plt_tier_day     the day's figures, upserted
--   plt_member_tier  the member's tier and running figures, upserted
--   plt_tier_change  a row per upgrade
--
-- The copies start from the tiered program's state (pos_tier_setup.sql): its
-- members' balances, tier days, member tiers and tier history.  Run after
-- pos_tier_setup.sql, with psql variable moff (member ids of 'tpos' are
-- above it).
--
-- Written as a competent DBA would: one query for the card, the member's
-- lock and the balance; one for the member, program and store settings; one
-- set-based query evaluating every rule over every line (exclusions, the
-- base, the multipliers' and bonuses' matching lines and amounts), then a
-- loop over its rows in rule order for what is per rule (first purchase,
-- the nth-visit count, the budget slot, non-stackable rules); the tier's
-- window moved, day upserted and tier decided with one statement each.
-- Not in it (the C trigger has them; the benchmark's sales never need
-- them): returns, the retry of a POS transaction answered with the first
-- answer (here the unique (store, pos_txn) refuses it), member caps
-- (member_max_uses/points), the budget's fallback when a slot's share runs
-- out, hour windows' and lines' detailed validation, window kinds other
-- than rolling, explain texts ("why") in the award.

CREATE TABLE plt_sale (LIKE loyalty.sale INCLUDING ALL);
CREATE TABLE plt_ledger (LIKE loyalty.ledger INCLUDING ALL);
CREATE TABLE plt_lot (LIKE loyalty.lot INCLUDING ALL);
CREATE TABLE plt_balance (LIKE loyalty.member_balance INCLUDING ALL);
CREATE TABLE plt_rule_spend (LIKE loyalty.rule_spend INCLUDING ALL);
CREATE TABLE plt_outbox (LIKE loyalty.outbox INCLUDING ALL);
CREATE TABLE plt_tier_day (LIKE loyalty.tier_day INCLUDING ALL);
CREATE TABLE plt_member_tier (LIKE loyalty.member_tier INCLUDING ALL);
CREATE TABLE plt_tier_change (LIKE loyalty.tier_change INCLUDING ALL);
ALTER TABLE plt_ledger ADD FOREIGN KEY (member_id) REFERENCES loyalty.member;
ALTER TABLE plt_lot ADD FOREIGN KEY (member_id) REFERENCES loyalty.member;
ALTER TABLE plt_balance ADD FOREIGN KEY (member_id) REFERENCES loyalty.member;
ALTER TABLE plt_rule_spend ADD FOREIGN KEY (rule_id) REFERENCES loyalty.rule ON DELETE CASCADE;
ALTER TABLE plt_member_tier ADD FOREIGN KEY (member_id) REFERENCES loyalty.member;
ALTER TABLE plt_member_tier ADD FOREIGN KEY (tier_id) REFERENCES loyalty.tier;
ALTER TABLE plt_member_tier ADD FOREIGN KEY (override_tier_id) REFERENCES loyalty.tier;
ALTER TABLE plt_tier_change ADD FOREIGN KEY (member_id) REFERENCES loyalty.member;
ALTER TABLE plt_tier_change ADD FOREIGN KEY (from_tier_id) REFERENCES loyalty.tier;
ALTER TABLE plt_tier_change ADD FOREIGN KEY (to_tier_id) REFERENCES loyalty.tier;

INSERT INTO plt_balance SELECT * FROM loyalty.member_balance WHERE member_id > :moff;
INSERT INTO plt_tier_day SELECT * FROM loyalty.tier_day WHERE member_id > :moff;
INSERT INTO plt_member_tier SELECT * FROM loyalty.member_tier WHERE member_id > :moff;
INSERT INTO plt_tier_change SELECT * FROM loyalty.tier_change WHERE member_id > :moff;
-- the budgeted rules' slots, each an eighth of the budget
INSERT INTO plt_rule_spend (rule_id, slot, share, split_of)
SELECT r.rule_id, s, r.budget_points / 8, r.budget_points
  FROM loyalty.rule r JOIN loyalty.program p USING (program_id), generate_series(0, 7) s
 WHERE p.code = 'tpos' AND r.budget_points IS NOT NULL;

CREATE FUNCTION plt_round(exact numeric, rounding text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
	SELECT (CASE rounding WHEN 'ceil' THEN ceil(exact) WHEN 'half_up' THEN round(exact) ELSE floor(exact) END)::bigint
$$;

CREATE FUNCTION plt_sale_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	v_member	bigint;
	v_status	text;
	v_sales		bigint;
	v_debt		bigint;
	v_program	integer;
	v_enrolled	timestamptz;
	v_ppu		numeric;
	v_rounding	text;
	v_zone		text;
	v_wdays		integer;
	v_backdate	interval;
	v_pending	integer;
	v_expiry	interval;
	v_local		timestamp;
	v_day		date;
	v_lines		integer;
	v_sum		numeric;
	-- tier
	v_mt		plt_member_tier%ROWTYPE;
	v_has_mt	boolean;
	v_tier		loyalty.tier%ROWTYPE;
	v_q			loyalty.tier%ROWTYPE;
	v_start		date;
	v_drop		record;
	v_after		numeric;
	-- rules
	v_r			record;
	v_points	bigint := 0;
	v_part		bigint;
	v_fired		boolean;
	v_stop		boolean := false;
	v_outcomes	jsonb[] := '{}';
	v_rule_pts	jsonb := '{}';
	v_visits	bigint;
	v_today		boolean;
	v_from		timestamptz;
	v_to		timestamptz;
	v_entry		bigint;
	v_repay		bigint;
	v_at		timestamptz;
	v_notify	boolean := coalesce(current_setting('loyalty.notify', true), 'on')::boolean;
BEGIN
	IF NEW.card IS NULL OR NEW.return_of IS NOT NULL THEN
		RAISE EXCEPTION 'plt_sale takes members'' sales only';
	END IF;
	-- the card's member, its balance row locked: the member's lock
	SELECT b.member_id, b.status, b.sales, b.debt, b.program_id
	  INTO v_member, v_status, v_sales, v_debt, v_program
	  FROM loyalty.member_card c JOIN plt_balance b ON b.member_id = c.member_id
	 WHERE c.card = NEW.card AND c.replaced_at IS NULL
	   FOR NO KEY UPDATE OF b;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'card "%" is not enrolled', NEW.card USING ERRCODE = 'LY001';
	END IF;
	IF v_status <> 'active' THEN
		RAISE EXCEPTION 'member % is %', v_member, v_status USING ERRCODE = 'LY004';
	END IF;
	SELECT m.enrolled_at, p.points_per_unit, p.rounding, coalesce(s.time_zone, p.time_zone), p.tier_window_days,
		   p.backdate_limit, p.pending_days, p.expiry_after
	  INTO v_enrolled, v_ppu, v_rounding, v_zone, v_wdays, v_backdate, v_pending, v_expiry
	  FROM loyalty.member m JOIN loyalty.program p ON p.program_id = m.program_id
	  LEFT JOIN loyalty.store s ON s.store = NEW.store
	 WHERE m.member_id = v_member;
	IF NEW.occurred_at < v_enrolled THEN
		RAISE EXCEPTION 'a sale before the member''s enrolment' USING ERRCODE = 'LY016';
	END IF;
	IF NEW.occurred_at < now() - v_backdate
	   AND NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
		RAISE EXCEPTION 'sale dated more than % back', v_backdate USING ERRCODE = 'LY016';
	END IF;
	SELECT count(*), sum((e->>'amount')::numeric) INTO v_lines, v_sum FROM jsonb_array_elements(NEW.lines) e;
	IF v_lines = 0 OR abs(v_sum - NEW.total) > 0.01 * v_lines THEN
		RAISE EXCEPTION 'total % does not match the lines (%)', NEW.total, v_sum USING ERRCODE = 'LY030';
	END IF;
	v_local := NEW.occurred_at AT TIME ZONE v_zone;
	v_day := v_local::date;

	-- the tier held before the sale: its multiplier applies
	SELECT * INTO v_mt FROM plt_member_tier WHERE member_id = v_member;
	v_has_mt := FOUND;
	SELECT * INTO v_tier FROM loyalty.tier t
	 WHERE t.program_id = v_program AND (t.tier_id = v_mt.tier_id OR (NOT v_has_mt AND t.rank = 0));

	-- every rule over every line, set-based: the base first, exclusions, the others in order
	FOR v_r IN
		WITH l AS (
			SELECT (x.ord - 1)::integer AS k, x.e->>'sku' AS sku, x.e->>'category' AS cat,
				   (x.e->>'amount')::numeric AS amount
			  FROM jsonb_array_elements(NEW.lines) WITH ORDINALITY AS x(e, ord)),
		r AS (
			SELECT r.*, (r.valid_from IS NULL OR NEW.occurred_at >= r.valid_from)
						AND (r.valid_to IS NULL OR NEW.occurred_at < r.valid_to)
						AND (r.stores IS NULL OR NEW.store = ANY (r.stores))
						AND (r.days_of_week IS NULL OR extract(isodow FROM v_local)::integer = ANY (r.days_of_week))
						AND (r.hour_from IS NULL OR (extract(hour FROM v_local) >= r.hour_from
													 AND extract(hour FROM v_local) < r.hour_to)) AS win
			  FROM loyalty.rule r WHERE r.program_id = v_program AND r.active),
		e AS (
			SELECT l.*, l.amount * v_ppu AS base,
				   EXISTS (SELECT FROM r WHERE r.kind = 'exclude' AND r.win
							  AND ((r.skus IS NULL AND r.categories IS NULL) OR l.sku = ANY (r.skus)
								   OR l.cat = ANY (r.categories))) AS excluded
			  FROM l)
		SELECT NULL::integer AS rule_id, 'base' AS code, 'base' AS kind, 0 AS step, 0 AS priority,
			   NULL::bigint AS points, NULL::numeric AS multiplier, NULL::numeric AS min_basket,
			   NULL::integer AS every_nth, NULL::text AS visit_period, NULL::bigint AS budget_points,
			   true AS stackable, true AS win,
			   count(*) FILTER (WHERE NOT e.excluded) AS n, sum(e.amount) FILTER (WHERE NOT e.excluded) AS amount,
			   COALESCE(sum(e.base) FILTER (WHERE NOT e.excluded), 0) AS exact,
			   array_agg(e.k ORDER BY e.k) FILTER (WHERE NOT e.excluded) AS lines
		  FROM e
		UNION ALL
		SELECT r.rule_id, r.code, r.kind, CASE WHEN r.kind = 'exclude' THEN 1 ELSE 2 END, r.priority,
			   r.points, r.multiplier, r.min_basket, r.every_nth, r.visit_period, r.budget_points,
			   r.stackable, r.win, count(e.k), COALESCE(sum(e.amount), 0),
			   COALESCE(sum(e.base * (r.multiplier - 1)), 0), array_agg(e.k ORDER BY e.k) FILTER (WHERE e.k IS NOT NULL)
		  FROM r LEFT JOIN e ON r.win AND (r.kind = 'exclude' OR NOT e.excluded)
							 AND ((r.skus IS NULL AND r.categories IS NULL) OR e.sku = ANY (r.skus)
								  OR e.cat = ANY (r.categories))
		 GROUP BY r.rule_id, r.code, r.kind, r.priority, r.points, r.multiplier, r.min_basket, r.every_nth,
				  r.visit_period, r.budget_points, r.stackable, r.win
		 ORDER BY step, priority, rule_id
	LOOP
		v_part := 0;
		IF v_r.kind = 'base' THEN
			v_part := plt_round(v_r.exact, v_rounding);
			v_fired := true;
			IF v_part <> 0 THEN
				v_rule_pts := v_rule_pts || jsonb_build_object('base', v_part);
			END IF;
			IF v_tier.earn_multiplier <> 1 THEN
				-- the tier's multiple of the base, a part of its own
				v_points := v_points + v_part;
				v_outcomes := v_outcomes || jsonb_build_object('rule', NULL, 'code', 'base', 'kind', 'base',
					'fired', true, 'points', v_part, 'lines', v_r.lines);
				v_part := plt_round(v_r.exact * (v_tier.earn_multiplier - 1), v_rounding);
				IF v_part <> 0 THEN
					v_rule_pts := v_rule_pts || jsonb_build_object('tier', v_part);
				END IF;
				v_outcomes := v_outcomes || jsonb_build_object('rule', NULL, 'code', v_tier.code, 'kind', 'tier',
					'fired', true, 'points', v_part, 'lines', v_r.lines);
				v_points := v_points + v_part;
				CONTINUE;
			END IF;
		ELSIF v_r.kind = 'exclude' THEN
			v_fired := v_r.n > 0;
		ELSIF v_stop OR NOT v_r.win OR v_r.n = 0 OR v_r.amount < v_r.min_basket THEN
			v_fired := false;
		ELSE
			v_part := CASE WHEN v_r.kind = 'multiplier' THEN plt_round(v_r.exact, v_rounding) ELSE v_r.points END;
			IF v_r.kind = 'first_purchase' AND v_sales > 0 THEN
				v_part := 0;
			ELSIF v_r.kind = 'nth_visit' THEN
				-- the member's visit days in the calendar period of the sale, before it
				v_from := date_trunc(v_r.visit_period, v_local) AT TIME ZONE v_zone;
				v_to := (date_trunc(v_r.visit_period, v_local) + ('1 ' || v_r.visit_period)::interval) AT TIME ZONE v_zone;
				SELECT count(DISTINCT (s.occurred_at AT TIME ZONE v_zone)::date),
					   COALESCE(bool_or((s.occurred_at AT TIME ZONE v_zone)::date = v_day), false)
				  INTO v_visits, v_today
				  FROM plt_sale s
				 WHERE s.member_id = v_member AND s.occurred_at >= v_from AND s.occurred_at < v_to
				   AND s.return_of IS NULL;
				IF v_today OR (v_visits + 1) % v_r.every_nth <> 0 THEN
					v_part := 0;
				END IF;
			END IF;
			IF v_part > 0 AND v_r.budget_points IS NOT NULL THEN
				-- the member's slot of the budget, if its share still covers it
				UPDATE plt_rule_spend SET points = points + v_part, uses = uses + 1
				 WHERE rule_id = v_r.rule_id AND slot = v_member % 8 AND points + v_part <= share;
				IF NOT FOUND THEN
					v_part := 0;
				END IF;
			END IF;
			v_fired := v_part > 0;
			IF v_fired THEN
				v_rule_pts := v_rule_pts || jsonb_build_object(v_r.rule_id::text, v_part);
				v_stop := NOT v_r.stackable;
			END IF;
		END IF;
		v_points := v_points + v_part;
		v_outcomes := v_outcomes || jsonb_build_object('rule', v_r.rule_id, 'code', v_r.code, 'kind', v_r.kind,
			'fired', v_fired, 'points', v_part, 'lines', CASE WHEN v_fired THEN v_r.lines END);
	END LOOP;
	v_points := greatest(v_points, 0);

	NEW.member_id := v_member;
	NEW.points_earned := v_points;
	NEW.points_pending := CASE WHEN v_pending > 0 THEN v_points ELSE 0 END;
	NEW.award := jsonb_build_object('points', v_points, 'rounding', left(v_rounding, 1), 'rules', to_jsonb(v_outcomes));

	-- the earn: ledger entry, lot, balance, event
	IF v_points > 0 THEN
		v_entry := nextval('loyalty.ledger_entry_id_seq');
		v_repay := least(v_points, v_debt);
		INSERT INTO plt_ledger (member_id, entry_id, kind, points, effective_at, posted_at, source, store, pos_txn,
								sale_id, rule_points, pending_until, expires_at, lot_ids, lot_points)
		VALUES (v_member, v_entry, 'earn', v_points, least(NEW.occurred_at, now()), now(), 'sale', NEW.store, NEW.pos_txn,
				NEW.sale_id, v_rule_pts,
				CASE WHEN v_pending > 0 THEN least(NEW.occurred_at, now()) + v_pending * interval '1 day' END,
				least(NEW.occurred_at, now()) + v_expiry,
				CASE WHEN v_points > v_repay THEN ARRAY[v_entry] ELSE '{}' END,
				CASE WHEN v_points > v_repay THEN ARRAY[v_points - v_repay] ELSE '{}' END);
		IF v_points > v_repay THEN
			INSERT INTO plt_lot (member_id, lot_id, points, remaining, earned_at, available_from, expires_at)
			VALUES (v_member, v_entry, v_points - v_repay, v_points - v_repay, least(NEW.occurred_at, now()),
					least(NEW.occurred_at, now()) + v_pending * interval '1 day', least(NEW.occurred_at, now()) + v_expiry);
		END IF;
		UPDATE plt_balance SET net = net + v_points, debt = debt - v_repay, lifetime_earned = lifetime_earned + v_points,
			   sales = sales + 1, last_entry_id = v_entry, updated_at = now()
		 WHERE member_id = v_member;
		INSERT INTO plt_outbox (member_id, kind, payload)
		VALUES (v_member, 'award', jsonb_build_object('event', 'award', 'member_id', v_member, 'sale_id', NEW.sale_id,
				'entry_id', v_entry, 'points', v_points, 'store', NEW.store, 'pos_txn', NEW.pos_txn));
		IF v_notify THEN
			PERFORM pg_notify('loyalty_events', '');
		END IF;
		NEW.entry_id := v_entry;
	ELSE
		UPDATE plt_balance SET sales = sales + 1 WHERE member_id = v_member;
	END IF;

	-- the tier: move the rolling window to the latest sale day, count the sale, move up
	IF v_tier.tier_id IS NOT NULL THEN
		IF NOT v_has_mt THEN
			v_mt := ROW(v_member, v_tier.tier_id, NEW.occurred_at, v_day, NULL, NULL, v_day - v_wdays, v_day, 0, 0, 0);
		END IF;
		v_start := greatest(v_day, v_mt.last_day) - v_wdays;
		IF v_mt.window_start = v_mt.last_day - v_wdays AND v_start - v_mt.window_start <= v_wdays + 1 THEN
			-- the days that left the window
			IF v_start > v_mt.window_start THEN
				SELECT COALESCE(sum(d.spend), 0) AS spend, COALESCE(sum(d.points), 0) AS points,
					   count(*) FILTER (WHERE d.spend > 0) AS visits
				  INTO v_drop
				  FROM plt_tier_day d
				 WHERE d.member_id = v_member AND d.day >= v_mt.window_start AND d.day < v_start;
				v_mt.spend := v_mt.spend - v_drop.spend;
				v_mt.points := v_mt.points - v_drop.points;
				v_mt.visits := v_mt.visits - v_drop.visits;
				v_mt.window_start := v_start;
			END IF;
		ELSE
			-- all left, or kept for another window length: counted again
			SELECT COALESCE(sum(d.spend), 0) AS spend, COALESCE(sum(d.points), 0) AS points,
				   count(*) FILTER (WHERE d.spend > 0) AS visits
			  INTO v_drop
			  FROM plt_tier_day d
			 WHERE d.member_id = v_member AND d.day >= v_start AND d.day <= greatest(v_day, v_mt.last_day);
			v_mt.spend := v_drop.spend;
			v_mt.points := v_drop.points;
			v_mt.visits := v_drop.visits;
			v_mt.window_start := v_start;
		END IF;
		v_mt.last_day := greatest(v_day, v_mt.last_day);
		INSERT INTO plt_tier_day AS d (member_id, day, spend, points) VALUES (v_member, v_day, NEW.total, v_points)
		ON CONFLICT (member_id, day) DO UPDATE SET spend = d.spend + excluded.spend, points = d.points + excluded.points
		RETURNING d.spend INTO v_after;
		IF v_day >= v_mt.window_start THEN
			v_mt.spend := v_mt.spend + NEW.total;
			v_mt.points := v_mt.points + v_points;
			v_mt.visits := v_mt.visits + (v_after > 0)::integer - (v_after - NEW.total > 0)::integer;
		END IF;
		SELECT * INTO v_q FROM loyalty.tier t
		 WHERE t.program_id = v_program
		   AND (t.rank = 0 OR t.min_spend <= v_mt.spend OR t.min_visits <= v_mt.visits OR t.min_points <= v_mt.points)
		 ORDER BY t.rank DESC LIMIT 1;
		IF v_q.rank > v_tier.rank THEN
			-- dated at the sale, never ahead of now nor before the member's latest change
			v_at := greatest(least(NEW.occurred_at, now()),
							 (SELECT max(c.changed_at) FROM plt_tier_change c WHERE c.member_id = v_member));
			INSERT INTO plt_tier_change (member_id, from_tier_id, to_tier_id, changed_at, cause, sale_id)
			VALUES (v_member, v_tier.tier_id, v_q.tier_id, v_at, 'qualified', NEW.sale_id);
			INSERT INTO plt_outbox (member_id, kind, payload)
			VALUES (v_member, 'tier_up', jsonb_build_object('event', 'tier_up', 'member_id', v_member, 'from', v_tier.code,
					'to', v_q.code, 'cause', 'qualified', 'sale_id', NEW.sale_id, 'changed_at', v_at));
			IF v_notify THEN
				PERFORM pg_notify('loyalty_events', '');
			END IF;
			v_tier := v_q;
			v_mt.tier_id := v_q.tier_id;
			v_mt.since := v_at;
			v_mt.held_until := v_day + v_wdays + 1;
		ELSIF v_q.tier_id = v_tier.tier_id AND v_q.rank > 0 THEN
			v_mt.held_until := greatest(v_mt.held_until, v_day + v_wdays + 1);
		END IF;
		INSERT INTO plt_member_tier AS t (member_id, tier_id, since, held_until, window_start, last_day, spend, visits, points)
		VALUES (v_member, v_mt.tier_id, v_mt.since, v_mt.held_until, v_mt.window_start, v_mt.last_day,
				v_mt.spend, v_mt.visits, v_mt.points)
		ON CONFLICT (member_id) DO UPDATE SET tier_id = excluded.tier_id, since = excluded.since,
			held_until = excluded.held_until, window_start = excluded.window_start, last_day = excluded.last_day,
			spend = excluded.spend, visits = excluded.visits, points = excluded.points;
		NEW.tier := v_tier.code;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER plt_sale_award BEFORE INSERT ON plt_sale FOR EACH ROW EXECUTE FUNCTION plt_sale_trigger();
VACUUM ANALYZE;
