-- A scene of the demo (included by demo.sql): member benefits and a card
-- issued after a qualifying purchase (0.6.0).  The program is 'baby'
-- (Europe/Berlin, no store zones), its members enrolled 200 days ago.

\echo
\echo '== 10. Member benefits: free coffee Monday to Friday, once a day'
INSERT INTO loyalty.benefit (program_id, code, name, days_of_week, per_day)
SELECT program_id, 'coffee', 'free coffee', '{1,2,3,4,5}', 1 FROM loyalty.program WHERE code = 'baby';
SELECT code, name, days_of_week, per_day, per_week, per_month FROM loyalty.benefit;
-- last week's Monday, 00:00 in Berlin: the till's uses below are back-filled
-- by an admin at fixed moments of last week (use_benefit_at), so that the
-- scene shows a Saturday whatever day the demo runs; a till calls
-- use_benefit, which uses the benefit now
SELECT date_trunc('week', now() AT TIME ZONE 'Europe/Berlin') - interval '7 days' AS monday \gset
\set VERBOSITY default
\set ON_ERROR_STOP 0
\echo 'card 2 asks for a coffee on Saturday at 10:00: refused'
SELECT * FROM loyalty.use_benefit_at(loyalty.card_issue('6001', 2), 'coffee', 'S01', 'CAFE-1',
                                     (:'monday'::timestamp - interval '2 days' + interval '10 hours') AT TIME ZONE 'Europe/Berlin');
\echo 'on Monday at 09:00: granted, none left today'
SELECT left_today, used_at AT TIME ZONE 'Europe/Berlin' AS used_at_berlin
  FROM loyalty.use_benefit_at(loyalty.card_issue('6001', 2), 'coffee', 'S01', 'CAFE-2',
                              (:'monday'::timestamp + interval '9 hours') AT TIME ZONE 'Europe/Berlin');
\echo 'the till sends it again (a network retry): the same answer, no second cup'
SELECT left_today, used_at AT TIME ZONE 'Europe/Berlin' AS used_at_berlin
  FROM loyalty.use_benefit_at(loyalty.card_issue('6001', 2), 'coffee', 'S01', 'CAFE-2',
                              (:'monday'::timestamp + interval '9 hours') AT TIME ZONE 'Europe/Berlin');
\echo 'on Monday at 15:00, a second cup: refused, and told when it frees up'
SELECT * FROM loyalty.use_benefit_at(loyalty.card_issue('6001', 2), 'coffee', 'S01', 'CAFE-3',
                                     (:'monday'::timestamp + interval '15 hours') AT TIME ZONE 'Europe/Berlin');
\echo 'on Tuesday at 09:00: granted again'
SELECT left_today, used_at AT TIME ZONE 'Europe/Berlin' AS used_at_berlin
  FROM loyalty.use_benefit_at(loyalty.card_issue('6001', 2), 'coffee', 'S01', 'CAFE-4',
                              (:'monday'::timestamp + interval '1 day 9 hours') AT TIME ZONE 'Europe/Berlin');
\set ON_ERROR_STOP 1
SELECT pos_txn, day, to_char(day, 'Day') AS weekday, week, month FROM loyalty.benefit_use ORDER BY use_id;

\echo
\echo '== 11. A card issued after one purchase of 3,000 or more'
UPDATE loyalty.program SET enroll_min_spend = 3000 WHERE code = 'baby';
SET ROLE demo_pos;
-- two anonymous purchases at the till (no card yet)
INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES
  ('S01', 'BIG-1', 2999.99, '[{"sku":"P1","category":"pram","qty":1,"amount":2999.99}]'),
  ('S01', 'BIG-2', 3000.00, '[{"sku":"P1","category":"pram","qty":1,"amount":2500.00},{"sku":"F2","category":"formula","qty":10,"amount":500.00}]')
RETURNING sale_id, pos_txn, member_id, points_earned;
\set ON_ERROR_STOP 0
\echo 'the customer of BIG-1 asks for a card: 0.01 short'
SELECT * FROM loyalty.enroll_with_sale(loyalty.card_issue('6001', 5001), 'baby', 'S01', 'BIG-1');
\set ON_ERROR_STOP 1
\echo 'the customer of BIG-2 gets the card; the purchase earns as a member''s sale would have'
\echo '(3000 base + formula x7 adds 6 x 500 + big basket 50 + first purchase 25), pending 14 days'
SELECT * FROM loyalty.enroll_with_sale(loyalty.card_issue('6001', 5001), 'baby', 'S01', 'BIG-2');
\echo 'the till retries: the same answer, nothing credited twice'
SELECT * FROM loyalty.enroll_with_sale(loyalty.card_issue('6001', 5001), 'baby', 'S01', 'BIG-2');
\set ON_ERROR_STOP 0
\echo 'another card with the same receipt: refused'
SELECT * FROM loyalty.enroll_with_sale(loyalty.card_issue('6001', 5002), 'baby', 'S01', 'BIG-2');
\set ON_ERROR_STOP 1
RESET ROLE;
\echo 'the purchase counts for the new member''s tier too, as a member''s sale would:'
SELECT loyalty.tier_of(loyalty.card_issue('6001', 5001)) AS tier, cause, changed_at = (SELECT occurred_at FROM loyalty.sale WHERE pos_txn = 'BIG-2') AS at_the_sale
  FROM loyalty.tier_change WHERE member_id = loyalty.member_id(loyalty.card_issue('6001', 5001));
\echo 'the new member''s one ledger entry names the sale:'
SELECT e.kind, e.points, e.source, e.reason, e.sale_id, s.pos_txn, e.rule_points
  FROM loyalty.ledger e JOIN loyalty.sale s USING (sale_id)
 WHERE e.member_id = loyalty.member_id(loyalty.card_issue('6001', 5001));
SELECT * FROM loyalty.check_invariants();
