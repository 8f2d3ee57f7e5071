#!/usr/bin/env bash
# Writes loyalty--0.2.0--0.3.0.sql from the 0.3.0 concern files, which both a
# fresh install (after the 0.2.0 files) and the upgrade run, plus the two
# functions 0.3.0 changed in program.sql (enroll, member_status_guard) and the
# trigger's new column list.  Upgrade scripts are frozen once released; this
# stays to show how the file was made.
set -euo pipefail
cd "$(dirname "$0")/.."
function_of() {	# the CREATE FUNCTION of $1 in program.sql, as CREATE OR REPLACE
	sed -n "/^CREATE FUNCTION loyalty.$1(/,/^\\\$\\\$;/p" src/sql/program.sql |
		sed 's/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/'
}
{
	echo '-- loyalty 0.2.0 -> 0.3.0: budget shares (rule_spend has a row per slot); the sale'
	echo '-- trigger writes without SPI, and a statement-level trigger ends each sale statement;'
	echo "-- member_balance carries the member's program and sales count."
	echo '\echo Use "ALTER EXTENSION loyalty UPDATE TO '"'"'0.3.0'"'"'" to load this file. \quit'
	cat src/sql/budget.sql src/sql/writer.sql src/sql/member_program.sql
	echo
	echo '-- enroll() writes the program into member_balance; member_status_guard copies a'
	echo '-- changed program_id there, as it copies the status'
	function_of enroll
	echo
	function_of member_status_guard
	sed -n "/^COMMENT ON FUNCTION loyalty.member_status_guard/p" src/sql/program.sql
	echo 'DROP TRIGGER member_status_guard ON loyalty.member;'
	sed -n '/^CREATE TRIGGER member_status_guard/,/;$/p' src/sql/program.sql
	cat src/sql/member_sales.sql
} > loyalty--0.2.0--0.3.0.sql
