-- FINDING (money, not fixed): a hold shields points from a return's reversal
-- under negative_balance 'truncate' (the default), and the void gives them back.
--
-- Held points are out of their lots, so a reversal (a return of the sale, or a
-- negative adjust) cannot take them (README "Tender holds": "no other
-- redemption, reversal or adjustment ... can take them").  Under 'truncate' the
-- reversal then posts 0 points and records a shortfall of all of them; a
-- void puts the points back in their lots and the member keeps the points of
-- the returned goods.  Without holds the only way to shield points from a
-- return was to spend them (they bought something); with a hold nothing is
-- spent.  A till can do it by accident (authorize, then the customer turns
-- the basket into a return) or on purpose.  check_invariants() sees nothing:
-- every figure is consistent, the loss is a policy hole, not a broken sum.
-- Under 'allow' the same sequence leaves a debt and is sound.
--
-- A fix is a design choice (e.g. a reversal/negative adjust takes from the
-- member's open holds' lots after the free ones, voiding or shrinking them, or
-- a truncated shortfall re-applied when the hold is released), not a one-liner.
--
-- Run: psql -X -d postgres -f test/findings/hold_shields_return.sql (throwaway cluster)
-- Expected (the bug): available 100 after the return; reverse entry 0 points, shortfall 100.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS loyalty;
RESET client_min_messages;
INSERT INTO loyalty.program (code) VALUES ('hsr');          -- negative_balance 'truncate'
SELECT loyalty.enroll('4000000000000051', 'hsr');
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'HSR-1', '4000000000000051', 100, '[{"sku":"A1","category":"x","qty":1,"amount":100}]')
RETURNING sale_id AS s1, points_earned \gset
SELECT hold_id AS h1 FROM loyalty.authorize('4000000000000051', 100, 'S01', 'HSR-H1') \gset
-- the whole sale is returned: its 100 points should go
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of)
VALUES ('S01', 'HSR-2', '4000000000000051', 100, '[{"sku":"A1","category":"x","qty":1,"amount":100}]', :s1);
SELECT status FROM loyalty.void(:h1);
SELECT available, held, reversed FROM loyalty.balance('4000000000000051');   -- 100, 0, 0: kept
SELECT kind, points, shortfall FROM loyalty.ledger
 WHERE member_id = loyalty.member_id('4000000000000051') ORDER BY entry_id;   -- earn 100; reverse 0 / shortfall 100
SELECT count(*) AS broken FROM loyalty.check_invariants();                   -- 0: nothing flags it
