#!/usr/bin/env bash
# Concurrency load test: many POS clients earning, redeeming and paying with
# tender holds (authorize, then capture all, capture less, void, or leave
# open) on a few hot members at once, with retries of keys already used,
# while pgbench drives them.  Every acknowledged operation (a result returned and committed) is
# written to a table "ack" in the same transaction as the posting, so an ack
# row exists if and only if the posting committed.  Afterwards the ledger must
# hold exactly one entry per acknowledged key, every retry must have returned
# the entry of the first acknowledgement, and the balances must add up.  A
# capture is acknowledged as a redemption (its ledger entry is one); every
# hold call is also recorded in "hold_ack", and the holds must be what their
# keys asked for, the open ones still holding their points.
#
# Needs PGHOST/PGPORT/PGUSER pointing at a superuser cluster (test.sh or
# pg_virtualenv); creates database loyalty_load_test and drops it at the end
# (LOAD_KEEP_DB=1 keeps it for a post-mortem).  Tunables: LOAD_CLIENTS (8),
# LOAD_TXNS (transactions per client, 1500), LOAD_MEMBERS (20), LOAD_KEYS (keys
# per member in the random key space, 1000), LOAD_VOUCHERS (bearer vouchers of
# 3 uses each that every client uses at random, 50).
#
# Voucher uses ride along: each transaction also uses one of the vouchers
# under a (store, pos_txn) from a small key space per voucher (so retries and
# races happen); every acknowledged use is written to "vack" in its
# transaction, every LY120 (used up) to "vrefusal".  Afterwards no voucher
# has more uses than its max_uses, uses_left matches the uses, and every
# acknowledged use is one voucher_use row, which every retry got back.
set -uo pipefail

PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
CLIENTS=${LOAD_CLIENTS:-8}
TXNS=${LOAD_TXNS:-1500}
MEMBERS=${LOAD_MEMBERS:-20}
KEYS=${LOAD_KEYS:-1000}
VOUCHERS=${LOAD_VOUCHERS:-50}
CALLS_PER_TXN=6			# SELECTs in one run of the pgbench script below, voucher uses aside
SEED_POINTS=100			# every member starts with one earn of this much
DB=loyalty_load_test

tmp=$(mktemp -d)
cleanup() {
	[ -n "${LOAD_KEEP_DB:-}" ] || dropdb --if-exists "$DB" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

n=0
ok() {	# ok <0|1 (shell truth)> <name> [diagnostic...]
	local res=$1 name=$2
	shift 2
	n=$((n + 1))
	if [ "$res" -eq 0 ]; then
		echo "ok $n - $name"
	else
		echo "not ok $n - $name"
		local line
		for line in "$@"; do printf '%s\n' "$line" | sed 's/^/#   /'; done
	fi
}
is() {	# is <got> <expected> <name>
	[ "$1" == "$2" ]
	ok $? "$3" "got:      '$1'" "expected: '$2'"
}
q() {	# one value from the test database
	psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"
}

echo "1..19"

# ---------------------------------------------------------------------------
# Setup: a fresh database, one program, the hot members, the ack table and
# the helpers the pgbench script calls.
# ---------------------------------------------------------------------------
dropdb --if-exists "$DB" >/dev/null 2>&1
if ! createdb "$DB" 2>"$tmp/setup.err" ||
	! psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -v members="$MEMBERS" -v seed="$SEED_POINTS" -v vouchers="$VOUCHERS" \
		>"$tmp/setup.out" 2>>"$tmp/setup.err" <<'SQL'
CREATE EXTENSION loyalty;
INSERT INTO loyalty.program (code) VALUES ('load');
SELECT loyalty.enroll(loyalty.card_issue('40', s), 'load') FROM generate_series(1, :members) s;

-- Every acknowledged posting: written in the posting's own transaction.
CREATE TABLE ack (
	id			bigserial PRIMARY KEY,
	op			text NOT NULL CHECK (op IN ('earn', 'redeem')),
	serial		int NOT NULL,			-- card serial the client used
	member_id	bigint NOT NULL,		-- member the function returned
	key			text NOT NULL,			-- idem_key (earn) or pos_txn (redeem)
	points		bigint NOT NULL,		-- points requested
	got_points	bigint NOT NULL,		-- points the function returned
	result_id	bigint NOT NULL,		-- entry_id / redemption_id returned
	client		int NOT NULL,
	hot			bool NOT NULL DEFAULT false,
	at			timestamptz NOT NULL DEFAULT clock_timestamp()
);
ALTER TABLE ack ADD COLUMN via_hold bool NOT NULL DEFAULT false;	-- a capture
-- Every hold call (authorize, then what its key asks for), in its transaction.
CREATE TABLE hold_ack (
	id			bigserial PRIMARY KEY,
	serial		int NOT NULL,
	member_id	bigint NOT NULL,
	key			text NOT NULL,			-- pos_txn
	points		bigint NOT NULL,		-- points authorized
	hold_id		bigint NOT NULL,
	action		text NOT NULL,			-- capture, capture_less, void, open
	status		text NOT NULL,			-- the hold's status the last call returned
	captured	bigint,
	client		int NOT NULL
);
-- Every redemption or authorize refused with LY010 (insufficient points).
CREATE TABLE refusal (
	id			bigserial PRIMARY KEY,
	serial		int NOT NULL,
	key			text NOT NULL,
	points		bigint NOT NULL,
	message		text NOT NULL,
	client		int NOT NULL
);

CREATE FUNCTION load_earn(serial int, key text, points bigint, client int, hot bool DEFAULT false)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r loyalty.posting;
BEGIN
	r := loyalty.earn(loyalty.card_issue('40', serial), points, key);
	INSERT INTO ack (op, serial, member_id, key, points, got_points, result_id, client, hot)
	VALUES ('earn', serial, r.member_id, key, points, r.points, r.entry_id, client, hot);
END
$$;

-- Catches only LY010; any other error aborts the pgbench client (and fails
-- the test).
CREATE FUNCTION load_redeem(serial int, key text, points bigint, client int, hot bool DEFAULT false)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r loyalty.redemption;
BEGIN
	r := loyalty.redeem(loyalty.card_issue('40', serial), points, 'store-1', key);
	INSERT INTO ack (op, serial, member_id, key, points, got_points, result_id, client, hot)
	VALUES ('redeem', serial, r.member_id, key, points, r.points, r.redemption_id, client, hot);
EXCEPTION WHEN SQLSTATE 'LY010' THEN
	INSERT INTO refusal (serial, key, points, message, client)
	VALUES (serial, key, points, SQLERRM, client);
END
$$;

-- A hold: authorize, then by the key: capture all, capture one point less,
-- void, or leave open.  A retry of the key repeats both calls (the
-- authorize answers the same hold, the capture or void the same outcome).
CREATE FUNCTION load_hold(serial int, key text, keynum int, points bigint, client int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	h loyalty.hold;
	action text := (ARRAY['capture', 'capture_less', 'void', 'open'])[keynum % 4 + 1];
BEGIN
	h := loyalty.authorize(loyalty.card_issue('40', serial), points, 'store-1', key);
	IF action = 'capture' THEN
		h := loyalty.capture(h.hold_id);
	ELSIF action = 'capture_less' THEN
		h := loyalty.capture(h.hold_id, GREATEST(points - 1, 1));
	ELSIF action = 'void' THEN
		h := loyalty.void(h.hold_id);
	END IF;
	INSERT INTO hold_ack (serial, member_id, key, points, hold_id, action, status, captured, client)
	VALUES (serial, h.member_id, key, points, h.hold_id, action, h.status, h.captured, client);
	IF h.status = 'captured' THEN
		INSERT INTO ack (op, serial, member_id, key, points, got_points, result_id, client, via_hold)
		VALUES ('redeem', serial, h.member_id, key, h.captured, h.captured, h.redemption_id, client, true);
	END IF;
EXCEPTION WHEN SQLSTATE 'LY010' THEN
	INSERT INTO refusal (serial, key, points, message, client)
	VALUES (serial, key, points, SQLERRM, client);
END
$$;

-- Hot keys: every client that calls within the same 50 ms bucket sends the
-- same member, key and points, so first postings and their retries race.
CREATE FUNCTION load_earn_hot(members int, client int) RETURNS void LANGUAGE sql AS $$
	SELECT load_earn((b % members + 1)::int, 'hot-' || b, b % 7 + 1, client, true)
	  FROM (SELECT floor(extract(epoch FROM clock_timestamp()) * 20)::bigint AS b) t
$$;
CREATE FUNCTION load_redeem_hot(members int, client int) RETURNS void LANGUAGE sql AS $$
	SELECT load_redeem((b % members + 1)::int, 'hot-' || (b % members + 1) || '-' || b, b % 5 + 1, client, true)
	  FROM (SELECT floor(extract(epoch FROM clock_timestamp()) * 20)::bigint AS b) t
$$;

SELECT load_earn(s, 'seed', :seed, -1) FROM generate_series(1, :members) s;

-- Bearer vouchers of 3 uses each; every acknowledged use and every refusal.
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, max_uses, member_bound)
SELECT program_id, 'load-v', 'amount', 1, 3, false FROM loyalty.program WHERE code = 'load';
CREATE TABLE load_voucher AS
SELECT i, loyalty.issue_voucher('load-v', NULL, program => 'load') AS code FROM generate_series(1, :vouchers) i;
CREATE TABLE vack (
	id			bigserial PRIMARY KEY,
	code		text NOT NULL,
	key			text NOT NULL,			-- pos_txn
	use_id		bigint NOT NULL,
	discount	numeric NOT NULL,
	uses_left	int NOT NULL,
	client		int NOT NULL
);
CREATE TABLE vrefusal (id bigserial PRIMARY KEY, code text NOT NULL, key text NOT NULL, client int NOT NULL);
CREATE FUNCTION load_use_voucher(i int, key text, client int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_code text := (SELECT code FROM load_voucher WHERE load_voucher.i = load_use_voucher.i);
	r record;
BEGIN
	SELECT * INTO r FROM loyalty.use_voucher(v_code, NULL, 'store-1', key, '[{"sku":"A","qty":1,"amount":5}]');
	INSERT INTO vack (code, key, use_id, discount, uses_left, client)
	VALUES (v_code, key, r.use_id, r.discount, r.uses_left, client);
EXCEPTION WHEN SQLSTATE 'LY120' THEN
	INSERT INTO vrefusal (code, key, client) VALUES (v_code, key, client);
END
$$;
SQL
then
	echo "not ok 1 - setup: database, extension, $MEMBERS members"
	sed 's/^/#   /' "$tmp/setup.err"
	echo "Bail out! setup failed"
	exit 1
fi
is "$(q "SELECT count(*) FROM ack")" "$MEMBERS" "setup: database, extension, $MEMBERS seeded members"

# ---------------------------------------------------------------------------
# The load.  Random keys come from a small per-member key space (so clients
# collide on them), one of the two random calls is sent again straight away
# (a POS retry), and the hot calls collide by construction.  Earn points and
# redeem points are a function of the key, so a retry is the same request.
# ---------------------------------------------------------------------------
cat >"$tmp/load.sql" <<'EOF'
\set m random(1, :members)
\set ek random(1, :keys)
SELECT load_earn(:m, 'e-' || :ek, 1 + :ek % 40, :client_id);
\set m2 random(1, :members)
\set rk random(1, :keys)
SELECT load_redeem(:m2, 'r-' || :m2 || '-' || :rk, 1 + :rk % 40, :client_id);
SELECT load_earn_hot(:members, :client_id);
SELECT load_redeem_hot(:members, :client_id);
\set m3 random(1, :members)
\set hk random(1, :keys)
SELECT load_hold(:m3, 'h-' || :m3 || '-' || :hk, :hk, 1 + :hk % 30, :client_id);
\set again random(0, 1)
\if :again
SELECT load_earn(:m, 'e-' || :ek, 1 + :ek % 40, :client_id);
\else
SELECT load_redeem(:m2, 'r-' || :m2 || '-' || :rk, 1 + :rk % 40, :client_id);
\endif
\set vi random(1, :vouchers)
\set vk random(1, 6)
SELECT load_use_voucher(:vi, 'v-' || :vi || '-' || :vk, :client_id);
EOF

total=$((CLIENTS * TXNS))
start=$(date +%s)
timeout 300 "$PGBENCH" -n -c "$CLIENTS" -j 2 -t "$TXNS" -D members="$MEMBERS" -D keys="$KEYS" -D vouchers="$VOUCHERS" \
	-f "$tmp/load.sql" "$DB" >"$tmp/pgbench.out" 2>"$tmp/pgbench.err"
rc=$?
echo "# pgbench: $CLIENTS clients, $TXNS transactions each, $(($(date +%s) - start)) s, exit status $rc"
grep -E '^(number of|latency average|tps)' "$tmp/pgbench.out" | sed 's/^/#   /'

aborted=$(grep -c 'aborted' "$tmp/pgbench.err")
[ "$rc" -eq 0 ] && [ "$aborted" -eq 0 ]
ok $? "pgbench exited 0 and no client aborted" "exit status $rc" "$(head -20 "$tmp/pgbench.err")"
is "$(sed -n 's/^number of transactions actually processed: //p' "$tmp/pgbench.out")" "$total/$total" \
	"all clients finished all their transactions"
is "$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$tmp/pgbench.out")" "0" \
	"pgbench reported 0 failed transactions (no deadlock, no serialization failure)"

# ---------------------------------------------------------------------------
# What the run left behind.
# ---------------------------------------------------------------------------
acks=$(q "SELECT count(*) FROM ack WHERE client >= 0 AND NOT via_hold")
hold_acks=$(q "SELECT count(*) FROM hold_ack")
refusals=$(q "SELECT count(*) FROM refusal")
is "$((acks + hold_acks + refusals))" "$((total * CALLS_PER_TXN))" \
	"every call was acknowledged or refused with LY010 ($acks + $hold_acks holds + $refusals)"

bad=$(q "SELECT string_agg(format('member %s: %s (%s)', member_id, invariant, detail), E'\n')
           FROM loyalty.check_invariants()")
[ -z "$bad" ]
ok $? "loyalty.check_invariants() is empty" "$bad"

is "$(q "SELECT count(*) FROM loyalty.ledger")" \
	"$(q "SELECT count(*) FROM (SELECT DISTINCT op, member_id, key FROM ack) k")" \
	"ledger entries = distinct acknowledged keys"

# Each acknowledged result is the ledger entry of that member, kind, key and
# points; and each ledger entry is some acknowledged result.
bad=$(q "WITH a AS (SELECT DISTINCT op, member_id, key, points, result_id FROM ack)
         SELECT string_agg(format('ack %s/%s/%s/%s -> %s, ledger %s', a.op, a.member_id, a.key,
                                  a.points, a.result_id, l), E'\n')
           FROM a FULL JOIN loyalty.ledger l ON l.entry_id = a.result_id
          WHERE a.result_id IS NULL OR l.entry_id IS NULL
             OR l.member_id <> a.member_id OR l.kind <> a.op
             OR (a.op = 'earn' AND (l.idem_key IS DISTINCT FROM a.key OR l.points <> a.points))
             OR (a.op = 'redeem' AND (l.pos_txn IS DISTINCT FROM a.key OR l.store <> 'store-1'
                                      OR l.points <> -a.points))")
[ -z "$bad" ]
ok $? "every ledger entry is exactly one acknowledged key's entry" "$(head -20 <<<"$bad")"

bad=$(q "SELECT string_agg(format('%s %s key %s: ids %s, points %s, members %s', op, serial, key, ids, pts, mids), E'\n')
           FROM (SELECT op, serial, key, array_agg(DISTINCT result_id) ids,
                        array_agg(DISTINCT got_points) pts, array_agg(DISTINCT member_id) mids
                   FROM ack GROUP BY op, serial, key
                 HAVING count(DISTINCT result_id) > 1 OR count(DISTINCT got_points) > 1
                     OR count(DISTINCT member_id) > 1 OR bool_or(got_points <> points)) x")
[ -z "$bad" ]
ok $? "every retry returned the id and points of the first acknowledgement of its key" "$(head -20 <<<"$bad")"

bad=$(q "WITH k AS (SELECT DISTINCT ON (op, member_id, key) op, member_id, points FROM ack
                     ORDER BY op, member_id, key, id),
              expected AS (SELECT member_id, sum(CASE op WHEN 'earn' THEN points ELSE -points END) AS net
                             FROM k GROUP BY member_id),
              led AS (SELECT member_id, sum(points) AS net FROM loyalty.ledger GROUP BY member_id)
         SELECT string_agg(format('member %s: ledger net %s, acknowledged net %s, balance net %s',
                                  m.member_id, led.net, expected.net, b.net), E'\n')
           FROM loyalty.member m
           JOIN loyalty.member_balance b USING (member_id)
           LEFT JOIN expected USING (member_id) LEFT JOIN led USING (member_id)
          WHERE COALESCE(led.net, 0) <> COALESCE(expected.net, 0) OR b.net <> COALESCE(expected.net, 0)")
[ -z "$bad" ]
ok $? "per member: ledger net = acknowledged earns - acknowledged redemptions" "$bad"

bad=$(q "SELECT string_agg(format('member %s: available %s, net %s', b.member_id, b.available, mb.net), E'\n')
           FROM loyalty.member_card c, loyalty.balance(c.card) b, loyalty.member_balance mb
          WHERE mb.member_id = b.member_id AND (b.available < 0 OR mb.net < 0 OR mb.debt <> 0)")
[ -z "$bad" ]
ok $? "no member's available balance is negative (and no debt)" "$bad"

# A refusal says what was asked and that less was available.
bad=$(q "SELECT string_agg(format('%s %s: %s', serial, key, message), E'\n')
           FROM refusal
          WHERE message !~ '^insufficient points: [0-9]+ requested, [0-9]+ available$'
             OR substring(message FROM '([0-9]+) requested')::bigint <> points
             OR substring(message FROM '([0-9]+) available')::bigint
                >= substring(message FROM '([0-9]+) requested')::bigint")
[ -z "$bad" ]
ok $? "every LY010 refusal asked for more than was available" "$(head -20 <<<"$bad")"

# Each hold call's hold is the hold of its key, and ended as its key asked.
bad=$(q "SELECT string_agg(format('%s %s: hold %s %s/%s captured %s, ack %s %s/%s captured %s',
                                  a.serial, a.key, h.hold_id, h.status, h.points, h.captured,
                                  a.hold_id, a.status, a.points, a.captured), E'\n')
           FROM hold_ack a LEFT JOIN loyalty.hold h ON h.store = 'store-1' AND h.pos_txn = a.key
          WHERE h.hold_id IS DISTINCT FROM a.hold_id OR h.member_id <> a.member_id OR h.points <> a.points
             OR h.status <> CASE a.action WHEN 'void' THEN 'voided' WHEN 'open' THEN 'open' ELSE 'captured' END
             OR a.status <> h.status OR a.captured IS DISTINCT FROM h.captured
             OR h.captured IS DISTINCT FROM CASE a.action WHEN 'capture' THEN a.points
                                                          WHEN 'capture_less' THEN GREATEST(a.points - 1, 1) END")
[ -z "$bad" ]
ok $? "every hold is its key's, and captured, captured less, voided or left open as its key asked" "$(head -20 <<<"$bad")"
is "$(q "SELECT count(*) FROM loyalty.hold")" "$(q "SELECT count(DISTINCT key) FROM hold_ack")" \
	"holds = distinct acknowledged hold keys"

# Voucher uses: every call acknowledged or refused as used up; never more
# uses than max_uses; every acknowledged use one row, the same for its retries.
vacks=$(q "SELECT count(*) FROM vack")
vrefusals=$(q "SELECT count(*) FROM vrefusal")
is "$((vacks + vrefusals))" "$total" "every voucher use was acknowledged or refused with LY120 ($vacks + $vrefusals)"

bad=$(q "SELECT string_agg(format('voucher %s: %s uses, uses_left %s', v.voucher_id, n, v.uses_left), E'\n')
           FROM loyalty.voucher v
           LEFT JOIN LATERAL (SELECT count(*) AS n FROM loyalty.voucher_use u WHERE u.voucher_id = v.voucher_id) u ON true
          WHERE n > 3 OR v.uses_left <> 3 - n")
[ -z "$bad" ]
ok $? "no voucher has more uses than its max_uses (3), and uses_left = 3 - its uses" "$(head -20 <<<"$bad")"

bad=$(q "WITH a AS (SELECT DISTINCT code, key, use_id, discount FROM vack)
         SELECT string_agg(format('ack %s/%s -> use %s; row %s', a.code, a.key, a.use_id, u.use_id), E'\n')
           FROM a FULL JOIN (SELECT u.*, v.code FROM loyalty.voucher_use u JOIN loyalty.voucher v USING (voucher_id)) u
             ON u.use_id = a.use_id
          WHERE a.use_id IS NULL OR u.use_id IS NULL OR u.code <> a.code OR u.pos_txn <> a.key
             OR u.discount <> a.discount OR u.discount <> 1
             OR (SELECT count(DISTINCT use_id) FROM vack x WHERE x.key = a.key) <> 1")
[ -z "$bad" ]
ok $? "every acknowledged voucher use is one voucher_use row, and every row an acknowledged use; retries got it back" "$(head -20 <<<"$bad")"

bad=$(q "SELECT string_agg(format('%s %s', r.code, r.key), E'\n') FROM vrefusal r
           JOIN loyalty.voucher v ON v.code = r.code WHERE v.uses_left <> 0")
[ -z "$bad" ]
ok $? "every LY120 refusal was of a voucher that is used up" "$(head -20 <<<"$bad")"

# ---------------------------------------------------------------------------
# The figures, and proof that retries really raced.
# ---------------------------------------------------------------------------
read -r keys retries concurrent hot_concurrent < <(q "
	WITH k AS (SELECT op, member_id, key, count(*) n, count(DISTINCT client) clients, bool_or(hot) hot
	             FROM ack WHERE client >= 0 GROUP BY 1, 2, 3)
	SELECT count(*), sum(n - 1), count(*) FILTER (WHERE clients > 1),
	       count(*) FILTER (WHERE clients > 1 AND hot) FROM k" | tr '|' ' ')
read -r earns redeems < <(q "SELECT count(*) FILTER (WHERE op = 'earn'), count(*) FILTER (WHERE op = 'redeem')
                              FROM ack WHERE client >= 0" | tr '|' ' ')
echo "# operations: $((acks + refusals)) calls, $acks acknowledged ($earns earn, $redeems redeem), $refusals refused with LY010"
echo "# keys: $keys distinct acknowledged keys, $retries retries (acknowledgements of a key already acknowledged)"
echo "# concurrency: $concurrent keys acknowledged by more than one client, $hot_concurrent of them hot keys"
echo "# ledger: $(q "SELECT count(*) || ' entries, net ' || sum(points) FROM loyalty.ledger")"
echo "# holds: $(q "SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM (SELECT status, count(*) n FROM loyalty.hold GROUP BY status) s"), held now $(q "SELECT sum(held) FROM loyalty.member_balance")"
echo "# vouchers: $vacks uses acknowledged ($(q "SELECT count(*) FROM loyalty.voucher_use") distinct), $vrefusals refused as used up"
[ "${retries:-0}" -gt 0 ] && [ "${hot_concurrent:-0}" -gt 0 ] && [ "$refusals" -gt 0 ]
ok $? "retries happened, some of them from several clients at once, and some redemptions were refused" \
	"retries $retries, hot keys acknowledged by several clients $hot_concurrent, refusals $refusals"
