--
-- The review's candidates: review_tiers reads the day figures only of the
-- members whose member_tier row says they may change (an override; a hold
-- plus grace run out above the base; running figures meeting a higher
-- tier; a window reaching before the running figures').  Each corner below
-- is a member who must change, or must not, and whether it is a candidate;
-- for every review day, the rows of a preview over the candidates must be
-- those of one that judges every member with a tier row (apart: 0).  Then
-- one committed review: its counts, and its events written together.  All
-- dates fixed and in the past, UTC; every ladder: base (rank 0), silver
-- (min_spend 100), gold (min_spend 1000) unless said otherwise.  The
-- expected lines are hand-computed; the comments say why.
--
SET client_min_messages = warning;
SET DateStyle = ISO;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
CREATE TABLE tr_member (label text PRIMARY KEY, program text NOT NULL, member_id bigint NOT NULL);
CREATE FUNCTION tr_program(p_code text, p_window text, p_days integer DEFAULT 365, p_grace integer DEFAULT 0,
	p_silver numeric DEFAULT 100, p_gold numeric DEFAULT 1000) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO loyalty.program (code, time_zone, tier_window, tier_window_days, tier_grace_days)
	VALUES (p_code, 'UTC', p_window, p_days, p_grace);
	INSERT INTO loyalty.tier (program_id, code, rank, min_spend)
	SELECT program_id, v.code, v.rank, v.min_spend FROM loyalty.program,
		   (VALUES ('base', 0, NULL::numeric), ('silver', 1, p_silver), ('gold', 2, p_gold)) AS v(code, rank, min_spend)
	 WHERE program.code = p_code;
$$;
CREATE FUNCTION tr_enroll(p_label text, p_program text, p_serial int, p_at timestamptz DEFAULT '2000-01-01 00:00+00')
RETURNS void LANGUAGE sql AS $$
	INSERT INTO tr_member VALUES (p_label, p_program,
		loyalty.enroll(loyalty.card_issue('47', p_serial), p_program, enrolled_at => p_at));
$$;
CREATE FUNCTION tr_sale(p_label text, p_at timestamptz, p_total numeric) RETURNS text
LANGUAGE sql AS $$
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	SELECT 'TR', format('%s-%s', p_label, to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')), mc.card, p_at, p_total,
		   jsonb_build_array(jsonb_build_object('sku', 'A', 'qty', 1, 'amount', p_total))
	  FROM tr_member w JOIN loyalty.member_card mc ON mc.member_id = w.member_id
	 WHERE w.label = p_label
	RETURNING format('%s: tier %s', pos_txn, tier)
$$;
-- each member of a program as of a moment: whether the review takes it as a
-- candidate, and what judging it alone decides (members => its id)
CREATE FUNCTION tr_judge(p_as_of timestamptz, p_program text)
RETURNS TABLE (member text, candidate boolean, change text)
LANGUAGE sql AS $$
	SELECT w.label, w.member_id = ANY ((loyalty.tier_review_candidates(p_as_of)).candidates),
		   (SELECT format('%s -> %s %s at %s, held until %s', p.from_tier, p.to_tier, p.cause,
						  to_char(p.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), p.held_until)
			  FROM loyalty.review_tiers_preview(p_as_of, ARRAY[w.member_id]) p)
	  FROM tr_member w WHERE w.program = p_program ORDER BY w.label
$$;
-- rows apart between the preview a review makes (its candidates) and one
-- that judges every member with a tier row: none, when the candidates hold
-- every member who changes
CREATE FUNCTION tr_apart(p_as_of timestamptz) RETURNS bigint
LANGUAGE sql AS $$
	WITH c AS (SELECT * FROM loyalty.review_tiers_preview(p_as_of)),
	a AS (SELECT * FROM loyalty.review_tiers_preview(p_as_of, ARRAY(SELECT mt.member_id FROM loyalty.member_tier mt)))
	SELECT (SELECT count(*) FROM (TABLE c EXCEPT ALL TABLE a) x) + (SELECT count(*) FROM (TABLE a EXCEPT ALL TABLE c) x)
$$;

--
-- A. Rolling 365 days, to_qualified, no grace.  a1: one sale of 50.00 in
-- 2022, no change since: never a candidate, never changed.  a2: silver by
-- 150.00 on 2024-05-01, held until 2025-05-02 (2024-05-01 + 365 + 1).  As
-- of 2025-05-01 the hold runs: not a candidate.  As of 2025-05-02 00:00 the
-- hold ends on the review's own day: a candidate, down to base (the window
-- 2024-05-02 .. 2025-05-02 no longer holds the sale), held one window on.
--
SELECT tr_program('ra', 'rolling');
SELECT tr_enroll('a1', 'ra', 1), tr_enroll('a2', 'ra', 2);
SELECT tr_sale('a1', '2022-03-01 12:00+00', 50.00), tr_sale('a2', '2024-05-01 12:00+00', 150.00);
SELECT * FROM tr_judge('2025-05-01 12:00+00', 'ra');
SELECT * FROM tr_judge('2025-05-02 00:00+00', 'ra');
SELECT tr_apart('2025-05-01 12:00+00') AS apart, tr_apart('2025-05-02 00:00+00') AS apart;

--
-- B. Grace days: the same silver (held until 2025-05-02) in a program with
-- 10 grace days may go down from 2025-05-12 on: as of 2025-05-11 23:59 not
-- a candidate, as of 2025-05-12 00:00 a candidate, down.
--
SELECT tr_program('rb', 'rolling', p_grace => 10);
SELECT tr_enroll('b1', 'rb', 3);
SELECT tr_sale('b1', '2024-05-01 12:00+00', 150.00);
SELECT * FROM tr_judge('2025-05-11 23:59+00', 'rb');
SELECT * FROM tr_judge('2025-05-12 00:00+00', 'rb');
SELECT tr_apart('2025-05-11 23:59+00') AS apart, tr_apart('2025-05-12 00:00+00') AS apart;

--
-- C. A ladder lowered after the sales: silver from 100 down to 50.  c1
-- spent 80.00 on 2025-03-01 (base then): its running figures meet the new
-- silver, so it is a candidate, and moves up (held until 2025-04-01 + 366).
-- c2 spent 80.00 on 2024-01-01: a candidate too (its running figures are
-- those of its last sale's window), but as of 2025-04-01 the window no
-- longer holds the sale: no change.
--
SELECT tr_program('rc', 'rolling');
SELECT tr_enroll('c1', 'rc', 4), tr_enroll('c2', 'rc', 5);
SELECT tr_sale('c1', '2025-03-01 12:00+00', 80.00), tr_sale('c2', '2024-01-01 12:00+00', 80.00);
UPDATE loyalty.tier SET min_spend = 50
 WHERE code = 'silver' AND program_id = (SELECT program_id FROM loyalty.program WHERE code = 'rc');
SELECT * FROM tr_judge('2025-04-01 12:00+00', 'rc');
SELECT tr_apart('2025-04-01 12:00+00') AS apart;

--
-- D. A rolling window made longer: 30 days, then 365.  d1 spent 80.00 on
-- 2025-01-10 and 30.00 on 2025-03-01: the 30 days of its last sale hold
-- 30.00 (base).  With 365 days, the window as of 2025-03-05 holds 110.00:
-- silver.  Its running figures (30.00) meet no higher tier, but the
-- review's window starts (2024-03-05) before theirs (2025-01-30): a
-- candidate.
--
SELECT tr_program('rd', 'rolling', p_days => 30);
SELECT tr_enroll('d1', 'rd', 6);
SELECT tr_sale('d1', '2025-01-10 12:00+00', 80.00), tr_sale('d1', '2025-03-01 12:00+00', 30.00);
SELECT window_start, spend FROM loyalty.member_tier WHERE member_id = (SELECT member_id FROM tr_member WHERE label = 'd1');
UPDATE loyalty.program SET tier_window_days = 365 WHERE code = 'rd';
SELECT * FROM tr_judge('2025-03-05 12:00+00', 'rd');
SELECT tr_apart('2025-03-05 12:00+00') AS apart;

--
-- E. Rolling made lifetime: e1 spent 80.00 on 2023-01-10 and 30.00 on
-- 2025-03-01 (its rolling figures: 30.00, base).  Lifetime counts both,
-- 110.00: silver as of 2025-03-05 (a lifetime upgrade is held until its day).
--
SELECT tr_program('re', 'rolling');
SELECT tr_enroll('e1', 're', 7);
SELECT tr_sale('e1', '2023-01-10 12:00+00', 80.00), tr_sale('e1', '2025-03-01 12:00+00', 30.00);
UPDATE loyalty.program SET tier_window = 'lifetime' WHERE code = 're';
SELECT * FROM tr_judge('2025-03-05 12:00+00', 're');
SELECT tr_apart('2025-03-05 12:00+00') AS apart;

--
-- F. Calendar years, gold lowered from 1000 to 400 after the sales.  The
-- review judges the better of last year and this year so far.
-- f1: 500.00 in 2024 (silver, held through 2025), 10.00 in 2025: its
-- running figures are 2025's (10.00), which meet nothing higher; but the
-- review counts 2024, before their window: a candidate, up to gold (held
-- through 2026: until 2027-01-01).
-- f2: 500.00 in 2024 and nothing since: its running figures are 2024's
-- (500.00), which meet the new gold: a candidate, up.
-- f3: 50.00 in 2022, nothing since: the review's two years hold no day and
-- its running figures (2022) meet nothing: not a candidate, no change.
--
SELECT tr_program('rf', 'calendar_year');
SELECT tr_enroll('f1', 'rf', 8), tr_enroll('f2', 'rf', 9), tr_enroll('f3', 'rf', 10);
SELECT tr_sale('f1', '2024-06-01 12:00+00', 500.00), tr_sale('f1', '2025-02-01 12:00+00', 10.00);
SELECT tr_sale('f2', '2024-06-01 12:00+00', 500.00), tr_sale('f3', '2022-06-01 12:00+00', 50.00);
UPDATE loyalty.tier SET min_spend = 400
 WHERE code = 'gold' AND program_id = (SELECT program_id FROM loyalty.program WHERE code = 'rf');
SELECT * FROM tr_judge('2025-03-01 12:00+00', 'rf');
SELECT tr_apart('2025-03-01 12:00+00') AS apart;

--
-- G. Anniversary years from 15 September 2023, gold lowered to 400.  The
-- years: 2024-09-15 .. 2025-09-14 and 2025-09-15 .. 2026-09-14.
-- g1: 500.00 on 2025-01-10 (silver), 10.00 on 2025-10-01: like f1, the
-- review counts the member's year before its running figures' (from
-- 2024-09-15, theirs from 2025-09-15): a candidate, up to gold, held to the
-- end of the next anniversary year (until 2027-09-15).
-- g2: 500.00 on 2025-01-10 only: running figures of its year meet gold: up.
-- g3: 50.00 on 2023-10-01 only: its year (from 2023-09-15) ended before the
-- two the review counts: not a candidate, no change.
--
SELECT tr_program('rg', 'anniversary_year');
SELECT tr_enroll('g1', 'rg', 11, '2023-09-15 12:00+00'), tr_enroll('g2', 'rg', 12, '2023-09-15 12:00+00'),
	   tr_enroll('g3', 'rg', 13, '2023-09-15 12:00+00');
SELECT tr_sale('g1', '2025-01-10 12:00+00', 500.00), tr_sale('g1', '2025-10-01 12:00+00', 10.00);
SELECT tr_sale('g2', '2025-01-10 12:00+00', 500.00), tr_sale('g3', '2023-10-01 12:00+00', 50.00);
UPDATE loyalty.tier SET min_spend = 400
 WHERE code = 'gold' AND program_id = (SELECT program_id FROM loyalty.program WHERE code = 'rg');
SELECT * FROM tr_judge('2025-11-01 12:00+00', 'rg');
SELECT tr_apart('2025-11-01 12:00+00') AS apart;

--
-- H. Overrides that ended.  set_tier works now; the overrides are moved to
-- the past here (the override row, the member's since and until), as
-- set_tier would have written them then.
-- h1: silver by 150.00 on 2024-05-01 (held until 2025-05-02), gold from
-- 2024-05-15 until 2024-06-01: ended long before the review of 2025-11-01.
-- Without the override it holds silver, whose hold has run out: to_qualified
-- puts it where the figures are (none in the window: base), dated at the
-- override's end.
-- h2: silver by 150.00 on 2025-05-01 (held until 2026-05-02), gold from
-- 2025-05-15 until 2025-05-20.  Its only sign of change is the override:
-- the hold runs, gold has no tier above it, its window is the review's.
-- It falls back to silver (the hold runs), dated at the override's end.
--
SELECT tr_program('rh', 'rolling');
SELECT tr_enroll('h1', 'rh', 14), tr_enroll('h2', 'rh', 15);
SELECT tr_sale('h1', '2024-05-01 12:00+00', 150.00), tr_sale('h2', '2025-05-01 12:00+00', 150.00);
SELECT loyalty.set_tier(loyalty.card_issue('47', 14), 'gold', 'h1', now() + interval '1 day') > 0 AS set,
	   loyalty.set_tier(loyalty.card_issue('47', 15), 'gold', 'h2', now() + interval '1 day') > 0 AS set;
UPDATE loyalty.tier_change c SET changed_at = v.set_at
  FROM tr_member w, (VALUES ('h1', timestamptz '2024-05-15 12:00+00'), ('h2', '2025-05-15 12:00+00')) AS v(label, set_at)
 WHERE w.label = v.label AND c.member_id = w.member_id AND c.cause = 'override';
UPDATE loyalty.member_tier mt SET since = v.set_at, override_until = v.until
  FROM tr_member w, (VALUES ('h1', timestamptz '2024-05-15 12:00+00', timestamptz '2024-06-01 12:00+00'),
						   ('h2', '2025-05-15 12:00+00', '2025-05-20 12:00+00')) AS v(label, set_at, until)
 WHERE w.label = v.label AND mt.member_id = w.member_id;
SELECT * FROM tr_judge('2025-11-01 12:00+00', 'rh');
SELECT tr_apart('2025-11-01 12:00+00') AS apart;

--
-- L. A review as of a past day.  Silver 1000, gold 2000; l1 spent 500.00 on
-- 2024-01-10 and 10.00 on 2025-06-01 (base).  Silver is lowered to 400.
-- As of 2024-06-01 the window (2023-06-02 .. 2024-06-01) holds 500.00:
-- silver.  Its running figures (10.00, from 2024-06-01) meet nothing, but
-- that review's window starts before them: a candidate.  As of 2025-11-01
-- the window holds 10.00: no change, and not a candidate.
--
SELECT tr_program('rl', 'rolling', p_silver => 1000, p_gold => 2000);
SELECT tr_enroll('l1', 'rl', 16);
SELECT tr_sale('l1', '2024-01-10 12:00+00', 500.00), tr_sale('l1', '2025-06-01 12:00+00', 10.00);
UPDATE loyalty.tier SET min_spend = 400
 WHERE code = 'silver' AND program_id = (SELECT program_id FROM loyalty.program WHERE code = 'rl');
SELECT * FROM tr_judge('2024-06-01 12:00+00', 'rl');
SELECT * FROM tr_judge('2025-11-01 12:00+00', 'rl');
SELECT tr_apart('2024-06-01 12:00+00') AS apart;

--
-- The review of 2025-11-01, committed.  Members checked: all 16 with a tier
-- row (every member here has one); candidates: 12, all but a1, f3, g3 and l1
-- (c2 is one that does not change).  As of that day:
--   up (7): c1 (silver), d1 (silver: 110.00 in the window), e1 (silver),
--           f1, f2 (gold: 2024 is the year before), g1, g2 (gold)
--   down (2): a2, b1 (base: holds and grace run out, no sale in the window)
--   overrides ended (2): h1 (gold -> base), h2 (gold -> silver)
-- Every tier that changed has its event: 11, in member order, written by one
-- call of tier_events (and so one NOTIFY).  Again for the same day: nothing.
--
SELECT members_checked, cardinality(candidates) AS candidates
  FROM loyalty.tier_review_candidates('2025-11-01 12:00+00');
SELECT max(event_id) AS events_before FROM loyalty.outbox \gset
SET track_functions = 'all';
BEGIN;
SELECT * FROM loyalty.review_tiers('2025-11-01 12:00+00');
SELECT calls AS tier_events_calls FROM pg_stat_xact_user_functions WHERE schemaname = 'loyalty' AND funcname = 'tier_events';
COMMIT;
RESET track_functions;
SELECT w.label, o.kind, o.payload - 'member_id' AS payload, o.payload->'member_id' = to_jsonb(w.member_id) AS its_member
  FROM loyalty.outbox o JOIN tr_member w ON w.member_id = o.member_id
 WHERE o.event_id > :events_before ORDER BY o.event_id;
SELECT w.label, t.code AS tier, mt.held_until, mt.override_tier_id IS NOT NULL AS overridden
  FROM tr_member w JOIN loyalty.member_tier mt ON mt.member_id = w.member_id JOIN loyalty.tier t ON t.tier_id = mt.tier_id
 ORDER BY w.label;
SELECT * FROM loyalty.review_tiers('2025-11-01 12:00+00');
SELECT count(*) AS events_of_the_second_review FROM loyalty.outbox WHERE event_id > :events_before;

--
-- A refund above its sale's total (cash rounding: five lines of 20.00 sold
-- for 99.95 and refunded for 100.05, both within the lines' tolerance) takes
-- the day's spend to zero, never below: review_tiers' candidates rely on
-- days that are never negative.  Rolling window of 10 days, silver at 100.
-- Day 2024-03-02: the sale and its refund; 2024-03-10: 100.05, which makes
-- silver at once (a day at -0.10 would have left the running figures at
-- 99.95, and the review of 2024-03-14, whose window no longer holds that
-- day, would not have moved the member up: it was no candidate).  The
-- second member the same, with a trigger of its own on tier_day (the day
-- written through SQL).
--
INSERT INTO loyalty.program (code, tier_window, tier_window_days) VALUES ('rr', 'rolling', 10);
INSERT INTO loyalty.tier (program_id, code, rank, min_spend)
SELECT program_id, x.code, x.rank, x.min_spend FROM loyalty.program,
	   (VALUES ('base', 0, NULL::numeric), ('silver', 1, 100)) x(code, rank, min_spend) WHERE program.code = 'rr';
SELECT loyalty.enroll(loyalty.card_issue('95', 1), 'rr', enrolled_at => '2024-01-01') IS NOT NULL AS enrolled;
SELECT loyalty.enroll(loyalty.card_issue('95', 2), 'rr', enrolled_at => '2024-01-01') IS NOT NULL AS enrolled;
CREATE FUNCTION public.rr_tier_day_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE FUNCTION pg_temp.rr_sales(n integer) RETURNS TABLE (step text, tier_after text, day_spend numeric, running numeric)
LANGUAGE plpgsql AS $$
DECLARE
	v_lines jsonb := '[{"sku":"a","qty":1,"amount":20},{"sku":"b","qty":1,"amount":20},{"sku":"c","qty":1,"amount":20},{"sku":"d","qty":1,"amount":20},{"sku":"e","qty":1,"amount":20}]';
	v_card loyalty.card := loyalty.card_issue('95', n);
	v_member bigint := loyalty.member_id(v_card);
BEGIN
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	VALUES ('RR', 'RR-A' || n, v_card, '2024-03-02 10:00+00', 99.95, v_lines);
	INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of)
	SELECT 'RR', 'RR-R' || n, '2024-03-02 11:00+00', 100.05, v_lines, s.sale_id
	  FROM loyalty.sale s WHERE s.store = 'RR' AND s.pos_txn = 'RR-A' || n;
	step := 'refunded'; tier_after := NULL;
	day_spend := (SELECT d.spend FROM loyalty.tier_day d WHERE d.member_id = v_member AND d.day = '2024-03-02');
	running := (SELECT mt.spend FROM loyalty.member_tier mt WHERE mt.member_id = v_member);
	RETURN NEXT;
	INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	VALUES ('RR', 'RR-B' || n, v_card, '2024-03-10 10:00+00', 100.05, '[{"sku":"f","qty":1,"amount":100.05}]')
	RETURNING 'sold 100.05', loyalty.sale.tier INTO step, tier_after;
	day_spend := (SELECT d.spend FROM loyalty.tier_day d WHERE d.member_id = v_member AND d.day = '2024-03-10');
	running := (SELECT mt.spend FROM loyalty.member_tier mt WHERE mt.member_id = v_member);
	RETURN NEXT;
END
$$;
SELECT * FROM pg_temp.rr_sales(1);
CREATE TRIGGER rr_tier_day_noop AFTER INSERT OR UPDATE ON loyalty.tier_day
	FOR EACH ROW EXECUTE FUNCTION public.rr_tier_day_noop();
SELECT * FROM pg_temp.rr_sales(2);
DROP TRIGGER rr_tier_day_noop ON loyalty.tier_day;
DROP FUNCTION public.rr_tier_day_noop();
SELECT count(*) AS negative_days FROM loyalty.tier_day WHERE spend < 0;
SELECT * FROM loyalty.review_tiers_preview('2024-03-14 12:00+00')
 WHERE member_id IN (SELECT member_id FROM loyalty.member_card WHERE card IN (loyalty.card_issue('95', 1), loyalty.card_issue('95', 2)));
SELECT loyalty.tier_of(loyalty.card_issue('95', 1)) AS tier_1, loyalty.tier_of(loyalty.card_issue('95', 2)) AS tier_2;
