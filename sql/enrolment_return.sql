-- A return of an anonymous sale that enrolled a card (enroll_with_sale): the
-- sale is the new member's from then on, so its return takes back the
-- sale's part of the enrolment's points, exactly once, per line as an
-- ordinary return does, and lowers the tier figures of the sale's day.
-- Expected points are worked out by hand in the comments.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.sid(txn text) RETURNS bigint
LANGUAGE sql AS $$ SELECT sale_id FROM loyalty.sale WHERE pos_txn = txn $$;
CREATE FUNCTION pg_temp.net(c loyalty.card) RETURNS bigint
LANGUAGE sql AS $$ SELECT net FROM loyalty.member_balance WHERE card = c $$;

CREATE ROLE regress_enrol_return_pos;
SELECT loyalty.grant_access('regress_enrol_return_pos', 'pos');

-- one: a card after one sale of 3,000; furniture earns double
INSERT INTO loyalty.program (code, enroll_min_spend) VALUES ('one', 3000);
INSERT INTO loyalty.rule (program_id, code, kind, categories, multiplier)
SELECT program_id, 'furniture-x2', 'multiplier', '{furniture}', 2 FROM loyalty.program WHERE code = 'one';
-- week: receipts of 7 days add up
INSERT INTO loyalty.program (code, enroll_min_spend, enroll_window_days) VALUES ('week', 3000, 7);
-- tiered: gold at a spend of 2,000
INSERT INTO loyalty.program (code, enroll_min_spend) VALUES ('tiered', 3000);
INSERT INTO loyalty.tier (program_id, code, rank, min_spend)
SELECT program_id, t.code, t.rank, t.min_spend
  FROM loyalty.program, (VALUES ('base', 0, NULL::numeric), ('gold', 1, 2000)) AS t(code, rank, min_spend)
 WHERE program.code = 'tiered';
-- strict: returns within 0 days only
INSERT INTO loyalty.program (code, enroll_min_spend, return_days) VALUES ('strict', 100, 0);
SELECT loyalty.enroll(loyalty.card_issue('50', 8), 'one') AS another_member;

INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES
	('S1', 'E1', 3000, '[{"sku":"sofa","category":"furniture","qty":1,"amount":2500},{"sku":"lamp","category":"lighting","qty":1,"amount":500}]'),
	('S1', 'W1', 1000, '[{"sku":"chair","qty":2,"amount":1000}]'),
	('S1', 'W2', 1500, '[{"sku":"table","qty":1,"amount":1500}]'),
	('S1', 'W3', 600, '[{"sku":"rug","qty":1,"amount":600}]'),
	('S1', 'T1', 3000, '[{"sku":"bed","qty":1,"amount":3000}]'),
	('S1', 'X1', 100, '[{"sku":"pen","qty":1,"amount":100}]');

-- ===== one sale: 3000 base + (2 - 1) x 2500 for the sofa = 5500
SET ROLE regress_enrol_return_pos;
SELECT points FROM loyalty.enroll_with_sale(loyalty.card_issue('50', 1), 'one', 'S1', 'E1');
RESET ROLE;
-- the lamp comes back (no card): the remaining sofa keeps 2500 + 2500 = 5000, 500 are due
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'E1-r1', 500, '[{"sku":"lamp","qty":1,"amount":500}]', pg_temp.sid('E1'))
RETURNING member_id = loyalty.member_id(loyalty.card_issue('50', 1)) AS the_new_member, points_earned,
          award->>'due' AS due, award->>'enrolment' AS enrolment;
-- the retry of that return: nothing again
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'E1-r1', 500, '[{"sku":"lamp","qty":1,"amount":500}]', pg_temp.sid('E1'))
ON CONFLICT (store, pos_txn) DO NOTHING RETURNING points_earned;
-- another card on the return is refused; the member's own card is taken
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('another card',  $$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of) VALUES ('S1', 'E1-r2', loyalty.card_issue('50', 8), 2500, '[{"sku":"sofa","qty":1,"amount":2500}]', pg_temp.sid('E1'))$$),
  ('the lamp again', $$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of) VALUES ('S1', 'E1-r2', 500, '[{"sku":"lamp","qty":1,"amount":500}]', pg_temp.sid('E1'))$$)
) AS t(what, statement);
-- the sofa, with the member's card: 5000 - 0 kept = 5000 due; 5500 in all, the balance 0
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of)
VALUES ('S1', 'E1-r3', loyalty.card_issue('50', 1), 2500, '[{"sku":"sofa","qty":1,"amount":2500}]', pg_temp.sid('E1'))
RETURNING points_earned, award->>'taken_back_before' AS taken_back_before;
SELECT pg_temp.net(loyalty.card_issue('50', 1)) AS net;
SELECT l.kind, l.points, l.reverses = e.entry_id AS reverses_the_enrolment, l.sale_id = s.sale_id AS names_the_return
  FROM loyalty.ledger l JOIN loyalty.enrolment_sale e USING (member_id)
  LEFT JOIN loyalty.sale s ON s.entry_id = l.entry_id AND s.member_id = l.member_id
 WHERE e.sale_id = pg_temp.sid('E1') ORDER BY l.entry_id;

-- ===== three receipts, one entry of 1000 + 1500 + 600 = 3100 points; a
-- return takes back its own sale's part, never more
SELECT points FROM loyalty.enroll_with_sales(loyalty.card_issue('50', 2), 'week', '{S1,S1,S1}', '{W1,W2,W3}');
-- one chair of two: the other keeps 500, 500 due
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'W1-r1', 500, '[{"sku":"chair","qty":1,"amount":500}]', pg_temp.sid('W1'))
RETURNING points_earned, award->>'original_points' AS sale_points;
-- the table: 1500 (of W2's 1500; the chair's 500 taken from W1 do not count against it)
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'W2-r1', 1500, '[{"sku":"table","qty":1,"amount":1500}]', pg_temp.sid('W2'))
RETURNING points_earned, award->>'taken_back_before' AS taken_back_before;
-- the other chair: 1000 - 0 kept - 500 before = 500
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'W1-r2', 500, '[{"sku":"chair","qty":1,"amount":500}]', pg_temp.sid('W1'))
RETURNING points_earned, award->>'taken_back_before' AS taken_back_before;
-- 3100 - 500 - 1500 - 500 = 600 left: the rug's
SELECT pg_temp.net(loyalty.card_issue('50', 2)) AS net;

-- ===== a tier: the 3,000 made the new member gold; a return of 2,000 of it
-- lowers the day's figures (spend 1000, points 1000), the tier stays
SELECT points FROM loyalty.enroll_with_sale(loyalty.card_issue('50', 3), 'tiered', 'S1', 'T1');
SELECT tier FROM loyalty.enrolment_sale WHERE sale_id = pg_temp.sid('T1');
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'T1-r1', 2000, '[{"sku":"bed","qty":1,"amount":2000}]', pg_temp.sid('T1'))
RETURNING points_earned, tier;
SELECT t.code AS tier, mt.spend, mt.points, mt.visits
  FROM loyalty.member_tier mt JOIN loyalty.tier t USING (tier_id)
 WHERE mt.member_id = loyalty.member_id(loyalty.card_issue('50', 3));
SELECT spend, points FROM loyalty.tier_day WHERE member_id = loyalty.member_id(loyalty.card_issue('50', 3));
SELECT pg_temp.net(loyalty.card_issue('50', 3)) AS net;

-- ===== the member's program's return window applies to the enrolled sale
SELECT points FROM loyalty.enroll_with_sale(loyalty.card_issue('50', 4), 'strict', 'S1', 'X1');
SELECT 'after return_days' AS what, pg_temp.outcome($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
  VALUES ('S1', 'X1-r1', 100, '[{"sku":"pen","qty":1,"amount":100}]', pg_temp.sid('X1'))$$);

SELECT * FROM loyalty.check_invariants();
DROP OWNED BY regress_enrol_return_pos;
DROP ROLE regress_enrol_return_pos;
