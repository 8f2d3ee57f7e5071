-- A scene of the demo (included by demo.sql): the Christmas tree (0.6.0).
-- Program 'baby' as the earlier parts left it; times in its zone, Berlin.

\echo
\echo '== 11c. The Christmas tree: buy a tree in December, bring it back in January, get a voucher for what it cost, usable from February'
-- the last December with a January after it that is past
SELECT extract(year FROM now() - interval '2 months')::int - 1 AS y \gset
INSERT INTO loyalty.voucher_type (program_id, code, name, kind, value, valid_from, valid_days)
SELECT program_id, 'tree-back', 'Your Christmas tree back', 'amount', 1,
	   make_timestamptz(:y + 1, 2, 1, 0, 0, 0, 'Europe/Berlin'), 60
  FROM loyalty.program WHERE code = 'baby';
INSERT INTO loyalty.rule (program_id, code, kind, voucher_type, on_return, skus, valid_from, valid_to, sold_from, sold_to, description)
SELECT program_id, 'tree-back', 'voucher', 'tree-back', true, '{TREE}',
	   make_timestamptz(:y + 1, 1, 1, 0, 0, 0, 'Europe/Berlin'), make_timestamptz(:y + 1, 2, 1, 0, 0, 0, 'Europe/Berlin'),
	   make_timestamptz(:y, 12, 1, 0, 0, 0, 'Europe/Berlin'), make_timestamptz(:y + 1, 1, 1, 0, 0, 0, 'Europe/Berlin'),
	   'a tree of December returned in January: a voucher of what it cost'
  FROM loyalty.program WHERE code = 'baby';
SELECT code, kind, voucher_type, on_return, valid_from, valid_to, sold_from, sold_to FROM loyalty.rule WHERE code = 'tree-back';
-- two families who joined in November; an admin back-fills their December and January visits
SELECT loyalty.enroll(loyalty.card_issue('6001', 7000 + n), 'baby', enrolled_at => make_timestamptz(:y, 11, 1, 0, 0, 0, 'Europe/Berlin'))
  FROM generate_series(1, 2) n \g /dev/null
\echo 'in December family 1 buys a tree (49.00) and a stand (20.00), family 2 a tree (39.00): no voucher yet'
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES
  ('S01', 'XT-1', loyalty.card_issue('6001', 7001), make_timestamptz(:y, 12, 10, 15, 0, 0, 'Europe/Berlin'), 69,
   '[{"sku":"TREE","category":"season","qty":1,"amount":49},{"sku":"STAND","category":"season","qty":1,"amount":20}]'),
  ('S01', 'XT-2', loyalty.card_issue('6001', 7002), make_timestamptz(:y, 12, 12, 11, 0, 0, 'Europe/Berlin'), 39,
   '[{"sku":"TREE","category":"season","qty":1,"amount":39}]')
RETURNING pos_txn, points_earned, vouchers_issued;
\echo 'on 8 January family 1 brings the tree back: the 49 points go, a voucher worth 49.00 comes, its code on the receipt'
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
SELECT 'S01', 'XT-1-R', make_timestamptz(:y + 1, 1, 8, 10, 0, 0, 'Europe/Berlin'), 49, '[{"sku":"TREE","qty":1,"amount":49}]', sale_id
  FROM loyalty.sale WHERE pos_txn = 'XT-1'
ON CONFLICT (store, pos_txn) DO NOTHING
RETURNING pos_txn, points_earned, vouchers_issued;
SELECT vouchers_issued[1] AS tree_code FROM loyalty.sale WHERE pos_txn = 'XT-1-R' \gset
\echo 'the till retries the return: no row, no second voucher'
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
SELECT 'S01', 'XT-1-R', make_timestamptz(:y + 1, 1, 8, 10, 0, 0, 'Europe/Berlin'), 49, '[{"sku":"TREE","qty":1,"amount":49}]', sale_id
  FROM loyalty.sale WHERE pos_txn = 'XT-1'
ON CONFLICT (store, pos_txn) DO NOTHING
RETURNING pos_txn, points_earned, vouchers_issued;
\echo 'family 2 brings its tree back on 3 February: too late, nothing issued'
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
SELECT 'S01', 'XT-2-R', make_timestamptz(:y + 1, 2, 3, 10, 0, 0, 'Europe/Berlin'), 39, '[{"sku":"TREE","qty":1,"amount":39}]', sale_id
  FROM loyalty.sale WHERE pos_txn = 'XT-2'
RETURNING pos_txn, points_earned, vouchers_issued;
\echo 'why, return by return (explain_sale):'
SELECT s.pos_txn, e.code, e.fired, e.why
  FROM loyalty.sale s, loyalty.explain_sale(s.sale_id) e
 WHERE s.pos_txn IN ('XT-1-R', 'XT-2-R') AND e.kind = 'voucher' ORDER BY s.sale_id;
\echo 'the voucher: worth 49.00, from February (or from today, if later) for 60 days, once'
SELECT t.code AS voucher_type, v.value, v.valid_from >= make_timestamptz(:y + 1, 2, 1, 0, 0, 0, 'Europe/Berlin') AS from_february,
	   v.valid_to - v.valid_from AS valid_for, v.uses_left
  FROM loyalty.voucher v JOIN loyalty.voucher_type t USING (voucher_type_id) WHERE v.code = :'tree_code';
\echo 'family 1 spends it at the till on a basket of 60.00:'
SET ROLE demo_pos;
SELECT kind, discount, uses_left
  FROM loyalty.use_voucher(:'tree_code', loyalty.card_issue('6001', 7001), 'S01', 'XT-U1', '[{"sku":"B1","category":"stroller","qty":1,"amount":60}]');
RESET ROLE;
