-- The enrolment threshold (0.6.0): a card issued after one purchase of 3,000
-- or more.  The purchase is an anonymous sale; loyalty.enroll_with_sale
-- enrols the card if it qualifies and credits its points once, as the rules
-- award a member's sale, in one ledger entry naming it.  Expected points
-- are worked out by hand in the comments.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO';

-- A statement's SQLSTATE and message, with the detail of the extension's
-- own errors (or 'ok').
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM ||
		   CASE WHEN SQLSTATE LIKE 'LY%' AND detail <> '' THEN ' / ' || detail ELSE '' END;
END
$$;
CREATE FUNCTION pg_temp.sid(txn text) RETURNS bigint
LANGUAGE sql AS $$ SELECT sale_id FROM loyalty.sale WHERE pos_txn = txn $$;

CREATE ROLE regress_enrol_pos;
SELECT loyalty.grant_access('regress_enrol_pos', 'pos');

-- ikea: a card after one sale of 3,000 or more; sofas earn double, and a
-- first purchase 50 points
INSERT INTO loyalty.program (code, time_zone, enroll_min_spend) VALUES ('ikea', 'Europe/Stockholm', 3000);
INSERT INTO loyalty.rule (program_id, code, kind, categories, multiplier) VALUES (1, 'sofa-x2', 'multiplier', '{furniture}', 2);
INSERT INTO loyalty.rule (program_id, code, kind, points) VALUES (1, 'welcome', 'first_purchase', 50);
-- week: receipts of the last 7 days add up; points pending 14 days
INSERT INTO loyalty.program (code, enroll_min_spend, enroll_window_days, pending_days) VALUES ('week', 3000, 7, 14);
-- open: no threshold; zero: no threshold and no points; other: a program of its own
INSERT INTO loyalty.program (code) VALUES ('open');
INSERT INTO loyalty.program (code, points_per_unit) VALUES ('zero', 0);
INSERT INTO loyalty.program (code) VALUES ('other');
SELECT code, enroll_min_spend, enroll_window_days FROM loyalty.program ORDER BY program_id;
SELECT pg_temp.outcome($$INSERT INTO loyalty.program (code, enroll_min_spend) VALUES ('x', 0)$$) AS threshold_0,
       pg_temp.outcome($$INSERT INTO loyalty.program (code, enroll_window_days) VALUES ('x', -1)$$) AS window_negative,
       pg_temp.outcome($$INSERT INTO loyalty.program (code, enroll_window_days) VALUES ('x', 367)$$) AS window_too_long;

-- anonymous purchases at the till (card NULL): they earn nothing yet
INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES
	('S1', 'A1', 2999.99, '[{"sku":"sofa","category":"furniture","qty":1,"amount":2999.99}]'),
	('S1', 'A2', 3000, '[{"sku":"sofa","category":"furniture","qty":1,"amount":2500},{"sku":"lamp","category":"lighting","qty":1,"amount":500}]'),
	('S1', 'A3', 3500, '[{"sku":"bed","category":"furniture","qty":1,"amount":3500}]'),
	('S1', 'A4', 4000, '[{"sku":"desk","category":"furniture","qty":1,"amount":4000}]');
SELECT pos_txn, card, member_id, points_earned FROM loyalty.sale ORDER BY sale_id;

-- ===== 2,999.99: refused, 0.01 missing; 3,000: the card is issued
SET ROLE regress_enrol_pos;
SELECT pg_temp.outcome($$SELECT loyalty.enroll_with_sale('4000000000000002', 'ikea', 'S1', 'A1')$$) AS at_2999_99;
-- base 3000 + sofa-x2 (2 - 1) x 2500 = 2500 + welcome 50 = 5550
SELECT * FROM loyalty.enroll_with_sale('4000000000000002', 'ikea', 'S1', 'A2');
-- a retry (the till did not get the answer): the same answer, nothing credited again
SELECT * FROM loyalty.enroll_with_sale('4000000000000002', 'ikea', 'S1', 'A2');
RESET ROLE;
SELECT count(*) AS entries, sum(points) AS points FROM loyalty.ledger WHERE member_id = 1;
SELECT b.net, b.lifetime_earned, b.sales, m.enrolled_at = s.occurred_at AS enrolled_at_the_sale
  FROM loyalty.member_balance b JOIN loyalty.member m USING (member_id), loyalty.sale s
 WHERE b.member_id = 1 AND s.pos_txn = 'A2';
-- the one ledger entry names the sale: sale_id, store, pos_txn, points by rule
SELECT l.kind, l.points, l.source, l.reason, l.sale_id = pg_temp.sid('A2') AS names_the_sale,
       l.store, l.pos_txn, l.rule_points, l.effective_at = s.occurred_at AS dated_at_the_sale
  FROM loyalty.ledger l, loyalty.sale s WHERE l.member_id = 1 AND s.pos_txn = 'A2';
SELECT sale_id = pg_temp.sid('A2') AS the_sale, entry_id, points,
       (SELECT array_agg(r->>'code' || ':' || (r->>'points')) FROM jsonb_array_elements(award->'rules') r) AS rules
  FROM loyalty.enrolment_sale;
-- the sale itself stays as it was recorded (sales are append-only)
SELECT card, member_id, points_earned, entry_id FROM loyalty.sale WHERE pos_txn = 'A2';
SELECT kind, payload->>'points' AS points, (payload->>'sale_id')::bigint = pg_temp.sid('A2') AS names_the_sale
  FROM loyalty.outbox;
-- the member's next sale is no first purchase any more: 100 points, no welcome
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S1', 'K1', '4000000000000002', 100, '[{"sku":"mug","category":"kitchen","qty":1,"amount":100}]')
RETURNING points_earned;

-- ===== what cannot enrol a card, and nothing written by any of it
SELECT loyalty.enroll(loyalty.card_issue('41', 1), 'ikea') AS plain_member;
SELECT loyalty.enroll(loyalty.card_issue('41', 2), 'other') AS other_program_member;
SELECT loyalty.enroll(loyalty.card_issue('41', 3), 'ikea') AS replaced_member;
SELECT loyalty.replace_card(loyalty.card_issue('41', 3), loyalty.card_issue('41', 4));
-- a member's sale; an anonymous sale returned in part, and its return; one made 3 days ago
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S1', 'B1', loyalty.card_issue('41', 1), 3000, '[{"sku":"sofa","category":"furniture","qty":1,"amount":3000}]');
INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES
	('S1', 'R1', 5000, '[{"sku":"sofa","qty":1,"amount":2000},{"sku":"bed","qty":1,"amount":3000}]');
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'R1-back', 2000, '[{"sku":"sofa","qty":1,"amount":2000}]', pg_temp.sid('R1'));
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines)
VALUES ('S1', 'OLD', now() - interval '3 days', 3000, '[{"sku":"sofa","qty":1,"amount":3000}]');
SELECT count(*) AS members_before FROM loyalty.member \gset
SELECT count(*) AS entries_before FROM loyalty.ledger \gset
SET ROLE regress_enrol_pos;
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('the sale, another card',     $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 9), 'ikea', 'S1', 'A2')$$),
  ('the card, another sale',     $$SELECT loyalty.enroll_with_sale('4000000000000002', 'ikea', 'S1', 'A3')$$),
  ('a card enrolled by enroll',  $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 1), 'ikea', 'S1', 'A3')$$),
  ('a card of another program',  $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 2), 'ikea', 'S1', 'A3')$$),
  ('a replaced card',            $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 3), 'ikea', 'S1', 'A3')$$),
  ('a member''s sale',           $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 9), 'ikea', 'S1', 'B1')$$),
  ('a return',                   $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 9), 'ikea', 'S1', 'R1-back')$$),
  ('a returned sale',            $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 9), 'ikea', 'S1', 'R1')$$),
  ('a sale 3 days old',          $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 9), 'ikea', 'S1', 'OLD')$$),
  ('no such sale',               $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 9), 'ikea', 'S1', 'nope')$$),
  ('no such sale at that store', $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 9), 'ikea', 'S2', 'A3')$$),
  ('no such program',            $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 9), 'nope', 'S1', 'A3')$$),
  ('two sales, one-sale program', $$SELECT loyalty.enroll_with_sales(loyalty.card_issue('41', 9), 'ikea', '{S1,S1}', '{A3,A4}')$$),
  ('no card',                    $$SELECT loyalty.enroll_with_sale(NULL, 'ikea', 'S1', 'A3')$$),
  ('no program',                 $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 9), NULL, 'S1', 'A3')$$),
  ('no store',                   $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 9), 'ikea', NULL, 'A3')$$),
  ('empty pos_txn',              $$SELECT loyalty.enroll_with_sale(loyalty.card_issue('41', 9), 'ikea', 'S1', '')$$)
) AS t(what, statement);
RESET ROLE;
SELECT count(*) - :members_before AS members_added, (SELECT count(*) FROM loyalty.ledger) - :entries_before AS entries_added
  FROM loyalty.member;

-- ===== receipts of the last 7 days add up (program week), named with enroll_with_sales
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines) VALUES
	('S1', 'W1', now() - interval '2 days', 1000, '[{"sku":"chair","qty":1,"amount":1000}]'),
	('S2', 'W2', now() - interval '1 day', 1500, '[{"sku":"table","qty":1,"amount":1500}]'),
	('S1', 'W3', now(), 600, '[{"sku":"rug","qty":1,"amount":600}]'),
	('S1', 'W4', now() - interval '10 days', 800, '[{"sku":"shelf","qty":1,"amount":800}]');
SET ROLE regress_enrol_pos;
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('1000 + 1500',                $$SELECT loyalty.enroll_with_sales(loyalty.card_issue('42', 1), 'week', '{S1,S2}', '{W1,W2}')$$),
  ('one of 10 days ago',         $$SELECT loyalty.enroll_with_sales(loyalty.card_issue('42', 1), 'week', '{S1,S2,S1}', '{W1,W2,W4}')$$),
  ('a receipt twice',            $$SELECT loyalty.enroll_with_sales(loyalty.card_issue('42', 1), 'week', '{S1,S1}', '{W1,W1}')$$),
  ('arrays of two lengths',      $$SELECT loyalty.enroll_with_sales(loyalty.card_issue('42', 1), 'week', '{S1,S2}', '{W1}')$$),
  ('no receipts',                $$SELECT loyalty.enroll_with_sales(loyalty.card_issue('42', 1), 'week', '{}', '{}')$$),
  ('a NULL pos_txn',             $$SELECT loyalty.enroll_with_sales(loyalty.card_issue('42', 1), 'week', '{S1}', '{NULL}')$$)
) AS t(what, statement);
-- 1000 + 1500 + 600 = 3100: enrolled; 3100 points (base only), pending 14 days
SELECT * FROM loyalty.enroll_with_sales(loyalty.card_issue('42', 1), 'week', '{S1,S2,S1}', '{W1,W2,W3}');
-- the same receipts in another order: a retry; a part of them is not
SELECT * FROM loyalty.enroll_with_sales(loyalty.card_issue('42', 1), 'week', '{S1,S1,S2}', '{W3,W1,W2}');
SELECT pg_temp.outcome($$SELECT loyalty.enroll_with_sales(loyalty.card_issue('42', 1), 'week', '{S1,S2}', '{W1,W2}')$$) AS part_of_them;
RESET ROLE;
SELECT l.points, l.reason = format('enrolment with sales %s, %s, %s', pg_temp.sid('W1'), pg_temp.sid('W2'), pg_temp.sid('W3')) AS names_them,
       l.sale_id = pg_temp.sid('W3') AS the_latest_sale, l.rule_points, l.pending_until = l.effective_at + interval '14 days' AS pending_14_days
  FROM loyalty.ledger l JOIN loyalty.member_card c USING (member_id) WHERE c.card = loyalty.card_issue('42', 1);
SELECT b.sales, m.enrolled_at = (SELECT occurred_at FROM loyalty.sale WHERE pos_txn = 'W1') AS enrolled_at_the_first
  FROM loyalty.member_balance b JOIN loyalty.member m USING (member_id) WHERE b.card = loyalty.card_issue('42', 1);
SELECT pos_txn, e.points FROM loyalty.enrolment_sale e JOIN loyalty.sale s USING (sale_id)
 WHERE e.member_id = (SELECT member_id FROM loyalty.member_card WHERE card = loyalty.card_issue('42', 1)) ORDER BY pos_txn;

-- ===== a tiered program: the sale earns at the base tier it is made in (x1.5
-- here), then counts for the tier as a member's sale does: its 3,000 reach gold
INSERT INTO loyalty.program (code, enroll_min_spend) VALUES ('tiered', 3000);
INSERT INTO loyalty.tier (program_id, code, rank, min_spend, earn_multiplier)
SELECT program_id, t.code, t.rank, t.min_spend, t.mult
  FROM loyalty.program, (VALUES ('base', 0, NULL::numeric, 1.5), ('gold', 1, 2000, 2)) AS t(code, rank, min_spend, mult)
 WHERE program.code = 'tiered';
INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'T1', 3000, '[{"sku":"sofa","qty":1,"amount":3000}]');
-- base 3000 + the base tier's (1.5 - 1) x 3000 = 1500: 4500, keyed as a sale's entry keys them
SELECT points, spend FROM loyalty.enroll_with_sale(loyalty.card_issue('44', 1), 'tiered', 'S1', 'T1');
SELECT rule_points FROM loyalty.ledger WHERE member_id = loyalty.member_id(loyalty.card_issue('44', 1));
SELECT loyalty.tier_of(loyalty.card_issue('44', 1)) AS tier_after,
       c.cause, c.sale_id = pg_temp.sid('T1') AS names_the_sale, mt.spend AS tier_spend
  FROM loyalty.tier_change c JOIN loyalty.member_tier mt USING (member_id)
 WHERE c.member_id = loyalty.member_id(loyalty.card_issue('44', 1));
-- the gold member's next sale earns double: 100 x 2 = 200
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S1', 'T2', loyalty.card_issue('44', 1), 100, '[{"sku":"mug","qty":1,"amount":100}]')
RETURNING points_earned, tier;

-- ===== no threshold: any anonymous sale enrols; a sale that earns nothing
-- enrols without a ledger entry
INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES
	('S1', 'O1', 10, '[{"sku":"pen","qty":1,"amount":10}]'),
	('S1', 'Z1', 10, '[{"sku":"pen","qty":1,"amount":10}]');
SELECT * FROM loyalty.enroll_with_sale(loyalty.card_issue('43', 1), 'open', 'S1', 'O1');
SELECT * FROM loyalty.enroll_with_sale(loyalty.card_issue('43', 2), 'zero', 'S1', 'Z1');
SELECT * FROM loyalty.enroll_with_sale(loyalty.card_issue('43', 2), 'zero', 'S1', 'Z1');
SELECT b.net, b.sales, e.entry_id FROM loyalty.member_balance b JOIN loyalty.enrolment_sale e USING (member_id)
 WHERE b.card = loyalty.card_issue('43', 2);

-- everything is consistent
SELECT count(*) AS enrolment_sales, count(DISTINCT member_id) AS members FROM loyalty.enrolment_sale;
SELECT * FROM loyalty.check_invariants();
DROP OWNED BY regress_enrol_pos;
DROP ROLE regress_enrol_pos;
