-- Privileges of voucher rules (0.6.0).  The admin level writes voucher
-- rules and limits voucher types to an audience; pos sells and returns and
-- reads back the codes its sale's rules issued (sale.vouchers_issued,
-- RETURNING) but writes no rule, no voucher and not that column; the
-- analyst reads the rules and the vouchers they issued and changes nothing.
--
-- (test/pgtap/privileges.sql lists every function and table with its levels.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;

BEGIN;
SELECT plan(11);

CREATE ROLE tap_vr_admin;
CREATE ROLE tap_vr_pos;
CREATE ROLE tap_vr_analyst;
DO $$BEGIN
	PERFORM loyalty.grant_access('tap_vr_admin', 'admin');
	PERFORM loyalty.grant_access('tap_vr_pos', 'pos');
	PERFORM loyalty.grant_access('tap_vr_analyst', 'analyst');
END$$;

-- Data, as the superuser: member 1 of tap_vr, a gift type, an audience.
INSERT INTO loyalty.program (code) VALUES ('tap_vr');
DO $$BEGIN
	PERFORM loyalty.enroll(loyalty.card_issue('46', 1), 'tap_vr', enrolled_at => '2000-01-01 00:00+00');
END$$;
INSERT INTO loyalty.voucher_type (program_id, code, kind, value)
SELECT program_id, 'gift', 'amount', 5 FROM loyalty.program WHERE code = 'tap_vr';
INSERT INTO loyalty.audience (program_id, code) SELECT program_id, 'aud' FROM loyalty.program WHERE code = 'tap_vr';

-- 1-3: admin writes a sale rule and a return rule, and limits a type to an audience
SET ROLE tap_vr_admin;
SELECT lives_ok($$INSERT INTO loyalty.rule (program_id, code, kind, voucher_type, skus)
	SELECT program_id, 'gift-sale', 'voucher', 'gift', '{G}' FROM loyalty.program WHERE code = 'tap_vr'$$,
	'admin can write a voucher rule');
SELECT lives_ok($$INSERT INTO loyalty.rule (program_id, code, kind, voucher_type, skus, on_return, sold_from, sold_to)
	SELECT program_id, 'gift-back', 'voucher', 'gift', '{G}', true, '2000-01-01', '2100-01-01' FROM loyalty.program WHERE code = 'tap_vr'$$,
	'admin can write a return rule');
SELECT lives_ok($$UPDATE loyalty.voucher_type SET audience = 'aud' WHERE code = 'gift'$$,
	'admin can limit a voucher type to an audience');
UPDATE loyalty.voucher_type SET audience = NULL WHERE code = 'gift';
RESET ROLE;

-- 4-7: pos sells and returns, reading back the codes; writes no rule, no voucher
SET ROLE tap_vr_pos;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('tap-vr', 'tap-vr-1', loyalty.card_issue('46', 1), 10, '[{"sku": "G", "qty": 1, "amount": 10}]')
RETURNING sale_id AS vr_sale, cardinality(vouchers_issued) AS vr_issued \gset
SELECT is(:vr_issued, 1, 'pos reads back the code its sale''s rule issued (RETURNING vouchers_issued)');
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('tap-vr', 'tap-vr-2', 10, '[{"sku": "G", "qty": 1, "amount": 10}]', :vr_sale)
RETURNING cardinality(vouchers_issued) AS vr_back \gset
SELECT is(:vr_back, 1, 'pos reads back the code its return''s rule issued');
SELECT throws_ok($$INSERT INTO loyalty.rule (program_id, code, kind, voucher_type)
	SELECT 1, 'x', 'voucher', 'gift'$$, '42501', NULL, 'pos cannot write a voucher rule');
SELECT throws_ok($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, vouchers_issued)
	VALUES ('tap-vr', 'tap-vr-3', loyalty.card_issue('46', 1), 1, '[{"sku": "A", "qty": 1, "amount": 1}]', '{FAKE}')$$,
	'42501', NULL, 'pos cannot write vouchers_issued');
RESET ROLE;

-- 8-10: the analyst reads the rules and the vouchers they issued, changes nothing
SET ROLE tap_vr_analyst;
SELECT is((SELECT count(*) FROM loyalty.voucher v JOIN loyalty.rule r ON r.rule_id = v.issued_by_rule),
	2::bigint, 'analyst reads the vouchers the rules issued');
SELECT throws_ok($$UPDATE loyalty.rule SET on_return = false$$, '42501', NULL, 'analyst cannot change a rule');
SELECT throws_ok($$UPDATE loyalty.voucher_type SET audience = 'aud'$$, '42501', NULL,
	'analyst cannot limit a voucher type');
RESET ROLE;

-- 11: nobody but the sale trigger wrote vouchers_issued: both rows carry
-- the codes of vouchers that exist
SELECT is((SELECT count(*) FROM loyalty.sale s JOIN loyalty.voucher v ON v.code = ANY (s.vouchers_issued)),
	2::bigint, 'the codes in vouchers_issued are the vouchers issued');

SELECT * FROM finish();
ROLLBACK;
