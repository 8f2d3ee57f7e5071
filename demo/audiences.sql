-- A scene of the demo (included by demo.sql): an offer that only its
-- audience gets (0.6.0).  Program 'baby' as parts 1 to 3 left it.

\echo
\echo '== 11b. An offer only its audience gets: members who have not been in for 60 days get 200 points'
\echo 'on their next basket of 30 or more, once, after they clip the coupon (in the app or at the till)'
INSERT INTO loyalty.audience (program_id, code, name, opt_in, valid_to)
SELECT program_id, 'come-back', 'Come back: 200 points on 30 or more', true, now() + interval '14 days'
  FROM loyalty.program WHERE code = 'baby';
-- loaded in bulk by the admin: one INSERT ... SELECT
INSERT INTO loyalty.audience_member (member_id, audience_id)
SELECT s.member_id, a.audience_id
  FROM loyalty.sale s JOIN loyalty.member m USING (member_id) JOIN loyalty.audience a USING (program_id)
 WHERE a.code = 'come-back' AND m.status = 'active'
 GROUP BY s.member_id, a.audience_id
HAVING max(s.occurred_at) < now() - interval '60 days';
SELECT count(*) AS audience_members FROM loyalty.audience_member;
INSERT INTO loyalty.rule (program_id, code, kind, points, min_basket, audience, member_max_uses, budget_points, description)
SELECT program_id, 'come-back-200', 'bonus', 200, 30, 'come-back', 1, 20000, 'lapsed members: 200 points, once each'
  FROM loyalty.program WHERE code = 'baby';
-- two customers: one of the audience, one who came in last month (cards of active members, never replaced)
SELECT min(n) FILTER (WHERE am.member_id IS NOT NULL) AS lapsed, min(n) FILTER (WHERE am.member_id IS NULL) AS regular
  FROM generate_series(1, 300) n
  JOIN loyalty.member_card mc ON mc.card = loyalty.card_issue('6001', n) AND mc.replaced_at IS NULL
  JOIN loyalty.member m USING (member_id)
  LEFT JOIN loyalty.audience_member am USING (member_id)
 WHERE m.status = 'active' \gset
\echo 'the lapsed customer, card serial' :lapsed 'of 6001, buys 40 of formula before clipping: no bonus'
SET ROLE demo_pos;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'CB-1', loyalty.card_issue('6001', :lapsed), 40, '[{"sku":"F1","category":"formula","qty":1,"amount":40}]')
RETURNING pos_txn, points_earned;
\echo 'the till clips the coupon for the customer; a retry answers the same moment'
SELECT loyalty.clip_offer('come-back', loyalty.card_issue('6001', :lapsed)) = loyalty.clip_offer('come-back', loyalty.card_issue('6001', :lapsed)) AS clipped_once;
\echo 'the next basket earns the 200; the one after does not (once each)'
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'CB-2', loyalty.card_issue('6001', :lapsed), 40, '[{"sku":"F1","category":"formula","qty":1,"amount":40}]'),
       ('S01', 'CB-3', loyalty.card_issue('6001', :lapsed), 40, '[{"sku":"F1","category":"formula","qty":1,"amount":40}]')
RETURNING pos_txn, points_earned;
\echo 'the regular customer, card serial' :regular 'of 6001, buys the same: not in the audience, and cannot clip it'
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'CB-4', loyalty.card_issue('6001', :regular), 40, '[{"sku":"F1","category":"formula","qty":1,"amount":40}]')
RETURNING pos_txn, points_earned;
\set VERBOSITY default
\set ON_ERROR_STOP 0
SELECT loyalty.clip_offer('come-back', loyalty.card_issue('6001', :regular));
\set ON_ERROR_STOP 1
RESET ROLE;
\echo 'why, sale by sale (explain_sale, the analyst''s view):'
SELECT s.pos_txn, e.fired, e.points, e.why
  FROM loyalty.sale s, loyalty.explain_sale(s.sale_id) e
 WHERE s.pos_txn LIKE 'CB-%' AND e.code = 'come-back-200' ORDER BY s.pos_txn;
SELECT * FROM loyalty.check_invariants();
