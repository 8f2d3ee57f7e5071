#!/usr/bin/env bash
# Voucher rules on the sale path: BENCH_SALES sales in one INSERT ... SELECT
# whose voucher rule fires (one voucher issued per sale, in the sale's own
# statement) against the same sales whose bonus rule fires instead (points
# only), and against sales no rule fires for; then as many returns whose
# return rule fires (the Christmas tree) against returns without one.  Each
# a ratio to its baseline measured in the same round, rounds interleaved,
# medians and ranges.  See bench/README.md ("Voucher rules").
# Usage: LOYALTY_DESTDIR=... bash bench/voucher_rules.sh   (without PGHOST: its own
# throwaway cluster, with the build of LOYALTY_DESTDIR if set)
# Tunables: BENCH_MEMBERS (10000), BENCH_SALES (20000), BENCH_ROUNDS (3).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${PGHOST:-}" ]; then
	opts=(-o fsync=on -o synchronous_commit=on -o shared_buffers=1GB)
	if [ -n "${LOYALTY_DESTDIR:-}" ]; then
		lib="$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)"
		opts+=(-o "extension_destdir=$LOYALTY_DESTDIR" -o "dynamic_library_path=$LOYALTY_DESTDIR$lib:$lib")
	fi
	exec pg_virtualenv -v 15 -t "${opts[@]}" bash "$here/voucher_rules.sh" "$@"
fi

MEMBERS=${BENCH_MEMBERS:-10000}
SALES=${BENCH_SALES:-20000}
ROUNDS=${BENCH_ROUNDS:-3}
DB=loyalty_voucher_rule_bench

tmp=$(mktemp -d)
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
timed() {	# milliseconds the statement took (psql's \timing)
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}
stats() {	# median, min and max of a column of numbers
	sort -g | awk '{ v[NR] = $1 } END { printf "%s %s %s\n", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

echo "== setup: one program, $MEMBERS members; a voucher rule (sku G), a bonus rule (sku B), a return rule (sku T)"
dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
psql_db -v members="$MEMBERS" <<'SQL'
CREATE EXTENSION loyalty;
INSERT INTO loyalty.program (code) VALUES ('p');
CREATE TABLE bench_member AS
SELECT n, loyalty.card_issue('42', n) AS card, loyalty.enroll(loyalty.card_issue('42', n), 'p') AS member_id
  FROM generate_series(1, :members) n;
INSERT INTO loyalty.voucher_type (program_id, code, kind, value) SELECT program_id, 'gift', 'amount', 5 FROM loyalty.program;
INSERT INTO loyalty.rule (program_id, code, kind, voucher_type, skus)
SELECT program_id, 'gift', 'voucher', 'gift', '{G}' FROM loyalty.program;
INSERT INTO loyalty.rule (program_id, code, kind, points, skus)
SELECT program_id, 'bonus', 'bonus', 5, '{B}' FROM loyalty.program;
INSERT INTO loyalty.rule (program_id, code, kind, voucher_type, skus, on_return)
SELECT program_id, 'tree', 'voucher', 'gift', '{T}', true FROM loyalty.program;
CREATE SEQUENCE bench_txn;
VACUUM ANALYZE;
SQL
echo "server $(psql_db -At -c "SELECT current_setting('server_version')"), $(nproc) cores"

sales() {	# SALES sales of one line of sku $1, tagged $2 (pos_txn prefix)
	echo "INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	      SELECT 'S1', '$2' || nextval('bench_txn'), m.card, 10,
	             jsonb_build_array(jsonb_build_object('sku', '$1', 'qty', 1, 'amount', 10))
	        FROM generate_series(1, $SALES) k JOIN bench_member m ON m.n = 1 + k % $MEMBERS"
}
returns() {	# a return of each sale tagged $1
	echo "INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
	      SELECT 'S1', 'R' || pos_txn, total, lines, sale_id FROM loyalty.sale
	       WHERE pos_txn LIKE '$1%' AND return_of IS NULL"
}

for kind in voucher bonus none tree plain returnv returnp; do : >"$tmp/$kind"; done
for r in $(seq 1 "$ROUNDS"); do
	psql_db -c CHECKPOINT >/dev/null
	# sales: no rule fires, a bonus fires, a voucher rule fires (order rotates)
	for k in $(seq 0 2 | awk -v r="$r" '{ print ($1 + r) % 3 }'); do
		case $k in
			0) timed "$(sales X N$r-)" >>"$tmp/none" ;;
			1) timed "$(sales B B$r-)" >>"$tmp/bonus" ;;
			2) timed "$(sales G G$r-)" >>"$tmp/voucher" ;;
		esac
	done
	# returns of sales of T (the return rule fires) and of X (it does not)
	timed "$(sales T T$r-)" >/dev/null
	if [ $((r % 2)) = 1 ]; then
		timed "$(returns N$r-)" >>"$tmp/returnp"; timed "$(returns T$r-)" >>"$tmp/returnv"
	else
		timed "$(returns T$r-)" >>"$tmp/returnv"; timed "$(returns N$r-)" >>"$tmp/returnp"
	fi
done
paste "$tmp/voucher" "$tmp/bonus" | awk '{ printf "%.2f\n", $1 / $2 }' >"$tmp/r1"
paste "$tmp/voucher" "$tmp/none" | awk '{ printf "%.2f\n", $1 / $2 }' >"$tmp/r2"
paste "$tmp/returnv" "$tmp/returnp" | awk '{ printf "%.2f\n", $1 / $2 }' >"$tmp/r3"
echo "== $SALES sales in one statement, ms: voucher rule fires $(stats <"$tmp/voucher"), bonus fires $(stats <"$tmp/bonus"), no rule $(stats <"$tmp/none")  (median min max)"
echo "   voucher / bonus: $(stats <"$tmp/r1")   voucher / no rule: $(stats <"$tmp/r2")  (ratios per round: median min max)"
echo "== $SALES returns in one statement, ms: return rule fires $(stats <"$tmp/returnv"), none $(stats <"$tmp/returnp")"
echo "   with voucher / without: $(stats <"$tmp/r3")"
echo "vouchers issued: $(psql_db -At -c "SELECT count(*) FROM loyalty.voucher")"
