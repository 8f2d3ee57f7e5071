-- Privileges of audiences (0.6.0).  The admin level configures audiences,
-- loads and empties them (INSERT ... SELECT, audience_add,
-- audience_remove) and names them in rules; pos clips an offer for a card
-- (clip_offer) and sells, and neither writes nor reads the audiences; the
-- analyst reads audiences and their members and changes nothing; a role
-- without a level does none of it.
--
-- (test/pgtap/privileges.sql lists every function and table with its levels.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;

BEGIN;
SELECT plan(22);

CREATE ROLE tap_a_admin;
CREATE ROLE tap_a_pos;
CREATE ROLE tap_a_analyst;
CREATE ROLE tap_a_nobody;
DO $$BEGIN
	PERFORM loyalty.grant_access('tap_a_admin', 'admin');
	PERFORM loyalty.grant_access('tap_a_pos', 'pos');
	PERFORM loyalty.grant_access('tap_a_analyst', 'analyst');
END$$;

-- Data, as the superuser: members 1, 2 and 3 of tap_a.
INSERT INTO loyalty.program (code) VALUES ('tap_a');
DO $$BEGIN
	PERFORM loyalty.enroll(loyalty.card_issue('45', i), 'tap_a', enrolled_at => '2000-01-01 00:00+00')
	   FROM generate_series(1, 3) i;
END$$;

-- 1-7: admin configures an opt-in audience, loads it both ways, takes one
-- member out, and names it in a rule
SET ROLE tap_a_admin;
SELECT lives_ok($$INSERT INTO loyalty.audience (program_id, code, opt_in)
	SELECT program_id, 'clip', true FROM loyalty.program WHERE code = 'tap_a'$$,
	'admin can define an audience');
SELECT lives_ok($$INSERT INTO loyalty.audience_member (member_id, audience_id)
	SELECT mc.member_id, a.audience_id FROM loyalty.member_card mc, loyalty.audience a
	 WHERE a.code = 'clip' AND mc.card = loyalty.card_issue('45', 1)$$,
	'admin can load an audience with INSERT ... SELECT');
SELECT is((SELECT added FROM loyalty.audience_add('clip', ARRAY[loyalty.card_issue('45', 2), loyalty.card_issue('45', 3)])),
	2::bigint, 'admin can load an audience with audience_add');
SELECT is((SELECT removed FROM loyalty.audience_remove('clip', ARRAY[loyalty.card_issue('45', 3)])),
	1::bigint, 'admin can empty an audience with audience_remove');
SELECT lives_ok($$INSERT INTO loyalty.rule (program_id, code, kind, points, audience)
	SELECT program_id, 'clip40', 'bonus', 40, 'clip' FROM loyalty.program WHERE code = 'tap_a'$$,
	'admin can name an audience in a rule');
SELECT lives_ok($$UPDATE loyalty.audience SET name = 'Clip me' WHERE code = 'clip'$$,
	'admin can change an audience');
SELECT is((SELECT count(*) FROM loyalty.audience_member), 2::bigint, 'admin reads the audience''s members');
RESET ROLE;

-- 8-14: pos clips for a card and sells; it may not load, configure or read
SET ROLE tap_a_pos;
SELECT isnt(loyalty.clip_offer('clip', loyalty.card_issue('45', 1)), NULL, 'pos can clip an offer');
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('tap-a', 'tap-a-1', loyalty.card_issue('45', 1), 10, '[{"sku": "A", "qty": 1, "amount": 10}]')
RETURNING points_earned AS earned_1 \gset
SELECT is(:earned_1::bigint, 50::bigint, 'pos: a clipped member earns the audience''s bonus (10 + 40)');
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('tap-a', 'tap-a-2', loyalty.card_issue('45', 2), 10, '[{"sku": "A", "qty": 1, "amount": 10}]')
RETURNING points_earned AS earned_2 \gset
SELECT is(:earned_2::bigint, 10::bigint, 'pos: a member who has not clipped earns the base only');
SELECT throws_ok($$SELECT loyalty.audience_add('clip', ARRAY[loyalty.card_issue('45', 3)])$$, '42501',
	NULL, 'pos cannot load an audience');
SELECT throws_ok($$INSERT INTO loyalty.audience_member (member_id, audience_id) VALUES (1, 1)$$, '42501',
	NULL, 'pos cannot insert audience members');
SELECT throws_ok($$SELECT count(*) FROM loyalty.audience_member$$, '42501',
	NULL, 'pos cannot read audience members');
SELECT throws_ok($$UPDATE loyalty.audience SET opt_in = false$$, '42501',
	NULL, 'pos cannot change an audience');
RESET ROLE;

-- 15-19: analyst reads, changes nothing
SET ROLE tap_a_analyst;
SELECT is((SELECT count(*) FROM loyalty.audience_member WHERE clipped_at IS NOT NULL), 1::bigint,
	'analyst reads who clipped');
SELECT is((SELECT code FROM loyalty.audience), 'clip', 'analyst reads audiences');
SELECT throws_ok($$SELECT loyalty.clip_offer('clip', loyalty.card_issue('45', 2))$$, '42501',
	NULL, 'analyst cannot clip');
SELECT throws_ok($$SELECT loyalty.audience_remove('clip', ARRAY[loyalty.card_issue('45', 1)])$$, '42501',
	NULL, 'analyst cannot empty an audience');
SELECT throws_ok($$DELETE FROM loyalty.audience_member$$, '42501',
	NULL, 'analyst cannot delete audience members');
RESET ROLE;

-- 20-22: no level, nothing
SET ROLE tap_a_nobody;
SELECT throws_ok($$SELECT loyalty.clip_offer('clip', loyalty.card_issue('45', 2))$$, '42501',
	NULL, 'a role without a level cannot clip');
SELECT throws_ok($$SELECT count(*) FROM loyalty.audience$$, '42501',
	NULL, 'a role without a level cannot read audiences');
SELECT throws_ok($$INSERT INTO loyalty.audience (program_id, code) VALUES (1, 'x')$$, '42501',
	NULL, 'a role without a level cannot define an audience');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
