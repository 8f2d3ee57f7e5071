--
-- Security and the SQL surface: the card operators cannot be shadowed, the
-- loose ends of the argument checks, and the bounds of program and rule
-- settings.
--
SET client_min_messages = warning;
-- sec_try(sql): 'ok', or the SQLSTATE and the constraint or else the message
CREATE FUNCTION sec_try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text;
	msg text;
	con text;
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, con = CONSTRAINT_NAME;
	RETURN state || COALESCE(' ' || NULLIF(con, ''), ': ' || msg);
END
$$;
INSERT INTO loyalty.program (code) VALUES ('sec');
SELECT loyalty.enroll(loyalty.card_issue('77', 1), 'sec', enrolled_at => '2000-01-01 00:00+00') > 0 AS enrolled,
	   loyalty.enroll(loyalty.card_issue('77', 2), 'sec', enrolled_at => '2000-01-01 00:00+00') > 0 AS enrolled;

--
-- 1. Operator shadowing.  In a database created before PostgreSQL 15,
-- PUBLIC may create objects in schema public.  A POS role there creates
-- operators for (card, card) named like the card type's own, whose function
-- records that it ran and tries to make its owner superuser; then the
-- superuser and an analyst run the queries a DBA runs on card columns.  The
-- card operators are in pg_catalog, which every session searches first, so
-- the attacker's are never chosen.
--
GRANT CREATE ON SCHEMA public TO PUBLIC;
CREATE ROLE regress_sec_attacker;
CREATE ROLE regress_sec_analyst;
SELECT loyalty.grant_access('regress_sec_attacker', 'pos');
SELECT loyalty.grant_access('regress_sec_analyst', 'analyst');
SET ROLE regress_sec_attacker;
CREATE TABLE public.sec_ran (op text, ran_as text);
GRANT INSERT ON public.sec_ran TO PUBLIC;
CREATE FUNCTION public.sec_record(op text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.sec_ran VALUES (op, current_user);
	BEGIN
		ALTER ROLE regress_sec_attacker SUPERUSER;
	EXCEPTION WHEN insufficient_privilege THEN
		NULL;
	END;
	RETURN true;
END $$;
CREATE FUNCTION public.sec_eq(loyalty.card, loyalty.card) RETURNS boolean LANGUAGE sql AS $$ SELECT public.sec_record('=') $$;
CREATE FUNCTION public.sec_ne(loyalty.card, loyalty.card) RETURNS boolean LANGUAGE sql AS $$ SELECT public.sec_record('<>') $$;
CREATE FUNCTION public.sec_lt(loyalty.card, loyalty.card) RETURNS boolean LANGUAGE sql AS $$ SELECT public.sec_record('<') $$;
CREATE FUNCTION public.sec_le(loyalty.card, loyalty.card) RETURNS boolean LANGUAGE sql AS $$ SELECT public.sec_record('<=') $$;
CREATE FUNCTION public.sec_gt(loyalty.card, loyalty.card) RETURNS boolean LANGUAGE sql AS $$ SELECT public.sec_record('>') $$;
CREATE FUNCTION public.sec_ge(loyalty.card, loyalty.card) RETURNS boolean LANGUAGE sql AS $$ SELECT public.sec_record('>=') $$;
CREATE OPERATOR public.= (LEFTARG = loyalty.card, RIGHTARG = loyalty.card, FUNCTION = public.sec_eq);
CREATE OPERATOR public.<> (LEFTARG = loyalty.card, RIGHTARG = loyalty.card, FUNCTION = public.sec_ne);
CREATE OPERATOR public.< (LEFTARG = loyalty.card, RIGHTARG = loyalty.card, FUNCTION = public.sec_lt);
CREATE OPERATOR public.<= (LEFTARG = loyalty.card, RIGHTARG = loyalty.card, FUNCTION = public.sec_le);
CREATE OPERATOR public.> (LEFTARG = loyalty.card, RIGHTARG = loyalty.card, FUNCTION = public.sec_gt);
CREATE OPERATOR public.>= (LEFTARG = loyalty.card, RIGHTARG = loyalty.card, FUNCTION = public.sec_ge);
-- and ones for (card, text) and (card, anyelement): not chosen for a string
-- literal either (the literal is taken as a card first)
CREATE FUNCTION public.sec_eq_text(loyalty.card, text) RETURNS boolean LANGUAGE sql AS $$ SELECT public.sec_record('= text') $$;
CREATE OPERATOR public.= (LEFTARG = loyalty.card, RIGHTARG = text, FUNCTION = public.sec_eq_text);
CREATE FUNCTION public.sec_eq_any(loyalty.card, anyelement) RETURNS boolean LANGUAGE sql AS $$ SELECT public.sec_record('= anyelement') $$;
CREATE OPERATOR public.= (LEFTARG = loyalty.card, RIGHTARG = anyelement, FUNCTION = public.sec_eq_any);
RESET ROLE;
-- the operators of the card type now: the extension's, and the attacker's
SELECT oprname, oprnamespace::regnamespace AS schema, oprright::regtype AS right_type
  FROM pg_operator WHERE oprleft = 'loyalty.card'::regtype
 ORDER BY 2, 1, 3;
-- the superuser's queries, with the default search_path ("$user", public)
SHOW search_path;
SELECT c.member_id > 0 AS found FROM loyalty.member_card c WHERE c.card = '7700000000000016';
SELECT count(*) FROM loyalty.member_card
 WHERE card <> '7700000000000024' AND card < '7700000000000032' AND card <= '7700000000000024'
   AND card > '7700000000000008' AND card >= '7700000000000016';
SELECT count(*) FROM loyalty.member_card
 WHERE card BETWEEN '7700000000000016' AND '7700000000000024'
   AND '7700000000000024' <> card
   AND card IN ('7700000000000016', '7700000000000024')
   AND card = ANY ('{7700000000000016,7700000000000024}')
   AND card IS DISTINCT FROM '7700000000000032'
   AND NULLIF(card, '7700000000000032') IS NOT NULL
   AND CASE card WHEN '7700000000000016' THEN true ELSE true END;
-- joins on two card columns: hash, merge and nested loop
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF)
SELECT count(*) FROM loyalty.member_card c JOIN loyalty.member_balance b ON b.card = c.card;
SELECT count(*) AS hash_joined FROM loyalty.member_card c JOIN loyalty.member_balance b ON b.card = c.card
 WHERE c.card BETWEEN '7700000000000008' AND '7700000000000024';
SET enable_hashjoin = off;
SET enable_mergejoin = on;
EXPLAIN (COSTS OFF)
SELECT count(*) FROM loyalty.member_card c JOIN loyalty.member_balance b ON b.card = c.card;
SELECT count(*) AS merge_joined FROM loyalty.member_card c JOIN loyalty.member_balance b ON b.card = c.card
 WHERE c.card BETWEEN '7700000000000008' AND '7700000000000024';
SET enable_mergejoin = off;
SET enable_nestloop = on;
SELECT count(*) AS loop_joined FROM loyalty.member_card c JOIN loyalty.member_balance b ON b.card = c.card
 WHERE c.card BETWEEN '7700000000000008' AND '7700000000000024';
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_nestloop;
-- an index scan on the card
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT member_id FROM loyalty.member_card WHERE card = '7700000000000016';
RESET enable_seqscan;
-- an analyst's session, also with the default search_path
SET ROLE regress_sec_analyst;
SELECT c.member_id > 0 AS found FROM loyalty.member_card c WHERE c.card = '7700000000000016';
SELECT count(*) AS joined FROM loyalty.member_card c JOIN loyalty.member_balance b ON b.card = c.card
 WHERE c.card >= '7700000000000008' AND c.card <= '7700000000000024';
RESET ROLE;
-- none of the attacker's operators ran, and the attacker is no superuser
SELECT count(*) AS attacker_ran FROM public.sec_ran;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'regress_sec_attacker';
DROP OWNED BY regress_sec_attacker;
DROP OWNED BY regress_sec_analyst;
DROP ROLE regress_sec_attacker, regress_sec_analyst;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

--
-- 2. Loose ends: NULL role or level, NULL and non-finite times.
--
SELECT sec_try($$SELECT loyalty.grant_access(NULL, 'pos')$$) AS null_role;
SELECT sec_try($$SELECT loyalty.grant_access('pg_monitor', NULL)$$) AS null_level;
SELECT sec_try($$SELECT loyalty.balance_at('7700000000000016', NULL)$$) AS balance_at_null;
SELECT sec_try($$SELECT loyalty.statement('7700000000000016', NULL, now())$$) AS statement_null;
SELECT sec_try($$SELECT loyalty.enroll('7700000000000032', 'sec', enrolled_at => 'infinity')$$) AS enrol_infinity;
SELECT sec_try($$SELECT loyalty.enroll('7700000000000032', 'sec', enrolled_at => '-infinity')$$) AS enrol_minus_infinity;
SELECT split_part(sec_try($$SELECT loyalty.enroll('7700000000000032', 'sec', enrolled_at => now() + interval '10 years')$$), ':', 1) AS enrol_ahead;
SELECT split_part(sec_try($$SELECT loyalty.enroll('7700000000000032', 'sec', enrolled_at => now() + interval '6 minutes')$$), ':', 1) AS enrol_6_min_ahead;
-- (the time in the message is now's: only the SQLSTATE above)
-- a POS's clock a little ahead of the server's is accepted, as for sales
SELECT sec_try($$SELECT loyalty.enroll('7700000000000032', 'sec', enrolled_at => now() + interval '1 minute')$$) AS enrol_1_min_ahead;
SELECT sec_try($$SELECT loyalty.enroll('7700000000000040', 'sec', enrolled_at => '2020-01-01')$$) AS enrol_back_dated;
SELECT sec_try($$SELECT loyalty.quote('7700000000000016', '[{"sku":"A","qty":1,"amount":10}]', at => 'infinity')$$) AS quote_infinity;
SELECT sec_try($$SELECT loyalty.quote('7700000000000016', '[{"sku":"A","qty":1,"amount":10}]', at => '-infinity')$$) AS quote_minus_infinity;
-- a quote for a future moment (next week's campaign) is fine
SELECT (loyalty.quote('7700000000000016', '[{"sku":"A","qty":1,"amount":10}]', at => now() + interval '7 days')).points AS quote_next_week;

--
-- 3. Bounds of program and rule settings: each at its bound, and just past
-- it (larger values made every sale or return fail).
--
SELECT v.what, sec_try(v.sql) AS outcome FROM (VALUES
  ('return_days 3650',          $$INSERT INTO loyalty.program (code, return_days) VALUES ('b1', 3650)$$),
  ('return_days 3651',          $$INSERT INTO loyalty.program (code, return_days) VALUES ('b2', 3651)$$),
  ('return_days 110000000',     $$INSERT INTO loyalty.program (code, return_days) VALUES ('b2x', 110000000)$$),
  ('pending_days 3650',         $$INSERT INTO loyalty.program (code, pending_days) VALUES ('b3', 3650)$$),
  ('pending_days 3651',         $$INSERT INTO loyalty.program (code, pending_days) VALUES ('b4', 3651)$$),
  ('pending_days 2147483647',   $$INSERT INTO loyalty.program (code, pending_days) VALUES ('b4x', 2147483647)$$),
  ('expiry_after 1 day',        $$INSERT INTO loyalty.program (code, expiry_after) VALUES ('b5', '1 day')$$),
  ('expiry_after 23:59:59',     $$INSERT INTO loyalty.program (code, expiry_after) VALUES ('b6', '23:59:59')$$),
  ('expiry_after 1 m (minute)', $$INSERT INTO loyalty.program (code, expiry_after) VALUES ('b6x', '1 m')$$),
  ('expiry_after 100 years',    $$INSERT INTO loyalty.program (code, expiry_after) VALUES ('b7', '100 years')$$),
  ('expiry_after 100 y 1 day',  $$INSERT INTO loyalty.program (code, expiry_after) VALUES ('b8', '100 years 1 day')$$),
  ('expiry_after 100000000 y',  $$INSERT INTO loyalty.program (code, expiry_after) VALUES ('b8x', '100000000 years')$$),
  ('points_per_unit 10000',     $$INSERT INTO loyalty.program (code, points_per_unit) VALUES ('b9', 10000)$$),
  ('points_per_unit 10000.001', $$INSERT INTO loyalty.program (code, points_per_unit) VALUES ('b10', 10000.001)$$),
  ('points_per_unit NaN',       $$INSERT INTO loyalty.program (code, points_per_unit) VALUES ('b10x', 'NaN')$$),
  ('points_per_unit Infinity',  $$INSERT INTO loyalty.program (code, points_per_unit) VALUES ('b10y', 'Infinity')$$),
  ('point_value 1000000',       $$INSERT INTO loyalty.program (code, point_value) VALUES ('b11', 1000000)$$),
  ('point_value 1000000.01',    $$INSERT INTO loyalty.program (code, point_value) VALUES ('b12', 1000000.01)$$),
  ('point_value NaN',           $$INSERT INTO loyalty.program (code, point_value) VALUES ('b12x', 'NaN')$$),
  ('multiplier 1000',           $$INSERT INTO loyalty.rule (program_id, code, kind, multiplier) SELECT program_id, 'm1', 'multiplier', 1000 FROM loyalty.program WHERE code = 'b9'$$),
  ('multiplier 1000.01',        $$INSERT INTO loyalty.rule (program_id, code, kind, multiplier) SELECT program_id, 'm2', 'multiplier', 1000.01 FROM loyalty.program WHERE code = 'b9'$$),
  ('multiplier NaN',            $$INSERT INTO loyalty.rule (program_id, code, kind, multiplier) SELECT program_id, 'm2x', 'multiplier', 'NaN' FROM loyalty.program WHERE code = 'b9'$$),
  ('bonus points 10^9',         $$INSERT INTO loyalty.rule (program_id, code, kind, points) SELECT program_id, 'p1', 'bonus', 1000000000 FROM loyalty.program WHERE code = 'b9'$$),
  ('bonus points 10^9 + 1',     $$INSERT INTO loyalty.rule (program_id, code, kind, points) SELECT program_id, 'p2', 'bonus', 1000000001 FROM loyalty.program WHERE code = 'b9'$$),
  ('min_basket 10^15',          $$INSERT INTO loyalty.rule (program_id, code, kind, points, min_basket) SELECT program_id, 'mb1', 'bonus', 1, 1e15 FROM loyalty.program WHERE code = 'b1'$$),
  ('min_basket 10^15 + 0.01',   $$INSERT INTO loyalty.rule (program_id, code, kind, points, min_basket) SELECT program_id, 'mb2', 'bonus', 1, 1e15 + 0.01 FROM loyalty.program WHERE code = 'b1'$$),
  ('min_basket NaN',            $$INSERT INTO loyalty.rule (program_id, code, kind, points, min_basket) SELECT program_id, 'mb2x', 'bonus', 1, 'NaN' FROM loyalty.program WHERE code = 'b1'$$)
) AS v(what, sql);
-- every setting at its bound at once: sales earn and returns work
INSERT INTO loyalty.program (code, return_days, pending_days, expiry_after, points_per_unit, point_value)
VALUES ('sec-max', 3650, 3650, '100 years', 10000, 1000000);
INSERT INTO loyalty.rule (program_id, code, kind, multiplier)
SELECT program_id, 'x1000', 'multiplier', 1000 FROM loyalty.program WHERE code = 'sec-max';
INSERT INTO loyalty.rule (program_id, code, kind, points)
SELECT program_id, 'big-bonus', 'bonus', 1000000000 FROM loyalty.program WHERE code = 'sec-max';
SELECT loyalty.enroll(loyalty.card_issue('77', 9), 'sec-max', enrolled_at => '2000-01-01 00:00+00') > 0 AS enrolled;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('S-SEC', 'MAX-1', loyalty.card_issue('77', 9), now() - interval '3649 days', 2,
        '[{"sku":"A","qty":1,"amount":1},{"sku":"B","qty":1,"amount":1}]')
RETURNING points_earned, points_pending;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of)
SELECT 'S-SEC', 'MAX-R1', loyalty.card_issue('77', 9), 1, '[{"sku":"A","qty":1,"amount":1}]', sale_id
  FROM loyalty.sale WHERE pos_txn = 'MAX-1'
RETURNING points_earned;
SELECT * FROM loyalty.check_invariants();
DROP FUNCTION sec_try(text);
