#!/usr/bin/env bash
# A/B of the tiered back-fill: two builds of loyalty.so in one cluster and
# one database, each round a trigger-less copy and one tiered back-fill per
# build (pos_backfill.sql, fresh sessions after a CHECKPOINT), the builds'
# order alternating by round.  Prints each statement's time and its
# backend's CPU time, each build's over the copy's of its round, and the
# medians.  See bench/README.md
# ("A/B of the tiered back-fill").
# Usage: BENCH_A=/path/a/loyalty.so BENCH_B=/path/b/loyalty.so LOYALTY_DESTDIR=DIR bash bench/backfill_ab.sh
# (DIR: an install of the extension, whose loyalty.so the script overwrites
# with A and B in turn: not test.sh's).  Tunables: BENCH_MEMBERS (20000),
# BENCH_BACKFILL (100000 sales per statement), BENCH_ROUNDS (3).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lib="$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)"
if [ -z "${PGHOST:-}" ]; then
	: "${LOYALTY_DESTDIR:?an install directory whose loyalty.so may be overwritten}"
	exec pg_virtualenv -v 15 -t -o fsync=on -o synchronous_commit=on -o shared_buffers=1GB \
		-o "extension_destdir=$LOYALTY_DESTDIR" -o "dynamic_library_path=$LOYALTY_DESTDIR$lib:$lib" \
		bash "$here/backfill_ab.sh" "$@"
fi
: "${BENCH_A:?loyalty.so of build A}" "${BENCH_B:?loyalty.so of build B}"
MEMBERS=${BENCH_MEMBERS:-20000}
COUNT=${BENCH_BACKFILL:-100000}
ROUNDS=${BENCH_ROUNDS:-3}
DB=loyalty_ab_bench
so="$LOYALTY_DESTDIR$lib/loyalty.so"
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
put() { cp "$1" "$so.new" && mv "$so.new" "$so"; }	# a new file: running backends keep theirs
put "$BENCH_A"
psql_db -v members="$MEMBERS" -f "$here/pos_setup.sql" >/dev/null
psql_db -v members="$MEMBERS" -v moff="$MEMBERS" -v history="$((MEMBERS * 10))" -v baselines=true \
	-f "$here/pos_tier_setup.sql" >/dev/null 2>&1
# the backend's CPU seconds (user + system, from /proc/<pid>/stat), which a
# loaded machine stretches far less than the wall-clock time
cpu_sql="SELECT round(((f[12])::numeric + (f[13])::numeric) / 100, 2)
           FROM (SELECT string_to_array(split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2), ' ') AS f) s"
run() {	# run <label> <trigger> <txn prefix>: prints "<label> <seconds> <cpu seconds>"
	local out
	psql_db -c CHECKPOINT
	out=$(psql_db -At -v trigger="$2" -v count="$COUNT" -v members="$MEMBERS" -v prefix=41 \
		-v moff="$MEMBERS" -v txn="$3" -v target=loyalty.sale -v pidfile=/dev/null \
		-f "$here/pos_backfill.sql" -c "$cpu_sql")
	echo "$1 $(echo "$out" | tail -2 | head -1) $(echo "$out" | tail -1)"
}
for r in $(seq 1 "$ROUNDS"); do
	order="A B"
	[ $((r % 2)) = 0 ] && order="B A"
	run copy false "C$r-"
	for v in $order; do
		if [ "$v" = A ]; then put "$BENCH_A"; else put "$BENCH_B"; fi
		run "$v" true "$v$r-"
	done
done | awk '
	{ printf "round %d: %-4s %8.2f s  cpu %8.2f s\n", int((NR - 1) / 3) + 1, $1, $2, $3 }
	$1 == "copy" { c = $2; cc = $3 }
	$1 != "copy" { n[$1]++; r[$1, n[$1]] = $2 / c; q[$1, n[$1]] = $3 / cc; b[$1, n[$1]] = $3 }
	function sort(a, k, m,   i, j, x) {
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[k, j] < a[k, i]) { x = a[k, i]; a[k, i] = a[k, j]; a[k, j] = x }
	}
	END {
		for (v = 1; v <= 2; v++) {
			k = v == 1 ? "A" : "B"
			m = n[k]; mid = int((m + 1) / 2)
			sort(r, k, m); sort(q, k, m); sort(b, k, m)
			printf "%s / copy: time median %.2f (%.2f - %.2f), cpu median %.2f (%.2f - %.2f); cpu median %.2f s\n",
				k, r[k, mid], r[k, 1], r[k, m], q[k, mid], q[k, 1], q[k, m], b[k, mid]
		}
	}'
echo "tier figures wrong: $(psql_db -At -c "SELECT count(*) FROM loyalty.member_tier mt
	CROSS JOIN LATERAL (SELECT COALESCE(sum(d.spend), 0) AS spend, count(*) FILTER (WHERE d.spend > 0) AS visits,
	                           COALESCE(sum(d.points), 0) AS points
	                      FROM loyalty.tier_day d WHERE d.member_id = mt.member_id
	                       AND d.day BETWEEN mt.window_start AND mt.last_day) f
	WHERE (mt.spend, mt.visits, mt.points) IS DISTINCT FROM (f.spend, f.visits::integer, f.points)"),"\
	"invariant violations: $(psql_db -At -c "SELECT count(*) FROM loyalty.check_invariants()")"
dropdb "$DB"
