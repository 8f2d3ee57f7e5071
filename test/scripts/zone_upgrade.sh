#!/usr/bin/env bash
# The update to 0.5.0 and the time zones of stores and programs: a row whose
# zone is not a tz database name (an abbreviation, a POSIX spec, another
# spelling; 0.4.0 took them all) stops the update, which names those rows;
# once the DBA has set them, the update runs and the new CHECKs hold.
set -uo pipefail
source "$(dirname "$0")/tap.bash"

db=loyalty_zones_$$
work=$(mktemp -d)
cleanup() {
	dropdb --if-exists "$db" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

plan 7

createdb "$db" || bail "createdb $db failed"
q "$db" "CREATE EXTENSION loyalty VERSION '0.4.0'" >"$work/log" 2>&1 || bail "CREATE EXTENSION loyalty VERSION '0.4.0': $(cat "$work/log")"
q "$db" "INSERT INTO loyalty.program (code, time_zone) VALUES ('p', 'CST'), ('q', 'UTC+5'), ('r', 'Europe/Paris');
		 INSERT INTO loyalty.store (store, time_zone) VALUES ('S1', 'america/chicago'), ('S2', 'America/Chicago'), ('S3', NULL)" \
	>"$work/log" 2>&1
ok $? "0.4.0 takes CST, UTC+5 and america/chicago as time zones" || diag "$(cat "$work/log")"

psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$db" -c "ALTER EXTENSION loyalty UPDATE TO '0.5.0'" >"$work/log" 2>&1
is "$(sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): .*/\1/p' "$work/log")" "23514" "the update refuses the rows (23514)"
is "$(sed -n 's/^ERROR:  [0-9A-Z]\{5\}: //p' "$work/log")" \
	"time zones that are not tz database names: program 'p': 'CST', program 'q': 'UTC+5', store 'S1': 'america/chicago'" \
	"and names every one of them, and only them"
is "$(q "$db" "SELECT extversion FROM pg_extension WHERE extname = 'loyalty'" 2>&1)" "0.4.0" "the extension stays at 0.4.0"

q "$db" "UPDATE loyalty.program SET time_zone = 'America/Chicago' WHERE code = 'p';
		 UPDATE loyalty.program SET time_zone = 'Etc/GMT+5' WHERE code = 'q';
		 UPDATE loyalty.store SET time_zone = 'America/Chicago' WHERE store = 'S1'" >"$work/log" 2>&1 &&
	q "$db" "ALTER EXTENSION loyalty UPDATE TO '0.5.0'" >>"$work/log" 2>&1
ok $? "once the DBA has set them, the update runs" || diag "$(cat "$work/log")"
is "$(q "$db" "SELECT string_agg(code || '=' || time_zone, ' ' ORDER BY code) FROM loyalty.program")" \
	"p=America/Chicago q=Etc/GMT+5 r=Europe/Paris" "the programs keep the zones the DBA set"
is "$(sqlstate "$db" "INSERT INTO loyalty.store (store, time_zone) VALUES ('S4', 'CST')")" "23514" \
	"after the update, the CHECK refuses an abbreviation"
