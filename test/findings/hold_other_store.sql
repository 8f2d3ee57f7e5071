-- FINDING (low/medium, not fixed): capture and void take only a hold_id, a
-- small sequential number, and check neither the store nor the card.  Any
-- pos credential can void every open hold of every store (an abandoned
-- basket for a customer still at another till) or capture it, and read any
-- hold (member_id, points, store, pos_txn) by void()ing ids that are closed
-- already -- without the card number, which README ("Security": pos "reads
-- the balance of any card whose number it is given") treats as the
-- capability.  A fix changes the API (capture/void naming the store, or the
-- (store, pos_txn) instead of hold_id), so it is left for a decision.
-- Run: psql -X -d postgres -f test/findings/hold_other_store.sql (throwaway cluster, as superuser)
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS loyalty;
RESET client_min_messages;
CREATE ROLE till2 LOGIN;
SELECT loyalty.grant_access('till2', 'pos');
INSERT INTO loyalty.program (code) VALUES ('hos');
SELECT loyalty.enroll('4000000000000093', 'hos');
SELECT entry_id FROM loyalty.earn('4000000000000093', 100, 'hos-1', 'x');
-- store S01's till holds 60 points for its customer
SELECT hold_id FROM loyalty.authorize('4000000000000093', 60, 'S01', 'HOS-1');
SELECT hold_id FROM loyalty.authorize('4000000000000093', 10, 'S01', 'HOS-2');
SELECT status FROM loyalty.void((SELECT hold_id FROM loyalty.hold WHERE pos_txn = 'HOS-2'));
-- another store's pos, knowing no card, walks the hold ids
SET ROLE till2;
SELECT hold_id, member_id, store, pos_txn, points, status FROM loyalty.void(1);   -- S01's open hold: voided
SELECT hold_id, member_id, store, pos_txn, points, status FROM loyalty.void(2);   -- a closed one: read
RESET ROLE;
