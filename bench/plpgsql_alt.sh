#!/usr/bin/env bash
# The C sale trigger against the PL/pgSQL trigger a DBA would otherwise write
# (bench/plpgsql_alt/setup.sql): the same ten rules and tier ladder, the same
# rows written, in one run with the same clients, durable commits at the
# default settings; then the same back-fill through each.  See
# bench/README.md ("The PL/pgSQL alternative").  Usage: bash bench/plpgsql_alt.sh
# Without PGHOST it starts its own throwaway cluster (pg_virtualenv -t) with
# fsync and synchronous_commit on and otherwise PostgreSQL's defaults.
# Tunables: BENCH_MEMBERS (100000), BENCH_TIER_HISTORY (10 sales per member),
# BENCH_CLIENTS (4), BENCH_THREADS (2), BENCH_ROUNDS (5), BENCH_SECONDS (5),
# BENCH_WARMUP (3), BENCH_CHECK (2000 sales of the equivalence check; 0
# skips it), BENCH_BACKFILL (20000; 0 skips it), BENCH_FSYNC (on),
# BENCH_SHARED_BUFFERS (PostgreSQL's default unless set), BENCH_PORT.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	opts=(-o "fsync=${BENCH_FSYNC:-on}" -o synchronous_commit=on)
	[ -n "${BENCH_SHARED_BUFFERS:-}" ] && opts+=(-o "shared_buffers=$BENCH_SHARED_BUFFERS")
	[ -n "${BENCH_PORT:-}" ] && opts+=(-c "-p $BENCH_PORT")
	exec pg_virtualenv -t "${opts[@]}" bash "$here/plpgsql_alt.sh" "$@"
fi

PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
CLIENTS=${BENCH_CLIENTS:-4}
THREADS=${BENCH_THREADS:-2}
SECONDS_EACH=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-5}
WARMUP=${BENCH_WARMUP:-3}
MEMBERS=${BENCH_MEMBERS:-100000}
TIER_HISTORY=${BENCH_TIER_HISTORY:-$((MEMBERS * 10))}
CHECK=${BENCH_CHECK:-2000}
BACKFILL=${BENCH_BACKFILL:-20000}
DB=loyalty_plpgsql_bench

tmp=$(mktemp -d)
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
started=$(date +%s)

echo "== setup: tiered program 'tpos', $MEMBERS members, 10 active rules, 3 tiers, $TIER_HISTORY sales of seeded tier history"
dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
psql_db -v members="$MEMBERS" -v moff=0 -v history="$TIER_HISTORY" -v baselines=false \
	-f "$here/pos_tier_setup.sql" 2>&1 | grep -v -e '^$' -e NOTICE
psql_db -v moff=0 -f "$here/plpgsql_alt/setup.sql"
echo "server $(psql_db -At -c "SELECT current_setting('server_version') || ', fsync=' || current_setting('fsync')
                                  || ', synchronous_commit=' || current_setting('synchronous_commit')
                                  || ', shared_buffers=' || current_setting('shared_buffers')"), $(nproc) cores"
if [ "$(psql_db -At -c "SELECT current_setting('fsync')::bool AND current_setting('synchronous_commit') <> 'off'")" != t ]; then
	echo "warning: fsync or synchronous_commit is off; commits cost less than in production"
fi

# The equivalence check: the same sales (fixed rows, back-dated over the
# past 90 days, random members) into loyalty.sale and into plt_sale, from the
# same state: every sale must earn the same points and leave the same tier,
# and the balances, tier days and member tiers must end the same.
check_bad=0
if [ "$CHECK" -gt 0 ]; then
	psql_db -At -F ' ' -v count="$CHECK" -v members="$MEMBERS" <<-'SQL' >"$tmp/check"
		SELECT setseed(0.99) \gset
		CREATE TABLE plt_check_rows AS
		SELECT 'S' || (1 + g % 20) AS store, 'EQ-' || g AS pos_txn, loyalty.card_issue('41', r.m) AS card,
		       r.ts AS occurred_at, x.total, x.lines
		  FROM generate_series(1, :count) g
		  CROSS JOIN LATERAL (SELECT 1 + floor(random() * :members)::integer AS m,
		                             now() - interval '10 minutes' - random() * interval '90 days' AS ts WHERE g > 0) r
		  CROSS JOIN LATERAL (
		    SELECT jsonb_agg(jsonb_build_object('sku', 'SKU' || (1 + floor(random() * 500)::integer),
		                     'category', (ARRAY['baby','food','organic','tobacco','home'])[1 + floor(random() * 5)::integer],
		                     'qty', 1, 'amount', a) ORDER BY k) AS lines, sum(a) AS total
		      FROM (SELECT k, (100 + floor(random() * 5901)) / 100.0 AS a FROM generate_series(1, 3) k WHERE g > 0) y) x
		 ORDER BY r.ts;
		INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) SELECT * FROM plt_check_rows;
		INSERT INTO plt_sale (store, pos_txn, card, occurred_at, total, lines) SELECT * FROM plt_check_rows;
		SELECT count(*), count(*) FILTER (WHERE s.points_earned <> p.points_earned OR s.tier IS DISTINCT FROM p.tier),
		       sum(s.points_earned), sum(p.points_earned), count(*) FILTER (WHERE s.entry_id IS NOT NULL)
		  FROM loyalty.sale s JOIN plt_sale p USING (store, pos_txn) WHERE s.pos_txn LIKE 'EQ-%';
		SELECT count(*) FROM loyalty.member_balance a JOIN plt_balance b USING (member_id)
		 WHERE (a.net, a.lifetime_earned, a.sales) IS DISTINCT FROM (b.net, b.lifetime_earned, b.sales);
		SELECT count(*) FROM loyalty.tier_day a FULL JOIN plt_tier_day b USING (member_id, day)
		 WHERE (a.spend, a.points) IS DISTINCT FROM (b.spend, b.points);
		SELECT count(*) FROM loyalty.member_tier a FULL JOIN plt_member_tier b USING (member_id)
		 WHERE (a.tier_id, a.since, a.held_until, a.window_start, a.last_day, a.spend, a.visits, a.points)
		       IS DISTINCT FROM (b.tier_id, b.since, b.held_until, b.window_start, b.last_day, b.spend, b.visits, b.points);
		SELECT (SELECT count(*) FROM loyalty.tier_change c JOIN loyalty.sale s USING (sale_id) WHERE s.pos_txn LIKE 'EQ-%'),
		       (SELECT count(*) FROM plt_tier_change c JOIN plt_sale s USING (sale_id) WHERE s.pos_txn LIKE 'EQ-%');
		SELECT count(*) FROM loyalty.ledger a JOIN loyalty.sale s ON s.entry_id = a.entry_id
		  JOIN plt_sale ps ON ps.store = s.store AND ps.pos_txn = s.pos_txn JOIN plt_ledger b ON b.entry_id = ps.entry_id
		 WHERE s.pos_txn LIKE 'EQ-%' AND (a.points, a.rule_points, a.effective_at) IS DISTINCT FROM (b.points, b.rule_points, b.effective_at);
	SQL
	mapfile -t c <"$tmp/check"
	read -r n differ cpts ppts earned <<<"${c[0]}"
	read -r up_c up_p <<<"${c[4]}"
	echo "== equivalence check: $n sales (past 90 days) into both from the same state: $differ differ in points or tier" \
		"(points $cpts and $ppts, $earned earn entries); balances differing: ${c[1]}, tier days: ${c[2]}," \
		"member tiers: ${c[3]}, ledger entries: ${c[5]}; upgrades $up_c and $up_p"
	check_bad=$((differ + c[1] + c[2] + c[3] + c[5]))
	[ "$up_c" = "$up_p" ] || check_bad=$((check_bad + 1))
fi

pgbench_run() {	# pgbench_run <seconds> <script> <out> <notify: 0 or 1>
	local notify=off
	[ "$4" = 1 ] && notify=on
	PGOPTIONS="-c loyalty.notify=$notify" "$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$1" \
		-D members="$MEMBERS" -D notify="$4" -D prefix=41 -D moff=0 -f "$2" "$DB" \
		>"$3" 2>"$3.err" || { cat "$3" "$3.err" >&2; exit 1; }
	if ! grep -q '^number of failed transactions: 0 ' "$3"; then
		grep '^number of' "$3" >&2
		exit 1
	fi
}

# st: the C trigger (pos_sale.sql into loyalty.sale, tiered program);
# pt: the PL/pgSQL trigger (plpgsql_alt/sale.sql into plt_sale); stn, ptn:
# the same with loyalty.notify on (each sale NOTIFYs).
names="st pt stn ptn"
scripts=(st:pos_sale.sql:0 pt:plpgsql_alt/sale.sql:0 stn:pos_sale.sql:1 ptn:plpgsql_alt/sale.sql:1)
echo "== $CLIENTS clients, $THREADS threads, one sale (3 lines) per transaction; ${WARMUP} s warm-up" \
	"per script, then $ROUNDS rounds of ${SECONDS_EACH} s per script, interleaved (st, pt, stn, ptn, st, ...)"
for s in "${scripts[@]}"; do
	IFS=: read -r name file notify <<<"$s"
	pgbench_run "$WARMUP" "$here/$file" "$tmp/warmup.out" "$notify"
done
for round in $(seq 1 "$ROUNDS"); do
	for s in "${scripts[@]}"; do
		psql_db -c "CHECKPOINT"
		IFS=: read -r name file notify <<<"$s"
		pgbench_run "$SECONDS_EACH" "$here/$file" "$tmp/run.out" "$notify"
		echo "$name $round $(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$tmp/run.out")" \
			"$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$tmp/run.out")"
	done
done >"$tmp/results"

awk -v names="$names" '{ r[$1] = r[$1] sprintf(" %7.1f", $3) }
	END { print "tps by round:"; n = split(names, o, " "); for (i = 1; i <= n; i++) printf "  %-4s%s\n", o[i], r[o[i]] }' "$tmp/results"
sort -k1,1 -k3,3n "$tmp/results" | awk -v rounds="$ROUNDS" -v names="$names" '
	{ tps[$1, ++n[$1]] = $3; lat[$1, n[$1]] = $4 }
	END {
		mid = int((rounds + 1) / 2)
		printf "%-6s %10s %17s %8s\n", "script", "tps", "(min - max)", "lat ms"
		k = split(names, order, " ")
		for (i = 1; i <= k; i++) {
			s = order[i]
			for (j = 1; j <= rounds; j++) l[j] = lat[s, j]
			for (j = 1; j <= rounds; j++) for (m = j + 1; m <= rounds; m++) if (l[m] < l[j]) { t = l[j]; l[j] = l[m]; l[m] = t }
			printf "%-6s %10.1f %8.1f - %6.1f %8.3f\n", s, tps[s, mid], tps[s, 1], tps[s, rounds], l[mid]
		}
	}'
awk -v rounds="$ROUNDS" -v pairs="st/pt stn/ptn stn/st ptn/pt" '
	{ t[$1, $2] = $3 }
	END {
		mid = int((rounds + 1) / 2)
		printf "%-8s %10s   %s\n", "ratio", "medians", "per round: median (min - max)"
		n = split(pairs, p, " ")
		for (i = 1; i <= n; i++) {
			split(p[i], q, "/")
			for (r = 1; r <= rounds; r++) { x[r] = t[q[1], r] / t[q[2], r]; a[r] = t[q[1], r]; b[r] = t[q[2], r] }
			for (j = 1; j <= rounds; j++) for (k = j + 1; k <= rounds; k++) {
				if (x[k] < x[j]) { v = x[j]; x[j] = x[k]; x[k] = v }
				if (a[k] < a[j]) { v = a[j]; a[j] = a[k]; a[k] = v }
				if (b[k] < b[j]) { v = b[j]; b[j] = b[k]; b[k] = v }
			}
			printf "%-8s %10.2f   %.2f (%.2f - %.2f)%s\n", p[i], a[mid] / b[mid], x[mid], x[1], x[rounds],
				p[i] ~ /^st/ && p[i] !~ /\/st$/ ? "   (target >= 1.3)" : ""
		}
	}' "$tmp/results"
psql_db -At -F ' ' -c "SELECT 'sales: C', (SELECT count(*) FROM loyalty.sale), ' PL/pgSQL', (SELECT count(*) FROM plt_sale),
                              ' average points: C', (SELECT round(avg(points_earned), 1) FROM loyalty.sale),
                              ' PL/pgSQL', (SELECT round(avg(points_earned), 1) FROM plt_sale),
                              ' upgrades: C', (SELECT count(*) FROM loyalty.tier_change WHERE sale_id IS NOT NULL),
                              ' PL/pgSQL', (SELECT count(*) FROM plt_tier_change WHERE sale_id IS NOT NULL)"

# The back-fill: the same sales (pos_backfill.sql, same seed) in one
# INSERT ... SELECT through each trigger, each in a fresh session after a
# CHECKPOINT.
backfill_bad=0
if [ "$BACKFILL" -gt 0 ]; then
	echo "== back-fill: $BACKFILL sales (3 lines each, past year, random members) in one INSERT ... SELECT"
	for t in loyalty.sale:C plt_sale:PL/pgSQL; do
		psql_db -c "CHECKPOINT"
		if out=$(psql_db -At -v trigger=true -v count="$BACKFILL" -v members="$MEMBERS" -v prefix=41 -v moff=0 \
				-v txn=H- -v target="${t%%:*}" -v pidfile=/dev/null -f "$here/pos_backfill.sql" 2>&1); then
			echo "${t#*:} $(echo "$out" | tail -1)" >>"$tmp/backfill"
		else
			echo "${t#*:} FAILED: $(echo "$out" | grep -m1 -E 'ERROR|FATAL')"; backfill_bad=1
		fi
	done
	awk '{ t[$1] = $2; printf "%-9s %8.1f s  %8.0f sales/s\n", $1, $2, '"$BACKFILL"' / $2 }
		END { if (t["C"] > 0) printf "PL/pgSQL / C time: %.2f (target >= 3)\n", t["PL/pgSQL"] / t["C"] }' "$tmp/backfill"
fi

bad=$(psql_db -At -c "SELECT count(*) FROM loyalty.check_invariants()")
tierbad=$(psql_db -At -c "SELECT (SELECT count(*) FROM loyalty.member_tier mt
	CROSS JOIN LATERAL (SELECT COALESCE(sum(d.spend), 0) AS spend, count(*) FILTER (WHERE d.spend > 0) AS visits,
	                           COALESCE(sum(d.points), 0) AS points
	                      FROM loyalty.tier_day d WHERE d.member_id = mt.member_id
	                       AND d.day BETWEEN mt.window_start AND mt.last_day) f
	WHERE (mt.spend, mt.visits, mt.points) IS DISTINCT FROM (f.spend, f.visits::integer, f.points))
	+ (SELECT count(*) FROM plt_member_tier mt
	CROSS JOIN LATERAL (SELECT COALESCE(sum(d.spend), 0) AS spend, count(*) FILTER (WHERE d.spend > 0) AS visits,
	                           COALESCE(sum(d.points), 0) AS points
	                      FROM plt_tier_day d WHERE d.member_id = mt.member_id
	                       AND d.day BETWEEN mt.window_start AND mt.last_day) f
	WHERE (mt.spend, mt.visits, mt.points) IS DISTINCT FROM (f.spend, f.visits::integer, f.points))")
echo "after the run: $bad invariant violations (C), $tierbad member tiers (C and PL/pgSQL) whose figures differ" \
	"from their tier days; $(( $(date +%s) - started )) s in all"
[ "$bad" -eq 0 ] && [ "$tierbad" -eq 0 ] && [ "$check_bad" -eq 0 ] && [ "$backfill_bad" -eq 0 ]
