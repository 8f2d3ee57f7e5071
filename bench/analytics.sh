#!/usr/bin/env bash
# The analytics aggregates at scale: purchase_summary + cadence per member
# against a plain GROUP BY member_id with count/sum/max over the same table,
# in the same run, then bgnbd_fit and gg_fit over the members' summaries.
# See bench/README.md ("Analytics").  Usage: bash bench/analytics.sh
# Without PGHOST it starts its own throwaway cluster (pg_virtualenv -t);
# LOYALTY_DESTDIR=DIR makes that cluster load the extension from DIR, as
# test.sh does.
# Tunables: BENCH_SALES (10000000), BENCH_MEMBERS (1000000), BENCH_ROUNDS
# (3 runs of each query, interleaved), BENCH_WORK_MEM (1GB: the work_mem of
# both queries, so that neither spills), BENCH_SHARED_BUFFERS (2GB, so that
# the table is read from memory in every run), BENCH_PORT (port of an own
# cluster).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	opts=(-o "shared_buffers=${BENCH_SHARED_BUFFERS:-2GB}")
	if [ -n "${LOYALTY_DESTDIR:-}" ]; then
		lib="$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)"
		opts+=(-o "extension_destdir=$LOYALTY_DESTDIR" -o "dynamic_library_path=$LOYALTY_DESTDIR$lib:$lib")
	fi
	[ -n "${BENCH_PORT:-}" ] && opts+=(-c "-p $BENCH_PORT")
	exec pg_virtualenv -v 15 -t "${opts[@]}" bash "$here/analytics.sh" "$@"
fi

SALES=${BENCH_SALES:-10000000}
MEMBERS=${BENCH_MEMBERS:-1000000}
ROUNDS=${BENCH_ROUNDS:-5}
WORK_MEM=${BENCH_WORK_MEM:-1GB}
DB=loyalty_analytics_bench

tmp=$(mktemp -d)
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
# timed <file> <sql>: runs the statement in a fresh session, prints its time in ms
timed() {
	psql_db -c "SET work_mem = '$WORK_MEM'" -c '\timing on' -c "$2" >"$1" 2>&1 || { cat "$1" >&2; exit 1; }
	sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$1" | tail -1
}
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
psql_db -c "CREATE EXTENSION loyalty"
echo "server $(psql_db -At -c "SELECT current_setting('server_version') || ', shared_buffers=' || current_setting('shared_buffers')
								  || ', max_parallel_workers_per_gather=' || current_setting('max_parallel_workers_per_gather')"), $(nproc) cores, work_mem $WORK_MEM"

echo "== load: about $SALES sales of $MEMBERS members into bench_sale (one INSERT ... SELECT, no trigger)"
# The members buy as the BG/NBD model says (with made-up parameters, not a
# fit): a first purchase on a day of 2024-2025, then purchases at a rate
# lambda ~ Exponential (mean set so that a member makes about sales/members
# purchases) until he drops out after one of them with probability
# p ~ Beta(1, 6), up to 2026-01-01.  (The purchases while alive in the window
# are the first K of N ~ Poisson(lambda * window) uniform times, N by the
# normal approximation; K ~ Geometric(p).)  Each member spends around his
# own mean (5 + an exponential of mean 40), each purchase an exponential
# draw around it; about 3% of the repeat rows are returns (return_of set,
# total positive as in loyalty.sale).  Rows in time order, as a sale table
# fills.
start=$(date +%s.%N)
psql_db -v sales="$SALES" -v members="$MEMBERS" <<'SQL'
SET work_mem = '1GB';
SELECT setseed(0.5);
CREATE TABLE bench_sale (
	sale_id		bigint PRIMARY KEY,
	member_id	bigint NOT NULL,
	store		text NOT NULL,
	occurred_at	timestamptz NOT NULL,
	total		numeric NOT NULL,
	return_of	bigint
);
INSERT INTO bench_sale
SELECT row_number() OVER (ORDER BY at), m, 'S' || (m % 20), at,
	   greatest(round((-ln(1 - random()) * spend)::numeric, 2), 0.01), CASE WHEN t > 0 AND random() < 0.03 THEN 0 END
  FROM (SELECT m, t, p0.spend, timestamptz '2024-01-01 00:00+00' + (first_day + t) * interval '1 day'
				   + interval '7 hours' + random() * interval '14 hours' AS at
		  FROM generate_series(1, :members) m
		 CROSS JOIN LATERAL (SELECT -ln(1 - random()) * 0.1 * greatest(:sales::float8 / :members - 1, 0.1) / 9 + 0 * m AS lam,
									1 - random() ^ (1.0 / 6) AS p, floor(random() * 700) AS first_day,
									5 - ln(1 - random()) * 40 AS spend) p0
		 CROSS JOIN LATERAL (SELECT least(floor(ln(1 - random()) / ln(1 - p0.p)), 400)::int AS k,
									greatest(0, round(p0.lam * (730 - p0.first_day)
													  + sqrt(p0.lam * (730 - p0.first_day)) * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())))::int AS n) p1
		 CROSS JOIN LATERAL (SELECT 0::float8 AS t
							 UNION ALL
							 (SELECT random() * (730 - p0.first_day) FROM generate_series(1, p1.n) ORDER BY 1 LIMIT p1.k)) times) q
 ORDER BY at;
SQL
psql_db -c "VACUUM ANALYZE bench_sale"
load=$(echo "$(date +%s.%N) - $start" | bc)
psql_db -At -c "SELECT format('loaded %s sales (%s returns) of %s members in %s s; table %s',
						count(*), count(return_of), count(DISTINCT member_id), round($load, 1),
						pg_size_pretty(pg_table_size('bench_sale'))) FROM bench_sale"

baseline="SELECT count(*), sum(n), sum(s), max(m) FROM (
	SELECT member_id, count(*) AS n, sum(total) AS s, max(occurred_at) AS m FROM bench_sale GROUP BY member_id) q"
analytics="SELECT count(*), sum((ps).x), sum((ps).purchase_days), sum((c).visit_days), max((c).next_expected) FROM (
	SELECT member_id,
		   loyalty.purchase_summary(occurred_at, CASE WHEN return_of IS NULL THEN total ELSE -total END, '2026-01-01') AS ps,
		   loyalty.cadence(occurred_at) AS c
	  FROM bench_sale GROUP BY member_id) q"
echo "== plans (work_mem $WORK_MEM)"
psql_db -c "SET work_mem = '$WORK_MEM'" -c "EXPLAIN (COSTS OFF) $baseline" | sed 's/^/  /'
psql_db -c "SET work_mem = '$WORK_MEM'" -c "EXPLAIN (COSTS OFF) $analytics" | sed 's/^/  /'

echo "== $ROUNDS rounds, interleaved: the baseline GROUP BY, then purchase_summary + cadence"
timed "$tmp/warm" "$baseline" >/dev/null
bt="" at=""
for round in $(seq 1 "$ROUNDS"); do
	b=$(timed "$tmp/b" "$baseline")
	a=$(timed "$tmp/a" "$analytics")
	echo "  round $round: baseline $b ms, analytics $a ms, ratio $(echo "scale=2; $a / $b" | bc)"
	bt+=" $b" at+=" $a"
done
bm=$(echo "$bt" | median)
am=$(echo "$at" | median)
echo "  results: baseline $(sed -n '3p' "$tmp/b" | tr -s ' ')"
echo "           analytics $(sed -n '3p' "$tmp/a" | tr -s ' ')"
ratio=$(echo "scale=2; $am / $bm" | bc)
echo "medians: baseline $bm ms, purchase_summary + cadence $am ms: ratio $ratio (target <= 1.5)"

echo "== the members' summaries (weeks, calibration to 2026-01-01) into bench_summary"
psql_db -c "SET work_mem = '$WORK_MEM'" -c "CREATE TABLE bench_summary AS
	SELECT member_id, (loyalty.purchase_summary(occurred_at, CASE WHEN return_of IS NULL THEN total ELSE -total END, '2026-01-01')).*
	  FROM bench_sale GROUP BY member_id" -c "VACUUM ANALYZE bench_summary"
psql_db -At -c "SELECT format('%s summaries, %s distinct (x, t_x, t), %s distinct (x, m) with x > 0',
						count(*), count(DISTINCT (x, t_x, t)), count(DISTINCT (x, monetary)) FILTER (WHERE x > 0 AND monetary > 0))
				  FROM bench_summary"
for q in "bgnbd_fit:SELECT (loyalty.bgnbd_fit(x, t_x, t)).* FROM bench_summary" \
		 "gg_fit:SELECT (loyalty.gg_fit(x, monetary)).* FROM bench_summary"; do
	name=${q%%:*}
	t=$(timed "$tmp/fit" "${q#*:}")
	echo "$name: $t ms$( [ "$name" = bgnbd_fit ] && echo " (target <= 10000)")"
	sed -n '1,3p' "$tmp/fit" | sed 's/^/  /'
done
