-- Hostile sessions: the holds, vouchers, audiences and voucher/audience
-- rules of 0.6.0 give the same answers whatever the caller's session says.
-- One scenario (pg_temp.scenario) runs four times, each with its own cards
-- and pos_txns:
--   run 1: a plain session (UTC, ISO dates)
--   run 2: TimeZone Pacific/Chatham (+12:45/+13:45), DateStyle SQL, DMY,
--          IntervalStyle sql_standard, extra_float_digits 3
--   run 3: search_path = evil, loyalty, public: schema evil holds tables
--          named like the extension's (voucher, hold, member, program, sale,
--          lot, ledger, rule, audience, store) and a now() of its own
--   run 4: both, with pg_catalog placed after evil (evil, pg_catalog,
--          loyalty, public), so that evil's = (text, text), now() and
--          clock_timestamp() shadow pg_catalog's for any unqualified use.
-- The scenario reports only session-independent text (timestamps in UTC
-- by to_char, intervals in minutes, numerics); the four runs must agree row
-- for row, and run 1 is shown and checked by hand in the comments.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- Program hs in New York, holds of 45 minutes, 1 point per unit.  Store S1
-- in Pago Pago (UTC-11): its date is never Chatham's while Chatham keeps
-- DST (24:45 apart), and only 15 minutes a day otherwise (23:45 apart).
INSERT INTO loyalty.program (code, time_zone, hold_minutes) VALUES ('hs', 'America/New_York', 45);
INSERT INTO loyalty.store (store, time_zone) VALUES ('S1', 'Pacific/Pago_Pago');
-- voucher types: 5 off a basket of 10; 15 percent; 1 off on today's
-- weekday in the store's zone only; a free coffee (COFFEE); 2 off for 40
-- days (from 1 March 2030: across New York's and Chatham's DST changes)
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, sku, min_basket, valid_days, days_of_week)
SELECT program_id, t.code, t.kind, t.value, t.sku, t.min_basket, t.valid_days, t.days_of_week
  FROM loyalty.program, (VALUES
	('five', 'amount', 5, NULL, 10, NULL, NULL),
	('pct', 'percent', 15, NULL, NULL, NULL, NULL),
	('today', 'amount', 1, NULL, NULL, NULL,
	 ARRAY[extract(isodow FROM now() AT TIME ZONE 'Pacific/Pago_Pago')::int]),
	('coffee', 'item', NULL, 'COFFEE', NULL, NULL, NULL),
	('far', 'amount', 2, NULL, NULL, 40, NULL)) t(code, kind, value, sku, min_basket, valid_days, days_of_week)
 WHERE program.code = 'hs';
-- audiences vip (a list) and clip (opt-in); rules: 10 to vip, 7 to clip,
-- and a coffee voucher for 20 or more of BEANS
INSERT INTO loyalty.audience (program_id, code, opt_in)
SELECT program_id, a.code, a.opt_in FROM loyalty.program, (VALUES ('vip', false), ('clip', true)) a(code, opt_in)
 WHERE program.code = 'hs';
INSERT INTO loyalty.rule (program_id, code, kind, points, audience)
SELECT program_id, r.code, 'bonus', r.points, r.audience FROM loyalty.program,
	   (VALUES ('vip10', 10, 'vip'), ('clip7', 7, 'clip')) r(code, points, audience)
 WHERE program.code = 'hs';
INSERT INTO loyalty.rule (program_id, code, kind, voucher_type, skus, min_basket)
SELECT program_id, 'beans-coffee', 'voucher', 'coffee', '{BEANS}', 20 FROM loyalty.program WHERE code = 'hs';

-- The scenario for cards p/1 and p/2, pos_txns prefixed by p.  Its own SQL
-- is qualified (OPERATOR(pg_catalog.=), pg_catalog.now()) so that the
-- decoys can only reach the extension's code.
CREATE FUNCTION pg_temp.scenario(p text) RETURNS TABLE (step int, k text, v text)
LANGUAGE plpgsql AS $$
DECLARE
	c1 loyalty.card := loyalty.card_issue(p, 1);
	c2 loyalty.card := loyalty.card_issue(p, 2);
	n int := 0;
	h loyalty.hold;
	r record;
	vcode text;
	coffee text;
	bal text;
	basket jsonb := '[{"sku": "X", "qty": 1, "amount": 33.33}]';
BEGIN
	PERFORM loyalty.enroll(c1, 'hs'), loyalty.enroll(c2, 'hs');
	PERFORM loyalty.earn(c1, 1000, p || '-e');
	-- audiences
	SELECT * INTO r FROM loyalty.audience_add('vip', ARRAY[c1]);
	n := n + 1; step := n; k := 'audience_add vip c1'; v := format('added %s, already %s', r.added, r.already); RETURN NEXT;
	SELECT * INTO r FROM loyalty.audience_add('vip', ARRAY[c1, c2, c1]);
	n := n + 1; step := n; k := 'audience_add vip c1 c2 c1'; v := format('added %s, already %s', r.added, r.already); RETURN NEXT;
	SELECT * INTO r FROM loyalty.audience_remove('vip', ARRAY[c2, c2]);
	n := n + 1; step := n; k := 'audience_remove vip c2 c2'; v := format('removed %s, absent %s', r.removed, r.absent); RETURN NEXT;
	SELECT * INTO r FROM loyalty.audience_add('clip', ARRAY[c1]);
	n := n + 1; step := n; k := 'audience_add clip c1'; v := format('added %s, already %s', r.added, r.already); RETURN NEXT;
	n := n + 1; step := n; k := 'clip_offer clip c1';
	v := (loyalty.clip_offer('clip', c1) OPERATOR(pg_catalog.<=) pg_catalog.now())::text; RETURN NEXT;
	-- sales: c1 is in vip and clipped clip, c2 in neither; both get a coffee
	FOR r IN
		INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
		VALUES ('S1', p || '-s1', c1, pg_catalog.now(), 25, '[{"sku": "BEANS", "qty": 1, "amount": 25}]'),
			   ('S1', p || '-s2', c2, pg_catalog.now(), 25, '[{"sku": "BEANS", "qty": 1, "amount": 25}]')
		RETURNING sale_id, pos_txn, points_earned, vouchers_issued
	LOOP
		n := n + 1; step := n; k := 'sale ' || pg_catalog.right(r.pos_txn, 2);
		v := format('points %s, vouchers %s, valid code %s', r.points_earned,
					pg_catalog.cardinality(r.vouchers_issued), loyalty.voucher_code_is_valid(r.vouchers_issued[1]));
		RETURN NEXT;
		coffee := COALESCE(coffee, r.vouchers_issued[1]);
		n := n + 1; step := n; k := 'explain ' || pg_catalog.right(r.pos_txn, 2);
		SELECT pg_catalog.string_agg(format('%s %s %s', e.code, e.fired, e.points), ', ' ORDER BY e.code) INTO v
		  FROM loyalty.explain_sale(r.sale_id) e;
		RETURN NEXT;
	END LOOP;
	-- holds
	SELECT format('available %s, held %s, redeemed %s', b.available, b.held, b.lifetime_redeemed) INTO bal FROM loyalty.balance(c1) b;
	n := n + 1; step := n; k := 'balance'; v := bal; RETURN NEXT;
	h := loyalty.authorize(c1, 300, 'S1', p || '-h1');
	n := n + 1; step := n; k := 'authorize 300';
	v := format('%s %s, minutes %s, value %s %s', h.status, h.points,
				(extract(epoch FROM h.expires_at OPERATOR(pg_catalog.-) h.authorized_at) OPERATOR(pg_catalog./) 60)::int,
				h.value, h.currency);
	RETURN NEXT;
	SELECT format('available %s, held %s, redeemed %s', b.available, b.held, b.lifetime_redeemed) INTO bal FROM loyalty.balance(c1) b;
	n := n + 1; step := n; k := 'balance'; v := bal; RETURN NEXT;
	h := loyalty.capture(h.hold_id, 200);
	n := n + 1; step := n; k := 'capture 200'; v := format('%s %s, captured %s, value %s', h.status, h.points, h.captured, h.captured_value); RETURN NEXT;
	h := loyalty.authorize(c1, 100, 'S1', p || '-h2');
	h := loyalty.void(h.hold_id);
	n := n + 1; step := n; k := 'authorize 100, void'; v := format('%s %s', h.status, h.points); RETURN NEXT;
	h := loyalty.authorize(c1, 50, 'S1', p || '-h3');
	SELECT format('available %s, held %s, redeemed %s', b.available, b.held, b.lifetime_redeemed) INTO bal FROM loyalty.balance(c1) b;
	n := n + 1; step := n; k := 'balance'; v := bal; RETURN NEXT;
	UPDATE loyalty.hold SET expires_at = pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 minute'
	 WHERE hold_id OPERATOR(pg_catalog.=) h.hold_id;
	SELECT format('available %s, held %s, redeemed %s', b.available, b.held, b.lifetime_redeemed) INTO bal FROM loyalty.balance(c1) b;
	n := n + 1; step := n; k := 'balance, hold 3 lapsed'; v := bal; RETURN NEXT;
	SELECT * INTO r FROM loyalty.sweep_holds();
	n := n + 1; step := n; k := 'sweep_holds'; v := format('holds %s, points %s', r.holds, r.points); RETURN NEXT;
	SELECT status INTO v FROM loyalty.hold WHERE hold_id OPERATOR(pg_catalog.=) h.hold_id;
	n := n + 1; step := n; k := 'hold 3'; RETURN NEXT;
	-- vouchers
	vcode := loyalty.issue_voucher('five', c1);
	n := n + 1; step := n; k := 'check five';
	SELECT format('%s %s %s %s', c.ok, c.kind, c.discount, c.uses_left) INTO v FROM loyalty.check_voucher(vcode, c1, 'S1', basket) c; RETURN NEXT;
	n := n + 1; step := n; k := 'use five';
	SELECT format('%s %s %s', u.kind, u.discount, u.uses_left) INTO v FROM loyalty.use_voucher(vcode, c1, 'S1', p || '-u1', basket) u; RETURN NEXT;
	n := n + 1; step := n; k := 'check five again';
	SELECT format('%s %s', c.ok, c.sqlstate) INTO v FROM loyalty.check_voucher(vcode, c1, 'S1', basket) c; RETURN NEXT;
	vcode := loyalty.issue_voucher('pct', c1);
	n := n + 1; step := n; k := 'use pct';
	SELECT format('%s %s %s', u.kind, u.discount, u.uses_left) INTO v FROM loyalty.use_voucher(vcode, c1, 'S1', p || '-u2', basket) u; RETURN NEXT;
	vcode := loyalty.issue_voucher('today', c1);
	n := n + 1; step := n; k := 'check today';
	SELECT format('%s %s %s', c.ok, c.discount, c.sqlstate) INTO v FROM loyalty.check_voucher(vcode, c1, 'S1', basket) c; RETURN NEXT;
	n := n + 1; step := n; k := 'use coffee';
	SELECT format('%s %s %s', u.kind, u.discount, u.uses_left) INTO v
	  FROM loyalty.use_voucher(coffee, c1, 'S1', p || '-u3', '[{"sku": "COFFEE", "qty": 2, "amount": 7}]') u; RETURN NEXT;
	vcode := loyalty.issue_voucher('far', c1, valid_from => '2030-03-01 05:00:00+00');
	n := n + 1; step := n; k := 'far: valid';
	SELECT format('%s .. %s', pg_catalog.to_char(x.valid_from AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),
				  pg_catalog.to_char(x.valid_to AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'))
	  INTO v FROM loyalty.voucher x WHERE x.code OPERATOR(pg_catalog.=) vcode;
	RETURN NEXT;
	n := n + 1; step := n; k := 'check far';
	SELECT format('%s %s %s', c.ok, c.sqlstate, pg_catalog.to_char(c.valid_to AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'))
	  INTO v FROM loyalty.check_voucher(vcode, c1, 'S1', basket) c; RETURN NEXT;
	SELECT format('available %s, held %s, redeemed %s', b.available, b.held, b.lifetime_redeemed) INTO bal FROM loyalty.balance(c1) b;
	n := n + 1; step := n; k := 'balance'; v := bal; RETURN NEXT;
	SELECT format('available %s, held %s, redeemed %s', b.available, b.held, b.lifetime_redeemed) INTO bal FROM loyalty.balance(c2) b;
	n := n + 1; step := n; k := 'balance c2'; v := bal; RETURN NEXT;
END
$$;
CREATE TEMP TABLE res (run int, step int, k text, v text);

-- run 1: plain
INSERT INTO res SELECT 1, * FROM pg_temp.scenario('81');
-- run 2: hostile settings
SET TimeZone = 'Pacific/Chatham';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = 3;
INSERT INTO res SELECT 2, * FROM pg_temp.scenario('82');
RESET TimeZone; RESET DateStyle; RESET IntervalStyle; RESET extra_float_digits;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- the decoys
CREATE SCHEMA evil;
CREATE TABLE evil.voucher (code text, voucher_type_id int, member_id bigint, uses_left int, valid_from timestamptz, valid_to timestamptz);
CREATE TABLE evil.hold (hold_id bigint, member_id bigint, points bigint, status text, expires_at timestamptz);
CREATE TABLE evil.member (member_id bigint, program_id int, status text);
CREATE TABLE evil.program (program_id int, code text, time_zone text, hold_minutes int);
CREATE TABLE evil.sale (sale_id bigint, store text, pos_txn text);
CREATE TABLE evil.lot (member_id bigint, lot_id bigint, remaining bigint);
CREATE TABLE evil.ledger (member_id bigint, entry_id bigint, points bigint);
CREATE TABLE evil.rule (rule_id int, code text);
CREATE TABLE evil.audience (audience_id int, code text);
CREATE TABLE evil.store (store text, time_zone text);
INSERT INTO evil.program VALUES (1, 'hs', 'Pacific/Chatham', 1);
INSERT INTO evil.store VALUES ('S1', 'Pacific/Chatham');
CREATE FUNCTION evil.texteq_always(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, PROCEDURE = evil.texteq_always);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT '2000-01-01 00:00+00'::timestamptz$$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS $$SELECT '2000-01-01 00:00+00'::timestamptz$$;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA evil TO PUBLIC;
-- (the decoy = does bite an unqualified comparison once pg_catalog is after evil)
SET search_path = evil, pg_catalog, loyalty, public;
SELECT 'a' = 'b' AS evil_equal, now() AS evil_now;
RESET search_path;

-- run 3: search_path = evil, loyalty, public
SET search_path = evil, loyalty, public;
INSERT INTO pg_temp.res SELECT 3, * FROM pg_temp.scenario('83');
RESET search_path;
-- run 4: both, pg_catalog after evil
SET TimeZone = 'Pacific/Chatham';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = 3;
SET search_path = evil, pg_catalog, loyalty, public;
INSERT INTO pg_temp.res SELECT 4, * FROM pg_temp.scenario('84');
RESET search_path;
RESET TimeZone; RESET DateStyle; RESET IntervalStyle; RESET extra_float_digits;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- run 1, checked by hand:
-- c1 earns 1000; the sale of 25 BEANS: 25 base + vip10 + clip7 = 42 and a
-- coffee voucher; c2 (taken out of vip again, never clipped): 25 and a coffee.
-- Holds: 1042 available; authorize 300 (45 minutes, 300 * 0.01 = 3.00):
-- 742 + 300 held; capture 200: 842, redeemed 200; 100 held and voided: 842;
-- 50 held: 792 + 50; lapsed: 842 again, sweep_holds releases it (1, 50) and
-- it is expired.  Vouchers on a basket of 33.33: five 5, pct 15% = 4.9995
-- -> 5.00, today (store's weekday) 1, the coffee 7 / 2 = 3.50; far runs
-- from 2030-03-01 05:00 UTC for 40 days of 24 hours: 2030-04-10 05:00 UTC
-- (valid_days are 24-hour days, src/voucher.c, not calendar days of the
-- program's zone: across New York's DST change those would end at 04:00
-- UTC; neither zone of the session moves it), and is not valid yet (LY115).
-- The five used up: LY120.  "check today" passes in Chatham too: the
-- weekday is the store's (Pago Pago), (almost always) a day behind Chatham's.
SELECT step, k, v FROM res WHERE run = 1 ORDER BY step;
-- what the other runs answered otherwise (nothing)
SELECT o.run, o.step, o.k, o.v AS got, p.v AS plain
  FROM res o JOIN res p ON p.run = 1 AND p.step = o.step
 WHERE o.run > 1 AND (o.k, o.v) IS DISTINCT FROM (p.k, p.v)
 ORDER BY o.run, o.step;
SELECT run, count(*) AS steps FROM res GROUP BY run ORDER BY run;
-- and they wrote nothing into evil's tables
SELECT (SELECT count(*) FROM evil.voucher) + (SELECT count(*) FROM evil.hold) + (SELECT count(*) FROM evil.member)
	 + (SELECT count(*) FROM evil.sale) + (SELECT count(*) FROM evil.lot) + (SELECT count(*) FROM evil.ledger) AS evil_rows;
SET client_min_messages = warning;
DROP SCHEMA evil CASCADE;
RESET client_min_messages;
