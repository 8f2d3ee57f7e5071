#!/usr/bin/env bash
# Crash safety: eight POS clients (crash_pos.py, through psycopg2) sell,
# return, earn and redeem while first one backend is killed with SIGKILL (the
# postmaster then resets every connection and recovers) and then the server
# is stopped with "pg_ctl stop -m immediate" and started again.  The clients
# reconnect and send whatever was in doubt again, as the README tells a POS
# to.  Afterwards:
#   - check_invariants() is empty;
#   - every operation a client saw acknowledged is there exactly once, with
#     the ids and points the client was told;
#   - nothing is half there: every key in the database was acknowledged, every
#     sale row has its ledger entry and every sale entry its row, and the
#     ledger adds up to the acknowledged points member by member;
#   - sending every acknowledged operation once more after the restart gets
#     the first answer back and posts nothing.
#
# Runs inside the suite's cluster, which it stops and starts (server_ctl:
# pg_ctlcluster on 15's pg_virtualenv cluster, pg_ctl on 17's).
# CRASH_CLIENTS (8), CRASH_SECONDS (24), CRASH_MEMBERS (30).
set -uo pipefail
source "$(dirname "$0")/tap.bash"

PY=/usr/bin/python3		# Debian's, with python3-psycopg2 (tools/setup.sh)
CLIENTS=${CRASH_CLIENTS:-8}
SECONDS_RUN=${CRASH_SECONDS:-24}
MEMBERS=${CRASH_MEMBERS:-30}
SEED=100
db=loyalty_crash_$$
work=$(mktemp -d)
cleanup() {
	dropdb --if-exists "$db" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

plan 13

suite_cluster || bail "needs the cluster of test.sh (it stops and starts it)"
"$PY" -c 'import psycopg2' 2>/dev/null || bail "$PY has no psycopg2 (tools/setup.sh installs python3-psycopg2)"

createdb "$db" || bail "createdb"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v members="$MEMBERS" -v seed="$SEED" >/dev/null <<'SQL' || bail "setup"
CREATE EXTENSION loyalty;
INSERT INTO loyalty.program (code) VALUES ('crash');
INSERT INTO loyalty.rule (program_id, code, kind, categories, multiplier)
SELECT program_id, 'double-cat1', 'multiplier', '{cat1}', 2 FROM loyalty.program;
SELECT loyalty.enroll(loyalty.card_issue('84', s), 'crash') FROM generate_series(1, :members) s;
SELECT loyalty.earn(loyalty.card_issue('84', s), :seed, 'seed') FROM generate_series(1, :members) s;
SQL

# ---------------------------------------------------------------------------
# The load, a SIGKILL of a backend after 6 s, an immediate stop after 13 s.
# ---------------------------------------------------------------------------
dsn="host=$PGHOST port=$PGPORT user=$PGUSER${PGPASSWORD:+ password=$PGPASSWORD} dbname=$db"	# no empty password= (it would swallow dbname)
"$PY" "$(dirname "$0")/crash_pos.py" run "$dsn" "$work" "$CLIENTS" "$SECONDS_RUN" "$MEMBERS" >"$work/run.out" 2>&1 &
driver=$!

sleep 6
victim=$(q postgres "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND backend_type = 'client backend' ORDER BY pid LIMIT 1")
[ -n "$victim" ] && kill -KILL "$victim"
ok $? "a backend of a POS client killed with SIGKILL (pid ${victim:-none})"

sleep 7
server_ctl stop -m immediate && sleep 1 && server_ctl start
ok $? "the server stopped with -m immediate and started again"

wait "$driver"
status=$?
diag "$(cat "$work/run.out")"
is "$status" 0 "every client ran to the end, reconnecting and resending what was in doubt"

broken=$(sed -n 's/.*operations whose connection broke: \([0-9]*\),.*/\1/p' "$work/run.out")
greater "${broken:-0}" "$CLIENTS" "the crashes broke operations under the clients ($broken)"

lost=$(sed -n 's/.*answers dropped by the till: \([0-9]*\).*/\1/p' "$work/run.out")
greater "${lost:-0}" 0 "the tills dropped answers of committed operations and sent them again ($lost)"

grep -q "terminated by signal 9" "$server_logfile" && grep -q "not properly shut down; automatic recovery in progress" "$server_logfile"
ok $? "the server log shows the killed backend and the recovery after the immediate stop"

# ---------------------------------------------------------------------------
# What the clients saw, next to what the database holds.
# ---------------------------------------------------------------------------
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL' || bail "journal table"
CREATE TABLE journal (j jsonb);
CREATE TABLE replay (op text, key text, result_id bigint, got_points bigint);
SQL
for f in "$work"/client*.jsonl; do
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "\\copy journal (j) FROM '$f'" || bail "load $f"
done
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL' || bail "ack view"
CREATE VIEW ack AS
SELECT j->>'op' AS op, j->>'key' AS key, (j->>'serial')::int AS serial, j->>'store' AS store,
	   (j->>'result_id')::bigint AS result_id, (j->>'got_points')::bigint AS got_points
  FROM journal WHERE j->>'what' = 'ack';
-- every posting the database holds, by the key a client sent (the seed aside)
CREATE VIEW held AS
SELECT CASE WHEN s.return_of IS NULL THEN 'sale' ELSE 'return' END AS op, s.pos_txn AS key,
	   s.sale_id AS result_id, s.points_earned AS points, s.member_id
  FROM loyalty.sale s
UNION ALL
SELECT l.kind, COALESCE(l.idem_key, l.pos_txn), l.entry_id,
	   CASE l.kind WHEN 'redeem' THEN -l.points ELSE l.points END, l.member_id
  FROM loyalty.ledger l WHERE l.kind IN ('earn', 'redeem') AND l.source NOT IN ('sale', 'return') AND l.idem_key IS DISTINCT FROM 'seed';
SQL

bad=$(q "$db" "SELECT string_agg(format('member %s: %s (%s)', member_id, invariant, detail), E'\n')
                 FROM loyalty.check_invariants()")
is "$bad" "" "check_invariants() is empty after the crashes"

bad=$(q "$db" "SELECT string_agg(format('%s %s: acknowledged %s/%s, held %s', a.op, a.key, a.result_id,
                                        a.got_points, h), E'\n')
                 FROM ack a LEFT JOIN held h ON h.op = a.op AND h.key = a.key
                WHERE h.key IS NULL OR h.result_id <> a.result_id OR h.points <> a.got_points")
is "$bad" "" "every acknowledged operation is held, with the id and points the client was told"

bad=$(q "$db" "SELECT string_agg(format('%s %s held %s time(s), acknowledged %s', op, key, held, acked), E'\n')
                 FROM (SELECT op, key, count(*) AS held FROM held GROUP BY 1, 2) h
                 FULL JOIN (SELECT op, key, count(*) AS acked FROM ack GROUP BY 1, 2) a USING (op, key)
                WHERE held IS DISTINCT FROM 1 OR acked IS NULL")
is "$bad" "" "every key held was acknowledged, and is held exactly once (nothing unacknowledged is there)"

bad=$(q "$db" "SELECT string_agg(format('sale %s: points %s, entry %s', s.sale_id, s.points_earned, l), E'\n')
                 FROM loyalty.sale s
                 FULL JOIN (SELECT * FROM loyalty.ledger WHERE source IN ('sale', 'return')) l
                   ON l.member_id = s.member_id AND l.entry_id = s.entry_id
                WHERE s.sale_id IS NULL OR (s.points_earned <> 0 AND l.entry_id IS NULL)
                   OR l.points <> s.points_earned")
is "$bad" "" "nothing is half there: every sale row has its ledger entry and every sale entry its row"

bad=$(q "$db" "WITH acked AS (SELECT serial, sum(CASE op WHEN 'redeem' THEN -got_points ELSE got_points END) AS net
                                FROM ack GROUP BY serial)
               SELECT string_agg(format('member %s: ledger %s, acknowledged %s', c.card, l.net, $SEED + COALESCE(a.net, 0)), E'\n')
                 FROM loyalty.member_card c
                 JOIN (SELECT member_id, sum(points) AS net FROM loyalty.ledger GROUP BY member_id) l USING (member_id)
                 LEFT JOIN acked a ON loyalty.card_issue('84', a.serial) = c.card
                WHERE l.net <> $SEED + COALESCE(a.net, 0)")
is "$bad" "" "member by member, the ledger adds up to the seed and the acknowledged points"

# ---------------------------------------------------------------------------
# Every acknowledged operation sent again: the first answer, nothing posted.
# ---------------------------------------------------------------------------
before=$(q "$db" "SELECT count(*) || '/' || sum(points) FROM loyalty.ledger")
"$PY" "$(dirname "$0")/crash_pos.py" replay "$dsn" "$work" >"$work/replay.out" 2>&1 || diag "$(cat "$work/replay.out")"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "\\copy replay FROM '$work/replay.csv' (FORMAT csv)" || bail "load replay"
bad=$(q "$db" "SELECT string_agg(format('%s %s: first %s/%s, again %s/%s', a.op, a.key, a.result_id, a.got_points,
                                        r.result_id, r.got_points), E'\n')
                 FROM ack a FULL JOIN replay r USING (op, key)
                WHERE r.result_id IS DISTINCT FROM a.result_id OR r.got_points IS DISTINCT FROM a.got_points")
is "$bad" "" "sent again after the restart, every acknowledged operation got its first answer back"
is "$(q "$db" "SELECT count(*) || '/' || sum(points) FROM loyalty.ledger")" "$before" \
	"and the ledger is unchanged (entries/points: $before)"
diag "$(cat "$work/replay.out")" \
	"$(q "$db" "SELECT 'acknowledged: ' || string_agg(op || ' ' || n, ', ') FROM (SELECT op, count(*) n FROM ack GROUP BY 1 ORDER BY 1) x")" \
	"$(q "$db" "SELECT 'in doubt and sent again: ' || count(*) FILTER (WHERE j->>'what' = 'in_doubt') || ' broken, '
                     || count(*) FILTER (WHERE j->>'what' = 'reply_lost') || ' answers dropped' FROM journal")" \
	"$(q "$db" "SELECT 'refused (LY010): ' || count(*) FROM journal WHERE j->>'what' = 'refused'")"
