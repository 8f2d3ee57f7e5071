-- Audiences (0.6.0): targeted offers.  Audiences loaded in bulk (INSERT ...
-- SELECT, audience_add, audience_remove), opt-in (clip_offer, idempotent),
-- rules limited to an audience together with the rule's own windows, a
-- per-member cap and a budget, the audience's window, membership changed
-- between sales without recompiling, a change of the audience recompiling,
-- explain_sale and quote, every refusal, and what a rule naming an
-- audience does to deleting it.  Every figure is worked out by hand in the
-- comments: one line of 10 earns 10 base points (1 per unit).
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'UTC';

CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d', '<time>');
END
$$;
CREATE TEMP SEQUENCE txn;
-- a one-line sale of 10 by card 60/serial, at a moment (NULL: now); its points
CREATE FUNCTION pg_temp.buy(serial int, at timestamptz DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	VALUES ('S1', 'T' || nextval('txn'), loyalty.card_issue('60', serial), coalesce(at, now()), 10,
			'[{"sku": "X", "qty": 1, "amount": 10}]')
	RETURNING points_earned $$;
-- why each rule of the latest sale did (not) fire
CREATE FUNCTION pg_temp.why() RETURNS TABLE (code text, fired boolean, points bigint, why text)
LANGUAGE sql AS $$
	SELECT e.code, e.fired, e.points, e.why FROM loyalty.explain_sale(
		(SELECT max(sale_id) FROM loyalty.sale)) e WHERE e.code <> 'base' ORDER BY e.code $$;

-- Program aud (UTC): members 1..5 (cards 60/1..5).  Program other: member
-- of card 61/1.
INSERT INTO loyalty.program (code, time_zone) VALUES ('aud', 'UTC'), ('other', 'UTC');
SELECT count(*) FROM (
	SELECT loyalty.enroll(loyalty.card_issue('60', i), 'aud', enrolled_at => '2023-01-01')
	  FROM generate_series(1, 5) i) e;
SELECT loyalty.enroll(loyalty.card_issue('61', 1), 'other', enrolled_at => '2023-01-01') IS NOT NULL AS enrolled;

-- Audiences: vip (a list), coupon (opt-in, until 2100), winter (January
-- 2024 only), old (opt-in, ended 2020), and other's own vip.
INSERT INTO loyalty.audience (program_id, code, opt_in, valid_from, valid_to)
SELECT p.program_id, a.code, a.opt_in, a.valid_from, a.valid_to
  FROM loyalty.program p, (VALUES
	('vip', false, NULL::timestamptz, NULL::timestamptz),
	('coupon', true, NULL, '2100-01-01'),
	('winter', false, '2024-01-01', '2024-02-01'),
	('old', true, NULL, '2020-01-01')) a(code, opt_in, valid_from, valid_to)
 WHERE p.code = 'aud';
INSERT INTO loyalty.audience (program_id, code) SELECT program_id, 'vip' FROM loyalty.program WHERE code = 'other';

-- ===== bulk loads
-- the fast way: INSERT ... SELECT (here: vip = members 1 and 2, winter = all five)
INSERT INTO loyalty.audience_member (member_id, audience_id)
SELECT mc.member_id, a.audience_id
  FROM loyalty.member_card mc, loyalty.audience a JOIN loyalty.program p USING (program_id)
 WHERE p.code = 'aud' AND a.code = 'vip' AND mc.card IN (loyalty.card_issue('60', 1), loyalty.card_issue('60', 2));
INSERT INTO loyalty.audience_member (member_id, audience_id)
SELECT m.member_id, a.audience_id
  FROM loyalty.member m JOIN loyalty.audience a USING (program_id) JOIN loyalty.program p USING (program_id)
 WHERE p.code = 'aud' AND a.code = 'winter';
-- by cards: coupon = 1 and 3 (3 twice: counted once); then 1 (already) and 4
SELECT * FROM loyalty.audience_add('coupon', ARRAY[loyalty.card_issue('60', 1), loyalty.card_issue('60', 3), loyalty.card_issue('60', 3)]);
SELECT * FROM loyalty.audience_add('coupon', ARRAY[loyalty.card_issue('60', 1), loyalty.card_issue('60', 4)]);
-- 4 out again; a second time: absent
SELECT * FROM loyalty.audience_remove('coupon', ARRAY[loyalty.card_issue('60', 4)]);
SELECT * FROM loyalty.audience_remove('coupon', ARRAY[loyalty.card_issue('60', 4)]);
-- old: member 1
SELECT * FROM loyalty.audience_add('old', ARRAY[loyalty.card_issue('60', 1)]);
-- an empty list adds nothing
SELECT * FROM loyalty.audience_add('vip', '{}');
SELECT a.code, array_agg(right(mc.card::text, 2) ORDER BY mc.card) AS cards, count(am.clipped_at) AS clipped
  FROM loyalty.audience a JOIN loyalty.audience_member am USING (audience_id)
  JOIN loyalty.member_card mc USING (member_id)
 GROUP BY a.code ORDER BY a.code;

-- refusals of loading
SELECT label, pg_temp.outcome(statement) AS outcome FROM (VALUES
	('add: unknown audience', $$SELECT loyalty.audience_add('nope', ARRAY[loyalty.card_issue('60', 1)])$$),
	('add: card of a program without it', $$SELECT loyalty.audience_add('coupon', ARRAY[loyalty.card_issue('61', 1)])$$),
	('add: unknown card', $$SELECT loyalty.audience_add('vip', ARRAY[loyalty.card_issue('60', 99)])$$),
	('add: NULL card', $$SELECT loyalty.audience_add('vip', ARRAY[NULL::loyalty.card])$$),
	('add: NULL audience', $$SELECT loyalty.audience_add(NULL, ARRAY[loyalty.card_issue('60', 1)])$$),
	('remove: unknown audience', $$SELECT loyalty.audience_remove('nope', ARRAY[loyalty.card_issue('60', 1)])$$),
	('insert: member of another program', $$INSERT INTO loyalty.audience_member (member_id, audience_id)
		SELECT loyalty.member_id(loyalty.card_issue('61', 1)), audience_id FROM loyalty.audience a
		  JOIN loyalty.program p USING (program_id) WHERE p.code = 'aud' AND a.code = 'vip'$$),
	('update: moved to another program''s audience', $$UPDATE loyalty.audience_member SET audience_id =
		(SELECT audience_id FROM loyalty.audience a JOIN loyalty.program p USING (program_id) WHERE p.code = 'other')
		WHERE member_id = loyalty.member_id(loyalty.card_issue('60', 1))
		  AND audience_id = (SELECT audience_id FROM loyalty.audience WHERE code = 'winter')$$),
	('audience: window the wrong way round', $$INSERT INTO loyalty.audience (program_id, code, valid_from, valid_to)
		SELECT program_id, 'bad', '2024-02-01', '2024-01-01' FROM loyalty.program WHERE code = 'aud'$$),
	('audience: code taken', $$INSERT INTO loyalty.audience (program_id, code)
		SELECT program_id, 'vip' FROM loyalty.program WHERE code = 'aud'$$)) v(label, statement);

-- ===== rules naming audiences
--   vip50: 50 to vip, twice per member at most
--   clip30: 30 to coupon (opt-in: once clipped)
--   winter20: 20 to winter (January 2024), 9:00-12:00 only, budget 40
--   every5: 5 to everyone
INSERT INTO loyalty.rule (program_id, code, kind, points, audience, member_max_uses, hour_from, hour_to, budget_points)
SELECT program_id, r.code, 'bonus', r.points, r.audience, r.max_uses, r.hour_from, r.hour_to, r.budget
  FROM loyalty.program, (VALUES
	('vip50', 50, 'vip', 2, NULL::int, NULL::int, NULL::bigint),
	('clip30', 30, 'coupon', NULL, NULL, NULL, NULL),
	('winter20', 20, 'winter', NULL, 9, 12, 40),
	('every5', 5, NULL, NULL, NULL, NULL, NULL)) r(code, points, audience, max_uses, hour_from, hour_to, budget)
 WHERE program.code = 'aud';
SELECT label, pg_temp.outcome(statement) AS outcome FROM (VALUES
	('rule: unknown audience', $$INSERT INTO loyalty.rule (program_id, code, kind, points, audience)
		SELECT program_id, 'bad', 'bonus', 1, 'nope' FROM loyalty.program WHERE code = 'aud'$$),
	('rule: empty audience', $$INSERT INTO loyalty.rule (program_id, code, kind, points, audience)
		SELECT program_id, 'bad', 'bonus', 1, '' FROM loyalty.program WHERE code = 'aud'$$),
	('rule: moved to a program without it', $$UPDATE loyalty.rule SET program_id =
		(SELECT program_id FROM loyalty.program WHERE code = 'other') WHERE code = 'clip30'$$),
	('delete a named audience', $$DELETE FROM loyalty.audience WHERE code = 'coupon'$$),
	('rename a named audience', $$UPDATE loyalty.audience SET code = 'coupons' WHERE code = 'coupon'$$),
	('move a named audience', $$UPDATE loyalty.audience SET program_id =
		(SELECT program_id FROM loyalty.program WHERE code = 'other') WHERE code = 'winter'$$),
	('rename an unnamed one', $$UPDATE loyalty.audience SET name = 'Old offer', code = 'older' WHERE code = 'old'$$),
	('rename it back', $$UPDATE loyalty.audience SET code = 'old' WHERE code = 'older'$$)) v(label, statement);

-- ===== sales now (2024-02-01 is past: winter20 never fires now)
-- 1: 10 + vip50 50 + every5 5 = 65 (in coupon, not clipped)
SELECT pg_temp.buy(1) AS m1;
SELECT * FROM pg_temp.why() WHERE code <> 'winter20';
-- 2: 10 + 50 + 5 = 65 (not in coupon)
SELECT pg_temp.buy(2) AS m2;
SELECT * FROM pg_temp.why() WHERE code = 'clip30';
-- 4: 10 + 5 = 15 (in no audience but winter)
SELECT pg_temp.buy(4) AS m4;
SELECT * FROM pg_temp.why() WHERE code = 'vip50';

-- ===== opt-in: 1 clips coupon; a retry returns the first clip
SELECT loyalty.clip_offer('coupon', loyalty.card_issue('60', 1)) AS first_clip \gset
SELECT loyalty.clip_offer('coupon', loyalty.card_issue('60', 1)) = :'first_clip'::timestamptz AS same_clip;
SELECT label, pg_temp.outcome(statement) AS outcome FROM (VALUES
	('clip: not in the audience', $$SELECT loyalty.clip_offer('coupon', loyalty.card_issue('60', 2))$$),
	('clip: not opt-in', $$SELECT loyalty.clip_offer('vip', loyalty.card_issue('60', 1))$$),
	('clip: ended', $$SELECT loyalty.clip_offer('old', loyalty.card_issue('60', 1))$$),
	('clip: unknown audience', $$SELECT loyalty.clip_offer('nope', loyalty.card_issue('60', 1))$$),
	('clip: audience of another program', $$SELECT loyalty.clip_offer('coupon', loyalty.card_issue('61', 1))$$),
	('clip: unknown card', $$SELECT loyalty.clip_offer('coupon', loyalty.card_issue('60', 99))$$),
	('clip: NULL audience', $$SELECT loyalty.clip_offer(NULL, loyalty.card_issue('60', 1))$$),
	('clip: NULL card', $$SELECT loyalty.clip_offer('coupon', NULL)$$)) v(label, statement);
-- 1 again: 10 + 50 (second use of vip50) + 30 + 5 = 95
SELECT pg_temp.buy(1) AS m1_clipped;
-- and again: vip50 is used up for 1: 10 + 30 + 5 = 45
SELECT pg_temp.buy(1) AS m1_capped;
SELECT * FROM pg_temp.why() WHERE code IN ('vip50', 'clip30');
-- 3, in coupon: 15 before clipping, 45 after
SELECT pg_temp.buy(3) AS m3;
SELECT * FROM pg_temp.why() WHERE code = 'clip30';
SELECT loyalty.clip_offer('coupon', loyalty.card_issue('60', 3)) IS NOT NULL AS clipped;
SELECT pg_temp.buy(3) AS m3_clipped;
-- a quote sees the same (4 is in no audience now; 3 clipped)
SELECT serial, q.points, (SELECT array_agg(concat_ws(': ', r->>'code', r->>'why') ORDER BY r->>'code') FROM jsonb_array_elements(q.award->'rules') r
						   WHERE r->>'code' IN ('vip50', 'clip30')) AS why
  FROM (VALUES (3), (4)) v(serial),
	   loyalty.quote(loyalty.card_issue('60', v.serial), '[{"sku": "X", "qty": 1, "amount": 10}]') q;

-- ===== the audience's window, the rule's hours and its budget together
-- (back-filled sales in and around January 2024; every member is in winter)
-- 4 on 2023-12-31 10:00: before the audience's window: 10 + 5 = 15
SELECT pg_temp.buy(4, '2023-12-31 10:00+00') AS m4_december;
SELECT * FROM pg_temp.why() WHERE code = 'winter20';
-- 4 on 2024-01-10 10:00: 10 + 20 + 5 = 35 (budget 40 -> 20 left)
SELECT pg_temp.buy(4, '2024-01-10 10:00+00') AS m4_january;
-- 5 on 2024-01-10 08:00: outside the rule's hours: 15
SELECT pg_temp.buy(5, '2024-01-10 08:00+00') AS m5_early;
SELECT * FROM pg_temp.why() WHERE code = 'winter20';
-- 5 on 2024-01-11 11:00: 35 (budget spent: 40)
SELECT pg_temp.buy(5, '2024-01-11 11:00+00') AS m5_january;
-- 2 on 2024-01-12 10:00: budget spent; vip50 (2nd use for 2) 50: 10 + 50 + 5 = 65
SELECT pg_temp.buy(2, '2024-01-12 10:00+00') AS m2_january;
SELECT * FROM pg_temp.why() WHERE code IN ('winter20', 'vip50');
-- 3 on 2024-02-01 10:00: the audience's window has ended; clipped: 10 + 30 + 5 = 45
SELECT pg_temp.buy(3, '2024-02-01 10:00+00') AS m3_february;
SELECT * FROM pg_temp.why() WHERE code = 'winter20';
SELECT sum(s.points) AS points, sum(s.uses) AS uses FROM loyalty.rule_spend s JOIN loyalty.rule r USING (rule_id) WHERE r.code = 'winter20';

-- ===== membership changes between sales, in the same session, without
-- recompiling: 4 joins vip (50 more: 65), 2 leaves it
INSERT INTO loyalty.audience_member (member_id, audience_id)
SELECT loyalty.member_id(loyalty.card_issue('60', 4)), audience_id FROM loyalty.audience WHERE code = 'vip'
   AND program_id = (SELECT program_id FROM loyalty.program WHERE code = 'aud');
SELECT pg_temp.buy(4) AS m4_vip;
SELECT * FROM loyalty.audience_remove('vip', ARRAY[loyalty.card_issue('60', 2)]);
-- 2 has vip50 uses left? No: used twice.  The why says "not in audience"
-- first, as the audience is checked before the cap: 10 + 5 = 15
SELECT pg_temp.buy(2) AS m2_out;
SELECT * FROM pg_temp.why() WHERE code = 'vip50';
-- a change of the audience itself recompiles: vip turned opt-in, 4 has
-- not clipped it: 15; back to a plain list: 65 (4's second vip50)
UPDATE loyalty.audience SET opt_in = true WHERE code = 'vip';
SELECT pg_temp.buy(4) AS m4_opt_in;
SELECT * FROM pg_temp.why() WHERE code = 'vip50';
UPDATE loyalty.audience SET opt_in = false WHERE code = 'vip';
SELECT pg_temp.buy(4) AS m4_list;

-- ===== dropping an audience: refused while a rule names it (above,
-- LY131); once the rule names none, the audience and its members go, and
-- the rule fires for everyone: 4 earns 10 + 30 (clip30, no audience) + 5
UPDATE loyalty.rule SET audience = NULL WHERE code = 'clip30';
DELETE FROM loyalty.audience WHERE code = 'coupon';
SELECT count(*) AS coupon_rows FROM loyalty.audience_member am
 WHERE NOT EXISTS (SELECT FROM loyalty.audience a WHERE a.audience_id = am.audience_id);
SELECT pg_temp.buy(4) AS m4_no_audience;

-- every sale's award against the ledger
SELECT count(*) AS sales, sum(points_earned) AS points FROM loyalty.sale;
SELECT * FROM loyalty.check_invariants();
