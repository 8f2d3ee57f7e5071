-- Benchmark data: one program, :members enrolled members (card serials 1..N),
-- each funded with :fund points so redemptions never run dry, and the
-- baseline table shaped like loyalty.ledger.
CREATE EXTENSION loyalty;
INSERT INTO loyalty.program (code) VALUES ('bench');
SELECT count(loyalty.enroll(loyalty.card_issue('40', s), 'bench')) AS enrolled
  FROM generate_series(1, :members) s;
SELECT count(loyalty.earn(loyalty.card_issue('40', s), :fund, 'fund')) AS funded
  FROM generate_series(1, :members) s;

-- Same columns, defaults, CHECK constraints, primary key, unique and partial
-- indexes and member foreign key as loyalty.ledger; its own entry_id
-- sequence; no trigger (the ledger's triggers fire on UPDATE/DELETE/TRUNCATE
-- only, so they would cost an INSERT nothing anyway).
CREATE SEQUENCE bench_ledger_entry_id_seq;
CREATE TABLE bench_ledger (LIKE loyalty.ledger INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
ALTER TABLE bench_ledger
	ALTER entry_id SET DEFAULT nextval('bench_ledger_entry_id_seq'),
	ADD FOREIGN KEY (member_id) REFERENCES loyalty.member;
SELECT (SELECT count(*) FROM pg_index WHERE indrelid = 'bench_ledger'::regclass) AS baseline_indexes,
       (SELECT count(*) FROM pg_index WHERE indrelid = 'loyalty.ledger'::regclass) AS ledger_indexes;
VACUUM ANALYZE;
