-- Back-fill (bench/pos.sh): :count historical sales in ONE statement,
-- INSERT ... SELECT from generate_series, occurred_at spread over the past
-- year, random members of :members, three lines of random skus, categories
-- and amounts (setseed: the same rows in both runs).  With -v trigger=true
-- into loyalty.sale, through the trigger; with trigger=false into
-- bench_backfill (loyalty.sale's shape and indexes, no trigger), member_id
-- filled in as the trigger would.  Prints the statement's time (commit
-- included); bench/pos.sh samples the backend's memory meanwhile.
-- -v target: the table with the trigger (loyalty.sale; plt_sale for the
-- PL/pgSQL alternative, bench/plpgsql_alt.sh).
-- -v prefix (card prefix), moff (member id offset), txn (pos_txn prefix):
-- 40, 0, H- for program 'pos'; 41, members, HT- for the tiered 'tpos'.
\o :pidfile
SELECT pg_backend_pid();
\o
SELECT setseed(0.42) \gset
SELECT clock_timestamp() AS t0 \gset
\if :trigger
INSERT INTO :target (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S' || (1 + g % 20), :'txn' || g, loyalty.card_issue(:'prefix', r.m), r.ts, x.total, x.lines
\else
INSERT INTO bench_backfill (store, pos_txn, card, occurred_at, total, lines, member_id)
SELECT 'S' || (1 + g % 20), :'txn' || g, loyalty.card_issue(:'prefix', r.m), r.ts, x.total, x.lines, :moff + r.m
\endif
  FROM generate_series(1, :count) g
  CROSS JOIN LATERAL (
    SELECT 1 + floor(random() * :members)::integer AS m,
           now() - interval '10 minutes' - random() * interval '365 days' AS ts
     WHERE g > 0) r
  CROSS JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object('sku', 'SKU' || (1 + floor(random() * 500)::integer),
                     'category', (ARRAY['baby','food','organic','tobacco','home'])[1 + floor(random() * 5)::integer],
                     'qty', 1, 'amount', a) ORDER BY k) AS lines,
           sum(a) AS total
      FROM (SELECT k, (100 + floor(random() * 5901)) / 100.0 AS a
              FROM generate_series(1, 3) k WHERE g > 0) y) x;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 2) AS seconds;
