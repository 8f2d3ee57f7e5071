-- Finding (cosmetic): a capture that takes more than its hold still keeps
-- (hold.taken > 0) records one lot twice in its redeem entry's lot_ids:
-- once for the hold's own points in that lot and once for what it takes
-- from the lot now (LoyaltyPostCapture appends take.all to the hold's lots
-- without merging).
-- Expected: each lot once in ledger.lot_ids (every other debit's entry lists
--   a lot once; LotMovesAdd never merges, SelectLots never repeats a lot).
-- Observed: lots A (100), B (100); hold 150 takes A:100, B:50; reverse 50
--   of A's earn (from the hold); capture 150: the redeem entry's lots are
--   {A,B,B} / {50,50,50}.  Sums are right; check_invariants() is clean
--   (it sums per lot).  A report or a consumer keying by lot sees two rows.
-- Severity: cosmetic.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
INSERT INTO loyalty.program (code) VALUES ('tr');
SELECT count(loyalty.enroll(loyalty.card_issue('42', 1), 'tr'));
SELECT entry_id AS a FROM loyalty.earn(loyalty.card_issue('42', 1), 100, 'a') \gset
SELECT entry_id AS b FROM loyalty.earn(loyalty.card_issue('42', 1), 100, 'b') \gset
SELECT hold_id AS h FROM loyalty.authorize(loyalty.card_issue('42', 1), 150, 'S', 'H') \gset
SELECT points FROM loyalty.reverse(loyalty.card_issue('42', 1), :a, 50, 'ra');
SELECT taken, lot_ids, lot_points FROM loyalty.hold WHERE hold_id = :h;     -- 50, {a,b}, {50,50}
SELECT status, captured FROM loyalty.capture(:h);
SELECT lot_ids, lot_points FROM loyalty.ledger WHERE entry_id = (SELECT redemption_id FROM loyalty.hold WHERE hold_id = :h);
SELECT * FROM loyalty.check_invariants();
