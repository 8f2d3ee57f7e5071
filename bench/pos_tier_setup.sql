-- The tiered program of the POS benchmark (bench/pos.sh, bench/plpgsql_alt.sh):
-- program 'tpos' (Europe/Paris, the same ten rules as 'pos'), a three-tier
-- rolling ladder, :members members (card serials 1..N with prefix 41,
-- member_id = :moff + serial) and two years of tier history.
--
-- psql variables: members, moff (member ids before them: 0 when alone),
-- history (sales of the seeded history), baselines (true: also the
-- trigger-less copies bt writes into; pos_setup.sql made the others).
CREATE EXTENSION IF NOT EXISTS loyalty;
INSERT INTO loyalty.store (store, time_zone)
SELECT 'S' || s, 'Europe/Paris' FROM generate_series(1, 20) s
ON CONFLICT DO NOTHING;
INSERT INTO loyalty.program (code, time_zone) VALUES ('tpos', 'Europe/Paris');

-- The ladder: a member qualifies by meeting any one threshold in the last
-- 365 days (rolling, the default window; downgrade to_qualified, no grace).
INSERT INTO loyalty.tier (program_id, code, name, rank, min_spend, min_visits, earn_multiplier, discount_pct)
SELECT p.program_id, t.*
  FROM loyalty.program p, (VALUES
	('base',   'Member', 0, NULL::numeric, NULL::integer, 1::numeric, 0::numeric),
	('silver', 'Silver', 1, 450,           5,             1.25,       2),
	('gold',   'Gold',   2, 900,           10,            1.5,        5)
  ) AS t(code, name, rank, min_spend, min_visits, earn_multiplier, discount_pct)
 WHERE p.code = 'tpos';
\set program tpos
\ir pos_rules.sql

-- Members written directly, as enroll() writes them (member, card, balance
-- row), enrolled three years ago: faster than :members enroll() calls.
INSERT INTO loyalty.member (member_id, program_id, enrolled_at)
SELECT :moff + s, p.program_id, now() - interval '3 years'
  FROM loyalty.program p, generate_series(1, :members) s WHERE p.code = 'tpos';
SELECT setval(pg_get_serial_sequence('loyalty.member', 'member_id'), :moff + :members);
INSERT INTO loyalty.member_card (card, member_id, issued_at)
SELECT loyalty.card_issue('41', s), :moff + s, now() - interval '3 years' FROM generate_series(1, :members) s;
INSERT INTO loyalty.member_balance (member_id, card, program_id)
SELECT :moff + s, loyalty.card_issue('41', s), p.program_id
  FROM loyalty.program p, generate_series(1, :members) s WHERE p.code = 'tpos';
SELECT count(*) = 0 AS tier_member_id_is_moff_plus_serial
  FROM generate_series(1, :members) s
 WHERE loyalty.member_id(loyalty.card_issue('41', s)) <> :moff + s;

-- Two years of tier history (tier_seed.sql), then one review as of now:
-- the state a program that reviews its members is in.
\set days 730
\set sales :history
\ir tier_seed.sql
DROP TABLE bench_tier_sale;
SELECT members_checked AS seed_review_checked, upgraded AS seed_review_upgraded, downgraded AS seed_review_downgraded
  FROM loyalty.review_tiers(now());
-- members per tier, and how many one more average sale (91.50, a visit
-- day) would move up
SELECT count(*) FILTER (WHERE t.rank = 0) AS base, count(*) FILTER (WHERE t.rank = 1) AS silver,
	   count(*) FILTER (WHERE t.rank = 2) AS gold, :members - count(*) AS no_sale_yet,
	   count(*) FILTER (WHERE n.rank IS NOT NULL AND (mt.spend + 91.50 >= n.min_spend OR mt.visits + 1 >= n.min_visits))
		 AS within_one_sale_of_next
  FROM loyalty.member_tier mt JOIN loyalty.tier t USING (tier_id)
  LEFT JOIN loyalty.tier n ON n.program_id = t.program_id AND n.rank = t.rank + 1
 WHERE mt.member_id > :moff AND mt.member_id <= :moff + :members;

\if :baselines
-- (bt) the tier rows a tiered sale writes, copied for the trigger-less
-- baseline: bench_tier_day and bench_member_tier (same columns, indexes and
-- foreign keys as the originals), starting from the same state; the other
-- copies get the new members' balance rows.
CREATE TABLE bench_tier_day (LIKE loyalty.tier_day INCLUDING ALL);
CREATE TABLE bench_member_tier (LIKE loyalty.member_tier INCLUDING ALL);
ALTER TABLE bench_member_tier ADD FOREIGN KEY (member_id) REFERENCES loyalty.member;
ALTER TABLE bench_member_tier ADD FOREIGN KEY (tier_id) REFERENCES loyalty.tier;
ALTER TABLE bench_member_tier ADD FOREIGN KEY (override_tier_id) REFERENCES loyalty.tier;
INSERT INTO bench_tier_day SELECT * FROM loyalty.tier_day WHERE member_id > :moff;
INSERT INTO bench_member_tier SELECT * FROM loyalty.member_tier WHERE member_id > :moff;
INSERT INTO bench_balance SELECT * FROM loyalty.member_balance WHERE member_id > :moff;
\endif
VACUUM ANALYZE;
