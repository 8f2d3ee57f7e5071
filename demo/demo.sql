-- The loyalty demo.  Runs on a throwaway cluster (see demo.sh).
\pset footer off
\set SHOW_CONTEXT never
CREATE EXTENSION loyalty;

\echo
\echo '== 1. A DBA configures a program and its earning rules with plain SQL rows'
INSERT INTO loyalty.program (code, name, currency, point_value, expiry_after, expiry_rounding, pending_days, time_zone)
VALUES ('baby', 'Little Ones Club', 'EUR', 0.01, '12 months', 'month', 14, 'Europe/Berlin');
INSERT INTO loyalty.rule (program_id, code, kind, categories, description)
VALUES (1, 'no-tobacco', 'exclude', '{tobacco,giftcard}', 'tobacco and gift cards earn nothing');
INSERT INTO loyalty.rule (program_id, code, kind, categories, multiplier, description)
VALUES (1, 'formula-x7', 'multiplier', '{formula}', 7, 'formula returns about 7% of spend as points');
INSERT INTO loyalty.rule (program_id, code, kind, min_basket, points, priority, description)
VALUES (1, 'big-basket', 'bonus', 100, 50, 50, '50 points on a basket of 100 or more');
INSERT INTO loyalty.rule (program_id, code, kind, points, description)
VALUES (1, 'welcome', 'first_purchase', 25, 'first purchase bonus');
INSERT INTO loyalty.rule (program_id, code, kind, every_nth, visit_period, points, description)
VALUES (1, 'third-visit', 'nth_visit', 3, 'month', 30, 'every third visit day in a month');
SELECT code, kind, coalesce(multiplier::text, points::text) AS value, min_basket, priority, description
  FROM loyalty.rule ORDER BY priority, rule_id;
\echo 'and a tier ladder: what the last 90 days of sales earn, one step down at a time'
UPDATE loyalty.program SET tier_window = 'rolling', tier_window_days = 90, tier_downgrade = 'one_step' WHERE code = 'baby';
INSERT INTO loyalty.tier (program_id, code, name, rank, min_spend, min_visits, earn_multiplier, discount_pct)
VALUES (1, 'club', 'Club', 0, NULL, NULL, 1, 0),
       (1, 'silver', 'Silver', 1, 250, 4, 1.25, 2),
       (1, 'gold', 'Gold', 2, 450, NULL, 1.5, 5);
SELECT code, rank, min_spend, min_visits, earn_multiplier, discount_pct FROM loyalty.tier ORDER BY rank;

-- roles the way a DBA would set them up
CREATE ROLE demo_pos;
CREATE ROLE demo_analyst;
SELECT loyalty.grant_access('demo_pos', 'pos'), loyalty.grant_access('demo_analyst', 'analyst') \g /dev/null

\echo
\echo '== 2. The POS enrols 300 members who joined 200 days ago, when the card system started (one call each; a retried enrolment is harmless)'
SET ROLE demo_pos;
SELECT count(*) AS enrolled
  FROM generate_series(1, 300) AS n,
       LATERAL loyalty.enroll(loyalty.card_issue('6001', n), 'baby',
                              region => (ARRAY['north', 'south', 'east', 'west'])[1 + n % 4],
                              home_store => 'S0' || (1 + n % 3),
                              enrolled_at => now() - interval '200 days') AS m;
SELECT loyalty.enroll(loyalty.card_issue('6001', 1), 'baby') AS retried_enrolment_returns;

\echo
\echo '== 3. Six months of sales, back-filled by an admin (a POS may date a sale at most a day back), each one plain INSERT'
-- 3 lines per sale: formula, a food item, and now and then tobacco; some anonymous sales
RESET ROLE;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S0' || (1 + n % 3), 'H-' || n || '-' || v,
       CASE WHEN v > 1 AND (n + v) % 7 = 0 THEN NULL ELSE loyalty.card_issue('6001', n) END,
       now() - make_interval(days => 180 - v * 30 - n % 20),
       a + b + c,
       jsonb_build_array(
         jsonb_build_object('sku', 'F' || (n % 4), 'category', 'formula', 'qty', 1, 'amount', a),
         jsonb_build_object('sku', 'D' || (v % 7), 'category', 'food', 'qty', 2, 'amount', b),
         jsonb_build_object('sku', 'T1', 'category', 'tobacco', 'qty', 1, 'amount', c))
  FROM generate_series(1, 300) AS n, generate_series(1, 1 + n % 5) AS v,
       LATERAL (SELECT (20 + (n * 7 + v * 3) % 25)::numeric AS a, (10 + (n + v) % 80)::numeric AS b,
                       CASE WHEN (n + v) % 6 = 0 THEN 8.50 ELSE 0 END AS c) AS amounts;
SELECT count(*) AS sales, count(member_id) AS member_sales, sum(points_earned) AS points_earned,
       sum(points_pending) AS still_pending
  FROM loyalty.sale;
RESET ROLE;
\echo 'why did the first sale of card 2 earn what it earned?'
SELECT rule_id, code, kind, fired, points, why
  FROM loyalty.explain_sale((SELECT min(sale_id) FROM loyalty.sale WHERE member_id = loyalty.member_id(loyalty.card_issue('6001', 2))));
\echo 'a quote for a basket, before the POS commits it (nothing is written):'
SELECT points FROM loyalty.quote(loyalty.card_issue('6001', 2),
  '[{"sku":"F1","category":"formula","qty":2,"amount":49.90},{"sku":"D3","category":"food","qty":1,"amount":60}]');
\echo 'a retried POS transaction earns nothing twice:'
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT store, pos_txn, card, occurred_at, total, lines FROM loyalty.sale WHERE store = 'S02' AND pos_txn = 'H-1-1'
ON CONFLICT (store, pos_txn) DO NOTHING RETURNING sale_id;
SELECT count(*) AS ledger_entries_of_that_sale FROM loyalty.ledger
 WHERE sale_id = (SELECT sale_id FROM loyalty.sale WHERE store = 'S02' AND pos_txn = 'H-1-1');

\echo
\echo '== 3b. Tiers: members moved up as their history was back-filled, each sale in time order'
SELECT t.code AS tier, count(*) AS members
  FROM loyalty.member m LEFT JOIN loyalty.member_tier mt USING (member_id)
  JOIN loyalty.tier t ON t.tier_id = coalesce(mt.tier_id, (SELECT tier_id FROM loyalty.tier WHERE rank = 0))
 GROUP BY t.code, t.rank ORDER BY t.rank;
\echo 'an override: card 2 gets gold for 30 days after a complaint'
SELECT loyalty.set_tier(loyalty.card_issue('6001', 2), 'gold', 'complaint about a faulty stroller',
                        now() + interval '30 days') IS NOT NULL AS overridden;
\echo 'the nightly review: a tier is held 91 days after it was reached; then the last 90 days decide, one step at a time'
SELECT * FROM loyalty.review_tiers();
SELECT * FROM loyalty.review_tiers() \g /dev/null
SELECT cause, count(*) AS changes FROM loyalty.tier_change GROUP BY cause ORDER BY cause;
SELECT mc.card AS card_moved_down FROM loyalty.tier_change c JOIN loyalty.member_card mc USING (member_id)
 WHERE c.cause = 'review' ORDER BY c.member_id LIMIT 1 \gset
\echo 'one member who went up with the back-fill and down at the review:'
SELECT f.code AS from_tier, t.code AS to_tier, c.changed_at::date AS changed, c.cause, c.sale_id
  FROM loyalty.tier_change c JOIN loyalty.tier f ON f.tier_id = c.from_tier_id JOIN loyalty.tier t ON t.tier_id = c.to_tier_id
 WHERE c.member_id = loyalty.member_id(:'card_moved_down') ORDER BY c.change_id;
SELECT tier, window_start, spend, visits, next_tier, spend_missing, visits_missing, review_from
  FROM loyalty.tier_progress(:'card_moved_down');
\echo 'card 2 at the till: gold earns x1.5 of the base and pays the member price'
SELECT points, tier, discount_pct, discount, member_total
  FROM loyalty.quote(loyalty.card_issue('6001', 2), '[{"sku":"D3","category":"food","qty":1,"amount":60}]');

\echo
\echo '== 4. Redemptions at the till, with a network retry of each one'
SET ROLE demo_pos;
SELECT count(*) AS redemptions, sum(r.points) AS points, sum(r.value) AS value_eur
  FROM generate_series(1, 300, 3) AS n,
       LATERAL loyalty.redeem(loyalty.card_issue('6001', n), 50, 'S01', 'T-' || n) AS r;
-- the POS never got the answers: it sends them all again; nothing is posted twice
SELECT count(*) AS retried, count(DISTINCT r.redemption_id) AS distinct_redemptions
  FROM generate_series(1, 300, 3) AS n,
       LATERAL loyalty.redeem(loyalty.card_issue('6001', n), 50, 'S01', 'T-' || n) AS r;
-- too much: refused with its own SQLSTATE, nothing written
\set VERBOSITY default
\set ON_ERROR_STOP 0
SELECT loyalty.redeem(loyalty.card_issue('6001', 2), 999999, 'S01', 'T-too-much');
\set ON_ERROR_STOP 1
RESET ROLE;

\echo
\echo '== 5. A return takes back exactly what the returned lines earned; a lost card is replaced'
SELECT sale_id AS sale7, total, points_earned FROM loyalty.sale
 WHERE member_id = loyalty.member_id(loyalty.card_issue('6001', 7)) ORDER BY sale_id LIMIT 1 \gset
SELECT :sale7 AS sale_of_card_7, :total AS total, :points_earned AS points_earned;
-- (the POS knows the receipt; here we read it from the table)
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
SELECT 'S02', 'RET-7', (l->>'amount')::numeric, jsonb_build_array(l), :sale7
  FROM loyalty.sale s, jsonb_array_elements(s.lines) l
 WHERE s.sale_id = :sale7 AND l->>'category' = 'formula'
RETURNING sale_id, return_of, points_earned AS points_taken_back;
SELECT loyalty.replace_card(loyalty.card_issue('6001', 7), loyalty.card_issue('6001', 9007)) AS member_kept_on_new_card;

\echo
\echo '== 6. Nightly job: expire points older than their lots allow (a re-run posts nothing)'
SELECT loyalty.earn(loyalty.card_issue('6001', 11), 500, 'old-bonus', 'anniversary bonus',
                    now() - interval '400 days') IS NOT NULL AS old_bonus_posted;
SELECT * FROM loyalty.expire_points();
SELECT * FROM loyalty.expire_points();

\echo
\echo '== 7. What the analyst sees'
SET ROLE demo_analyst;
SELECT m.region, count(*) AS members,
       sum(b.lifetime_earned) AS earned, sum(b.lifetime_redeemed) AS redeemed,
       sum(b.expired) AS expired, sum(b.net) AS outstanding_points
  FROM loyalty.member m JOIN loyalty.member_balance b USING (member_id)
 GROUP BY m.region ORDER BY m.region;

\echo
\echo '== 8. One member, card 7 (now replaced by card 9007): balance and statement'
SELECT available, pending, lifetime_earned, lifetime_redeemed, expired, reversed, value, currency, next_expiry_at::date
  FROM loyalty.balance(loyalty.card_issue('6001', 9007));
SELECT kind, points, balance_after, effective_at::date AS effective, source, coalesce(store || '/' || pos_txn, reason) AS detail
  FROM loyalty.statement(loyalty.card_issue('6001', 9007), '-infinity', 'infinity');
\echo 'and the same balance as it stood 60 days ago:'
SELECT available, pending, lifetime_earned, net FROM loyalty.balance_at(loyalty.card_issue('6001', 9007), now() - interval '60 days');

\echo
\echo '== 9. Events for the outside world, and the invariants (no rows means healthy)'
SELECT kind, count(*) FROM loyalty.outbox GROUP BY kind ORDER BY kind;
SELECT count(*) AS members_checked FROM loyalty.member_balance;
SELECT * FROM loyalty.check_invariants();
RESET ROLE;
\ir benefits.sql
\ir vouchers.sql
\ir audiences.sql
\ir xmas_tree.sql
\ir analytics.sql
\ir holds.sql

\echo 'demo done; the throwaway cluster is dropped now.'
