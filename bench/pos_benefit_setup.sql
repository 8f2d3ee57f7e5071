-- The tiered program's one benefit (bench/pos.sh with BENCH_BENEFIT=N, the
-- script stb): a coffee for every member (tier_id NULL), every day of the
-- week (a run on a Saturday must not refuse it), a daily cap no run reaches
-- (1000): the cap is read and counted, never hit, so no pgbench transaction
-- fails on a refusal.
INSERT INTO loyalty.benefit (program_id, code, name, tier_id, per_day)
SELECT p.program_id, 'coffee', 'Free coffee', NULL, 1000
  FROM loyalty.program p WHERE p.code = 'tpos';
SELECT count(*) AS benefits FROM loyalty.benefit;
