#!/usr/bin/env bash
# One-off: wrote loyalty--0.1.0--0.2.0.sql from the 0.2.0 sources (the new
# concern file sale.sql and the new grant_access).  Upgrade scripts are frozen
# once released; this stays only to show how the file was made.
set -euo pipefail
cd "$(dirname "$0")/.."
{
	echo '-- loyalty 0.1.0 -> 0.2.0: sales, earning rules, returns and events.'
	echo '\echo Use "ALTER EXTENSION loyalty UPDATE TO '"'"'0.2.0'"'"'" to load this file. \quit'
	echo
	cat src/sql/sale.sql
	echo
	echo '-- grant_access knows the new objects'
	sed -n '/^CREATE FUNCTION loyalty.grant_access/,/^\$\$;/p' src/sql/privileges.sql |
		sed 's/^CREATE FUNCTION loyalty.grant_access/CREATE OR REPLACE FUNCTION loyalty.grant_access/'
	sed -n "/^COMMENT ON FUNCTION loyalty.grant_access/,/;\$/p" src/sql/privileges.sql
} > loyalty--0.1.0--0.2.0.sql
