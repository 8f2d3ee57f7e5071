-- issue_voucher reads a voucher type once per command (review r-voucher).
-- A bearer voucher issued without naming the program is refused (LY113)
-- when its type's code is in several programs -- also when an earlier call
-- of the same statement, with a card, cached that code's type of the card's
-- program: before, the bearer voucher was then silently of that program.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;

INSERT INTO loyalty.program (code, point_value) VALUES ('p', 0.01), ('q', 0.01);
SELECT loyalty.enroll(loyalty.card_issue('71', 1), 'p');
SELECT loyalty.enroll(loyalty.card_issue('72', 1), 'q');
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, member_bound)
VALUES (1, 'b', 'amount', 5, false), (2, 'b', 'amount', 7, false);

-- alone: LY113
SELECT loyalty.issue_voucher('b', NULL);
-- after a card's call in the same statement: LY113 still
SELECT loyalty.issue_voucher('b', loyalty.card_issue('71', 1)) IS NOT NULL AS with_card,
	   loyalty.issue_voucher('b', NULL) IS NOT NULL AS bearer;
SELECT x, loyalty.issue_voucher('b', CASE WHEN x = 1 THEN loyalty.card_issue('72', 1) END) IS NOT NULL
  FROM generate_series(1, 2) AS x;
-- named, in bulk: each of its program
SELECT loyalty.issue_voucher('b', NULL, program => 'q') IS NOT NULL, loyalty.issue_voucher('b', NULL, program => 'p') IS NOT NULL
  FROM generate_series(1, 2);
SELECT t.program_id, v.member_id, count(*) FROM loyalty.voucher v JOIN loyalty.voucher_type t USING (voucher_type_id)
 GROUP BY 1, 2 ORDER BY 1, 2;
-- a bearer voucher of a code in one program only, after a card's call: fine
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, member_bound) VALUES (2, 'only-q', 'amount', 3, false);
SELECT loyalty.issue_voucher('only-q', loyalty.card_issue('72', 1)) IS NOT NULL, loyalty.issue_voucher('only-q', NULL) IS NOT NULL;
