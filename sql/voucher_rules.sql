-- Voucher rules (0.6.0): a rule of kind voucher issues one voucher of its
-- type in the sale's own INSERT (codes in sale.vouchers_issued, the award
-- and explain_sale; a quote shows it without issuing); caps and budgets
-- count vouchers; a return rule (on_return) issues, on a return of its skus
-- dated in its window, of a sale made in its sold window, a voucher worth
-- what the returned lines cost: the Christmas tree, end to end.  Every
-- figure is worked out by hand in the comments.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET DateStyle = 'ISO, YMD';
-- the session's zone is not the program's: windows must not follow it
SET TimeZone = 'Asia/Tokyo';

-- Runs a statement and shows its SQLSTATE and message (or that it worked).
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d', '<time>');
END
$$;
-- A voucher code in a text, as <code> (codes are random); one that is not
-- a well-formed code with its check character stays as it is.
CREATE FUNCTION pg_temp.masked(t text) RETURNS text
LANGUAGE sql AS $$
	SELECT CASE WHEN m IS NOT NULL AND loyalty.voucher_code_is_valid(m[1])
				THEN replace(t, m[1], '<code>') ELSE t END
	  FROM (SELECT regexp_match(t, 'voucher "?([0-9A-Z]{13})') AS m) q $$;
CREATE TEMP SEQUENCE txn;
-- a one-line sale of member serial (as the owner: a back-fill, no
-- back-dating limit), as stored
CREATE FUNCTION pg_temp.buy(serial int, at timestamptz, sku text, qty numeric, amount numeric) RETURNS loyalty.sale
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	VALUES ('S1', 'T' || nextval('txn'), loyalty.card_issue('60', serial), at, amount,
			jsonb_build_array(jsonb_build_object('sku', sku, 'category', 'c', 'qty', qty, 'amount', amount)))
	RETURNING * $$;
-- a one-line return of sale sale_id, with a pos_txn of its own, as stored
CREATE FUNCTION pg_temp.give_back(sale_id bigint, at timestamptz, sku text, qty numeric, amount numeric) RETURNS loyalty.sale
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
	VALUES ('S1', 'R' || nextval('txn'), at, amount,
			jsonb_build_array(jsonb_build_object('sku', sku, 'category', 'c', 'qty', qty, 'amount', amount)),
			sale_id)
	RETURNING * $$;
-- the value of the voucher of a code (NULL: none)
CREATE FUNCTION pg_temp.value_of(code text) RETURNS numeric
LANGUAGE sql AS $$ SELECT value FROM loyalty.voucher v WHERE v.code = value_of.code $$;
-- what a sale's voucher rules did, codes masked
CREATE FUNCTION pg_temp.explained(sale bigint) RETURNS TABLE (code text, kind text, fired boolean, points bigint, why text)
LANGUAGE sql AS $$
	SELECT e.code, e.kind, e.fired, e.points, pg_temp.masked(e.why)
	  FROM loyalty.explain_sale(sale) e WHERE e.kind = 'voucher' $$;

-- Program xmas in Stockholm (UTC+1 in winter), 1 point per unit.  Members
-- 1..6 enrolled 2024-01-01.
INSERT INTO loyalty.program (code, time_zone) VALUES ('xmas', 'Europe/Stockholm');
SELECT count(*) FROM generate_series(1, 6) i,
	LATERAL loyalty.enroll(loyalty.card_issue('60', i), 'xmas', enrolled_at => '2024-01-01') e;
-- Voucher types: a free coffee, and the Christmas-tree voucher: an amount
-- (value 1 when issued by hand; a return rule gives each voucher its own
-- value), valid from 1 February 2025.
INSERT INTO loyalty.voucher_type (program_id, code, kind, sku)
SELECT program_id, 'coffee', 'item', 'COFFEE' FROM loyalty.program WHERE code = 'xmas';
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, valid_from)
SELECT program_id, 'tree-back', 'amount', 1, '2025-02-01 00:00+01' FROM loyalty.program WHERE code = 'xmas';

-- ===== rules that issue vouchers: what a rule row may say
SELECT label, pg_temp.outcome(format($$INSERT INTO loyalty.rule (program_id, code, kind, voucher_type, on_return,
		skus, sold_from, sold_to, member_max_points, points)
	SELECT program_id, %L, %L, %L, %L, '{TREE}', %L, %L, %L, %L FROM loyalty.program WHERE code = 'xmas'$$,
	code, kind, voucher_type, on_return, sold_from, sold_to, member_max_points, points)) AS outcome
FROM (VALUES
	('unknown type',           'r1', 'voucher', 'nope',      false, NULL, NULL, NULL, NULL),
	('return rule, item type', 'r2', 'voucher', 'coffee',    true,  NULL, NULL, NULL, NULL),
	('voucher without a type', 'r3', 'voucher', NULL,        false, NULL, NULL, NULL, NULL),
	('bonus with a type',      'r4', 'bonus',   'coffee',    false, NULL, NULL, NULL, '5'),
	('bonus on returns',       'r5', 'bonus',   NULL,        true,  NULL, NULL, NULL, '5'),
	('sold window, sale rule', 'r6', 'voucher', 'coffee',    false, '2024-12-01', NULL, NULL, NULL),
	('sold window backwards',  'r7', 'voucher', 'tree-back', true,  '2024-12-01', '2024-11-01', NULL, NULL),
	('points cap on vouchers', 'r8', 'voucher', 'coffee',    false, NULL, NULL, '5', NULL),
	('a good one',             'r9', 'voucher', 'tree-back', true,  NULL, NULL, NULL, NULL)
) v(label, code, kind, voucher_type, on_return, sold_from, sold_to, member_max_points, points);
SELECT label, pg_temp.outcome(statement) AS outcome FROM (VALUES
	('type of a return rule to item', $$UPDATE loyalty.voucher_type SET kind = 'item', sku = 'X', value = NULL WHERE code = 'tree-back'$$),
	('delete a type a rule issues',   $$DELETE FROM loyalty.voucher_type WHERE code = 'tree-back'$$),
	('rename it: the rule follows',   $$UPDATE loyalty.voucher_type SET code = 'tree-refund' WHERE code = 'tree-back'$$),
	('and back',                      $$UPDATE loyalty.voucher_type SET code = 'tree-back' WHERE code = 'tree-refund'$$),
	('rule to another type',          $$UPDATE loyalty.rule SET voucher_type = 'coffee' WHERE code = 'r9'$$)
) v(label, statement);
SELECT code, voucher_type, on_return FROM loyalty.rule ORDER BY rule_id;
DELETE FROM loyalty.rule;

-- ===== a sale rule: a free coffee for 20 or more of beans (BEANS), at
-- most 2 per member, 3 in all
INSERT INTO loyalty.rule (program_id, code, kind, voucher_type, skus, min_basket, member_max_uses, budget_points)
SELECT program_id, 'beans-coffee', 'voucher', 'coffee', '{BEANS}', 20, 2, 3 FROM loyalty.program WHERE code = 'xmas';

-- a quote says what would be issued, and issues nothing
SELECT q.points, pg_temp.masked(r->>'why') AS why, r->>'voucher_type' AS voucher_type, r->'voucher' AS voucher
  FROM loyalty.quote(loyalty.card_issue('60', 1), '[{"sku":"BEANS","qty":1,"amount":25}]') q,
	   jsonb_array_elements(q.award->'rules') r WHERE r->>'kind' = 'voucher';
SELECT count(*) AS vouchers FROM loyalty.voucher;

-- member 1 buys beans for 25: 25 points and one coffee voucher, its code
-- in vouchers_issued (RETURNING), on the voucher row, in the award
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'B1', loyalty.card_issue('60', 1), now(), 25, '[{"sku":"BEANS","qty":1,"amount":25}]')
RETURNING points_earned, cardinality(vouchers_issued) AS issued, loyalty.voucher_code_is_valid(vouchers_issued[1]) AS valid_code;
SELECT v.code = s.vouchers_issued[1] AS same_code, t.code AS voucher_type, v.member_id = s.member_id AS members,
	   v.issued_by_sale = s.sale_id AS by_sale, r.code AS by_rule, v.value, v.uses_left,
	   s.award->'rules'->1->>'voucher' = v.code AS in_award
  FROM loyalty.sale s JOIN loyalty.voucher v ON v.issued_by_sale = s.sale_id
  JOIN loyalty.voucher_type t USING (voucher_type_id) JOIN loyalty.rule r ON r.rule_id = v.issued_by_rule
 WHERE s.pos_txn = 'B1';
SELECT * FROM pg_temp.explained((SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'B1'));
-- the voucher_issued event of it, for the member
SELECT o.kind, o.member_id = s.member_id AS members, o.payload->>'voucher_type' AS voucher_type,
	   o.payload->>'code' = s.vouchers_issued[1] AS same_code
  FROM loyalty.outbox o, loyalty.sale s WHERE s.pos_txn = 'B1' AND o.kind = 'voucher_issued';
-- a retry of the sale: no row, no second voucher
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S1', 'B1', loyalty.card_issue('60', 1), occurred_at, 25, '[{"sku":"BEANS","qty":1,"amount":25}]'
  FROM loyalty.sale WHERE pos_txn = 'B1'
ON CONFLICT (store, pos_txn) DO NOTHING RETURNING sale_id;
SELECT count(*) AS vouchers FROM loyalty.voucher;

-- below the minimum (beans for 15 with 40 of other things): none; member
-- 1's second: one; the third: the member's cap of 2; member 2: the third
-- and last of the budget; member 2 again: the budget is spent
SELECT n, s.points_earned, cardinality(s.vouchers_issued) AS issued, pg_temp.masked(e.why) AS why
  FROM (VALUES (1, 1, 15), (2, 1, 20), (3, 1, 30), (4, 2, 50), (5, 2, 50)) v(n, serial, amount),
	   LATERAL pg_temp.buy(serial, now(), 'BEANS', 1, amount) s,
	   LATERAL pg_temp.explained(s.sale_id) e
 ORDER BY n;
SELECT m.serial, count(v.voucher_id) AS vouchers
  FROM generate_series(1, 3) m(serial)
  LEFT JOIN loyalty.voucher v ON v.member_id = loyalty.member_id(loyalty.card_issue('60', m.serial))
 GROUP BY m.serial ORDER BY m.serial;
SELECT rule_id IS NOT NULL AS has_rule, uses, points FROM loyalty.member_rule_use ORDER BY member_id;
SELECT sum(points) AS budget_spent FROM loyalty.rule_spend;
DELETE FROM loyalty.rule;

-- ===== the Christmas tree: a tree (TREE) bought in December 2024 and
-- brought back in January 2025 gets a voucher worth what the returned trees
-- cost, usable from 1 February 2025 (the type's start).  Windows in
-- Stockholm time.
INSERT INTO loyalty.rule (program_id, code, kind, voucher_type, on_return, skus,
	valid_from, valid_to, sold_from, sold_to)
SELECT program_id, 'tree-back', 'voucher', 'tree-back', true, '{TREE}',
	'2025-01-01 00:00+01', '2025-02-01 00:00+01', '2024-12-01 00:00+01', '2025-01-01 00:00+01'
  FROM loyalty.program WHERE code = 'xmas';

-- member 3: a tree for 49 and a stand for 20 on 10 December; the sale
-- issues nothing (a return rule is not a sale rule, and explain_sale of the
-- sale does not list it)
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'X3', loyalty.card_issue('60', 3), '2024-12-10 15:00+01', 69,
		'[{"sku":"TREE","qty":1,"amount":49},{"sku":"STAND","qty":1,"amount":20}]')
RETURNING points_earned, vouchers_issued;
SELECT count(*) AS voucher_rules_listed FROM pg_temp.explained((SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'X3'));
-- a quote of a tree issues nothing either
SELECT count(*) AS voucher_rules FROM loyalty.quote(loyalty.card_issue('60', 3), '[{"sku":"TREE","qty":1,"amount":49}]') q,
	   jsonb_array_elements(q.award->'rules') r WHERE r->>'kind' = 'voucher';

-- 10 January: the tree comes back (POS transaction X3-R): 49 points taken
-- back, one voucher worth 49.00 issued, its code in vouchers_issued
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
SELECT 'S1', 'X3-R', '2025-01-10 11:00+01', 49, '[{"sku":"TREE","qty":1,"amount":49}]', sale_id
  FROM loyalty.sale WHERE pos_txn = 'X3'
ON CONFLICT (store, pos_txn) DO NOTHING
RETURNING points_earned, cardinality(vouchers_issued) AS issued;
SELECT v.value, t.code AS voucher_type, v.member_id = s.member_id AS members, v.issued_by_sale = s.sale_id AS by_return,
	   v.valid_from = '2025-02-01 00:00+01' OR v.valid_from = v.issued_at AS starts_at_the_later_of_february_and_issue,
	   v.uses_left
  FROM loyalty.sale s JOIN loyalty.voucher v ON v.code = s.vouchers_issued[1]
  JOIN loyalty.voucher_type t USING (voucher_type_id) WHERE s.pos_txn = 'X3-R';
SELECT * FROM pg_temp.explained((SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'X3-R'));
SELECT s.award->>'due' AS points_due, s.award->'rules'->0->>'value' AS value
  FROM loyalty.sale s WHERE s.pos_txn = 'X3-R';
-- the retried return: no row, nothing issued twice
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
SELECT 'S1', 'X3-R', '2025-01-10 11:00+01', 49, '[{"sku":"TREE","qty":1,"amount":49}]', sale_id
  FROM loyalty.sale WHERE pos_txn = 'X3'
ON CONFLICT (store, pos_txn) DO NOTHING
RETURNING sale_id;
SELECT count(*) AS tree_vouchers FROM loyalty.voucher v JOIN loyalty.voucher_type t USING (voucher_type_id)
 WHERE t.code = 'tree-back';
-- the stand comes back too, in January: no matching line, nothing issued
SELECT cardinality(s.vouchers_issued) AS issued, pg_temp.masked(e.why) AS why
  FROM pg_temp.give_back((SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'X3'), '2025-01-12 11:00+01', 'STAND', 1, 20) s,
	   LATERAL pg_temp.explained(s.sale_id) e;
-- used at the till (today, after 1 February 2025) on a basket of 60: 49 off
SELECT u.kind, u.discount, u.uses_left
  FROM loyalty.sale s, loyalty.use_voucher(s.vouchers_issued[1], loyalty.card_issue('60', 3), 'S1', 'U-X3',
										   '[{"sku":"SOFA","qty":1,"amount":60}]') u
 WHERE s.pos_txn = 'X3-R';
SELECT label, pg_temp.masked(pg_temp.outcome(statement)) AS outcome FROM (VALUES
	('used up', format($$SELECT loyalty.use_voucher(%L, loyalty.card_issue('60', 3), 'S1', 'U-X3b', '[{"sku":"SOFA","qty":1,"amount":60}]')$$,
		(SELECT vouchers_issued[1] FROM loyalty.sale WHERE pos_txn = 'X3-R'))),
	('another member', format($$SELECT loyalty.use_voucher(%L, loyalty.card_issue('60', 4), 'S1', 'U-X3c', '[{"sku":"SOFA","qty":1,"amount":60}]')$$,
		(SELECT vouchers_issued[1] FROM loyalty.sale WHERE pos_txn = 'X3-R')))
) v(label, statement);

-- member 4: two trees for 80 on 20 December; one comes back on 5 January
-- (a voucher of 40), the other on 20 January (a voucher of 40: its own
-- line only); a third tree cannot come back (LY038), and issues nothing
SELECT sale_id AS tree_sale FROM pg_temp.buy(4, '2024-12-20 12:00+01', 'TREE', 2, 80) \gset
SELECT n, cardinality(s.vouchers_issued) AS issued, s.points_earned, pg_temp.value_of(s.vouchers_issued[1]) AS value
  FROM (VALUES (1, '2025-01-05 12:00+01'::timestamptz), (2, '2025-01-20 12:00+01')) x(n, at),
	   LATERAL pg_temp.give_back(:tree_sale, x.at, 'TREE', 1, 40) s
 ORDER BY n;
SELECT pg_temp.outcome(format($$SELECT pg_temp.give_back(%s, '2025-01-21 12:00+01', 'TREE', 1, 40)$$, :tree_sale)) AS third_tree;
SELECT sum(v.value) AS member_4_voucher_value FROM loyalty.voucher v
 WHERE v.member_id = loyalty.member_id(loyalty.card_issue('60', 4));

-- outside the windows: member 5's December tree returned on 3 February
-- (the return window ended); member 6's November tree returned in January
-- (the sale was not made in December): nothing issued
SELECT serial, pg_temp.masked(e.why) AS why, cardinality(s.vouchers_issued) AS issued
  FROM (VALUES (5, '2024-12-15 10:00+01'::timestamptz, '2025-02-03 10:00+01'::timestamptz),
			   (6, '2024-11-28 10:00+01', '2025-01-08 10:00+01')) x(serial, sold, back),
	   LATERAL pg_temp.buy(x.serial, x.sold, 'TREE', 1, 30) b,
	   LATERAL pg_temp.give_back(b.sale_id, x.back, 'TREE', 1, 30) s,
	   LATERAL pg_temp.explained(s.sale_id) e
 ORDER BY serial;
-- a return dated 31 January 23:30 in Stockholm (22:30 UTC) is in January
-- there: member 5 bought a second tree, it comes back then
SELECT cardinality(s.vouchers_issued) AS issued, pg_temp.value_of(s.vouchers_issued[1]) AS value
  FROM pg_temp.buy(5, '2024-12-31 23:30+01', 'TREE', 1, 35) b,
	   LATERAL pg_temp.give_back(b.sale_id, '2025-01-31 23:30+01', 'TREE', 1, 35) s;
-- every tree voucher: members 3 (49), 4 (40, 40), 5 (35)
SELECT serial, v.value
  FROM generate_series(1, 6) serial
  JOIN loyalty.voucher v ON v.member_id = loyalty.member_id(loyalty.card_issue('60', serial))
  JOIN loyalty.voucher_type t USING (voucher_type_id)
 WHERE t.code = 'tree-back' ORDER BY serial, v.voucher_id;

-- ===== voucher types limited to an audience (voucher_type.audience):
-- issued by rules and by issue_voucher to the audience's members only.
-- Audience vip: members 1 and 2; opt-in audience clippers: members 3
-- (clipped) and 4 (not clipped).
INSERT INTO loyalty.audience (program_id, code) SELECT program_id, 'vip' FROM loyalty.program WHERE code = 'xmas';
INSERT INTO loyalty.audience (program_id, code, opt_in) SELECT program_id, 'clippers', true FROM loyalty.program WHERE code = 'xmas';
SELECT * FROM loyalty.audience_add('vip', ARRAY[loyalty.card_issue('60', 1), loyalty.card_issue('60', 2)]);
SELECT * FROM loyalty.audience_add('clippers', ARRAY[loyalty.card_issue('60', 3), loyalty.card_issue('60', 4)]);
SELECT loyalty.clip_offer('clippers', loyalty.card_issue('60', 3)) IS NOT NULL AS clipped;
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, audience)
SELECT program_id, 'vip-gift', 'amount', 5, 'vip' FROM loyalty.program WHERE code = 'xmas';
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, audience)
SELECT program_id, 'clip-gift', 'amount', 5, 'clippers' FROM loyalty.program WHERE code = 'xmas';
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, audience, member_bound)
SELECT program_id, 'vip-bearer', 'amount', 5, 'vip', false FROM loyalty.program WHERE code = 'xmas';
SELECT label, pg_temp.outcome(statement) AS outcome FROM (VALUES
	('unknown audience',       $$INSERT INTO loyalty.voucher_type (program_id, code, kind, value, audience)
								 SELECT program_id, 'x', 'amount', 5, 'nope' FROM loyalty.program WHERE code = 'xmas'$$),
	('delete a named audience', $$DELETE FROM loyalty.audience WHERE code = 'vip'$$),
	('rename it',               $$UPDATE loyalty.audience SET code = 'vips' WHERE code = 'vip'$$),
	('change its window',       $$UPDATE loyalty.audience SET valid_from = '2024-01-01' WHERE code = 'vip'$$)
) v(label, statement);

-- issue_voucher: members 1 and 2 get a vip gift, 3 is refused (LY127);
-- the opt-in gift: 3 (clipped) yes, 4 (not clipped) no; a bearer voucher
-- of an audience type has no member: refused
SELECT label, pg_temp.masked(pg_temp.outcome(statement)) AS outcome FROM (VALUES
	('vip, member 1',       $$SELECT loyalty.issue_voucher('vip-gift', loyalty.card_issue('60', 1))$$),
	('vip, member 2',       $$SELECT loyalty.issue_voucher('vip-gift', loyalty.card_issue('60', 2))$$),
	('vip, member 3',       $$SELECT loyalty.issue_voucher('vip-gift', loyalty.card_issue('60', 3))$$),
	('clippers, clipped',   $$SELECT loyalty.issue_voucher('clip-gift', loyalty.card_issue('60', 3))$$),
	('clippers, unclipped', $$SELECT loyalty.issue_voucher('clip-gift', loyalty.card_issue('60', 4))$$),
	('vip, a bearer one',   $$SELECT loyalty.issue_voucher('vip-bearer', NULL, program => 'xmas')$$)
) v(label, statement);
-- in bulk, one statement over every member who is not closed: refused at
-- the first outsider, nothing issued; from the audience's members: all
SELECT pg_temp.outcome($$SELECT loyalty.issue_voucher('vip-gift', mc.card) FROM loyalty.member_card mc
						 WHERE mc.replaced_at IS NULL ORDER BY mc.member_id$$) AS everyone;
SELECT count(loyalty.issue_voucher('vip-gift', mc.card)) AS issued
  FROM loyalty.audience_member am
  JOIN loyalty.audience a USING (audience_id)
  JOIN loyalty.member_card mc ON mc.member_id = am.member_id AND mc.replaced_at IS NULL
 WHERE a.code = 'vip';
SELECT t.code, count(*) AS vouchers, count(DISTINCT v.member_id) AS members
  FROM loyalty.voucher v JOIN loyalty.voucher_type t USING (voucher_type_id)
 WHERE t.audience IS NOT NULL GROUP BY t.code ORDER BY t.code;

-- a sale rule issuing vip gifts for a GIFT line, budget 10: member 1 gets
-- one; member 3 none (the type's audience), and no budget is spent on it;
-- a quote for member 3 says why
INSERT INTO loyalty.rule (program_id, code, kind, voucher_type, skus, budget_points)
SELECT program_id, 'vip-gift', 'voucher', 'vip-gift', '{GIFT}', 10 FROM loyalty.program WHERE code = 'xmas';
SELECT serial, cardinality(s.vouchers_issued) AS issued, e.why
  FROM (VALUES (1), (3)) x(serial),
	   LATERAL pg_temp.buy(x.serial, now(), 'GIFT', 1, 10) s,
	   LATERAL pg_temp.explained(s.sale_id) e
 ORDER BY serial;
SELECT sum(s.points) AS budget_spent FROM loyalty.rule_spend s JOIN loyalty.rule r USING (rule_id) WHERE r.code = 'vip-gift';
SELECT r->>'why' AS why
  FROM loyalty.quote(loyalty.card_issue('60', 3), '[{"sku":"GIFT","qty":1,"amount":10}]') q,
	   jsonb_array_elements(q.award->'rules') r WHERE r->>'kind' = 'voucher';

-- ===== an anonymous sale that enrols a card (enroll_with_sale) earns as a
-- member's sale would have: its voucher rule issues the new member a
-- voucher naming the sale (the code is in the sale's enrolment award)
INSERT INTO loyalty.rule (program_id, code, kind, voucher_type, skus)
SELECT program_id, 'welcome-coffee', 'voucher', 'coffee', '{WELCOME}' FROM loyalty.program WHERE code = 'xmas';
INSERT INTO loyalty.sale (store, pos_txn, total, lines)
VALUES ('S1', 'ANON-1', 12, '[{"sku":"WELCOME","qty":1,"amount":12}]')
RETURNING points_earned, vouchers_issued;
SELECT points FROM loyalty.enroll_with_sale(loyalty.card_issue('60', 7), 'xmas', 'S1', 'ANON-1');
SELECT t.code AS voucher_type, v.member_id = loyalty.member_id(loyalty.card_issue('60', 7)) AS new_member,
	   v.issued_by_sale = s.sale_id AS by_the_sale, r.code AS by_rule,
	   EXISTS (SELECT FROM jsonb_array_elements(es.award->'rules') r WHERE r->>'voucher' = v.code) AS in_the_award
  FROM loyalty.sale s JOIN loyalty.voucher v ON v.issued_by_sale = s.sale_id
  JOIN loyalty.voucher_type t USING (voucher_type_id) JOIN loyalty.rule r ON r.rule_id = v.issued_by_rule
  JOIN loyalty.enrolment_sale es ON es.sale_id = s.sale_id
 WHERE s.pos_txn = 'ANON-1';
