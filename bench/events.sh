#!/usr/bin/env bash
# How a consumer of the outbox learns of events, and what each way costs the
# tills.  POS sales (pos_sale.sql, 4 clients, durable commits) run while an
# outbox consumer (events_consumer.py) drains the outbox, in interleaved
# rounds of four modes:
#   on       loyalty.notify = on: each sale's transaction sends a NOTIFY;
#            the consumer LISTENs
#   poll1s   loyalty.notify = off; the consumer drains every second
#   poll100  loyalty.notify = off; the consumer drains every 100 ms
#   seq50    loyalty.notify = off; the consumer reads the outbox sequence
#            every 50 ms and drains when it moved
# Prints, per mode, the sales' tps (median and range of the rounds), the
# events' delay from sale to consumer (median and 95th percentile of the
# medians), the consumer's queries per second, and each mode's tps against
# poll1s measured in the same round.  See bench/README.md ("Events").
# Usage: bash bench/events.sh.  Tunables: BENCH_MEMBERS (20000),
# BENCH_CLIENTS (4), BENCH_ROUNDS (5), BENCH_SECONDS (8 per mode and round).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	exec pg_virtualenv -t -o fsync=on -o synchronous_commit=on -o shared_buffers=512MB bash "$here/events.sh" "$@"
fi

PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
PY=/usr/bin/python3
CLIENTS=${BENCH_CLIENTS:-4}
ROUNDS=${BENCH_ROUNDS:-5}
SECONDS_EACH=${BENCH_SECONDS:-8}
MEMBERS=${BENCH_MEMBERS:-20000}
DB=loyalty_events_bench
tmp=$(mktemp -d)
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

echo "== setup: $MEMBERS members, 10 active rules (pos_setup.sql)"
dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -v members="$MEMBERS" -f "$here/pos_setup.sql" >/dev/null
echo "server $(psql -X -At -d "$DB" -c "SELECT current_setting('server_version') || ', fsync=' || current_setting('fsync')
                                      || ', synchronous_commit=' || current_setting('synchronous_commit')"), $(nproc) cores"
dsn="host=$PGHOST port=$PGPORT user=$PGUSER${PGPASSWORD:+ password=$PGPASSWORD} dbname=$DB"

modes=(on:listen poll1s:poll:1000 poll100:poll:100 seq50:seq:50)
run_mode() {	# run_mode <name> <consumer mode> <seconds> -> "tps events median p95 qps"
	local notify=off
	[ "$1" = on ] && notify=on
	"$PY" "$here/events_consumer.py" "$dsn" "$2" "$(($3 + 1))" "$tmp/consumer.out" &
	local consumer=$!
	sleep 0.5
	PGOPTIONS="-c loyalty.notify=$notify" "$PGBENCH" -n -M prepared -c "$CLIENTS" -j 2 -T "$3" \
		-D members="$MEMBERS" -D prefix=40 -f "$here/pos_sale.sql" "$DB" >"$tmp/pgbench.out" 2>&1
	wait "$consumer"
	echo "$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$tmp/pgbench.out") $(cat "$tmp/consumer.out")"
}

echo "== $CLIENTS clients, one sale per transaction; $ROUNDS rounds of ${SECONDS_EACH} s per mode, interleaved"
for m in "${modes[@]}"; do		# warm-up
	IFS=: read -r name kind ms <<<"$m"
	run_mode "$name" "$kind${ms:+:$ms}" 3 >/dev/null
done
for round in $(seq 1 "$ROUNDS"); do
	for m in "${modes[@]}"; do
		IFS=: read -r name kind ms <<<"$m"
		psql -X -q -d "$DB" -c CHECKPOINT
		echo "$name $round $(run_mode "$name" "$kind${ms:+:$ms}" "$SECONDS_EACH")"
	done
done >"$tmp/results"

# columns: mode round tps events median_ms p95_ms qps
awk -v rounds="$ROUNDS" '
	{ tps[$1, $2] = $3; med[$1, $2] = $5; p95[$1, $2] = $6; qps[$1, $2] = $7; seen[$1] = 1 }
	function median(a, name,   v, i, j, t, n) {
		n = 0
		for (i = 1; i <= rounds; i++) v[++n] = a[name, i]
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
		lo = v[1]; hi = v[n]
		return v[int((n + 1) / 2)]
	}
	END {
		printf "%-8s %9s %19s %10s %10s %8s %22s\n", "mode", "tps", "(min - max)", "delay ms", "p95 ms", "q/s", "tps / poll1s (range)"
		split("on poll1s poll100 seq50", order, " ")
		for (k = 1; k <= 4; k++) {
			s = order[k]
			for (i = 1; i <= rounds; i++) r[s, i] = tps[s, i] / tps["poll1s", i]
			t = median(tps, s); tl = lo; th = hi
			rr = median(r, s); rl = lo; rh = hi
			printf "%-8s %9.1f %8.1f - %8.1f %10.1f %10.1f %8.1f %8.2f (%.2f - %.2f)\n", s, t, tl, th,
				median(med, s), median(p95, s), median(qps, s), rr, rl, rh
		}
	}' "$tmp/results"
