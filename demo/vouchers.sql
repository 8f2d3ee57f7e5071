-- A scene of the demo (included by demo.sql): vouchers (0.6.0).  The
-- program is 'baby'; an admin (the superuser here) defines a voucher type and
-- issues vouchers in bulk, the till (demo_pos) checks and uses one.

\echo
\echo '== 11b. Vouchers: 5 off a basket of 20 or more, issued to every active member in one statement'
INSERT INTO loyalty.voucher_type (program_id, code, name, kind, value, min_basket, valid_days)
SELECT program_id, 'five-off', '5 off 20', 'amount', 5, 20, 30 FROM loyalty.program WHERE code = 'baby';
CREATE TEMP TABLE demo_voucher AS
SELECT c.card, loyalty.issue_voucher('five-off', c.card) AS code
  FROM loyalty.member_card c JOIN loyalty.member m USING (member_id)
 WHERE m.program_id = (SELECT program_id FROM loyalty.program WHERE code = 'baby')
   AND m.status = 'active' AND c.replaced_at IS NULL;
GRANT SELECT ON demo_voucher TO demo_pos;
SELECT count(*) AS vouchers_issued, count(DISTINCT code) AS distinct_codes,
       bool_and(loyalty.voucher_code_is_valid(code)) AS every_check_character_right
  FROM demo_voucher;
SELECT kind, count(*) AS events FROM loyalty.outbox WHERE kind = 'voucher_issued' GROUP BY kind;
SET ROLE demo_pos;
\echo 'card 2 shows its voucher, typed with hyphens and in lower case; the till checks a basket of 12.50 first:'
SELECT lower(substr(code, 1, 4) || '-' || substr(code, 5, 4) || '-' || substr(code, 9)) AS typed
  FROM demo_voucher WHERE card = loyalty.card_issue('6001', 2) \gset
SELECT ok, discount, sqlstate, regexp_replace(reason, '"[^"]*"', '"..."') AS reason
  FROM loyalty.check_voucher(:'typed', loyalty.card_issue('6001', 2), 'S01', '[{"sku":"FORMULA-1","qty":1,"amount":12.50}]');
\echo 'one character mistyped: caught by the check character before any look-up'
SELECT ok, sqlstate, regexp_replace(reason, '"[^"]*"', '"..."') AS reason
  FROM loyalty.check_voucher(overlay(:'typed' PLACING CASE WHEN substr(:'typed', 1, 1) = 'x' THEN 'y' ELSE 'x' END FROM 1 FOR 1),
                             loyalty.card_issue('6001', 2), 'S01', '[]');
\echo 'a basket of 31.90: 5 off'
SELECT kind, discount, uses_left
  FROM loyalty.use_voucher(:'typed', loyalty.card_issue('6001', 2), 'S01', 'VOUCHER-1',
                           '[{"sku":"FORMULA-1","qty":2,"amount":31.90}]');
\echo 'the sale names the voucher; explain_sale shows it after the rules'
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, vouchers)
VALUES ('S01', 'VOUCHER-1', loyalty.card_issue('6001', 2), 26.90,
        '[{"sku":"FORMULA-1","qty":2,"amount":26.90}]', ARRAY[:'typed']);
RESET ROLE;
SELECT kind, fired, points, why FROM loyalty.explain_sale((SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'VOUCHER-1'));
SET ROLE demo_pos;
\set ON_ERROR_STOP 0
\echo 'the same voucher again at another till: used up'
SELECT * FROM loyalty.use_voucher(:'typed', loyalty.card_issue('6001', 2), 'S01', 'VOUCHER-2',
                                  '[{"sku":"FORMULA-1","qty":2,"amount":31.90}]');
\set ON_ERROR_STOP 1
RESET ROLE;
