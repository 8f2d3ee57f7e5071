-- (s) One POS sale through the trigger: a random member of :members, a
-- random store of 20, a fresh pos_txn, three lines of random skus (500),
-- categories (5: baby, food, organic, tobacco, home) and amounts (1.00 to
-- 60.00).  The trigger validates it, evaluates the ten rules and posts the
-- award (ledger, lot, balance, outbox, NOTIFY).  -D prefix: the card prefix,
-- 40 for program 'pos' (s, sn), 41 for the tiered program 'tpos' (st, stn),
-- where the trigger also reads the member's tier, earns at its multiplier,
-- upserts the day's tier figures and the member's tier row, and on an
-- upgrade writes a tier_change row and a tier_up outbox row.
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
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S' || :st::text, 'P-' || :k::text, loyalty.card_issue(:prefix::text, :m::bigint), :tot::numeric / 100,
        jsonb_build_array(
          jsonb_build_object('sku', 'SKU' || :s1::text, 'category', (ARRAY['baby','food','organic','tobacco','home'])[:c1::int], 'qty', 1, 'amount', :a1::numeric / 100),
          jsonb_build_object('sku', 'SKU' || :s2::text, 'category', (ARRAY['baby','food','organic','tobacco','home'])[:c2::int], 'qty', 1, 'amount', :a2::numeric / 100),
          jsonb_build_object('sku', 'SKU' || :s3::text, 'category', (ARRAY['baby','food','organic','tobacco','home'])[:c3::int], 'qty', 1, 'amount', :a3::numeric / 100)));
