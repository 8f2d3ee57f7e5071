-- Baseline: the row an earn writes, inserted by hand into bench_ledger (the
-- columns, constraints, indexes and member foreign key of loyalty.ledger, no
-- trigger), one row per transaction.  No card lookup, no lock, no lot, no
-- balance update: the floor any posting pays (a WAL-flushed commit of one
-- ledger row with its five indexes).
\set m random(1, :members)
\set k random(1, 1000000000000)
INSERT INTO bench_ledger (member_id, kind, points, effective_at, source, idem_key, lot_ids, lot_points)
VALUES (:m, 'earn', 10, now(), 'api', 'b-' || :m || '-' || :client_id || '-' || :k,
        ARRAY[:k]::bigint[], ARRAY[10]::bigint[]);
