-- The member_tier rows of a sale statement are kept per member and written
-- once at its end (src/tier_pending.c): a later sale of the statement sees
-- the earlier ones' figures and tier; a rolled-back savepoint, a failed
-- statement and a nested statement that aborts take theirs back; more
-- members than loyalty.max_pending_members are written out and the
-- statement goes on; the next statement (tier_of, review_tiers) sees them.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- rolling 365 days; silver at a spend of 100 (x1.5), gold at 300 (x2)
INSERT INTO loyalty.program (code) VALUES ('p');
INSERT INTO loyalty.tier (program_id, code, rank, min_spend, earn_multiplier)
VALUES (1, 'base', 0, NULL, 1), (1, 'silver', 1, 100, 1.5), (1, 'gold', 2, 300, 2);
SELECT count(loyalty.enroll(loyalty.card_issue('40', s), 'p', enrolled_at => now() - interval '2 years'))
  FROM generate_series(1, 5) s;
CREATE FUNCTION pg_temp.sale(serial int, txn text, days int, amount numeric)
RETURNS TABLE (store text, pos_txn text, card loyalty.card, occurred_at timestamptz, total numeric, lines jsonb)
LANGUAGE sql AS $$
	SELECT 'S', txn, loyalty.card_issue('40', serial), now() - days * interval '1 day', amount,
	       jsonb_build_array(jsonb_build_object('sku', 'A', 'qty', 1, 'amount', amount))
$$;
-- figures that do not add up: member_tier against its tier_day rows in the
-- window, tier_day against the member's sales by day
CREATE FUNCTION pg_temp.wrong() RETURNS TABLE (members_wrong bigint, days_wrong bigint)
LANGUAGE sql AS $$
	SELECT (SELECT count(*) FROM loyalty.member_tier mt
	         CROSS JOIN LATERAL (SELECT COALESCE(sum(d.spend), 0) AS spend, count(*) FILTER (WHERE d.spend > 0) AS visits,
	                                    COALESCE(sum(d.points), 0) AS points
	                               FROM loyalty.tier_day d WHERE d.member_id = mt.member_id
	                                AND d.day BETWEEN mt.window_start AND mt.last_day) f
	         WHERE (mt.spend, mt.visits, mt.points) IS DISTINCT FROM (f.spend, f.visits::integer, f.points)),
	       (SELECT count(*) FROM (SELECT member_id, occurred_at::date AS day, sum(total) AS spend, sum(points_earned) AS points
	                                FROM loyalty.sale WHERE member_id IS NOT NULL GROUP BY 1, 2) s
	         FULL JOIN loyalty.tier_day d USING (member_id, day)
	         WHERE (s.spend, s.points) IS DISTINCT FROM (d.spend, d.points))
$$;

-- ===== one statement, members 1 and 2 interleaved, 80 a sale on five days:
-- member 1 earns 80 (base), 80 (base before it; 160: silver), 120 (x1.5),
-- 120 (320: gold), 160 (x2); member 2 the same
BEGIN;
SELECT n_tup_ins + n_tup_upd AS writes_before FROM pg_stat_xact_user_tables WHERE relid = 'loyalty.member_tier'::regclass \gset
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT s.* FROM generate_series(0, 9) g, LATERAL pg_temp.sale(1 + g % 2, 'A' || g, 20 - g, 80) s ORDER BY g
RETURNING pos_txn, card = loyalty.card_issue('40', 1) AS member_1, points_earned, tier;
-- two rows written, one per member (per sale it was ten)
SELECT n_tup_ins + n_tup_upd - :writes_before AS member_tier_writes
  FROM pg_stat_xact_user_tables WHERE relid = 'loyalty.member_tier'::regclass;
-- the next statements of the transaction see them
SELECT loyalty.tier_of(loyalty.card_issue('40', 1)) AS tier_of_1, loyalty.tier_of(loyalty.card_issue('40', 2)) AS tier_of_2;
SELECT tier, spend, visits FROM loyalty.tier_progress(loyalty.card_issue('40', 1));
SELECT members_checked, upgraded, downgraded FROM loyalty.review_tiers(now());
COMMIT;
SELECT c.member_id, f.code AS from_tier, t.code AS to_tier, s.pos_txn
  FROM loyalty.tier_change c JOIN loyalty.tier f ON f.tier_id = c.from_tier_id
  JOIN loyalty.tier t ON t.tier_id = c.to_tier_id JOIN loyalty.sale s USING (sale_id) ORDER BY c.change_id;
SELECT * FROM pg_temp.wrong();

-- ===== a savepoint rolled back: member 3's figures and tier go with it
CREATE TEMP TABLE before AS SELECT * FROM loyalty.member_tier;
CREATE TEMP TABLE days_before AS SELECT * FROM loyalty.tier_day;
BEGIN;
SAVEPOINT s;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT s.* FROM generate_series(1, 3) g, LATERAL pg_temp.sale(3, 'B' || g, 10 - g, 200) s ORDER BY g
RETURNING pos_txn, tier;
ROLLBACK TO s;
-- a statement that fails at its third row: nothing of its first two
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT s.* FROM generate_series(1, 3) g, LATERAL pg_temp.sale(4, 'F' || g, 10 - g, CASE WHEN g = 3 THEN -1 ELSE 200 END) s ORDER BY g;
ROLLBACK;
SELECT (SELECT count(*) FROM loyalty.member_tier) - (SELECT count(*) FROM before) AS rows_added,
       (SELECT count(*) FROM (SELECT * FROM loyalty.member_tier EXCEPT SELECT * FROM before) x) AS rows_changed,
       (SELECT count(*) FROM (SELECT * FROM loyalty.tier_day EXCEPT SELECT * FROM days_before) x) AS days_changed,
       (SELECT count(*) FROM loyalty.tier_change WHERE member_id IN (3, 4)) AS upgrades;

-- ===== loyalty.max_pending_members = 1: members 3, 4 and 5 in turn; each
-- sale of a member not pending writes the other out first; 150 a sale:
-- 150 (base; silver), 225 (x1.5; 300: gold), 300 (x2)
BEGIN;
SET LOCAL loyalty.max_pending_members = 1;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT s.* FROM generate_series(0, 8) g, LATERAL pg_temp.sale(3 + g % 3, 'C' || g, 20 - g, 150) s ORDER BY g
RETURNING pos_txn, points_earned, tier;
COMMIT;
SELECT * FROM pg_temp.wrong();

-- ===== a nested statement in an exception block, inside a statement that
-- holds member 5's row: the nested sale sees it and adds to it; the one
-- that aborts (g = 2) takes its figures back, the others stay
CREATE FUNCTION pg_temp.nested(g int) RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
		SELECT * FROM pg_temp.sale(5, 'N' || g, 5 - g, 50);
		IF g = 2 THEN
			RAISE EXCEPTION 'undo';
		END IF;
	EXCEPTION WHEN raise_exception THEN
		NULL;
	END;
	RETURN 10;
END $$;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT 'S', 'O' || g, loyalty.card_issue('40', 5), now() - (5 - g) * interval '1 day', t,
       jsonb_build_array(jsonb_build_object('sku', 'A', 'qty', 1, 'amount', t))
  FROM generate_series(1, 3) g, LATERAL pg_temp.nested(g) t;
SELECT string_agg(pos_txn || ' ' || points_earned, ', ' ORDER BY sale_id) AS sales_of_5
  FROM loyalty.sale WHERE card = loyalty.card_issue('40', 5) AND pos_txn ~ '^[NO]';
-- 450 of C + 10 x 3 + 50 x 2 = 580
SELECT spend, visits FROM loyalty.member_tier WHERE member_id = 5;
SELECT * FROM pg_temp.wrong();
SELECT * FROM loyalty.check_invariants();

-- ===== set_tier and review_tiers in the same query as the sales (a
-- data-modifying WITH): the sales' tier rows are written when their
-- statement ends, so both refuse with LY055 instead of writing first
SELECT loyalty.enroll(loyalty.card_issue('88', 1), 'p', enrolled_at => now() - interval '2 years') IS NOT NULL AS enrolled;
CREATE FUNCTION pg_temp.outcome(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT 'set_tier in the sale''s query' AS what, pg_temp.outcome($q$
	WITH s AS (INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	           VALUES ('S', 'cte-1', loyalty.card_issue('88', 1), now() - interval '1 hour', 50,
	                   '[{"sku": "A", "qty": 1, "amount": 50}]') RETURNING card)
	SELECT loyalty.set_tier(card, 'gold', 'vip') FROM s$q$) AS outcome
UNION ALL
SELECT 'review_tiers in the sale''s query', pg_temp.outcome($q$
	WITH s AS (INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
	           VALUES ('S', 'cte-2', loyalty.card_issue('88', 1), now() - interval '1 hour', 50,
	                   '[{"sku": "A", "qty": 1, "amount": 50}]') RETURNING card)
	SELECT (loyalty.review_tiers()).upgraded FROM s$q$);
-- in statements of their own, after the sales: both work
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S', 'cte-3', loyalty.card_issue('88', 1), now() - interval '1 hour', 50, '[{"sku": "A", "qty": 1, "amount": 50}]');
SELECT loyalty.set_tier(loyalty.card_issue('88', 1), 'gold', 'vip') IS NOT NULL AS set;
SELECT loyalty.tier_of(loyalty.card_issue('88', 1)) AS tier, (loyalty.review_tiers()).downgraded AS downgraded;
SELECT count(*) AS invariant_violations FROM loyalty.check_invariants();

-- ===== the tier_day rows of a statement are read and written once per
-- (member, day), at its end: members 1 and 2 (gold: 10 earns 20), two
-- sales a day on two days each; member 1's day 20 days ago has a row
-- (sale A0: 80, 80 points), the others are new.  Eight sales, four day
-- rows: three inserted, one updated (per sale it was three and five)
BEGIN;
SELECT n_tup_ins AS day_ins_before, n_tup_upd AS day_upd_before
  FROM pg_stat_xact_user_tables WHERE relid = 'loyalty.tier_day'::regclass \gset
SELECT n_tup_ins + n_tup_upd AS writes_before FROM pg_stat_xact_user_tables WHERE relid = 'loyalty.member_tier'::regclass \gset
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT s.* FROM (VALUES (1, 'D1', 20), (2, 'D2', 2), (1, 'D3', 1), (2, 'D4', 1),
                        (1, 'D5', 20), (2, 'D6', 2), (1, 'D7', 1), (2, 'D8', 1)) v (serial, txn, days),
       LATERAL pg_temp.sale(v.serial, v.txn, v.days, 10) s ORDER BY v.txn
RETURNING pos_txn, points_earned, tier;
SELECT n_tup_ins - :day_ins_before AS tier_day_inserts, n_tup_upd - :day_upd_before AS tier_day_updates
  FROM pg_stat_xact_user_tables WHERE relid = 'loyalty.tier_day'::regclass;
SELECT n_tup_ins + n_tup_upd - :writes_before AS member_tier_writes
  FROM pg_stat_xact_user_tables WHERE relid = 'loyalty.member_tier'::regclass;
COMMIT;
-- member 1: 100 and 120 points 20 days ago, 20 and 40 yesterday; member 2:
-- 20 and 40 two days ago and yesterday
SELECT member_id, current_date - day AS days_ago, spend, points
  FROM loyalty.tier_day WHERE member_id IN (1, 2) AND current_date - day IN (20, 2, 1) ORDER BY 1, 2 DESC;
-- 400 + 40 each; visits 5 + 1 and 5 + 2
SELECT member_id, spend, visits FROM loyalty.member_tier WHERE member_id IN (1, 2) ORDER BY 1;

-- ===== one statement whose later sale moves the rolling window past an
-- earlier sale's day that is still in memory, then a late sale on that
-- day: a new member spends 50 400 days ago, 20 30 days ago (the first day
-- leaves the window), 5 400 days ago again (counted in its day only)
SELECT loyalty.enroll(loyalty.card_issue('40', 6), 'p', enrolled_at => now() - interval '2 years') IS NOT NULL AS enrolled;
BEGIN;
SELECT n_tup_ins AS day_ins_before, n_tup_upd AS day_upd_before
  FROM pg_stat_xact_user_tables WHERE relid = 'loyalty.tier_day'::regclass \gset
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT s.* FROM (VALUES ('W1', 400, 50), ('W2', 30, 20), ('W3', 400, 5)) v (txn, days, amount),
       LATERAL pg_temp.sale(6, v.txn, v.days, v.amount) s ORDER BY v.txn
RETURNING pos_txn, points_earned, tier;
-- two day rows inserted
SELECT n_tup_ins - :day_ins_before AS tier_day_inserts, n_tup_upd - :day_upd_before AS tier_day_updates
  FROM pg_stat_xact_user_tables WHERE relid = 'loyalty.tier_day'::regclass;
COMMIT;
-- days: 55 (55 points) and 20 (20); running figures: 20, one visit, 20 points
SELECT current_date - day AS days_ago, spend, points
  FROM loyalty.tier_day WHERE member_id = (SELECT member_id FROM loyalty.sale WHERE pos_txn = 'W1') ORDER BY day;
SELECT spend, visits, points, current_date - window_start AS window_starts_days_ago
  FROM loyalty.member_tier WHERE member_id = (SELECT member_id FROM loyalty.sale WHERE pos_txn = 'W1');
SELECT * FROM pg_temp.wrong();
SELECT count(*) AS invariant_violations FROM loyalty.check_invariants();

-- ===== a trigger of a DBA's on tier_day, made after this session's sales
-- (whose writer knew tier_day had none): the next sale writes its day
-- through SQL, so the trigger sees it
CREATE TEMP TABLE day_writes (member_id bigint, day date);
CREATE FUNCTION public.tp_day_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO day_writes VALUES (NEW.member_id, NEW.day);
	RETURN NEW;
END $$;
CREATE TRIGGER tp_day_seen AFTER INSERT OR UPDATE ON loyalty.tier_day
	FOR EACH ROW EXECUTE FUNCTION public.tp_day_seen();
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
SELECT * FROM pg_temp.sale(1, 'T1', 3, 10);
SELECT count(*) AS day_writes_seen, bool_and(current_date - day = 3) AS of_the_sale FROM day_writes;
DROP TRIGGER tp_day_seen ON loyalty.tier_day;
DROP FUNCTION public.tp_day_seen();
SELECT * FROM pg_temp.wrong();
