#!/usr/bin/env bash
# Posting throughput against a plain-INSERT baseline, in one run with the same
# clients: see bench/README.md.  Usage: bash bench/run.sh
# Without PGHOST it starts its own throwaway cluster (pg_virtualenv -t) with
# PostgreSQL's default durability, fsync and synchronous_commit on
# (pg_virtualenv itself would turn fsync off).
# Tunables: BENCH_CLIENTS (4), BENCH_THREADS (2), BENCH_SECONDS (15),
# BENCH_WARMUP (3 seconds per script), BENCH_MEMBERS (10000).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	exec pg_virtualenv -t -o fsync=on -o synchronous_commit=on bash "$here/run.sh" "$@"
fi

PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
CLIENTS=${BENCH_CLIENTS:-4}
THREADS=${BENCH_THREADS:-2}
SECONDS_EACH=${BENCH_SECONDS:-15}
WARMUP=${BENCH_WARMUP:-3}
MEMBERS=${BENCH_MEMBERS:-10000}
FUND=1000000
DB=loyalty_bench

tmp=$(mktemp -d)
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

echo "== setup: $MEMBERS members, each funded with $FUND points"
dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
psql_db -v members="$MEMBERS" -v fund="$FUND" -f "$here/setup.sql"
echo "server $(psql_db -At -c "SELECT current_setting('server_version') || ', fsync=' || current_setting('fsync')
                                  || ', synchronous_commit=' || current_setting('synchronous_commit')
                                  || ', shared_buffers=' || current_setting('shared_buffers')"), $(nproc) cores"

if [ "$(psql_db -At -c "SELECT current_setting('fsync')::bool AND current_setting('synchronous_commit') <> 'off'")" != t ]; then
	echo "warning: fsync or synchronous_commit is off; commits cost less than in production"
fi

# run <name> <script>: warm up, checkpoint, measure; prints "name tps latency"
run() {
	local name=$1 script=$2 out=$tmp/$1.out
	"$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$WARMUP" -D members="$MEMBERS" \
		-f "$script" "$DB" >/dev/null 2>"$tmp/$name.warmup.err" ||
		{ cat "$tmp/$name.warmup.err" >&2; exit 1; }
	psql_db -c "CHECKPOINT"
	"$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$SECONDS_EACH" -D members="$MEMBERS" \
		-f "$script" "$DB" >"$out" 2>"$tmp/$name.err" ||
		{ cat "$out" "$tmp/$name.err" >&2; exit 1; }
	if ! grep -q '^number of failed transactions: 0 ' "$out"; then
		grep '^number of' "$out" >&2
		exit 1
	fi
	echo "$name $(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$out") $(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$out")"
}

echo "== $CLIENTS clients, $THREADS threads, ${WARMUP} s warm-up + ${SECONDS_EACH} s per script"
results=$tmp/results
{
	run baseline "$here/baseline_insert.sql"
	run earn "$here/earn.sql"
	run redeem "$here/redeem.sql"
} >"$results"

awk 'NR == 1 { base = $2 }
	{ printf "%-10s %10.1f %10.3f %10s\n", $1, $2, $3, (NR == 1 ? "1.00" : sprintf("%.2f", $2 / base)) }
	BEGIN { printf "%-10s %10s %10s %10s\n", "script", "tps", "lat ms", "x baseline" }' "$results"

bad=$(psql_db -At -c "SELECT count(*) FROM loyalty.check_invariants()")
echo "after the run: $(psql_db -At -c "SELECT count(*) FROM loyalty.ledger") ledger entries, $bad invariant violations"
[ "$bad" -eq 0 ]
