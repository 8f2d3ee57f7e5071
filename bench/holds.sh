#!/usr/bin/env bash
# Tender holds: an authorize + capture pair (two transactions, as a till
# sends them) as a ratio of one redeem, and of two redeems in a row (the
# same two commits), in one run with the same clients;
# see bench/README.md ("Tender holds").  Usage: bash bench/holds.sh
# Without PGHOST it starts its own throwaway cluster (pg_virtualenv -t) with
# PostgreSQL's default durability, fsync and synchronous_commit on.
# Tunables: BENCH_CLIENTS (4), BENCH_THREADS (2), BENCH_ROUNDS (7),
# BENCH_SECONDS (3 per script and round), BENCH_WARMUP (3 seconds per
# script), BENCH_MEMBERS (10000), BENCH_FSYNC (on; "off" for an own cluster
# that shows the CPU cost alone).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	exec pg_virtualenv -t -o "fsync=${BENCH_FSYNC:-on}" -o synchronous_commit=on bash "$here/holds.sh" "$@"
fi

SECONDS_EACH=${BENCH_SECONDS:-3}
ROUNDS=${BENCH_ROUNDS:-7}
WARMUP=${BENCH_WARMUP:-3}
DB=loyalty_holds_bench
# shared settings, psql_db, tmp, the database with its funded members
source "$here/hold_setup.sh"

pgbench_run() {	# pgbench_run <seconds> <script> <out>
	"$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$1" -D members="$MEMBERS" \
		-f "$2" "$DB" >"$3" 2>"$3.err" || { cat "$3" "$3.err" >&2; exit 1; }
	if ! grep -q '^number of failed transactions: 0 ' "$3"; then
		grep '^number of' "$3" >&2
		exit 1
	fi
}

# pgbench counts one run of a script as one transaction: for the pairs, one
# authorize and one capture
scripts=(redeem:redeem.sql pair:hold_pair.sql pair_less:hold_pair_less.sql redeem2:redeem_twice.sql)
names="redeem pair pair_less redeem2"
echo "== $CLIENTS clients, $THREADS threads; ${WARMUP} s warm-up per script, then $ROUNDS rounds" \
	"of ${SECONDS_EACH} s per script, interleaved (redeem, pair, pair_less, redeem2, redeem, ...)"
for s in "${scripts[@]}"; do
	pgbench_run "$WARMUP" "$here/${s#*:}" "$tmp/warmup.out"
done
for round in $(seq 1 "$ROUNDS"); do
	for s in "${scripts[@]}"; do
		psql_db -c "CHECKPOINT"
		pgbench_run "$SECONDS_EACH" "$here/${s#*:}" "$tmp/run.out"
		echo "${s%%:*} $round $(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$tmp/run.out")"
	done
done >"$tmp/results"

# every round, in the order run; and each pair's ratio to the redeem of its own round
awk -v names="$names" '{ r[$1] = r[$1] sprintf(" %7.1f", $3); t[$1, $2] = $3; if ($2 > n) n = $2 }
	END {
		print "tps by round:"; k = split(names, o, " ")
		for (i = 1; i <= k; i++) printf "  %-10s%s\n", o[i], r[o[i]]
		print "ratio to the redeem of the same round:"
		for (i = 2; i <= k; i++) { printf "  %-10s", o[i]; for (j = 1; j <= n; j++) printf " %7.2f", t[o[i], j] / t["redeem", j]; print "" }
		print "pair as a ratio of two redemptions (redeem2) of the same round:"
		printf "  %-10s", "pair"; for (j = 1; j <= n; j++) printf " %7.2f", t["pair", j] / t["redeem2", j]; print ""
	}' "$tmp/results"

# per script: median tps (and range); ratio of the medians to redeem's, and
# the median and range of the per-round ratios
awk -v names="$names" '{ t[$1, $2] = $3; if ($2 > n) n = $2 }
	function median(a, m,   i, j, x) {
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
		return a[int((m + 1) / 2)]
	}
	END {
		k = split(names, o, " ")
		printf "%-10s %9s %19s %12s %12s %17s\n", "script", "tps", "(min - max)", "x redeem", "round ratio", "(min - max)"
		for (i = 1; i <= k; i++) {
			for (j = 1; j <= n; j++) { v[j] = t[o[i], j]; q[j] = t[o[i], j] / t["redeem", j] }
			med = median(v, n); lo = v[1]; hi = v[n]
			if (i == 1) base = med
			rq = median(q, n)
			printf "%-10s %9.1f %9.1f - %7.1f %12.2f %12.2f %8.2f - %6.2f\n", o[i], med, lo, hi, med / base, rq, q[1], q[n]
		}
	}' "$tmp/results"

bad=$(psql_db -At -c "SELECT count(*) FROM loyalty.check_invariants()")
echo "after the run: $(psql_db -At -c "SELECT count(*) FROM loyalty.hold") holds, $(psql_db -At -c "SELECT count(*) FROM loyalty.ledger WHERE kind = 'redeem'") redeem entries, $bad invariant violations"
[ "$bad" -eq 0 ]
