#!/usr/bin/env bash
# pg_dump / pg_restore round trip: every table the extension registers with
# pg_extension_config_dump comes back row for row, with its sequences, its
# invariants and the privileges grant_access() gave, and the restored
# database keeps working (new entries get new, larger ids).
set -uo pipefail
source "$(dirname "$0")/tap.bash"

src=loyalty_dump_src_$$
dst=loyalty_dump_dst_$$
role=loyalty_dump_pos_$$
work=$(mktemp -d)
cleanup() {
	dropdb --if-exists "$src" >/dev/null 2>&1
	dropdb --if-exists "$dst" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

tables=(program member member_card member_balance ledger lot)
sequences=(program_program_id_seq member_member_id_seq ledger_entry_id_seq)
plan $((1 + 2 + 2 * ${#tables[@]} + ${#sequences[@]} + 2 + 1 + 2 + 6 + 1 + 1))

# ---------------------------------------------------------------------------
# Source database: two programs, five members (one card replaced, one member
# suspended), earns (one expired, one pending), redemptions, an adjustment
# into debt, a reversal, and a pos role.
# ---------------------------------------------------------------------------
createdb "$src" || bail "createdb $src failed"
psql -X -q -v ON_ERROR_STOP=1 -d "$src" >"$work/setup.log" 2>&1 <<SQL
CREATE EXTENSION loyalty;
CREATE ROLE $role;
SELECT loyalty.grant_access('$role', 'pos');
INSERT INTO loyalty.program (code, name) VALUES ('dr_plain', 'Defaults');
INSERT INTO loyalty.program (code, name, currency, point_value, expiry_after, pending_days, negative_balance)
VALUES ('dr_eur', 'Euro', 'EUR', 0.05, interval '1 year', 0, 'allow');
SELECT loyalty.enroll(loyalty.card_issue('40', 1), 'dr_plain', region => 'north', attributes => '{"vip": true}');
SELECT loyalty.enroll(loyalty.card_issue('40', 2), 'dr_plain', birth_date => '1980-02-29');
SELECT loyalty.enroll(loyalty.card_issue('40', 3), 'dr_eur');
SELECT loyalty.enroll(loyalty.card_issue('40', 4), 'dr_eur');
SELECT loyalty.enroll(loyalty.card_issue('40', 5, 19), 'dr_eur');
SELECT loyalty.earn(loyalty.card_issue('40', 1), 500, 'e1', 'welcome');
SELECT loyalty.earn(loyalty.card_issue('40', 1), 70, 'e2', NULL, now(), now() + interval '30 days');
SELECT loyalty.earn(loyalty.card_issue('40', 2), 40, 'e3');
SELECT loyalty.earn(loyalty.card_issue('40', 3), 300, 'e4', 'old points', '2020-01-01');
SELECT loyalty.earn(loyalty.card_issue('40', 3), 120, 'e5');
SELECT loyalty.earn(loyalty.card_issue('40', 4), 60, 'e6');
SELECT loyalty.earn(loyalty.card_issue('40', 5, 19), 80, 'e7');
SELECT loyalty.redeem(loyalty.card_issue('40', 1), 150, 'store-1', 'txn-1');
SELECT loyalty.redeem(loyalty.card_issue('40', 3), 20, 'store-2', 'txn-1');
SELECT loyalty.expire_points(now());
SELECT loyalty.adjust(loyalty.card_issue('40', 3), -200, 'a1', 'goodwill taken back');
SELECT loyalty.reverse(loyalty.card_issue('40', 5, 19), (SELECT entry_id FROM loyalty.ledger WHERE idem_key = 'e7'), 30, 'r1', 'returned item');
SELECT loyalty.replace_card(loyalty.card_issue('40', 3), loyalty.card_issue('40', 103));
SELECT loyalty.earn(loyalty.card_issue('40', 103), 10, 'e8');
SELECT loyalty.set_member_status(loyalty.card_issue('40', 4), 'suspended', 'fraud check');
SQL
ok $? "source database set up (programs, members, earns, redeems, expiry, adjust, reverse, card replacement, suspension)" ||
	{ diag "$(tail -20 "$work/setup.log")"; bail "cannot set up the source database"; }

# ---------------------------------------------------------------------------
# Dump (custom format) and restore into a new database.
# ---------------------------------------------------------------------------
pg_dump -Fc -d "$src" -f "$work/src.dump" 2>"$work/dump.log"
ok $? "pg_dump -Fc of the source database" || diag "$(cat "$work/dump.log")"
createdb "$dst" || bail "createdb $dst failed"
pg_restore --exit-on-error -d "$dst" "$work/src.dump" 2>"$work/restore.log"
ok $? "pg_restore into a new database, without errors" || diag "$(cat "$work/restore.log")"

# ---------------------------------------------------------------------------
# Row for row.  Each table is written out in a fixed order (its rows as
# text, sorted); the source must have rows, the restored copy the same ones.
# ---------------------------------------------------------------------------
for t in "${tables[@]}"; do
	sql="SELECT t::text FROM loyalty.$t t ORDER BY 1"
	q "$src" "$sql" >"$work/$t.src" 2>&1
	q "$dst" "$sql" >"$work/$t.dst" 2>&1
	n=$(wc -l <"$work/$t.src")
	ok $(( n > 0 ? 0 : 1 )) "source loyalty.$t has rows to compare ($n)"
	same_file "$work/$t.dst" "$work/$t.src" "restored loyalty.$t has the same $n rows"
done

for s in "${sequences[@]}"; do
	sql="SELECT last_value || ' ' || is_called FROM loyalty.$s"
	is "$(q "$dst" "$sql" 2>&1)" "$(q "$src" "$sql" 2>&1)" "sequence loyalty.$s restored at the same position"
done

# The privileges grant_access() gave (ACLs on extension members, carried by
# pg_init_privs) come back too.
acl_sql="SELECT string_agg(x, E'\n' ORDER BY x) FROM (
	SELECT format('%s %s %s', c.relname, c.relkind, c.relacl) AS x FROM pg_class c
	 WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relacl IS NOT NULL
	UNION ALL
	SELECT format('%s %s', p.oid::regprocedure, p.proacl) FROM pg_proc p
	 WHERE p.pronamespace = 'loyalty'::regnamespace AND p.proacl IS NOT NULL
	UNION ALL
	SELECT format('schema %s', n.nspacl) FROM pg_namespace n WHERE n.nspname = 'loyalty') s"
src_acl=$(q "$src" "$acl_sql" 2>&1)
ok $(grep -q "$role" <<<"$src_acl"; echo $?) "the source has the pos grants to compare"
is "$(q "$dst" "$acl_sql" 2>&1)" "$src_acl" "privileges given by grant_access() are restored"

# ---------------------------------------------------------------------------
# The restored database is consistent and keeps working.
# ---------------------------------------------------------------------------
is "$(q "$dst" "SELECT count(*) FROM loyalty.check_invariants()" 2>&1)" "0" \
	"check_invariants() is empty in the restored database"
is "$(q "$dst" "SELECT available || ' ' || pending || ' ' || debt FROM loyalty.balance(loyalty.card_issue('40', 1))" 2>&1)" \
	"$(q "$src" "SELECT available || ' ' || pending || ' ' || debt FROM loyalty.balance(loyalty.card_issue('40', 1))" 2>&1)" \
	"balance() of a card is the same in both databases"
is "$(q "$dst" "SELECT available || ' ' || debt FROM loyalty.balance(loyalty.card_issue('40', 103))" 2>&1)" "-90 90" \
	"the replacement card carries its member's net and debt (-90, 90) in the restored database"

max_entry=$(q "$dst" "SELECT max(entry_id) FROM loyalty.ledger")
new_earn=$(q "$dst" "SELECT entry_id FROM loyalty.earn(loyalty.card_issue('40', 1), 25, 'after-restore')" 2>&1)
greater "$new_earn" "$max_entry" "a new earn in the restored database gets a new entry id, above all restored ones"
new_redeem=$(q "$dst" "SELECT redemption_id FROM loyalty.redeem(loyalty.card_issue('40', 1), 25, 'store-1', 'txn-after-restore')" 2>&1)
greater "$new_redeem" "$new_earn" "a new redeem in the restored database gets a newer entry id still"
max_member=$(q "$dst" "SELECT max(member_id) FROM loyalty.member")
new_member=$(q "$dst" "SELECT loyalty.enroll(loyalty.card_issue('40', 6), 'dr_plain')" 2>&1)
greater "$new_member" "$max_member" "a new member in the restored database gets a new member id, above all restored ones"
is "$(sqlstate "$dst" "SELECT loyalty.redeem(loyalty.card_issue('40', 1), 150, 'store-1', 'txn-1')")" "" \
	"a redemption replayed after the restore is still recognised (idempotent, no error)"
is "$(q "$dst" "SELECT count(*) FROM loyalty.ledger WHERE store = 'store-1' AND pos_txn = 'txn-1'" 2>&1)" "1" \
	"... and posts nothing new"
is "$(q "$dst" "SELECT count(*) FROM loyalty.check_invariants()" 2>&1)" "0" \
	"check_invariants() is still empty after the new postings"

is "$(sqlstate "$dst" "SELECT loyalty.member_id(loyalty.card_issue('40', 3))")" "LY002" \
	"the replaced card is still refused in the restored database (LY002)"
is "$(sqlstate "$dst" "SELECT loyalty.earn(loyalty.card_issue('40', 4), 1, 'after-restore-2')")" "LY003" \
	"the suspended member still cannot earn in the restored database (LY003)"
