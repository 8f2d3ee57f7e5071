#!/usr/bin/env bash
# Writes loyalty--0.2.0--0.3.0.sql from the 0.3.0 concern files, which both a
# fresh install (after the 0.2.0 files) and the upgrade run.  Upgrade scripts
# are frozen once released; this stays to show how the file was made.
set -euo pipefail
cd "$(dirname "$0")/.."
{
	echo '-- loyalty 0.2.0 -> 0.3.0: budget shares (rule_spend has a row per slot); the sale'
	echo '-- trigger writes without SPI, and a statement-level trigger ends each sale statement;'
	echo "-- member_balance carries the member's program and sales count."
	echo '\echo Use "ALTER EXTENSION loyalty UPDATE TO '"'"'0.3.0'"'"'" to load this file. \quit'
	cat src/sql/budget.sql src/sql/writer.sql src/sql/member_program.sql src/sql/member_sales.sql
} > loyalty--0.2.0--0.3.0.sql
