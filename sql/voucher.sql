-- Vouchers (0.6.0): voucher types of each kind (amount, percent, points,
-- item), codes and their check character, issue_voucher (one and in bulk),
-- check_voucher and use_voucher with every refusal and its SQLSTATE, retries,
-- the sale naming its vouchers (explain_sale), a return of such a sale, and
-- the events.  Validity is judged at the moment of the call, so windows are
-- set around now(); codes are random, so messages show <code> for them and
-- <day> for a day name.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO';

-- A statement's SQLSTATE and message (or 'ok'), codes and day names masked.
CREATE FUNCTION pg_temp.mask(t text) RETURNS text LANGUAGE sql AS $$
	SELECT regexp_replace(regexp_replace(regexp_replace(t,
		'"[2-9A-HJKMNP-Z]{13}"', '"<code>"', 'g'),
		'(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day', '<day>', 'g'),
		'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d', '<time>', 'g')
$$;
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN pg_temp.mask(SQLSTATE || ': ' || SQLERRM);
END
$$;
-- check_voucher's answer in one line
CREATE FUNCTION pg_temp.check(code text, card loyalty.card, store text, lines jsonb) RETURNS text
LANGUAGE sql AS $$
	SELECT CASE WHEN c.ok THEN format('ok %s: discount %s, points %s, uses left %s', c.kind, c.discount, c.points, c.uses_left)
				ELSE pg_temp.mask(format('%s: %s', c.sqlstate, c.reason)) END
	  FROM loyalty.check_voucher(code, card, store, lines) c
$$;
-- use_voucher's answer in one line, or the refusal
CREATE FUNCTION pg_temp.use(code text, card loyalty.card, store text, txn text, lines jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	SELECT * INTO r FROM loyalty.use_voucher(code, card, store, txn, lines);
	RETURN format('use %s: %s discount %s, points %s, uses left %s', r.use_id, r.kind, r.discount, r.points, r.uses_left);
EXCEPTION WHEN OTHERS THEN
	RETURN pg_temp.mask(SQLSTATE || ': ' || SQLERRM);
END
$$;

INSERT INTO loyalty.program (code, point_value) VALUES ('p', 0.01), ('q', 0.01);
SELECT loyalty.enroll(loyalty.card_issue('71', n), 'p') FROM generate_series(1, 3) AS n;
SELECT loyalty.enroll(loyalty.card_issue('72', 1), 'q');
INSERT INTO loyalty.store (store, time_zone) VALUES ('S1', 'UTC'), ('S2', 'UTC');

-- ===== voucher types: plain rows; inconsistent ones refused by CHECKs
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, min_basket, valid_days)
VALUES (1, 'five', 'amount', 5, 10, 30);
INSERT INTO loyalty.voucher_type (program_id, code, kind, value) VALUES (1, 'big', 'amount', 50);
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, max_uses) VALUES (1, 'pct', 'percent', 10, 2);
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, member_bound) VALUES (1, 'pts', 'points', 50, false);
INSERT INTO loyalty.voucher_type (program_id, code, kind, sku) VALUES (1, 'coffee', 'item', 'C1');
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, stores) VALUES (1, 'only-s2', 'amount', 1, '{S2}');
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, days_of_week)
SELECT 1, 'not-today', 'amount', 1,
	   ARRAY(SELECT d FROM generate_series(1, 7) d WHERE d <> extract(isodow FROM now() AT TIME ZONE 'UTC'));
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, valid_from)
VALUES (1, 'later', 'amount', 1, now() + interval '1 day');
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, valid_from, valid_to)
VALUES (1, 'ended', 'amount', 1, now() - interval '2 days', now() - interval '1 day');
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, member_bound) VALUES (1, 'bearer', 'amount', 2, false);
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, member_bound) VALUES (2, 'bearer', 'amount', 3, false);
SELECT what, pg_temp.outcome(statement) FROM (VALUES
	('item without sku',    $$INSERT INTO loyalty.voucher_type (program_id, code, kind) VALUES (1, 'x', 'item')$$),
	('item with a value',   $$INSERT INTO loyalty.voucher_type (program_id, code, kind, sku, value) VALUES (1, 'x', 'item', 'A', 1)$$),
	('amount without value', $$INSERT INTO loyalty.voucher_type (program_id, code, kind) VALUES (1, 'x', 'amount')$$),
	('percent over 100',    $$INSERT INTO loyalty.voucher_type (program_id, code, kind, value) VALUES (1, 'x', 'percent', 101)$$),
	('fractional points',   $$INSERT INTO loyalty.voucher_type (program_id, code, kind, value) VALUES (1, 'x', 'points', 1.5)$$),
	('unknown kind',        $$INSERT INTO loyalty.voucher_type (program_id, code, kind, value) VALUES (1, 'x', 'gift', 1)$$),
	('zero max_uses',       $$INSERT INTO loyalty.voucher_type (program_id, code, kind, value, max_uses) VALUES (1, 'x', 'amount', 1, 0)$$),
	('same code',           $$INSERT INTO loyalty.voucher_type (program_id, code, kind, value) VALUES (1, 'five', 'amount', 1)$$)
) AS t(what, statement);

-- ===== codes: 13 characters of the alphabet; the check character by hand:
-- '3' is 1, so 1 * 1 + 13 * c = 0 (mod 31) gives c = 19, 'N'
SELECT code, loyalty.voucher_code_is_valid(code) FROM (VALUES
	('322222222222N'), ('322222222222M'), ('2222222222222'), ('3222-2222-2222-n'), ('322222222222'),
	('O22222222222N'), ('1222222222222'), ('3222222222222N')) AS t(code);

-- ===== issue: one statement for a set of members; each its own code
SELECT count(*) AS issued, count(DISTINCT c) AS distinct_codes,
	   bool_and(c ~ '^[2-9A-HJKMNP-Z]{13}$') AS alphabet, bool_and(loyalty.voucher_code_is_valid(c)) AS valid
  FROM (SELECT loyalty.issue_voucher('five', loyalty.card_issue('71', n)) AS c FROM generate_series(1, 3) n) s;
SELECT member_id, value, uses_left, valid_from = issued_at AS starts_at_issue,
	   valid_to - valid_from AS valid_for, issued_by_sale, issued_by_rule
  FROM loyalty.voucher ORDER BY voucher_id;
SELECT member_id, kind, payload ? 'code' AS has_code, payload->>'voucher_type' AS type, payload ? 'valid_to' AS has_end
  FROM loyalty.outbox ORDER BY event_id;

-- every single-character change and every swap of adjacent different
-- characters of 50 codes is caught by the check character (no look-up)
CREATE TEMP TABLE codes AS
SELECT loyalty.issue_voucher('big', loyalty.card_issue('71', 1)) AS code FROM generate_series(1, 50);
SELECT count(*) AS substitutions, count(*) FILTER (WHERE loyalty.voucher_code_is_valid(t)) AS caught_not
  FROM (SELECT overlay(c.code PLACING a FROM k FOR 1) AS t
		  FROM codes c, generate_series(1, 13) k, regexp_split_to_table('23456789ABCDEFGHJKMNPQRSTUVWXYZ', '') a
		 WHERE substr(c.code, k, 1) <> a) s;
-- (how many swaps there are is random: equal neighbours make none; at most 50 x 12)
SELECT count(*) BETWEEN 1 AND 600 AS some_transpositions, count(*) FILTER (WHERE loyalty.voucher_code_is_valid(t)) AS caught_not
  FROM (SELECT overlay(c.code PLACING substr(c.code, k + 1, 1) || substr(c.code, k, 1) FROM k FOR 2) AS t
		  FROM codes c, generate_series(1, 12) k
		 WHERE substr(c.code, k, 1) <> substr(c.code, k + 1, 1)) s;

-- refusals at issue
SELECT what, pg_temp.outcome(statement) FROM (VALUES
	('unknown type',        $$SELECT loyalty.issue_voucher('nope', loyalty.card_issue('71', 1))$$),
	('type of other program', $$SELECT loyalty.issue_voucher('five', loyalty.card_issue('72', 1))$$),
	('bound, no card',      $$SELECT loyalty.issue_voucher('five', NULL)$$),
	('bearer, two programs', $$SELECT loyalty.issue_voucher('bearer', NULL)$$),
	('value of an item',    $$SELECT loyalty.issue_voucher('coffee', loyalty.card_issue('71', 1), 2)$$),
	('percent 150',         $$SELECT loyalty.issue_voucher('pct', loyalty.card_issue('71', 1), 150)$$),
	('points 2.5',          $$SELECT loyalty.issue_voucher('pts', loyalty.card_issue('71', 1), 2.5)$$),
	('value 0',             $$SELECT loyalty.issue_voucher('big', loyalty.card_issue('71', 1), 0)$$),
	('card of program q',   $$SELECT loyalty.issue_voucher('five', loyalty.card_issue('71', 1), program => 'q')$$),
	('unknown program',     $$SELECT loyalty.issue_voucher('bearer', NULL, program => 'zz')$$),
	('type has ended',      $$SELECT loyalty.issue_voucher('ended', loyalty.card_issue('71', 1))$$),
	('infinite start',      $$SELECT loyalty.issue_voucher('big', loyalty.card_issue('71', 1), valid_from => 'infinity')$$),
	('unknown card',        $$SELECT loyalty.issue_voucher('big', loyalty.card_issue('71', 99))$$)
) AS t(what, statement);

-- the vouchers of the tests below, by name
CREATE TEMP TABLE v (name text PRIMARY KEY, code text);
INSERT INTO v VALUES
	('five-1', (SELECT code FROM loyalty.voucher WHERE voucher_type_id = 1 AND member_id = 1)),
	('big-12.5', loyalty.issue_voucher('big', loyalty.card_issue('71', 1), 12.5)),
	('big', loyalty.issue_voucher('big', loyalty.card_issue('71', 1))),
	('pct', loyalty.issue_voucher('pct', loyalty.card_issue('71', 2))),
	('pts', loyalty.issue_voucher('pts', NULL, program => 'p')),
	('coffee', loyalty.issue_voucher('coffee', loyalty.card_issue('71', 3))),
	('only-s2', loyalty.issue_voucher('only-s2', loyalty.card_issue('71', 1))),
	('not-today', loyalty.issue_voucher('not-today', loyalty.card_issue('71', 1))),
	('later', loyalty.issue_voucher('later', loyalty.card_issue('71', 1))),
	('delayed', loyalty.issue_voucher('big', loyalty.card_issue('71', 1), valid_from => now() + interval '1 hour')),
	('expired', loyalty.issue_voucher('big', loyalty.card_issue('71', 1))),
	('bearer-q', loyalty.issue_voucher('bearer', NULL, program => 'q'));
-- a voucher whose validity has passed
UPDATE loyalty.voucher SET valid_from = now() - interval '2 days', valid_to = now() - interval '1 day'
 WHERE code = (SELECT code FROM v WHERE name = 'expired');
SELECT v.name, t.code AS type, x.member_id, x.value, x.valid_from > now() AS starts_later,
	   x.valid_to IS NULL AS no_end, x.uses_left
  FROM v JOIN loyalty.voucher x ON x.code = v.code JOIN loyalty.voucher_type t USING (voucher_type_id)
 ORDER BY x.voucher_id;

-- ===== check_voucher: what a use would take off, or why not, as a row
SELECT name, pg_temp.check(code, card, store, lines) FROM (VALUES
	('five, basket 12',    (SELECT code FROM v WHERE name = 'five-1'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":12}]'::jsonb),
	('big 12.5, basket 20', (SELECT code FROM v WHERE name = 'big-12.5'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":2,"amount":20}]'),
	('big 50, basket 20',  (SELECT code FROM v WHERE name = 'big'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":2,"amount":20}]'),
	('10%, basket 33.35',  (SELECT code FROM v WHERE name = 'pct'), loyalty.card_issue('71', 2), 'S1', '[{"sku":"A","qty":1,"amount":30},{"sku":"B","qty":1,"amount":3.35}]'),
	('points, card 2',     (SELECT code FROM v WHERE name = 'pts'), loyalty.card_issue('71', 2), 'S1', '[]'),
	('coffee, 2 for 7',    (SELECT code FROM v WHERE name = 'coffee'), loyalty.card_issue('71', 3), 'S1', '[{"sku":"B","qty":1,"amount":4},{"sku":"C1","qty":2,"amount":7}]'),
	('lower case, hyphens', lower(regexp_replace((SELECT code FROM v WHERE name = 'big'), '(....)(....)', '\1-\2-')), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":8}]'),
	-- each refusal
	('LY110 length',       'ABC', NULL, 'S1', '[]'),
	('LY110 letter O',     'O22222222222N', NULL, 'S1', '[]'),
	('LY111 check',        '322222222222M', NULL, 'S1', '[]'),
	('LY112 unknown',      '322222222222N', NULL, 'S1', '[]'),
	('LY116 other member', (SELECT code FROM v WHERE name = 'five-1'), loyalty.card_issue('71', 2), 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY116 no card',      (SELECT code FROM v WHERE name = 'five-1'), NULL, 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY123 points, no card', (SELECT code FROM v WHERE name = 'pts'), NULL, 'S1', '[]'),
	('LY124 other program', (SELECT code FROM v WHERE name = 'bearer-q'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY115 type later',   (SELECT code FROM v WHERE name = 'later'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY115 delayed',      (SELECT code FROM v WHERE name = 'delayed'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY114 expired',      (SELECT code FROM v WHERE name = 'expired'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY117 store',        (SELECT code FROM v WHERE name = 'only-s2'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY118 day',          (SELECT code FROM v WHERE name = 'not-today'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY119 basket',       (SELECT code FROM v WHERE name = 'five-1'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":9.99}]'),
	('LY121 no coffee',    (SELECT code FROM v WHERE name = 'coffee'), loyalty.card_issue('71', 3), 'S1', '[{"sku":"B","qty":1,"amount":4}]'),
	('bearer, no card',    (SELECT code FROM v WHERE name = 'bearer-q'), NULL, 'S1', '[{"sku":"A","qty":1,"amount":1}]')
) AS t(name, code, card, store, lines);
-- only-s2 in S2 is fine
SELECT pg_temp.check((SELECT code FROM v WHERE name = 'only-s2'), loyalty.card_issue('71', 1), 'S2', '[{"sku":"A","qty":1,"amount":12}]') AS in_s2;
-- a check writes nothing
SELECT count(*) AS uses FROM loyalty.voucher_use;

-- ===== use_voucher: each refusal is an error with its SQLSTATE
SELECT name, pg_temp.use(code, card, store, 'R-' || name, lines) FROM (VALUES
	('LY110',  'ABC', NULL::loyalty.card, 'S1', '[]'::jsonb),
	('LY111',  '322222222222M', NULL, 'S1', '[]'),
	('LY112',  '322222222222N', NULL, 'S1', '[]'),
	('LY116',  (SELECT code FROM v WHERE name = 'five-1'), loyalty.card_issue('71', 2), 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY123',  (SELECT code FROM v WHERE name = 'pts'), NULL, 'S1', '[]'),
	('LY124',  (SELECT code FROM v WHERE name = 'bearer-q'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY115',  (SELECT code FROM v WHERE name = 'later'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY114',  (SELECT code FROM v WHERE name = 'expired'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY117',  (SELECT code FROM v WHERE name = 'only-s2'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY118',  (SELECT code FROM v WHERE name = 'not-today'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":12}]'),
	('LY119',  (SELECT code FROM v WHERE name = 'five-1'), loyalty.card_issue('71', 1), 'S1', '[{"sku":"A","qty":1,"amount":9.99}]'),
	('LY121',  (SELECT code FROM v WHERE name = 'coffee'), loyalty.card_issue('71', 3), 'S1', '[{"sku":"B","qty":1,"amount":4}]'),
	('LY031',  (SELECT code FROM v WHERE name = 'big'), loyalty.card_issue('71', 1), 'S1', '{"sku":"A"}'),
	('LY001',  (SELECT code FROM v WHERE name = 'big'), loyalty.card_issue('71', 99), 'S1', '[]')
) AS t(name, code, card, store, lines);
SELECT count(*) AS uses_after_refusals FROM loyalty.voucher_use;

-- ===== uses of each kind
SELECT pg_temp.use((SELECT code FROM v WHERE name = 'five-1'), loyalty.card_issue('71', 1), 'S1', 'T1', '[{"sku":"A","qty":1,"amount":12}]') AS amount;
SELECT pg_temp.use((SELECT code FROM v WHERE name = 'big-12.5'), loyalty.card_issue('71', 1), 'S1', 'T2', '[{"sku":"A","qty":2,"amount":20}]') AS own_value;
SELECT pg_temp.use((SELECT code FROM v WHERE name = 'pct'), loyalty.card_issue('71', 2), 'S1', 'T3', '[{"sku":"A","qty":1,"amount":30},{"sku":"B","qty":1,"amount":3.35}]') AS percent;
SELECT pg_temp.use((SELECT code FROM v WHERE name = 'pts'), loyalty.card_issue('71', 2), 'S1', 'T4', '[]') AS points;
SELECT pg_temp.use((SELECT code FROM v WHERE name = 'coffee'), loyalty.card_issue('71', 3), 'S2', 'T5', '[{"sku":"C1","qty":2,"amount":7}]') AS item;
SELECT pg_temp.use((SELECT code FROM v WHERE name = 'bearer-q'), NULL, 'S1', 'T6', '[{"sku":"A","qty":1,"amount":1}]') AS bearer_no_card;
-- the points went through the ledger: an earn of 50 for member 2
SELECT member_id, kind, points, source, reason, store, pos_txn FROM loyalty.ledger WHERE source = 'voucher';
SELECT available FROM loyalty.balance(loyalty.card_issue('71', 2));

-- a retry of (store, pos_txn) gets the first answer, even with the voucher used up
SELECT pg_temp.use((SELECT code FROM v WHERE name = 'five-1'), loyalty.card_issue('71', 1), 'S1', 'T1', '[{"sku":"A","qty":1,"amount":12}]') AS retry;
SELECT pg_temp.use((SELECT code FROM v WHERE name = 'five-1'), loyalty.card_issue('71', 1), 'S1', 'T7', '[{"sku":"A","qty":1,"amount":12}]') AS again_used_up;
SELECT pg_temp.use((SELECT code FROM v WHERE name = 'big'), loyalty.card_issue('71', 1), 'S1', 'T1', '[{"sku":"A","qty":1,"amount":12}]') AS other_voucher_same_txn;
-- two uses of a max_uses 2 voucher, then used up
SELECT pg_temp.use((SELECT code FROM v WHERE name = 'pct'), loyalty.card_issue('71', 2), 'S1', 'T8', '[{"sku":"A","qty":1,"amount":10}]') AS second_use;
SELECT 'third use' AS what, pg_temp.use((SELECT code FROM v WHERE name = 'pct'), loyalty.card_issue('71', 2), 'S1', 'T9', '[{"sku":"A","qty":1,"amount":10}]');
SELECT pg_temp.check((SELECT code FROM v WHERE name = 'pct'), loyalty.card_issue('71', 2), 'S1', '[{"sku":"A","qty":1,"amount":10}]') AS check_used_up;
SELECT v.name, u.store, u.pos_txn, u.member_id, u.discount, u.points, u.entry_id IS NOT NULL AS has_entry, u.uses_left, x.uses_left AS voucher_uses_left
  FROM loyalty.voucher_use u JOIN loyalty.voucher x USING (voucher_id) JOIN v ON v.code = x.code
 ORDER BY u.use_id;
SELECT member_id, payload - 'use_id' - 'voucher_id' AS payload FROM loyalty.outbox WHERE kind = 'voucher_used' ORDER BY event_id;

-- ===== the sale names its vouchers; explain_sale shows them after the rules
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, vouchers)
VALUES ('S1', 'T2', loyalty.card_issue('71', 1), 7.5, '[{"sku":"A","qty":2,"amount":7.5}]',
		ARRAY[(SELECT code FROM v WHERE name = 'big-12.5'), (SELECT code FROM v WHERE name = 'five-1'), '322222222222N'])
RETURNING points_earned;
SELECT rule_id, pg_temp.mask(format('"%s"', code)) AS code, kind, fired, points, why
  FROM loyalty.explain_sale((SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'T2'));

-- ===== a return of a sale paid partly with a voucher: the voucher is not
-- reinstated (the refund is what was paid; the voucher stays spent)
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of)
SELECT 'S1', 'T2-back', loyalty.card_issue('71', 1), 7.5, '[{"sku":"A","qty":2,"amount":7.5}]', sale_id
  FROM loyalty.sale WHERE pos_txn = 'T2'
RETURNING points_earned;
SELECT uses_left FROM loyalty.voucher WHERE code = (SELECT code FROM v WHERE name = 'big-12.5');
SELECT pg_temp.use((SELECT code FROM v WHERE name = 'big-12.5'), loyalty.card_issue('71', 1), 'S1', 'T10', '[{"sku":"A","qty":2,"amount":20}]') AS after_return;

-- ===== malformed baskets: the lines are checked as a sale's (LY031, LY032,
-- LY061), else a negative amount or qty, NaN or a tiny qty made a negative,
-- NaN or huge discount; an item voucher takes at most its line's amount (a
-- weighed item: 0.5 for 3 is 3 off, not 6)
SELECT loyalty.issue_voucher('coffee', loyalty.card_issue('71', 3)) AS coffee2 \gset
SELECT n, what, pg_temp.use(:'coffee2', loyalty.card_issue('71', 3), 'S1', 'TM' || n, lines::jsonb)
  FROM (VALUES (1, 'negative amount', '[{"sku":"C1","qty":1,"amount":-10}]'),
               (2, 'negative qty',    '[{"sku":"C1","qty":-1,"amount":10}]'),
               (3, 'tiny qty',        '[{"sku":"C1","qty":1e-300,"amount":10}]'),
               (4, 'NaN amount',      '[{"sku":"C1","qty":1,"amount":"NaN"}]'),
               (5, 'not an object',   '[1]'),
               (6, 'weighed item',    '[{"sku":"C1","qty":0.5,"amount":3}]')) AS t(n, what, lines)
 ORDER BY n;
SELECT loyalty.issue_voucher('bearer', NULL, program => 'p') AS bearer2 \gset
SELECT what, pg_temp.outcome(format($$SELECT loyalty.check_voucher(%L, NULL, 'S1', %L)$$, :'bearer2', lines))
  FROM (VALUES ('check: negative amount', '[{"sku":"A","qty":1,"amount":-100}]'),
               ('check: huge amount',     '[{"sku":"A","qty":1,"amount":1e300}]')) AS t(what, lines);
SELECT count(*) AS negative_or_nan_discounts FROM loyalty.voucher_use WHERE discount < 0 OR discount = 'NaN';
