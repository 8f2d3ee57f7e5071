-- The points ledger: exact balances through earn, redeem, adjust, reverse,
-- expire, pending points and the negative-balance policies.
\pset null '(null)'
\set SHOW_CONTEXT never
-- start from a fresh extension so ids do not depend on earlier tests
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
-- effective times are fixed dates in the past so the output does not move
INSERT INTO loyalty.program (code, expiry_after, expiry_rounding, point_value, currency)
VALUES ('std', '10 years', 'year', 0.05, 'EUR');
INSERT INTO loyalty.program (code, pending_days) VALUES ('pend', 14);
INSERT INTO loyalty.program (code, expiry_after) VALUES ('short', '1 year');
INSERT INTO loyalty.program (code, negative_balance) VALUES ('allow', 'allow');
INSERT INTO loyalty.program (code, negative_balance) VALUES ('trunc', 'truncate');
INSERT INTO loyalty.program (code) VALUES ('dflt');
SELECT loyalty.enroll(loyalty.card_issue('51', n), p) FROM
  (VALUES (1, 'std'), (2, 'pend'), (3, 'short'), (4, 'allow'), (5, 'trunc'), (6, 'dflt')) v(n, p);
\set A '''5100000000000016'''
\set B '''5100000000000024'''
\set C '''5100000000000032'''
\set D '''5100000000000040'''
\set E '''5100000000000057'''
\set F '''5100000000000065'''
SELECT loyalty.card_issue('51', 1)::text = :A AS card_a_ok, loyalty.card_issue('51', 6)::text = :F AS card_f_ok;

-- ===== A: lots, earliest expiry first, rounding of expiry to the year end
SELECT kind, points, effective_at, pending_until, expires_at
  FROM loyalty.earn(:A, 100, 'a-e1', 'welcome', '2024-03-10 12:00+00');
SELECT kind, points, expires_at FROM loyalty.earn(:A, 50, 'a-e2', NULL, '2025-06-01 00:00+00');
SELECT kind, points, expires_at FROM loyalty.earn(:A, 30, 'a-e3', NULL, '2023-01-01 00:00+00');
-- replaying a key returns the original entry and posts nothing
SELECT entry_id AS a_e1 FROM loyalty.earn(:A, 100, 'a-e1', 'welcome') \gset
SELECT entry_id = :a_e1 AS same_entry, points, effective_at FROM loyalty.earn(:A, 100, 'a-e1', 'welcome');
SELECT count(*) AS entries FROM loyalty.ledger WHERE member_id = loyalty.member_id(:A);
-- the same key with another request is refused
SELECT loyalty.earn(:A, 101, 'a-e1', 'welcome');
SELECT loyalty.earn(:A, 100, 'a-e1', 'other reason');
SELECT loyalty.adjust(:A, 100, 'a-e1', 'welcome');
-- redeem 60: takes lot a-e3 (expires 2034) whole, then 30 of a-e1 (2035)
SELECT redemption_id AS a_r1, points, value, currency FROM loyalty.redeem(:A, 60, 'S01', 'T-1') \gset
SELECT :points AS points, :value AS value, :'currency' AS currency;
SELECT redemption_id = :a_r1 AS same_redemption, points, value FROM loyalty.redeem(:A, 60, 'S01', 'T-1');
SELECT loyalty.redeem(:A, 61, 'S01', 'T-1');
SELECT e.idem_key AS lot_of, l.points, l.remaining, l.expires_at
  FROM loyalty.lot l JOIN loyalty.ledger e ON e.member_id = l.member_id AND e.entry_id = l.lot_id
 WHERE l.member_id = loyalty.member_id(:A) ORDER BY l.expires_at, l.lot_id;
SELECT kind, points, pg_catalog.cardinality(lot_ids) AS lots_touched, lot_points, store, pos_txn, value
  FROM loyalty.ledger WHERE entry_id = :a_r1;
SELECT available, pending, lifetime_earned, lifetime_redeemed, expired, debt, next_expiry_at, next_expiry_points, value, currency
  FROM loyalty.balance(:A);
-- more than is available is refused and changes nothing
SELECT loyalty.redeem(:A, 121, 'S01', 'T-2');
SELECT available FROM loyalty.balance(:A);
-- adjustments: a debit takes lots like a redemption, a credit opens a lot
SELECT kind, points, shortfall FROM loyalty.adjust(:A, -20, 'a-adj1', 'damaged goods');
SELECT kind, points, expires_at FROM loyalty.adjust(:A, 15, 'a-adj2', 'goodwill', '2025-12-31 00:00+00');
-- reverse 50 of a-e2: its own lot first
SELECT entry_id AS a_e2 FROM loyalty.ledger WHERE idem_key = 'a-e2' \gset
SELECT kind, points, shortfall FROM loyalty.reverse(:A, :a_e2, 50, 'a-rev1', 'return');
SELECT e.idem_key AS lot_of, l.points, l.remaining
  FROM loyalty.lot l JOIN loyalty.ledger e ON e.member_id = l.member_id AND e.entry_id = l.lot_id
 WHERE l.member_id = loyalty.member_id(:A) ORDER BY l.expires_at, l.lot_id;
-- an entry cannot be reversed beyond what it earned, nor a non-earn entry
SELECT loyalty.reverse(:A, :a_e2, 1, 'a-rev2');
SELECT loyalty.reverse(:A, :a_r1, 1, 'a-rev3');
SELECT available, lifetime_earned, lifetime_redeemed, reversed, adjusted FROM loyalty.balance(:A);
SELECT kind, points, balance_after,
       CASE WHEN effective_at < '2026-01-01' THEN effective_at::text ELSE 'today' END AS effective,
       source, store, pos_txn, reason, idem_key
  FROM loyalty.statement(:A, '-infinity', 'infinity');
-- a window of the statement keeps the running balance of all history
SELECT kind, points, balance_after FROM loyalty.statement(:A, '2024-01-01', '2025-01-01');
-- balance at past moments, by effective time
SELECT available, pending, lifetime_earned, net FROM loyalty.balance_at(:A, '2022-12-31');
SELECT available, pending, lifetime_earned, net FROM loyalty.balance_at(:A, '2024-12-31');
SELECT available, lifetime_earned, net FROM loyalty.balance_at(:A, '2025-07-01');
-- ... and as the ledger stood when only the first three earns were posted
SELECT max(posted_at) AS first_posted FROM loyalty.ledger WHERE idem_key IN ('a-e1', 'a-e2', 'a-e3') \gset
SELECT available, lifetime_earned, lifetime_redeemed, net FROM loyalty.balance_at(:A, now(), :'first_posted');
-- at the end of time every lot has expired
SELECT available, expired, net FROM loyalty.balance_at(:A, 'infinity');
-- balance_at now agrees with balance
SELECT (SELECT (available, pending, lifetime_earned, lifetime_redeemed, expired, reversed, adjusted)
          FROM loyalty.balance(:A))
     = (SELECT (available, pending, lifetime_earned, lifetime_redeemed, expired, reversed, adjusted)
          FROM loyalty.balance_at(:A, now())) AS balance_at_now_matches;

-- ===== B: pending points are counted and shown, not redeemable
SELECT kind, points, pending_until - effective_at AS pending_for FROM loyalty.earn(:B, 100, 'b-e1');
SELECT available, pending FROM loyalty.balance(:B);
SELECT loyalty.redeem(:B, 10, 'S01', 'T-B1');
-- an explicit pending date that has passed: redeemable
SELECT points, pending_until FROM loyalty.earn(:B, 40, 'b-e2', NULL, '2020-01-01 00:00+00', '2020-01-15 00:00+00');
SELECT available, pending FROM loyalty.balance(:B);
SELECT available, pending FROM loyalty.balance_at(:B, '2020-01-10 00:00+00');
SELECT available, pending FROM loyalty.balance_at(:B, '2020-01-20 00:00+00');
SELECT points FROM loyalty.redeem(:B, 40, 'S01', 'T-B2');
-- a reversal takes its own (still pending) lot
SELECT entry_id AS b_e1 FROM loyalty.ledger WHERE idem_key = 'b-e1' \gset
SELECT points FROM loyalty.reverse(:B, :b_e1, 30, 'b-rev1', 'return within window');
SELECT available, pending, reversed FROM loyalty.balance(:B);

-- ===== C: expiry
SELECT expires_at FROM loyalty.earn(:C, 40, 'c-e1', NULL, '2020-01-01 00:00+00');
SELECT expires_at FROM loyalty.earn(:C, 25, 'c-e2', NULL, '2020-06-01 00:00+00');
SELECT points FROM loyalty.earn(:C, 10, 'c-e3');
-- lapsed points count as expired at once and cannot be spent
SELECT available, expired FROM loyalty.balance(:C);
SELECT loyalty.redeem(:C, 20, 'S01', 'T-C1');
SELECT * FROM loyalty.expire_points('2021-03-01 00:00+00');
SELECT * FROM loyalty.expire_points('2021-03-01 00:00+00');
SELECT * FROM loyalty.expire_points();
SELECT * FROM loyalty.expire_points();
SELECT kind, points, effective_at, lot_ids = ARRAY[(SELECT entry_id FROM loyalty.ledger WHERE idem_key = x.k)] AS own_lot
  FROM loyalty.ledger, LATERAL (SELECT CASE WHEN points = -40 THEN 'c-e1' ELSE 'c-e2' END AS k) x
 WHERE member_id = loyalty.member_id(:C) AND kind = 'expire' ORDER BY effective_at;
SELECT available, expired, lifetime_earned FROM loyalty.balance(:C);
SELECT available, expired, net FROM loyalty.balance_at(:C, '2021-02-01 00:00+00');
SELECT loyalty.expire_points('2999-01-01 00:00+00');

-- ===== D, E, F: a reversal larger than what is left, under each policy
SELECT entry_id AS d_e1 FROM loyalty.earn(:D, 30, 'd-e1') \gset
SELECT entry_id AS e_e1 FROM loyalty.earn(:E, 30, 'e-e1') \gset
SELECT entry_id AS f_e1 FROM loyalty.earn(:F, 30, 'f-e1') \gset
SELECT points FROM loyalty.redeem(:D, 20, 'S02', 'T-D1');
SELECT points FROM loyalty.redeem(:E, 20, 'S02', 'T-E1');
SELECT points FROM loyalty.redeem(:F, 20, 'S02', 'T-F1');
-- allow: the balance goes negative and the debt is recorded
SELECT points, shortfall FROM loyalty.reverse(:D, :d_e1, 30, 'd-rev');
SELECT available, debt FROM loyalty.balance(:D);
SELECT loyalty.redeem(:D, 1, 'S02', 'T-D2');
-- the next earnings repay the debt first
SELECT points FROM loyalty.earn(:D, 50, 'd-e2');
SELECT available, debt FROM loyalty.balance(:D);
SELECT l.points, l.remaining FROM loyalty.lot l WHERE member_id = loyalty.member_id(:D) ORDER BY lot_id;
-- truncate: take what is there, record the shortfall
SELECT points, shortfall FROM loyalty.reverse(:E, :e_e1, 30, 'e-rev');
SELECT points, shortfall FROM loyalty.reverse(:E, :e_e1, 30, 'e-rev');
SELECT available, debt, reversed FROM loyalty.balance(:E);
SELECT shortfall FROM loyalty.member_balance WHERE member_id = loyalty.member_id(:E);
SELECT loyalty.reverse(:E, :e_e1, 1, 'e-rev2');
-- the default policy is truncate
SELECT negative_balance FROM loyalty.program WHERE code = 'dflt';
SELECT points, shortfall FROM loyalty.reverse(:F, :f_e1, 30, 'f-rev');
SELECT available, reversed FROM loyalty.balance(:F);

-- ===== G, H: calendar arithmetic on UTC wall time whatever the session's
-- TimeZone; a quarter is three months
INSERT INTO loyalty.program (code, expiry_after, expiry_rounding) VALUES ('qtr', '1 day', 'quarter'), ('mon', '1 day', 'month');
SELECT loyalty.card_issue('51', 7) AS g, loyalty.card_issue('51', 8) AS h \gset
SELECT loyalty.enroll(:'g', 'qtr') > 0 AS g_enrolled, loyalty.enroll(:'h', 'mon') > 0 AS h_enrolled;
SET TimeZone = 'America/New_York';
SELECT expires_at AT TIME ZONE 'UTC' AS g_expires_utc FROM loyalty.earn(:'g', 5, 'g1', NULL, '2025-03-10 12:00+00');
SELECT expires_at AT TIME ZONE 'UTC' AS h_expires_utc FROM loyalty.earn(:'h', 5, 'h1', NULL, '2025-03-10 12:00+00');
SET TimeZone = 'Asia/Tokyo';
SELECT expires_at AT TIME ZONE 'UTC' AS h_expires_utc FROM loyalty.earn(:'h', 5, 'h2', NULL, '2025-03-31 23:30+00');
RESET TimeZone;
-- a back-dated debit takes the points A has when it is posted (in mid-2023
-- A had only lot a-e3, since spent), and is dated no earlier than the lot it
-- takes them from, so no past balance goes negative
SELECT points, shortfall FROM loyalty.adjust(:A, -10, 'a-adj-past', 'late correction', '2023-06-01 00:00+00');
SELECT min(net) >= 0 AS past_never_negative
  FROM generate_series(timestamptz '2023-01-01', now(), interval '1 month') AS t,
       LATERAL loyalty.balance_at(:A, t);

-- ===== A closed member's balance is final: expire_points leaves their
-- lapsed lots alone (an open member's lot of the same age expires)
INSERT INTO loyalty.program (code, expiry_after) VALUES ('closedexp', '30 days');
SELECT loyalty.enroll(loyalty.card_issue('87', s), 'closedexp', enrolled_at => now() - interval '100 days')
  FROM generate_series(1, 2) s;
SELECT (loyalty.earn(loyalty.card_issue('87', s), 100, 'ce-1', NULL, now() - interval '90 days')).points
  FROM generate_series(1, 2) s;
SELECT loyalty.set_member_status(loyalty.card_issue('87', 1), 'closed', 'left the program');
SELECT * FROM loyalty.expire_points();
SELECT s AS serial, string_agg(l.kind || ' ' || l.points, ', ' ORDER BY l.entry_id) AS entries
  FROM generate_series(1, 2) s
  JOIN loyalty.ledger l ON l.member_id = loyalty.member_id(loyalty.card_issue('87', s))
 GROUP BY s ORDER BY s;
SELECT s AS serial, l.points, l.remaining
  FROM generate_series(1, 2) s
  JOIN loyalty.lot l ON l.member_id = loyalty.member_id(loyalty.card_issue('87', s))
 ORDER BY s;

-- ===== Under allow, a reversal takes first all its own lot holds, pending
-- or not, whatever the member owes; only the rest adds to the debt.  X: an
-- earn of 100 pending for 7 days, then -70 adjusted with nothing available
-- (debt 70); reversing 50 of the earn leaves its lot 50 and the debt 70
-- (net 50 - 70 = -20, available -20 - 50 pending = -70); the other 50 empty
-- the lot, the debt stays 70.  Y: the same through a sale and its return.
INSERT INTO loyalty.program (code, negative_balance, pending_days) VALUES ('ownlot', 'allow', 7);
SELECT count(loyalty.enroll(loyalty.card_issue('89', s), 'ownlot', enrolled_at => now() - interval '100 days')) AS enrolled
  FROM generate_series(1, 2) s;
SELECT loyalty.card_issue('89', 1) AS x, loyalty.card_issue('89', 2) AS y \gset
SELECT entry_id AS x_e1 FROM loyalty.earn(:'x', 100, 'x-e1') \gset
SELECT points, available_from > now() AS is_pending FROM loyalty.lot WHERE lot_id = :x_e1;
SELECT points, shortfall FROM loyalty.adjust(:'x', -70, 'x-a1', 'correction');
SELECT available, pending, debt FROM loyalty.balance(:'x');
SELECT points, shortfall FROM loyalty.reverse(:'x', :x_e1, 50, 'x-r1');
SELECT available, pending, debt FROM loyalty.balance(:'x');
SELECT points, remaining FROM loyalty.lot WHERE lot_id = :x_e1;
SELECT points, shortfall FROM loyalty.reverse(:'x', :x_e1, 50, 'x-r2');
SELECT available, pending, debt FROM loyalty.balance(:'x');
SELECT points, remaining FROM loyalty.lot WHERE lot_id = :x_e1;
SELECT kind, points, lot_ids = ARRAY[:x_e1]::bigint[] AS own_lot, lot_points
  FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'x') ORDER BY entry_id;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S', 'ownlot-s1', :'y', now() - interval '1 hour', 100,
        '[{"sku":"A","qty":1,"amount":50},{"sku":"B","qty":1,"amount":50}]')
RETURNING points_earned;
SELECT points, shortfall FROM loyalty.adjust(:'y', -70, 'y-a1', 'correction');
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
SELECT 'S', 'ownlot-r1', now() - interval '30 minutes', 50, '[{"sku":"A","qty":1,"amount":50}]', sale_id
  FROM loyalty.sale WHERE pos_txn = 'ownlot-s1'
RETURNING points_earned;
SELECT available, pending, debt FROM loyalty.balance(:'y');
SELECT kind, points, lot_points FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'y') ORDER BY entry_id;

-- ===== The ledger is append-only, even for its owner
UPDATE loyalty.ledger SET points = points + 1 WHERE entry_id = :a_e1;
DELETE FROM loyalty.ledger WHERE entry_id = :a_e1;
TRUNCATE loyalty.ledger CASCADE;

-- ===== Invariants hold ...
SELECT * FROM loyalty.check_invariants();
-- ... and the check finds damage done behind the API's back
BEGIN;
UPDATE loyalty.lot SET remaining = remaining - 1 WHERE lot_id = :a_e1;
UPDATE loyalty.member_balance SET lifetime_earned = lifetime_earned + 5, debt = 3
 WHERE member_id = loyalty.member_id(:F);
SELECT member_id = loyalty.member_id(:A) AS is_a, member_id = loyalty.member_id(:F) AS is_f, invariant, detail
  FROM loyalty.check_invariants() ORDER BY 1, 2, 3;
ROLLBACK;
SELECT count(*) AS violations FROM loyalty.check_invariants();
