-- Privileges of segments (0.6.0).  Only the admin level defines segments
-- and refreshes them; the analyst level reads the features, the segments and
-- their history (member_features_at, the view, segment_sizes,
-- segment_overlap, segment_migration) and may neither write a segment nor
-- refresh; pos and a role without a level may do none of it.
--
-- A predicate is SQL an admin writes.  It runs as the role that wrote it
-- (run_as), in a security-restricted operation, whoever calls
-- refresh_segments: an admin's predicate that calls a superuser-only
-- function is refused, one that reads a table only the superuser may read
-- fails even when the superuser refreshes, one that tries SET ROLE fails,
-- and one that asks who runs it is answered with the admin's name.
--
-- (test/pgtap/privileges.sql lists every function and table with its levels.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS loyalty;

BEGIN;
SELECT plan(31);

CREATE ROLE tap_s_admin;
CREATE ROLE tap_s_pos;
CREATE ROLE tap_s_analyst;
CREATE ROLE tap_s_nobody;
DO $$BEGIN
	PERFORM loyalty.grant_access('tap_s_admin', 'admin');
	PERFORM loyalty.grant_access('tap_s_pos', 'pos');
	PERFORM loyalty.grant_access('tap_s_analyst', 'analyst');
END$$;

-- Data, as the superuser: two members of tap_s, one of whom bought.
INSERT INTO loyalty.program (code) VALUES ('tap_s');
DO $$BEGIN
	PERFORM loyalty.enroll(loyalty.card_issue('42', 1), 'tap_s', enrolled_at => '2000-01-01 00:00+00');
	PERFORM loyalty.enroll(loyalty.card_issue('42', 2), 'tap_s', enrolled_at => '2000-01-01 00:00+00');
END$$;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
VALUES ('tap-s-s1', 'tap-s-1', loyalty.card_issue('42', 1), '2024-03-01 10:00+00', 10,
		'[{"sku": "TAPS1", "category": "taps", "qty": 1, "amount": 10}]');
-- a table only the superuser reads (for now the admin too)
CREATE TABLE public.tap_s_secret (x int);
INSERT INTO public.tap_s_secret VALUES (1);
GRANT SELECT ON public.tap_s_secret TO tap_s_admin;

-- 1-8: admin defines segments and refreshes them
SET ROLE tap_s_admin;
SELECT lives_ok($$INSERT INTO loyalty.segment (program_id, code, predicate)
	SELECT program_id, 'buyers', $p$'taps' = ANY (categories)$p$ FROM loyalty.program WHERE code = 'tap_s'$$,
	'admin can define a segment');
SELECT lives_ok($$INSERT INTO loyalty.segment (program_id, code, predicate)
	SELECT program_id, 'who', $p$current_user = 'tap_s_admin'$p$ FROM loyalty.program WHERE code = 'tap_s'$$,
	'admin can define a segment that asks who runs it');
SELECT lives_ok($$INSERT INTO loyalty.segment (program_id, code, predicate)
	SELECT program_id, 'secret', $p$EXISTS (SELECT FROM public.tap_s_secret)$p$ FROM loyalty.program WHERE code = 'tap_s'$$,
	'admin can define a segment over a table it may read');
SELECT throws_ok($$INSERT INTO loyalty.segment (program_id, code, predicate)
	SELECT program_id, 'file', $p$pg_catalog.pg_read_file('/etc/hostname') IS NOT NULL$p$ FROM loyalty.program WHERE code = 'tap_s'$$,
	'42501', 'permission denied for function pg_read_file',
	'an admin''s predicate calling a superuser-only function is refused when written');
SELECT is((SELECT array_agg(run_as::text ORDER BY code) FROM loyalty.segment), '{tap_s_admin,tap_s_admin,tap_s_admin}',
	'the segments run as the admin that wrote them');
SELECT lives_ok($$SELECT * FROM loyalty.refresh_segments('2024-03-31')$$, 'admin can refresh segments');
SELECT is((SELECT members FROM loyalty.segment_sizes('2024-03-31', 'tap_s') WHERE segment = 'buyers'), 1::bigint,
	'admin: one buyer');
SELECT is((SELECT members FROM loyalty.segment_sizes('2024-03-31', 'tap_s') WHERE segment = 'who'), 2::bigint,
	'admin: the predicate ran as tap_s_admin');
RESET ROLE;

-- 9-12: the superuser refreshes (pg_cron would): the predicates still run
-- as tap_s_admin.  Without its SELECT on the secret table, the refresh
-- fails; a predicate that tries SET ROLE fails too.
SELECT is((SELECT members FROM loyalty.refresh_segments('2024-04-01') WHERE segment = 'who'), 2::bigint,
	'refreshed by the superuser, the admin''s predicate runs as the admin');
REVOKE SELECT ON public.tap_s_secret FROM tap_s_admin;
SELECT throws_ok($$SELECT * FROM loyalty.refresh_segments('2024-04-02')$$, '42501',
	'permission denied for table tap_s_secret',
	'refreshed by the superuser, a predicate reads no more than its writer may');
SET ROLE tap_s_admin;
DELETE FROM loyalty.segment WHERE code = 'secret';
INSERT INTO loyalty.segment (program_id, code, predicate)
SELECT program_id, 'setrole', $p$pg_catalog.set_config('role', 'postgres', true) IS NOT NULL$p$
  FROM loyalty.program WHERE code = 'tap_s';
RESET ROLE;
SELECT throws_ok($$SELECT * FROM loyalty.refresh_segments('2024-04-02')$$, '42501', NULL,
	'a predicate cannot SET ROLE back to the superuser who refreshes');
DELETE FROM loyalty.segment WHERE code = 'setrole';
SELECT is((SELECT count(*) FROM loyalty.refresh_segments('2024-04-02')), 2::bigint,
	'the remaining segments refresh');

-- 13-19: analyst reads everything of it, writes and refreshes nothing
SET ROLE tap_s_analyst;
SELECT is((SELECT frequency FROM loyalty.member_features_at('2024-03-31', 'tap_s') WHERE frequency IS NOT NULL), 1,
	'analyst can read member_features_at');
SELECT is((SELECT count(*) FROM loyalty.member_features WHERE program_code = 'tap_s'), 2::bigint,
	'analyst can read the view member_features');
SELECT is((SELECT count(*) FROM loyalty.segment_sizes('2024-04-02')), 2::bigint, 'analyst can run segment_sizes');
SELECT is((SELECT members FROM loyalty.segment_overlap('2024-04-02')), 1::bigint, 'analyst can run segment_overlap');
SELECT is((SELECT sum(members) FROM loyalty.segment_migration('2024-03-30', '2024-04-02')), 3::numeric,
	'analyst can run segment_migration');
SELECT throws_ok($$INSERT INTO loyalty.segment (program_id, code, predicate)
	SELECT program_id, 'x', 'true' FROM loyalty.program WHERE code = 'tap_s'$$, '42501', NULL,
	'analyst cannot define a segment');
SELECT throws_ok($$SELECT * FROM loyalty.refresh_segments('2024-04-03')$$, '42501', NULL,
	'analyst cannot refresh segments');
RESET ROLE;

-- 20-25: pos none of it
SET ROLE tap_s_pos;
SELECT throws_ok($$SELECT count(*) FROM loyalty.member_features_at(now())$$, '42501', NULL, 'pos cannot run member_features_at');
SELECT throws_ok($$SELECT count(*) FROM loyalty.member_features$$, '42501', NULL, 'pos cannot read member_features');
SELECT throws_ok($$SELECT count(*) FROM loyalty.segment_sizes(current_date)$$, '42501', NULL, 'pos cannot run segment_sizes');
SELECT throws_ok($$SELECT count(*) FROM loyalty.segment_migration(current_date, current_date)$$, '42501', NULL, 'pos cannot run segment_migration');
SELECT throws_ok($$SELECT * FROM loyalty.refresh_segments()$$, '42501', NULL, 'pos cannot refresh segments');
SELECT throws_ok($$UPDATE loyalty.segment SET predicate = 'true'$$, '42501', NULL, 'pos cannot write segments');
RESET ROLE;

-- 26-29: the superuser writes a segment; an admin renames it (run_as stays
-- the superuser, the predicate is not checked again as the admin), then
-- writes the predicate anew (run_as becomes the admin)
INSERT INTO loyalty.segment (program_id, code, predicate)
SELECT program_id, 'su', $p$pg_catalog.pg_read_file('/etc/hostname') IS NOT NULL$p$ FROM loyalty.program WHERE code = 'tap_s';
SET ROLE tap_s_admin;
SELECT lives_ok($$UPDATE loyalty.segment SET name = 'renamed', run_as = 'tap_s_admin' WHERE code = 'su'$$,
	'admin can rename a superuser''s segment');
SELECT is((SELECT run_as FROM loyalty.segment WHERE code = 'su'), session_user::regrole,
	'renamed by an admin (run_as in the statement or not), the segment still runs as the superuser who wrote it');
SELECT lives_ok($$UPDATE loyalty.segment SET predicate = 'true' WHERE code = 'su'$$,
	'admin can write the predicate anew');
RESET ROLE;
SELECT is((SELECT run_as FROM loyalty.segment WHERE code = 'su'), 'tap_s_admin'::regrole,
	'the admin''s new predicate runs as the admin');
DELETE FROM loyalty.segment WHERE code = 'su';

-- 30-31: nobody gets the evaluator; a role without a level gets nothing
SELECT ok(NOT has_function_privilege('tap_s_admin', 'loyalty.segment_hits(regclass, bigint)', 'EXECUTE'),
	'not even admin may call segment_hits (it evaluates a predicate as another role)');
SET ROLE tap_s_nobody;
SELECT throws_ok($$SELECT count(*) FROM loyalty.segment_overlap(current_date)$$, '42501', NULL, 'a role without a level cannot run segment_overlap');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
