-- (bt) The writes of a sale in the tiered program, with constant points and
-- no logic: what pos_cte.sql (b) writes, for a member of 'tpos' (member_id
-- = :moff + :m, card prefix :prefix = 41), plus the two rows every tiered
-- sale writes: the upsert of the member's day in bench_tier_day and the
-- upsert of the member's row in bench_member_tier (copies of loyalty.tier_day
-- and loyalty.member_tier with their indexes and foreign keys, seeded with
-- the same state).  Not in it: the member_tier read and the window's drop
-- (reads, logic), and what an upgrade adds (a tier_change row and a tier_up
-- outbox row, a few percent of the sales).  -D notify=1 (btn): with the
-- NOTIFY, as pos_cte.sql.
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
\set mid :moff + :m
WITH s AS (
  INSERT INTO bench_sale (store, pos_txn, card, total, lines, member_id, points_earned, entry_id)
  VALUES ('S' || :st::text, 'P-' || :k::text, loyalty.card_issue(:prefix::text, :m::bigint), :tot::numeric / 100,
          jsonb_build_array(
            jsonb_build_object('sku', 'SKU' || :s1::text, 'category', (ARRAY['baby','food','organic','tobacco','home'])[:c1::int], 'qty', 1, 'amount', :a1::numeric / 100),
            jsonb_build_object('sku', 'SKU' || :s2::text, 'category', (ARRAY['baby','food','organic','tobacco','home'])[:c2::int], 'qty', 1, 'amount', :a2::numeric / 100),
            jsonb_build_object('sku', 'SKU' || :s3::text, 'category', (ARRAY['baby','food','organic','tobacco','home'])[:c3::int], 'qty', 1, 'amount', :a3::numeric / 100)),
          :mid::bigint, 100, :k::bigint)
  RETURNING sale_id),
l AS (
  INSERT INTO bench_ledger (member_id, kind, points, effective_at, source, store, pos_txn, sale_id, rule_points, lot_ids, lot_points)
  SELECT :mid::bigint, 'earn', 100, now(), 'sale', 'S' || :st::text, 'P-' || :k::text, s.sale_id, '{"base": 80, "4": 10, "10": 5, "9": 5}', '{}', '{}'
    FROM s
  RETURNING entry_id),
t AS (
  INSERT INTO bench_lot (member_id, lot_id, points, remaining, earned_at, available_from)
  SELECT :mid::bigint, l.entry_id, 100, 100, now(), now() FROM l),
b AS (
  UPDATE bench_balance SET net = net + 100, lifetime_earned = lifetime_earned + 100,
         sales = sales + 1, last_entry_id = (SELECT entry_id FROM l), updated_at = now()
   WHERE member_id = :mid::bigint),
r AS (
  UPDATE bench_rule_spend SET points = points + 5, uses = uses + 1
   WHERE slot = :mid % 8),
o AS (
  INSERT INTO bench_outbox (member_id, kind, payload)
  SELECT :mid::bigint, 'award', jsonb_build_object('event', 'award', 'member_id', :mid::bigint, 'sale_id', s.sale_id,
         'entry_id', (SELECT entry_id FROM l), 'points', 100, 'store', 'S' || :st::text, 'pos_txn', 'P-' || :k::text)
    FROM s),
d AS (
  INSERT INTO bench_tier_day AS x (member_id, day, spend, points)
  VALUES (:mid::bigint, (now() AT TIME ZONE 'Europe/Paris')::date, :tot::numeric / 100, 100)
  ON CONFLICT (member_id, day) DO UPDATE SET spend = x.spend + excluded.spend, points = x.points + excluded.points
  RETURNING spend),
mt AS (
  INSERT INTO bench_member_tier AS x (member_id, tier_id, since, held_until, window_start, last_day, spend, visits, points)
  VALUES (:mid::bigint, (SELECT tier_id FROM loyalty.tier WHERE rank = 0 LIMIT 1), now(),
          (now() AT TIME ZONE 'Europe/Paris')::date, (now() AT TIME ZONE 'Europe/Paris')::date - 365,
          (now() AT TIME ZONE 'Europe/Paris')::date, :tot::numeric / 100, 1, 100)
  ON CONFLICT (member_id) DO UPDATE SET spend = x.spend + excluded.spend, visits = x.visits + 1,
         points = x.points + excluded.points, last_day = excluded.last_day,
         held_until = GREATEST(x.held_until, excluded.held_until))
SELECT CASE WHEN :notify = 1 THEN
  pg_notify('loyalty_events', '') END;
