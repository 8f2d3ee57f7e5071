-- The loyalty demo.  Runs on a throwaway cluster (see demo.sh).
\pset footer off
\set SHOW_CONTEXT never
CREATE EXTENSION loyalty;

\echo
\echo '== 1. A DBA configures a program with plain SQL rows'
INSERT INTO loyalty.program (code, name, currency, point_value, expiry_after, expiry_rounding, pending_days)
VALUES ('baby', 'Little Ones Club', 'EUR', 0.01, '12 months', 'month', 14);
SELECT code, name, currency, point_value, expiry_after, expiry_rounding, pending_days, negative_balance
  FROM loyalty.program;

-- roles the way a DBA would set them up
CREATE ROLE demo_pos;
CREATE ROLE demo_analyst;
SELECT loyalty.grant_access('demo_pos', 'pos'), loyalty.grant_access('demo_analyst', 'analyst') \g /dev/null

\echo
\echo '== 2. The POS enrols 300 members (one call each; a retried enrolment is harmless)'
SET ROLE demo_pos;
SELECT count(*) AS enrolled
  FROM generate_series(1, 300) AS n,
       LATERAL loyalty.enroll(loyalty.card_issue('6001', n), 'baby',
                              region => (ARRAY['north', 'south', 'east', 'west'])[1 + n % 4],
                              home_store => 'S0' || (1 + n % 3)) AS m;
SELECT loyalty.enroll(loyalty.card_issue('6001', 1), 'baby') AS retried_enrolment_returns;
RESET ROLE;

\echo
\echo '== 3. Six months of activity, back-dated: earnings (in the next issue they come from sales)'
-- every member earns on a few days; amounts are deterministic
SELECT count(*) AS earn_entries, sum(p.points) AS points
  FROM generate_series(1, 300) AS n,
       generate_series(1, 1 + n % 5) AS v,
       LATERAL loyalty.earn(loyalty.card_issue('6001', n), 50 + (n * 37 + v * 11) % 400,
                            'purchase-' || n || '-' || v, 'purchase',
                            now() - make_interval(days => 180 - v * 30 - n % 20)) AS p;

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
\echo '== 5. A return takes back the points of a purchase, a lost card is replaced'
SELECT r.kind, r.points
  FROM loyalty.ledger e,
       LATERAL loyalty.reverse(loyalty.card_issue('6001', 7), e.entry_id, e.points / 2, 'return-7', 'returned one tin') AS r
 WHERE e.idem_key = 'purchase-7-1';
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
\echo '== 9. Invariants: ledger sum = balance = open lots (no rows means healthy)'
SELECT count(*) AS members_checked FROM loyalty.member_balance;
SELECT * FROM loyalty.check_invariants();
RESET ROLE;
\echo 'demo done; the throwaway cluster is dropped now.'
