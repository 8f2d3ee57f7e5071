#!/usr/bin/env bash
# Tender holds, call by call: what one authorize and one capture cost next to
# one redeem, and next to the fixed cost of any transaction, in one run with
# the same clients; the pair's tps ratio its calls add up to, and the most a
# pair could reach with its second round trip and commit (a bare
# transaction's time) and no more work than one redeem; and the WAL each
# call writes.  See bench/README.md
# ("Tender holds, call by call").  Usage: bash bench/hold_costs.sh
# Without PGHOST it starts its own throwaway cluster (pg_virtualenv -t) with
# PostgreSQL's default durability, fsync and synchronous_commit on.
# Tunables: BENCH_CLIENTS (4), BENCH_THREADS (2), BENCH_ROUNDS (5),
# BENCH_SECONDS (4 per script and round), BENCH_MEMBERS (10000),
# BENCH_CALLS (2000 calls of each script for the one-client CPU and WAL figures), BENCH_FSYNC
# (on; "off" for an own cluster that shows the CPU cost alone).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	exec pg_virtualenv -t -o "fsync=${BENCH_FSYNC:-on}" -o synchronous_commit=on bash "$here/hold_costs.sh" "$@"
fi

SECONDS_EACH=${BENCH_SECONDS:-4}
ROUNDS=${BENCH_ROUNDS:-5}
CALLS=${BENCH_CALLS:-2000}
DB=loyalty_hold_costs_bench
# shared settings, psql_db, tmp, the database with its funded members
source "$here/hold_setup.sh"
psql_db -c "CREATE TABLE bench_hold_pool (i bigint PRIMARY KEY, hold_id bigint NOT NULL)" \
	-c "CREATE SEQUENCE bench_hold_pool_seq"

# pgbench_run <clients> <-T seconds | -t transactions> <script> <out>
pgbench_run() {
	"$PGBENCH" -n -M prepared -c "$1" -j "$(( $1 < THREADS ? $1 : THREADS ))" "$2" "$3" -D members="$MEMBERS" \
		-f "$here/$4" "$DB" >"$5" 2>"$5.err" || { cat "$5" "$5.err" >&2; exit 1; }
	if ! grep -q '^number of failed transactions: 0 ' "$5"; then
		grep '^number of' "$5" >&2
		exit 1
	fi
}

# the open holds (those the authorize run left), in random order, as the
# pool the capture script takes from; prints how many
fill_pool() {
	psql_db -At -c "TRUNCATE bench_hold_pool" \
		-c "INSERT INTO bench_hold_pool SELECT row_number() OVER (ORDER BY random()), hold_id
		      FROM loyalty.hold WHERE status = 'open'" \
		-c "ALTER SEQUENCE bench_hold_pool_seq RESTART 1" \
		-c "SELECT count(*) FROM bench_hold_pool"
}

# what the capture run left open, captured untimed
drain_pool() {
	psql_db -c "SELECT count(loyalty.capture(hold_id)) FROM loyalty.hold WHERE status = 'open'" >/dev/null
}

scripts=(select1:select1.sql xid:xid.sql redeem:redeem.sql authorize:hold_authorize.sql capture:hold_capture.sql)
names="select1 xid redeem authorize capture"

# one run of script s: capture takes the pool the authorize run before it
# left (each client an equal share, -t), the others run for a time (-T)
run_script() {	# run_script <name:file> <seconds> <clients> <out>
	local name=${1%%:*} file=${1#*:} n
	if [ "$name" = capture ]; then
		n=$(fill_pool)
		[ "$((n / $3))" -gt 0 ] || { echo "no holds to capture" >&2; exit 1; }
		pgbench_run "$3" -t "$((n / $3))" "$file" "$4"
		drain_pool
	else
		pgbench_run "$3" -T "$2" "$file" "$4"
	fi
}

echo "== $CLIENTS clients, $THREADS threads; one warm-up round, then $ROUNDS rounds of" \
	"${SECONDS_EACH} s per script (capture: the holds the authorize run left), interleaved ($names, ...)"
for s in "${scripts[@]}"; do
	run_script "$s" 2 "$CLIENTS" "$tmp/warmup.out"
done
for round in $(seq 1 "$ROUNDS"); do
	for s in "${scripts[@]}"; do
		psql_db -c "CHECKPOINT"
		run_script "$s" "$SECONDS_EACH" "$CLIENTS" "$tmp/run.out"
		echo "${s%%:*} $round $(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$tmp/run.out")"
	done
done >"$tmp/results"

awk -v names="$names" '{ r[$1] = r[$1] sprintf(" %7.1f", $3); t[$1, $2] = $3; if ($2 > n) n = $2 }
	function median(a, m,   i, j, x) {
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
		return a[int((m + 1) / 2)]
	}
	END {
		k = split(names, o, " ")
		print "tps by round:"
		for (i = 1; i <= k; i++) printf "  %-10s%s\n", o[i], r[o[i]]
		printf "%-10s %9s %19s %9s %12s %17s\n", "script", "tps", "(min - max)", "ms/call", "x redeem", "(min - max)"
		for (i = 1; i <= k; i++) {
			for (j = 1; j <= n; j++) { v[j] = t[o[i], j]; q[j] = t[o[i], j] / t["redeem", j] }
			med = median(v, n); lo = v[1]; hi = v[n]; rq = median(q, n)
			ms[o[i]] = 1000 * '"$CLIENTS"' / med
			printf "%-10s %9.1f %9.1f - %7.1f %9.3f %12.2f %8.2f - %6.2f\n", o[i], med, lo, hi, ms[o[i]], rq, q[1], q[n]
		}
		print "(x redeem: the median of the per-round ratios of tps to the redeem of the same round;"
		print " ms/call: clients / median tps, the time one call holds one client)"
		# a pair pays a second round trip and commit (what a bare writing
		# transaction, xid, costs) on top of whatever server work it does
		printf "pair (ms/call of authorize + capture) / redeem: %.2f of the tps of redeem;", \
			ms["redeem"] / (ms["authorize"] + ms["capture"])
		printf " at most %.2f with no more work than one redeem\n", ms["redeem"] / (ms["redeem"] + ms["xid"])
	}' "$tmp/results"

# One client, CALLS calls of each in a row, each its own transaction (psql,
# prepared statements), each of another member (no member has two open
# holds): the server backend's CPU time per call (utime +
# stime from /proc, so other work on the machine moves it less than tps) and
# the WAL per call (pg_stat_wal: the cluster's, nothing else should run).  A
# warm-up pass, then ROUNDS passes: medians and ranges.
declare -A stmt=(
	[select1]="EXECUTE s1;"
	[xid]="EXECUTE x;"
	[redeem]="EXECUTE r(%d, 'c-%s');"
	[authorize]="EXECUTE a(%d, 'c-%s');"
	[capture]="EXECUTE c;"
)
one_client() {	# one_client <name> <calls> <pass>: prints "cpu_ticks records fpi bytes"
	local name=$1 calls=$2 pass=$3 before after
	{
		echo "PREPARE s1 AS SELECT 1;"
		echo "PREPARE x AS SELECT pg_catalog.txid_current();"
		echo "PREPARE r(int, text) AS SELECT redemption_id FROM loyalty.redeem(loyalty.card_issue('40', \$1), 5, 'bench', \$2);"
		echo "PREPARE a(int, text) AS SELECT hold_id FROM loyalty.authorize(loyalty.card_issue('40', \$1), 5, 'bench', \$2);"
		echo "PREPARE c AS $(sed -n '/^WITH/,$p' "$here/hold_capture.sql")"
		echo "SELECT pg_backend_pid() AS bpid \\gset"
		echo "\\setenv BPID :bpid"
		echo "\\! awk '{ print \$14 + \$15 }' /proc/\$BPID/stat > $tmp/cpu0"
		awk -v n="$calls" -v m="$MEMBERS" -v f="${stmt[$name]}" -v tag="$name-$pass" -v seed="$RANDOM" \
			'BEGIN { srand(seed); for (i = 1; i <= m; i++) a[i] = i
			        for (i = 1; i <= n; i++) { k = (i - 1) % m + 1; j = k + int(rand() * (m - k + 1)); x = a[k]; a[k] = a[j]; a[j] = x
			                                   printf f "\n", a[k], tag "-" i } }'
		echo "\\! awk '{ print \$14 + \$15 }' /proc/\$BPID/stat > $tmp/cpu1"
	} >"$tmp/one.sql"
	before=$(wal_stats)
	psql_db -o /dev/null -f "$tmp/one.sql"
	sleep 0.6	# a backend reports its WAL statistics as it exits
	after=$(wal_stats)
	echo "$(( $(cat "$tmp/cpu1") - $(cat "$tmp/cpu0") )) $before $after"
}
wal_stats() { psql_db -At -F ' ' -c "SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal"; }
echo "== one client, $CALLS calls of each in a row, one warm-up pass, then $ROUNDS passes"
psql_db -c "CHECKPOINT"
for pass in $(seq 0 "$ROUNDS"); do
	for name in $names; do
		calls=$CALLS
		[ "$name" != capture ] || calls=$(fill_pool)
		r=$(one_client "$name" "$calls" "$pass")
		[ "$pass" = 0 ] || echo "$name $pass $calls $r"
	done
done >"$tmp/one"
awk -v hz="$(getconf CLK_TCK)" -v names="$names" '
	function median(a, m,   i, j, x) {
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
		return a[int((m + 1) / 2)]
	}
	{ c = $3; cpu[$1, $2] = 1000 * $4 / hz / c; rec[$1, $2] = ($8 - $5) / c; fpi[$1, $2] = ($9 - $6) / c
	  wal[$1, $2] = ($10 - $7) / c; if ($2 > n) n = $2 }
	END {
		k = split(names, o, " ")
		printf "%-10s %12s %17s %9s %15s %8s %6s %10s\n", "script", "cpu ms/call", "(min - max)", "x redeem",
			"(min - max)", "records", "fpi", "WAL bytes"
		for (i = 1; i <= k; i++) {
			for (j = 1; j <= n; j++) { v[j] = cpu[o[i], j]; q[j] = cpu[o[i], j] / cpu["redeem", j]
				r[j] = rec[o[i], j]; f[j] = fpi[o[i], j]; w[j] = wal[o[i], j] }
			med = median(v, n); rq = median(q, n)
			printf "%-10s %12.3f %7.3f - %7.3f %9.2f %6.2f - %6.2f %8.1f %6.2f %10.0f\n", o[i], med, v[1], v[n],
				rq, q[1], q[n], median(r, n), median(f, n), median(w, n)
		}
		print "(medians over the passes; x redeem: the median of the per-pass ratios of cpu time to redeem'"'"'s;"
		print " per call: WAL records, full-page images, bytes)"
	}' "$tmp/one"

bad=$(psql_db -At -c "SELECT count(*) FROM loyalty.check_invariants()")
echo "after the run: $(psql_db -At -c "SELECT count(*) FROM loyalty.hold") holds," \
	"$(psql_db -At -c "SELECT count(*) FROM loyalty.hold WHERE status = 'open'") open, $bad invariant violations"
[ "$bad" -eq 0 ]
