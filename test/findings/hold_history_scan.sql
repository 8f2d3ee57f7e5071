-- Finding (low, cost): with no index on hold.status, every debit, authorize
-- or capture of a member with an open hold reads all of the member's holds
-- ever made (closed ones included) through hold_pkey, up to three times
-- (LoyaltyReleaseLapsedHolds' lapsed_holds_plan; open_and_held_lots_plan
-- and LoyaltyTakeFromHolds' open_holds_plan for a debit that cannot be
-- refused).
--
-- Expected (README "Tender holds"; hold.sql comment): "a member's open holds
--   are found through the primary key, and only while member_balance.held
--   says there are some" -- cheap while a member has few holds.
-- Observed (2 shared cores, PG 15): one member, 20,000 voided holds:
--   200 redeems without an open hold 186-432 ms (0.9-2.2 ms each); with
--   one open hold 1,374-1,503 ms (6.9-7.5 ms each); 200 adjust(-1) with the
--   open hold 2,233-2,280 ms (11 ms each) (two runs).  The cost grows with the member's hold history, forever
--   (holds are never deleted), for a till customer who pays with points
--   often (a corporate or family card).
-- Severity: low (cost, not correctness); a partial index on (member_id)
--   WHERE status = 'open' would be one extra index entry per authorize and
--   none on close (the close's update of status would no longer be HOT,
--   which is the trade-off h-hbench chose against).
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
INSERT INTO loyalty.program (code) VALUES ('tr');
SELECT count(loyalty.enroll(loyalty.card_issue('42', 1), 'tr'));
SELECT count(*) FROM loyalty.earn(loyalty.card_issue('42', 1), 100000000, 'x');
DO $$ BEGIN FOR i IN 1..20000 LOOP
	PERFORM loyalty.void((loyalty.authorize(loyalty.card_issue('42', 1), 1, 'S', 'm' || i)).hold_id);
END LOOP; END $$;
\timing on
DO $$ BEGIN FOR i IN 1..200 LOOP PERFORM loyalty.redeem(loyalty.card_issue('42', 1), 1, 'S', 'r' || i); END LOOP; END $$;
SELECT count(*) FROM loyalty.authorize(loyalty.card_issue('42', 1), 5, 'S', 'open1');
DO $$ BEGIN FOR i IN 1..200 LOOP PERFORM loyalty.redeem(loyalty.card_issue('42', 1), 1, 'S', 'q' || i); END LOOP; END $$;
DO $$ BEGIN FOR i IN 1..200 LOOP PERFORM loyalty.adjust(loyalty.card_issue('42', 1), -1, 'a' || i, 'x'); END LOOP; END $$;
\timing off
SELECT * FROM loyalty.check_invariants();
