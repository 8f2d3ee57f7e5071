-- Bounds of what a POS sends (0.5.0): lines per sale, decimals and size of
-- every number, the tolerance of the total; time zones that are tz database
-- names; and sales, returns, quotes and explanations that come out the same
-- whatever the session's settings.
\pset null '(null)'
\set SHOW_CONTEXT never
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
-- n lines of one unit at the given amount, sku L1..Ln
CREATE FUNCTION pg_temp.lines(n integer, amount numeric) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT jsonb_agg(jsonb_build_object('sku', 'L' || i, 'qty', 1, 'amount', amount) ORDER BY i)
	  FROM generate_series(1, n) i
$$;

INSERT INTO loyalty.program (code) VALUES ('lim');
INSERT INTO loyalty.rule (program_id, code, kind, points, min_basket)
SELECT program_id, 'basket-100', 'bonus', 500, 100 FROM loyalty.program WHERE code = 'lim';
SELECT loyalty.enroll(loyalty.card_issue('40', 1), 'lim', enrolled_at => '2000-01-01 00:00+00') AS m1;

-- 1. At most 10,000 lines per sale, return or quote (LY060).  Exactly
-- 10,000 lines of 1.25: 12,500 points plus the basket bonus.
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S1', 'CAP', loyalty.card_issue('40', 1), 12500, pg_temp.lines(10000, 1.25))
RETURNING points_earned, jsonb_array_length(lines) AS lines;
SELECT t.what, pg_temp.outcome(t.statement) AS outcome
  FROM (VALUES
	('one past the cap', $$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
		VALUES ('S1', 'CAP+1', loyalty.card_issue('40', 1), 12501.25, pg_temp.lines(10001, 1.25))$$),
	('anonymous too',    $$INSERT INTO loyalty.sale (store, pos_txn, total, lines)
		VALUES ('S1', 'CAP+1-anonymous', 12501.25, pg_temp.lines(10001, 1.25))$$),
	('quote too',        $$SELECT loyalty.quote(loyalty.card_issue('40', 1), pg_temp.lines(10001, 1.25))$$)
  ) AS t(what, statement);
SELECT points FROM loyalty.quote(loyalty.card_issue('40', 1), pg_temp.lines(10000, 1.25), 12500);
-- a return of the sale at the cap: one line (the base keeps
-- floor(12,498.75), 2 points go; the bonus stays), then all the rest in one
-- return of 9,999 lines; 10,001 lines are refused before anything is looked
-- up
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
SELECT 'S1', 'CAP-R1', 1.25, pg_temp.lines(1, 1.25), sale_id FROM loyalty.sale WHERE pos_txn = 'CAP'
RETURNING points_earned, award - 'return_of' AS award;
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
SELECT 'S1', 'CAP-R2', 12498.75, jsonb_path_query_array(pg_temp.lines(10000, 1.25), '$[1 to last]'), sale_id
  FROM loyalty.sale WHERE pos_txn = 'CAP'
RETURNING points_earned, jsonb_array_length(lines) AS lines, award - 'return_of' AS award;
SELECT 'return past the cap' AS what, pg_temp.outcome($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
	SELECT 'S1', 'CAP-R3', 12501.25, pg_temp.lines(10001, 1.25), sale_id FROM loyalty.sale WHERE pos_txn = 'CAP'$$) AS outcome;
SELECT net FROM loyalty.member_balance WHERE member_id = loyalty.member_id(loyalty.card_issue('40', 1));

-- 2. Quantities, amounts and totals: at most 4 decimals and below 10^12
-- (LY061).  9 bytes of JSON ({"amount": 1e-16000}) would otherwise be a
-- number of 16,000 digits in every sum, product and stored award.
SELECT t.what, pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S1', %L, loyalty.card_issue('40', 1), %s, %L)$$, 'N-' || t.what, t.total, t.lines)) AS outcome
  FROM (VALUES
	('tiny amount',         '0',                  '[{"sku":"A","qty":1,"amount":1e-16000}]'),
	('5 decimals',          '1.00001',            '[{"sku":"A","qty":1,"amount":1.00001}]'),
	('4 decimals',          '1.0001',             '[{"sku":"A","qty":1,"amount":1.0001}]'),
	('trailing zeros',      '1',                  '[{"sku":"A","qty":1,"amount":1.00000}]'),
	('numeric division',    '14.39',              '[{"sku":"A","qty":1.000000000000000000,"amount":14.3900000000000000}]'),
	('zero, 16000 zeros',   '0',                  '[{"sku":"A","qty":1,"amount":0e-16000}]'),
	('amount 10^12',        '1000000000000',      '[{"sku":"A","qty":1,"amount":1000000000000}]'),
	('amount 10^12 - 1e-4', '999999999999.9999',  '[{"sku":"A","qty":1,"amount":999999999999.9999}]'),
	('huge amount',         '1e400',              '[{"sku":"A","qty":1,"amount":1e400}]'),
	('qty 5 decimals',      '1',                  '[{"sku":"A","qty":0.00001,"amount":1}]'),
	('qty 4 decimals',      '1',                  '[{"sku":"A","qty":0.0001,"amount":1}]'),
	('qty 10^12',           '1',                  '[{"sku":"A","qty":1e12,"amount":1}]'),
	('second line',         '2',                  '[{"sku":"A","qty":1,"amount":1},{"sku":"B","qty":1,"amount":1.123456}]'),
	('total 5 decimals',    '1.00001',            '[{"sku":"A","qty":1,"amount":1}]'),
	('total 10^12',         '1000000000000',      '[{"sku":"A","qty":1,"amount":1}]')
  ) AS t(what, total, lines);
SELECT pg_temp.outcome($$SELECT loyalty.quote(loyalty.card_issue('40', 1), '[{"sku":"A","qty":1,"amount":1e-16000}]')$$) AS quote;
SELECT pg_temp.outcome($$SELECT loyalty.quote(loyalty.card_issue('40', 1), '[{"sku":"A","qty":1,"amount":1}]', 1.000001)$$) AS quote_total;
-- the largest numbers numeric holds, with decimals to round: LY061, not
-- 22003 from rounding them (the range is checked first)
SELECT pg_temp.outcome(format($$SELECT loyalty.quote(loyalty.card_issue('40', 1), '[{"sku":"A","qty":1,"amount":%s.99999}]')$$,
							  repeat('9', 131072))) AS quote_largest;
SELECT pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S1', 'N-largest total', loyalty.card_issue('40', 1), %s.99999, '[{"sku":"A","qty":1,"amount":1}]')$$,
							  repeat('9', 131072))) AS largest_total;
-- the amounts stored are what was sent; the award reckons with the number
-- without its trailing zeros (its base part is as short as 14.39's)
SELECT pos_txn, total, points_earned, left((lines->0->'amount')::text, 24) AS amount,
	   length((lines->0->'amount')::text) AS amount_length, length(award::text) < 2000 AS award_is_short
  FROM loyalty.sale
 WHERE pos_txn IN ('N-4 decimals', 'N-amount 10^12 - 1e-4', 'N-qty 4 decimals',
				   'N-numeric division', 'N-zero, 16000 zeros') ORDER BY pos_txn;

-- 3. The lines add up to the total within 0.01 per line, at most 0.05
-- (LY033): 10,000 lines of 0.01 no longer pass for a total of 0 (and win
-- the basket bonus for nothing).
SELECT t.what, pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S1', %L, loyalty.card_issue('40', 1), %s, pg_temp.lines(%s, %s))$$, 'T-' || t.what, t.total, t.n, t.amount)) AS outcome
  FROM (VALUES
	('10000 x 0.01, total 0', 0,      10000, 0.01),
	('3 lines, 0.03 off',     2.97,   3,     1),
	('3 lines, 0.04 off',     3.04,   3,     1),
	('10 lines, 0.05 off',    10.05,  10,    1),
	('10 lines, 0.06 off',    9.94,   10,    1),
	('1 line, 0.01 off',      1.01,   1,     1),
	('1 line, 0.02 off',      0.98,   1,     1)
  ) AS t(what, total, n, amount);

-- 4. Time zones are tz database names, as the database spells them: no
-- abbreviations (whose meaning is the session's timezone_abbreviations), no
-- POSIX specs, no other spelling (23514 names the constraint).
SELECT z, loyalty.time_zone_is_valid(z) AS valid
  FROM unnest(ARRAY['UTC', 'America/Chicago', 'Asia/Kolkata', 'Etc/GMT+5', 'EST', 'EST5EDT',
					'CST', 'ACST', 'america/chicago', 'UTC+5', '<+0330>-3:30', ':UTC', 'localtime',
					'Factory', 'right/UTC', '../UTC', '']) AS z;
SELECT pg_temp.outcome($$INSERT INTO loyalty.store (store, time_zone) VALUES ('Z1', 'CST')$$) AS cst;
SELECT pg_temp.outcome($$INSERT INTO loyalty.store (store, time_zone) VALUES ('Z1', 'america/chicago')$$) AS other_case;
SELECT pg_temp.outcome($$INSERT INTO loyalty.program (code, time_zone) VALUES ('z', 'UTC+5')$$) AS posix_spec;
SELECT pg_temp.outcome($$UPDATE loyalty.program SET time_zone = 'CST' WHERE code = 'lim'$$) AS program_cst;
SELECT pg_temp.outcome($$INSERT INTO loyalty.store (store, time_zone) VALUES ('Z1', 'America/Chicago')$$) AS iana;

-- 5. The session's settings do not steer the rules.  Store E1 is in zone
-- EST (the tz database's fixed UTC-5; as an abbreviation, Australia's set
-- reads EST as UTC+10), K1 in Asia/Kolkata (UTC+5:30).  Member 2 makes
-- five sales and a return under the defaults; member 3 makes the same
-- under hostile settings; their points, awards and explanations must be
-- equal, and so must quotes.
INSERT INTO loyalty.program (code) VALUES ('tz');
INSERT INTO loyalty.store (store, time_zone) VALUES ('E1', 'EST'), ('K1', 'Asia/Kolkata');
INSERT INTO loyalty.rule (program_id, code, kind, multiplier, points, hour_from, hour_to, days_of_week,
						  every_nth, visit_period, valid_from, valid_to, min_basket)
SELECT p.program_id, r.*
  FROM loyalty.program p, (VALUES
	('morning-x5',  'multiplier', 5,    NULL::bigint, 9,    12,   NULL::integer[], NULL::integer, NULL, NULL::timestamptz, NULL::timestamptz, NULL::numeric),
	('sunday',      'bonus',      NULL, 7,            NULL, NULL, '{7}',           NULL,          NULL, NULL,              NULL,              NULL),
	('second-visit', 'nth_visit', NULL, 11,           NULL, NULL, NULL,            2,             'week', NULL,            NULL,              NULL),
	('campaign',    'bonus',      NULL, 3,            NULL, NULL, NULL,            NULL,          NULL, '2026-11-10 00:00+00', '2026-11-20 00:00+00', NULL),
	('basket-20',   'bonus',      NULL, 13,           NULL, NULL, NULL,            NULL,          NULL, NULL,              NULL,              20.5)
  ) AS r(code, kind, multiplier, points, hour_from, hour_to, days_of_week, every_nth, visit_period, valid_from, valid_to, min_basket)
 WHERE p.code = 'tz';
SELECT loyalty.enroll(loyalty.card_issue('40', 2), 'tz', enrolled_at => '2000-01-01 00:00+00') AS m2, loyalty.enroll(loyalty.card_issue('40', 3), 'tz', enrolled_at => '2000-01-01 00:00+00') AS m3,
	   loyalty.enroll(loyalty.card_issue('40', 4), 'tz', enrolled_at => '2000-01-01 00:00+00') AS m4;
-- The sales (UTC times; local in E1 / K1):
--  1 E1 Sun 2026-11-01 14:30 UTC = 09:30 Sunday in E1: x5, sunday, first visit of the week
--  2 E1 Mon 2026-11-02 04:30 UTC = 23:30 Sunday in E1: same visit day, not a second visit
--  3 K1 Tue 2026-11-03 05:00 UTC = 10:30 in K1: x5, second visit of the week
--  4 E1 Thu 2026-11-12 15:00 UTC = 10:00 in E1: x5, campaign, basket
--  5 E1 Wed 2026-11-25 17:00 UTC = 12:00 in E1: no x5, campaign ended
PREPARE sales(text, integer) AS
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT v.store, $1 || v.n, loyalty.card_issue('40', $2), v.at::timestamptz, v.total, v.lines::jsonb
  FROM (VALUES
	(1, 'E1', '2026-11-01 14:30:00+00', 10.5,  '[{"sku":"S1","qty":1,"amount":10.5}]'),
	(2, 'E1', '2026-11-02 04:30:00+00', 4,     '[{"sku":"S2","qty":2,"amount":4}]'),
	(3, 'K1', '2026-11-03 05:00:00+00', 3.3,   '[{"sku":"S3","qty":1,"amount":3.3}]'),
	(4, 'E1', '2026-11-12 15:00:00+00', 25.75, '[{"sku":"S4","qty":1.5,"amount":20.25},{"sku":"S5","qty":1,"amount":5.5}]'),
	(5, 'E1', '2026-11-25 17:00:00+00', 1,     '[{"sku":"S6","qty":1,"amount":1}]')
  ) AS v(n, store, at, total, lines)
 ORDER BY v.n;
-- a return of S5 from sale 4: the basket falls below 20.5, the bonus goes
PREPARE give_back(text, integer) AS
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines, return_of)
SELECT 'E1', $1 || 'R', loyalty.card_issue('40', $2), '2026-11-13 15:00:00+00', 5.5,
	   '[{"sku":"S5","qty":1,"amount":5.5}]', s.sale_id
  FROM loyalty.sale s WHERE s.pos_txn OPERATOR(pg_catalog.=) ($1 || '4');
-- quotes of member 4 (no sales: quotes write nothing) at the same moments
PREPARE quotes AS
SELECT v.n, q.points, q.award
  FROM (VALUES
	(1, 'E1', '2026-11-01 14:30:00+00', 10.5,  '[{"sku":"S1","qty":1,"amount":10.5}]'),
	(2, 'K1', '2026-11-01 14:30:00+00', 10.5,  '[{"sku":"S1","qty":1,"amount":10.5}]'),
	(3, 'E1', '2026-11-12 15:00:00+00', 25.75, '[{"sku":"S4","qty":1.5,"amount":20.25},{"sku":"S5","qty":1,"amount":5.5}]')
  ) AS v(n, store, at, total, lines),
	   LATERAL loyalty.quote(loyalty.card_issue('40', 4), v.lines::jsonb, v.total, v.store, v.at::timestamptz) AS q
 ORDER BY v.n;

EXECUTE sales('D', 2);
EXECUTE give_back('D', 2);
CREATE TEMP TABLE quoted_default AS EXECUTE quotes;
CREATE TEMP TABLE explained_default AS
SELECT s.pos_txn, e.* FROM loyalty.sale s, loyalty.explain_sale(s.sale_id) e WHERE s.pos_txn LIKE 'D%';

-- The hostile session: another TimeZone and abbreviation set, date and
-- interval styles, float digits, locales, and a search_path whose first
-- schema turns text equality upside down.
CREATE SCHEMA hostile;
CREATE FUNCTION hostile.texteq_never(text, text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE OPERATOR hostile.= (LEFTARG = text, RIGHTARG = text, FUNCTION = hostile.texteq_never);
SET TimeZone = 'Pacific/Kiritimati';
SET timezone_abbreviations = 'Australia';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = -15;
-- a locale with a decimal comma where the system has one
DO $$
DECLARE
	l text;
BEGIN
	FOREACH l IN ARRAY ARRAY['de_DE.UTF-8', 'de_DE.utf8', 'fr_FR.UTF-8', 'fr_FR.utf8', 'C.UTF-8', 'C.utf8'] LOOP
		BEGIN
			PERFORM set_config('lc_numeric', l, false);
			PERFORM set_config('lc_monetary', l, false);
			EXIT;
		EXCEPTION WHEN OTHERS THEN
			NULL;
		END;
	END LOOP;
END
$$;
SET search_path = hostile, pg_catalog, public;
EXECUTE sales('H', 3);
EXECUTE give_back('H', 3);
CREATE TEMP TABLE quoted_hostile AS EXECUTE quotes;
CREATE TEMP TABLE explained_hostile AS
SELECT s.pos_txn, e.* FROM loyalty.sale s, loyalty.explain_sale(s.sale_id) e WHERE s.pos_txn LIKE 'H%';
RESET search_path;
RESET TimeZone;
RESET timezone_abbreviations;
RESET DateStyle;
RESET IntervalStyle;
RESET extra_float_digits;
RESET lc_numeric;
RESET lc_monetary;

-- what the defaults made: the local hours and days as the comments say
SELECT pos_txn, points_earned,
	   (SELECT string_agg(e.code || CASE WHEN e.fired THEN ' +' || e.points ELSE ': ' || e.why END, '; ' ORDER BY e.rule_id NULLS FIRST)
		  FROM loyalty.explain_sale(s.sale_id) e) AS rules
  FROM loyalty.sale s WHERE pos_txn LIKE 'D%' ORDER BY pos_txn;
SELECT n, points FROM quoted_default ORDER BY n;
-- and what the hostile session made differently: nothing
SELECT d.pos_txn, d.points_earned, h.points_earned AS hostile_points, d.award - 'return_of' AS award,
	   h.award - 'return_of' AS hostile_award
  FROM loyalty.sale d JOIN loyalty.sale h ON h.pos_txn = 'H' || substr(d.pos_txn, 2)
 WHERE d.pos_txn LIKE 'D%'
   AND (d.points_earned <> h.points_earned OR d.award - 'return_of' <> h.award - 'return_of');
SELECT (SELECT count(*) FROM loyalty.sale WHERE pos_txn LIKE 'H%') AS hostile_sales,
	   (SELECT count(*) FROM explained_hostile) AS hostile_explained;
(SELECT substr(pos_txn, 2), rule_id, code, kind, fired, points, why FROM explained_default
 EXCEPT ALL
 SELECT substr(pos_txn, 2), rule_id, code, kind, fired, points, why FROM explained_hostile)
UNION ALL
(SELECT substr(pos_txn, 2), rule_id, code, kind, fired, points, why FROM explained_hostile
 EXCEPT ALL
 SELECT substr(pos_txn, 2), rule_id, code, kind, fired, points, why FROM explained_default);
SELECT d.n, d.points, h.points AS hostile_points
  FROM quoted_default d JOIN quoted_hostile h USING (n)
 WHERE d.points <> h.points OR d.award <> h.award;
SELECT * FROM loyalty.check_invariants();

-- A zone the tz database no longer has (an update of the operating system's
-- tz database took it away) is LY062 for a rule with day or hour windows;
-- the CHECK is lifted here to make such a store, and put back.
ALTER TABLE loyalty.store DROP CONSTRAINT store_time_zone_check;
INSERT INTO loyalty.store (store, time_zone) VALUES ('GONE', 'Mars/Olympus_Mons');
SELECT 'zone gone' AS what, pg_temp.outcome($$SELECT loyalty.quote(loyalty.card_issue('40', 4),
	'[{"sku":"S1","qty":1,"amount":1}]', 1, 'GONE', '2026-11-01 14:30+00')$$) AS outcome;
DELETE FROM loyalty.store WHERE store = 'GONE';
ALTER TABLE loyalty.store ADD CONSTRAINT store_time_zone_check
	CHECK (time_zone IS NULL OR loyalty.time_zone_is_valid(time_zone));

-- A sale stored before these bounds (0.4.0 took any number, any line count
-- and a total 0.01 per line off, here 0.08 for 10 lines; a restored row with its award stands in
-- for one here) retried by its POS after the update: the retry's answer
-- (no row, nothing awarded), not LY061 or LY033; other content under its
-- pos_txn is LY035; a new sale like it is refused.
INSERT INTO loyalty.sale (store, pos_txn, card, member_id, occurred_at, total, lines, award, points_earned)
VALUES ('S1', 'OLD-1', loyalty.card_issue('40', 1), loyalty.member_id(loyalty.card_issue('40', 1)),
		'2026-01-01 00:00+00', 5, '[{"sku":"A","qty":1e-300,"amount":5}]', '{}', 0),
	   ('S1', 'OLD-2', loyalty.card_issue('40', 1), loyalty.member_id(loyalty.card_issue('40', 1)),
		'2026-01-01 00:00+00', 10.08, pg_temp.lines(10, 1), '{}', 0);
SELECT net AS net_before FROM loyalty.member_balance WHERE member_id = loyalty.member_id(loyalty.card_issue('40', 1)) \gset
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'OLD-1', loyalty.card_issue('40', 1), '2026-01-01 00:00+00', 5, '[{"sku":"A","qty":1e-300,"amount":5}]'),
	   ('S1', 'OLD-2', loyalty.card_issue('40', 1), '2026-01-01 00:00+00', 10.08, pg_temp.lines(10, 1))
ON CONFLICT (store, pos_txn) DO NOTHING RETURNING sale_id;
SELECT t.what, pg_temp.outcome(format($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S1', %L, loyalty.card_issue('40', 1), %s, %L)$$, t.pos_txn, t.total, t.lines)) AS outcome
  FROM (VALUES
	('OLD-1 with other content', 'OLD-1', '6', '[{"sku":"A","qty":1e-300,"amount":6}]'),
	('a new sale like OLD-1',    'NEW-1', '5', '[{"sku":"A","qty":1e-300,"amount":5}]'),
	('a new sale like OLD-2',    'NEW-2', '10.08', pg_temp.lines(10, 1)::text)
  ) AS t(what, pos_txn, total, lines);
SELECT net - :net_before AS net_change FROM loyalty.member_balance
 WHERE member_id = loyalty.member_id(loyalty.card_issue('40', 1));
