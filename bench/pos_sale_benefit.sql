-- One tiered sale (as pos_sale.sql with -D prefix=41) and, in the same
-- transaction, the member's use of the 'coffee' benefit at the same till
-- (pos_benefit_setup.sql): a benefit_use row.  bench/pos.sh runs it for N%
-- of the stb transactions (pgbench -f pos_sale.sql@(100-N) -f
-- pos_sale_benefit.sql@N), BENCH_BENEFIT=N.
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
BEGIN;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S' || :st::text, 'P-' || :k::text, loyalty.card_issue(:prefix::text, :m::bigint), :tot::numeric / 100,
        jsonb_build_array(
          jsonb_build_object('sku', 'SKU' || :s1::text, 'category', (ARRAY['baby','food','organic','tobacco','home'])[:c1::int], 'qty', 1, 'amount', :a1::numeric / 100),
          jsonb_build_object('sku', 'SKU' || :s2::text, 'category', (ARRAY['baby','food','organic','tobacco','home'])[:c2::int], 'qty', 1, 'amount', :a2::numeric / 100),
          jsonb_build_object('sku', 'SKU' || :s3::text, 'category', (ARRAY['baby','food','organic','tobacco','home'])[:c3::int], 'qty', 1, 'amount', :a3::numeric / 100)));
SELECT loyalty.use_benefit(loyalty.card_issue(:prefix::text, :m::bigint), 'coffee', 'S' || :st::text, 'P-' || :k::text);
COMMIT;
