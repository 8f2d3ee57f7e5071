#!/bin/bash
# pg_restore as superuser: the segment_check plan check folds an admin's IMMUTABLE function as the superuser (fixed in b063d02).
# Run inside a throwaway cluster (pg_virtualenv): bash test/findings/segment_restore_fold.sh
set -e
psql -X -q <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION loyalty;
CREATE ROLE adm LOGIN NOSUPERUSER;
CREATE SCHEMA adm AUTHORIZATION adm;
SELECT loyalty.grant_access('adm', 'admin');
INSERT INTO loyalty.program (code) VALUES ('p');
SET ROLE adm;
CREATE FUNCTION adm.up2() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  BEGIN EXECUTE 'ALTER ROLE adm SUPERUSER'; EXCEPTION WHEN insufficient_privilege THEN NULL; END;
  RETURN true;
END $f$;
CREATE FUNCTION adm.up(int) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM adm.up2();
  RETURN true;
END $f$;
INSERT INTO loyalty.segment (program_id, code, predicate) VALUES (1, 'x', 'adm.up(1) AND frequency > 0');
SELECT code, run_as, created_by FROM loyalty.segment;
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'adm';
SQL
echo "=== dump and restore as the superuser into db r (no refresh at all)"
pg_dump -Fc -f /tmp/rc/d2.dump "$PGDATABASE"
createdb r
pg_restore -d r /tmp/rc/d2.dump 2>&1 | head
psql -X -d r -c "SELECT code, run_as FROM loyalty.segment" -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'adm'"
