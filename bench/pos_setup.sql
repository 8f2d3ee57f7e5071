-- POS benchmark data (bench/pos.sh): one program with ten active earning
-- rules, :members enrolled members (card serials 1..N, member_id = serial),
-- twenty stores, and the trigger-less copies the baselines write into.
CREATE EXTENSION loyalty;
INSERT INTO loyalty.program (code, time_zone) VALUES ('pos', 'Europe/Paris');
INSERT INTO loyalty.store (store, time_zone)
SELECT 'S' || s, 'Europe/Paris' FROM generate_series(1, 20) s;
-- enrolled two years ago: the back-fill dates sales up to a year back, and
-- no sale is dated before its member's enrolment
SELECT count(loyalty.enroll(loyalty.card_issue('40', s), 'pos', enrolled_at => now() - interval '2 years')) AS enrolled
  FROM generate_series(1, :members) s;
-- the baselines write member_id = card serial without a lookup
SELECT count(*) = 0 AS member_id_is_serial
  FROM generate_series(1, :members) s
 WHERE loyalty.member_id(loyalty.card_issue('40', s)) <> s;

-- Ten active rules, one of each shape the engine has (pos_rules.sql).
\set program pos
\ir pos_rules.sql
SELECT count(*) AS active_rules, string_agg(kind, ' ' ORDER BY rule_id) AS kinds
  FROM loyalty.rule r JOIN loyalty.program p USING (program_id) WHERE r.active AND p.code = 'pos';

-- (a) bench_sale: the columns, defaults, CHECKs, primary key, unique and
-- partial/expression indexes of loyalty.sale (LIKE ... INCLUDING ALL), no
-- trigger; its award column defaults to a real award of the same rules, so
-- its rows are as wide as the trigger's.  bench_backfill: the same, empty,
-- for the back-fill.
CREATE TABLE bench_sale (LIKE loyalty.sale INCLUDING ALL);
CREATE TABLE bench_backfill (LIKE loyalty.sale INCLUDING ALL);
SELECT (SELECT count(*) FROM pg_index WHERE indrelid = 'bench_sale'::regclass) AS copy_indexes,
       (SELECT count(*) FROM pg_index WHERE indrelid = 'loyalty.sale'::regclass) AS sale_indexes,
       (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'bench_sale'::regclass) AS copy_triggers;
SELECT award AS sample_award FROM loyalty.quote(loyalty.card_issue('40', 1),
	'[{"sku": "SKU1", "category": "baby", "qty": 1, "amount": 31.50},
	  {"sku": "SKU2", "category": "food", "qty": 1, "amount": 42.10},
	  {"sku": "SKU3", "category": "home", "qty": 1, "amount": 12.99}]', 86.59, 'S1') \gset
ALTER TABLE bench_sale ALTER award SET DEFAULT :'sample_award';
ALTER TABLE bench_backfill ALTER award SET DEFAULT :'sample_award';

-- (b) the other tables a sale writes, copied the same way, with the member
-- foreign keys of the originals; bench_balance starts as a copy of
-- member_balance, bench_rule_spend as the budget's slots.
CREATE TABLE bench_ledger (LIKE loyalty.ledger INCLUDING ALL);
CREATE TABLE bench_lot (LIKE loyalty.lot INCLUDING ALL);
CREATE TABLE bench_balance (LIKE loyalty.member_balance INCLUDING ALL);
CREATE TABLE bench_outbox (LIKE loyalty.outbox INCLUDING ALL);
-- the budgeted rule's eight slots (0.3.0 budget shares): a sale that fires
-- 'launch' adds its points to one of them
CREATE TABLE bench_rule_spend (LIKE loyalty.rule_spend INCLUDING ALL);
INSERT INTO bench_rule_spend (rule_id, slot, share, split_of)
SELECT r.rule_id, s, r.budget_points / 8, r.budget_points
  FROM loyalty.rule r, generate_series(0, 7) s WHERE r.code = 'launch';
ALTER TABLE bench_ledger ADD FOREIGN KEY (member_id) REFERENCES loyalty.member;
ALTER TABLE bench_lot ADD FOREIGN KEY (member_id) REFERENCES loyalty.member;
ALTER TABLE bench_balance ADD FOREIGN KEY (member_id) REFERENCES loyalty.member;
INSERT INTO bench_balance SELECT * FROM loyalty.member_balance;
VACUUM ANALYZE;
