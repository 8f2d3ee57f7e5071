-- check_invariants() covers the vouchers (review r-voucher): a voucher's
-- uses_left against its uses (each use records the uses it left), a points
-- voucher's use against its earn entry, a voucher of its member's program.
-- Before, a voucher whose uses_left did not match its uses (given a use
-- back, or spent twice) or a use crediting other points than its entry
-- went unnoticed.  The broken states are made by hand (as the superuser).
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;

INSERT INTO loyalty.program (code, point_value) VALUES ('p', 0.01), ('q', 0.01);
SELECT loyalty.enroll(loyalty.card_issue('71', 1), 'p');
SELECT loyalty.enroll(loyalty.card_issue('72', 1), 'q');
INSERT INTO loyalty.store (store, time_zone) VALUES ('S1', 'UTC');
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, max_uses) VALUES
	(1, 'five', 'amount', 5, 3), (1, 'pts', 'points', 50, 1);
CREATE TEMP TABLE v AS SELECT t.code AS name, loyalty.issue_voucher(t.code, loyalty.card_issue('71', 1)) AS code
  FROM loyalty.voucher_type t;
SELECT discount, uses_left FROM loyalty.use_voucher((SELECT code FROM v WHERE name = 'five'), loyalty.card_issue('71', 1), 'S1', 'T-1', '[]');
SELECT discount, uses_left FROM loyalty.use_voucher((SELECT code FROM v WHERE name = 'five'), loyalty.card_issue('71', 1), 'S1', 'T-2', '[]');
SELECT points, uses_left FROM loyalty.use_voucher((SELECT code FROM v WHERE name = 'pts'), loyalty.card_issue('71', 1), 'S1', 'T-3', '[]');
-- healthy
SELECT * FROM loyalty.check_invariants();

-- a use given back
BEGIN;
UPDATE loyalty.voucher SET uses_left = uses_left + 1 WHERE code = (SELECT code FROM v WHERE name = 'five');
SELECT invariant, detail FROM loyalty.check_invariants();
ROLLBACK;
-- a use recorded twice (a use row too many)
BEGIN;
INSERT INTO loyalty.voucher_use (voucher_id, member_id, card, store, pos_txn, used_at, discount, uses_left, lines_hash)
SELECT voucher_id, member_id, card, store, 'T-1b', used_at, discount, uses_left, lines_hash FROM loyalty.voucher_use WHERE pos_txn = 'T-1';
SELECT invariant, detail FROM loyalty.check_invariants();
ROLLBACK;
-- a points use that says other points than its entry credited
BEGIN;
UPDATE loyalty.voucher_use SET points = 500 WHERE pos_txn = 'T-3';
SELECT invariant, detail FROM loyalty.check_invariants();
ROLLBACK;
-- a voucher of another program than its member's
BEGIN;
UPDATE loyalty.voucher SET member_id = 2 WHERE code = (SELECT code FROM v WHERE name = 'five');
SELECT invariant, detail FROM loyalty.check_invariants();
ROLLBACK;
SELECT * FROM loyalty.check_invariants();
