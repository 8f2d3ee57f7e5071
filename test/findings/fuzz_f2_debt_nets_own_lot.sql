-- Fuzzer finding F2 (issue 12 §2; seed 5, step 1188 of 2,000): under
-- negative_balance = 'allow', a reversal (a return here; reverse() too)
-- takes from the lot of the entry it reverses only what that lot holds
-- beyond the member's debt, and books the rest as more debt.
-- README, "Concepts", Lots: "A reversal takes first from the lot of the
-- entry it reverses — even while that lot is pending ... — then like a
-- redemption", and "Negative balances": allow takes it all and "the member
-- owes the rest as debt".  Read so, a return of 50 points of a sale whose
-- (pending) lot holds 100 takes the 50 from that lot: lot 50, debt 70.
-- The extension leaves 70 in the lot and raises the debt to 90.  The net is
-- the same (-20) today, but not once the lot expires: the member then owes
-- 90 with 70 points expired (README reading: owes 70, 50 expired), 20
-- points more.  Either the lot should be taken first, or the README should
-- say that a debt is set against the reversed lot.  test/scripts/
-- fuzz_model.py follows the extension (DEBT_NETS_OWN_LOT = True) until the
-- lead decides.
-- Run: psql -X -d <scratch db> -f test/findings/fuzz_f2_debt_nets_own_lot.sql
CREATE EXTENSION IF NOT EXISTS loyalty;
INSERT INTO loyalty.program (code, negative_balance, pending_days) VALUES ('f2', 'allow', 7);
SELECT loyalty.enroll('4000000000000119', 'f2', enrolled_at => now() - interval '100 days');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S', 'f2-s1', '4000000000000119', now() - interval '1 hour', 100,
        '[{"sku":"A","qty":1,"amount":50},{"sku":"B","qty":1,"amount":50}]')
RETURNING sale_id, points_earned;                               -- 100 points, pending for 7 days
SELECT points, shortfall FROM loyalty.adjust('4000000000000119', -70, 'f2-a1', 'correction');   -- nothing available: debt 70
SELECT available, pending, debt FROM loyalty.balance('4000000000000119');                        -- -70, 100, 70
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
SELECT 'S', 'f2-r1', now() - interval '30 minutes', 50, '[{"sku":"A","qty":1,"amount":50}]', sale_id
  FROM loyalty.sale WHERE pos_txn = 'f2-s1'
RETURNING points_earned;                                        -- -50
SELECT available, pending, debt FROM loyalty.balance('4000000000000119');
-- README reading: pending 50, debt 70.  The extension: pending 70, debt 90.
SELECT kind, points, lot_ids, lot_points FROM loyalty.ledger
 WHERE member_id = loyalty.member_id('4000000000000119') ORDER BY entry_id;
--  reverse | -50 | {lot} | {30}   <- 30 from its own lot (100 - 70 of debt), 20 more debt
