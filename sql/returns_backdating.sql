-- Returns, back-dating and retries (0.5.0): debits take the points there
-- are when they are posted, the back-dating policy of POS sales and returns
-- (backdate_limit, enrolment, back-fills), returns of closed and suspended
-- members, what error messages tell a POS, and retries after replace_card.
-- Times are relative to now(), so the output shows points and booleans, and
-- error messages with their times masked.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
DROP ROLE IF EXISTS regress_ret_pos;
DROP ROLE IF EXISTS regress_ret_admin;
DROP ROLE IF EXISTS regress_ret_pos_limit;
RESET client_min_messages;

-- Runs a statement and shows its SQLSTATE and message, with the detail of
-- the extension's own errors (or that it worked); times are masked.
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM ||
						  CASE WHEN SQLSTATE LIKE 'LY%' AND detail <> '' THEN ' / ' || detail ELSE '' END,
						  '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d(:\d\d)*( BC)?', '<time>', 'g');
END
$$;
CREATE FUNCTION pg_temp.sid(txn text) RETURNS bigint
LANGUAGE sql AS $$ SELECT sale_id FROM loyalty.sale WHERE pos_txn = txn $$;

-- Three access levels: a POS, an admin, and a POS that may change
-- backdate_limit (and so is not bound by it).
CREATE ROLE regress_ret_pos;
CREATE ROLE regress_ret_admin;
CREATE ROLE regress_ret_pos_limit;
SELECT loyalty.grant_access('regress_ret_pos', 'pos');
SELECT loyalty.grant_access('regress_ret_admin', 'admin');
SELECT loyalty.grant_access('regress_ret_pos_limit', 'pos');
GRANT UPDATE (backdate_limit) ON loyalty.program TO regress_ret_pos_limit;

-- ===== backdate_limit: a program column, 1 day by default, 0 to 366 days
INSERT INTO loyalty.program (code) VALUES ('pol');
INSERT INTO loyalty.program (code, backdate_limit) VALUES ('bd', '30 days');
INSERT INTO loyalty.program (code, return_days, backdate_limit) VALUES ('win', 30, '60 days');
SELECT code, backdate_limit, return_days FROM loyalty.program ORDER BY program_id;
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('negative limit',  $$INSERT INTO loyalty.program (code, backdate_limit) VALUES ('x1', '-1 hour')$$),
  ('limit too long',  $$INSERT INTO loyalty.program (code, backdate_limit) VALUES ('x2', '367 days')$$),
  ('NULL limit',      $$INSERT INTO loyalty.program (code, backdate_limit) VALUES ('x3', NULL)$$),
  ('the longest',     $$UPDATE loyalty.program SET backdate_limit = '366 days' WHERE code = 'pol'$$),
  ('back to 1 day',   $$UPDATE loyalty.program SET backdate_limit = DEFAULT WHERE code = 'pol'$$)
  ) t(what, statement);

SELECT loyalty.card_issue('60', 1) AS a, loyalty.card_issue('60', 2) AS b,
       loyalty.card_issue('60', 3) AS c, loyalty.card_issue('60', 4) AS d,
       loyalty.card_issue('60', 5) AS e, loyalty.card_issue('60', 6) AS f,
       loyalty.card_issue('60', 7) AS g, loyalty.card_issue('60', 8) AS h,
       loyalty.card_issue('60', 9) AS h2, loyalty.card_issue('60', 10) AS w \gset
-- members enrolled 60 days ago, except d: today
SELECT loyalty.enroll(:'a', 'bd', enrolled_at => now() - interval '60 days') > 0 AS a_enrolled,
       loyalty.enroll(:'b', 'bd', enrolled_at => now() - interval '60 days') > 0 AS b_enrolled,
       loyalty.enroll(:'c', 'pol', enrolled_at => now() - interval '500 days') > 0 AS c_enrolled,
       loyalty.enroll(:'d', 'pol') > 0 AS d_enrolled,
       loyalty.enroll(:'e', 'pol', enrolled_at => now() - interval '60 days') > 0 AS e_enrolled,
       loyalty.enroll(:'f', 'pol', enrolled_at => now() - interval '60 days') > 0 AS f_enrolled,
       loyalty.enroll(:'g', 'pol', enrolled_at => now() - interval '60 days') > 0 AS g_enrolled,
       loyalty.enroll(:'h', 'pol', enrolled_at => now() - interval '60 days') > 0 AS h_enrolled,
       loyalty.enroll(:'w', 'win', enrolled_at => now() - interval '60 days') > 0 AS w_enrolled;

-- ===== 1. A debit takes the points there are when it is posted
-- a (program bd: 30 days back-dating): the sale of T0 = 20 days ago earns
-- 357, all redeemed; a sale 10 days ago earns 607.  The POS returns the
-- first sale dated T0: 357 come back from the later lot (not 0 and a
-- shortfall of 357), and the reversal is dated when that lot was earned.
SET ROLE regress_ret_pos;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'A-1', :'a', now() - interval '20 days', 357, '[{"sku":"A","qty":1,"amount":357}]')
RETURNING points_earned;
SELECT points FROM loyalty.redeem(:'a', 357, 'S01', 'A-R1');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'A-2', :'a', now() - interval '10 days', 607, '[{"sku":"B","qty":1,"amount":607}]')
RETURNING points_earned;
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
VALUES ('S01', 'A-3', now() - interval '20 days', 357, '[{"sku":"A","qty":1,"amount":357}]', pg_temp.sid('A-1'))
RETURNING points_earned;
RESET ROLE;
SELECT l.points, l.shortfall, l.lot_ids = ARRAY[s2.entry_id] AS from_the_later_lot,
       l.effective_at = (SELECT effective_at FROM loyalty.ledger WHERE entry_id = s2.entry_id) AS dated_at_that_lot
  FROM loyalty.ledger l, loyalty.sale s2
 WHERE l.sale_id = pg_temp.sid('A-3') AND s2.pos_txn = 'A-2';
SELECT available, lifetime_earned, lifetime_redeemed, reversed FROM loyalty.balance(:'a');
-- the sale is reversed in full: nothing is left to reverse
SELECT pg_temp.outcome(format('SELECT loyalty.reverse(%L, %s, 1, %L)', :'a', (SELECT entry_id FROM loyalty.sale WHERE pos_txn = 'A-1'), 'a-rev'));

-- b: the same with a back-dated negative adjustment (admin): -100 dated 40
-- days ago, when b had nothing, takes 100 of the lot earned 5 days ago
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'B-1', :'b', now() - interval '5 days', 300, '[{"sku":"A","qty":1,"amount":300}]');
SELECT points, shortfall, effective_at = (SELECT effective_at FROM loyalty.ledger WHERE sale_id = pg_temp.sid('B-1')) AS dated_at_the_lot
  FROM loyalty.adjust(:'b', -100, 'b-adj', 'late correction', now() - interval '40 days');
SELECT available FROM loyalty.balance(:'b');

-- The ledger, the balance and the lots agree, now and at every past moment:
-- ledger sum = balance = open lots - debt; balance_at(now) = balance(); the
-- statement ends on the balance; no past balance and no past lot is negative.
SELECT x.card_name, (SELECT sum(points) FROM loyalty.ledger l WHERE l.member_id = b.member_id) = b.net AS ledger_is_balance,
       (SELECT sum(remaining) FROM loyalty.lot l WHERE l.member_id = b.member_id) - b.debt = b.net AS lots_are_balance,
       (SELECT available FROM loyalty.balance_at(x.card, now())) = (SELECT available FROM loyalty.balance(x.card)) AS balance_at_now,
       (SELECT balance_after FROM loyalty.statement(x.card, '-infinity', 'infinity') ORDER BY effective_at DESC, entry_id DESC LIMIT 1) = b.net AS statement_ends_on_balance,
       (SELECT min(least(ba.net, ba.available)) FROM generate_series(now() - interval '61 days', now(), interval '6 hours') t,
               LATERAL loyalty.balance_at(x.card, t) ba) >= 0 AS past_never_negative,
       NOT EXISTS (SELECT FROM generate_series(now() - interval '61 days', now(), interval '6 hours') t,
                          LATERAL loyalty.lots_at(b.member_id, t) la WHERE la.points < 0) AS no_negative_lot
  FROM (VALUES ('a', :'a'::loyalty.card), ('b', :'b')) x(card_name, card)
  JOIN loyalty.member_balance b ON b.card = x.card
 ORDER BY x.card_name;
SELECT * FROM loyalty.check_invariants();

-- ===== 1. The return window, judged by the server's clock
-- w (program win: returns within 30 days, back-dating 60 days): a sale 40
-- days old cannot be returned by a POS, however the return is dated
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'W-1', :'w', now() - interval '40 days', 10, '[{"sku":"A","qty":1,"amount":10}]');
SET ROLE regress_ret_pos;
SELECT pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
  VALUES ('S01', 'W-2', now() - interval '39 days', 10, '[{"sku":"A","qty":1,"amount":10}]', %s)$$, pg_temp.sid('W-1'))) AS pos_return_dated_inside_the_window;
RESET ROLE;
-- an admin's back-fill records a return dated inside the window
SELECT pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
  VALUES ('S01', 'W-3', now() - interval '39 days', 10, '[{"sku":"A","qty":1,"amount":10}]', %s)$$, pg_temp.sid('W-1'))) AS backfilled_return;
-- c (program pol, return_days 365): a sale 400 days old (back-filled), a
-- POS return dated 399 days ago
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'C-1', :'c', now() - interval '400 days', 10, '[{"sku":"A","qty":1,"amount":10}]');
SET ROLE regress_ret_pos;
SELECT pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
  VALUES ('S01', 'C-2', now() - interval '399 days', 10, '[{"sku":"A","qty":1,"amount":10}]', %s)$$, pg_temp.sid('C-1'))) AS pos_return_399_days_back;
RESET ROLE;

-- ===== 2. Back-dated sales and returns
-- an x10 promotion that ended 40 days ago
INSERT INTO loyalty.rule (program_id, code, kind, multiplier, valid_from, valid_to)
SELECT program_id, 'x10', 'multiplier', 10, now() - interval '100 days', now() - interval '40 days'
  FROM loyalty.program WHERE code = 'pol';
SET ROLE regress_ret_pos;
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('45 days back into the promotion', format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
      VALUES ('S02', 'P-1', %L, now() - interval '45 days', 10, '[{"sku":"A","qty":1,"amount":10}]')$$, :'c')),
  ('4713 BC',                         format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
      VALUES ('S02', 'P-2', %L, '4713-01-01 00:00:00+00 BC', 10, '[{"sku":"A","qty":1,"amount":10}]')$$, :'c')),
  ('an hour before enrolment',        format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
      VALUES ('S02', 'P-3', %L, now() - interval '1 hour', 10, '[{"sku":"A","qty":1,"amount":10}]')$$, :'d')),
  ('anonymous, 90 days back',         $$INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines)
      VALUES ('S02', 'P-4', now() - interval '90 days', 10, '[{"sku":"A","qty":1,"amount":10}]')$$),
  ('anonymous, 45 days back (the longest limit is 60 days)', $$INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines)
      VALUES ('S02', 'P-5', now() - interval '45 days', 10, '[{"sku":"A","qty":1,"amount":10}]')$$),
  ('23 hours back',                   format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
      VALUES ('S02', 'P-6', %L, now() - interval '23 hours', 10, '[{"sku":"A","qty":1,"amount":10}]')$$, :'c')),
  ('its return, dated now',           format($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
      VALUES ('S02', 'P-7', 10, '[{"sku":"A","qty":1,"amount":10}]', %s)$$, pg_temp.sid('P-6')))
  ) t(what, statement);
RESET ROLE;
-- a retry is answered even after its back-dating window has passed: the
-- limit drops to 0, the POS sends P-6 again
UPDATE loyalty.program SET backdate_limit = '0' WHERE code = 'pol';
SET ROLE regress_ret_pos;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S02', 'P-6', :'c', now() - interval '23 hours', 10, '[{"sku":"A","qty":1,"amount":10}]')
ON CONFLICT (store, pos_txn) DO NOTHING RETURNING points_earned;
RESET ROLE;
UPDATE loyalty.program SET backdate_limit = DEFAULT WHERE code = 'pol';
-- an admin back-fills the promotion's sale (x10); so does a POS role that
-- may change backdate_limit.  Not even an admin dates a sale before the
-- member's enrolment (LY042): history from before it comes with a member
-- enrolled at its original enrolled_at.
SET ROLE regress_ret_admin;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S02', 'Q-1', :'c', now() - interval '45 days', 10, '[{"sku":"A","qty":1,"amount":10}]')
RETURNING pos_txn, points_earned;
SELECT pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
  VALUES ('S02', 'Q-2', %L, now() - interval '2 hours', 10, '[{"sku":"A","qty":1,"amount":10}]')$$, :'d')) AS admin_sale_before_enrolment;
RESET ROLE;
SET ROLE regress_ret_pos_limit;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S02', 'Q-3', :'c', now() - interval '50 days', 10, '[{"sku":"A","qty":1,"amount":10}]')
RETURNING pos_txn, points_earned;
RESET ROLE;

-- ===== 3. Returns of closed and suspended members
-- e closed, f suspended after a sale of 50; both sales come back whole
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES
  ('S03', 'E-1', :'e', 50, '[{"sku":"A","qty":1,"amount":50}]'),
  ('S03', 'F-1', :'f', 50, '[{"sku":"A","qty":1,"amount":50}]');
SELECT loyalty.set_member_status(:'e', 'closed'), loyalty.set_member_status(:'f', 'suspended');
SET ROLE regress_ret_pos;
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S03', 'E-2', 50, '[{"sku":"A","qty":1,"amount":50}]', pg_temp.sid('E-1')),
       ('S03', 'F-2', 50, '[{"sku":"A","qty":1,"amount":50}]', pg_temp.sid('F-1'))
RETURNING pos_txn, member_id IS NOT NULL AS has_member, points_earned, entry_id IS NOT NULL AS has_entry;
RESET ROLE;
SELECT s.pos_txn, s.award->>'due' AS due, s.award->'member_closed' AS member_closed,
       (SELECT count(*) FROM loyalty.ledger l WHERE l.sale_id = s.sale_id) AS entries,
       (SELECT count(*) FROM loyalty.outbox o WHERE o.payload->>'sale_id' = s.sale_id::text) AS events,
       b.net
  FROM loyalty.sale s JOIN loyalty.member_balance b USING (member_id)
 WHERE s.pos_txn IN ('E-2', 'F-2') ORDER BY s.pos_txn;

-- ===== 4. What error messages tell a POS about another store's sale
-- g's sale: three A for 42.00, one B for 8.00
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S04', 'G-1', :'g', 50, '[{"sku":"A","qty":3,"amount":42},{"sku":"B","qty":1,"amount":8}]');
INSERT INTO loyalty.sale (store, pos_txn, total, lines)
VALUES ('S04', 'G-2', 5, '[{"sku":"A","qty":1,"amount":5}]');
SET ROLE regress_ret_pos;
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('a sku not bought',     format($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
      VALUES ('S05', 'X-1', 1, '[{"sku":"guess","qty":1,"amount":1}]', %s)$$, pg_temp.sid('G-1'))),
  ('more than bought',     format($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
      VALUES ('S05', 'X-2', 56, '[{"sku":"A","qty":4,"amount":56}]', %s)$$, pg_temp.sid('G-1'))),
  ('another card',         format($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of)
      VALUES ('S05', 'X-3', %L, 8, '[{"sku":"B","qty":1,"amount":8}]', %s)$$, :'c', pg_temp.sid('G-1'))),
  ('a card, anonymous sale', format($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of)
      VALUES ('S05', 'X-4', %L, 5, '[{"sku":"A","qty":1,"amount":5}]', %s)$$, :'c', pg_temp.sid('G-2'))),
  ('dated before the sale', format($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of, occurred_at)
      VALUES ('S05', 'X-5', 8, '[{"sku":"B","qty":1,"amount":8}]', %s, now() - interval '1 hour')$$, pg_temp.sid('G-1')))
  ) t(what, statement);
RESET ROLE;

-- ===== 5. A sale retried after its card was replaced
-- h buys with card h; the card is replaced by h2; the POS retries the sale
-- (and a return made with card h): the retry's answer, no error, no award
SET ROLE regress_ret_pos;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S06', 'H-1', :'h', 20, '[{"sku":"A","qty":2,"amount":20}]')
ON CONFLICT (store, pos_txn) DO NOTHING RETURNING points_earned;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of)
VALUES ('S06', 'H-2', :'h', 10, '[{"sku":"A","qty":1,"amount":10}]', pg_temp.sid('H-1'))
ON CONFLICT (store, pos_txn) DO NOTHING RETURNING points_earned;
RESET ROLE;
SELECT loyalty.replace_card(:'h', :'h2') > 0 AS replaced;
SET ROLE regress_ret_pos;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S06', 'H-1', :'h', 20, '[{"sku":"A","qty":2,"amount":20}]')
ON CONFLICT (store, pos_txn) DO NOTHING RETURNING points_earned;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of)
VALUES ('S06', 'H-2', :'h', 10, '[{"sku":"A","qty":1,"amount":10}]', pg_temp.sid('H-1'))
ON CONFLICT (store, pos_txn) DO NOTHING RETURNING points_earned;
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('the retry without ON CONFLICT', format($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
      VALUES ('S06', 'H-1', %L, 20, '[{"sku":"A","qty":2,"amount":20}]')$$, :'h')),
  ('a new sale, replaced card',     format($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
      VALUES ('S06', 'H-3', %L, 20, '[{"sku":"A","qty":2,"amount":20}]')$$, :'h')),
  ('a new return, replaced card',   format($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of)
      VALUES ('S06', 'H-4', %L, 10, '[{"sku":"A","qty":1,"amount":10}]', %s)$$, :'h', pg_temp.sid('H-1'))),
  ('other content, replaced card',  format($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
      VALUES ('S06', 'H-1', %L, 30, '[{"sku":"A","qty":3,"amount":30}]')$$, :'h'))
  ) t(what, statement);
RESET ROLE;
SELECT count(*) AS h_sales, sum(points_earned) AS h_points FROM loyalty.sale WHERE store = 'S06';
SELECT available FROM loyalty.balance(:'h2');

SELECT * FROM loyalty.check_invariants();

SET client_min_messages = warning;
DROP OWNED BY regress_ret_pos, regress_ret_admin, regress_ret_pos_limit;
DROP ROLE regress_ret_pos, regress_ret_admin, regress_ret_pos_limit;
RESET client_min_messages;
