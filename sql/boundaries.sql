-- Boundaries: every limit, window, cap and date compared in src/*.c, tested
-- exactly at the boundary and just either side of it (1 microsecond, 1 second,
-- 1 cent, 1 byte).  Each block is on its own and says which comparison it
-- pins down; expected values are worked out from the README in the comments.
-- Times are fixed instants in the past (effective times cannot be in the
-- future), except where a limit is measured against the present (the return
-- window, the sale clock skew): those use now(), inside one transaction.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- Runs a statement and shows its SQLSTATE and message (or that it worked).
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
-- A sale's id by its pos_txn (unique across stores in this test).
CREATE FUNCTION pg_temp.sid(txn text) RETURNS bigint
LANGUAGE sql AS $$ SELECT sale_id FROM loyalty.sale WHERE pos_txn = txn $$;
-- The points a quote promises for one line of 10.00 at a moment, and the
-- codes of the rules that fire (base excluded), in rule order.
CREATE FUNCTION pg_temp.fired(c loyalty.card, at timestamptz) RETURNS text
LANGUAGE sql AS $$
	SELECT q.points || ' ' || COALESCE((SELECT string_agg(r->>'code', ',' ORDER BY (r->>'rule')::int)
	                                      FROM jsonb_array_elements(q.award->'rules') r
	                                     WHERE (r->>'fired')::boolean AND r->>'rule' IS NOT NULL), '-')
	  FROM loyalty.quote(c, '[{"sku":"A","qty":1,"amount":10.00}]', 10.00, NULL, at) q
$$;

-- Programs, one per topic (rules are per program).
INSERT INTO loyalty.program (code) VALUES ('plain'), ('excl'), ('minb'), ('led'), ('bud'), ('mcap'), ('visit');
-- big: a rate that makes a sale's exact points a fraction over 10^15 (amounts
-- are below 10^12); big2: 10,000 points per unit
INSERT INTO loyalty.program (code, points_per_unit) VALUES ('big', 9999.99999995), ('big2', 10000);
INSERT INTO loyalty.program (code, return_days) VALUES ('ret', 30);
INSERT INTO loyalty.program (code, expiry_after) VALUES ('exp', '30 days');
INSERT INTO loyalty.program (code, time_zone) VALUES ('win', 'Europe/Berlin');
INSERT INTO loyalty.program (code, expiry_after, expiry_rounding) VALUES
  ('rday', '1 day', 'day'), ('rmon', '1 month', 'month'), ('rqtr', '1 day', 'quarter'), ('ryr', '1 day', 'year');
SELECT loyalty.card_issue('53', 1) AS rt, loyalty.card_issue('53', 2) AS xc,
       loyalty.card_issue('53', 3) AS mb, loyalty.card_issue('53', 4) AS bl,
       loyalty.card_issue('53', 5) AS ik, loyalty.card_issue('53', 6) AS rw,
       loyalty.card_issue('53', 7) AS ep, loyalty.card_issue('53', 8) AS ed,
       loyalty.card_issue('53', 9) AS wn, loyalty.card_issue('53', 10) AS sk,
       loyalty.card_issue('53', 11) AS b1, loyalty.card_issue('53', 12) AS b2,
       loyalty.card_issue('53', 13) AS mc, loyalty.card_issue('53', 14) AS vs,
       loyalty.card_issue('53', 15) AS rd, loyalty.card_issue('53', 16) AS rm,
       loyalty.card_issue('53', 17) AS rq, loyalty.card_issue('53', 18) AS ry,
       loyalty.card_issue('53', 19) AS bg, loyalty.card_issue('53', 20) AS bh,
       loyalty.card_issue('53', 21) AS ky \gset
SELECT count(loyalty.enroll(c, p, enrolled_at => '2000-01-01 00:00+00')) AS enrolled FROM (VALUES
  (:'rt'::loyalty.card, 'plain'), (:'xc', 'excl'), (:'mb', 'minb'), (:'bl', 'led'), (:'ik', 'led'),
  (:'rw', 'ret'), (:'ep', 'exp'), (:'ed', 'exp'), (:'wn', 'win'), (:'sk', 'plain'),
  (:'b1', 'bud'), (:'b2', 'bud'), (:'mc', 'mcap'), (:'vs', 'visit'), (:'rd', 'rday'),
  (:'rm', 'rmon'), (:'rq', 'rqtr'), (:'ry', 'ryr'), (:'bg', 'big'), (:'bh', 'big2'),
  (:'ky', 'plain')) e(c, p);

-- ===== Retry vs LY035: a retry repeats card, total, lines and return_of
-- (README, Retries).  The total is compared exactly, not within the 0.01 per
-- line the lines may differ from it: the same lines with a total 0.01 or
-- 0.02 off (each a valid sale on its own) are different content, LY035.
-- A total written with another scale (30.0 for 30.00) is the same number.
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'RT-1', :'rt', '2024-02-01 10:00+00', 30.00,
        '[{"sku":"A","qty":1,"amount":10.00},{"sku":"B","qty":1,"amount":20.00}]')
RETURNING points_earned;
SELECT what, pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
        VALUES ('S1', 'RT-1', %L, '2024-02-01 10:00+00', %s,
        '[{"sku":"A","qty":1,"amount":10.00},{"sku":"B","qty":1,"amount":20.00}]')$$, :'rt', total)) AS outcome
  FROM (VALUES ('same total: a retry', '30.00'), ('same total, other scale: a retry', '30.0'),
               ('total 0.01 more', '30.01'), ('total 0.02 more', '30.02'),
               ('total 0.01 less', '29.99')) t(what, total);
-- with ON CONFLICT DO NOTHING the true retry returns no row
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'RT-1', :'rt', '2024-02-01 10:00+00', 30.00,
        '[{"sku":"A","qty":1,"amount":10.00},{"sku":"B","qty":1,"amount":20.00}]')
ON CONFLICT (store, pos_txn) DO NOTHING RETURNING points_earned;
SELECT count(*) AS sales, sum(points_earned) AS points FROM loyalty.sale WHERE pos_txn = 'RT-1';
SELECT count(*) AS ledger_entries FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'rt');

-- ===== LY033: the lines add up to the total within 0.01 per line (two
-- lines: 0.02); exactly 0.02 off is accepted, 0.03 is not
SELECT total, pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
        VALUES ('S1', %L, %L, '2024-02-01 11:00+00', %s,
        '[{"sku":"A","qty":1,"amount":10.00},{"sku":"B","qty":1,"amount":20.00}]')$$, 'TOL-' || total, :'rt', total)) AS outcome
  FROM (VALUES ('30.02'), ('30.03'), ('29.98'), ('29.97')) t(total);

-- ===== An excluded sku inside a multiplier's category: it earns nothing,
-- the multiplier does not apply to it, and it does not count toward a
-- minimum basket of the same category (README, Earning rules: exclude)
INSERT INTO loyalty.rule (program_id, code, kind, priority, skus, categories, multiplier, points, min_basket)
SELECT program_id, r.code, r.kind, r.priority, r.skus, r.categories, r.multiplier, r.points, r.min_basket
  FROM loyalty.program p, (VALUES
    ('no_ex1',     'exclude',    100, '{EX1}'::text[], NULL::text[], NULL::numeric, NULL::bigint, NULL::numeric),
    ('baby_x3',    'multiplier',  10, NULL, '{baby}', 3, NULL, NULL),
    ('baby_min35', 'bonus',       20, NULL, '{baby}', NULL, 7, 35.00)) r(code, kind, priority, skus, categories, multiplier, points, min_basket)
 WHERE p.code = 'excl';
-- EX-1: EX1 baby 10.00 (excluded), A1 baby 30.00 = 40.00
--   base 30, baby_x3 (3 - 1) x 30 = 60 on A1 only,
--   baby_min35: the earning baby lines are 30.00 < 35 (EX1 does not count)  = 90
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'EX-1', :'xc', '2024-02-02 10:00+00', 40.00,
        '[{"sku":"EX1","category":"baby","qty":1,"amount":10.00},
          {"sku":"A1","category":"baby","qty":1,"amount":30.00}]')
RETURNING points_earned;
SELECT code, kind, fired, points, why FROM loyalty.explain_sale(pg_temp.sid('EX-1'));
SELECT r->>'code' AS code, r->'lines' AS lines, r->'line_points' AS line_points
  FROM loyalty.sale s, jsonb_array_elements(s.award->'rules') r
 WHERE s.pos_txn = 'EX-1' AND (r->>'fired')::boolean;
-- EX-2 (two days ago, to be returned): A1 baby 35.00, EX1 baby 10.00 = 45.00
--   base 35 + baby_x3 70 + baby_min35 (35.00 >= 35: exactly the minimum) 7 = 112
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'EX-2', :'xc', now() - interval '48 hours', 45.00,
        '[{"sku":"A1","category":"baby","qty":1,"amount":35.00},
          {"sku":"EX1","category":"baby","qty":1,"amount":10.00}]')
RETURNING points_earned;
-- returning the excluded line takes nothing back: left A1 35.00 keeps all 112
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'EX-2R', 10.00, '[{"sku":"EX1","category":"baby","qty":1,"amount":10.00}]', pg_temp.sid('EX-2'))
RETURNING points_earned, award->'points_left' AS points_left, award->'due' AS due;

-- ===== min_basket: a basket of exactly min_basket fires, one cent below
-- does not ("least amount"); the same on a return: what is left at exactly
-- the minimum keeps the bonus, one cent below takes it back whole
INSERT INTO loyalty.rule (program_id, code, kind, points, min_basket)
SELECT program_id, 'min50', 'bonus', 5, 50.00 FROM loyalty.program WHERE code = 'minb';
-- MB-1 50.00: base 50 + min50 5 = 55;  MB-2 49.99: base floor(49.99) 49
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES
  ('S1', 'MB-1', :'mb', '2024-02-03 10:00+00', 50.00, '[{"sku":"A","qty":1,"amount":20.00},{"sku":"B","qty":1,"amount":30.00}]'),
  ('S1', 'MB-2', :'mb', '2024-02-03 11:00+00', 49.99, '[{"sku":"A","qty":1,"amount":19.99},{"sku":"B","qty":1,"amount":30.00}]')
RETURNING pos_txn, points_earned;
SELECT code, fired, points, why FROM loyalty.explain_sale(pg_temp.sid('MB-2')) WHERE code = 'min50';
-- MB-3 (yesterday): A 10.00, B 2 x 50.00 = 60.00: base 60 + min50 5 = 65
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'MB-3', :'mb', now() - interval '24 hours', 60.00,
        '[{"sku":"A","qty":1,"amount":10.00},{"sku":"B","qty":2,"amount":50.00}]')
RETURNING points_earned;
-- return A: left B 50.00, exactly the minimum: kept 50 + 5 = 55, due 10
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'MB-3R1', 10.00, '[{"sku":"A","qty":1,"amount":10.00}]', pg_temp.sid('MB-3'))
RETURNING points_earned, award->'points_left' AS points_left, award->'due' AS due;
-- return one B for 0.01: left 49.99 < 50: kept floor(49.99) 49, due 65 - 49 - 10 = 6
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'MB-3R2', 0.01, '[{"sku":"B","qty":1,"amount":0.01}]', pg_temp.sid('MB-3'))
RETURNING points_earned, award->'points_left' AS points_left, award->'due' AS due;

-- ===== Card numbers: a 19-digit number (the longest) with a wrong check
-- digit is 22P02 and says the right digit (1234567890123456785 is valid);
-- card_issue lengths just outside 8..19 are 22023
SELECT input, pg_temp.outcome(format('SELECT %L::loyalty.card', input)) AS outcome,
       loyalty.card_is_valid(input) AS valid
  FROM (VALUES ('1234567890123456785'), ('1234567890123456780'), ('1234567890123456789'),
               ('1234 5678 9012 3456 784'), ('12345674'), ('12345679')) t(input);
SELECT len, pg_temp.outcome(format('SELECT loyalty.card_issue(%L, 1, %s)', '', len)) AS outcome
  FROM (VALUES (7), (8), (19), (20)) t(len);
SELECT loyalty.card_issue('', 1, 8) AS shortest, loyalty.card_issue('', 1, 19) AS longest;

-- ===== balance_at by effective time: an entry counts from its effective_at
-- on (at exactly that moment it is in, 1 microsecond before it is not), as
-- a statement [from_at, to_at) starting at that moment lists it
SELECT entry_id AS bl_e1 FROM loyalty.earn(:'bl', 100, 'bl-1', NULL, '2024-03-01 12:00:00+00') \gset
SELECT at, available, pending, lifetime_earned, net FROM (VALUES
  (timestamptz '2024-03-01 11:59:59+00'), ('2024-03-01 11:59:59.999999+00'), ('2024-03-01 12:00:00+00'),
  ('2024-03-01 12:00:00.000001+00'), ('2024-03-01 12:00:01+00')) t(at),
  LATERAL loyalty.balance_at(:'bl', t.at) ORDER BY at;
SELECT at, count(l.*) AS lots, sum(l.points) AS points FROM (VALUES
  (timestamptz '2024-03-01 11:59:59.999999+00'), ('2024-03-01 12:00:00+00')) t(at)
  LEFT JOIN LATERAL loyalty.lots_at(loyalty.member_id(:'bl'), t.at) l ON true GROUP BY at ORDER BY at;
SELECT (SELECT count(*) FROM loyalty.statement(:'bl', '2024-03-01 12:00:00+00', '2024-03-01 12:00:00.000001+00')) AS from_at_inclusive,
       (SELECT count(*) FROM loyalty.statement(:'bl', '2024-03-01 11:00:00+00', '2024-03-01 12:00:00+00')) AS to_at_exclusive;
-- as_posted_by: an entry posted at P is in "the ledger as it stood at P",
-- not 1 microsecond before
SELECT posted_at AS bl_posted FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'bl') AND entry_id = :bl_e1 \gset
SELECT (SELECT net FROM loyalty.balance_at(:'bl', now(), :'bl_posted')) AS as_posted_at_p,
       (SELECT net FROM loyalty.balance_at(:'bl', now(), timestamptz :'bl_posted' - interval '1 microsecond')) AS one_us_before_p;

-- ===== pending_until: points are pending before it and redeemable from it
-- on (balance_at at exactly that moment)
SELECT points, pending_until FROM loyalty.earn(:'bl', 40, 'bl-2', NULL, '2024-03-10 00:00+00', '2024-03-20 00:00+00');
SELECT at, available, pending, net FROM (VALUES
  (timestamptz '2024-03-19 23:59:59.999999+00'), ('2024-03-20 00:00:00+00'), ('2024-03-20 00:00:00.000001+00')) t(at),
  LATERAL loyalty.balance_at(:'bl', t.at) ORDER BY at;
-- a back-dated debit takes from the lots open when it is posted, whatever its
-- date (README, Lots): dated 1 microsecond before pending_until it still
-- takes all 110 from both lots (140 now); dated at pending_until, 30 are left
-- of 40 asked: 10 short (truncate)
SELECT kind, points, shortfall FROM loyalty.adjust(:'bl', -110, 'bl-adj1', 'before pending end', '2024-03-19 23:59:59.999999+00');
SELECT kind, points, shortfall FROM loyalty.adjust(:'bl', -40, 'bl-adj2', 'at pending end', '2024-03-20 00:00:00+00');
-- an explicit pending_until at the entry's own effective time: redeemable at once
SELECT points, pending_until = effective_at AS pending_until_is_effective_at
  FROM loyalty.earn(:'bl', 5, 'bl-3', NULL, '2024-04-01 00:00+00', '2024-04-01 00:00+00');
SELECT available, pending FROM loyalty.balance_at(:'bl', '2024-04-01 00:00+00');
SELECT points FROM loyalty.redeem(:'bl', 5, 'S1', 'BL-R1');

-- an explicit pending_until of now() (the transaction's start) is already
-- past when the entry is dated (at its lock): redeemable at once
BEGIN;
SELECT points, pending_until = now() AS pending_until_now, effective_at >= now() AS dated_at_or_after_now
  FROM loyalty.earn(:'bl', 7, 'bl-4', NULL, NULL, now());
SELECT available, pending FROM loyalty.balance(:'bl');
SELECT points FROM loyalty.redeem(:'bl', 7, 'S1', 'BL-R2');
COMMIT;

-- ===== An idempotency key reused to reverse a different entry is LY011
-- ("same request" compares the reversed entry); the same entry again is a
-- replay: the same entry back, nothing posted
SELECT entry_id AS ik_e1 FROM loyalty.earn(:'ik', 50, 'ik-1', NULL, '2024-05-01 00:00+00') \gset
SELECT entry_id AS ik_e2 FROM loyalty.earn(:'ik', 50, 'ik-2', NULL, '2024-05-02 00:00+00') \gset
SELECT entry_id AS ik_r1, points FROM loyalty.reverse(:'ik', :ik_e1, 10, 'ik-rev') \gset
SELECT :points AS points;
SELECT entry_id = :ik_r1 AS same_entry, points FROM loyalty.reverse(:'ik', :ik_e1, 10, 'ik-rev');
SELECT pg_temp.outcome(format('SELECT loyalty.reverse(%L, %s, 10, %L)', :'ik', :ik_e2, 'ik-rev')) AS other_entry_same_key;
SELECT count(*) AS entries, sum(points) AS net FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'ik');
SELECT points - already AS left_of_e2 FROM (SELECT points FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'ik') AND entry_id = :ik_e2) e,
       (SELECT COALESCE(-sum(points), 0) AS already FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'ik') AND reverses = :ik_e2) r;

-- ===== Return window: program ret accepts returns for 30 days.  The sale is
-- dated back from now() and the return recorded at now() in the same
-- transaction, so the return's occurred_at is the time it is recorded:
-- exactly 30 days (720 hours) after the sale is accepted; 1 microsecond or
-- 1 second more is LY040.  (Should the window come to be measured to the
-- server's time of recording, the sale times here may need a margin.)
BEGIN;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'RW-1', :'rw', now() - interval '720 hours', 10.00, '[{"sku":"A","qty":2,"amount":10.00}]')
RETURNING points_earned;
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'RW-1R', 5.00, '[{"sku":"A","qty":1,"amount":5.00}]', pg_temp.sid('RW-1'))
RETURNING points_earned;
COMMIT;
BEGIN;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES
  ('S1', 'RW-2', :'rw', now() - interval '720 hours' - interval '1 microsecond', 10.00, '[{"sku":"A","qty":2,"amount":10.00}]'),
  ('S1', 'RW-3', :'rw', now() - interval '720 hours' - interval '1 second', 10.00, '[{"sku":"A","qty":2,"amount":10.00}]'),
  ('S1', 'RW-4', :'rw', now() - interval '720 hours' + interval '1 second', 10.00, '[{"sku":"A","qty":2,"amount":10.00}]')
RETURNING pos_txn, points_earned;
SELECT txn, regexp_replace(pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
        VALUES ('S1', %L, 5.00, '[{"sku":"A","qty":1,"amount":5.00}]', %s)$$, txn || 'R', pg_temp.sid(txn))),
        'sale \d+', 'sale N') AS outcome
  FROM (VALUES ('RW-2'), ('RW-3'), ('RW-4')) t(txn);
COMMIT;
-- ... and never dated before its sale: at exactly the sale's time is
-- accepted, 1 microsecond before is LY040 (times in the message masked)
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'RW-5', :'rw', date_trunc('second', now()) - interval '1 hour', 10.00, '[{"sku":"A","qty":2,"amount":10.00}]')
RETURNING points_earned;
SELECT what, regexp_replace(pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of, occurred_at)
        VALUES ('S1', %L, 5.00, '[{"sku":"A","qty":1,"amount":5.00}]', %s, %L)$$, txn, pg_temp.sid('RW-5'),
        (SELECT occurred_at FROM loyalty.sale WHERE pos_txn = 'RW-5') + d)),
        'dated .* is before sale \d+', 'dated <1 microsecond before> is before sale N') AS outcome
  FROM (VALUES ('1 microsecond before the sale', 'RW-5R1', interval '-1 microsecond'),
               ('at the sale''s time', 'RW-5R2', interval '0')) t(what, txn, d);
SELECT pos_txn, points_earned FROM loyalty.sale WHERE return_of IS NOT NULL AND pos_txn LIKE 'RW-%' ORDER BY pos_txn;

-- ===== expire_points(as_of) expires a lot whose expiry is at or before
-- as_of: 1 microsecond before its expiry nothing, at exactly it the lot
-- ep-1 earned 2024-01-01 00:00 expires 30 days later, 2024-01-31 00:00
SELECT expires_at FROM loyalty.earn(:'ep', 100, 'ep-1', NULL, '2024-01-01 00:00+00');
SELECT * FROM loyalty.expire_points('2024-01-30 23:59:59+00');
SELECT * FROM loyalty.expire_points('2024-01-30 23:59:59.999999+00');
SELECT * FROM loyalty.expire_points('2024-01-31 00:00:00+00');
SELECT * FROM loyalty.expire_points('2024-01-31 00:00:00+00');
SELECT kind, points, effective_at FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'ep') ORDER BY entry_id;
-- balance_at: at its expiry the lot counts as expired, not 1 microsecond before
SELECT at, available, expired, net FROM (VALUES
  (timestamptz '2024-01-30 23:59:59.999999+00'), ('2024-01-31 00:00:00+00')) t(at),
  LATERAL loyalty.balance_at(:'ep', t.at) ORDER BY at;

-- ===== A debit takes from the lots open when it is posted: a lot that has
-- expired by then is not taken, even by a debit dated before its expiry (a
-- back-dated negative adjustment; whether expire_points has run does not
-- matter).  Both take nothing: 10 short each.
-- ed-1 earned 2024-02-01 00:00 expires 2024-03-02 00:00 (2024 is a leap year)
SELECT expires_at FROM loyalty.earn(:'ed', 100, 'ed-1', NULL, '2024-02-01 00:00+00');
SELECT kind, points, shortfall FROM loyalty.adjust(:'ed', -10, 'ed-a1', 'at expiry', '2024-03-02 00:00:00+00');
SELECT kind, points, shortfall FROM loyalty.adjust(:'ed', -10, 'ed-a2', 'just before expiry', '2024-03-01 23:59:59.999999+00');
SELECT points, remaining FROM loyalty.lot WHERE member_id = loyalty.member_id(:'ed');
-- expire_points has not run for it: balance_at counts the 100 as expired
-- from the expiry on, not 1 microsecond before
SELECT at, available, expired, net FROM (VALUES
  (timestamptz '2024-03-01 23:59:59.999999+00'), ('2024-03-02 00:00:00+00')) t(at),
  LATERAL loyalty.balance_at(:'ed', t.at) ORDER BY at;

-- ===== Rule windows, exactly at each boundary and 1 microsecond / 1 second
-- either side, in the program's zone (Europe/Berlin: UTC+1 in January,
-- UTC+2 in June), through quote(at => ...): base 10 plus
--   dated 1:  valid_from 2024-06-01 00:00Z (in) .. valid_to 2024-07-01 00:00Z (out)
--   hours 2:  local hours [10, 12)
--   late 4:   local hours [23, 24)
--   sun 8:    ISO day 7 (Sunday);  mon 16: ISO day 1 (Monday)
INSERT INTO loyalty.rule (program_id, code, kind, points, valid_from, valid_to, hour_from, hour_to, days_of_week)
SELECT program_id, r.code, 'bonus', r.points, r.valid_from, r.valid_to, r.hour_from, r.hour_to, r.dow
  FROM loyalty.program p, (VALUES
    ('dated', 1, timestamptz '2024-06-01 00:00+00', timestamptz '2024-07-01 00:00+00', NULL::int, NULL::int, NULL::int[]),
    ('hours', 2, NULL, NULL, 10, 12, NULL),
    ('late',  4, NULL, NULL, 23, 24, NULL),
    ('sun',   8, NULL, NULL, NULL, NULL, '{7}'),
    ('mon',  16, NULL, NULL, NULL, NULL, '{1}')) r(code, points, valid_from, valid_to, hour_from, hour_to, dow)
 WHERE p.code = 'win';
-- valid_from: 2024-05-31 is a Friday, 06-01 a Saturday (01:59-02:00 local)
--   -1 s, -1 us: 10 -;  =, +1 us, +1 s: 11 dated
-- valid_to: 2024-06-30 23:59:59Z is already Monday 07-01 01:59:59 local
--   -1 s, -1 us: 27 dated,mon;  =, +1 us, +1 s: 26 mon
SELECT what, at, pg_temp.fired(:'wn', at) AS quote FROM (VALUES
  ('valid_from - 1 s',  timestamptz '2024-05-31 23:59:59+00'),
  ('valid_from - 1 us', '2024-05-31 23:59:59.999999+00'),
  ('valid_from',        '2024-06-01 00:00:00+00'),
  ('valid_from + 1 us', '2024-06-01 00:00:00.000001+00'),
  ('valid_from + 1 s',  '2024-06-01 00:00:01+00'),
  ('valid_to - 1 s',    '2024-06-30 23:59:59+00'),
  ('valid_to - 1 us',   '2024-06-30 23:59:59.999999+00'),
  ('valid_to',          '2024-07-01 00:00:00+00'),
  ('valid_to + 1 us',   '2024-07-01 00:00:00.000001+00'),
  ('valid_to + 1 s',    '2024-07-01 00:00:01+00')) t(what, at);
-- hours on Wednesday 2024-01-10, local time (+01):
--   09:59:59, 09:59:59.999999: 10 -;  10:00, 10:00:00.000001, 10:00:01: 12 hours
--   11:59:59, 11:59:59.999999: 12 hours;  12:00, 12:00:00.000001, 12:00:01: 10 -
--   22:59:59.999999: 10 -;  23:00, 23:59:59.999999: 14 late;  Thu 00:00: 10 -
SELECT what, at, pg_temp.fired(:'wn', at) AS quote FROM (VALUES
  ('hour_from - 1 s',  timestamptz '2024-01-10 09:59:59+01'),
  ('hour_from - 1 us', '2024-01-10 09:59:59.999999+01'),
  ('hour_from',        '2024-01-10 10:00:00+01'),
  ('hour_from + 1 us', '2024-01-10 10:00:00.000001+01'),
  ('hour_from + 1 s',  '2024-01-10 10:00:01+01'),
  ('hour_to - 1 s',    '2024-01-10 11:59:59+01'),
  ('hour_to - 1 us',   '2024-01-10 11:59:59.999999+01'),
  ('hour_to',          '2024-01-10 12:00:00+01'),
  ('hour_to + 1 us',   '2024-01-10 12:00:00.000001+01'),
  ('hour_to + 1 s',    '2024-01-10 12:00:01+01'),
  ('23 - 1 us',        '2024-01-10 22:59:59.999999+01'),
  ('23',               '2024-01-10 23:00:00+01'),
  ('24 - 1 us',        '2024-01-10 23:59:59.999999+01'),
  ('24 (next day 0)',  '2024-01-11 00:00:00+01')) t(what, at);
-- days of week, local: Saturday 2024-01-13, Sunday 01-14 (its first moment
-- is still Saturday in UTC), Monday 01-15
--   Sat 23:59:59, 23:59:59.999999: 14 late;  Sun 00:00, 00:00:00.000001: 18 sun
--   Sun 23:59:59.999999: 22 late,sun;  Mon 00:00, 00:00:01: 26 mon
SELECT what, at, pg_temp.fired(:'wn', at) AS quote FROM (VALUES
  ('Sat 23:59:59',        timestamptz '2024-01-13 23:59:59+01'),
  ('Sat 23:59:59.999999', '2024-01-13 23:59:59.999999+01'),
  ('Sun 00:00',           '2024-01-14 00:00:00+01'),
  ('Sun 00:00:00.000001', '2024-01-14 00:00:00.000001+01'),
  ('Sun 23:59:59.999999', '2024-01-14 23:59:59.999999+01'),
  ('Mon 00:00',           '2024-01-15 00:00:00+01'),
  ('Mon 00:00:01',        '2024-01-15 00:00:01+01')) t(what, at);
-- a sale at exactly valid_from earns what the quote said: 11
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'WN-1', :'wn', '2024-06-01 00:00:00+00', 10.00, '[{"sku":"A","qty":1,"amount":10.00}]')
RETURNING points_earned;
-- a sale on a Sunday, local: 10 + sun 8 = 18
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'WN-2', :'wn', '2024-01-14 00:00:00+01', 10.00, '[{"sku":"A","qty":1,"amount":10.00}]')
RETURNING points_earned;

-- ===== Clock skew: a sale may be dated up to 5 minutes ahead of the
-- server's clock (LY016 beyond).  The trigger compares with the clock at
-- the moment of the INSERT (GetCurrentTimestamp), which is at or after this
-- statement's now(): now() + 4 min 50 s is always inside the limit; now() +
-- 5 min 10 s is outside unless the statement took 10 s to reach the trigger.
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'SK-1', :'sk', now() + interval '4 minutes 50 seconds', 10.00, '[{"sku":"A","qty":1,"amount":10.00}]')
RETURNING points_earned;
SELECT regexp_replace(pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
        VALUES ('S1', 'SK-2', %L, now() + interval '5 minutes 10 seconds', 10.00, '[{"sku":"A","qty":1,"amount":10.00}]')$$, :'sk')),
        'sale time .* is in', 'sale time <now + 5 min 10 s> is in') AS five_min_ten_s_ahead;
-- the award is dated at the lock, not ahead of the server's clock
SELECT effective_at <= posted_at AS not_ahead FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'sk');

-- ===== A budget spent exactly: bonus 10 per sale, budget 20.  Two sales
-- spend it to the point; the third gets nothing of it, and a quote must not
-- promise what is gone.  Each sale 5.00 = base 5.
INSERT INTO loyalty.rule (program_id, code, kind, points, budget_points)
SELECT program_id, 'b10', 'bonus', 10, 20 FROM loyalty.program WHERE code = 'bud';
SELECT points FROM loyalty.quote(:'b1', '[{"sku":"A","qty":1,"amount":5.00}]', 5.00, NULL, '2024-04-01 09:00+00');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'BU-1', :'b1', '2024-04-01 10:00+00', 5.00, '[{"sku":"A","qty":1,"amount":5.00}]') RETURNING points_earned;
-- 10 left: the quote still promises them
SELECT points FROM loyalty.quote(:'b2', '[{"sku":"A","qty":1,"amount":5.00}]', 5.00, NULL, '2024-04-01 10:30+00');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'BU-2', :'b2', '2024-04-01 11:00+00', 5.00, '[{"sku":"A","qty":1,"amount":5.00}]') RETURNING points_earned;
-- spent to the point (20 of 20): the quote promises base 5 only
SELECT points, (SELECT r->>'why' FROM jsonb_array_elements(award->'rules') r WHERE r->>'code' = 'b10') AS why
  FROM loyalty.quote(:'b1', '[{"sku":"A","qty":1,"amount":5.00}]', 5.00, NULL, '2024-04-01 11:30+00');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'BU-3', :'b1', '2024-04-01 12:00+00', 5.00, '[{"sku":"A","qty":1,"amount":5.00}]') RETURNING points_earned;
SELECT code, fired, points, why FROM loyalty.explain_sale(pg_temp.sid('BU-3')) WHERE code = 'b10';
SELECT sum(points) AS spent, sum(uses) AS uses, sum(share) AS shares FROM loyalty.rule_spend;

-- ===== A budget share that covers a sale exactly is used: bonus 10, budget
-- 810.  The first sale finds no slots: it takes 10 from the whole budget and
-- splits the 800 left into eight shares of 100, its member's home slot
-- (member_id % 8) keeping the 10 it spent (share 110).  The next ten sales
-- take 10 each in the home slot, the last of them its last 10 exactly; the
-- twelfth goes on to the next slot.  Shown relative to the home slot.
-- sh: one sale per transaction (each looks at the committed slots);
-- sh2: all twelve in one statement (the slots held in memory).
INSERT INTO loyalty.program (code) VALUES ('share'), ('share2');
INSERT INTO loyalty.rule (program_id, code, kind, points, budget_points)
SELECT program_id, 'b810_' || code, 'bonus', 10, 810 FROM loyalty.program WHERE code IN ('share', 'share2');
SELECT loyalty.card_issue('53', 23) AS sh, loyalty.card_issue('53', 24) AS sh2 \gset
SELECT loyalty.enroll(:'sh', 'share', enrolled_at => '2000-01-01 00:00+00') > 0 AS sh_enrolled, loyalty.enroll(:'sh2', 'share2', enrolled_at => '2000-01-01 00:00+00') > 0 AS sh2_enrolled;
SELECT format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
  VALUES ('S1', %L, %L, %L, 1.00, '[{"sku":"A","qty":1,"amount":1.00}]')$$,
  'SH-' || n, :'sh', timestamptz '2024-04-03 10:00+00' + n * interval '1 minute')
  FROM generate_series(1, 12) n ORDER BY n \gexec
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S1', 'SH2-' || n, :'sh2', timestamptz '2024-04-03 10:00+00' + n * interval '1 minute', 1.00, '[{"sku":"A","qty":1,"amount":1.00}]'
  FROM generate_series(1, 12) n ORDER BY n;
SELECT r.code, (s.slot - m.member_id % 8 + 8) % 8 AS from_home, s.points, s.uses, s.share, s.split_of
  FROM loyalty.rule_spend s JOIN loyalty.rule r USING (rule_id)
  JOIN loyalty.member m ON m.program_id = r.program_id
 WHERE r.code LIKE 'b810%' ORDER BY r.code, from_home;
SELECT count(*) FILTER (WHERE points_earned = 11) AS sales_with_bonus, count(*) AS sales
  FROM loyalty.sale WHERE pos_txn LIKE 'SH%';

-- ===== Member caps reached exactly: p25 (10 points, at most 25 per member)
-- and u2 (1 point, at most 2 uses per member); each sale 1.00 = base 1
--   M-1: 1 + 10 + 1 = 12;  M-2: 1 + 10 + 1 = 12 (p25 at 20, u2 used twice)
--   M-3: 1 + p25 capped 10 -> 5 (25: the cap exactly) + u2 used up = 6
--   M-4: 1 + p25 reached = 1
INSERT INTO loyalty.rule (program_id, code, kind, points, member_max_points, member_max_uses)
SELECT program_id, r.code, 'bonus', r.points, r.max_points, r.max_uses FROM loyalty.program p,
  (VALUES ('p25', 10, 25, NULL::int), ('u2', 1, NULL, 2)) r(code, points, max_points, max_uses)
 WHERE p.code = 'mcap';
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S1', 'M-' || n, :'mc', timestamptz '2024-04-02 10:00+00' + n * interval '1 hour', 1.00, '[{"sku":"A","qty":1,"amount":1.00}]'
  FROM generate_series(1, 4) n
RETURNING pos_txn, points_earned;
SELECT s.pos_txn, e.code, e.fired, e.points, e.why
  FROM loyalty.sale s, LATERAL loyalty.explain_sale(s.sale_id) e
 WHERE s.pos_txn LIKE 'M-%' AND e.code <> 'base' ORDER BY s.pos_txn, e.code;
SELECT r.code, u.uses, u.points FROM loyalty.member_rule_use u JOIN loyalty.rule r USING (rule_id) ORDER BY r.code;

-- ===== nth_visit: the calendar month is [first moment, first moment of the
-- next) in the program's zone (UTC): every 2nd visit day earns 100; each
-- sale 10.00 = base 10
--   V-1 07-31 23:59:59.999999: July visit 1 = 10
--   V-2 08-01 00:00 exactly: August visit 1 (July's V-1 does not count) = 10
--   V-3 08-02: August visit 2 (V-2 counts: the period includes its start) = 110
--   V-4 09-01 00:00 exactly, recorded before V-5: September visit 1 = 10
--   V-5 08-20, back-filled: August visit 3 (V-4 is not in August) = 10
INSERT INTO loyalty.rule (program_id, code, kind, points, every_nth, visit_period)
SELECT program_id, 'every2', 'nth_visit', 100, 2, 'month' FROM loyalty.program WHERE code = 'visit';
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S1', txn, :'vs', at, 10.00, '[{"sku":"A","qty":1,"amount":10.00}]'
  FROM (VALUES (1, 'V-1', timestamptz '2024-07-31 23:59:59.999999+00'), (2, 'V-2', '2024-08-01 00:00:00+00'),
               (3, 'V-3', '2024-08-02 10:00+00'), (4, 'V-4', '2024-09-01 00:00:00+00'),
               (5, 'V-5', '2024-08-20 10:00+00')) t(n, txn, at)
 ORDER BY n
RETURNING pos_txn, points_earned;

-- ===== nth_visit counts local days and local periods (program zone
-- Europe/Berlin): every 2nd visit day of a month earns 100; each sale 10.00
--   Z-1 03-05 23:30 local (22:30Z): March visit 1                        = 10
--   Z-2 03-06 00:30 local (03-05 23:30Z, Z-1's UTC day): visit 2          = 110
--   Z-3 03-07 00:30 local (03-06 23:30Z): visit 3                         = 10
--   Z-4 03-07 10:00 local (03-07 09:00Z): Z-3's local day, no new visit   = 10
--   Z-5 03-08 09:00 local: visit 4                                        = 110
--   Z-6 03-31 23:30 local (CEST since 02:00 that day; 21:30Z): visit 5    = 10
--   Z-7 04-01 00:30 local (03-31 22:30Z): April visit 1                   = 10
--   Z-8 04-01 23:00 local: Z-7's local day, no new visit                  = 10
--   Z-9 04-02 00:10 local (04-01 22:10Z, Z-8's UTC day): April visit 2    = 110
INSERT INTO loyalty.program (code, time_zone) VALUES ('visitz', 'Europe/Berlin');
INSERT INTO loyalty.rule (program_id, code, kind, points, every_nth, visit_period)
SELECT program_id, 'every2z', 'nth_visit', 100, 2, 'month' FROM loyalty.program WHERE code = 'visitz';
SELECT loyalty.card_issue('53', 30) AS vz \gset
SELECT loyalty.enroll(:'vz', 'visitz', enrolled_at => '2000-01-01 00:00+00') > 0 AS vz_enrolled;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S1', 'Z-' || n, :'vz', at, 10.00, '[{"sku":"A","qty":1,"amount":10.00}]'
  FROM (VALUES (1, timestamptz '2024-03-05 23:30+01'), (2, '2024-03-06 00:30+01'), (3, '2024-03-07 00:30+01'),
               (4, '2024-03-07 10:00+01'), (5, '2024-03-08 09:00+01'), (6, '2024-03-31 23:30+02'),
               (7, '2024-04-01 00:30+02'), (8, '2024-04-01 23:00+02'), (9, '2024-04-02 00:10+02')) t(n, at)
 ORDER BY n
RETURNING pos_txn, occurred_at, points_earned;
SELECT s.pos_txn, e.why FROM loyalty.sale s, LATERAL loyalty.explain_sale(s.sale_id) e
 WHERE s.pos_txn IN ('Z-4', 'Z-8') AND e.code = 'every2z' ORDER BY s.pos_txn;

-- ===== expiry_rounding: the expiry (effective_at + expiry_after) is pushed
-- to the end of its day, month, quarter or year (UTC).  An expiry that
-- falls exactly on a period's first moment lies in that period, so it is
-- pushed to that period's end; 1 microsecond earlier it lies in the period
-- before and ends at that first moment.
--   day  (1 day):   01-30 23:59:59.999999 -> 01-31 23:59:59.999999 -> 02-01
--                   01-31 00:00           -> 02-01 00:00           -> 02-02
--   month (1 month): 01-31 23:59:59.999999 -> 02-28 23:59:59.999999 -> 03-01
--                   02-01 00:00           -> 03-01 00:00           -> 04-01
--   quarter (1 day): 03-30 23:59:59.999999 -> 03-31 23:59:59.999999 -> 04-01
--                   03-31 00:00           -> 04-01 00:00           -> 07-01
--   year (1 day):   12-30 23:59:59.999999 -> 12-31 23:59:59.999999 -> 2026-01-01
--                   12-31 00:00           -> 2026-01-01 00:00      -> 2027-01-01
SELECT c.rounding, t.at AS effective_at, e.expires_at
  FROM (VALUES ('day', :'rd'), ('month', :'rm'), ('quarter', :'rq'), ('year', :'ry')) c(rounding, card),
       LATERAL (VALUES (1, CASE c.rounding WHEN 'day' THEN timestamptz '2025-01-30 23:59:59.999999+00'
                                           WHEN 'month' THEN '2025-01-31 23:59:59.999999+00'
                                           WHEN 'quarter' THEN '2025-03-30 23:59:59.999999+00'
                                           ELSE '2025-12-30 23:59:59.999999+00' END),
                       (2, CASE c.rounding WHEN 'day' THEN timestamptz '2025-01-31 00:00+00'
                                           WHEN 'month' THEN '2025-02-01 00:00+00'
                                           WHEN 'quarter' THEN '2025-03-31 00:00+00'
                                           ELSE '2025-12-31 00:00+00' END)) t(n, at),
       LATERAL loyalty.earn(c.card::loyalty.card, 1, c.rounding || t.n, NULL, t.at) e
 ORDER BY c.rounding, t.n;

-- ===== LY012: one entry moves at most 10^15 points; exactly 10^15 is fine
SELECT what, pg_temp.outcome(statement) AS outcome FROM (VALUES
  ('earn 10^15',       format('SELECT loyalty.earn(%L, 1000000000000000, %L, NULL, %L)', :'bg', 'bg-1', '2024-01-01 00:00+00')),
  ('earn 10^15 + 1',   format('SELECT loyalty.earn(%L, 1000000000000001, %L)', :'bg', 'bg-2')),
  ('adjust -(10^15 + 1)', format('SELECT loyalty.adjust(%L, -1000000000000001, %L, %L)', :'bg', 'bg-3', 'too much')),
  ('adjust 10^15 + 1', format('SELECT loyalty.adjust(%L, 1000000000000001, %L, %L)', :'bg', 'bg-3', 'too much')),
  ('adjust -10^15',    format('SELECT loyalty.adjust(%L, -1000000000000000, %L, %L)', :'bg', 'bg-4', 'all of it')),
  ('redeem 10^15 + 1', format('SELECT loyalty.redeem(%L, 1000000000000001, %L, %L)', :'bg', 'S1', 'BG-R1')),
  ('redeem 10^15 (nothing left)', format('SELECT loyalty.redeem(%L, 1000000000000000, %L, %L)', :'bg', 'S1', 'BG-R2')),
  ('reverse 10^15 + 1', format('SELECT loyalty.reverse(%L, 1, 1000000000000001, %L)', :'bg', 'bg-5')),
  -- 100000000000.5001 x 9999.99999995 = 10^15 + 0.99999997: floor 10^15
  ('sale of 10^15 points', format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
      VALUES ('S1', 'BG-S1', %L, '2024-01-02 00:00+00', 100000000000.5001, '[{"sku":"A","qty":1,"amount":100000000000.5001}]')$$, :'bg')),
  -- 100000000000.5002 x 9999.99999995 = 10^15 + 1.99999997: floor 10^15 + 1
  ('sale of 10^15 + 1 points', format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
      VALUES ('S1', 'BG-S2', %L, '2024-01-02 00:00+00', 100000000000.5002, '[{"sku":"A","qty":1,"amount":100000000000.5002}]')$$, :'bg'))
  ) t(what, statement);
SELECT kind, points FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'bg') ORDER BY entry_id;
-- (the limit is on the rounded points: BG-S1's exact points pass 10^15 by a
-- fraction its floor drops, and it earns exactly 10^15)
-- the limit holds for a sale's award as a whole: base + bonus 1, at 10,000
-- points per unit
--   99999999999.9999 -> 999999999999999 + 1 = 10^15: fine
--   100000000000.0000 -> 10^15 + 1: LY012
INSERT INTO loyalty.rule (program_id, code, kind, points)
SELECT program_id, 'one', 'bonus', 1 FROM loyalty.program WHERE code = 'big2';
SELECT total, pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
      VALUES ('S1', %L, %L, '2024-01-03 00:00+00', %s, '[{"sku":"A","qty":1,"amount":%s}]')$$, 'BH-' || total, :'bh', total, total)) AS outcome
  FROM (VALUES ('99999999999.9999'), ('100000000000.0000')) t(total);
SELECT kind, points FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'bh') ORDER BY entry_id;

-- ===== Keys, stores and pos_txns: at most 200 bytes (bytes, not
-- characters: 100 two-byte characters are 200 bytes, 101 are 202)
SELECT what, pg_temp.outcome(statement) AS outcome FROM (VALUES
  ('earn, key of 200 bytes',     format('SELECT loyalty.earn(%L, 50, %L, NULL, %L)', :'ky', repeat('k', 200), '2024-01-01 00:00+00')),
  ('earn, key of 201 bytes',     format('SELECT loyalty.earn(%L, 1, %L)', :'ky', repeat('k', 201))),
  ('earn, key of 100 x U+00E9',  format('SELECT loyalty.earn(%L, 1, %L, NULL, %L)', :'ky', repeat(U&'\00E9', 100), '2024-01-01 00:00+00')),
  ('earn, key of 101 x U+00E9',  format('SELECT loyalty.earn(%L, 1, %L)', :'ky', repeat(U&'\00E9', 101))),
  ('redeem, store and pos_txn of 200 bytes', format('SELECT loyalty.redeem(%L, 1, %L, %L)', :'ky', repeat('s', 200), repeat('t', 200))),
  ('redeem, store of 201 bytes', format('SELECT loyalty.redeem(%L, 1, %L, %L)', :'ky', repeat('s', 201), 'T1')),
  ('sale, store and pos_txn of 200 bytes', format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
      VALUES (%L, %L, %L, '2024-01-02 00:00+00', 1, '[{"sku":"A","qty":1,"amount":1}]')$$, repeat('s', 200), repeat('t', 200), :'ky')),
  ('sale, store of 201 bytes',   format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
      VALUES (%L, %L, %L, '2024-01-02 00:00+00', 1, '[{"sku":"A","qty":1,"amount":1}]')$$, repeat('s', 201), 'T1', :'ky')),
  ('sale, pos_txn of 201 bytes', format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
      VALUES (%L, %L, %L, '2024-01-02 00:00+00', 1, '[{"sku":"A","qty":1,"amount":1}]')$$, 'S1', repeat('t', 201), :'ky'))
  ) t(what, statement);
SELECT kind, points, octet_length(idem_key) AS key_bytes, octet_length(store) AS store_bytes, octet_length(pos_txn) AS txn_bytes
  FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'ky') ORDER BY entry_id;

-- ===== A return at the very moment the sale's points expire: they are gone
-- already and are not taken again from other lots (README, Returns); 1
-- microsecond before their expiry they are still there and are taken back.
-- Program expret: points expire 30 days (720 hours, UTC) after the sale;
-- returns are accepted for 365 days.  Both sales are dated back from now()
-- and returned at now() in the same transaction (the return's occurred_at is
-- the time it is recorded), so XR-1's lot expires at the return's now(),
-- before the return is posted (at its lock), and XR-2's an hour later.  (The
-- points are judged at the posting time, which a test cannot pin to the
-- microsecond.)
INSERT INTO loyalty.program (code, expiry_after) VALUES ('expret', '30 days');
SELECT loyalty.card_issue('53', 22) AS xr \gset
SELECT loyalty.enroll(:'xr', 'expret', enrolled_at => '2000-01-01 00:00+00') > 0 AS enrolled;
BEGIN;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES
  ('S1', 'XR-1', :'xr', now() - interval '720 hours', 10.00, '[{"sku":"A","qty":1,"amount":10.00}]'),
  ('S1', 'XR-2', :'xr', now() - interval '719 hours', 20.00, '[{"sku":"A","qty":1,"amount":20.00}]')
RETURNING pos_txn, points_earned;
SELECT s.pos_txn, l.expires_at - now() AS expires_after_the_return
  FROM loyalty.sale s JOIN loyalty.lot l ON l.member_id = s.member_id AND l.lot_id = s.entry_id
 WHERE s.pos_txn LIKE 'XR-%' ORDER BY s.pos_txn;
-- XR-1 back at its lot's expiry: its 10 are expired, nothing is due (XR-2's
-- lot must not pay for them)
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'XR-1R', 10.00, '[{"sku":"A","qty":1,"amount":10.00}]', pg_temp.sid('XR-1'))
RETURNING points_earned, award->'expired' AS expired, award->'due' AS due;
-- XR-2 back an hour before its expiry: all 20 are taken back
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'XR-2R', 20.00, '[{"sku":"A","qty":1,"amount":20.00}]', pg_temp.sid('XR-2'))
RETURNING points_earned, award->'expired' AS expired, award->'due' AS due;
COMMIT;
SELECT s.pos_txn, l.points, l.remaining
  FROM loyalty.sale s JOIN loyalty.lot l ON l.member_id = s.member_id AND l.lot_id = s.entry_id
 WHERE s.pos_txn LIKE 'XR-%' ORDER BY s.pos_txn;

-- ===== LY038 by amount alone: a line bought as qty 2 for 10.00 may come
-- back in all for at most 10.00, whatever the quantity: qty 1 for 10.01 is
-- refused; qty 1 for 10.00, then qty 1 for 0.00 are fine (all of it, exactly);
-- a third qty 1, even for 0.00, is more than was bought
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'OR-1', :'rt', now() - interval '1 hour', 10.00, '[{"sku":"A","qty":2,"amount":10.00}]')
RETURNING points_earned;
SELECT what, regexp_replace(pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
        VALUES ('S1', %L, %s, '[{"sku":"A","qty":1,"amount":%s}]', %s)$$, txn, amount, amount, pg_temp.sid('OR-1'))),
        'sale \d+', 'sale N') AS outcome
  FROM (VALUES (1, 'qty 1 for 10.01', 'OR-1R1', '10.01'), (2, 'qty 1 for 10.00', 'OR-1R2', '10.00'),
               (3, 'qty 1 for 0.00 more', 'OR-1R3', '0.00'), (4, 'qty 1 more', 'OR-1R4', '0.00')) t(n, what, txn, amount)
 ORDER BY n;

-- ===== LY032: a quantity must be positive (0 is refused, 0.001 is fine);
-- amounts and totals may be 0, not -0.01 (anonymous sales: nothing earned)
SELECT what, pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines)
        VALUES ('S1', %L, '2024-02-05 10:00+00', %s, %L)$$, txn, total, lines)) AS outcome
  FROM (VALUES ('qty 0',         'LN-1', '1', '[{"sku":"A","qty":0,"amount":1}]'),
               ('qty 0.001',     'LN-2', '1', '[{"sku":"A","qty":0.001,"amount":1}]'),
               ('amount 0',      'LN-3', '0', '[{"sku":"A","qty":1,"amount":0}]'),
               ('amount -0.01',  'LN-4', '0', '[{"sku":"A","qty":1,"amount":-0.01}]'),
               ('total -0.01',   'LN-5', '-0.01', '[{"sku":"A","qty":1,"amount":0}]')) t(what, txn, total, lines);

-- ===== loyalty.max_pending_members: a statement keeps the balance changes
-- of at most that many members; the sale of one more member first writes
-- them out (README, Balances).  With 2: A's and B's sales are pending when
-- C's comes, so C's sale writes them out; a function in the INSERT's SELECT
-- that reads A's balance sees A's 10 points from then on, not before.
INSERT INTO loyalty.program (code) VALUES ('pend');
SELECT loyalty.card_issue('53', 25) AS pa, loyalty.card_issue('53', 26) AS pb,
       loyalty.card_issue('53', 27) AS pc, loyalty.card_issue('53', 28) AS pd \gset
SELECT count(loyalty.enroll(c, 'pend', enrolled_at => '2000-01-01 00:00+00')) AS pend_enrolled FROM unnest(ARRAY[:'pa', :'pb', :'pc', :'pd']::loyalty.card[]) c;
CREATE FUNCTION pg_temp.net_of(c loyalty.card) RETURNS bigint VOLATILE
LANGUAGE sql AS $$ SELECT net FROM loyalty.member_balance WHERE member_id = loyalty.member_id(c) $$;
BEGIN;
SET LOCAL loyalty.max_pending_members = 2;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S1', format('PX-%s (A had %s)', g, pg_temp.net_of(:'pa')), c, '2024-04-04 10:00+00', 10.00,
       '[{"sku":"A","qty":1,"amount":10.00}]'
  FROM unnest(ARRAY[:'pa', :'pb', :'pc', :'pd']::loyalty.card[]) WITH ORDINALITY AS t(c, g)
RETURNING pos_txn, points_earned;
COMMIT;
SELECT count(*) AS members, sum(net) AS net, sum(sales) AS sales FROM loyalty.member_balance
 WHERE member_id IN (SELECT member_id FROM loyalty.sale WHERE pos_txn LIKE 'PX-%');

-- ===== Debt repaid exactly (negative_balance allow): a credit first repays
-- the debt and opens a lot only with what is left over; exactly the debt
-- opens none, one point more opens a lot of 1.
INSERT INTO loyalty.program (code, negative_balance) VALUES ('owe', 'allow');
SELECT loyalty.card_issue('53', 29) AS ow \gset
SELECT loyalty.enroll(:'ow', 'owe', enrolled_at => '2000-01-01 00:00+00') > 0 AS ow_enrolled;
SELECT entry_id AS ow_e1 FROM loyalty.earn(:'ow', 30, 'ow-1', NULL, '2024-05-01 00:00+00') \gset
SELECT points FROM loyalty.redeem(:'ow', 20, 'S1', 'OW-R1');
-- 10 left, 30 taken back: 10 from the lot, 20 owed
SELECT points, shortfall FROM loyalty.reverse(:'ow', :ow_e1, 30, 'ow-rev');
SELECT available, debt FROM loyalty.balance(:'ow');
SELECT points FROM loyalty.earn(:'ow', 20, 'ow-2');
SELECT available, debt, (SELECT string_agg(e.idem_key || ' ' || l.points || '/' || l.remaining, ', ' ORDER BY l.lot_id)
                           FROM loyalty.lot l JOIN loyalty.ledger e ON e.member_id = l.member_id AND e.entry_id = l.lot_id
                          WHERE l.member_id = loyalty.member_id(:'ow')) AS "lots (points/remaining)"
  FROM loyalty.balance(:'ow');
SELECT points FROM loyalty.earn(:'ow', 1, 'ow-3');
SELECT available, debt, (SELECT string_agg(e.idem_key || ' ' || l.points || '/' || l.remaining, ', ' ORDER BY l.lot_id)
                           FROM loyalty.lot l JOIN loyalty.ledger e ON e.member_id = l.member_id AND e.entry_id = l.lot_id
                          WHERE l.member_id = loyalty.member_id(:'ow')) AS "lots (points/remaining)"
  FROM loyalty.balance(:'ow');

-- ===== The end of PostgreSQL's calendar: a quote whose visit period ends
-- past the last timestamp is 22008, not an internal error; a day earlier the
-- period still fits
SELECT at, pg_temp.outcome(format('SELECT points FROM loyalty.quote(%L, %L, at => %L)',
		:'vs', '[{"sku":"A","qty":1,"amount":1}]', at)) AS outcome
  FROM (VALUES ('294276-11-30 23:00+00'), ('294276-12-31 23:00+00')) t(at);

-- ===== Invariants hold
SELECT * FROM loyalty.check_invariants();
