#!/usr/bin/env bash
# Segments and audiences: what rule.segments and rule.audience cost a sale,
# and how long refresh_segments takes.  See bench/README.md ("Segments").  Usage: bash bench/segments.sh
# Without PGHOST it starts its own throwaway cluster (pg_virtualenv -t),
# fsync and synchronous_commit on; LOYALTY_DESTDIR=DIR makes that cluster
# load the extension from DIR, as test.sh does.
# Tunables: BENCH_MEMBERS (50000 per sale program), BENCH_BIG (100000
# members of the refresh program), BENCH_PER (3 sales each), BENCH_CLIENTS
# (4), BENCH_THREADS (2), BENCH_ROUNDS (5), BENCH_SECONDS (5), BENCH_WARMUP (3),
# BENCH_REFRESH (1; 0: the sale path only).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	opts=(-o fsync=on -o synchronous_commit=on -o shared_buffers=1GB)
	if [ -n "${LOYALTY_DESTDIR:-}" ]; then
		lib="$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)"
		opts+=(-o "extension_destdir=$LOYALTY_DESTDIR" -o "dynamic_library_path=$LOYALTY_DESTDIR$lib:$lib")
	fi
	exec pg_virtualenv -v 15 -t "${opts[@]}" bash "$here/segments.sh" "$@"
fi

PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
CLIENTS=${BENCH_CLIENTS:-4}
THREADS=${BENCH_THREADS:-2}
SECONDS_EACH=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-5}
WARMUP=${BENCH_WARMUP:-3}
MEMBERS=${BENCH_MEMBERS:-50000}
BIG=${BENCH_BIG:-100000}
REFRESH=${BENCH_REFRESH:-1}
[ "$REFRESH" = 1 ] || BIG=0
PER=${BENCH_PER:-3}
DB=loyalty_segments_bench
tmp=$(mktemp -d)
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

echo "== setup: 3 x $MEMBERS members (plain, segd, audd), $BIG members with $PER sales each (big)"
dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
t0=$(date +%s)
psql_db -v members="$MEMBERS" -v big="$BIG" -v per="$PER" -f "$here/segments_setup.sql" | grep -v '^$'
echo "setup took $(( $(date +%s) - t0 )) s; server $(psql_db -At -c "SELECT current_setting('server_version')"), $(nproc) cores"

run() {	# run <seconds> <prefix> <out>
	"$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$1" -D members="$MEMBERS" -D prefix="$2" \
		-f "$here/pos_sale.sql" "$DB" >"$3" 2>"$3.err" || { cat "$3" "$3.err" >&2; exit 1; }
	grep -q '^number of failed transactions: 0 ' "$3" || { grep '^number of' "$3" >&2; exit 1; }
}
# s: program plain (11 rules, none with segments); g: program segd (the same
# 11 rules, 'extra' for segment 'even' only: one index probe per sale); a:
# program audd ('extra' for audience 'even' only: one index probe per sale)
echo "== sale path: $CLIENTS clients, $ROUNDS rounds of ${SECONDS_EACH} s, interleaved s, g, a, s, g, a, ..."
run "$WARMUP" 40 "$tmp/w"; run "$WARMUP" 41 "$tmp/w"; run "$WARMUP" 43 "$tmp/w"
for round in $(seq 1 "$ROUNDS"); do
	for x in s:40 g:41 a:43; do
		psql_db -c CHECKPOINT
		run "$SECONDS_EACH" "${x#*:}" "$tmp/r"
		echo "${x%%:*} $round $(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$tmp/r")"
	done
done >"$tmp/results"
awk -v rounds="$ROUNDS" '
	function median(v, n,   j, m, x) {	# sorts v[1..n], returns its middle
		for (j = 1; j <= n; j++) for (m = j + 1; m <= n; m++) if (v[m] < v[j]) { x = v[j]; v[j] = v[m]; v[m] = x }
		return v[int((n + 1) / 2)]
	}
	{ t[$1, $2] = $3; all[$1] = all[$1] sprintf(" %7.1f", $3) }
	END {
		printf "tps by round:\n  s %s\n  g %s\n  a %s\n", all["s"], all["g"], all["a"]
		n = rounds
		split("s g a", names, " ")
		for (i = 1; i <= 3; i++) {
			for (j = 1; j <= n; j++) v[j] = t[names[i], j]
			md = median(v, n)
			printf "%s median %.1f tps (%.1f - %.1f)\n", names[i], md, v[1], v[n]
		}
		for (i = 2; i <= 3; i++) {
			for (j = 1; j <= n; j++) v[j] = t[names[i], j] / t["s", j]
			md = median(v, n)
			printf "%s/s per round: median %.3f (%.3f - %.3f)\n", names[i], md, v[1], v[n]
		}
	}' "$tmp/results"
psql_db -At -c "SELECT p.code || ' sales where extra fired: ' || count(*) FILTER (WHERE EXISTS (
                    SELECT FROM jsonb_array_elements(s.award->'rules') r WHERE r->>'code' = 'extra' AND (r->>'fired')::boolean))
                    || ' of ' || count(*)
                  FROM loyalty.sale s JOIN loyalty.member m USING (member_id) JOIN loyalty.program p USING (program_id)
                 WHERE p.code IN ('plain', 'segd', 'audd') GROUP BY p.code ORDER BY p.code"

[ "$REFRESH" = 1 ] || exit 0
echo "== refresh: member_features_at over program big alone, then refresh_segments (5 segments of big + 1), 3 times interleaved"
for i in 1 2 3; do
	f=$(psql_db -At -c "\\timing on" -c "SELECT count(*) FROM loyalty.member_features_at(now(), 'big')" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
	r=$(psql_db -At -c "\\timing on" -c "SELECT count(*) FROM loyalty.refresh_segments(now())" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
	echo "round $i: features(big) ${f} ms, refresh_segments ${r} ms"
done
psql_db -c "SELECT segment, members FROM loyalty.segment_sizes(current_date) ORDER BY 1, 2"
