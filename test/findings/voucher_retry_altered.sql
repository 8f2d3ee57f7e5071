-- Finding (review r-voucher, medium): use_voucher answers a retry of its
-- (store, pos_txn) from the first use without comparing what was asked:
-- only the code is compared (another code is LY011).  A "retry" with another
-- basket, another card, or no card at all gets the first answer:
--   * a percent voucher used on a basket of 1000 (100 off) and "retried"
--     under the same pos_txn on a basket of 10 answers 100 off -- ten times
--     the basket; the reverse answers 1 off a basket of 1000;
--   * a member-bound voucher's use is answered to a card of another member
--     and to no card, where a fresh use is LY116.
-- For sales the same (store, pos_txn) with different content is LY035
-- (README "Retries"); README "Vouchers" only says "the same request again
-- gets the first answer", so a till that reuses a pos_txn for a changed
-- basket is silently given a stale discount.  Not fixed here: voucher_use
-- stores neither the lines nor the card, so telling a retry from an altered
-- request needs a new column (e.g. the basket's sum or a hash of the lines,
-- and the card's member), set by use_voucher and compared by EarlierUse
-- (src/voucher_use.c), and an upgrade step for existing uses.
--
-- Run: psql -X -d postgres -f test/findings/voucher_retry_altered.sql on a
-- throwaway cluster with the extension installed.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS loyalty CASCADE;
CREATE EXTENSION loyalty;
INSERT INTO loyalty.program (code, point_value) VALUES ('p', 0.01);
SELECT loyalty.enroll(loyalty.card_issue('71', n), 'p') FROM generate_series(1, 2) AS n;
INSERT INTO loyalty.store (store, time_zone) VALUES ('S1', 'UTC');
INSERT INTO loyalty.voucher_type (program_id, code, kind, value) VALUES (1, 'ten-pct', 'percent', 10);
SELECT loyalty.issue_voucher('ten-pct', loyalty.card_issue('71', 1)) AS code \gset
-- the first use: 100 off a basket of 1000
SELECT discount FROM loyalty.use_voucher(:'code', loyalty.card_issue('71', 1), 'S1', 'T-1',
	'[{"sku":"TV","qty":1,"amount":1000}]');
-- the same pos_txn, a basket of 10: answered 100 off (expected: LY035, or 1 off)
SELECT discount FROM loyalty.use_voucher(:'code', loyalty.card_issue('71', 1), 'S1', 'T-1',
	'[{"sku":"PEN","qty":1,"amount":10}]');
-- another member's card, and no card: answered too (a fresh use would be LY116)
SELECT discount FROM loyalty.use_voucher(:'code', loyalty.card_issue('71', 2), 'S1', 'T-1', '[]');
SELECT discount FROM loyalty.use_voucher(:'code', NULL, 'S1', 'T-1', '[]');
-- a fresh use by the other member: LY116 (for contrast; also used up: LY116 comes first)
SELECT discount FROM loyalty.use_voucher(:'code', loyalty.card_issue('71', 2), 'S1', 'T-2', '[]');
