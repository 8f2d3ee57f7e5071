#!/bin/bash
# pg_restore as superuser made a NOSUPERUSER admin's segment predicate run as the superuser (fixed in 21b80db).
# Run inside a throwaway cluster (pg_virtualenv): bash test/findings/segment_restore_run_as.sh
set -e
psql -X -q <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION loyalty;
CREATE ROLE adm LOGIN NOSUPERUSER;
CREATE SCHEMA adm AUTHORIZATION adm;
SELECT loyalty.grant_access('adm', 'admin');
INSERT INTO loyalty.program (code) VALUES ('p');
SELECT loyalty.enroll(loyalty.card_issue('40', 1), 'p');
SET ROLE adm;
CREATE FUNCTION adm.up() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  BEGIN EXECUTE 'ALTER ROLE adm SUPERUSER'; EXCEPTION WHEN insufficient_privilege THEN NULL; END;
  RETURN true;
END $f$;
INSERT INTO loyalty.segment (program_id, code, predicate) VALUES (1, 'x', 'adm.up()');
SELECT code, run_as, created_by FROM loyalty.segment;
SELECT * FROM loyalty.refresh_segments();
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'adm';
SQL
echo "=== dump and restore as the superuser into db r"
pg_dump -Fc -f /tmp/rc/d.dump "$PGDATABASE"
createdb r
pg_restore -d r /tmp/rc/d.dump 2>&1 | head
psql -X -d r <<'SQL'
SELECT code, run_as, created_by FROM loyalty.segment;
SET ROLE adm;
SELECT * FROM loyalty.refresh_segments();
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'adm';
SQL
