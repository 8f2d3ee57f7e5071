#!/usr/bin/env bash
# Events: any role, even one with no grants, can LISTEN on a channel, so the
# NOTIFY on loyalty_events carries no payload -- only the outbox, which such a
# role cannot read, has the events.  With loyalty.notify = on, a transaction
# notifies once, however many sales it makes; a rolled-back one not at all.
# By default (off) no transaction notifies, and the outbox has the events.
set -uo pipefail
source "$(dirname "$0")/tap.bash"

db=loyalty_events_$$
snoop=loyalty_snoop_$$
work=$(mktemp -d)
cleanup() {
	dropdb --if-exists "$db" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $snoop" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
plan 9

createdb "$db" || bail "createdb $db failed"
q "$db" "CREATE EXTENSION loyalty;
	CREATE ROLE $snoop;
	INSERT INTO loyalty.program (code) VALUES ('ev');
	SELECT loyalty.enroll('4000000000000002', 'ev');" >/dev/null || bail "setup failed"

# One session that listens as the role without grants, then makes sales as
# the superuser: psql prints each notification it receives after a command.
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >"$work/out" 2>&1 <<SQL
SET loyalty.notify = on;
SET ROLE $snoop;
LISTEN loyalty_events;
RESET ROLE;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S-EV', 'T-EV-1', '4000000000000002', 10, '[{"sku":"A","qty":1,"amount":10}]');
SELECT 'after one sale';
BEGIN;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
SELECT 'S-EV', 'T-EV-' || g, '4000000000000002', 10, '[{"sku":"A","qty":1,"amount":10}]'
  FROM generate_series(2, 4) AS g;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of)
VALUES ('S-EV', 'T-EV-R', '4000000000000002', 10, '[{"sku":"A","qty":1,"amount":10}]', 2);
COMMIT;
SELECT 'after three sales and a return';
BEGIN;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S-EV', 'T-EV-9', '4000000000000002', 10, '[{"sku":"A","qty":1,"amount":10}]');
ROLLBACK;
SELECT 'after a rolled-back sale';
SQL
ok $? "the session ran" || diag "$(cat "$work/out")"
notes=$(grep -c '^Asynchronous notification "loyalty_events"' "$work/out")
is "$notes" 2 "two notifications: one per committed transaction with events, none for the rolled-back one"
is "$(grep -c 'with payload' "$work/out")" 0 "no notification carries a payload"
is "$(sed -n '/after one sale/,/after three sales/p' "$work/out" | grep -c '^Asynchronous notification')" 1 \
	"the transaction of three sales and a return notified once"
is "$(grep '^Asynchronous' "$work/out" | grep -vcE '^Asynchronous notification "loyalty_events" received from server process with PID [0-9]+\.$')" 0 \
	"a notification says nothing but its channel: no card, member, store or POS transaction"
is "$(q "$db" "SELECT count(*) || ' ' || string_agg(payload->>'pos_txn', ',' ORDER BY event_id) FROM loyalty.outbox")" \
	"5 T-EV-1,T-EV-2,T-EV-3,T-EV-4,T-EV-R" "the outbox has every committed event with its payload"
is "$(sqlstate "$db" "SET ROLE $snoop; SELECT payload FROM loyalty.outbox")" 42501 \
	"the role that can listen cannot read the outbox"

# The default: no NOTIFY at all, the event in the outbox.
psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" >"$work/default" 2>&1 <<SQL
LISTEN loyalty_events;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S-EV', 'T-EV-D', '4000000000000002', 10, '[{"sku":"A","qty":1,"amount":10}]');
SHOW loyalty.notify;
SQL
is "$(grep -v '^Asynchronous' "$work/default" | tail -1)/$(grep -c '^Asynchronous notification' "$work/default")" "off/0" \
	"by default loyalty.notify is off and a sale sends no notification"
is "$(q "$db" "SELECT count(*) FROM loyalty.outbox WHERE payload->>'pos_txn' = 'T-EV-D'")" 1 \
	"and its event is in the outbox"
