#!/usr/bin/env bash
# Regenerates the "analytics lists" section at the end of
# loyalty--0.5.0--0.6.0.sql from src/sql/lists.sql and the grant_access of
# src/sql/privileges.sql (whole, as CREATE OR REPLACE), so the update gives
# what a fresh install gives.  Everything from the section's header line on
# is replaced.  Usage: bash tools/make-upgrade-lists.sh
set -euo pipefail
cd "$(dirname "$0")/.."
script=loyalty--0.5.0--0.6.0.sql
header='-- section: analytics lists'
tmp=$(mktemp)
if grep -qx -- "$header" "$script"; then
	sed "/^$header\$/,\$d" "$script" >"$tmp"
else
	cat "$script" >"$tmp"
	echo >>"$tmp"
fi
{
	echo "$header"
	cat src/sql/lists.sql
	echo
	echo '-- grant_access gives the analytics lists to analyst and admin (run it again for existing roles)'
	sed -n '/^CREATE FUNCTION loyalty.grant_access(/,/^\$\$;$/p' src/sql/privileges.sql |
		sed '1s/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/'
} >>"$tmp"
cat "$tmp" >"$script"
rm -f "$tmp"
