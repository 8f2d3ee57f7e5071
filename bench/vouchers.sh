#!/usr/bin/env bash
# Vouchers: a bulk issue of BENCH_VOUCHERS vouchers in one statement
# (SELECT loyalty.issue_voucher(...) FROM ...) against a bare INSERT of the
# same rows into a copy of loyalty.voucher, and use_voucher against a bare
# INSERT of a use-shaped row (pgbench), each a ratio in the same run, rounds
# interleaved, medians and ranges.  See bench/README.md ("Vouchers").
# Usage: bash bench/vouchers.sh   (without PGHOST: its own throwaway cluster,
# with the build of LOYALTY_DESTDIR if set)
# Tunables: BENCH_MEMBERS (100000), BENCH_VOUCHERS (1000000; a multiple of
# BENCH_MEMBERS), BENCH_ROUNDS (3), BENCH_SECONDS (5 per pgbench run),
# BENCH_CLIENTS (2), BENCH_FSYNC (on; off: the CPU cost alone, for its own cluster).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	opts=(-o "fsync=${BENCH_FSYNC:-on}" -o "synchronous_commit=${BENCH_FSYNC:-on}")
	if [ -n "${LOYALTY_DESTDIR:-}" ]; then
		lib="$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)"
		opts+=(-o "extension_destdir=$LOYALTY_DESTDIR" -o "dynamic_library_path=$LOYALTY_DESTDIR$lib:$lib")
	fi
	exec pg_virtualenv -v 15 -t "${opts[@]}" bash "$here/vouchers.sh" "$@"
fi

MEMBERS=${BENCH_MEMBERS:-100000}
VOUCHERS=${BENCH_VOUCHERS:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
CLIENTS=${BENCH_CLIENTS:-2}
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
PER_MEMBER=$((VOUCHERS / MEMBERS))
DB=loyalty_voucher_bench

tmp=$(mktemp -d)
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
timed() {	# milliseconds the statement took (psql's \timing)
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}
stats() {	# median, min and max of a column of numbers
	sort -g | awk '{ v[NR] = $1 } END { printf "%s %s %s\n", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

echo "== setup: one program, $MEMBERS members, a voucher type; copies of voucher and voucher_use"
dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
psql_db -v members="$MEMBERS" <<'SQL'
CREATE EXTENSION loyalty;
INSERT INTO loyalty.program (code) VALUES ('p');
CREATE TABLE bench_member AS
SELECT loyalty.card_issue('41', n) AS card, loyalty.enroll(loyalty.card_issue('41', n), 'p') AS member_id
  FROM generate_series(1, :members) n;
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, valid_days)
SELECT program_id, 'five', 'amount', 5, 30 FROM loyalty.program;
-- for use_voucher: vouchers that can be used many times (each use a row)
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, max_uses)
SELECT program_id, 'many', 'amount', 5, 1000000 FROM loyalty.program;
CREATE TABLE bench_code AS
SELECT row_number() OVER () AS i, card, loyalty.issue_voucher('many', card) AS code
  FROM (SELECT card FROM bench_member ORDER BY member_id LIMIT 10000) m;
CREATE UNIQUE INDEX ON bench_code (i);
-- the baselines: the same columns, CHECKs, defaults and indexes, no trigger, no foreign key
CREATE TABLE bench_voucher (LIKE loyalty.voucher INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE TABLE bench_use (LIKE loyalty.voucher_use INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE SEQUENCE bench_txn;
VACUUM ANALYZE;
SQL
echo "server $(psql_db -At -c "SELECT current_setting('server_version')"), $(nproc) cores; $VOUCHERS vouchers = $MEMBERS members x $PER_MEMBER"
echo "indexes: loyalty.voucher $(psql_db -At -c "SELECT count(*) FROM pg_index WHERE indrelid = 'loyalty.voucher'::regclass"), bench_voucher $(psql_db -At -c "SELECT count(*) FROM pg_index WHERE indrelid = 'bench_voucher'::regclass")"

issue="SELECT count(loyalty.issue_voucher('five', m.card)) FROM bench_member m, generate_series(1, $PER_MEMBER) k"
bare="INSERT INTO bench_voucher (code, voucher_type_id, member_id, issued_at, valid_from, valid_to, uses_left)
      SELECT upper(substr(md5(random()::text), 1, 13)), 1, m.member_id, now(), now(), now() + interval '30 days', 1
        FROM bench_member m, generate_series(1, $PER_MEMBER) k"
clear() {
	psql_db -c "TRUNCATE bench_voucher" -c "DELETE FROM loyalty.outbox" -c "DELETE FROM loyalty.voucher WHERE voucher_type_id = 1" \
		-c "VACUUM loyalty.voucher, loyalty.outbox, bench_voucher" -c CHECKPOINT >/dev/null
}

echo "== bulk issue of $VOUCHERS vouchers in one statement vs a bare INSERT of the same rows ($ROUNDS rounds, interleaved)"
: >"$tmp/issue"; : >"$tmp/bare"; : >"$tmp/issue_ratio"
for r in $(seq 1 "$ROUNDS"); do
	clear
	b=$(timed "$bare")
	clear
	i=$(timed "$issue")
	echo "$b" >>"$tmp/bare"; echo "$i" >>"$tmp/issue"
	awk -v i="$i" -v b="$b" 'BEGIN { print i / b }' >>"$tmp/issue_ratio"
	echo "round $r: bare INSERT $b ms, issue_voucher $i ms"
done
read -r bm blo bhi < <(stats <"$tmp/bare")
read -r im ilo ihi < <(stats <"$tmp/issue")
read -r rm rlo rhi < <(stats <"$tmp/issue_ratio")
echo "bulk issue: median ${im} ms (${ilo}-${ihi}), bare INSERT median ${bm} ms (${blo}-${bhi}); ratio per round: median ${rm} (${rlo}-${rhi}); target <= 3"

cat >"$tmp/use.sql" <<'PGB'
\set v random(1, 10000)
SELECT u.discount FROM bench_code c, loyalty.use_voucher(c.code, c.card, 'S1', 'U' || nextval('bench_txn'), '[{"sku":"A","qty":1,"amount":20}]') u WHERE c.i = :v;
PGB
cat >"$tmp/base.sql" <<'PGB'
\set v random(1, 10000)
INSERT INTO bench_use (voucher_id, member_id, card, store, pos_txn, used_at, discount, points, uses_left, lines_hash)
SELECT c.i, c.i, c.card, 'S1', 'U' || nextval('bench_txn'), now(), 5, 0, 1, 0 FROM bench_code c WHERE c.i = :v;
PGB
run() {	# tps of a pgbench script
	psql_db -c CHECKPOINT >/dev/null
	"$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER_RUN" -f "$1" "$DB" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p'
}
echo "== use_voucher vs a bare INSERT of a use-shaped row (pgbench, $CLIENTS clients, ${SECONDS_PER_RUN} s, $ROUNDS rounds interleaved)"
run "$tmp/base.sql" >/dev/null	# warm-up
run "$tmp/use.sql" >/dev/null
: >"$tmp/use_ratio"; : >"$tmp/use_us"; : >"$tmp/hash_us"
for r in $(seq 1 "$ROUNDS"); do
	b=$(run "$tmp/base.sql")
	u=$(run "$tmp/use.sql")
	awk -v u="$u" -v b="$b" 'BEGIN { print u / b }' >>"$tmp/use_ratio"
	awk -v u="$u" -v c="$CLIENTS" 'BEGIN { print 1000000 * c / u }' >>"$tmp/use_us"
	echo "round $r: bare INSERT $b tps, use_voucher $u tps"
done
read -r um ulo uhi < <(stats <"$tmp/use_ratio")
echo "use_voucher tps / bare INSERT tps: median ${um} (${ulo}-${uhi})"
echo "== the lines' hash each use computes for its retry check (1,000,000 jsonb_hash_extended of the bench's lines, less the same SELECT without it)"
for r in $(seq 1 "$ROUNDS"); do
	e=$(timed "SELECT count(i) FROM generate_series(1, 1000000) i")
	h=$(timed "SELECT count(jsonb_hash_extended('[{\"sku\":\"A\",\"qty\":1,\"amount\":20}]'::jsonb, i)) FROM generate_series(1, 1000000) i")
	awk -v h="$h" -v e="$e" 'BEGIN { print (h - e) / 1000 }' >>"$tmp/hash_us"
done
read -r hm hlo hhi < <(stats <"$tmp/hash_us")
read -r lm llo lhi < <(stats <"$tmp/use_us")
echo "lines hash: median ${hm} us a call (${hlo}-${hhi}); a use_voucher: median ${lm} us ($CLIENTS clients / tps); share $(awk -v h="$hm" -v l="$lm" 'BEGIN { printf "%.4f", h / l }')"
psql_db -At -c "SELECT 'uses recorded ' || count(*) || ', uses_left consistent: ' ||
	(SELECT bool_and(v.uses_left = 1000000 - (SELECT count(*) FROM loyalty.voucher_use u WHERE u.voucher_id = v.voucher_id))
	   FROM loyalty.voucher v WHERE v.voucher_type_id = 2) FROM loyalty.voucher_use"
