-- How a capture writes the hold's close: without SQL (writer.c) by the tid
-- the hold was read at, a HOT update since no index of loyalty.hold has a
-- column the close changes; through SQL when the table has a trigger of a
-- DBA's, which then fires.  Either way the row returned is the row stored.
-- And the balance's held (AddHeld) and authorize's hold row written both ways.
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;

INSERT INTO loyalty.program (code) VALUES ('w');
SELECT loyalty.enroll(loyalty.card_issue('42', 1), 'w') IS NOT NULL AS enrolled;
SELECT points FROM loyalty.earn(loyalty.card_issue('42', 1), 100, 'fund');

-- the indexes of loyalty.hold: none has status (or any column a close sets)
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) LIKE '%status%' AS has_status
  FROM pg_index WHERE indrelid = 'loyalty.hold'::regclass ORDER BY 1::text;

-- a capture in one transaction: one update of loyalty.hold, a HOT one
BEGIN;
SELECT points, status FROM loyalty.authorize(loyalty.card_issue('42', 1), 30, 'S1', 'T1');
SELECT points, status, captured, captured_value, closed_at IS NOT NULL AS closed, redemption_id AS r
  FROM loyalty.capture((SELECT hold_id FROM loyalty.hold WHERE pos_txn = 'T1'), 20) \gset
SELECT :points AS points, :'status' AS status, :captured AS captured, :captured_value AS captured_value,
       :'closed' AS closed, e.points AS entry_points
  FROM loyalty.ledger e WHERE e.entry_id = :r AND e.kind = 'redeem' AND e.pos_txn = 'T1';
SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables
 WHERE relid = 'loyalty.hold'::regclass;
COMMIT;
-- the row stored is the row returned; 100 - 20 captured = 80, nothing held
SELECT points, status, captured, captured_value, closed_at IS NOT NULL AS closed
  FROM loyalty.hold WHERE pos_txn = 'T1';
SELECT available, held, lifetime_redeemed FROM loyalty.balance(loyalty.card_issue('42', 1));
-- a retry returns the same row
SELECT points, status, captured FROM loyalty.capture((SELECT hold_id FROM loyalty.hold WHERE pos_txn = 'T1'), 20);

-- a DBA's triggers on the hold and on the balance: both written through SQL,
-- the triggers fire (a notice each), the outcome is the same
CREATE FUNCTION pg_temp.audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE 'audit: % of loyalty.%', TG_OP, TG_TABLE_NAME;
	RETURN NEW;
END $$;
CREATE TRIGGER audit AFTER UPDATE ON loyalty.hold FOR EACH ROW EXECUTE FUNCTION pg_temp.audit();
CREATE TRIGGER audit AFTER UPDATE ON loyalty.member_balance FOR EACH ROW EXECUTE FUNCTION pg_temp.audit();
SELECT points, status FROM loyalty.authorize(loyalty.card_issue('42', 1), 30, 'S1', 'T2');
SELECT points, status, captured, captured_value FROM loyalty.capture((SELECT hold_id FROM loyalty.hold WHERE pos_txn = 'T2'));
SELECT points, status, captured FROM loyalty.hold WHERE pos_txn = 'T2';
-- 80 - 30 = 50
SELECT available, held, lifetime_redeemed FROM loyalty.balance(loyalty.card_issue('42', 1));
DROP TRIGGER audit ON loyalty.hold;
DROP TRIGGER audit ON loyalty.member_balance;

-- a DBA's trigger on the ledger that updates the hold while the capture runs
-- (after the capture read it): the capture closes the hold through SQL, not
-- by the tid it read (review finding capture_tid_after_trigger: internal
-- error "attempted to update invisible tuple")
CREATE FUNCTION pg_temp.touch_hold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE loyalty.hold SET lot_ids = lot_ids
	 WHERE store = NEW.store AND pos_txn = NEW.pos_txn AND status = 'open';
	RETURN NEW;
END $$;
CREATE TRIGGER touch_hold AFTER INSERT ON loyalty.ledger FOR EACH ROW EXECUTE FUNCTION pg_temp.touch_hold();
SELECT points, status FROM loyalty.authorize(loyalty.card_issue('42', 1), 10, 'S1', 'T3');
SELECT points, status, captured FROM loyalty.capture((SELECT hold_id FROM loyalty.hold WHERE pos_txn = 'T3'));	-- 10 captured 10
DROP TRIGGER touch_hold ON loyalty.ledger;

-- authorize writes its hold without SQL, expires_at = authorized_at + the
-- program's hold_minutes as of the last committed change; a DBA's INSERT
-- trigger on the hold makes it go through SQL (a notice), with the same row
UPDATE loyalty.program SET hold_minutes = 7 WHERE code = 'w';
SELECT points, status, expires_at - authorized_at AS lasts, taken
  FROM loyalty.authorize(loyalty.card_issue('42', 1), 5, 'S1', 'T4');
CREATE TRIGGER audit_insert AFTER INSERT ON loyalty.hold FOR EACH ROW EXECUTE FUNCTION pg_temp.audit();
SELECT points, status, expires_at - authorized_at AS lasts, taken
  FROM loyalty.authorize(loyalty.card_issue('42', 1), 5, 'S1', 'T5');
DROP TRIGGER audit_insert ON loyalty.hold;
UPDATE loyalty.program SET hold_minutes = 30 WHERE code = 'w';
SELECT points, status, expires_at - authorized_at AS lasts, taken
  FROM loyalty.authorize(loyalty.card_issue('42', 1), 5, 'S1', 'T6');
-- the rows stored are the rows returned; 50 - 10 (T3) = 40, 15 of it held: 25 available
SELECT pos_txn, points, status, expires_at - authorized_at AS lasts, taken, closed_at IS NULL AS not_closed
  FROM loyalty.hold WHERE pos_txn IN ('T4', 'T5', 'T6') ORDER BY pos_txn;
SELECT available, held FROM loyalty.balance(loyalty.card_issue('42', 1));

-- an error in the middle of the hold's speculative insertion (here a DBA's
-- unique index; in life a hold_id drawn twice) gives its token lock back
-- with the subtransaction that fails, as the executor's insertion does
CREATE UNIQUE INDEX hold_dba_once ON loyalty.hold (member_id, points) WHERE points = 3;
BEGIN;
SELECT points, status FROM loyalty.authorize(loyalty.card_issue('42', 1), 3, 'S1', 'T7');
SAVEPOINT again;
SELECT points, status FROM loyalty.authorize(loyalty.card_issue('42', 1), 3, 'S1', 'T8');	-- 23505
ROLLBACK TO SAVEPOINT again;
SELECT count(*) AS token_locks FROM pg_locks WHERE locktype = 'spectoken' AND pid = pg_backend_pid();	-- 0
COMMIT;
DROP INDEX loyalty.hold_dba_once;
-- T7 held, T8 not: 25 - 3 = 22 available, 18 held
SELECT available, held FROM loyalty.balance(loyalty.card_issue('42', 1));

-- a DBA's rule on the hold: the hold goes in through SQL, where the rule
-- applies (and ON CONFLICT refuses a table with rules: 0A000), not around it
CREATE RULE hold_also AS ON INSERT TO loyalty.hold DO ALSO NOTIFY hold_inserted;
SELECT points, status FROM loyalty.authorize(loyalty.card_issue('42', 1), 2, 'S1', 'T9');	-- 0A000
DROP RULE hold_also ON loyalty.hold;
SELECT count(*) AS t9 FROM loyalty.hold WHERE pos_txn = 'T9';	-- 0

-- a column a DBA added to loyalty.hold and dropped again: every answer, the
-- new hold (without SQL), its retry and a void (through SQL) alike, is the
-- table's row type, dropped column and all (review finding: the retry was
-- 42804, "function return row and query-specified return row do not match")
ALTER TABLE loyalty.hold ADD COLUMN note text;
ALTER TABLE loyalty.hold DROP COLUMN note;
SELECT points, status FROM loyalty.authorize(loyalty.card_issue('42', 1), 4, 'S1', 'T10');
SELECT points, status FROM loyalty.authorize(loyalty.card_issue('42', 1), 4, 'S1', 'T10');	-- the retry
SELECT points, status FROM loyalty.void((SELECT hold_id FROM loyalty.hold WHERE pos_txn = 'T10'));
SELECT points, status FROM loyalty.void((SELECT hold_id FROM loyalty.hold WHERE pos_txn = 'T10'));	-- a retry

-- the holds a posting reads: the first open_holds open ones from the latest
-- expiry back (hold_member_expires_idx), never the member's closed holds
-- from before its oldest open one.  300 voided holds, then one open: a
-- redeem, a debit that may take held points (adjust), balance(),
-- sweep_holds() and the capture each read a few hold rows (under 30); a
-- plan that finds the open holds by member_id and status reads all 301
SELECT loyalty.enroll(loyalty.card_issue('42', 2), 'w') IS NOT NULL AS enrolled;
SELECT points FROM loyalty.earn(loyalty.card_issue('42', 2), 10000, 'fund2');
SELECT count(loyalty.void((loyalty.authorize(loyalty.card_issue('42', 2), 1, 'S2', 'v' || i)).hold_id))
  FROM generate_series(1, 300) i;									-- 300
SELECT hold_id AS open2 FROM loyalty.authorize(loyalty.card_issue('42', 2), 5, 'S2', 'open2') \gset
ANALYZE loyalty.hold;
-- hold rows read: by a sequential scan (returned) or a bitmap scan
-- (fetched) of the table, or through one of its indexes (fetched)
CREATE FUNCTION pg_temp.hold_rows_read() RETURNS bigint LANGUAGE sql AS $$
	SELECT pg_stat_get_xact_tuples_returned('loyalty.hold'::regclass) + pg_stat_get_xact_tuples_fetched('loyalty.hold'::regclass)
		   + (SELECT sum(pg_stat_get_xact_tuples_fetched(i.indexrelid)) FROM pg_index i WHERE i.indrelid = 'loyalty.hold'::regclass)
$$;
BEGIN;
SELECT pg_temp.hold_rows_read() AS r0 \gset
SELECT points FROM loyalty.redeem(loyalty.card_issue('42', 2), 10, 'S2', 'r2');		-- 10
SELECT pg_temp.hold_rows_read() AS r1 \gset
SELECT points FROM loyalty.adjust(loyalty.card_issue('42', 2), -10, 'j2', 'correction');	-- -10
SELECT pg_temp.hold_rows_read() AS r2 \gset
SELECT available, held FROM loyalty.balance(loyalty.card_issue('42', 2));			-- 9975, 5
SELECT pg_temp.hold_rows_read() AS r3 \gset
SELECT holds FROM loyalty.sweep_holds();											-- 0
SELECT pg_temp.hold_rows_read() AS r4 \gset
SELECT points, status FROM loyalty.capture(:open2);									-- 5 captured
SELECT pg_temp.hold_rows_read() AS r5 \gset
COMMIT;
SELECT :r1 - :r0 < 30 AS redeem_reads_few, :r2 - :r1 < 30 AS adjust_reads_few, :r3 - :r2 < 30 AS balance_reads_few,
       :r4 - :r3 < 30 AS sweep_reads_few, :r5 - :r4 < 30 AS capture_reads_few;

-- balance() of a member with an open hold leaves loyalty.hold closed: DDL
-- later in the same transaction works (review finding: "cannot ALTER TABLE
-- "hold" because it is being used by active queries in this session")
SELECT hold_id AS open3 FROM loyalty.authorize(loyalty.card_issue('42', 2), 7, 'S2', 'open3') \gset
BEGIN;
SELECT available, held FROM loyalty.balance(loyalty.card_issue('42', 2));			-- 9968, 7
ALTER TABLE loyalty.hold ADD COLUMN note text;
ROLLBACK;
-- an index the extension reads without SQL, dropped by a DBA: a clear error
-- (42P01, with a hint), not an internal one
BEGIN;
DROP INDEX loyalty.hold_member_expires_idx;
DO $$
DECLARE st text; msg text; hint text;
BEGIN
	PERFORM loyalty.balance(loyalty.card_issue('42', 2));
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	RAISE NOTICE '% % (%)', st, msg, hint;
END $$;
ROLLBACK;
-- the rows open_holds_of() gives balance() have every column of the table,
-- a default of a column added after the row was written included (review
-- finding: NULL in a NOT NULL column)
BEGIN;
ALTER TABLE loyalty.hold ADD COLUMN note text NOT NULL DEFAULT 'dflt';
SELECT hold_id = :open3 AS is_open3, points, note
  FROM loyalty.open_holds_of((SELECT member_id FROM loyalty.hold WHERE hold_id = :open3), 1);	-- t, 7, dflt
ROLLBACK;

-- the walk stops after exactly open_holds open holds, and not before: two
-- open holds with closed ones between them (A oldest, C latest); every call
-- must reach A past the voided ones
SELECT loyalty.enroll(loyalty.card_issue('42', 3), 'w') IS NOT NULL AS enrolled;
SELECT points FROM loyalty.earn(loyalty.card_issue('42', 3), 100, 'fund3');
SELECT points FROM loyalty.authorize(loyalty.card_issue('42', 3), 10, 'S3', 'A');		-- 10
SELECT count(loyalty.void((loyalty.authorize(loyalty.card_issue('42', 3), 1, 'S3', 'w' || i)).hold_id))
  FROM generate_series(1, 5) i;														-- 5
SELECT points FROM loyalty.authorize(loyalty.card_issue('42', 3), 20, 'S3', 'C');		-- 20
SELECT open_holds, held FROM loyalty.member_balance b
 WHERE member_id = (SELECT member_id FROM loyalty.hold WHERE pos_txn = 'A');		-- 2, 30
SELECT available, held FROM loyalty.balance(loyalty.card_issue('42', 3));			-- 70, 30
-- A lapses (its expiry, the earliest, now past): balance counts it released,
-- the next redeem releases it for real
UPDATE loyalty.hold SET expires_at = now() - interval '1 minute' WHERE pos_txn = 'A';
SELECT available, held FROM loyalty.balance(loyalty.card_issue('42', 3));			-- 80, 20
SELECT points FROM loyalty.redeem(loyalty.card_issue('42', 3), 1, 'S3', 'r3');		-- 1
SELECT pos_txn, status, taken FROM loyalty.hold WHERE pos_txn IN ('A', 'C') ORDER BY 1;	-- A expired, C open
-- a debit that cannot be refused takes the 79 own points, then 16 of C's
SELECT points, shortfall FROM loyalty.adjust(loyalty.card_issue('42', 3), -95, 'j3', 'correction');	-- -95, 0
SELECT pos_txn, status, taken FROM loyalty.hold WHERE pos_txn = 'C';				-- C open, taken 16
SELECT available, held FROM loyalty.balance(loyalty.card_issue('42', 3));			-- 0, 4

SELECT count(*) AS broken FROM loyalty.check_invariants();
