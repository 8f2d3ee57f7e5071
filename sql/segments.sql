-- Segments (0.6.0): member features at a moment, predicates checked when
-- written, refresh_segments' enter and exit days (in the program's time
-- zone), sizes, overlaps and migration from the history, and earning rules
-- that target segments (rule.segments): sale, quote, explain_sale and a
-- return after the member left the segment.  Every figure is worked out by
-- hand in the comments.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET DateStyle = 'ISO, YMD';
-- the session's zone is neither the program's nor UTC: days must not follow it
SET TimeZone = 'Asia/Tokyo';

-- Runs a statement and shows its SQLSTATE and message (or that it worked).
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
-- a back-filled one-line sale (as the owner: no back-dating limit)
CREATE FUNCTION pg_temp.buy(serial int, at timestamptz, store text, category text, total numeric) RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	VALUES (store, 'T' || nextval('txn'), loyalty.card_issue('50', serial), at, total,
			jsonb_build_array(jsonb_build_object('sku', 'X', 'category', category, 'qty', 1, 'amount', total)))
	RETURNING sale_id $$;

-- Program seg in New York (UTC-5 until 10 March 2024).  Members 1..4 (A, B,
-- C, D), enrolled 2023-01-01.
INSERT INTO loyalty.program (code, time_zone) VALUES ('seg', 'America/New_York');
SELECT count(*) FROM (
	SELECT loyalty.enroll(loyalty.card_issue('50', 1), 'seg', birth_date => '1990-05-10', gender => 'f', region => 'north', enrolled_at => '2023-01-01')
	UNION ALL SELECT loyalty.enroll(loyalty.card_issue('50', 2), 'seg', birth_date => '1960-01-01', region => 'south', enrolled_at => '2023-01-01')
	UNION ALL SELECT loyalty.enroll(loyalty.card_issue('50', 3), 'seg', birth_date => '2000-03-02', region => 'north', enrolled_at => '2023-01-01')
	UNION ALL SELECT loyalty.enroll(loyalty.card_issue('50', 4), 'seg', birth_date => '1950-07-01', region => 'north', enrolled_at => '2023-01-01')) q;
-- A: baby 02-01 and 02-11 at S1, toys 02-21 at S2; B: baby 02-05 at S2;
-- C: toys 01-15 at S1; D: nothing.  10:00 New York time.
SELECT count(*) FROM (
	SELECT pg_temp.buy(1, '2024-02-01 10:00-05', 'S1', 'baby', 10)
	UNION ALL SELECT pg_temp.buy(1, '2024-02-11 10:00-05', 'S1', 'baby', 20)
	UNION ALL SELECT pg_temp.buy(1, '2024-02-21 10:00-05', 'S2', 'toys', 30)
	UNION ALL SELECT pg_temp.buy(2, '2024-02-05 10:00-05', 'S2', 'baby', 5)
	UNION ALL SELECT pg_temp.buy(3, '2024-01-15 10:00-05', 'S1', 'toys', 40)) q;

-- ===== features at 2024-03-02 03:00 UTC = 2024-03-01 22:00 in New York
-- (the day is 03-01; in Tokyo it would be 03-02).
-- age: A 33, B 64, C 23 (24 on 03-02), D 73.  RFM over A, B, C (D bought
-- nothing: NULLs): recency 03-01 - last day: A 9, B 25, C 46; frequency
-- (days) A 3, B 1, C 1; monetary A 60, B 5, C 40.  Scores max(1,
-- ceil(5 (rank - 1) / 2)), ranks from the worst: r C 1, B 3, A 5; f B and
-- C tie at rank 1: 1, A 5; m B 1, C 3, A 5: A 555 Champions, B 311 (R3,
-- FM 1) About to Sleep, C 113 (R1, FM 2) Lost.  Cadence: A gaps 10 and 10:
-- mean 10, next expected 02-21 + 10 = 03-02; B and C one day: NULL gaps.
-- Categories: A {baby,toys}, B {baby}, C {toys}, D {}.  Home store: A S1
-- (two visits to one), B S2, C S1.  No tiers: NULL.  Three customers do
-- not identify the BG/NBD model: p_alive NULL.
SELECT member_id, program_code, age, gender, region, tier, recency_days, frequency, monetary,
	   rfm_code, rfm_segment, visit_days, mean_gap_days, next_expected, p_alive, categories, home_store
  FROM loyalty.member_features_at('2024-03-02 03:00+00') ORDER BY member_id;
-- the view is the features now (a year on: C is older)
SELECT member_id, age >= 24 AS older, frequency FROM loyalty.member_features ORDER BY member_id;
SELECT 'null as_of' AS label, pg_temp.outcome($$SELECT * FROM loyalty.member_features_at(NULL)$$) AS outcome
UNION ALL SELECT 'future', pg_temp.outcome($$SELECT * FROM loyalty.member_features_at(now() + interval '1 day')$$)
UNION ALL SELECT 'infinity', pg_temp.outcome($$SELECT * FROM loyalty.member_features_at('infinity')$$)
UNION ALL SELECT 'program', pg_temp.outcome($$SELECT * FROM loyalty.member_features_at(now(), 'nope')$$);

-- ===== predicates: one boolean expression over the features, or refused
INSERT INTO loyalty.segment (program_id, code, name, predicate)
SELECT program_id, s.code, s.name, s.predicate FROM loyalty.program,
	(VALUES ('baby', 'Baby buyers', $$'baby' = ANY (categories)$$),
			('north_young', 'Young in the north', $$region = 'north' AND age < 24$$),
			('frequent', 'Two days or more', $$frequency >= 2$$),
			('regular', 'Every ten days', $$mean_gap_days <= 10$$)) s(code, name, predicate)
 WHERE program.code = 'seg';
SELECT code, name, run_as = current_user::regrole AS run_as_writer, created_by = current_user AS created_by_writer
  FROM loyalty.segment ORDER BY code;
-- run_as is the writer whatever is written
SELECT pg_temp.outcome($$UPDATE loyalty.segment SET run_as = 'pg_monitor' WHERE code = 'baby'$$) AS outcome;
SELECT run_as = current_user::regrole AS run_as_writer FROM loyalty.segment WHERE code = 'baby';
-- what is refused (each with its reason) and what is harmless
SELECT label, pg_temp.outcome(format($$INSERT INTO loyalty.segment (program_id, code, predicate)
		SELECT program_id, 'x', %L FROM loyalty.program WHERE code = 'seg'$$, predicate)) AS outcome
  FROM (VALUES
	('second statement', $$true; DELETE FROM loyalty.segment_member$$),
	('closes and adds FROM', $$true) FROM pg_class WHERE (true$$),
	('closes and unions', $$true) UNION SELECT (true$$),
	('a list', $$true), (false$$),
	('an alias', $$true) AS x, (true$$),
	('comment swallows', $$true /* $$),
	('not boolean', $$frequency$$),
	('no such column', $$spend > 100$$),
	('no such function', $$loyalty.nope(age)$$),
	('empty', $$$$),
	('line comment (harmless: the wrapper is on the next line)', $$true --$$),
	('an aggregate (no member of its own)', $$count(*) > 0$$),
	('a bare literal (text where it is evaluated)', $$'true'$$),
	('NULL (text where it is evaluated)', $$NULL$$),
	('a column named by the view''s name', $$member_features.age > 3$$)
  ) v(label, predicate);
DELETE FROM loyalty.segment WHERE code = 'x';

-- ===== refresh 1 at 2024-03-02 03:00 UTC: the day 03-01 in New York.
-- baby {A, B}; north_young {C} (A is 33, D 73); frequent {A};
-- regular {A} (mean gap 10)
SELECT * FROM loyalty.refresh_segments('2024-03-02 03:00+00');
-- the same as_of again: nothing changes (idempotent)
SELECT * FROM loyalty.refresh_segments('2024-03-02 03:00+00');
SELECT label, pg_temp.outcome(statement) AS outcome FROM (VALUES
	('earlier as_of', $$SELECT * FROM loyalty.refresh_segments('2024-03-02 02:59+00')$$),
	('null as_of', $$SELECT * FROM loyalty.refresh_segments(NULL)$$),
	('future as_of', $$SELECT * FROM loyalty.refresh_segments(now() + interval '1 hour')$$),
	('infinite as_of', $$SELECT * FROM loyalty.refresh_segments('infinity')$$)) v(label, statement);

-- ===== refresh 2 at 2024-03-03 03:00 UTC (day 03-02): B buys baby and C
-- buys toys on 03-02 at noon; C turns 24.  B enters frequent (2 days), C
-- enters frequent and leaves north_young.  B's gap is 26 days: not regular.
SELECT count(*) FROM (
	SELECT pg_temp.buy(2, '2024-03-02 12:00-05', 'S2', 'baby', 15)
	UNION ALL SELECT pg_temp.buy(3, '2024-03-02 12:00-05', 'S1', 'toys', 10)) q;
SELECT * FROM loyalty.refresh_segments('2024-03-03 03:00+00');

-- ===== day 03-05 (New York): three refreshes
-- 15:00 UTC, north_young now age < 25: C re-enters (a new row)
UPDATE loyalty.segment SET predicate = $$region = 'north' AND age < 25$$ WHERE code = 'north_young';
SELECT * FROM loyalty.refresh_segments('2024-03-05 15:00+00');
-- 16:00 UTC, north_young back to age < 24 and regular never: C leaves the
-- row it entered today (deleted: never a member at the end of a day); A
-- leaves regular (exited_on 03-05)
UPDATE loyalty.segment SET predicate = $$region = 'north' AND age < 24$$ WHERE code = 'north_young';
UPDATE loyalty.segment SET predicate = $$false$$ WHERE code = 'regular';
SELECT * FROM loyalty.refresh_segments('2024-03-05 16:00+00');
-- 17:00 UTC, both back: C enters again (a new row of 03-05); A's regular
-- row of 03-01 is reopened (it left and came back the same day)
UPDATE loyalty.segment SET predicate = $$region = 'north' AND age < 25$$ WHERE code = 'north_young';
UPDATE loyalty.segment SET predicate = $$mean_gap_days <= 10$$ WHERE code = 'regular';
SELECT * FROM loyalty.refresh_segments('2024-03-05 17:00+00');

-- the history: members 1 A, 2 B, 3 C
SELECT s.code, sm.member_id, sm.entered_on, sm.exited_on
  FROM loyalty.segment_member sm JOIN loyalty.segment s USING (segment_id)
 ORDER BY s.code, sm.member_id, sm.entered_on;
SELECT s.code, r.as_of AT TIME ZONE 'UTC' AS as_of_utc, r.day, r.members, r.entered, r.exited
  FROM loyalty.segment_refresh r JOIN loyalty.segment s USING (segment_id)
 ORDER BY r.as_of, s.code;

-- ===== sizes: 02-29 none; 03-01 baby 2, frequent 1, north_young 1,
-- regular 1; 03-02 baby 2, frequent 3, north_young 0, regular 1; 03-05
-- baby 2, frequent 3, north_young 1, regular 1
SELECT d AS day, s.segment, s.members
  FROM unnest('{2024-02-29,2024-03-01,2024-03-02,2024-03-05}'::date[]) d,
	   loyalty.segment_sizes(d, 'seg') s
 ORDER BY d, s.segment;
-- overlap on 03-02: baby {A,B}, frequent {A,B,C}, north_young {},
-- regular {A}: baby-frequent 2, baby-north_young 0, baby-regular 1,
-- frequent-north_young 0, frequent-regular 1, north_young-regular 0
SELECT * FROM loyalty.segment_overlap('2024-03-02');
-- migration 02-29 -> 03-01: everyone enters from (none): baby 2 (A, B),
-- frequent 1, north_young 1, regular 1
SELECT * FROM loyalty.segment_migration('2024-02-29', '2024-03-01', 'seg');
-- 03-01 -> 03-02: A stays in baby, frequent, regular; B stays in baby and
-- enters frequent, leaving none: ((none), frequent); C leaves north_young
-- for frequent.  baby->baby 2, frequent->frequent 1, regular->regular 1,
-- (none)->frequent 1, north_young->frequent 1
SELECT * FROM loyalty.segment_migration('2024-03-01', '2024-03-02');
-- 03-02 -> 03-05: C stays in frequent and enters north_young again: ((none), north_young) 1; the rest stay
SELECT * FROM loyalty.segment_migration('2024-03-02', '2024-03-05', 'seg');
SELECT label, pg_temp.outcome(statement) AS outcome FROM (VALUES
	('migration backwards', $$SELECT * FROM loyalty.segment_migration('2024-03-02', '2024-03-01')$$),
	('sizes of no day', $$SELECT * FROM loyalty.segment_sizes(NULL)$$),
	('sizes of no program', $$SELECT * FROM loyalty.segment_sizes('2024-03-01', 'nope')$$),
	('overlap of no program', $$SELECT * FROM loyalty.segment_overlap('2024-03-01', 'nope')$$)) v(label, statement);

-- ===== rule.segments
-- base 1 point per unit; bonus young (25, north_young) and babyfreq (50,
-- baby or frequent).  Now: A in baby, frequent, regular; B in baby,
-- frequent; C in frequent, north_young; D in none.
INSERT INTO loyalty.rule (program_id, code, kind, points, segments)
SELECT program_id, r.code, 'bonus', r.points, r.segments FROM loyalty.program,
	(VALUES ('young', 25, '{north_young}'::text[]), ('babyfreq', 50, '{baby,frequent}')) r(code, points, segments)
 WHERE program.code = 'seg';
SELECT label, pg_temp.outcome(statement) AS outcome FROM (VALUES
	('unknown segment', $$INSERT INTO loyalty.rule (program_id, code, kind, points, segments)
		SELECT program_id, 'bad', 'bonus', 1, '{baby,nope}' FROM loyalty.program WHERE code = 'seg'$$),
	('empty segments', $$INSERT INTO loyalty.rule (program_id, code, kind, points, segments)
		SELECT program_id, 'bad', 'bonus', 1, '{}' FROM loyalty.program WHERE code = 'seg'$$),
	('delete a targeted segment', $$DELETE FROM loyalty.segment WHERE code = 'baby'$$),
	('rename a targeted segment', $$UPDATE loyalty.segment SET code = 'infant' WHERE code = 'baby'$$),
	('rename an untargeted one', $$UPDATE loyalty.segment SET code = 'regulars' WHERE code = 'regular'$$)) v(label, statement);
-- sales now (10 each): D 10 (no bonus); A 60 (babyfreq); C 85 (both)
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S1', 'N4', loyalty.card_issue('50', 4), 10, '[{"sku": "X", "category": "toys", "qty": 1, "amount": 10}]')
RETURNING points_earned;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S1', 'N1', loyalty.card_issue('50', 1), 10, '[{"sku": "X", "category": "toys", "qty": 1, "amount": 10}]')
RETURNING points_earned;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S1', 'N3', loyalty.card_issue('50', 3), 10, '[{"sku": "X", "category": "toys", "qty": 1, "amount": 10}]')
RETURNING points_earned;
SELECT s.pos_txn, e.code, e.fired, e.points, e.why
  FROM loyalty.sale s, loyalty.explain_sale(s.sale_id) e
 WHERE s.pos_txn IN ('N4', 'N3') ORDER BY s.pos_txn, e.code;
-- quote agrees with the sale
SELECT serial, q.points, (SELECT array_agg(concat_ws(': ', r->>'code', r->>'why') ORDER BY r->>'code') FROM jsonb_array_elements(q.award->'rules') r
						   WHERE r->>'code' <> 'base') AS why
  FROM (VALUES (4), (3)) v(serial),
	   loyalty.quote(loyalty.card_issue('50', v.serial), '[{"sku": "X", "category": "toys", "qty": 1, "amount": 10}]') q;
-- an anonymous sale earns nothing
INSERT INTO loyalty.sale (store, pos_txn, total, lines)
VALUES ('S1', 'anon', 10, '[{"sku": "X", "qty": 1, "amount": 10}]') RETURNING points_earned;

-- C leaves north_young (refresh now, predicate back to age < 24): C's
-- next sale earns no young bonus, and the return of C's earlier sale takes
-- back what it earned (85), not what C would earn now (10 base + 50
-- babyfreq, C being frequent)
UPDATE loyalty.segment SET predicate = $$region = 'north' AND age < 24$$ WHERE code = 'north_young';
SELECT segment, members, entered, exited FROM loyalty.refresh_segments() WHERE segment = 'north_young';
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S1', 'N3b', loyalty.card_issue('50', 3), 10, '[{"sku": "X", "category": "toys", "qty": 1, "amount": 10}]')
RETURNING points_earned;
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
SELECT 'S1', 'R3', 10, '[{"sku": "X", "category": "toys", "qty": 1, "amount": 10}]', sale_id
  FROM loyalty.sale WHERE pos_txn = 'N3'
RETURNING points_earned;

-- ===== run_as: a predicate runs as the role that wrote it.  A role with
-- the admin level writes a segment whose predicate is current_user =
-- itself; the superuser refreshes: every member of seg is in it.  Once
-- the role is gone, the refresh refuses (LY068).
CREATE ROLE seg_admin;
SELECT loyalty.grant_access('seg_admin', 'admin');
SET ROLE seg_admin;
INSERT INTO loyalty.segment (program_id, code, predicate)
SELECT program_id, 'who', $$current_user = 'seg_admin'$$ FROM loyalty.program WHERE code = 'seg';
RESET ROLE;
SELECT segment, members FROM loyalty.refresh_segments() WHERE segment = 'who';
-- a restore: the superuser inserts the row as it was dumped, naming
-- seg_admin; run_as stays seg_admin (the superuser's run_as would lend the
-- predicate the superuser's rights), and so do created_by and created_at
INSERT INTO loyalty.segment (program_id, code, predicate, run_as, created_by, created_at)
SELECT program_id, 'restored', $$current_user = 'seg_admin'$$, 'seg_admin', 'seg_admin', '2026-01-01'
  FROM loyalty.program WHERE code = 'seg';
SELECT code, run_as, created_by, created_at = '2026-01-01' AS created_at_kept
  FROM loyalty.segment WHERE code = 'restored';
SELECT segment, members FROM loyalty.refresh_segments() WHERE segment = 'restored';
-- seg_admin naming a role whose privileges it lacks gets itself
SET ROLE seg_admin;
INSERT INTO loyalty.segment (program_id, code, predicate, run_as, created_by)
SELECT program_id, 'claimed', 'true', session_user::regrole, session_user FROM loyalty.program WHERE code = 'seg';
RESET ROLE;
SELECT code, run_as, created_by FROM loyalty.segment WHERE code = 'claimed';
-- a restored predicate is not planned as the restoring superuser: planning
-- would run an immutable function on constants (which may call anything)
-- with the superuser's rights
CREATE TABLE public.segment_folded (who text);
GRANT ALL ON public.segment_folded TO PUBLIC;
CREATE FUNCTION public.segment_note() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.segment_folded VALUES (current_user); RETURN true; END $$;
CREATE FUNCTION public.segment_fold(integer) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN PERFORM public.segment_note(); RETURN true; END $$;
INSERT INTO loyalty.segment (program_id, code, predicate, run_as)
SELECT program_id, 'folded', 'public.segment_fold(1) AND frequency > 0', 'seg_admin' FROM loyalty.program WHERE code = 'seg';
SELECT count(*) AS ran_as_the_restorer FROM public.segment_folded;
DELETE FROM loyalty.segment WHERE code IN ('restored', 'claimed', 'folded');
DROP FUNCTION public.segment_fold(integer), public.segment_note();
DROP TABLE public.segment_folded;
DROP OWNED BY seg_admin;
DROP ROLE seg_admin;
SELECT 'role gone' AS label, pg_temp.outcome($$SELECT * FROM loyalty.refresh_segments()$$) AS outcome;
DELETE FROM loyalty.segment WHERE code = 'who';

-- ===== refresh_segments needs no TEMP privilege of its caller nor of a
-- predicate's role: with TEMP revoked from PUBLIC on the database, an admin
-- in a new session (no temporary schema yet) refreshes, and its segment's
-- predicate, run as that admin, reads the features: the members with a
-- purchase, as the view says
CREATE ROLE seg_notemp;
SELECT loyalty.grant_access('seg_notemp', 'admin');
SELECT current_database() AS db \gset
REVOKE TEMP ON DATABASE :"db" FROM PUBLIC;
\c
SET ROLE seg_notemp;
SELECT has_database_privilege(current_database(), 'TEMP') AS may_use_temp;
INSERT INTO loyalty.segment (program_id, code, predicate)
SELECT program_id, 'buyers', 'frequency > 0' FROM loyalty.program WHERE code = 'seg';
SELECT r.segment, r.members,
	   r.members = (SELECT count(*) FROM loyalty.member_features f
					 WHERE f.program_code = 'seg' AND f.frequency > 0 AND f.status <> 'closed') AS as_the_view_says
  FROM loyalty.refresh_segments() r WHERE r.segment = 'buyers';
SELECT count(*) AS temp_schemas_of_this_session FROM pg_namespace WHERE oid = pg_my_temp_schema();
RESET ROLE;
DELETE FROM loyalty.segment WHERE code = 'buyers';
GRANT TEMP ON DATABASE :"db" TO PUBLIC;
DROP OWNED BY seg_notemp;
DROP ROLE seg_notemp;
