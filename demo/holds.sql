-- A scene of the demo (included by demo.sql): tender holds (0.6.0).  A till
-- pays with points in two steps: it authorizes a hold when the cashier
-- presses "pay with points" and captures it when the basket is paid (here
-- for less than held: an item was taken off); another basket is abandoned
-- and its hold voided.  Program 'baby' (point value 0.01 EUR).

\echo
\echo '== 17. Tender holds: a till pays with points (authorize, capture less), a basket is abandoned (void)'
SET ROLE demo_pos;
SELECT loyalty.enroll(loyalty.card_issue('6001', 8001), 'baby') IS NOT NULL AS enrolled;
RESET ROLE;
-- (a goodwill credit by the admin, redeemable at once, so the scene starts from a known balance)
SELECT points FROM loyalty.earn(loyalty.card_issue('6001', 8001), 5000, 'demo-holds-credit', 'goodwill',
                                pending_until => now());   -- not pending: redeemable at once
SET ROLE demo_pos;
SELECT available, held FROM loyalty.balance(loyalty.card_issue('6001', 8001));
-- "pay with points": 3000 points held; they leave available at once.  The
-- hold_id is a random number: the till keeps it, it is what captures or voids
-- the hold
SELECT hold_id AS demo_hold, points, value, currency, status, expires_at - authorized_at AS lasts
  FROM loyalty.authorize(loyalty.card_issue('6001', 8001), 3000, 'S01', 'T-H1') \gset
SELECT :demo_hold AS hold_id, :'points' AS points, :'value' AS value, :'status' AS status, :'lasts' AS lasts;
SELECT available, held FROM loyalty.balance(loyalty.card_issue('6001', 8001));
-- the basket is paid, one item less: 2400 spent, 600 back
SELECT status, captured, captured_value FROM loyalty.capture(:demo_hold, 2400);
-- the till did not hear back and sends the capture again: same answer, nothing posted twice
SELECT status, captured, captured_value FROM loyalty.capture(:demo_hold, 2400);
SELECT available, held, lifetime_redeemed FROM loyalty.balance(loyalty.card_issue('6001', 8001));
-- another basket: 1000 held, then the customer walks away
SELECT hold_id AS demo_hold2 FROM loyalty.authorize(loyalty.card_issue('6001', 8001), 1000, 'S01', 'T-H2') \gset
SELECT available, held FROM loyalty.balance(loyalty.card_issue('6001', 8001));
SELECT status FROM loyalty.void(:demo_hold2);
SELECT available, held FROM loyalty.balance(loyalty.card_issue('6001', 8001));
-- and a capture of the voided hold is refused with its own SQLSTATE
\set VERBOSITY default
\set ON_ERROR_STOP 0
SELECT loyalty.capture(:demo_hold2);
\set ON_ERROR_STOP 1
RESET ROLE;
SELECT kind, points, source, store || '/' || pos_txn AS till FROM loyalty.ledger
 WHERE member_id = loyalty.member_id(loyalty.card_issue('6001', 8001)) ORDER BY entry_id;
SELECT count(*) AS invariant_violations FROM loyalty.check_invariants();
