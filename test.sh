#!/usr/bin/env bash
# The whole test suite on a throwaway cluster: pg_regress, isolation, pgTAP
# and the TAP scripts (load test, dump/restore, upgrade chain).  Ends with one
# line "N passed, N failed" that totals every suite.  A suite that exits
# non-zero without a failing test to show for it (a schedule that died, a
# bad plan, a script that crashed) counts as one failure more, and so does
# every regression test or spec that did not report at all.
set -euo pipefail
self="$(realpath "$0")"
# the suite runs on a build with assertions enabled (as pgvector's CI does)
export LOYALTY_COPT="${LOYALTY_COPT--DUSE_ASSERT_CHECKING}"
source "$(dirname "$self")/tools/setup.sh"

if [ -z "${LOYALTY_IN_CLUSTER:-}" ]; then
	# pg_virtualenv: a private cluster that never touches an existing one
	mapfile -t cluster_options < <(loyalty_cluster_options)
	exec env LOYALTY_IN_CLUSTER=1 PGPORT="$(loyalty_free_port)" pg_virtualenv -v 15 -t -o "max_connections=60" \
		"${cluster_options[@]}" "$self" "$@"
fi

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
passed=0
failed=0
count() {	# count <log> <ok-regex> <fail-regex>: adds to the totals
	local ok bad
	ok=$(grep -cE "$2" "$1" || true)
	bad=$(grep -cE "$3" "$1" || true)
	passed=$((passed + ok)); failed=$((failed + bad))
	echo "   $ok passed, $bad failed"
	last_ok=$ok last_bad=$bad
}
exited() {	# exited <suite> <status>: a non-zero exit with no failure counted is one
	if [ "$2" -ne 0 ] && [ "$last_bad" -eq 0 ]; then
		failed=$((failed + 1))
		echo "   $1 exited with status $2 and no failing test: counted as a failure"
	fi
}
show() {	# show <file> <lines>: the start of a file, if it exists (no pipe)
	if [ -f "$1" ]; then head -n "$2" "$1"; fi
}

echo "== pg_regress and isolation (make installcheck; each runs even if the other fails)"
rm -f regression.diffs output_iso/regression.diffs
status=0
make -s installcheck ISOLATION= PG_CONFIG="$PG_BINDIR/pg_config" > "$log/installcheck" 2>&1 || status=$?
make -s installcheck REGRESS= PG_CONFIG="$PG_BINDIR/pg_config" >> "$log/installcheck" 2>&1 || status=$?
grep -E '^(ok|not ok|test|     )|\.\.\.' "$log/installcheck" || true
show regression.diffs 200
show output_iso/regression.diffs 200
count "$log/installcheck" '\.\.\. ok|^ok ' '\.\.\. FAILED|^not ok |\.\.\. failed'
exited "make installcheck" "$status"
# every file in sql/ and specs/ must have reported
want=$(( $(find sql -name '*.sql' | wc -l) + $(find specs -name '*.spec' | wc -l) ))
if [ $((last_ok + last_bad)) -lt "$want" ]; then
	failed=$((failed + want - last_ok - last_bad))
	echo "   $((want - last_ok - last_bad)) of $want regression tests and specs did not report: counted as failures"
	tail -n 20 "$log/installcheck"
fi

echo "== pgTAP (pg_prove)"
createdb loyalty_tap
status=0
pg_prove -v -d loyalty_tap test/pgtap/*.sql > "$log/pgtap" 2>&1 || status=$?
{ grep -E '^(not ok|# )|^[^ ]' "$log/pgtap" || true; } | { grep -v '^ok ' || true; } | tail -n 40
count "$log/pgtap" '^\s*ok [0-9]' '^\s*not ok [0-9]'
exited "pg_prove" "$status"

echo "== TAP scripts (prove)"
status=0
prove -v test/scripts/*.sh > "$log/scripts" 2>&1 || status=$?
{ grep -E '^(not ok|#)|^test/|Result' "$log/scripts" || true; } | tail -n 40
count "$log/scripts" '^\s*ok [0-9]' '^\s*not ok [0-9]'
exited "prove" "$status"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
