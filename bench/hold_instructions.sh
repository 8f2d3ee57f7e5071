#!/usr/bin/env bash
# Tender holds in instructions: what one authorize, one capture, one redeem,
# a bare transaction (txid_current) and SELECT 1 cost the server, counted by
# valgrind's callgrind in a single-user backend (postgres --single: no
# client, no network, no other session) -- a figure the noise of a shared
# machine does not move, unlike tps.  Per call: (instructions of 2N calls -
# instructions of N calls) / N, each call its own transaction and of another
# member, as a ratio of redeem's.  See bench/README.md ("Tender holds, call by
# call").  Usage: bash bench/hold_instructions.sh   (needs valgrind; BENCH_N, 150)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	exec pg_virtualenv -t bash "$here/hold_instructions.sh" "$@"
fi
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
N=${BENCH_N:-150}
MEMBERS=3000
DB=loyalty_hold_instructions_bench
out=$(mktemp -d)
chmod 777 "$out"	# the single-user backend runs as the cluster's owner
trap 'rm -rf "$out"' EXIT

dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -v members=$MEMBERS -v fund=1000000 -f "$here/setup.sql" >/dev/null
# warm: some holds, captures and redemptions already made (members 1-300)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" \
	-c "SELECT count(loyalty.authorize(loyalty.card_issue('40', s), 5, 'w', 'w' || s)) FROM generate_series(1, 300) s" \
	-c "SELECT count(loyalty.capture(hold_id)) FROM loyalty.hold WHERE status = 'open'" \
	-c "SELECT count(loyalty.redeem(loyalty.card_issue('40', s), 5, 'w', 'r' || s)) FROM generate_series(1, 300) s" \
	-c "CHECKPOINT" >/dev/null
read -r datadir conf owner destdir libpath < <(psql -X -At -F ' ' -d "$DB" -c "SELECT current_setting('data_directory'),
	current_setting('config_file'), (SELECT rolname FROM pg_roles WHERE oid = 10),
	COALESCE(NULLIF(current_setting('extension_destdir', true), ''), '-'), current_setting('dynamic_library_path')")
ver=$(psql -X -At -d "$DB" -c "SELECT current_setting('server_version_num')::int / 10000")
cluster=$(pg_lsclusters -h | awk -v d="$datadir" '$6 == d { print $1 " " $2 }')
pg_ctlcluster $cluster stop
trap 'pg_ctlcluster $cluster start; rm -rf "$out"' EXIT
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u "$owner" -- "$@"; else "$@"; fi; }
single() {	# single <name> <n>: instructions of the backend running <name>_<n>.sql
	local opts=(-c "config_file=$conf" -c "dynamic_library_path=$libpath")
	[ "$destdir" = - ] || opts+=(-c "extension_destdir=$destdir")
	as_owner valgrind --tool=callgrind --callgrind-out-file="$out/cg_$1_$2" \
		"/usr/lib/postgresql/$ver/bin/postgres" --single -D "$datadir" "${opts[@]}" "$DB" \
		<"$out/$1_$2.sql" >"$out/$1_$2.log" 2>&1
	sed -n 's/^totals: \([0-9]*\).*/\1/p' "$out/cg_$1_$2"
}
calls() {	# calls <n> <format>: n statements, each of another member (301..MEMBERS)
	shuf -i 301-$MEMBERS -n "$1" | awk -v f="$2" -v n="$1" '{ printf f "\n", $1, n, NR }'
}
for n in $N $((2 * N)); do
	awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) print "SELECT 1" }' >"$out/select1_$n.sql"
	awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) print "SELECT txid_current()" }' >"$out/xid_$n.sql"
	calls "$n" "SELECT redemption_id FROM loyalty.redeem(loyalty.card_issue('40', %d), 5, 'v', 'r-%d-%d')" >"$out/redeem_$n.sql"
	calls "$n" "SELECT hold_id FROM loyalty.authorize(loyalty.card_issue('40', %d), 5, 'v', 'a-%d-%d')" >"$out/authorize_$n.sql"
	for s in select1 xid redeem authorize; do echo "$s $n $(single $s $n)"; done
	# capture the holds just authorized, by the hold_ids the backend printed
	grep -o 'hold_id = "[0-9]*"' "$out/authorize_$n.log" | grep -o '[0-9]*' |
		awk '{ printf "SELECT status FROM loyalty.capture(%s)\n", $1 }' >"$out/capture_$n.sql"
	[ "$(wc -l <"$out/capture_$n.sql")" -eq "$n" ] || { echo "authorize made no $n holds" >&2; exit 1; }
	echo "capture $n $(single capture $n)"
done >"$out/ir"
awk -v N="$N" '{ ir[$1, $2] = $3 }
	END {
		k = split("select1 xid redeem authorize capture", o, " ")
		for (i = 1; i <= k; i++) x[o[i]] = (ir[o[i], 2 * N] - ir[o[i], N]) / N
		x["pair"] = x["authorize"] + x["capture"]; o[++k] = "pair"
		printf "%-10s %14s %9s\n", "call", "instructions", "x redeem"
		for (i = 1; i <= k; i++) printf "%-10s %14.0f %9.3f\n", o[i], x[o[i]], x[o[i]] / x["redeem"]
		print "(per call, in a single-user backend: parse, plan, execute and commit of one statement;"
		print " pair = authorize + capture)"
	}' "$out/ir"
