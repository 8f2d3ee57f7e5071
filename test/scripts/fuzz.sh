#!/usr/bin/env bash
# Model-based fuzzing (issue 12 §2): fuzz_model.py applies a random sequence
# of enrolments, sales, partial and repeated returns, earns, redeems,
# adjusts, reversals, expiry runs, card replacements, status changes, retries
# (identical and altered), back-dated operations and tender holds (authorize,
# capture, void, lapse, sweep_holds) to the extension and to a reference
# model written from the README, and after every step compares the answer or
# SQLSTATE, the balance, the lots, the statement, the holds and the ledger's
# shortfalls and lots of the members it touched; at the end check_invariants() must
# be empty.  Fixed
# seeds here (FUZZ_SEEDS, "1 2"; FUZZ_STEPS, 1500 each); tools/fuzz runs any
# seed and length.  On a mismatch the script prints the seed, the step, the
# member's operations, its ledger and the last operations of the run.
set -uo pipefail
source "$(dirname "$0")/tap.bash"

PY=/usr/bin/python3		# Debian's, with python3-psycopg2 (tools/setup.sh)
SEEDS=${FUZZ_SEEDS:-1 2}
STEPS=${FUZZ_STEPS:-1500}
db=loyalty_fuzz_$$
cleanup() { dropdb --if-exists "$db" >/dev/null 2>&1; }
trap cleanup EXIT

plan $(($(echo "$SEEDS" | wc -w) * 2))
"$PY" -c 'import psycopg2' 2>/dev/null || bail "$PY has no psycopg2 (tools/setup.sh installs python3-psycopg2)"
for seed in $SEEDS; do
	dropdb --if-exists "$db" >/dev/null 2>&1
	createdb "$db" || bail "createdb"
	q "$db" "CREATE EXTENSION loyalty" >/dev/null || bail "CREATE EXTENSION"
	start=$(date +%s)
	out=$("$PY" "$(dirname "$0")/fuzz_model.py" \
		"host=$PGHOST port=$PGPORT user=$PGUSER${PGPASSWORD:+ password=$PGPASSWORD} dbname=$db" --seed "$seed" --steps "$STEPS" 2>&1)
	status=$?
	ok $status "seed $seed: $STEPS steps, the extension and the model agree after each ($(($(date +%s) - start)) s)"
	echo "$out" | sed 's/^\([^#]\)/# \1/'
	is "$(q "$db" "SELECT count(*) FROM loyalty.check_invariants()")" 0 "seed $seed: check_invariants() is empty"
done
