-- Crash paths (0.5.0): tables a DBA widened or changed, data the extension
-- did not write.  Runs in a database of its own, where the extension is
-- installed at 0.1.0 and updated, as a DBA's would have been.
\pset null '(null)'
\set SHOW_CONTEXT never
\set origdb :DBNAME
CREATE DATABASE loyalty_crash_paths;
\c loyalty_crash_paths
CREATE EXTENSION loyalty VERSION '0.1.0';

-- Runs a statement and shows its SQLSTATE and message (or that it worked).
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
-- Adds 70 integer columns dba_1 .. dba_70 (DEFAULT their number) to a table.
CREATE FUNCTION pg_temp.widen(tab regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..70 LOOP
		EXECUTE format('ALTER TABLE %s ADD COLUMN dba_%s integer DEFAULT %s', tab, i, i);
	END LOOP;
END
$$;

-- 1. More than 64 columns.  A DBA adds 70 columns to the tables of 0.1.0,
-- updates to 0.2.0, adds 70 to its new tables, and updates to 0.5.0: the
-- columns the updates add (member_balance.program_id and sales, ledger.sale_id
-- and rule_points, rule_spend.slot, share and split_of) come after the DBA's.
SELECT pg_temp.widen('loyalty.member_balance'), pg_temp.widen('loyalty.ledger'),
	   pg_temp.widen('loyalty.lot');
ALTER EXTENSION loyalty UPDATE TO '0.2.0';
SELECT pg_temp.widen('loyalty.rule_spend'), pg_temp.widen('loyalty.outbox'),
	   pg_temp.widen('loyalty.member_rule_use');
ALTER EXTENSION loyalty UPDATE;
SELECT attrelid::regclass AS "table", attname, attnum
  FROM pg_attribute
 WHERE attrelid IN ('loyalty.member_balance'::regclass, 'loyalty.ledger'::regclass,
					'loyalty.rule_spend'::regclass)
   AND attname IN ('program_id', 'sales', 'sale_id', 'rule_points', 'slot', 'share', 'split_of')
 ORDER BY 1, 3;

-- A program whose points expire after a year; two members; a bonus of 5 on
-- a basket of at least 50 with a budget of 12 (5, 5, then the last 2), and a
-- member cap of 2 uses.
INSERT INTO loyalty.program (code, expiry_after) VALUES ('wide', '1 year');
SELECT loyalty.enroll(loyalty.card_issue('40', 1), 'wide') AS member_1,
	   loyalty.enroll(loyalty.card_issue('40', 2), 'wide') AS member_2;
INSERT INTO loyalty.rule (program_id, code, kind, points, min_basket, budget_points, member_max_uses)
SELECT program_id, 'bonus5', 'bonus', 5, 50, 12, 2 FROM loyalty.program WHERE code = 'wide';

-- sales in one statement (balances written at its end), one by one, a sale
-- that earns nothing
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'T1', loyalty.card_issue('40', 1), 100.00, '[{"sku":"A1","qty":2,"amount":100.00}]'),
	   ('S01', 'T2', loyalty.card_issue('40', 2), 60.00, '[{"sku":"B1","qty":1,"amount":60.00}]')
RETURNING sale_id, pos_txn, points_earned;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'T3', loyalty.card_issue('40', 1), 80.00, '[{"sku":"C1","qty":1,"amount":80.00}]')
RETURNING sale_id, pos_txn, points_earned;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'T4', loyalty.card_issue('40', 2), 0.00, '[{"sku":"D1","qty":1,"amount":0.00}]')
RETURNING sale_id, pos_txn, points_earned;
-- earn (one back-dated by two years: its lot has expired), redeem, a return
SELECT entry_id, kind, points FROM loyalty.earn(loyalty.card_issue('40', 1), 30, 'e1');
SELECT kind, points, expires_at < now() AS expired
  FROM loyalty.earn(loyalty.card_issue('40', 2), 7, 'e2', 'old', now() - interval '2 years');
SELECT points FROM loyalty.redeem(loyalty.card_issue('40', 1), 40, 'S01', 'R1');
INSERT INTO loyalty.sale (store, pos_txn, return_of, total, lines)
VALUES ('S01', 'RT1', 1, 50.00, '[{"sku":"A1","qty":1,"amount":50.00}]')
RETURNING return_of, points_earned, award->'due' AS due;
SELECT * FROM loyalty.expire_points();
-- 1: 100 + 5 + 80 + 2 (what the budget had left) + 30 - 40 - 50 = 127;
-- 2: 60 + 5 + 7 - 7 = 65; two sales each
SELECT member_id, net, lifetime_earned, lifetime_redeemed, reversed, expired, sales,
	   last_entry_id IS NOT NULL AS has_last, dba_1, dba_70
  FROM loyalty.member_balance ORDER BY member_id;
SELECT sum(points) AS spent, sum(uses) AS uses, min(dba_70) AS dba_70 FROM loyalty.rule_spend;
SELECT count(*) AS rows, min(dba_1) AS dba_1, max(dba_70) AS dba_70 FROM loyalty.ledger;
SELECT count(*) AS rows, min(dba_1) AS dba_1, max(dba_70) AS dba_70 FROM loyalty.lot;
SELECT count(*) AS rows, min(dba_70) AS dba_70 FROM loyalty.outbox;
SELECT * FROM loyalty.check_invariants();

-- 2. A column the extension needs, renamed by a DBA: LY070 naming it, not
-- a crash or an internal error.
BEGIN;
ALTER TABLE loyalty.member_balance RENAME COLUMN last_entry_id TO last_entry;
SELECT 'a sale' AS what, pg_temp.outcome($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S01', 'T5', loyalty.card_issue('40', 1), 10.00, '[{"sku":"A1","qty":1,"amount":10.00}]')$$);
ROLLBACK;
BEGIN;
ALTER TABLE loyalty.sale RENAME COLUMN points_pending TO pending;
SELECT 'an anonymous sale' AS what, pg_temp.outcome($$INSERT INTO loyalty.sale (store, pos_txn, total, lines)
	VALUES ('S01', 'T6', 10.00, '[{"sku":"A1","qty":1,"amount":10.00}]')$$);
ROLLBACK;
BEGIN;
ALTER TABLE loyalty.rule_spend RENAME COLUMN split_of TO split_from;
SELECT 'a sale with a budgeted bonus' AS what, pg_temp.outcome($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S01', 'T7', loyalty.card_issue('40', 2), 60.00, '[{"sku":"A1","qty":1,"amount":60.00}]')$$);
ROLLBACK;

-- 3. A member whose balance row a DBA deleted, with a lapsed lot:
-- expire_points() says so instead of reading a row that is not there.
SELECT kind, points FROM loyalty.earn(loyalty.card_issue('40', 2), 3, 'e3', 'old', now() - interval '2 years');
BEGIN;
DELETE FROM loyalty.member_balance WHERE member_id = 2;
SELECT pg_temp.outcome('SELECT loyalty.expire_points()');
ROLLBACK;

-- 4. A return of a sale whose award the trigger did not write (a row copied
-- in with its award, as pg_restore does, but made up): LY071, not a crash.
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, member_id, points_earned, entry_id, award)
VALUES ('S01', 'M1', loyalty.card_issue('40', 1), 10.00, '[{"sku":"A1","qty":1,"amount":10.00}]',
		1, 10, 1, '{"points": 10, "rules": [{"fired": true, "lines": [0]}]}'),
	   ('S01', 'M2', loyalty.card_issue('40', 1), 10.00, '[{"sku":"A1","qty":1,"amount":10.00}]',
		1, 10, 1, '{"points": 10, "rules": [{"fired": true, "points": 10, "lines": [0, 1]}]}'),
	   ('S01', 'M3', loyalty.card_issue('40', 1), 10.00, '[{"sku":"A1","qty":1,"amount":10.00}]',
		1, 10, 1, '{"points": 10, "rules": [{"fired": true, "points": 10, "lines": [0], "line_points": []}]}'),
	   ('S01', 'M4', loyalty.card_issue('40', 1), 10.00, '[{"sku":"A1","qty":1,"amount":10.00}]',
		1, 10, 1, '{"points": 10, "rules": [7]}');
SELECT s.pos_txn, pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, return_of, total, lines)
	VALUES ('S01', 'R%s', %s, 10.00, '[{"sku":"A1","qty":1,"amount":10.00}]')$$, s.pos_txn, s.sale_id))
  FROM loyalty.sale s WHERE s.pos_txn LIKE 'M%' ORDER BY s.pos_txn;
SELECT * FROM loyalty.check_invariants();

\c :origdb
DROP DATABASE loyalty_crash_paths;
