#!/usr/bin/env bash
# Posting throughput against a plain-INSERT baseline, in one run with the same
# clients: see bench/README.md.  Usage: bash bench/run.sh
# Without PGHOST it starts its own throwaway cluster (pg_virtualenv -t) with
# PostgreSQL's default durability, fsync and synchronous_commit on
# (pg_virtualenv itself would turn fsync off).
# Tunables: BENCH_CLIENTS (4), BENCH_THREADS (2), BENCH_ROUNDS (5),
# BENCH_SECONDS (3 per script and round), BENCH_WARMUP (3 seconds per script),
# BENCH_MEMBERS (10000), BENCH_FSYNC (on; "off" for an own cluster that shows
# the CPU cost alone).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	exec pg_virtualenv -t -o "fsync=${BENCH_FSYNC:-on}" -o synchronous_commit=on bash "$here/run.sh" "$@"
fi

PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
CLIENTS=${BENCH_CLIENTS:-4}
THREADS=${BENCH_THREADS:-2}
SECONDS_EACH=${BENCH_SECONDS:-3}
ROUNDS=${BENCH_ROUNDS:-5}
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

pgbench_run() {	# pgbench_run <seconds> <script> <out>
	"$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$1" -D members="$MEMBERS" \
		-f "$2" "$DB" >"$3" 2>"$3.err" || { cat "$3" "$3.err" >&2; exit 1; }
	if ! grep -q '^number of failed transactions: 0 ' "$3"; then
		grep '^number of' "$3" >&2
		exit 1
	fi
}

scripts=(baseline:baseline_insert.sql earn:earn.sql redeem:redeem.sql)
echo "== $CLIENTS clients, $THREADS threads; ${WARMUP} s warm-up per script, then $ROUNDS rounds" \
	"of ${SECONDS_EACH} s per script, interleaved (baseline, earn, redeem, baseline, ...)"
for s in "${scripts[@]}"; do
	pgbench_run "$WARMUP" "$here/${s#*:}" "$tmp/warmup.out"
done
for round in $(seq 1 "$ROUNDS"); do
	for s in "${scripts[@]}"; do
		psql_db -c "CHECKPOINT"
		pgbench_run "$SECONDS_EACH" "$here/${s#*:}" "$tmp/run.out"
		echo "${s%%:*} $round $(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$tmp/run.out")" \
			"$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$tmp/run.out")"
	done
done >"$tmp/results"

# every round, in the order run
awk '{ r[$1] = r[$1] sprintf(" %7.1f", $3) } END { print "tps by round:"; split("baseline earn redeem", o, " "); for (i = 1; i <= 3; i++) printf "  %-10s%s\n", o[i], r[o[i]] }' "$tmp/results"

# per script: median tps of the rounds (and the range), median latency; ratio
# of the medians to the baseline's
sort -k1,1 -k3,3n "$tmp/results" | awk -v rounds="$ROUNDS" '
	{ tps[$1, ++n[$1]] = $3; lat[$1, n[$1]] = $4 }
	END {
		mid = int((rounds + 1) / 2)
		printf "%-10s %10s %17s %8s %11s\n", "script", "tps", "(min - max)", "lat ms", "x baseline"
		split("baseline earn redeem", order, " ")
		for (i = 1; i <= 3; i++) {
			s = order[i]
			# latencies sorted separately for their median
			for (j = 1; j <= rounds; j++) l[j] = lat[s, j]
			for (j = 1; j <= rounds; j++) for (k = j + 1; k <= rounds; k++) if (l[k] < l[j]) { t = l[j]; l[j] = l[k]; l[k] = t }
			med = tps[s, mid]
			if (i == 1) base = med
			printf "%-10s %10.1f %8.1f - %6.1f %8.3f %11.2f\n", s, med, tps[s, 1], tps[s, rounds], l[mid], med / base
		}
	}'

bad=$(psql_db -At -c "SELECT count(*) FROM loyalty.check_invariants()")
echo "after the run: $(psql_db -At -c "SELECT count(*) FROM loyalty.ledger") ledger entries, $bad invariant violations"
[ "$bad" -eq 0 ]
