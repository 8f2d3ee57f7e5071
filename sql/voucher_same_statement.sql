-- A voucher used in the statement that issued it (review r-voucher).
-- use_voucher finds the voucher with a fresh snapshot (it locks the row),
-- but read its value and the basket with the statement's snapshot, which
-- does not see a voucher issued earlier in the same statement: the value
-- query returned no row and use_voucher read tt->vals[0] of an empty result
-- -- a segmentation fault, the server restarted.  A pos role got there with
-- one data-modifying WITH: a sale whose voucher rule issues a voucher, and
-- use_voucher on the code RETURNING gave it; an admin with
-- use_voucher(issue_voucher(...)).  Now the use reads all with the fresh
-- snapshot, and the voucher is used.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS loyalty CASCADE;
CREATE EXTENSION loyalty;
DROP ROLE IF EXISTS regress_vss_pos;
CREATE ROLE regress_vss_pos;
RESET client_min_messages;
SELECT loyalty.grant_access('regress_vss_pos', 'pos');

INSERT INTO loyalty.program (code, point_value) VALUES ('p', 0.01);
SELECT loyalty.enroll(loyalty.card_issue('71', n), 'p') FROM generate_series(1, 3) AS n;
INSERT INTO loyalty.store (store, time_zone) VALUES ('S1', 'UTC');
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, max_uses) VALUES
	(1, 'pts', 'points', 50, 1), (1, 'five', 'amount', 5, 1);
INSERT INTO loyalty.rule (program_id, code, kind, voucher_type, skus) VALUES (1, 'coffee', 'voucher', 'five', '{BEANS}');

-- admin: issued and used in one statement
SELECT u.kind, u.points, u.uses_left
  FROM loyalty.use_voucher(loyalty.issue_voucher('pts', loyalty.card_issue('71', 1)), loyalty.card_issue('71', 1),
						   'S1', 'U1', '[]') u;
SELECT x.n, (loyalty.use_voucher(loyalty.issue_voucher('five', loyalty.card_issue('71', x.n)), loyalty.card_issue('71', x.n),
								 'S1', 'U-bulk-' || x.n, '[{"sku":"A","qty":1,"amount":3}]')).discount
  FROM generate_series(2, 3) AS x(n);
-- check_voucher in the same statement does not see it yet (LY112), without harm
SELECT c.ok, c.sqlstate
  FROM loyalty.check_voucher(loyalty.issue_voucher('five', loyalty.card_issue('71', 1)), loyalty.card_issue('71', 1), 'S1', '[]') c;

-- pos: a sale whose rule issues a voucher, and its use, in one statement
SET ROLE regress_vss_pos;
WITH s AS (INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
		   VALUES ('S1', 'T1', loyalty.card_issue('71', 2), 25, '[{"sku":"BEANS","qty":1,"amount":25}]')
		   RETURNING vouchers_issued)
SELECT u.kind, u.discount, u.uses_left
  FROM s, loyalty.use_voucher(s.vouchers_issued[1], loyalty.card_issue('71', 2), 'S1', 'U2',
							  '[{"sku":"A","qty":1,"amount":30}]') u;
RESET ROLE;

SELECT v.member_id, t.code, v.uses_left, (SELECT count(*) FROM loyalty.voucher_use x WHERE x.voucher_id = v.voucher_id) AS uses
  FROM loyalty.voucher v JOIN loyalty.voucher_type t USING (voucher_type_id) ORDER BY v.voucher_id;
SELECT available FROM loyalty.balance(loyalty.card_issue('71', 1));
SELECT * FROM loyalty.check_invariants();

DROP OWNED BY regress_vss_pos;
DROP ROLE regress_vss_pos;
