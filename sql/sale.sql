-- Sales, earning rules, returns and events (0.2.0): the POS INSERT, every
-- rule kind and condition, stacking, rounding, caps, quotes, returns, the
-- outbox and purchase history.  Expected points are worked out by hand from
-- the README's rules in the comments next to each sale.
\pset null '(null)'
\set SHOW_CONTEXT never
-- start from a fresh extension so ids do not depend on earlier tests
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;

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

-- Programs, one per topic (rules are per program).  Sale times are fixed
-- dates in the past so the output does not move; where a sale is at now(),
-- its program has no time-dependent rule.
INSERT INTO loyalty.program (code, pending_days) VALUES ('pos', 14);
INSERT INTO loyalty.program (code) VALUES ('kinds'), ('stack');
INSERT INTO loyalty.program (code, points_per_unit, rounding) VALUES
  ('r_floor', 0.07, 'floor'), ('r_half', 0.07, 'half_up'), ('r_ceil', 0.07, 'ceil');
INSERT INTO loyalty.program (code, time_zone) VALUES ('win', 'America/New_York');
INSERT INTO loyalty.program (code) VALUES ('visit'), ('caps'), ('ret');
INSERT INTO loyalty.program (code, negative_balance) VALUES ('neg_trunc', 'truncate'), ('neg_allow', 'allow');
SELECT code, points_per_unit, rounding, pending_days, time_zone, return_days, negative_balance
  FROM loyalty.program ORDER BY program_id;
SELECT loyalty.card_issue('52', 1) AS c_pos, loyalty.card_issue('52', 2) AS k1,
       loyalty.card_issue('52', 3) AS k2, loyalty.card_issue('52', 4) AS st,
       loyalty.card_issue('52', 5) AS rf, loyalty.card_issue('52', 6) AS rh,
       loyalty.card_issue('52', 7) AS rc, loyalty.card_issue('52', 8) AS w,
       loyalty.card_issue('52', 9) AS v, loyalty.card_issue('52', 10) AS c1,
       loyalty.card_issue('52', 11) AS c2, loyalty.card_issue('52', 12) AS r,
       loyalty.card_issue('52', 13) AS nt, loyalty.card_issue('52', 14) AS na \gset
SELECT c, loyalty.enroll(c, p, enrolled_at => '2000-01-01 00:00+00') AS member_id FROM (VALUES
  (:'c_pos'::loyalty.card, 'pos'), (:'k1', 'kinds'), (:'k2', 'kinds'), (:'st', 'stack'),
  (:'rf', 'r_floor'), (:'rh', 'r_half'), (:'rc', 'r_ceil'), (:'w', 'win'), (:'v', 'visit'),
  (:'c1', 'caps'), (:'c2', 'caps'), (:'r', 'ret'), (:'nt', 'neg_trunc'), (:'na', 'neg_allow')) e(c, p);

-- ===== The POS contract
-- program pos: 1 point per unit, floor, 14 days pending; no rules.
-- 50.00 + 70.50 = 120.50 -> 120.5 -> floor 120, all pending (sale at now())
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'T-000123', :'c_pos', now(), 120.50,
        '[{"sku":"A1","category":"baby","qty":2,"amount":50.00},
          {"sku":"B7","category":"food","qty":1,"amount":70.50}]')
ON CONFLICT (store, pos_txn) DO NOTHING
RETURNING sale_id, member_id, points_earned, points_pending;
SELECT available, pending, lifetime_earned FROM loyalty.balance(:'c_pos');
SELECT l.kind, l.points, l.source, l.store, l.pos_txn, l.sale_id, l.rule_points, l.entry_id = s.entry_id AS same_entry
  FROM loyalty.ledger l JOIN loyalty.sale s USING (sale_id) WHERE s.pos_txn = 'T-000123';
-- a retry with ON CONFLICT DO NOTHING: no row, no second award
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'T-000123', :'c_pos', now(), 120.50,
        '[{"sku":"A1","category":"baby","qty":2,"amount":50.00},
          {"sku":"B7","category":"food","qty":1,"amount":70.50}]')
ON CONFLICT (store, pos_txn) DO NOTHING
RETURNING sale_id, member_id, points_earned, points_pending;
-- ... the POS reads it back by (store, pos_txn)
SELECT sale_id, points_earned, points_pending FROM loyalty.sale WHERE store = 'S01' AND pos_txn = 'T-000123';
SELECT count(*) AS ledger_entries FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'c_pos');
-- a retry without ON CONFLICT: 23505; with different content: LY035 (the
-- time in the LY016 message is masked: it is now() + 1 hour)
SELECT what, regexp_replace(pg_temp.outcome(statement), 'sale time .* is in', 'sale time <now + 1 hour> is in') AS outcome FROM (VALUES
  ('retry without on conflict', format($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
      VALUES ('S01', 'T-000123', %L, 120.50, '[{"sku":"A1","category":"baby","qty":2,"amount":50.00},
          {"sku":"B7","category":"food","qty":1,"amount":70.50}]')$$, :'c_pos')),
  ('same txn, other total', format($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
      VALUES ('S01', 'T-000123', %L, 50.00, '[{"sku":"A1","category":"baby","qty":2,"amount":50.00}]')$$, :'c_pos')),
  ('sale in the future', format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
      VALUES ('S01', 'T-FUTURE', %L, now() + interval '1 hour', 1, '[{"sku":"A1","qty":1,"amount":1}]')$$, :'c_pos'))
  ) t(what, statement);
SELECT count(*) AS ledger_entries FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'c_pos');
-- an anonymous sale: stored, no member, no award
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'T-ANON', NULL, '2024-03-05 09:00+00', 80.00,
        '[{"sku":"B7","category":"food","qty":1,"amount":80.00}]')
RETURNING member_id, points_earned, points_pending, entry_id, award;
-- sales are append-only
UPDATE loyalty.sale SET total = 0 WHERE pos_txn = 'T-ANON';

-- ===== Rule kinds: exclude, multiplier (category, sku), bonus, first purchase
INSERT INTO loyalty.rule (program_id, code, kind, priority, categories, skus, multiplier, points, min_basket)
SELECT program_id, r.code, kind, priority, categories, skus, multiplier, points, min_basket
  FROM loyalty.program p, (VALUES
    ('no_tobacco',  'exclude',        100, '{tobacco}'::text[], NULL::text[], NULL::numeric, NULL::bigint, NULL::numeric),
    ('no_giftcard', 'exclude',        100, NULL, '{GC50}', NULL, NULL, NULL),
    ('baby_x2',     'multiplier',      10, '{baby}', NULL, 2, NULL, NULL),
    ('b7_x3',       'multiplier',      20, NULL, '{B7}', 3, NULL, NULL),
    ('basket100',   'bonus',           30, NULL, NULL, NULL, 40, 100),
    ('welcome',     'first_purchase',  40, NULL, NULL, NULL, 25, NULL)) r(code, kind, priority, categories, skus, multiplier, points, min_basket)
 WHERE p.code = 'kinds';
SELECT rule_id, code, kind FROM loyalty.rule ORDER BY rule_id;
-- K1-1: A1 baby 50.00, B7 food 70.50, T1 tobacco 30.00, GC50 25.00 = 175.50
--   exclusions take T1 and GC50 out: earning lines 50.00 + 70.50 = 120.50
--   base      floor(120.50 x 1)            = 120
--   baby_x2   (2 - 1) x 50.00              =  50
--   b7_x3     (3 - 1) x 70.50 = 141.00     = 141
--   basket100 120.50 >= 100                =  40
--   welcome   first sale                   =  25
--   total                                    376
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'K1-1', :'k1', '2024-03-04 10:00+00', 175.50,
        '[{"sku":"A1","category":"baby","qty":2,"amount":50.00},
          {"sku":"B7","category":"food","qty":1,"amount":70.50},
          {"sku":"T1","category":"tobacco","qty":1,"amount":30.00},
          {"sku":"GC50","category":"giftcard","qty":1,"amount":25.00}]')
RETURNING member_id, points_earned, points_pending;
SELECT rule_id, code, kind, fired, points, why FROM loyalty.explain_sale(pg_temp.sid('K1-1'));
-- the earn entry says which rule produced which points (base 120, rule 3
-- baby_x2 50, rule 4 b7_x3 141, rule 5 basket100 40, rule 6 welcome 25)
SELECT kind, points, source, rule_points FROM loyalty.ledger WHERE sale_id = pg_temp.sid('K1-1');
SELECT (award->>'points')::bigint AS award_points, award->'rules'->0->'line_points' AS base_line_points,
       award->'rules'->3->'lines' AS baby_lines
  FROM loyalty.sale WHERE pos_txn = 'K1-1';
-- K1-2: A1 baby 20.00, T1 tobacco 90.00 = 110.00: the total is over 100 but
-- the tobacco does not count toward the minimum basket (20.00)
--   base 20 + baby_x2 20 = 40; b7_x3 no line; basket100 below; welcome not first
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'K1-2', :'k1', '2024-03-05 10:00+00', 110.00,
        '[{"sku":"A1","category":"baby","qty":1,"amount":20.00},
          {"sku":"T1","category":"tobacco","qty":3,"amount":90.00}]')
RETURNING points_earned;
SELECT rule_id, code, kind, fired, points, why FROM loyalty.explain_sale(pg_temp.sid('K1-2'));
-- K1-3: only tobacco and a gift card: earns nothing, no ledger entry
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'K1-3', :'k1', '2024-03-06 10:00+00', 55.00,
        '[{"sku":"T1","category":"tobacco","qty":1,"amount":30.00},
          {"sku":"GC50","category":"giftcard","qty":1,"amount":25.00}]')
RETURNING member_id IS NOT NULL AS has_member, points_earned, entry_id;
SELECT code, fired, points, why FROM loyalty.explain_sale(pg_temp.sid('K1-3'));
SELECT count(*) AS k1_entries, sum(points) AS k1_points FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'k1');

-- ===== quote(): what the same sale then earns, writing nothing
-- K2's first sale: A1 baby 10.00, F1 food 95.00 = 105.00
--   base 105 + baby_x2 10 + basket100 (105 >= 100) 40 + welcome 25 = 180
SELECT count(*) AS ledger_before FROM loyalty.ledger \gset
SELECT count(*) AS sales_before FROM loyalty.sale \gset
SELECT points, award->>'points' AS award_points
  FROM loyalty.quote(:'k2', '[{"sku":"A1","category":"baby","qty":1,"amount":10.00},
                               {"sku":"F1","category":"food","qty":1,"amount":95.00}]',
                     105.00, 'S01', '2024-03-07 12:00+00');
SELECT points AS q_points, award AS q_award
  FROM loyalty.quote(:'k2', '[{"sku":"A1","category":"baby","qty":1,"amount":10.00},
                               {"sku":"F1","category":"food","qty":1,"amount":95.00}]',
                     105.00, 'S01', '2024-03-07 12:00+00') \gset
SELECT (SELECT count(*) FROM loyalty.ledger) - :ledger_before AS new_entries,
       (SELECT count(*) FROM loyalty.sale) - :sales_before AS new_sales,
       (SELECT count(*) FROM loyalty.outbox WHERE member_id = loyalty.member_id(:'k2')) AS k2_events;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'K2-1', :'k2', '2024-03-07 12:00+00', 105.00,
        '[{"sku":"A1","category":"baby","qty":1,"amount":10.00},
          {"sku":"F1","category":"food","qty":1,"amount":95.00}]')
RETURNING points_earned;
-- the quote made before the sale is the sale's award, rule by rule
SELECT s.points_earned = :q_points AS same_points, s.award = :'q_award'::jsonb AS same_award
  FROM loyalty.sale s
 WHERE s.pos_txn = 'K2-1';
-- (quoting again now says "not the member's first purchase")
SELECT points FROM loyalty.quote(:'k2', '[{"sku":"F1","qty":1,"amount":95.00}]', 95.00, 'S01', '2024-03-08 12:00+00');

-- ===== A rule change takes effect for the next sale in this session
-- B7 10.00: base 10 + b7_x3 (3 - 1) x 10 = 20 -> 30; after b7_x3 is
-- deactivated: 10
SELECT points FROM loyalty.quote(:'k1', '[{"sku":"B7","category":"food","qty":1,"amount":10.00}]', 10.00, 'S01', '2024-03-08 10:00+00');
UPDATE loyalty.rule SET active = false WHERE code = 'b7_x3';
SELECT points FROM loyalty.quote(:'k1', '[{"sku":"B7","category":"food","qty":1,"amount":10.00}]', 10.00, 'S01', '2024-03-08 10:00+00');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'K1-4', :'k1', '2024-03-08 10:00+00', 10.00,
        '[{"sku":"B7","category":"food","qty":1,"amount":10.00}]')
RETURNING points_earned;
SELECT code, fired, points, why FROM loyalty.explain_sale(pg_temp.sid('K1-4'));

-- ===== Stacking: priority, then rule_id; a non-stackable rule that fires
-- ends the list
INSERT INTO loyalty.rule (program_id, code, kind, priority, stackable, multiplier, points, min_basket)
SELECT program_id, r.code, kind, priority, stackable, multiplier, points, min_basket
  FROM loyalty.program p, (VALUES
    ('double',      'multiplier', 30, true,  2::numeric, NULL::bigint, NULL::numeric),
    ('ten',         'bonus',      10, true,  NULL, 10, NULL),
    ('exclusive20', 'bonus',      20, false, NULL, 20, 50),
    ('five',        'bonus',      20, true,  NULL, 5, NULL)) r(code, kind, priority, stackable, multiplier, points, min_basket)
 WHERE p.code = 'stack';
-- ST-1, 60.00: base 60, ten 10, exclusive20 (60 >= 50) 20 and stop:
-- five (same priority, later rule_id) and double are not applied = 90
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'ST-1', :'st', '2024-03-11 10:00+00', 60.00, '[{"sku":"X","qty":1,"amount":60.00}]')
RETURNING points_earned;
SELECT rule_id, code, fired, points, why FROM loyalty.explain_sale(pg_temp.sid('ST-1'));
-- ST-2, 40.00: exclusive20 does not fire, so it stops nothing:
-- base 40 + ten 10 + five 5 + double (2 - 1) x 40 = 40 -> 95
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'ST-2', :'st', '2024-03-12 10:00+00', 40.00, '[{"sku":"X","qty":1,"amount":40.00}]')
RETURNING points_earned;
SELECT rule_id, code, fired, points, why FROM loyalty.explain_sale(pg_temp.sid('ST-2'));

-- ===== Rounding: 0.07 points per unit, each part rounded on its own
INSERT INTO loyalty.rule (program_id, code, kind, categories, multiplier)
SELECT program_id, 'baby_x2', 'multiplier', '{baby}', 2 FROM loyalty.program
 WHERE code IN ('r_floor', 'r_half', 'r_ceil') ORDER BY program_id;
-- A1 baby 50.00, B7 food 70.50 = 120.50
--   base exact 50.00 x 0.07 + 70.50 x 0.07 = 3.5000 + 4.9350 = 8.4350
--   baby_x2 exact (2 - 1) x 3.5000 = 3.5000
--   floor:   8 + 3 = 11
--   half_up: 8 + 4 = 12
--   ceil:    9 + 4 = 13   (rounding the sum 11.935 once would give 12)
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S01', 'RND-' || p, c, '2024-04-01 10:00+00', 120.50,
       '[{"sku":"A1","category":"baby","qty":2,"amount":50.00},
         {"sku":"B7","category":"food","qty":1,"amount":70.50}]'
  FROM (VALUES ('floor', :'rf'::loyalty.card), ('half_up', :'rh'), ('ceil', :'rc')) v(p, c)
RETURNING pos_txn, points_earned;
SELECT s.pos_txn, e.code, e.points, a.r->'line_points' AS exact_line_points
  FROM loyalty.sale s, loyalty.explain_sale(s.sale_id) WITH ORDINALITY e,
       LATERAL (SELECT s.award->'rules'->(e.ordinality::int - 1)) a(r)
 WHERE s.pos_txn LIKE 'RND-%' ORDER BY s.sale_id, e.ordinality;

-- ===== Windows: dates, stores, days and hours in the store's time zone
-- program win: time zone America/New_York; store TYO: Asia/Tokyo; store
-- NY1 has a row without a time zone (the program's applies); S2 no row.
INSERT INTO loyalty.store (store, name, time_zone) VALUES ('TYO', 'Tokyo', 'Asia/Tokyo'), ('NY1', 'New York', NULL);
INSERT INTO loyalty.rule (program_id, code, kind, points, valid_from, valid_to, stores, days_of_week, hour_from, hour_to)
SELECT program_id, r.code, 'bonus', points, vf, vt, stores, dow, hf, ht
  FROM loyalty.program p, (VALUES
    ('may',             10, timestamptz '2024-05-01 00:00+00', timestamptz '2024-06-01 00:00+00', NULL::text[], NULL::int[], NULL::int, NULL::int),
    ('s2_only',         20, NULL, NULL, '{S2}', NULL, NULL, NULL),
    ('weekend_morning', 30, NULL, NULL, NULL, '{6,7}', 8, 12)) r(code, points, vf, vt, stores, dow, hf, ht)
 WHERE p.code = 'win';
-- the same UTC instant is Friday evening in New York and Saturday morning in Tokyo
SELECT ts AT TIME ZONE 'America/New_York' AS new_york, extract(isodow FROM ts AT TIME ZONE 'America/New_York') AS ny_dow,
       ts AT TIME ZONE 'Asia/Tokyo' AS tokyo, extract(isodow FROM ts AT TIME ZONE 'Asia/Tokyo') AS tokyo_dow
  FROM (VALUES (timestamptz '2024-05-04 01:30+00')) v(ts);
-- every sale 10.00 = base 10:
--   W-a NY1 05-04 01:30Z, NY Fri 21:30: may 10, not S2, not Sat/Sun   = 20
--   W-b TYO same instant, Tokyo Sat 10:30: may 10, weekend_morning 30  = 50
--   W-c S2  05-04 13:00Z, NY Sat 09:00: may 10, s2 20, weekend 30      = 70
--   W-d NY1 05-04 16:30Z, NY Sat 12:30: may 10, hour 12 not in [8,12)  = 20
--   W-e NY1 04-30 23:59:59Z (before valid_from), NY Tue                 = 10
--   W-f S2  06-01 00:00Z (= valid_to, excluded), s2 20, NY Fri 20:00    = 30
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES
  ('NY1', 'W-a', :'w', '2024-05-04 01:30+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES
  ('TYO', 'W-b', :'w', '2024-05-04 01:30+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES
  ('S2',  'W-c', :'w', '2024-05-04 13:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES
  ('NY1', 'W-d', :'w', '2024-05-04 16:30+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES
  ('NY1', 'W-e', :'w', '2024-04-30 23:59:59+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES
  ('S2',  'W-f', :'w', '2024-06-01 00:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
SELECT s.pos_txn, s.store, s.points_earned, e.code, e.fired, e.points, e.why
  FROM loyalty.sale s, loyalty.explain_sale(s.sale_id) WITH ORDINALITY e
 WHERE s.pos_txn LIKE 'W-%' ORDER BY s.pos_txn, e.ordinality;

-- ===== nth_visit: every 3rd visit day of a calendar month (UTC program)
INSERT INTO loyalty.rule (program_id, code, kind, points, every_nth, visit_period)
SELECT program_id, 'third_visit', 'nth_visit', 100, 3, 'month' FROM loyalty.program WHERE code = 'visit';
-- every sale 10.00 = base 10; visit days of July: 1, 3, 5 (3rd: +100),
-- 9, 10, 11 (6th: +100); a second sale on a day is no new visit; August
-- starts over.  One INSERT per sale, back-dated.
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES ('S01', 'V-01', :'v', '2024-07-01 10:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES ('S01', 'V-02', :'v', '2024-07-01 15:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES ('S01', 'V-03', :'v', '2024-07-03 10:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES ('S01', 'V-04', :'v', '2024-07-05 10:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES ('S01', 'V-05', :'v', '2024-07-05 18:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES ('S01', 'V-06', :'v', '2024-07-09 10:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES ('S01', 'V-07', :'v', '2024-07-10 10:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES ('S01', 'V-08', :'v', '2024-07-11 10:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES ('S01', 'V-09', :'v', '2024-08-01 10:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
SELECT s.pos_txn, (s.occurred_at AT TIME ZONE 'UTC')::date AS day, s.points_earned, e.fired, e.points, e.why
  FROM loyalty.sale s, loyalty.explain_sale(s.sale_id) e
 WHERE s.pos_txn LIKE 'V-%' AND e.code = 'third_visit' ORDER BY s.pos_txn;

-- ===== Caps: uses and points per member, an overall budget
INSERT INTO loyalty.rule (program_id, code, kind, points, member_max_uses, member_max_points, budget_points)
SELECT program_id, r.code, 'bonus', points, mu, mp, b
  FROM loyalty.program p, (VALUES
    ('twice',     10, 2, NULL::bigint, NULL::bigint),
    ('upto50',    30, NULL, 50, NULL),
    ('budget100', 40, NULL, NULL, 100)) r(code, points, mu, mp, b)
 WHERE p.code = 'caps';
-- every sale 10.00 = base 10:
--   C1-1: twice 10 (use 1), upto50 30 (30 of 50), budget100 40 (40 of 100)   = 90
--   C1-2: twice 10 (use 2), upto50 capped 30 -> 20, budget100 40 (80)        = 80
--   C1-3: twice used up, upto50 reached, budget100 capped 40 -> 20 (100)     = 30
--   C2-1: twice 10, upto50 30 (another member), budget100 spent              = 50
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES ('S01', 'C1-1', :'c1', '2024-09-02 10:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES ('S01', 'C1-2', :'c1', '2024-09-03 10:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES ('S01', 'C1-3', :'c1', '2024-09-04 10:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES ('S01', 'C2-1', :'c2', '2024-09-05 10:00+00', 10.00, '[{"sku":"X","qty":1,"amount":10.00}]');
SELECT s.pos_txn, s.points_earned, e.code, e.fired, e.points, e.why
  FROM loyalty.sale s, loyalty.explain_sale(s.sale_id) WITH ORDINALITY e
 WHERE s.pos_txn LIKE 'C_-_' ORDER BY s.pos_txn, e.ordinality;
-- spent per rule over its slots; the shares add up to the budget
SELECT r.code, sum(s.points) AS points, sum(s.uses) AS uses, count(*) AS slots,
       sum(s.share) FILTER (WHERE s.split_of = r.budget_points) AS shares, r.budget_points
  FROM loyalty.rule_spend s JOIN loyalty.rule r USING (rule_id) GROUP BY r.rule_id ORDER BY r.rule_id;
SELECT u.member_id = loyalty.member_id(:'c1') AS is_c1, r.code, u.uses, u.points
  FROM loyalty.member_rule_use u JOIN loyalty.rule r USING (rule_id) ORDER BY u.member_id, r.rule_id;

-- ===== Returns: what the remaining basket no longer earns
INSERT INTO loyalty.rule (program_id, code, kind, categories, multiplier, points, min_basket)
SELECT program_id, r.code, kind, categories, multiplier, points, min_basket
  FROM loyalty.program p, (VALUES
    ('baby_x2', 'multiplier', '{baby}'::text[], 2::numeric, NULL::bigint, NULL::numeric),
    ('bonus50', 'bonus',      NULL, NULL, 50, 100)) r(code, kind, categories, multiplier, points, min_basket)
 WHERE p.code = 'ret';
-- R-1: A1 baby 2 x 30.00 = 60.00, B7 food 70.00, C3 food 30.00 = 160.00
--   base 160 + baby_x2 60 + bonus50 (160 >= 100) 50 = 270
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'R-1', :'r', '2024-08-01 10:00+00', 160.00,
        '[{"sku":"A1","category":"baby","qty":2,"amount":60.00},
          {"sku":"B7","category":"food","qty":1,"amount":70.00},
          {"sku":"C3","category":"food","qty":1,"amount":30.00}]')
RETURNING sale_id AS r1, points_earned \gset
SELECT :points_earned AS r1_points;
-- RR-1, with the card: one A1 (30.00).  Left: A1 30, B7 70, C3 30 = 130
--   kept: base floor(130) 130 + baby_x2 floor(60 x 30/60) 30 + bonus50 (130 >= 100) 50 = 210
--   taken back: 270 - 210 - 0 = 60
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines, return_of)
VALUES ('S01', 'RR-1', :'r', '2024-08-02 10:00+00', 30.00,
        '[{"sku":"A1","category":"baby","qty":1,"amount":30.00}]', :r1)
RETURNING member_id = loyalty.member_id(:'r') AS same_member, points_earned, points_pending;
-- RR-2, without a card: B7 (70.00).  Left: A1 30, C3 30 = 60
--   kept: base 60 + baby_x2 30 + bonus50 (60 < 100: taken back whole) 0 = 90
--   taken back: 270 - 90 - 60 = 120 (B7's 70 and the bonus's 50)
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines, return_of)
VALUES ('S01', 'RR-2', NULL, '2024-08-03 10:00+00', 70.00,
        '[{"sku":"B7","category":"food","qty":1,"amount":70.00}]', :r1)
RETURNING member_id = loyalty.member_id(:'r') AS same_member, points_earned;
-- a retried return is not reversed twice
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines, return_of)
VALUES ('S01', 'RR-2', NULL, '2024-08-03 10:00+00', 70.00,
        '[{"sku":"B7","category":"food","qty":1,"amount":70.00}]', :r1)
ON CONFLICT (store, pos_txn) DO NOTHING
RETURNING points_earned;
-- more A1 than is left to return, a return of a return, a foreign card, too late
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('two more A1', format($$INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
      VALUES ('S01', 'RR-X1', '2024-08-04 10:00+00', 60.00, '[{"sku":"A1","category":"baby","qty":2,"amount":60.00}]', %s)$$, :r1)),
  ('return of a return', format($$INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
      VALUES ('S01', 'RR-X2', '2024-08-04 10:00+00', 30.00, '[{"sku":"A1","qty":1,"amount":30.00}]', %s)$$, pg_temp.sid('RR-1'))),
  ('another member''s card', format($$INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines, return_of)
      VALUES ('S01', 'RR-X3', %L, '2024-08-04 10:00+00', 30.00, '[{"sku":"C3","qty":1,"amount":30.00}]', %s)$$, :'k1', :r1)),
  ('after return_days', format($$INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
      VALUES ('S01', 'RR-X4', '2025-08-02 10:00+00', 30.00, '[{"sku":"C3","qty":1,"amount":30.00}]', %s)$$, :r1))
  ) t(what, statement);
-- RR-3: the rest, A1 30.00 and C3 30.00.  Left: nothing, kept 0
--   taken back: 270 - 0 - 180 = 90; in all 60 + 120 + 90 = 270
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines, return_of)
VALUES ('S01', 'RR-3', NULL, '2024-08-04 10:00+00', 60.00,
        '[{"sku":"A1","category":"baby","qty":1,"amount":30.00},
          {"sku":"C3","category":"food","qty":1,"amount":30.00}]', :r1)
RETURNING points_earned;
SELECT s.pos_txn, l.kind, l.points, l.shortfall, l.source, l.reverses = (SELECT entry_id FROM loyalty.ledger WHERE sale_id = :r1 AND kind = 'earn') AS reverses_r1
  FROM loyalty.ledger l JOIN loyalty.sale s ON s.sale_id = l.sale_id
 WHERE l.member_id = loyalty.member_id(:'r') ORDER BY l.entry_id;
SELECT available, pending, lifetime_earned, reversed FROM loyalty.balance(:'r');
-- R-2: two partial returns that together return everything.
-- X baby 3 x 50.00 = 150.00: base 150 + baby_x2 150 + bonus50 50 = 350
--   RR-4, one X for 49.99: left 100.01
--     kept: floor(100.01) 100 + floor(150 x 100.01/150) 100 + bonus (100.01 >= 100) 50 = 250
--     taken back 350 - 250 = 100
--   RR-5, two X for 100.01: left nothing, taken back 350 - 0 - 100 = 250; in all 350
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'R-2', :'r', '2024-08-10 10:00+00', 150.00,
        '[{"sku":"X","category":"baby","qty":3,"amount":150.00}]')
RETURNING sale_id AS r2, points_earned \gset
SELECT :points_earned AS r2_points;
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
VALUES ('S01', 'RR-4', '2024-08-11 10:00+00', 49.99, '[{"sku":"X","category":"baby","qty":1,"amount":49.99}]', :r2)
RETURNING points_earned;
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
VALUES ('S01', 'RR-5', '2024-08-12 10:00+00', 100.01, '[{"sku":"X","category":"baby","qty":2,"amount":100.01}]', :r2)
RETURNING points_earned;
SELECT sum(points_earned) AS r2_net FROM loyalty.sale WHERE sale_id = :r2 OR return_of = :r2;
-- the same with fractional points (r_ceil: 0.07, ceil).  X baby 3 x 100.00:
--   base exact 7.0000 -> 7, baby_x2 exact 7.0000 -> 7: 14
--   RR-6, one X for 33.33: left 66.67
--     kept: ceil(4.6669) 5 + ceil(7 x 66.67/100 = 4.6669) 5 = 10, taken back 4
--   RR-7, two X for 66.67: taken back 14 - 0 - 4 = 10; in all 14
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'RC-1', :'rc', '2024-08-10 10:00+00', 100.00,
        '[{"sku":"X","category":"baby","qty":3,"amount":100.00}]')
RETURNING sale_id AS rc1, points_earned \gset
SELECT :points_earned AS rc1_points;
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
VALUES ('S01', 'RR-6', '2024-08-11 10:00+00', 33.33, '[{"sku":"X","category":"baby","qty":1,"amount":33.33}]', :rc1)
RETURNING points_earned;
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
VALUES ('S01', 'RR-7', '2024-08-12 10:00+00', 66.67, '[{"sku":"X","category":"baby","qty":2,"amount":66.67}]', :rc1)
RETURNING points_earned;
SELECT sum(points_earned) AS rc1_net FROM loyalty.sale WHERE sale_id = :rc1 OR return_of = :rc1;

-- ===== Returns of points already redeemed: the negative_balance policy
-- (programs without pending days, sales at now(): no time-dependent rules)
-- 100.00 earns 100; 80 are redeemed; the whole sale comes back: 100 due
--   truncate: 20 taken, 80 recorded as shortfall, balance 0
--   allow:    100 taken, the member owes 80 (debt), balance -80
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
SELECT 'S09', 'NEG-' || p, c, 100.00, '[{"sku":"X","qty":1,"amount":100.00}]'
  FROM (VALUES ('T', :'nt'::loyalty.card), ('A', :'na')) v(p, c)
RETURNING pos_txn, points_earned, points_pending;
SELECT points FROM loyalty.redeem(:'nt', 80, 'S09', 'RD-T');
SELECT points FROM loyalty.redeem(:'na', 80, 'S09', 'RD-A');
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
SELECT 'S09', 'NEGR-' || p, 100.00, '[{"sku":"X","qty":1,"amount":100.00}]', pg_temp.sid('NEG-' || p)
  FROM (VALUES ('T'), ('A')) v(p)
RETURNING pos_txn, points_earned;
SELECT p.code, l.kind, l.points, l.shortfall
  FROM loyalty.ledger l JOIN loyalty.member m USING (member_id) JOIN loyalty.program p USING (program_id)
 WHERE p.code LIKE 'neg_%' ORDER BY l.entry_id;
SELECT 'neg_trunc' AS program, available, pending, debt, reversed FROM loyalty.balance(:'nt')
UNION ALL
SELECT 'neg_allow', available, pending, debt, reversed FROM loyalty.balance(:'na');
SELECT p.code, b.net, b.debt, b.shortfall
  FROM loyalty.member_balance b JOIN loyalty.program p USING (program_id)
 WHERE p.code LIKE 'neg_%' ORDER BY p.code;

-- ===== Events: one award per awarding sale, one reversal per reversing return
-- a rolled-back sale emits nothing
SELECT count(*) AS events_before FROM loyalty.outbox \gset
BEGIN;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'K1-RB', :'k1', '2024-03-20 10:00+00', 10.00, '[{"sku":"F1","qty":1,"amount":10.00}]');
ROLLBACK;
SELECT count(*) - :events_before AS new_events FROM loyalty.outbox;
SELECT kind, count(*) FROM loyalty.outbox GROUP BY kind ORDER BY kind;
-- every event matches its sale (member, entry, points, store, pos_txn) and
-- every sale that moved points has exactly one event: no rows
SELECT o.event_id, s.pos_txn
  FROM loyalty.outbox o FULL JOIN
       (SELECT * FROM loyalty.sale WHERE points_earned <> 0) s ON s.sale_id = (o.payload->>'sale_id')::bigint
 WHERE o.event_id IS NULL OR s.sale_id IS NULL
    OR o.kind <> CASE WHEN s.return_of IS NULL THEN 'award' ELSE 'reversal' END
    OR o.member_id <> s.member_id OR (o.payload->>'member_id')::bigint <> s.member_id
    OR (o.payload->>'entry_id')::bigint <> s.entry_id
    OR (o.payload->>'points')::bigint <> s.points_earned
    OR o.payload->>'store' <> s.store OR o.payload->>'pos_txn' <> s.pos_txn;
SELECT kind, payload->>'pos_txn' AS pos_txn, payload->>'store' AS store, (payload->>'points')::bigint AS points
  FROM loyalty.outbox WHERE payload->>'pos_txn' IN ('T-000123', 'K1-1', 'R-1', 'RR-1', 'RR-2', 'RR-3', 'NEGR-T', 'NEGR-A')
 ORDER BY event_id;
-- consume them as an external sender does
BEGIN;
WITH consumed AS (
DELETE FROM loyalty.outbox
 WHERE event_id IN (SELECT event_id FROM loyalty.outbox ORDER BY event_id
                     LIMIT 100 FOR UPDATE SKIP LOCKED)
RETURNING event_id, kind, payload)
SELECT kind, count(*) FROM consumed GROUP BY kind ORDER BY kind;
COMMIT;
SELECT count(*) AS events_left FROM loyalty.outbox;

-- ===== Purchase history: members who bought B7 since 2024-03-05 00:00 UTC
-- B7 was bought by: pos's member (now), K1 (K1-4, 03-08; K1-1 on 03-04 is
-- earlier), the three rounding members (04-01) and R (R-1, 08-01, returned
-- since); the anonymous sale T-ANON (03-05) and the return RR-2 do not count
-- a member's long history of other purchases (program hist earns nothing:
-- no ledger entries, no events), so that the index is worth using; then
-- statistics, so that autovacuum cannot change the plan
INSERT INTO loyalty.program (code, points_per_unit) VALUES ('hist', 0);
SELECT loyalty.card_issue('52', 15) AS h \gset
SELECT loyalty.enroll(:'h', 'hist', enrolled_at => '2000-01-01 00:00+00') AS h_member;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S01', 'H-' || n, :'h', timestamptz '2023-01-01 00:00+00' + n * interval '1 hour', 5.00,
       jsonb_build_array(jsonb_build_object('sku', 'F' || n % 50, 'qty', 1, 'amount', 5.00))
  FROM generate_series(1, 3000) n;
SELECT count(*) AS h_sales, sum(points_earned) AS h_points, count(entry_id) AS h_entries,
       (SELECT count(*) FROM loyalty.outbox) AS events
  FROM loyalty.sale WHERE member_id = loyalty.member_id(:'h');
ANALYZE loyalty.sale;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT DISTINCT member_id FROM loyalty.sale
 WHERE jsonb_path_query_array(lines, '$[*].sku') @> '["B7"]'
   AND member_id IS NOT NULL AND return_of IS NULL AND occurred_at >= '2024-03-05 00:00+00';
SELECT DISTINCT s.member_id, p.code
  FROM loyalty.sale s JOIN loyalty.member m USING (member_id) JOIN loyalty.program p USING (program_id)
 WHERE jsonb_path_query_array(s.lines, '$[*].sku') @> '["B7"]'
   AND s.member_id IS NOT NULL AND s.return_of IS NULL AND s.occurred_at >= '2024-03-05 00:00+00'
 ORDER BY s.member_id;
RESET enable_seqscan;

-- ===== Invariants hold
SELECT * FROM loyalty.check_invariants();

-- ===== Found in review, fixed, and kept here
-- a multi-row INSERT of one member's sales: the second row sees the first,
-- so the first-purchase bonus fires once (10 + 25, then 10)
INSERT INTO loyalty.program (code) VALUES ('mr');
INSERT INTO loyalty.rule (program_id, code, kind, points)
SELECT program_id, 'mr-welcome', 'first_purchase', 25 FROM loyalty.program WHERE code = 'mr';
SELECT loyalty.card_issue('53', 1) AS mr \gset
SELECT loyalty.enroll(:'mr', 'mr', enrolled_at => '2000-01-01 00:00+00') > 0 AS mr_enrolled;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES
 ('S01', 'MR-1', :'mr', '2024-05-01 10:00+00', 10, '[{"sku":"A","qty":1,"amount":10}]'),
 ('S01', 'MR-2', :'mr', '2024-05-01 11:00+00', 10, '[{"sku":"A","qty":1,"amount":10}]')
RETURNING pos_txn, points_earned;
-- a capped multiplier keeps its per-line shares in proportion: A 10.00 and
-- B 20.00, multiplier 3 adds 60, capped to 20 by its budget: award 30 + 20 =
-- 50; returning A leaves base 20 + floor(20 x 40/60 = 13.33) = 33, so 17 go
-- back; returning B then takes the other 33
INSERT INTO loyalty.program (code) VALUES ('capx');
INSERT INTO loyalty.rule (program_id, code, kind, multiplier, budget_points)
SELECT program_id, 'capx-x3', 'multiplier', 3, 20 FROM loyalty.program WHERE code = 'capx';
SELECT loyalty.card_issue('53', 2) AS cx \gset
SELECT loyalty.enroll(:'cx', 'capx', enrolled_at => '2000-01-01 00:00+00') > 0 AS cx_enrolled;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'CX-1', :'cx', '2024-05-02 10:00+00', 30,
        '[{"sku":"A","qty":1,"amount":10},{"sku":"B","qty":1,"amount":20}]')
RETURNING points_earned, sale_id AS cx_sale \gset
SELECT :points_earned AS cx_points;
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
VALUES ('S01', 'CX-R1', '2024-05-03 10:00+00', 10, '[{"sku":"A","qty":1,"amount":10}]', :cx_sale)
RETURNING points_earned AS returned_a;
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
VALUES ('S01', 'CX-R2', '2024-05-03 11:00+00', 20, '[{"sku":"B","qty":1,"amount":20}]', :cx_sale)
RETURNING points_earned AS returned_b;
-- nth_visit by quarter, bounded in the program's zone (UTC) whatever the
-- session's (PST8PDT here): every 2nd visit day of a quarter earns 7
INSERT INTO loyalty.program (code) VALUES ('qv');
INSERT INTO loyalty.rule (program_id, code, kind, every_nth, visit_period, points)
SELECT program_id, 'qv-2nd', 'nth_visit', 2, 'quarter', 7 FROM loyalty.program WHERE code = 'qv';
SELECT loyalty.card_issue('53', 3) AS qv \gset
SELECT loyalty.enroll(:'qv', 'qv', enrolled_at => '2000-01-01 00:00+00') > 0 AS qv_enrolled;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES
 ('S01', 'QV-1', :'qv', '2024-01-15 10:00+00', 10, '[{"sku":"A","qty":1,"amount":10}]'),
 ('S01', 'QV-2', :'qv', '2024-03-31 20:00+00', 10, '[{"sku":"A","qty":1,"amount":10}]'),
 ('S01', 'QV-3', :'qv', '2024-03-31 23:00+00', 10, '[{"sku":"A","qty":1,"amount":10}]'),
 ('S01', 'QV-4', :'qv', '2024-04-01 01:00+00', 10, '[{"sku":"A","qty":1,"amount":10}]')
RETURNING pos_txn, points_earned;
SELECT pos_txn, why FROM loyalty.sale s, loyalty.explain_sale(s.sale_id) e
 WHERE s.pos_txn LIKE 'QV-%' AND e.code = 'qv-2nd' ORDER BY pos_txn;
SELECT * FROM loyalty.check_invariants();

-- ===== loyalty.notify = off: the outbox still gets the event, no NOTIFY is
-- sent (a notification would print a line here, with a server PID)
LISTEN loyalty_events;
SET loyalty.notify = off;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'NOTIFY-OFF', :'mr', '2024-05-05 10:00+00', 10, '[{"sku":"A","qty":1,"amount":10}]')
RETURNING points_earned;
SELECT kind, (payload->>'points')::bigint AS points FROM loyalty.outbox WHERE payload->>'pos_txn' = 'NOTIFY-OFF';
RESET loyalty.notify;
UNLISTEN loyalty_events;

-- ===== Found in the second review, fixed, and kept here
-- a zero-amount line keeps its bonus while it is not returned: G (0.00) earns
-- the 500 bonus; returning Y leaves base 20 x 10/20 = 10 and the bonus:
-- 520 - 510 = 10 back
INSERT INTO loyalty.program (code) VALUES ('za');
INSERT INTO loyalty.rule (program_id, code, kind, skus, points)
SELECT program_id, 'za-gift', 'bonus', '{G}', 500 FROM loyalty.program WHERE code = 'za';
SELECT loyalty.card_issue('54', 1) AS za \gset
SELECT loyalty.enroll(:'za', 'za', enrolled_at => '2000-01-01 00:00+00') > 0 AS za_enrolled;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'ZA-1', :'za', '2024-06-01 10:00+00', 20,
        '[{"sku":"G","qty":1,"amount":0},{"sku":"X","qty":1,"amount":10},{"sku":"Y","qty":1,"amount":10}]')
RETURNING points_earned, sale_id AS za_sale \gset
SELECT :points_earned AS za_points;
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
VALUES ('S01', 'ZA-R1', '2024-06-02 10:00+00', 10, '[{"sku":"Y","qty":1,"amount":10}]', :za_sale)
RETURNING points_earned AS returned_y;
-- a capped multiplier keeps the share of its capped points: M1-M3 (1.00
-- each, x2 capped to 1 point) and X 10.00 earn 13 + 1; returning X leaves
-- base 13 x 3/13 = 3 and the multiplier's 1: 14 - 4 = 10 back
INSERT INTO loyalty.program (code) VALUES ('cm');
INSERT INTO loyalty.rule (program_id, code, kind, categories, multiplier, member_max_points)
SELECT program_id, 'cm-x2', 'multiplier', '{m}', 2, 1 FROM loyalty.program WHERE code = 'cm';
SELECT loyalty.card_issue('54', 2) AS cm \gset
SELECT loyalty.enroll(:'cm', 'cm', enrolled_at => '2000-01-01 00:00+00') > 0 AS cm_enrolled;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'CM-1', :'cm', '2024-06-01 10:00+00', 13,
        '[{"sku":"M1","category":"m","qty":1,"amount":1},{"sku":"M2","category":"m","qty":1,"amount":1},
          {"sku":"M3","category":"m","qty":1,"amount":1},{"sku":"X","qty":1,"amount":10}]')
RETURNING points_earned, sale_id AS cm_sale \gset
SELECT :points_earned AS cm_points;
INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
VALUES ('S01', 'CM-R1', '2024-06-02 10:00+00', 10, '[{"sku":"X","qty":1,"amount":10}]', :cm_sale)
RETURNING points_earned AS returned_x;
-- points of a sale that expired are not taken again from other lots: sale 1
-- (400 days ago, expiry 1 year: lapsed) and sale 2 (20 days ago) earn 100
-- each; returning all of sale 1 takes back nothing (its 100 are lapsed), and
-- the expiry job then expires them once: 100 left, from sale 2
INSERT INTO loyalty.program (code, expiry_after, return_days) VALUES ('ex', '1 year', 1000);
SELECT loyalty.card_issue('54', 3) AS ex \gset
SELECT loyalty.enroll(:'ex', 'ex', enrolled_at => '2000-01-01 00:00+00') > 0 AS ex_enrolled;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'EX-1', :'ex', now() - interval '400 days', 100, '[{"sku":"A","qty":1,"amount":100}]')
RETURNING points_earned, sale_id AS ex_sale \gset
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S01', 'EX-2', :'ex', now() - interval '20 days', 100, '[{"sku":"A","qty":1,"amount":100}]');
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S01', 'EX-R1', 100, '[{"sku":"A","qty":1,"amount":100}]', :ex_sale)
RETURNING points_earned AS returned_expired, award->'expired' AS expired, award->'due' AS due;
SELECT entries, points FROM loyalty.expire_points() WHERE entries > 0;
SELECT available, expired, reversed FROM loyalty.balance(:'ex');
SELECT * FROM loyalty.check_invariants();
-- a back-fill in one statement: the (store, pos_txn) claims do not pile up
-- in the lock table (each is released by the next sale's, the last one by
-- the end of the statement), and an in-statement
-- duplicate with the same content is a retry the unique index skips
BEGIN;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S01', 'BF-' || (g % 40), :'ex', now() - interval '1 day', 10, '[{"sku":"B","qty":1,"amount":10}]'
  FROM generate_series(1, 50) g
ON CONFLICT (store, pos_txn) DO NOTHING;
SELECT count(*) AS claims_held FROM pg_locks
 WHERE locktype = 'advisory' AND objsubid = 3 AND pid = pg_backend_pid();
SELECT count(*) AS sales, sum(points_earned) AS points FROM loyalty.sale WHERE pos_txn LIKE 'BF-%';
SELECT count(*) AS earn_entries, sum(points) AS ledger_points FROM loyalty.ledger WHERE pos_txn LIKE 'BF-%';
COMMIT;
SELECT * FROM loyalty.check_invariants();
-- budget shares: a budget of 100 for a bonus of 10 per sale.  The first sale
-- finds no slots: it takes 10 from the whole budget and splits the 90 left
-- into 8 shares (12, 12, 11, ...); the next sales each take 10 in one slot,
-- from the one their member picks on, without touching the others; a slot
-- whose share no longer covers 10 is passed by.  Raising the budget splits
-- it afresh at the next sale.
INSERT INTO loyalty.program (code) VALUES ('bs');
INSERT INTO loyalty.rule (program_id, code, kind, points, budget_points)
SELECT program_id, 'bs-bonus', 'bonus', 10, 100 FROM loyalty.program WHERE code = 'bs';
SELECT count(loyalty.enroll(loyalty.card_issue('55', s), 'bs', enrolled_at => '2000-01-01 00:00+00')) AS bs_members FROM generate_series(1, 12) s;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
SELECT 'S01', 'BS-' || s, loyalty.card_issue('55', s), 1, '[{"sku":"B","qty":1,"amount":1}]'
  FROM generate_series(1, 6) s;
SELECT s.slot, s.points, s.uses, s.share, s.split_of
  FROM loyalty.rule_spend s JOIN loyalty.rule r USING (rule_id) WHERE r.code = 'bs-bonus' ORDER BY s.slot;
-- members' slots: member_id % 8 (the home slot each sale tried first)
SELECT s.pos_txn, m.member_id % 8 AS home_slot, (s.award->'rules'->1->>'points')::int AS bonus
  FROM loyalty.sale s JOIN loyalty.member m USING (member_id) WHERE s.pos_txn LIKE 'BS-%' ORDER BY s.sale_id;
UPDATE loyalty.rule SET budget_points = 200 WHERE code = 'bs-bonus';
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
SELECT 'S01', 'BS-' || s, loyalty.card_issue('55', s), 1, '[{"sku":"B","qty":1,"amount":1}]'
  FROM generate_series(7, 12) s;
SELECT s.slot, s.points, s.uses, s.share, s.split_of
  FROM loyalty.rule_spend s JOIN loyalty.rule r USING (rule_id) WHERE r.code = 'bs-bonus' ORDER BY s.slot;
SELECT sum(s.points) AS spent, sum(s.uses) AS uses, sum(s.share) AS shares
  FROM loyalty.rule_spend s JOIN loyalty.rule r USING (rule_id) WHERE r.code = 'bs-bonus';
-- a transaction counts what it spends in the slots it holds and writes it
-- just before commit; a rolled-back savepoint takes its spending back (and
-- so does an exception block), a released one keeps it
BEGIN;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'BT-1', loyalty.card_issue('55', 1), 1, '[{"sku":"B","qty":1,"amount":1}]');
SAVEPOINT a;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'BT-2', loyalty.card_issue('55', 2), 1, '[{"sku":"B","qty":1,"amount":1}]');
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'BT-3', loyalty.card_issue('55', 3), 1, '[{"sku":"B","qty":1,"amount":1}]');
RELEASE SAVEPOINT b;
DO $$
BEGIN
	INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S01', 'BT-4', loyalty.card_issue('55', 4), 1, '[{"sku":"B","qty":1,"amount":1}]');
	RAISE EXCEPTION 'undo BT-4';
EXCEPTION WHEN raise_exception THEN
	NULL;
END $$;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'BT-5', loyalty.card_issue('55', 5), 1, '[{"sku":"B","qty":1,"amount":1}]');
COMMIT;
SELECT string_agg(pos_txn, ' ' ORDER BY pos_txn) AS recorded FROM loyalty.sale WHERE pos_txn LIKE 'BT-%';
-- rule_spend agrees with the ledger: 120 before, 3 sales of 10 since
SELECT sum(s.points) AS spent, sum(s.uses) AS uses, sum(s.share) AS shares,
       (SELECT sum((l.rule_points->>(r.rule_id::text))::bigint) FROM loyalty.ledger l) AS ledger_points
  FROM loyalty.rule_spend s JOIN loyalty.rule r USING (rule_id) WHERE r.code = 'bs-bonus' GROUP BY r.rule_id;
-- member_balance.sales counts a member's sales (not returns), also those that
-- earned nothing; the first-purchase bonus reads it: a first sale of tobacco
-- only (excluded: 0 points) still makes the next sale a second purchase
INSERT INTO loyalty.program (code) VALUES ('fp');
INSERT INTO loyalty.rule (program_id, code, kind, categories)
SELECT program_id, 'fp-no-tobacco', 'exclude', '{tobacco}' FROM loyalty.program WHERE code = 'fp';
INSERT INTO loyalty.rule (program_id, code, kind, points)
SELECT program_id, 'fp-welcome', 'first_purchase', 50 FROM loyalty.program WHERE code = 'fp';
SELECT loyalty.enroll(loyalty.card_issue('56', 1), 'fp', enrolled_at => '2000-01-01 00:00+00') > 0 AS fp_enrolled;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'FP-1', loyalty.card_issue('56', 1), 8, '[{"sku":"T","category":"tobacco","qty":1,"amount":8}]')
RETURNING points_earned AS tobacco_points;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'FP-2', loyalty.card_issue('56', 1), 10, '[{"sku":"A","qty":1,"amount":10}]')
RETURNING points_earned AS second_points;
SELECT why FROM loyalty.explain_sale((SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'FP-2')) WHERE code = 'fp-welcome';
SELECT sales FROM loyalty.member_balance WHERE member_id = loyalty.member_id(loyalty.card_issue('56', 1));
-- and agrees with the sale rows for every member
SELECT count(*) AS sales_count_mismatches FROM loyalty.member_balance b
 WHERE b.sales <> (SELECT count(*) FROM loyalty.sale s WHERE s.member_id = b.member_id AND s.return_of IS NULL);
-- A trigger of a DBA's own on the ledger, lots, outbox, balances or budget
-- slots (an audit, say) makes the sale write that table through SQL, so the
-- trigger fires; without one, the rows are written directly (and it would
-- not).  Audited here: which tables a sale wrote, through the trigger, and
-- the settings the extension's SQL ran with: its own search_path, no seq
-- scans, no JIT (0.4.0: set in C around each statement, src/loyalty.c), not
-- the session's, which are as they were afterwards.
CREATE TABLE audit_rows (tbl text, op text, path text, seqscan text, jit text);
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('audit.refuse', true) = 'on' THEN
		RAISE EXCEPTION 'audit refuses a % on %', TG_OP, TG_TABLE_NAME;
	END IF;
	INSERT INTO public.audit_rows VALUES (TG_TABLE_NAME, TG_OP, current_setting('search_path'),
		current_setting('enable_seqscan'), current_setting('jit'));
	RETURN NULL;
END $$;
CREATE TRIGGER audit AFTER INSERT ON loyalty.ledger FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER audit AFTER INSERT ON loyalty.lot FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER audit AFTER INSERT ON loyalty.outbox FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER audit AFTER UPDATE ON loyalty.member_balance FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER audit AFTER UPDATE ON loyalty.rule_spend FOR EACH ROW EXECUTE FUNCTION audit_row();
SET search_path = public, loyalty;
SET jit = on;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'AU-1', loyalty.card_issue('55', 6), 1, '[{"sku":"B","qty":1,"amount":1}]')
RETURNING points_earned AS audited_points, current_setting('search_path') AS path_in_statement,
          current_setting('jit') AS jit_in_statement;
SELECT tbl, op, count(*) FROM audit_rows GROUP BY tbl, op ORDER BY tbl, op;
SELECT path, seqscan, jit, count(*) FROM audit_rows GROUP BY 1, 2, 3;
SELECT current_setting('search_path') AS session_path, current_setting('enable_seqscan') AS session_seqscan,
       current_setting('jit') AS session_jit;
-- a sale whose SQL fails (the audit refuses it) leaves them as they were too
BEGIN;
SAVEPOINT s;
SET LOCAL audit.refuse = on;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'AU-ERR', loyalty.card_issue('55', 6), 1, '[{"sku":"B","qty":1,"amount":1}]');
ROLLBACK TO s;
SELECT current_setting('search_path') AS session_path, current_setting('enable_seqscan') AS session_seqscan,
       current_setting('jit') AS session_jit;
COMMIT;
RESET search_path;
RESET jit;
DROP TRIGGER audit ON loyalty.ledger;
DROP TRIGGER audit ON loyalty.lot;
DROP TRIGGER audit ON loyalty.outbox;
DROP TRIGGER audit ON loyalty.member_balance;
DROP TRIGGER audit ON loyalty.rule_spend;
TRUNCATE audit_rows;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'AU-2', loyalty.card_issue('55', 7), 1, '[{"sku":"B","qty":1,"amount":1}]')
RETURNING points_earned AS unaudited_points;
SELECT count(*) AS audited_without_triggers FROM audit_rows;
SELECT * FROM loyalty.check_invariants();
DROP TABLE audit_rows;
DROP FUNCTION audit_row();
-- The sale trigger runs as the extension's owner without a SET search_path
-- of its own.  A DBA's CHECK on a table it writes calls a function of the
-- DBA's (an SQL function using jsonb's ? operator): a POS role that puts a
-- schema of its own with a ? operator ahead of pg_catalog must not get its
-- operator run as the owner.  Such a table is written through SQL, under
-- the extension's search_path (src/writer.c, CallsForeignCode).
CREATE FUNCTION public.payload_ok(p jsonb) RETURNS boolean LANGUAGE sql AS $$ SELECT p ? 'event' $$;
ALTER TABLE loyalty.outbox ADD CONSTRAINT payload_ok CHECK (public.payload_ok(payload));
CREATE ROLE regress_loyalty_pos;
SELECT loyalty.grant_access('regress_loyalty_pos', 'pos');
CREATE SCHEMA regress_evil AUTHORIZATION regress_loyalty_pos;
SELECT loyalty.card_issue('55', 6) AS evil_card \gset
SET ROLE regress_loyalty_pos;
CREATE FUNCTION regress_evil.has(jsonb, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	RAISE WARNING 'evil ? runs as %', current_user;
	RETURN true;
END $$;
CREATE OPERATOR regress_evil.? (leftarg = jsonb, rightarg = text, function = regress_evil.has);
SET search_path = regress_evil, pg_catalog;
SELECT '{}'::jsonb ? 'event' AS evil_operator_in_reach;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'EV-1', :'evil_card', 1, '[{"sku":"B","qty":1,"amount":1}]')
RETURNING points_earned AS evil_points;
RESET search_path;
RESET ROLE;
SELECT count(*) AS outbox_rows_of_ev1 FROM loyalty.outbox
 WHERE payload->>'sale_id' = (SELECT sale_id::text FROM loyalty.sale WHERE pos_txn = 'EV-1');
ALTER TABLE loyalty.outbox DROP CONSTRAINT payload_ok;
DROP FUNCTION public.payload_ok(jsonb);
DROP SCHEMA regress_evil CASCADE;
DROP OWNED BY regress_loyalty_pos;
DROP ROLE regress_loyalty_pos;
-- A budget split afresh inside a savepoint that rolls back: the rows go
-- back to the old split, and so must what the transaction believes its
-- slots have left; spending written inside the savepoint for earlier sales
-- is unwritten again.  A multiplier (points = the basket's amount) of budget
-- 100: A takes 10 (no slots yet: split 90), A2 (same member) 11 more in A's
-- slot, then inside a savepoint B wants 50 (no share covers it: the whole
-- budget, which first writes A2's 11, then splits again); ROLLBACK TO undoes
-- B and that write.  Then 15 sales of 10 spend what is left: never more than
-- 100 in all, and rule_spend agrees with the ledger.
INSERT INTO loyalty.program (code) VALUES ('sv');
INSERT INTO loyalty.rule (program_id, code, kind, multiplier, budget_points)
SELECT program_id, 'sv-x2', 'multiplier', 2, 100 FROM loyalty.program WHERE code = 'sv';
SELECT count(loyalty.enroll(loyalty.card_issue('57', s), 'sv', enrolled_at => '2000-01-01 00:00+00')) AS sv_members FROM generate_series(1, 20) s;
BEGIN;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'SV-A', loyalty.card_issue('57', 1), 10, '[{"sku":"V","qty":1,"amount":10}]');
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'SV-A2', loyalty.card_issue('57', 1), 11, '[{"sku":"V","qty":1,"amount":11}]');
SAVEPOINT b;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'SV-B', loyalty.card_issue('57', 2), 50, '[{"sku":"V","qty":1,"amount":50}]');
ROLLBACK TO SAVEPOINT b;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
SELECT 'S01', 'SV-C' || s, loyalty.card_issue('57', s), 10, '[{"sku":"V","qty":1,"amount":10}]'
  FROM generate_series(3, 17) s;
COMMIT;
SELECT (SELECT sum((l.rule_points->>(r.rule_id::text))::bigint) FROM loyalty.ledger l) AS ledger_points,
       sum(s.points) AS rule_spend_points, r.budget_points
  FROM loyalty.rule r JOIN loyalty.rule_spend s USING (rule_id) WHERE r.code = 'sv-x2' GROUP BY r.rule_id;
-- a back-fill through a PL/pgSQL loop with an exception block per sale (a
-- subtransaction each): the claims do not pile up either
DO $$
BEGIN
	FOR i IN 1..30 LOOP
		BEGIN
			INSERT INTO loyalty.sale (store, pos_txn, total, lines)
			VALUES ('S01', 'LOOP-' || i, 1, '[{"sku":"L","qty":1,"amount":1}]');
		EXCEPTION WHEN unique_violation THEN
			NULL;
		END;
	END LOOP;
	RAISE NOTICE 'claims held in the loop: %', (SELECT count(*) FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 3 AND pid = pg_backend_pid());
END $$;
-- forty sales of one member, each its own statement, inside one savepoint:
-- each statement writes its budget spending, and none of it piles up
INSERT INTO loyalty.program (code) VALUES ('sl');
INSERT INTO loyalty.rule (program_id, code, kind, points, budget_points)
SELECT program_id, 'sl-bonus', 'bonus', 1, 10000 FROM loyalty.program WHERE code = 'sl';
SELECT loyalty.enroll(loyalty.card_issue('58', 1), 'sl', enrolled_at => '2000-01-01 00:00+00') > 0 AS sl_enrolled;
BEGIN;
SAVEPOINT s;
DO $$
BEGIN
	FOR i IN 1..40 LOOP
		INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
		VALUES ('S01', 'SL-' || i, loyalty.card_issue('58', 1), 1, '[{"sku":"L","qty":1,"amount":1}]');
	END LOOP;
END $$;
RELEASE SAVEPOINT s;
COMMIT;
SELECT (SELECT sum((l.rule_points->>(r.rule_id::text))::bigint) FROM loyalty.ledger l) AS ledger_points,
       sum(s.points) AS rule_spend_points, sum(s.uses) AS uses
  FROM loyalty.rule r JOIN loyalty.rule_spend s USING (rule_id) WHERE r.code = 'sl-bonus' GROUP BY r.rule_id;
-- One statement, three sales of one member: the balance is written once, at
-- the statement's end, yet each sale sees the ones before it (only the first
-- is a first purchase), and a failing sale in an exception block takes only
-- its own change back.
INSERT INTO loyalty.program (code) VALUES ('pd');
INSERT INTO loyalty.rule (program_id, code, kind, points)
SELECT program_id, 'pd-welcome', 'first_purchase', 100 FROM loyalty.program WHERE code = 'pd';
SELECT loyalty.enroll(loyalty.card_issue('59', 1), 'pd', enrolled_at => '2000-01-01 00:00+00') > 0 AS pd_enrolled;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
SELECT 'S01', 'PD-' || g, loyalty.card_issue('59', 1), 10, '[{"sku":"P","qty":1,"amount":10}]'
  FROM generate_series(1, 3) g;
SELECT pos_txn, points_earned FROM loyalty.sale WHERE pos_txn LIKE 'PD-%' ORDER BY sale_id;
DO $$
BEGIN
	FOR i IN 4..6 LOOP
		BEGIN
			INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
			VALUES ('S01', 'PD-' || CASE WHEN i = 5 THEN '1' ELSE i::text END, loyalty.card_issue('59', 1),
					20, '[{"sku":"P","qty":1,"amount":20}]');
		EXCEPTION WHEN SQLSTATE 'LY035' THEN
			RAISE NOTICE 'sale % refused: %', i, SQLERRM;
		END;
	END LOOP;
	-- two sales in one statement, the second malformed: the first one's
	-- pending change goes with the statement
	BEGIN
		INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
		VALUES ('S01', 'PD-7', loyalty.card_issue('59', 1), 30, '[{"sku":"P","qty":1,"amount":30}]'),
			   ('S01', 'PD-8', loyalty.card_issue('59', 1), 30, '[{"sku":"P","qty":"x","amount":30}]');
	EXCEPTION WHEN SQLSTATE 'LY031' THEN
		RAISE NOTICE 'statement refused: %', SQLERRM;
	END;
END $$;
SELECT b.net, b.lifetime_earned, b.sales, (SELECT sum(points) FROM loyalty.ledger l WHERE l.member_id = b.member_id) AS ledger_sum
  FROM loyalty.member_balance b WHERE b.member_id = loyalty.member_id(loyalty.card_issue('59', 1));
SELECT * FROM loyalty.check_invariants();
-- More members in one statement than loyalty.max_pending_members (here 2):
-- a sale that finds the pending balances full writes them out and the
-- statement goes on.  Five members, three sales each in a row: each
-- member's row is still written once (5 updates; writing the overflow
-- directly would make 11), and a member's later sales still see the first
-- (110, then 10 and 10).
SELECT count(loyalty.enroll(loyalty.card_issue('59', m), 'pd', enrolled_at => '2000-01-01 00:00+00')) AS pd_more_enrolled FROM generate_series(11, 15) m;
BEGIN;
SET LOCAL loyalty.max_pending_members = 2;
-- (the transaction's own counts: the view also shows earlier ones not yet reported)
SELECT n_tup_upd AS updates_before FROM pg_stat_xact_user_tables WHERE relid = 'loyalty.member_balance'::regclass \gset
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
SELECT 'S01', 'PM-' || g, loyalty.card_issue('59', 11 + (g - 1) / 3), 10, '[{"sku":"P","qty":1,"amount":10}]'
  FROM generate_series(1, 15) g;
SELECT n_tup_upd - :updates_before AS balance_updates
  FROM pg_stat_xact_user_tables WHERE relid = 'loyalty.member_balance'::regclass;
COMMIT;
SELECT card, string_agg(points_earned::text, ' ' ORDER BY sale_id) AS earned
  FROM loyalty.sale WHERE pos_txn LIKE 'PM-%' GROUP BY card ORDER BY card;
SELECT b.member_id = loyalty.member_id(loyalty.card_issue('59', 11)) AS first_member, b.net, b.sales,
       b.net = (SELECT sum(points) FROM loyalty.ledger l WHERE l.member_id = b.member_id) AS net_is_ledger_sum
  FROM loyalty.member_balance b
 WHERE b.member_id IN (SELECT member_id FROM loyalty.sale WHERE pos_txn LIKE 'PM-%')
 ORDER BY b.member_id;
-- the same inside a savepoint that rolls back: the write-outs go with it
BEGIN;
SET LOCAL loyalty.max_pending_members = 2;
SAVEPOINT s;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
SELECT 'S01', 'PN-' || g, loyalty.card_issue('59', 11 + (g - 1) % 5), 10, '[{"sku":"P","qty":1,"amount":10}]'
  FROM generate_series(1, 10) g;
SELECT sum(net) AS net_in_savepoint FROM loyalty.member_balance
 WHERE member_id IN (SELECT member_id FROM loyalty.sale WHERE pos_txn LIKE 'PM-%');
ROLLBACK TO s;
COMMIT;
SELECT sum(net) AS net_after_rollback FROM loyalty.member_balance
 WHERE member_id IN (SELECT member_id FROM loyalty.sale WHERE pos_txn LIKE 'PM-%');
SELECT * FROM loyalty.check_invariants();
-- with an INSERT trigger of a DBA's on loyalty.sale, which may read balances
-- while the statement runs, every sale's balance change is written at once:
-- the trigger sees the member's net equal to the ledger's sum after each row
CREATE FUNCTION see_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE '% net % ledger %', NEW.pos_txn,
		(SELECT net FROM loyalty.member_balance WHERE member_id = NEW.member_id),
		(SELECT sum(points) FROM loyalty.ledger WHERE member_id = NEW.member_id);
	RETURN NULL;
END $$;
CREATE TRIGGER see_balance AFTER INSERT ON loyalty.sale FOR EACH ROW EXECUTE FUNCTION see_balance();
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
SELECT 'S01', 'SB-' || g, loyalty.card_issue('59', 1), 10, '[{"sku":"P","qty":1,"amount":10}]'
  FROM generate_series(1, 2) g;
DROP TRIGGER see_balance ON loyalty.sale;
DROP FUNCTION see_balance();
SELECT * FROM loyalty.check_invariants();
