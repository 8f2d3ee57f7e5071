#!/usr/bin/env bash
# The whole test suite on a throwaway cluster: pg_regress, isolation, pgTAP
# and the TAP scripts (load test, dump/restore, upgrade chain).  Ends with one
# line "N passed, N failed" that totals every suite.
set -euo pipefail
self="$(realpath "$0")"
# the suite runs on a build with assertions enabled (as pgvector's CI does)
export LOYALTY_COPT="${LOYALTY_COPT--DUSE_ASSERT_CHECKING}"
source "$(dirname "$self")/tools/setup.sh"

if [ -z "${LOYALTY_IN_CLUSTER:-}" ]; then
	# pg_virtualenv: a private cluster that never touches an existing one
	exec env LOYALTY_IN_CLUSTER=1 pg_virtualenv -v 15 -t -o "max_connections=60" "$self" "$@"
fi

log=$(mktemp -d)
passed=0
failed=0
count() {	# count <log> <ok-regex> <fail-regex>
	local ok bad
	ok=$(grep -cE "$2" "$1" || true)
	bad=$(grep -cE "$3" "$1" || true)
	passed=$((passed + ok)); failed=$((failed + bad))
	echo "   $ok passed, $bad failed"
}

echo "== pg_regress and isolation (make installcheck; each runs even if the other fails)"
make -s installcheck ISOLATION= PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config > "$log/installcheck" 2>&1 || true
make -s installcheck REGRESS= PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config >> "$log/installcheck" 2>&1 || true
cat "$log/installcheck" | grep -E '^(ok|not ok|test|     )|\.\.\.' || true
[ -f regression.diffs ] && cat regression.diffs | head -200
[ -f output_iso/regression.diffs ] && cat output_iso/regression.diffs | head -200
count "$log/installcheck" '\.\.\. ok|^ok ' '\.\.\. FAILED|^not ok |\.\.\. failed'

echo "== pgTAP (pg_prove)"
createdb loyalty_tap
pg_prove -v -d loyalty_tap test/pgtap/*.sql > "$log/pgtap" 2>&1 || true
grep -E '^(not ok|# )|^[^ ]' "$log/pgtap" | grep -v '^ok ' | tail -40
count "$log/pgtap" '^\s*ok [0-9]' '^\s*not ok [0-9]'

echo "== TAP scripts (prove)"
prove -v test/scripts/*.sh > "$log/scripts" 2>&1 || true
grep -E '^(not ok|#)|^test/|Result' "$log/scripts" | tail -40
count "$log/scripts" '^\s*ok [0-9]' '^\s*not ok [0-9]'
# a script that died before its plan counts as one failure
if grep -qE 'Dubious|Bad plan|No plan found|Parse errors' "$log/scripts"; then
	failed=$((failed + 1)); echo "   a TAP script died or mis-planned"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
