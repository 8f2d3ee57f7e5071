-- Vouchers: the basket a voucher is used on is checked as a sale's lines
-- are (review r-voucher).  Before, check_voucher and use_voucher summed
-- whatever the jsonb held: a string "NaN" or "Infinity" amount gave a NaN or
-- infinite discount, stored in voucher_use; a negative amount a negative
-- discount that check_voucher called ok and use_voucher refused with a bare
-- 23514; a fractional qty an item discount far above the basket (a line
-- of 0.001 units costing 2 took 2000 off).  An item voucher now takes off at
-- most its line's amount.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	EXECUTE statement INTO r;
	RETURN r::text;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;

INSERT INTO loyalty.program (code, point_value) VALUES ('p', 0.01);
SELECT loyalty.enroll(loyalty.card_issue('71', 1), 'p');
INSERT INTO loyalty.store (store, time_zone) VALUES ('S1', 'UTC');
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, sku, max_uses) VALUES
	(1, 'amt', 'amount', 5, NULL, 100), (1, 'pct', 'percent', 10, NULL, 100), (1, 'itm', 'item', NULL, 'X', 100);
CREATE TEMP TABLE v AS SELECT t.code AS name, loyalty.issue_voucher(t.code, loyalty.card_issue('71', 1)) AS code
  FROM loyalty.voucher_type t;

-- refused, by check_voucher (an error of the arguments) and use_voucher alike
SELECT x.name, x.lines,
	   pg_temp.outcome(format('SELECT ok, discount FROM loyalty.check_voucher(%L, %L, ''S1'', %L)',
							  v.code, loyalty.card_issue('71', 1), x.lines)) AS check,
	   pg_temp.outcome(format('SELECT discount FROM loyalty.use_voucher(%L, %L, ''S1'', %L, %L)',
							  v.code, loyalty.card_issue('71', 1), 'T-' || x.n, x.lines)) AS use
  FROM (VALUES (1, 'pct', '[{"sku":"A","qty":1,"amount":"NaN"}]'),
			   (2, 'pct', '[{"sku":"A","qty":1,"amount":"Infinity"}]'),
			   (3, 'itm', '[{"sku":"X","qty":1,"amount":"Infinity"}]'),
			   (4, 'amt', '[{"sku":"A","qty":1,"amount":-20}]'),
			   (5, 'itm', '[{"sku":"X","qty":-1,"amount":2}]'),
			   (6, 'amt', '[1, null]'),
			   (7, 'amt', '[{"sku":"A","qty":1,"amount":"abc"}]'),
			   (8, 'amt', '[{"sku":"A","qty":1,"amount":1e20}]')) AS x(n, name, lines)
  JOIN v USING (name)
 ORDER BY x.n;

-- an item voucher on a fraction of a unit: at most the line's amount
SELECT discount FROM loyalty.check_voucher((SELECT code FROM v WHERE name = 'itm'), loyalty.card_issue('71', 1), 'S1',
	'[{"sku":"X","qty":0.001,"amount":2}]');
SELECT discount FROM loyalty.use_voucher((SELECT code FROM v WHERE name = 'itm'), loyalty.card_issue('71', 1), 'S1', 'T-9',
	'[{"sku":"A","qty":1,"amount":3},{"sku":"X","qty":0.5,"amount":2},{"sku":"X","qty":1,"amount":7}]');
-- two units: the price of one
SELECT discount FROM loyalty.check_voucher((SELECT code FROM v WHERE name = 'itm'), loyalty.card_issue('71', 1), 'S1',
	'[{"sku":"X","qty":2,"amount":7}]');
-- an empty basket is still one
SELECT ok, discount, sqlstate FROM loyalty.check_voucher((SELECT code FROM v WHERE name = 'amt'), loyalty.card_issue('71', 1), 'S1', '[]');

-- nothing NaN, infinite or negative was recorded
SELECT count(*) AS uses, count(*) FILTER (WHERE discount = 'NaN' OR discount = 'Infinity' OR discount < 0) AS bad
  FROM loyalty.voucher_use;
