--
-- Tier findings of the adversarial review of 0.6.0, each with what it must
-- do (hand-computed; the comments say why).  All dates are in the past and
-- fixed; the superuser back-fills.  Every program: UTC, base (rank 0), silver
-- (min_spend 100), gold (min_spend 1000) unless said otherwise.
--
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
CREATE FUNCTION tf_ladder(p_program text, p_silver numeric DEFAULT 100, p_gold numeric DEFAULT 1000) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO loyalty.tier (program_id, code, rank, min_spend)
	SELECT program_id, v.code, v.rank, v.min_spend FROM loyalty.program,
		   (VALUES ('base', 0, NULL::numeric), ('silver', 1, p_silver), ('gold', 2, p_gold)) AS v(code, rank, min_spend)
	 WHERE program.code = p_program;
$$;
-- a sale (or a return when p_return_of is set) of card 40/p_serial: one line
CREATE FUNCTION tf_sale(p_serial int, p_txn text, p_at timestamptz, p_total numeric, p_return_of bigint DEFAULT NULL,
	p_sku text DEFAULT 'A') RETURNS text
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines, return_of)
	VALUES ('TF', p_txn, CASE WHEN p_return_of IS NULL THEN loyalty.card_issue('40', p_serial) END, p_at, p_total,
			jsonb_build_array(jsonb_build_object('sku', p_sku, 'qty', 1, 'amount', p_total)), p_return_of)
	RETURNING format('sale %s: %s points, tier %s', pos_txn, points_earned, tier)
$$;
-- a member's running figures, and the sums of tier_day over their window
CREATE FUNCTION tf_figures(p_serial int, OUT tier text, OUT window_start date, OUT last_day date,
	OUT spend numeric, OUT visits integer, OUT points bigint, OUT days_agree boolean)
LANGUAGE sql AS $$
	SELECT t.code, mt.window_start, mt.last_day, mt.spend, mt.visits, mt.points,
		   (mt.spend, mt.visits::bigint, mt.points::numeric) =
		   (SELECT coalesce(sum(d.spend), 0), count(*) FILTER (WHERE d.spend > 0), coalesce(sum(d.points), 0)
			  FROM loyalty.tier_day d WHERE d.member_id = mt.member_id AND d.day BETWEEN mt.window_start AND mt.last_day)
	  FROM loyalty.member_tier mt JOIN loyalty.tier t ON t.tier_id = mt.tier_id
	 WHERE mt.member_id = loyalty.member_id(loyalty.card_issue('40', p_serial))
$$;
-- a member's history in change order, and whether it is a chain in time:
-- each change starts at the tier the one before ended at, changed_at never
-- goes back, and the last ends at tier_of (so that tier_at(now()) = tier_of)
CREATE FUNCTION tf_history(p_serial int) RETURNS TABLE (change text)
LANGUAGE sql AS $$
	SELECT format('%s -> %s %s at %s', f.code, t.code, c.cause, to_char(c.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'))
	  FROM loyalty.tier_change c JOIN loyalty.tier f ON f.tier_id = c.from_tier_id JOIN loyalty.tier t ON t.tier_id = c.to_tier_id
	 WHERE c.member_id = loyalty.member_id(loyalty.card_issue('40', p_serial))
	 ORDER BY c.change_id
$$;
CREATE FUNCTION tf_chain(p_serial int, OUT chain_in_time boolean, OUT tier_of text, OUT tier_at_now text)
LANGUAGE sql AS $$
	WITH c AS (SELECT c.*, lag(c.to_tier_id) OVER w AS prev_to, lag(c.changed_at) OVER w AS prev_at
				 FROM loyalty.tier_change c
				WHERE c.member_id = loyalty.member_id(loyalty.card_issue('40', p_serial))
			   WINDOW w AS (ORDER BY c.change_id))
	SELECT bool_and((c.prev_to IS NULL OR c.prev_to = c.from_tier_id) AND (c.prev_at IS NULL OR c.prev_at <= c.changed_at)),
		   loyalty.tier_of(loyalty.card_issue('40', p_serial)),
		   loyalty.tier_at(loyalty.card_issue('40', p_serial), now())
	  FROM c
$$;

--
-- 1. A return of a sale from before the program had tiers.  Sale A (500.00)
-- was made before the ladder existed and never counted; sale B (50.00) the
-- same day after it did.  Returning A must leave the day's figures alone
-- (they never held A): the day stays at 50.00 and 50 points, one visit.
-- Found: the return took 500.00 and 500 points from the day B made: -450.00.
--
INSERT INTO loyalty.program (code) VALUES ('tf1');
SELECT loyalty.enroll(loyalty.card_issue('40', 1), 'tf1', enrolled_at => '2000-01-01 00:00+00') > 0 AS enrolled;
SELECT tf_sale(1, 'tf1-A', '2025-03-01 10:00+00', 500.00);
SELECT tf_ladder('tf1');
SELECT tf_sale(1, 'tf1-B', '2025-03-01 15:00+00', 50.00);
SELECT tf_sale(1, 'tf1-RA', '2025-03-02 10:00+00', 500.00, (SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'tf1-A'));
SELECT day, spend, points FROM loyalty.tier_day WHERE member_id = loyalty.member_id(loyalty.card_issue('40', 1));
SELECT * FROM tf_figures(1);

--
-- 2. Returns after the sale's points expired.  Sale of 100.00 (A 50.00 + B
-- 50.00) earns 100 points, which expire a day later.  Two returns take A and
-- B back: each takes nothing from the ledger (the points are gone), and each
-- lowers the day's tier points by the 50 the sale no longer earns for it:
-- 100 - 50 - 50 = 0.  Found: the second return took 100 (the sale's award
-- less what is left, less what the ledger took back so far, which after
-- expiry is less than the tier points taken so far): -50.
--
INSERT INTO loyalty.program (code, expiry_after) VALUES ('tf2', '1 day');
SELECT tf_ladder('tf2', 100000, 1000000);
SELECT loyalty.enroll(loyalty.card_issue('40', 2), 'tf2', enrolled_at => '2000-01-01 00:00+00') > 0 AS enrolled;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('TF', 'tf2-S', loyalty.card_issue('40', 2), '2025-03-01 12:00+00', 100.00,
		jsonb_build_array(jsonb_build_object('sku', 'A', 'qty', 1, 'amount', 50.00),
						  jsonb_build_object('sku', 'B', 'qty', 1, 'amount', 50.00)))
RETURNING points_earned;
SELECT entries, points FROM loyalty.expire_points('2025-03-05 00:00+00');
SELECT tf_sale(2, 'tf2-RA', '2025-03-06 10:00+00', 50.00, (SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'tf2-S'), 'A');
SELECT day, spend, points FROM loyalty.tier_day WHERE member_id = loyalty.member_id(loyalty.card_issue('40', 2));
SELECT tf_sale(2, 'tf2-RB', '2025-03-06 11:00+00', 50.00, (SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'tf2-S'), 'B');
SELECT day, spend, points FROM loyalty.tier_day WHERE member_id = loyalty.member_id(loyalty.card_issue('40', 2));
SELECT * FROM tf_figures(2);

--
-- 3. An upgrade by a back-dated sale (a POS may date a sale a day back; an
-- admin back-fills out of order) is not dated before the member's latest
-- change, so that the history stays a chain in time and tier_at(now())
-- agrees with tier_of.
-- a) Member 3 reaches silver with 150.00 on 2025-06-12 10:00; a sale dated
--    the day before, 18:00, of 900.00 brings 1050.00: gold, dated
--    2025-06-12 10:00 (not 2025-06-11 18:00).
-- b) Member 4 reached gold on 2025-05-01 (held to 2025-06-01); the review as
--    of 2025-06-15 12:00 moves it down to base; a POS sale dated 2025-06-15
--    10:00 of 1000.00 qualifies gold again: dated 12:00, the review's time.
-- c) An out-of-order back-fill in one INSERT (the later sale first): every
--    history stays a chain.
-- Found: the upgrades were dated at the sales (2025-06-11 18:00, 2025-06-15
-- 10:00), before the change they follow: tier_at(now()) said silver and
-- base while tier_of said gold.
--
INSERT INTO loyalty.program (code, tier_window, tier_window_days) VALUES ('tf3', 'rolling', 30);
SELECT tf_ladder('tf3');
SELECT count(loyalty.enroll(loyalty.card_issue('40', s), 'tf3', enrolled_at => '2000-01-01 00:00+00')) AS enrolled
  FROM generate_series(3, 6) s;
SELECT tf_sale(3, 'tf3-a1', '2025-06-12 10:00+00', 150.00);
SELECT tf_sale(3, 'tf3-a2', '2025-06-11 18:00+00', 900.00);
SELECT * FROM tf_history(3);
SELECT * FROM tf_chain(3);
SELECT loyalty.tier_at(loyalty.card_issue('40', 3), '2025-06-12 09:00+00') AS at_0612_0900,
	   loyalty.tier_at(loyalty.card_issue('40', 3), '2025-06-12 10:00+00') AS at_0612_1000;
SELECT tf_sale(4, 'tf3-b1', '2025-05-01 12:00+00', 1000.00);
SELECT * FROM loyalty.review_tiers('2025-06-15 12:00+00');
SELECT tf_sale(4, 'tf3-b2', '2025-06-15 10:00+00', 1000.00);
SELECT * FROM tf_history(4);
SELECT * FROM tf_chain(4);
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'TF', 'tf3-c' || s || '-' || g, loyalty.card_issue('40', s), timestamptz '2025-08-01 12:00+00' - g * interval '1 day', 120.00 * g,
	   jsonb_build_array(jsonb_build_object('sku', 'A', 'qty', 1, 'amount', 120.00 * g))
  FROM generate_series(5, 6) s, generate_series(1, 8) g
 ORDER BY s, g;
SELECT * FROM tf_history(5);
SELECT s, c.* FROM generate_series(5, 6) s, tf_chain(s) c;
-- d) The review that ends an override late: member 7 gets silver until a
--    second from now; after it, a sale of 1000.00 moves it up to gold;
--    then the review ends the override (gold stays: the figures earn it).
--    Its override_ended row is dated at the override's end, before the
--    sale's upgrade, unless no earlier than the latest change.
SELECT loyalty.enroll(loyalty.card_issue('40', 7), 'tf3', enrolled_at => '2000-01-01 00:00+00') > 0 AS enrolled;
SELECT loyalty.set_tier(loyalty.card_issue('40', 7), 'silver', 'a second of silver', clock_timestamp() + interval '1 second') > 0 AS set;
SELECT pg_sleep(1.2);
SELECT tf_sale(7, 'tf3-d1', now(), 1000.00);
SELECT overrides_expired FROM loyalty.review_tiers();
SELECT c.cause, f.code AS from_tier, t.code AS to_tier
  FROM loyalty.tier_change c JOIN loyalty.tier f ON f.tier_id = c.from_tier_id JOIN loyalty.tier t ON t.tier_id = c.to_tier_id
 WHERE c.member_id = loyalty.member_id(loyalty.card_issue('40', 7)) ORDER BY c.change_id;
SELECT * FROM tf_chain(7);

--
-- 4. A program that changes its tier_window or tier_window_days while
-- members are in the middle of a window: the next sale counts the figures
-- of the new window, from the day figures.
-- a) rolling (365 days) -> calendar_year: 900.00 on 2025-06-01, then 200.00
--    on 2025-06-02: 1100.00 in 2025, silver (min 1000 here).
-- b) rolling 365 -> 60 days: 900.00 on 2025-11-01, then 200.00 on
--    2025-11-02: 1100.00 in the 60 days, silver.
-- c) rolling 30 -> 365 days: 900.00 on 2025-01-10, 50.00 on 2025-03-01
--    (the 30 days hold 50.00), then 100.00 on 2025-03-02: the 365 days hold
--    1050.00, silver.
-- d) lifetime -> rolling 30: 900.00 on 2024-01-01, 50.00 on 2025-05-01, then
--    60.00 on 2025-05-02: the 30 days hold 110.00, base.
-- Found: a) and b) started again at zero (200.00), c) kept the 30 days'
-- figures (150.00): no upgrade on the spot.
--
INSERT INTO loyalty.program (code, tier_window, tier_window_days) VALUES
	('tf4a', 'rolling', 365), ('tf4b', 'rolling', 365), ('tf4c', 'rolling', 30), ('tf4d', 'lifetime', 365);
SELECT tf_ladder(p, 1000, 5000) FROM unnest(ARRAY['tf4a', 'tf4b', 'tf4c', 'tf4d']) p;
SELECT loyalty.enroll(loyalty.card_issue('40', 10 + i), p, enrolled_at => '2000-01-01 00:00+00') > 0 AS enrolled
  FROM unnest(ARRAY['tf4a', 'tf4b', 'tf4c', 'tf4d']) WITH ORDINALITY AS x(p, i);
SELECT tf_sale(11, 'tf4a-1', '2025-06-01 12:00+00', 900.00),
	   tf_sale(12, 'tf4b-1', '2025-11-01 12:00+00', 900.00),
	   tf_sale(13, 'tf4c-1', '2025-01-10 12:00+00', 900.00),
	   tf_sale(13, 'tf4c-2', '2025-03-01 12:00+00', 50.00),
	   tf_sale(14, 'tf4d-1', '2024-01-01 12:00+00', 900.00),
	   tf_sale(14, 'tf4d-2', '2025-05-01 12:00+00', 50.00);
UPDATE loyalty.program SET tier_window = 'calendar_year' WHERE code = 'tf4a';
UPDATE loyalty.program SET tier_window_days = 60 WHERE code = 'tf4b';
UPDATE loyalty.program SET tier_window_days = 365 WHERE code = 'tf4c';
UPDATE loyalty.program SET tier_window = 'rolling', tier_window_days = 30 WHERE code = 'tf4d';
SELECT tf_sale(11, 'tf4a-2', '2025-06-02 12:00+00', 200.00),
	   tf_sale(12, 'tf4b-2', '2025-11-02 12:00+00', 200.00),
	   tf_sale(13, 'tf4c-3', '2025-03-02 12:00+00', 100.00),
	   tf_sale(14, 'tf4d-3', '2025-05-02 12:00+00', 60.00);
SELECT s, f.* FROM generate_series(11, 14) s, tf_figures(s) f;

--
-- 5. A review that moves up a member whose override has no end (until
-- NULL): the hold of an upgrade (calendar year: to the end of the next
-- year; lifetime: today), and override_ended false in the preview.  Member
-- 20 reached silver with a sale an hour ago; an admin sets base for good
-- (a demotion: the tier is base, the floor base); the review finds the
-- figures earn silver and moves it up.  Found: the override's end was NULL
-- (override_until <= as_of with a NULL until), so the upgrade took the
-- hold of a downgrade (calendar: the end of this year; lifetime: tomorrow)
-- and the preview said override_ended NULL.
--
INSERT INTO loyalty.program (code, tier_window) VALUES ('tf5c', 'calendar_year'), ('tf5l', 'lifetime');
SELECT tf_ladder('tf5c'), tf_ladder('tf5l');
SELECT loyalty.enroll(loyalty.card_issue('40', 20), 'tf5c', enrolled_at => '2000-01-01 00:00+00') > 0 AS enrolled,
	   loyalty.enroll(loyalty.card_issue('40', 21), 'tf5l', enrolled_at => '2000-01-01 00:00+00') > 0 AS enrolled;
SELECT tf_sale(20, 'tf5-1', now() - interval '1 hour', 200.00), tf_sale(21, 'tf5-2', now() - interval '1 hour', 200.00);
SELECT loyalty.set_tier(loyalty.card_issue('40', s), 'base', 'demoted for good') > 0 AS set FROM generate_series(20, 21) s;
SELECT m.serial, p.from_tier, p.to_tier, p.cause, p.up, p.override_ended
  FROM generate_series(20, 21) AS m(serial), loyalty.review_tiers_preview() p
 WHERE p.member_id = loyalty.member_id(loyalty.card_issue('40', m.serial)) ORDER BY 1;
SELECT overrides_expired FROM loyalty.review_tiers();
SELECT m.serial, t.code AS tier, o.code AS override_tier,
	   mt.held_until = CASE m.serial WHEN 20 THEN make_date(extract(year FROM now() AT TIME ZONE 'UTC')::int + 2, 1, 1)
									 ELSE (now() AT TIME ZONE 'UTC')::date END AS held_as_an_upgrade
  FROM generate_series(20, 21) AS m(serial)
  JOIN loyalty.member_tier mt ON mt.member_id = loyalty.member_id(loyalty.card_issue('40', m.serial))
  JOIN loyalty.tier t ON t.tier_id = mt.tier_id JOIN loyalty.tier o ON o.tier_id = mt.override_tier_id
 ORDER BY 1;

DROP FUNCTION tf_ladder(text, numeric, numeric);
DROP FUNCTION tf_sale(int, text, timestamptz, numeric, bigint, text);
DROP FUNCTION tf_figures(int);
DROP FUNCTION tf_history(int);
DROP FUNCTION tf_chain(int);
