-- Segments benchmark data (bench/segments.sh).
-- Sale path: programs 'plain' and 'segd', :members members each (card
-- prefixes 40 and 41, serials 1..N), the ten rules of pos_rules.sql and one
-- bonus rule more ('extra', 5 points on a basket of 10 or more): in 'plain'
-- for every member, in 'segd' for the members of segment 'even' (even card
-- serials, attribute half: half of them, refreshed once).  The two programs differ in the
-- segment look-up alone.  Program 'audd' (prefix 43) likewise, with 'extra'
-- for the members of audience 'even' (even card serials, loaded with one
-- INSERT ... SELECT): one probe of audience_member_pkey per sale.
-- Refresh: program 'big', :big members (prefix 42) enrolled two years ago,
-- with :per sales each spread over the last year, back-filled in one
-- statement, and five segments of different feature kinds.
CREATE EXTENSION loyalty;
INSERT INTO loyalty.program (code, time_zone) VALUES ('plain', 'Europe/Paris'), ('segd', 'Europe/Paris'), ('big', 'Europe/Paris'),
	('audd', 'Europe/Paris');
INSERT INTO loyalty.store (store, time_zone) SELECT 'S' || s, 'Europe/Paris' FROM generate_series(1, 20) s;
SELECT count(loyalty.enroll(loyalty.card_issue(pfx, s), code, attributes => jsonb_build_object('half', s % 2 = 0),
			 enrolled_at => now() - interval '2 years')) AS enrolled
  FROM (VALUES ('40', 'plain'), ('41', 'segd'), ('43', 'audd')) v(pfx, code), generate_series(1, :members) s;
\set program plain
\ir pos_rules.sql
\set program segd
\ir pos_rules.sql
\set program audd
\ir pos_rules.sql
INSERT INTO loyalty.segment (program_id, code, predicate)
SELECT program_id, 'even', $$(attributes ->> 'half')::boolean$$ FROM loyalty.program WHERE code = 'segd';
INSERT INTO loyalty.rule (program_id, code, kind, points, min_basket, segments)
SELECT program_id, 'extra', 'bonus', 5, 10, CASE code WHEN 'segd' THEN ARRAY['even'] END
  FROM loyalty.program WHERE code IN ('plain', 'segd');
INSERT INTO loyalty.audience (program_id, code) SELECT program_id, 'even' FROM loyalty.program WHERE code = 'audd';
INSERT INTO loyalty.audience_member (member_id, audience_id)
SELECT m.member_id, a.audience_id
  FROM loyalty.member m JOIN loyalty.audience a USING (program_id)
 WHERE a.code = 'even' AND (m.attributes ->> 'half')::boolean;
INSERT INTO loyalty.rule (program_id, code, kind, points, min_basket, audience)
SELECT program_id, 'extra', 'bonus', 5, 10, 'even' FROM loyalty.program WHERE code = 'audd';

SELECT count(loyalty.enroll(loyalty.card_issue('42', s), 'big', birth_date => date '1950-01-01' + (s % 18000),
			 region => (ARRAY['north', 'south', 'east', 'west'])[s % 4 + 1], income_band => (ARRAY['a', 'b', 'c'])[s % 3 + 1],
			 enrolled_at => now() - interval '2 years')) AS big_enrolled
  FROM generate_series(1, :big) s;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S' || (s % 20 + 1), 'B-' || s || '-' || k, loyalty.card_issue('42', s),
	   now() - interval '1 year' + ((s * 7 + k * 53) % 360) * interval '1 day', 10 + (s + k) % 50,
	   jsonb_build_array(jsonb_build_object('sku', 'SKU' || (s + k) % 500, 'category',
			(ARRAY['baby', 'food', 'organic', 'tobacco', 'home'])[(s + k) % 5 + 1], 'qty', 1, 'amount', 10 + (s + k) % 50))
  FROM generate_series(1, :big) s, generate_series(1, :per) k;
INSERT INTO loyalty.segment (program_id, code, predicate)
SELECT p.program_id, v.code, v.predicate FROM loyalty.program p, (VALUES
	('young_north', $$age < 40 AND region = 'north'$$),
	('champions', $$rfm_segment = 'Champions'$$),
	('regular', $$mean_gap_days < 60$$),
	('baby', $$'baby' = ANY (categories)$$),
	('alive', $$p_alive > 0.8 AND home_store IN ('S1', 'S2', 'S3')$$)) v(code, predicate)
 WHERE p.code = 'big';
-- only 'even' now (the five of 'big' are refreshed by the timing below)
SELECT members AS even_members FROM loyalty.refresh_segments() WHERE segment = 'even';
VACUUM ANALYZE;
