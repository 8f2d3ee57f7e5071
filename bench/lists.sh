#!/usr/bin/env bash
# The analytics lists over a synthetic customer base, each timed against a
# plain GROUP BY member_id over the same sales in the same run: see
# bench/README.md ("Analytics lists").  Usage: bash bench/lists.sh
# Without PGHOST it starts its own throwaway cluster (pg_virtualenv -t);
# with LOYALTY_DESTDIR set that cluster loads the extension from there, as
# test.sh does.  The extension must be built and installed first (make
# install, or a test.sh run).
# Tunables: BENCH_MEMBERS (100000), BENCH_SALES_PER_MEMBER (10), BENCH_LAPSE
# (0; 1: members stop buying at staggered times, see lists_setup.sql),
# BENCH_ROUNDS (3), BENCH_SHARED_BUFFERS (1GB), BENCH_WORK_MEM (64MB),
# BENCH_LISTS (rfm home_stores activity repurchase callbacks member_value
# member_value_pinned winback replenishment_due: which to time).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	opts=(-o "shared_buffers=${BENCH_SHARED_BUFFERS:-1GB}" -o "work_mem=${BENCH_WORK_MEM:-64MB}"
		  -o "max_wal_size=4GB")
	if [ -n "${LOYALTY_DESTDIR:-}" ]; then
		lib=$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)
		opts+=(-o "extension_destdir=$LOYALTY_DESTDIR" -o "dynamic_library_path=$LOYALTY_DESTDIR$lib:$lib")
	fi
	exec pg_virtualenv -v 15 -t "${opts[@]}" bash "$here/lists.sh" "$@"
fi

MEMBERS=${BENCH_MEMBERS:-100000}
PER_MEMBER=${BENCH_SALES_PER_MEMBER:-10}
ROUNDS=${BENCH_ROUNDS:-3}
LISTS=${BENCH_LISTS:-rfm home_stores activity repurchase callbacks member_value member_value_pinned winback replenishment_due}
DB=loyalty_lists_bench
tmp=$(mktemp -d)
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
started=$(date +%s)

echo "== setup: $MEMBERS members, $((MEMBERS * PER_MEMBER)) sales (+3% returns), loaded with the sale triggers disabled"
dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
t0=$(date +%s)
psql_db -v members="$MEMBERS" -v per_member="$PER_MEMBER" -v lapse="${BENCH_LAPSE:-0}" -f "$here/lists_setup.sql"
echo "load: $(( $(date +%s) - t0 )) s"
echo "server $(psql_db -At -c "SELECT current_setting('server_version') || ', shared_buffers=' || current_setting('shared_buffers')
                                  || ', work_mem=' || current_setting('work_mem')
                                  || ', max_parallel_workers_per_gather=' || current_setting('max_parallel_workers_per_gather')"), $(nproc) cores"

# The baseline: one pass over the same sales, grouped by member, with the
# count, sum and max a summary needs.  Every query's rows are consumed
# server-side (no transfer to the client), and every aggregate of the
# baseline is used, so the planner cannot drop one.
baseline="SELECT count(*), sum(n), sum(s), max(m) FROM (SELECT member_id, count(*) AS n, sum(total) AS s,
            max(occurred_at) AS m FROM loyalty.sale WHERE member_id IS NOT NULL GROUP BY member_id) q"
declare -A query=(
	[rfm]="SELECT count(*) FROM loyalty.rfm(now())"
	[home_stores]="SELECT count(*) FROM loyalty.home_stores(now())"
	[activity]="SELECT count(*) FROM loyalty.activity(now(), 'store')"
	[repurchase]="SELECT count(*) FROM loyalty.repurchase(now() - interval '2 years', now(), 90, 'region')"
	[callbacks]="SELECT count(*) FROM loyalty.callbacks(now(), 3)"
	[member_value]="SELECT count(*) FROM loyalty.member_value(now())"
	[member_value_pinned]="SELECT count(*) FROM loyalty.member_value(now(), bg => '(0.243,4.414,0.793,2.426,,)', gg => '(6.25,3.74,15.44,,)')"
	[winback]="SELECT count(*) FROM loyalty.winback(now())"
	[replenishment_due]="SELECT count(*) FROM loyalty.replenishment_due(now(), 7)"
)
ms() { psql_db -At -c "SELECT bench_ms(\$q\$$1\$q\$)"; }

# a warm-up of each (the table's pages into shared buffers), then rounds
# interleaved: baseline, list, baseline, list, ...
ms "$baseline" >/dev/null
for l in $LISTS; do ms "${query[$l]}" >/dev/null; done
for round in $(seq 1 "$ROUNDS"); do
	for l in $LISTS; do
		echo "$l $round $(ms "$baseline") $(ms "${query[$l]}")"
	done
done >"$tmp/results"

echo "== $ROUNDS rounds; each list right after its own baseline run (ms)"
printf "%-19s %10s %10s %8s   %s\n" list baseline list ratio "per-round ratios"
for l in $LISTS; do
	awk -v l="$l" '$1 == l { b[++n] = $3; q[n] = $4; r[n] = $4 / $3 }
		END {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) {
				if (b[j] < b[i]) { x = b[i]; b[i] = b[j]; b[j] = x }
				if (q[j] < q[i]) { x = q[i]; q[i] = q[j]; q[j] = x }
			}
			s = ""; for (i = 1; i <= n; i++) s = s sprintf(" %.2f", r[i])
			m = int((n + 1) / 2)
			printf "%-19s %10.1f %10.1f %8.2f  %s\n", l, b[m], q[m], q[m] / b[m], s
		}' "$tmp/results"
done
psql_db -At -F ' ' -c "SELECT 'rfm segments:', string_agg(segment || ' ' || n, ', ' ORDER BY n DESC)
                         FROM (SELECT segment, count(*) AS n FROM loyalty.rfm(now()) GROUP BY segment) s"

# buyers_of through the GIN indexes: seven calls in one session (PL/pgSQL
# takes a generic plan from the sixth on), each with the sale_line_sku_idx
# scans it made and its time
echo "== buyers_of of one sku, seven calls in one session: sku index scans and ms per call"
psql_db -At <<'SQL'
DO $$
DECLARE
	scans bigint;
	t0 timestamptz;
	n bigint;
	line text := '';
BEGIN
	FOR i IN 1 .. 7 LOOP
		scans := pg_stat_get_xact_numscans('loyalty.sale_line_sku_idx'::regclass);
		t0 := clock_timestamp();
		SELECT count(*) INTO n FROM loyalty.buyers_of(ARRAY['K' || (17 + i)]);
		line := line || format(' %s:%s/%sms', n, pg_stat_get_xact_numscans('loyalty.sale_line_sku_idx'::regclass) - scans,
							   round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000, 1));
	END LOOP;
	RAISE NOTICE 'buyers (scans/time):%', line;
END
$$;
SQL
echo "$(( $(date +%s) - started )) s in all"
