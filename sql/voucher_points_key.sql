-- A points voucher's earn entry has no idempotency key: the use's own
-- (store, pos_txn) in voucher_use makes it once.  So no key an earn()
-- caller chooses can collide with it: an earn() whose key looks like a
-- voucher's is credited, and a use after such an earn succeeds.
\set VERBOSITY terse
INSERT INTO loyalty.program (code) VALUES ('vik');
SELECT loyalty.enroll('4000000000000085', 'vik') IS NOT NULL AS enrolled;
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, max_uses, member_bound)
SELECT program_id, 'vik-pts', 'points', 50, 3, false FROM loyalty.program WHERE code = 'vik';
SELECT loyalty.issue_voucher('vik-pts', NULL, program => 'vik') AS code \gset
-- the use credits 50: net 50
SELECT points FROM loyalty.use_voucher(:'code', '4000000000000085', 'VS', 'V1', '[]');
-- an earn of 50 under a key of the form voucher:<store>:<pos_txn> is a new credit: net 100
SELECT points FROM loyalty.earn('4000000000000085', 50, 'voucher:VS:V1', 'goodwill');
SELECT net FROM loyalty.member_balance WHERE member_id = loyalty.member_id('4000000000000085');
-- the other order: earn 7 first, then a use under V2: both credited, net 157
SELECT points FROM loyalty.earn('4000000000000085', 7, 'voucher:VS:V2', 'goodwill');
SELECT points FROM loyalty.use_voucher(:'code', '4000000000000085', 'VS', 'V2', '[]');
-- a retried use posts nothing more: net stays 157, one earn entry per use
SELECT points FROM loyalty.use_voucher(:'code', '4000000000000085', 'VS', 'V2', '[]');
SELECT net FROM loyalty.member_balance WHERE member_id = loyalty.member_id('4000000000000085');
SELECT count(*) AS voucher_entries FROM loyalty.ledger
 WHERE member_id = loyalty.member_id('4000000000000085') AND source = 'voucher';
SELECT count(*) AS broken FROM loyalty.check_invariants();
