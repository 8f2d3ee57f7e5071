-- Boundaries of the time, money and count comparisons of tender holds,
-- vouchers, audiences and voucher (return) rules: each case at the bound and
-- on each side.  Where the code judges at the clock (capture, check_voucher,
-- use_voucher) the exact instant cannot be given, so only the sides are
-- tested, with margins of an hour; where a time is given (a sale's
-- occurred_at) the bound itself and 1 microsecond either side.
-- Expectations are worked out by hand in the comments.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';

CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
CREATE FUNCTION pg_temp.check(code text, card loyalty.card, lines jsonb) RETURNS text
LANGUAGE sql AS $$
	SELECT CASE WHEN c.ok THEN format('ok: discount %s, uses left %s', c.discount, c.uses_left)
				ELSE c.sqlstate END
	  FROM loyalty.check_voucher(code, card, 'S1', lines) c $$;
CREATE TEMP SEQUENCE txn;
-- a one-line sale of member serial at a given time (as the owner: a
-- back-fill, no back-dating limit)
CREATE FUNCTION pg_temp.buy(serial int, at timestamptz, sku text, amount numeric) RETURNS loyalty.sale
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	VALUES ('S1', 'T' || nextval('txn'), loyalty.card_issue('62', serial), at, amount,
			jsonb_build_array(jsonb_build_object('sku', sku, 'qty', 1, 'amount', amount)))
	RETURNING * $$;
CREATE FUNCTION pg_temp.give_back(sale_id bigint, at timestamptz, sku text, amount numeric) RETURNS loyalty.sale
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
	VALUES ('S1', 'R' || nextval('txn'), at, amount,
			jsonb_build_array(jsonb_build_object('sku', sku, 'qty', 1, 'amount', amount)), sale_id)
	RETURNING * $$;

-- Program b in UTC; members 1..3 enrolled 2024-01-01.
INSERT INTO loyalty.program (code, time_zone) VALUES ('b', 'UTC');
SELECT count(*) FROM generate_series(1, 3) i,
	LATERAL loyalty.enroll(loyalty.card_issue('62', i), 'b', enrolled_at => '2024-01-01') e;
SELECT loyalty.card_issue('62', 1) AS c1 \gset

-- ===== Tender holds
-- hold_minutes is CHECKed BETWEEN 1 AND 10080: 0 and 10081 are 23514, 1 and
-- 10080 are accepted
SELECT m, pg_temp.outcome(format($$UPDATE loyalty.program SET hold_minutes = %s WHERE code = 'b'$$, m)) AS outcome
  FROM unnest(ARRAY[0, 1, 10080, 10081]) m;
SELECT points FROM loyalty.earn(:'c1', 1000, 'k1');
-- hold_minutes 1: expires_at = authorized_at + 1 minute exactly
UPDATE loyalty.program SET hold_minutes = 1 WHERE code = 'b';
SELECT hold_id AS h1, expires_at - authorized_at AS lasts FROM loyalty.authorize(:'c1', 10, 'S1', 'H1') \gset
SELECT :'lasts' AS lasts_1;
-- hold_minutes 10080: 7 days exactly
UPDATE loyalty.program SET hold_minutes = 10080 WHERE code = 'b';
SELECT hold_id AS h2, expires_at - authorized_at AS lasts FROM loyalty.authorize(:'c1', 10, 'S1', 'H2') \gset
SELECT :'lasts' AS lasts_10080;
-- capture is judged at the clock; the code refuses it when expires_at <=
-- the moment (hold.c), so at exactly expires_at it is expired, as README
-- "Tender holds" says ("counts as released from that moment").  Sides:
-- expires_at an hour ahead: captured; an hour behind: LY103.
UPDATE loyalty.hold SET expires_at = clock_timestamp() + interval '1 hour' WHERE hold_id = :h1;
UPDATE loyalty.hold SET expires_at = clock_timestamp() - interval '1 hour' WHERE hold_id = :h2;
SELECT 'ahead' AS side, pg_temp.outcome(format('SELECT loyalty.capture(%s)', :h1)) AS outcome
UNION ALL
SELECT 'behind', pg_temp.outcome(format('SELECT loyalty.capture(%s)', :h2));
-- h1 captured 10; h2's refused capture rolled back, so its row is still
-- open (expiry is lazy) but it counts as released: available 1000 - 10 = 990,
-- held 0
SELECT hold_id = :h1 AS first, status FROM loyalty.hold ORDER BY pos_txn;
SELECT available, held FROM loyalty.balance(:'c1');

-- ===== Vouchers: amount 5 off, min_basket 20, max_uses 2
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, min_basket, max_uses)
SELECT program_id, 'five', 'amount', 5, 20, 2 FROM loyalty.program WHERE code = 'b';
SELECT loyalty.issue_voucher('five', :'c1') AS v \gset
-- min_basket: 20.00 (equal) ok, 19.99 (a cent below) LY119, 20.01 ok
SELECT b AS basket, pg_temp.check(:'v', :'c1', jsonb_build_array(jsonb_build_object('sku', 'A', 'qty', 1, 'amount', b))) AS outcome
  FROM unnest(ARRAY[19.99, 20.00, 20.01]) b;
-- valid_from (inclusive) and valid_to (exclusive), judged at the clock:
-- sides only.  valid_from an hour ahead: LY115; an hour behind: ok.
-- valid_to an hour behind: LY114; an hour ahead: ok.
UPDATE loyalty.voucher SET valid_from = clock_timestamp() + interval '1 hour' WHERE code = :'v';
SELECT 'from ahead' AS side, pg_temp.check(:'v', :'c1', '[{"sku":"A","qty":1,"amount":25}]') AS outcome;
UPDATE loyalty.voucher SET valid_from = clock_timestamp() - interval '1 hour' WHERE code = :'v';
SELECT 'from behind' AS side, pg_temp.check(:'v', :'c1', '[{"sku":"A","qty":1,"amount":25}]') AS outcome;
UPDATE loyalty.voucher SET valid_from = clock_timestamp() - interval '2 hours',
	valid_to = clock_timestamp() - interval '1 hour' WHERE code = :'v';
SELECT 'to behind' AS side, pg_temp.check(:'v', :'c1', '[{"sku":"A","qty":1,"amount":25}]') AS outcome;
UPDATE loyalty.voucher SET valid_to = clock_timestamp() + interval '1 hour' WHERE code = :'v';
SELECT 'to ahead' AS side, pg_temp.check(:'v', :'c1', '[{"sku":"A","qty":1,"amount":25}]') AS outcome;
-- max_uses 2: uses_left 2 -> 1 -> 0, then used up (LY120)
SELECT discount, uses_left FROM loyalty.use_voucher(:'v', :'c1', 'S1', 'U1', '[{"sku":"A","qty":1,"amount":20}]');
SELECT discount, uses_left FROM loyalty.use_voucher(:'v', :'c1', 'S1', 'U2', '[{"sku":"A","qty":1,"amount":20}]');
SELECT pg_temp.check(:'v', :'c1', '[{"sku":"A","qty":1,"amount":20}]') AS at_zero,
	   pg_temp.outcome(format($$SELECT loyalty.use_voucher(%L, %L, 'S1', 'U3', '[{"sku":"A","qty":1,"amount":20}]')$$, :'v', :'c1')) AS use_at_zero;
SELECT uses_left FROM loyalty.voucher WHERE code = :'v';

-- ===== Audiences: window [2025-03-01, 2025-04-01) UTC; member 2 in it (not
-- opt-in); rule aud-bonus gives 100 points on sku A to its members.  Sales of
-- member 2 at each bound and 1 microsecond either side: fired before
-- valid_from? no; at valid_from: yes (inclusive); just after: yes; just
-- before valid_to: yes; at valid_to: no (exclusive); just after: no.
INSERT INTO loyalty.audience (program_id, code, valid_from, valid_to)
SELECT program_id, 'aud', '2025-03-01 00:00+00', '2025-04-01 00:00+00' FROM loyalty.program WHERE code = 'b';
SELECT * FROM loyalty.audience_add('aud', ARRAY[loyalty.card_issue('62', 2)]);
INSERT INTO loyalty.rule (program_id, code, kind, points, skus, audience)
SELECT program_id, 'aud-bonus', 'bonus', 100, '{A}', 'aud' FROM loyalty.program WHERE code = 'b';
CREATE TEMP TABLE aud_sales AS
SELECT at, s.sale_id
  FROM unnest(ARRAY['2025-02-28 23:59:59.999999+00', '2025-03-01 00:00+00', '2025-03-01 00:00:00.000001+00',
					'2025-03-31 23:59:59.999999+00', '2025-04-01 00:00+00', '2025-04-01 00:00:00.000001+00']::timestamptz[]) at,
	   LATERAL pg_temp.buy(2, at, 'A', 10) s;
SELECT a.at, e.fired, e.points, e.why
  FROM aud_sales a, LATERAL loyalty.explain_sale(a.sale_id) e
 WHERE e.code = 'aud-bonus' ORDER BY a.at;

-- ===== Voucher rules: a return rule on sku T for sales made in
-- [2024-12-01, 2025-01-01) UTC; each sale of member 3 comes back on
-- 2025-02-10.  Issued for the sale at sold_from and inside; not for the one
-- 1 microsecond before sold_from, nor at sold_to or after.
INSERT INTO loyalty.voucher_type (program_id, code, kind, value)
SELECT program_id, 'back', 'amount', 1 FROM loyalty.program WHERE code = 'b';
INSERT INTO loyalty.rule (program_id, code, kind, voucher_type, on_return, skus, sold_from, sold_to)
SELECT program_id, 'back', 'voucher', 'back', true, '{T}', '2024-12-01 00:00+00', '2025-01-01 00:00+00'
  FROM loyalty.program WHERE code = 'b';
CREATE TEMP TABLE back_sales AS
SELECT at, s.sale_id
  FROM unnest(ARRAY['2024-11-30 23:59:59.999999+00', '2024-12-01 00:00+00', '2024-12-01 00:00:00.000001+00',
					'2024-12-31 23:59:59.999999+00', '2025-01-01 00:00+00', '2025-01-01 00:00:00.000001+00']::timestamptz[]) at,
	   LATERAL pg_temp.buy(3, at, 'T', 30) s;
CREATE TEMP TABLE back_returns AS
SELECT b.at, r.sale_id, r.vouchers_issued
  FROM back_sales b, LATERAL pg_temp.give_back(b.sale_id, '2025-02-10 12:00+00', 'T', 30) r;
SELECT b.at AS sold_at, cardinality(b.vouchers_issued) AS issued, e.fired,
	   regexp_replace(e.why, 'voucher [0-9A-Z]{13} ', 'voucher <code> ') AS why
  FROM back_returns b, LATERAL loyalty.explain_sale(b.sale_id) e
 WHERE e.code = 'back' ORDER BY b.at;
SELECT count(*) AS back_vouchers, sum(v.value) AS worth FROM loyalty.voucher v
  JOIN loyalty.voucher_type t USING (voucher_type_id) WHERE t.code = 'back';
