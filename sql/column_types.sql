--
-- A column whose type a DBA changed (ALTER COLUMN ... TYPE)
-- is LY070, not a datum of another representation read or written by the C
-- code (before: a segfault of the backend, or a corrupt outbox row).
-- Runs in a database of its own.
--
\set SHOW_CONTEXT never
\set origdb :DBNAME
CREATE DATABASE loyalty_column_types;
\c loyalty_column_types
CREATE EXTENSION loyalty;
CREATE FUNCTION public.column_types_outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
INSERT INTO loyalty.program (code) VALUES ('rev');
SELECT loyalty.enroll(loyalty.card_issue('55', 1), 'rev') > 0 AS enrolled;

-- each change in a transaction of its own, rolled back
BEGIN;
ALTER TABLE loyalty.sale ALTER COLUMN points_earned TYPE numeric;
SELECT public.column_types_outcome($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S', 'T1', loyalty.card_issue('55', 1), 5, '[{"sku":"A","qty":1,"amount":5}]')$$);
ROLLBACK;
BEGIN;
ALTER TABLE loyalty.sale ALTER COLUMN total TYPE float8;
SELECT public.column_types_outcome($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S', 'T2', loyalty.card_issue('55', 1), 5, '[{"sku":"A","qty":1,"amount":5}]')$$);
ROLLBACK;
BEGIN;
ALTER TABLE loyalty.ledger ALTER COLUMN points TYPE numeric;
SELECT public.column_types_outcome($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S', 'T3', loyalty.card_issue('55', 1), 5, '[{"sku":"A","qty":1,"amount":5}]')$$);
ROLLBACK;
BEGIN;
ALTER TABLE loyalty.outbox ALTER COLUMN payload TYPE json;
SELECT public.column_types_outcome($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S', 'T4', loyalty.card_issue('55', 1), 5, '[{"sku":"A","qty":1,"amount":5}]')$$);
SELECT count(*) AS corrupt_outbox_rows FROM loyalty.outbox;
ROLLBACK;
-- a column the rules cache reads (in a new session: the cache is loaded afresh)
\c loyalty_column_types
BEGIN;
ALTER TABLE loyalty.program ALTER COLUMN points_per_unit TYPE float8;
SELECT public.column_types_outcome($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S', 'T7', loyalty.card_issue('55', 1), 5, '[{"sku":"A","qty":1,"amount":5}]')$$);
ROLLBACK;
-- a binary-compatible change (text to varchar) is accepted
BEGIN;
ALTER TABLE loyalty.ledger ALTER COLUMN reason TYPE varchar(500);
SELECT public.column_types_outcome($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S', 'T5', loyalty.card_issue('55', 1), 5, '[{"sku":"A","qty":1,"amount":5}]')$$);
ROLLBACK;
-- and with the types given back, sales work again in the same session
SELECT public.column_types_outcome($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S', 'T6', loyalty.card_issue('55', 1), 5, '[{"sku":"A","qty":1,"amount":5}]')$$);
SELECT pos_txn, points_earned FROM loyalty.sale ORDER BY sale_id;
SELECT * FROM loyalty.check_invariants();

\c :origdb
DROP DATABASE loyalty_column_types;
