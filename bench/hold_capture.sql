-- loyalty.capture alone, of the next hold of bench_hold_pool (the holds the
-- authorize run left, in random order): one nextval and one index look-up
-- of the pool besides the capture.
WITH n AS MATERIALIZED (SELECT pg_catalog.nextval('bench_hold_pool_seq') AS i)
SELECT c.status FROM n JOIN bench_hold_pool p ON p.i = n.i, LATERAL loyalty.capture(p.hold_id) c;
