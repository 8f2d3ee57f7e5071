#!/usr/bin/env bash
# review_tiers at scale: BENCH_MEMBERS members and BENCH_SALES sales' worth of
# tier state, and the time of loyalty.review_tiers(as_of) against a plain
# GROUP BY member_id over the window's sales, in the same run.  See
# bench/README.md ("review_tiers at scale").  Usage: bash bench/tiers_review.sh
# (the issue's size: BENCH_MEMBERS=1000000 BENCH_SALES=10000000).
# Without PGHOST it starts its own throwaway cluster (pg_virtualenv -t) with
# fsync and synchronous_commit on; LOYALTY_DESTDIR=DIR makes that cluster
# load the extension from DIR, as test.sh does.
# Tunables: BENCH_MEMBERS (100000), BENCH_SALES (10 per member), BENCH_DAYS
# (730: the history's span), BENCH_ROUNDS (3), BENCH_FSYNC (on),
# BENCH_SHARED_BUFFERS (1GB), BENCH_WORK_MEM (PostgreSQL's default, 4MB,
# unless set), BENCH_PORT.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	opts=(-o "fsync=${BENCH_FSYNC:-on}" -o synchronous_commit=on -o "shared_buffers=${BENCH_SHARED_BUFFERS:-1GB}"
	      -o max_wal_size=4GB)
	[ -n "${BENCH_WORK_MEM:-}" ] && opts+=(-o "work_mem=$BENCH_WORK_MEM")
	if [ -n "${LOYALTY_DESTDIR:-}" ]; then
		lib="$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)"
		opts+=(-o "extension_destdir=$LOYALTY_DESTDIR" -o "dynamic_library_path=$LOYALTY_DESTDIR$lib:$lib")
	fi
	[ -n "${BENCH_PORT:-}" ] && opts+=(-c "-p $BENCH_PORT")
	exec pg_virtualenv -v 15 -t "${opts[@]}" bash "$here/tiers_review.sh" "$@"
fi

MEMBERS=${BENCH_MEMBERS:-100000}
SALES=${BENCH_SALES:-$((MEMBERS * 10))}
DAYS=${BENCH_DAYS:-730}
ROUNDS=${BENCH_ROUNDS:-3}
DB=loyalty_review_bench

tmp=$(mktemp -d)
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
started=$(date +%s)

echo "== setup: $MEMBERS members, $SALES sales over $DAYS days, the three-tier rolling ladder of bench/pos_tier_setup.sql"
dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
t0=$(date +%s)
psql_db -v members="$MEMBERS" -v sales="$SALES" -v days="$DAYS" -v seed="$here/tier_seed.sql" <<-'SQL' 2>&1 | grep -v -e '^$' -e NOTICE
	CREATE EXTENSION loyalty;
	INSERT INTO loyalty.program (code, time_zone) VALUES ('rev', 'Europe/Paris');
	INSERT INTO loyalty.tier (program_id, code, name, rank, min_spend, min_visits, earn_multiplier, discount_pct)
	SELECT p.program_id, t.*
	  FROM loyalty.program p, (VALUES
		('base',   'Member', 0, NULL::numeric, NULL::integer, 1::numeric, 0::numeric),
		('silver', 'Silver', 1, 450,           5,             1.25,       2),
		('gold',   'Gold',   2, 900,           10,            1.5,        5)
	  ) AS t(code, name, rank, min_spend, min_visits, earn_multiplier, discount_pct)
	 WHERE p.code = 'rev';
	-- members written directly, as enroll() writes them, enrolled three years ago
	INSERT INTO loyalty.member (member_id, program_id, enrolled_at)
	SELECT s, p.program_id, now() - interval '3 years'
	  FROM loyalty.program p, generate_series(1, :members) s WHERE p.code = 'rev';
	SELECT setval(pg_get_serial_sequence('loyalty.member', 'member_id'), :members) \gset
	INSERT INTO loyalty.member_card (card, member_id, issued_at)
	SELECT loyalty.card_issue('42', s), s, now() - interval '3 years' FROM generate_series(1, :members) s;
	INSERT INTO loyalty.member_balance (member_id, card, program_id)
	SELECT s, loyalty.card_issue('42', s), p.program_id
	  FROM loyalty.program p, generate_series(1, :members) s WHERE p.code = 'rev';
	\set program rev
	\set moff 0
	\i :seed
	VACUUM ANALYZE;
	SELECT (SELECT count(*) FROM bench_tier_sale) AS sales, (SELECT count(*) FROM loyalty.tier_day) AS tier_days,
	       (SELECT count(*) FROM loyalty.member_tier) AS member_tiers, (SELECT count(*) FROM loyalty.tier_change) AS tier_changes,
	       pg_size_pretty(pg_total_relation_size('bench_tier_sale')) AS sales_size,
	       pg_size_pretty(pg_total_relation_size('loyalty.tier_day')) AS tier_day_size,
	       pg_size_pretty(pg_total_relation_size('loyalty.member_tier')) AS member_tier_size;
	SELECT count(*) FILTER (WHERE t.rank = 0) AS base, count(*) FILTER (WHERE t.rank = 1) AS silver,
	       count(*) FILTER (WHERE t.rank = 2) AS gold
	  FROM loyalty.member_tier mt JOIN loyalty.tier t USING (tier_id);
SQL
echo "setup took $(( $(date +%s) - t0 )) s"
echo "server $(psql_db -At -c "SELECT current_setting('server_version') || ', fsync=' || current_setting('fsync')
                                  || ', shared_buffers=' || current_setting('shared_buffers')
                                  || ', work_mem=' || current_setting('work_mem')
                                  || ', max_parallel_workers_per_gather=' || current_setting('max_parallel_workers_per_gather')"), $(nproc) cores"

# as_of: the moment the run starts, the same for every round.  The window's
# sales for the baseline: from local midnight of the window's first day
# (as_of's day - tier_window_days, Europe/Paris) to as_of, as the review counts
# the tier days.
as_of=$(psql_db -At -c "SELECT now()")
from=$(psql_db -At -c "SELECT ((('$as_of'::timestamptz AT TIME ZONE 'Europe/Paris')::date - tier_window_days)::timestamp
                               AT TIME ZONE 'Europe/Paris') FROM loyalty.program WHERE code = 'rev'")
echo "== as_of $as_of; window from $from; $ROUNDS rounds, each statement in a fresh session:"
echo "   group_by: SELECT member_id, count(*), sum(total) FROM bench_tier_sale WHERE occurred_at in the window GROUP BY member_id"
echo "   review:   BEGIN; SELECT * FROM loyalty.review_tiers(as_of); ROLLBACK (all its work but the commit)"
echo "   preview:  SELECT count(*) FROM loyalty.review_tiers_preview(as_of) (who would change, writing nothing)"

timed() {	# timed <label> <sql>: milliseconds of the statements (\timing, summed), after a CHECKPOINT
	psql_db -c "CHECKPOINT"
	local ms
	ms=$(psql_db -v as_of="$as_of" -v from="$from" <<<"\\timing on
$2" | awk '/^Time: / { ms += $2 } END { printf "%.3f", ms }')
	echo "$1 $ms"
}
q_group="SELECT count(*) AS members, sum(n) AS sales, sum(s) AS spend FROM (
	SELECT member_id, count(*) AS n, sum(total) AS s FROM bench_tier_sale
	 WHERE occurred_at >= :'from' AND occurred_at < :'as_of' GROUP BY member_id) g;"
q_review="BEGIN;
SELECT * FROM loyalty.review_tiers(:'as_of');
ROLLBACK;"
q_preview="SELECT count(*) FROM loyalty.review_tiers_preview(:'as_of');"
labels="group_by review preview"
for round in $(seq 1 "$ROUNDS"); do
	timed group_by "$q_group"
	timed review "$q_review"
	timed preview "$q_preview"
done >"$tmp/results"

awk -v rounds="$ROUNDS" -v labels="$labels" '
	{ t[$1, ++n[$1]] = $2; r[$1] = r[$1] sprintf(" %9.1f", $2 / 1000) }
	END {
		print "seconds by round:"
		nl = split(labels, o, " ")
		for (i = 1; i <= nl; i++) printf "  %-12s%s\n", o[i], r[o[i]]
		# the ratio of each round (its review and GROUP BY ran
		# one after the other), before the sort below
		for (j = 1; j <= rounds; j++) rt[j] = t["review", j] / t["group_by", j]
		mid = int((rounds + 1) / 2)
		for (i = 1; i <= nl; i++) {
			s = o[i]
			for (j = 1; j <= rounds; j++) for (k = j + 1; k <= rounds; k++)
				if (t[s, k] < t[s, j]) { v = t[s, j]; t[s, j] = t[s, k]; t[s, k] = v }
			med[s] = t[s, mid] / 1000
			printf "%-12s median %8.2f s (%.2f - %.2f)\n", s, med[s], t[s, 1] / 1000, t[s, rounds] / 1000
		}
		printf "review / group_by: %.2f (target <= 2)   preview / group_by: %.2f\n",
			med["review"] / med["group_by"], med["preview"] / med["group_by"]
		for (j = 1; j <= rounds; j++) for (k = j + 1; k <= rounds; k++)
			if (rt[k] < rt[j]) { v = rt[j]; rt[j] = rt[k]; rt[k] = v }
		printf "review / group_by of each round: median %.2f (%.2f - %.2f)\n", rt[mid], rt[1], rt[rounds]
	}' "$tmp/results"
# the candidates hold everyone who changes: the review's preview against one
# that judges every member with a tier row (the members argument), as of the
# same moment; its time is what reading every member's days costs
echo "== the preview of the candidates against a preview of every member with a tier row"
psql_db -c "CHECKPOINT"
apart=$(psql_db -v as_of="$as_of" -At <<-'SQL'
	\timing on
	CREATE TEMP TABLE every AS SELECT * FROM loyalty.review_tiers_preview(:'as_of', ARRAY(SELECT member_id FROM loyalty.member_tier));
	\timing off
	SELECT 'candidates', members_checked, cardinality(candidates) FROM loyalty.tier_review_candidates(:'as_of');
	SELECT 'apart', (SELECT count(*) FROM (SELECT * FROM loyalty.review_tiers_preview(:'as_of') EXCEPT ALL TABLE every) x)
	              + (SELECT count(*) FROM (TABLE every EXCEPT ALL SELECT * FROM loyalty.review_tiers_preview(:'as_of')) x);
SQL
)
echo "$apart" | awk -F'|' '/^Time: / { printf "every member judged: %.1f s\n", $0 ~ /ms/ ? substr($0, 7) / 1000 : 0 }
	$1 == "candidates" { printf "members with a tier row %s, candidates %s (%.1f%%)\n", $2, $3, 100 * $3 / $2 }
	$1 == "apart" { printf "rows apart between the two previews: %s (must be 0)\n", $2 }'
apart_rows=$(echo "$apart" | awk -F'|' '$1 == "apart" { print $2 }')

echo "== the review, committed, then again for the same as_of (idempotent: the second changes nothing)"
psql_db -At -F ' ' -c "SELECT 'first: members_checked', members_checked, 'upgraded', upgraded, 'downgraded', downgraded,
                              'overrides_expired', overrides_expired FROM loyalty.review_tiers('$as_of')"
second=$(psql_db -At -F ' ' -c "SELECT 'second: members_checked', members_checked, 'upgraded', upgraded, 'downgraded', downgraded,
                                       'overrides_expired', overrides_expired FROM loyalty.review_tiers('$as_of')")
echo "$second"
psql_db -At -F ' ' -c "SELECT 'after: base', count(*) FILTER (WHERE t.rank = 0), 'silver', count(*) FILTER (WHERE t.rank = 1),
                              'gold', count(*) FILTER (WHERE t.rank = 2)
                         FROM loyalty.member_tier mt JOIN loyalty.tier t USING (tier_id)"
echo "$(( $(date +%s) - started )) s in all"
echo "$second" | grep -q 'upgraded 0 downgraded 0 overrides_expired 0' && [ "$apart_rows" = 0 ]
