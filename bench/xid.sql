-- The fixed cost of any writing transaction: a round trip, a transaction id,
-- and a commit record flushed to the WAL (with fsync on, a disk flush) --
-- the floor under every redeem, authorize and capture.
SELECT pg_catalog.txid_current();
