-- (b) One plain statement making the writes the design makes per sale, with
-- constant points and no logic: the sale row (as in (a)), an earn ledger row
-- with its rule_points, its lot, the member's balance row update, the
-- budgeted rule's slot update (the 'launch' rule fires on nearly every sale)
-- and an outbox row -- into the trigger-less copies bench_sale, bench_ledger,
-- bench_lot, bench_balance, bench_rule_spend (the slots of 'pos''s budgeted
-- rule only), bench_outbox (same indexes,
-- CHECKs and member foreign keys as the originals).  No card lookup, no rule.  With -D
-- notify=1 (bn) it also sends the NOTIFY (no payload) the trigger sends with every award,
-- in the same transaction: not part of the issue's comparison, it shows what
-- the NOTIFY alone costs under durable commits.
\set m random(1, :members)
\set st random(1, 20)
\set k random(1, 9000000000000000000)
\set s1 random(1, 500)
\set s2 random(1, 500)
\set s3 random(1, 500)
\set c1 random(1, 5)
\set c2 random(1, 5)
\set c3 random(1, 5)
\set a1 random(100, 6000)
\set a2 random(100, 6000)
\set a3 random(100, 6000)
\set tot :a1 + :a2 + :a3
WITH s AS (
  INSERT INTO bench_sale (store, pos_txn, card, total, lines, member_id, points_earned, entry_id)
  VALUES ('S' || :st::text, 'P-' || :k::text, loyalty.card_issue(:prefix::text, :m::bigint), :tot::numeric / 100,
          jsonb_build_array(
            jsonb_build_object('sku', 'SKU' || :s1::text, 'category', (ARRAY['baby','food','organic','tobacco','home'])[:c1::int], 'qty', 1, 'amount', :a1::numeric / 100),
            jsonb_build_object('sku', 'SKU' || :s2::text, 'category', (ARRAY['baby','food','organic','tobacco','home'])[:c2::int], 'qty', 1, 'amount', :a2::numeric / 100),
            jsonb_build_object('sku', 'SKU' || :s3::text, 'category', (ARRAY['baby','food','organic','tobacco','home'])[:c3::int], 'qty', 1, 'amount', :a3::numeric / 100)),
          :m::bigint, 100, :k::bigint)
  RETURNING sale_id),
l AS (
  INSERT INTO bench_ledger (member_id, kind, points, effective_at, source, store, pos_txn, sale_id, rule_points, lot_ids, lot_points)
  SELECT :m::bigint, 'earn', 100, now(), 'sale', 'S' || :st::text, 'P-' || :k::text, s.sale_id, '{"base": 80, "4": 10, "10": 5, "9": 5}', '{}', '{}'
    FROM s
  RETURNING entry_id),
t AS (
  INSERT INTO bench_lot (member_id, lot_id, points, remaining, earned_at, available_from)
  SELECT :m::bigint, l.entry_id, 100, 100, now(), now() FROM l),
b AS (
  UPDATE bench_balance SET net = net + 100, lifetime_earned = lifetime_earned + 100,
         sales = sales + 1, last_entry_id = (SELECT entry_id FROM l), updated_at = now()
   WHERE member_id = :m::bigint),
r AS (
  UPDATE bench_rule_spend SET points = points + 5, uses = uses + 1
   WHERE slot = :m % 8),
o AS (
  INSERT INTO bench_outbox (member_id, kind, payload)
  SELECT :m::bigint, 'award', jsonb_build_object('event', 'award', 'member_id', :m::bigint, 'sale_id', s.sale_id,
         'entry_id', (SELECT entry_id FROM l), 'points', 100, 'store', 'S' || :st::text, 'pos_txn', 'P-' || :k::text)
    FROM s)
SELECT CASE WHEN :notify = 1 THEN
  pg_notify('loyalty_events', '') END;
