-- loyalty install script, built by the Makefile from src/sql/*.sql.
\echo Use "CREATE EXTENSION loyalty" to load this file. \quit

-- The extension owns its schema, so DROP EXTENSION removes it too (as pg_cron
-- does: the control file names pg_catalog and the script creates the schema).
CREATE SCHEMA loyalty;
COMMENT ON SCHEMA loyalty IS 'The loyalty extension: programs, members, cards and the points ledger.';

