#!/usr/bin/env bash
# The POS load through PgBouncer in transaction pooling mode (Debian's
# pgbouncer): eight pgbench clients share three server connections.  Each
# transaction is a sale, its retry, a sale rolled back, and a two-row INSERT
# whose second row is refused inside a subtransaction (so a server
# connection's buffered writes are rolled back under the next client).
# Midway a rule is added through a direct connection.  Afterwards:
#   - every sale earned exactly what the same sales earn when they are
#     inserted again, in the same order and with the same rule change, over a
#     direct connection into a second database;
#   - every sale after the rule change was awarded by the new rule on every
#     pooled server connection;
#   - nothing of a rolled-back sale is anywhere, and check_invariants() is empty.
set -uo pipefail
source "$(dirname "$0")/tap.bash"

PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
db=loyalty_bouncer_$$
ref=loyalty_bouncer_ref_$$
work=$(mktemp -d)
chmod 755 "$work"
cleanup() {
	[ -f "$work/pgbouncer.pid" ] && kill "$(cat "$work/pgbouncer.pid")" 2>/dev/null
	sleep 0.5
	dropdb --if-exists "$db" >/dev/null 2>&1
	dropdb --if-exists "$ref" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

plan 8

command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || bail "pgbouncer is not installed (tools/setup.sh installs it)"
PATH="$PATH:/usr/sbin"

setup_sql() {	# the program, its members and rules (the reference gets the same)
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" >/dev/null <<'SQL'
CREATE EXTENSION loyalty;
INSERT INTO loyalty.program (code) VALUES ('pool');
INSERT INTO loyalty.rule (program_id, code, kind, categories, multiplier)
SELECT program_id, 'baby-double', 'multiplier', '{baby}', 2 FROM loyalty.program;
INSERT INTO loyalty.rule (program_id, code, kind, points, min_basket)
SELECT program_id, 'big-basket', 'bonus', 50, 150 FROM loyalty.program;
SELECT loyalty.enroll(loyalty.card_issue('86', s), 'pool') FROM generate_series(1, 20) s;
SQL
}
createdb "$db" && createdb "$ref" && setup_sql "$db" && setup_sql "$ref" || bail "setup"

# PgBouncer: transaction pooling, three server connections for the database,
# the suite's superuser as the pooled user; it will not run as root.
for bport in $(shuf -i 30000-39999 -n 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$bport") 2>/dev/null || break
done
printf '"%s" "%s"\n' "$PGUSER" "${PGPASSWORD:-}" >"$work/userlist.txt"
cat >"$work/pgbouncer.ini" <<EOF
[databases]
$db = host=127.0.0.1 port=$PGPORT dbname=$db pool_size=3
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $work/userlist.txt
admin_users = $PGUSER
pool_mode = transaction
max_client_conn = 100
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
EOF
chown -R postgres "$work"
runuser -u postgres -- pgbouncer -d "$work/pgbouncer.ini" || bail "pgbouncer did not start"
for _ in $(seq 1 300); do	# up to 30 s on a loaded machine
	psql -X -q -A -t -h 127.0.0.1 -p "$bport" -d "$db" -c "SELECT 1" >/dev/null 2>&1 && break
	sleep 0.1
done
bq() { psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$bport" -d "$1" -c "$2"; }
is "$(bq "$db" "SELECT count(*) FROM loyalty.member")" 20 "a client reaches the database through PgBouncer"

# One transaction of a till: a sale and its retry, a sale rolled back, and a
# two-row INSERT whose second row does not add up (LY033), caught in a
# subtransaction.  Parameters bound by pgbench's extended protocol.
cat >"$work/till.sql" <<'EOF'
\set m random(1, 20)
\set n random(1, 1000000000)
\set a random(1, 12000)
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S1', :client_id || '-' || :n, loyalty.card_issue('86', :m), :a / 100.0 + 40,
        jsonb_build_array(jsonb_build_object('sku', 'A', 'category', 'baby', 'qty', 1, 'amount', :a / 100.0),
                          jsonb_build_object('sku', 'B', 'category', 'food', 'qty', 1, 'amount', 40)))
ON CONFLICT (store, pos_txn) DO NOTHING;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S1', :client_id || '-' || :n, loyalty.card_issue('86', :m), :a / 100.0 + 40,
        jsonb_build_array(jsonb_build_object('sku', 'A', 'category', 'baby', 'qty', 1, 'amount', :a / 100.0),
                          jsonb_build_object('sku', 'B', 'category', 'food', 'qty', 1, 'amount', 40)))
ON CONFLICT (store, pos_txn) DO NOTHING;
BEGIN;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S1', 'rolled-back-' || :client_id || '-' || :n, loyalty.card_issue('86', :m), 500,
        '[{"sku": "A", "category": "baby", "qty": 1, "amount": 500}]');
ROLLBACK;
SELECT loyalty_bouncer_refused(:client_id, :n, :m);
EOF
refused_sql="CREATE FUNCTION loyalty_bouncer_refused(c int, n int, m int) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
	INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('S2', 'refused-a-' || c || '-' || n, loyalty.card_issue('86', m), 300, '[{\"sku\": \"A\", \"qty\": 1, \"amount\": 300}]'),
	       ('S2', 'refused-b-' || c || '-' || n, loyalty.card_issue('86', m), 999, '[{\"sku\": \"A\", \"qty\": 1, \"amount\": 1}]');
EXCEPTION WHEN SQLSTATE 'LY033' THEN
	NULL;
END
\$\$"
q "$db" "$refused_sql" >/dev/null || bail "refused function"

till() {	# till <phase>: the load through PgBouncer
	"$PGBENCH" -n -M extended -c 8 -j 2 -t "$2" -h 127.0.0.1 -p "$bport" -f "$work/till.sql" "$db" \
		>"$work/pgbench.$1" 2>&1
}
till 1 60
is "$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench.1")/$?" "0/0" \
	"phase 1: 8 clients x 60 transactions through 3 pooled connections, none failed"
servers=$(bq pgbouncer "SHOW SERVERS" | awk -F'|' -v db="$db" '$3 == db' | wc -l)
is "$servers" 3 "PgBouncer served them over its 3 server connections"

q "$db" "SELECT max(sale_id) FROM loyalty.sale" >"$work/phase1.max"
add_rule="INSERT INTO loyalty.rule (program_id, code, kind, points) SELECT program_id, 'pooled', 'bonus', 7 FROM loyalty.program"
q "$db" "$add_rule" >/dev/null || bail "rule change"
till 2 30
is "$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench.2")/$?" "0/0" \
	"phase 2, after a rule was added over a direct connection: none failed"

is "$(q "$db" "SELECT count(*) FROM loyalty.sale WHERE sale_id > $(cat "$work/phase1.max")
                  AND NOT award @> '{\"rules\": [{\"code\": \"pooled\", \"fired\": true}]}'")" 0 \
	"every sale after the rule change earned its bonus, whichever server connection took it"

# The same sales, in the same order, over a direct connection, with the rule
# added at the same point.
cols="store, pos_txn, card, occurred_at, total, lines"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
	-c "\\copy (SELECT $cols FROM loyalty.sale WHERE sale_id <= $(cat "$work/phase1.max") ORDER BY sale_id) TO '$work/p1.csv' (FORMAT csv)" \
	-c "\\copy (SELECT $cols FROM loyalty.sale WHERE sale_id > $(cat "$work/phase1.max") ORDER BY sale_id) TO '$work/p2.csv' (FORMAT csv)" &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$ref" -c "\\copy loyalty.sale ($cols) FROM '$work/p1.csv' (FORMAT csv)" \
		-c "$add_rule" -c "\\copy loyalty.sale ($cols) FROM '$work/p2.csv' (FORMAT csv)" >/dev/null || bail "replay"
q "$db" "SELECT pos_txn, points_earned FROM loyalty.sale ORDER BY pos_txn" >"$work/pooled.txt"
q "$ref" "SELECT pos_txn, points_earned FROM loyalty.sale ORDER BY pos_txn" >"$work/direct.txt"
greater "$(wc -l <"$work/pooled.txt")" 600 "the pooled run recorded its sales (retries once each)"
same_file "$work/pooled.txt" "$work/direct.txt" "every sale earned what it earns over a direct connection"

is "$(q "$db" "SELECT count(*) FROM loyalty.sale WHERE pos_txn LIKE 'rolled-back-%' OR pos_txn LIKE 'refused-%'")/$(
	  q "$db" "SELECT count(*) FROM loyalty.ledger WHERE pos_txn LIKE 'rolled-back-%' OR pos_txn LIKE 'refused-%'")/$(
	  q "$db" "SELECT count(*) FROM loyalty.check_invariants()")" "0/0/0" \
	"nothing of the rolled-back and refused sales is there, and the invariants hold"
