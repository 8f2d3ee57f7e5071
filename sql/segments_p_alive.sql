-- Segments (0.6.0): P(alive) in loyalty.member_features_at is member_value's:
-- one BG/NBD fit per program over its members' purchase summaries (weeks)
-- at as_of.  The
-- CDNOW sample (test/data, the data of Fader, Hardie & Lee 2005) loaded as
-- the members and sales of a program: at as_of 1997-09-30 (the end of the
-- calibration period) the fit behind the features is the published one (r =
-- 0.243, alpha = 4.414, a = 0.793, b = 2.426), and each member's p_alive is
-- bgnbd_p_alive of that fit and the member's own (x, t_x, t), computed here
-- from the raw file without the extension's tables.  A program whose data
-- cannot identify the model has p_alive NULL.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

CREATE TEMP TABLE cdnow_raw (line text);
\copy cdnow_raw FROM 'test/data/cdnow_sample.txt'
CREATE TEMP TABLE cdnow AS
SELECT f[2]::int AS customer, to_date(f[3], 'YYYYMMDD')::timestamptz AS at, f[5]::numeric AS dollars,
	   row_number() OVER () AS n
  FROM (SELECT regexp_split_to_array(btrim(line, E' \r'), ' +') AS f FROM cdnow_raw) s;

-- the customers as members of program cd (card serial = customer id), their
-- purchases as back-filled sales; a second program, one, has one customer
INSERT INTO loyalty.program (code, time_zone) VALUES ('cd', 'UTC'), ('one', 'UTC');
SELECT count(loyalty.enroll(loyalty.card_issue('30', customer), 'cd', enrolled_at => '1996-12-31'))
  FROM (SELECT DISTINCT customer FROM cdnow ORDER BY 1) c;
SELECT count(*) FROM (SELECT loyalty.enroll(loyalty.card_issue('31', 1), 'one', enrolled_at => '1996-12-31')) q;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S1', 'cd' || n, loyalty.card_issue('30', customer), at, dollars,
	   jsonb_build_array(jsonb_build_object('sku', 'cd', 'qty', 1, 'amount', dollars))
  FROM cdnow;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S1', 'one1', loyalty.card_issue('31', 1), '1997-02-01', 10, '[{"sku": "x", "qty": 1, "amount": 10}]'),
	   ('S1', 'one2', loyalty.card_issue('31', 1), '1997-03-01', 10, '[{"sku": "x", "qty": 1, "amount": 10}]');

-- the features once
CREATE TEMP TABLE feat AS SELECT * FROM loyalty.member_features_at('1997-09-30');

-- the fit, from the raw file
CREATE TEMP TABLE cal AS
SELECT customer, (loyalty.purchase_summary(at, dollars, '1997-09-30')).*
  FROM cdnow GROUP BY customer;
CREATE TEMP TABLE fit AS SELECT loyalty.bgnbd_fit(x, t_x, t) AS bg FROM cal;
SELECT round((bg).r::numeric, 3) AS r, round((bg).alpha::numeric, 3) AS alpha,
	   round((bg).a::numeric, 3) AS a, round((bg).b::numeric, 3) AS b, (bg).n FROM fit;

-- every member of cd: p_alive as the independent computation says (1e-9)
SELECT count(*) AS members,
	   count(*) FILTER (WHERE f.p_alive IS NULL) AS p_alive_null,
	   count(*) FILTER (WHERE abs(f.p_alive - loyalty.bgnbd_p_alive(fit.bg, c.x, c.t_x, c.t)) > 1e-9) AS differs
  FROM feat f
  JOIN cal c ON loyalty.card_issue('30', c.customer) = f.card
  CROSS JOIN fit
 WHERE f.program_code = 'cd';
-- three customers, by hand from the published (rounded) parameters and
-- P(alive) = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))
-- for x > 0 (1 for x = 0): customer 1, x = 2, t_x = 213/7, T = 272/7:
-- 0.72659; customer 2, x = 1, t_x = 12/7: 0.21226 (0.2124 at the fit's
-- unrounded parameters); customer 1004, x = 0: 1.
SELECT c.customer, c.x, round(c.t_x::numeric, 2) AS t_x, round(c.t::numeric, 2) AS t,
	   round(f.p_alive::numeric, 4) AS p_alive
  FROM feat f JOIN cal c ON loyalty.card_issue('30', c.customer) = f.card
 WHERE c.customer IN (1, 2, 1004)
 ORDER BY c.customer;
-- one customer: the model is not identified, p_alive is NULL
SELECT program_code, frequency, p_alive FROM feat WHERE program_code = 'one';
-- the features take p_alive from member_value, so the two never disagree:
-- the same value for every member of both programs (NULL for one's)
SELECT v.program_code, count(*) AS members, count(v.p_alive) AS scored,
	   count(*) FILTER (WHERE f.p_alive IS DISTINCT FROM v.p_alive) AS differ
  FROM loyalty.member_value('1997-09-30') v
  JOIN feat f ON f.member_id = v.member_id
 GROUP BY v.program_code ORDER BY 1;
