-- loyalty 0.4.0 -> 0.5.0: hardening (issue "Hardening I").
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.5.0'" to load this file. \quit

-- Input bounds and session independence (h-lim): store and program time
-- zones are tz database names, checked and resolved in C.  Rows whose zone
-- is not one (an abbreviation such as CST, a POSIX spec, another spelling)
-- stop the update: which zone an abbreviation meant (CST: US Central?
-- China?) is the DBA's call, not the update's.
CREATE FUNCTION loyalty.time_zone_is_valid(name text) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'loyalty_time_zone_is_valid';
COMMENT ON FUNCTION loyalty.time_zone_is_valid(text) IS
'Whether the text is the name of a zone of the tz database, spelled as the database spells it (America/Chicago; not CST, not a POSIX spec).';
DO $$
DECLARE
	bad text;
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.format('%s %L: %L', t, k, z), ', ' ORDER BY t, k) INTO bad
	  FROM (SELECT 'store' AS t, s.store AS k, s.time_zone AS z FROM loyalty.store s
			 WHERE s.time_zone IS NOT NULL AND NOT loyalty.time_zone_is_valid(s.time_zone)
			UNION ALL
			SELECT 'program', p.code, p.time_zone FROM loyalty.program p
			 WHERE NOT loyalty.time_zone_is_valid(p.time_zone)) x;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'time zones that are not tz database names: %', bad
			USING ERRCODE = 'check_violation',
				  DETAIL = 'From 0.5.0 on, a store''s or program''s time zone is a tz database name, never an abbreviation or a POSIX spec, so that no session setting moves a rule''s hours.',
				  HINT = 'Set each to its tz database name (UPDATE loyalty.store SET time_zone = ''America/Chicago'' WHERE time_zone = ''CST''), then run ALTER EXTENSION loyalty UPDATE again.';
	END IF;
END
$$;
ALTER TABLE loyalty.store DROP CONSTRAINT store_time_zone_check,
	ADD CONSTRAINT store_time_zone_check CHECK (time_zone IS NULL OR loyalty.time_zone_is_valid(time_zone));
ALTER TABLE loyalty.program DROP CONSTRAINT program_time_zone_check,
	ADD CONSTRAINT program_time_zone_check CHECK (loyalty.time_zone_is_valid(time_zone));
COMMENT ON COLUMN loyalty.store.time_zone IS 'Time zone of the store, a tz database name (America/Chicago); NULL: the program''s.';
COMMENT ON COLUMN loyalty.program.time_zone IS 'Time zone of rule day and hour windows where the store has none, a tz database name (UTC by default).';
-- Back-dating policy (h-ret): how far back a POS may date a sale or a return.
ALTER TABLE loyalty.program ADD COLUMN backdate_limit interval NOT NULL DEFAULT interval '1 day'
	CHECK (backdate_limit >= interval '0' AND backdate_limit <= interval '366 days');
COMMENT ON COLUMN loyalty.program.backdate_limit IS 'How far back a POS may date a sale or a return (occurred_at): 1 day by default, at most 366 days, and never before the member''s enrolment. A caller who may change this column (the admin level) is bound by neither: a back-fill.';
