#!/usr/bin/env bash
# Big baskets: a sale at the line cap, its full return and a one-line return
# of it, as ratios of the sale; how soon statement_timeout cancels a full
# return; and a sale of 8,000 lines of {"amount": 1e-16000}.  See
# bench/README.md ("Big baskets").  Usage: bash bench/returns.sh
# Without PGHOST it starts its own throwaway cluster (pg_virtualenv -t).
# Tunables: BENCH_LINES (10000, the line cap), BENCH_ROUNDS (3; medians are
# reported), BENCH_TIMEOUT_SHARE (25: statement_timeout as a percentage of
# the median full return), BENCH_TIMEOUT_MS (a statement_timeout in ms
# instead of the share).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	exec pg_virtualenv -t bash "$here/returns.sh" "$@"
fi

LINES=${BENCH_LINES:-10000}
ROUNDS=${BENCH_ROUNDS:-3}
SHARE=${BENCH_TIMEOUT_SHARE:-25}
DB=loyalty_returns_bench

tmp=$(mktemp -d)
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

# timed <sql>: milliseconds the statement took in a fresh session (psql's
# \timing), or "error <SQLSTATE> after <ms>" when it failed
timed() {
	local out
	out=$(psql -X -q -d "$DB" -v VERBOSITY=verbose -c '\timing on' -c "$1" 2>&1 || true)
	local ms
	ms=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out" | tail -1)
	if grep -q '^ERROR' <<<"$out"; then
		echo "error $(sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' <<<"$out" | head -1) after ${ms:-?}"
	else
		echo "$ms"
	fi
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== setup: one program with a x2 multiplier and a minimum-basket bonus, one member"
dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
psql_db -v lines="$LINES" <<'SQL'
CREATE EXTENSION loyalty;
INSERT INTO loyalty.program (code) VALUES ('p');
SELECT loyalty.enroll(loyalty.card_issue('40', 1), 'p') IS NOT NULL AS enrolled;
INSERT INTO loyalty.rule (program_id, code, kind, categories, multiplier)
SELECT program_id, 'even-x2', 'multiplier', '{even}', 2 FROM loyalty.program;
INSERT INTO loyalty.rule (program_id, code, kind, points, min_basket)
SELECT program_id, 'basket-100', 'bonus', 50, 100 FROM loyalty.program;
-- the basket: N lines, one sku each, every other line in category "even"
CREATE TABLE bench_basket AS
SELECT jsonb_agg(jsonb_build_object('sku', 'SKU-' || i, 'category', CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END,
										'qty', 1, 'amount', 1.25) ORDER BY i) AS lines,
	   count(*) * 1.25 AS total
  FROM generate_series(1, :lines) i;
SQL
echo "server $(psql_db -At -c "SELECT current_setting('server_version')"), $(nproc) cores, $LINES lines per sale"

sale() {	# sale <pos_txn>: the INSERT of a sale of the whole basket
	echo "INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	      SELECT 'S1', '$1', loyalty.card_issue('40', 1), total, lines FROM bench_basket"
}
ret() {	# ret <pos_txn> <of pos_txn> <all|one>: a return of that sale
	local lines="lines" total="total"
	if [ "$3" = one ]; then lines="jsonb_build_array(lines->0)"; total="(lines->0->>'amount')::numeric"; fi
	echo "INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of)
	      SELECT 'S1', '$1', loyalty.card_issue('40', 1), $total, $lines,
	             (SELECT sale_id FROM loyalty.sale WHERE store = 'S1' AND pos_txn = '$2') FROM bench_basket"
}

: >"$tmp/sale"; : >"$tmp/full"; : >"$tmp/one"
for r in $(seq 1 "$ROUNDS"); do
	timed "$(sale "A$r")" >>"$tmp/sale"
	timed "$(ret "A$r-back" "A$r" all)" >>"$tmp/full"
	timed "$(sale "B$r")" >>"$tmp/sale"
	timed "$(ret "B$r-back" "B$r" one)" >>"$tmp/one"
done
for f in sale full one; do
	if grep -q error "$tmp/$f"; then echo "$f failed: $(grep error "$tmp/$f" | head -1)"; exit 1; fi
done
s=$(median <"$tmp/sale"); full=$(median <"$tmp/full"); one=$(median <"$tmp/one")
echo "ms by round: sale $(tr '\n' ' ' <"$tmp/sale")| full return $(tr '\n' ' ' <"$tmp/full")| one-line return $(tr '\n' ' ' <"$tmp/one")"
awk -v s="$s" -v f="$full" -v o="$one" 'BEGIN {
	printf "median ms: sale %.1f   full return %.1f (x sale %.2f)   one-line return %.1f (x sale %.2f)\n", s, f, f / s, o, o / s }'

# explain_sale of a sale at the cap, and the size of its stored award
expl=$(timed "SELECT count(*) FROM loyalty.explain_sale((SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'A1'))")
echo "explain_sale of a sale of $LINES lines: $expl ms; its award stored in $(psql_db -At -c "SELECT pg_column_size(award) FROM loyalty.sale WHERE pos_txn = 'A1'") bytes"

# Cancellation: statement_timeout at a share of the median full return; how
# long the full return of a fresh sale runs until it is cancelled, and by how
# much it overshoots the timeout.
timeout=$(awk -v f="$full" -v p="$SHARE" 'BEGIN { t = int(f * p / 100); print (t < 1 ? 1 : t) }')
timeout=${BENCH_TIMEOUT_MS:-$timeout}
: >"$tmp/cancel"
for r in $(seq 1 "$ROUNDS"); do
	timed "$(sale "C$r")" >/dev/null
	timed "SET statement_timeout = $timeout; $(ret "C$r-back" "C$r" all)" >>"$tmp/cancel"
done
if grep -qv '^error 57014' "$tmp/cancel"; then
	echo "statement_timeout = ${timeout} ms: not every full return was cancelled: $(tr '\n' ' ' <"$tmp/cancel")"
else
	c=$(sed 's/^error 57014 after //' "$tmp/cancel" | median)
	awk -v t="$timeout" -v c="$c" -v p="$(awk -v t="$timeout" -v f="$full" 'BEGIN { print 100 * t / f }')" 'BEGIN {
		printf "statement_timeout = %d ms (%.0f%% of the full return): cancelled after %.1f ms median, %.1f ms past the timeout\n", t, p, c, c - t }'
fi

# Numeric amplification: 8,000 lines of {"amount": 1e-16000} with total 0
# (9 kB of jsonb).
amp=$(timed "INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	SELECT 'S1', 'AMP', loyalty.card_issue('40', 1), 0,
	       jsonb_agg(jsonb_build_object('sku', 'X' || i, 'qty', 1, 'amount', 1e-16000::numeric)) FROM generate_series(1, 8000) i")
case "$amp" in
error*) echo "8,000 lines of amount 1e-16000: refused ($amp ms)" ;;
*)
	size=$(psql_db -At -c "SELECT pg_column_size(award) FROM loyalty.sale WHERE pos_txn = 'AMP'")
	expl=$(timed "SELECT count(*) FROM loyalty.explain_sale((SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'AMP'))")
	echo "8,000 lines of amount 1e-16000: accepted in $amp ms, award stored in $size bytes, explain_sale $expl ms"
	;;
esac
