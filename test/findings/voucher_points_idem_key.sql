-- FINDING (low, not fixed): a points voucher's credit is an earn entry with
-- idem_key 'voucher:<store>:<pos_txn>', in the same per-member key space as
-- earn()/adjust() keys, which callers choose freely.
--  * earn() with such a key after the use is answered as a retry of the
--    voucher's entry (same kind, points and reason): nothing is credited and
--    the caller is told it was;
--  * earn() with such a key before the use makes the use fail with a raw
--    23505 (ledger_idem_key_idx), not an LY code.
-- A fix: a key no caller can write (e.g. NULL idem_key, the use keyed by
-- voucher_use's own (store, pos_txn)), or a prefix earn() refuses.
-- Run: psql -X -d postgres -f test/findings/voucher_points_idem_key.sql (throwaway cluster)
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS loyalty;
RESET client_min_messages;
INSERT INTO loyalty.program (code) VALUES ('vik');
SELECT loyalty.enroll('4000000000000085', 'vik');
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, max_uses, member_bound)
SELECT program_id, 'vik-pts', 'points', 50, 3, false FROM loyalty.program WHERE code = 'vik';
SELECT loyalty.issue_voucher('vik-pts', NULL, program => 'vik') AS code \gset
SELECT points FROM loyalty.use_voucher(:'code', '4000000000000085', 'VS', 'V1', '[]');
-- a goodwill earn that happens to use that key: "posted", nothing credited (net stays 50)
SELECT entry_id, points FROM loyalty.earn('4000000000000085', 50, 'voucher:VS:V1', 'voucher of type vik-pts');
SELECT net FROM loyalty.member_balance WHERE member_id = loyalty.member_id('4000000000000085');
-- the other order: the use fails with 23505
SELECT entry_id FROM loyalty.earn('4000000000000085', 7, 'voucher:VS:V2', 'goodwill');
SELECT points FROM loyalty.use_voucher(:'code', '4000000000000085', 'VS', 'V2', '[]');
