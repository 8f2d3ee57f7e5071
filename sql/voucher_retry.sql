-- use_voucher retries: a (store, pos_txn) already used names one request,
-- the same code, card (or none again) and lines (equal as jsonb).  The same
-- request again gets the first answer; another basket, another card, no
-- card for a card (and a card for none) is LY035, as for a sale; another
-- voucher under the pair stays LY011.  A refused retry writes nothing.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- use_voucher's answer in one line, or the refusal with its detail (codes masked)
CREATE FUNCTION pg_temp.use(code text, card loyalty.card, store text, txn text, lines jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r record;
	detail text;
BEGIN
	SELECT * INTO r FROM loyalty.use_voucher(code, card, store, txn, lines);
	RETURN format('use %s: %s discount %s, points %s, uses left %s', r.use_id, r.kind, r.discount, r.points, r.uses_left);
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM || coalesce(' / ' || nullif(detail, ''), ''),
						  '"[2-9A-HJKMNP-Z]{13}"', '"<code>"', 'g');
END
$$;

INSERT INTO loyalty.program (code, point_value) VALUES ('p', 0.01);
SELECT loyalty.enroll(loyalty.card_issue('71', n), 'p') FROM generate_series(1, 2) AS n;
INSERT INTO loyalty.store (store, time_zone) VALUES ('S1', 'UTC');
INSERT INTO loyalty.voucher_type (program_id, code, kind, value) VALUES (1, 'ten-pct', 'percent', 10);
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, member_bound) VALUES (1, 'bearer', 'amount', 2, false);
CREATE TEMP TABLE v AS
SELECT 'pct' AS name, loyalty.issue_voucher('ten-pct', loyalty.card_issue('71', 1)) AS code
UNION ALL
SELECT 'bearer', loyalty.issue_voucher('bearer', NULL, program => 'p');
-- the cards, as the details below name them
SELECT n, loyalty.card_issue('71', n)::text AS card FROM generate_series(1, 2) AS n;

-- ===== a member-bound percent voucher: 10 % of 1000 = 100.00 off, its only use
SELECT pg_temp.use((SELECT code FROM v WHERE name = 'pct'), loyalty.card_issue('71', 1), 'S1', 'T-1',
	'[{"sku":"TV","qty":1,"amount":1000}]') AS first_use;
SELECT what, pg_temp.use((SELECT code FROM v WHERE name = 'pct'), card, 'S1', 'T-1', lines::jsonb) AS outcome FROM (VALUES
	(1, 'exact retry',                     loyalty.card_issue('71', 1), '[{"sku":"TV","qty":1,"amount":1000}]'),
	(2, 'same lines, other spelling',      loyalty.card_issue('71', 1), '[ {"amount": 1000.00, "sku": "TV", "qty": 1.0} ]'),
	(3, 'other basket',                    loyalty.card_issue('71', 1), '[{"sku":"PEN","qty":1,"amount":10}]'),
	(4, 'other amount',                    loyalty.card_issue('71', 1), '[{"sku":"TV","qty":1,"amount":1000.01}]'),
	(5, 'a line more',                     loyalty.card_issue('71', 1), '[{"sku":"TV","qty":1,"amount":1000},{"sku":"PEN","qty":1,"amount":10}]'),
	(6, 'no line',                         loyalty.card_issue('71', 1), '[]'),
	(7, 'other card',                      loyalty.card_issue('71', 2), '[{"sku":"TV","qty":1,"amount":1000}]'),
	(8, 'no card',                         NULL,                        '[{"sku":"TV","qty":1,"amount":1000}]'),
	(9, 'other card and basket',           loyalty.card_issue('71', 2), '[]')
) AS t(i, what, card, lines)
 ORDER BY i;
SELECT 'another voucher' AS what, pg_temp.use((SELECT code FROM v WHERE name = 'bearer'), loyalty.card_issue('71', 1), 'S1', 'T-1',
	'[{"sku":"TV","qty":1,"amount":1000}]') AS outcome;

-- ===== a bearer voucher used without a card: 2 off a basket of 5
SELECT pg_temp.use((SELECT code FROM v WHERE name = 'bearer'), NULL, 'S1', 'T-2', '[{"sku":"A","qty":1,"amount":5}]') AS first_use;
SELECT what, pg_temp.use((SELECT code FROM v WHERE name = 'bearer'), card, 'S1', 'T-2', lines::jsonb) AS outcome FROM (VALUES
	(1, 'exact retry, no card',            NULL,                        '[{"sku":"A","qty":1,"amount":5}]'),
	(2, 'a card for none',                 loyalty.card_issue('71', 1), '[{"sku":"A","qty":1,"amount":5}]'),
	(3, 'other basket, no card',           NULL,                        '[{"sku":"A","qty":1,"amount":50}]')
) AS t(i, what, card, lines)
 ORDER BY i;

-- ===== nothing written by the refused retries: two uses, each voucher spent once, two events
SELECT u.use_id, v.name, u.pos_txn, u.member_id, u.card::text AS card, u.discount, u.uses_left,
	   u.lines_hash = CASE v.name WHEN 'pct' THEN jsonb_hash_extended('[{"sku":"TV","qty":1,"amount":1000}]', 0)
								  ELSE jsonb_hash_extended('[{"sku":"A","qty":1,"amount":5}]', 0) END AS lines_hash_of_first
  FROM loyalty.voucher_use u JOIN loyalty.voucher x USING (voucher_id) JOIN v ON v.code = x.code
 ORDER BY u.use_id;
SELECT v.name, x.uses_left FROM loyalty.voucher x JOIN v USING (code) ORDER BY v.name;
SELECT count(*) AS voucher_used_events FROM loyalty.outbox WHERE kind = 'voucher_used';
SELECT * FROM loyalty.check_invariants();

-- ===== the card is compared, not judged again: after the card is replaced the
-- old card's retry still gets the first answer; the new card is another card
SELECT loyalty.replace_card(loyalty.card_issue('71', 1), loyalty.card_issue('71', 11)) IS NOT NULL AS replaced;
SELECT what, pg_temp.use((SELECT code FROM v WHERE name = 'pct'), card, 'S1', 'T-1', '[{"sku":"TV","qty":1,"amount":1000}]') AS outcome FROM (VALUES
	(1, 'retry with the replaced card', loyalty.card_issue('71', 1)),
	(2, 'retry with the new card',      loyalty.card_issue('71', 11))
) AS t(i, what, card)
 ORDER BY i;
SELECT loyalty.card_issue('71', 11)::text AS new_card;
