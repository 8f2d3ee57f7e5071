#!/usr/bin/env bash
# pg_dump / pg_restore round trip: every table the extension registers with
# pg_extension_config_dump comes back row for row, with its sequences, its
# invariants and the privileges grant_access() gave, and the restored
# database keeps working (new entries, sales, rules and events get new,
# larger ids; sales still earn by the restored rules, budgets and caps).
set -uo pipefail
source "$(dirname "$0")/tap.bash"

src=loyalty_dump_src_$$
dst=loyalty_dump_dst_$$
role=loyalty_dump_pos_$$
adm=loyalty_dump_adm_$$
work=$(mktemp -d)
cleanup() {
	dropdb --if-exists "$src" >/dev/null 2>&1
	dropdb --if-exists "$dst" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $adm" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

tables=(program member member_card member_balance ledger lot store rule rule_spend member_rule_use sale outbox audience audience_member)
sequences=(program_program_id_seq member_member_id_seq ledger_entry_id_seq rule_rule_id_seq sale_id_seq outbox_event_id_seq audience_id_seq)
plan $((1 + 1 + 2 + 2 * ${#tables[@]} + ${#sequences[@]} + 2 + 1 + 2 + 5 + 9 + 1 + 1 + 1 + 2))

# ---------------------------------------------------------------------------
# Source database: two programs, five members (one card replaced, one member
# suspended), earns (one expired, one pending), redemptions, an adjustment
# into debt, a reversal, and a pos role; then stores, rules (a budgeted
# bonus, a capped multiplier, a once-per-member first purchase bonus, an
# exclusion), sales that earned by them (the budget spent to the last point),
# an anonymous sale, a return, and an outbox of which one event was consumed.
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
UPDATE loyalty.program SET time_zone = 'America/New_York', return_days = 30 WHERE code = 'dr_eur';
INSERT INTO loyalty.store (store, name, region, time_zone)
VALUES ('store-1', 'Main street', 'north', 'Europe/Paris'), ('store-2', NULL, NULL, NULL);
INSERT INTO loyalty.rule (program_id, code, kind, points, budget_points, description)
SELECT program_id, 'dr-bonus', 'bonus', 10, 25, 'ten points a sale while the budget lasts' FROM loyalty.program WHERE code = 'dr_plain';
INSERT INTO loyalty.rule (program_id, code, kind, multiplier, categories, member_max_points, priority)
SELECT program_id, 'dr-baby', 'multiplier', 2, '{baby}', 15, 50 FROM loyalty.program WHERE code = 'dr_plain';
INSERT INTO loyalty.rule (program_id, code, kind, points, member_max_uses, stores)
SELECT program_id, 'dr-first', 'first_purchase', 50, 1, '{store-1}' FROM loyalty.program WHERE code = 'dr_plain';
INSERT INTO loyalty.rule (program_id, code, kind, skus)
SELECT program_id, 'dr-nogift', 'exclude', '{GIFT}' FROM loyalty.program WHERE code = 'dr_plain';
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES
	('store-1', 'sale-1', loyalty.card_issue('40', 1), 45,
	 '[{"sku": "A1", "category": "baby", "qty": 1, "amount": 10}, {"sku": "B1", "qty": 2, "amount": 20},
	   {"sku": "GIFT", "qty": 1, "amount": 15, "note": "kept"}]');
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES
	('store-1', 'sale-2', loyalty.card_issue('40', 2), 10, '[{"sku": "A1", "category": "baby", "qty": 1, "amount": 10}]');
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES
	('store-2', 'sale-3', NULL, 7.5, '[{"sku": "B1", "qty": 1, "amount": 7.5}]');
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES
	('store-2', 'sale-4', loyalty.card_issue('40', 5, 19), 12, '[{"sku": "B1", "qty": 1, "amount": 12}]');
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES
	('store-2', 'sale-5', loyalty.card_issue('40', 1), 5, '[{"sku": "C1", "qty": 1, "amount": 5}]');
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
SELECT 'store-1', 'return-1', 10, '[{"sku": "B1", "qty": 1, "amount": 10}]', sale_id
  FROM loyalty.sale WHERE store = 'store-1' AND pos_txn = 'sale-1';
DELETE FROM loyalty.outbox WHERE event_id = (SELECT min(event_id) FROM loyalty.outbox);
CREATE ROLE $adm;
SELECT loyalty.grant_access('$adm', 'admin');
SET ROLE $adm;
INSERT INTO loyalty.segment (program_id, code, predicate)
SELECT program_id, 'dr_who', \$p\$current_user = '$adm'\$p\$ FROM loyalty.program WHERE code = 'dr_plain';
RESET ROLE;
-- an audience with a clipped member, and a rule naming it (inactive: the
-- sales below earn as before); the rule's check must pass on restore
INSERT INTO loyalty.audience (program_id, code, opt_in) SELECT program_id, 'dr_aud', true FROM loyalty.program WHERE code = 'dr_plain';
SELECT loyalty.audience_add('dr_aud', ARRAY[loyalty.card_issue('40', 1), loyalty.card_issue('40', 2)]);
SELECT loyalty.clip_offer('dr_aud', loyalty.card_issue('40', 1));
INSERT INTO loyalty.rule (program_id, code, kind, points, audience, active)
SELECT program_id, 'dr_aud_bonus', 'bonus', 7, 'dr_aud', false FROM loyalty.program WHERE code = 'dr_plain';
SQL
ok $? "source database set up (programs, members, earns, redeems, expiry, adjust, reverse, card replacement, suspension, stores, rules, sales, a return, events)" ||
	{ diag "$(tail -20 "$work/setup.log")"; bail "cannot set up the source database"; }
# what the sales earned, so that the restored rows are known to hold them
is "$(q "$src" "SELECT string_agg(pos_txn || ' ' || points_earned, ', ' ORDER BY sale_id) FROM loyalty.sale" 2>&1)
$(q "$src" "SELECT string_agg(code || ' ' || points || '/' || uses, ', ' ORDER BY code) FROM (SELECT r.code, sum(s.points) AS points, sum(s.uses) AS uses FROM loyalty.rule_spend s JOIN loyalty.rule r USING (rule_id) GROUP BY r.code) t" 2>&1)
$(q "$src" "SELECT string_agg(r.code || ' ' || u.points || '/' || u.uses, ', ' ORDER BY u.member_id, r.code) FROM loyalty.member_rule_use u JOIN loyalty.rule r USING (rule_id)" 2>&1)
$(q "$src" "SELECT string_agg(kind, ', ' ORDER BY event_id) FROM loyalty.outbox" 2>&1)" \
	"sale-1 100, sale-2 80, sale-3 0, sale-4 12, sale-5 10, return-1 -10
dr-bonus 25/3
dr-baby 10/1, dr-first 50/1, dr-baby 10/1, dr-first 50/1
award, award, award, reversal" \
	"the source's sales earned by the rules, spent the budget, used the caps and left events"

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
# A segment's predicate runs as the role that wrote it, not as the superuser
# who restored the dump (pg_restore's COPY fires segment_check).
is "$(q "$dst" "SELECT run_as || ' ' || created_by FROM loyalty.segment WHERE code = 'dr_who'" 2>&1)" "$adm $adm" \
	"a restored segment still runs as the admin who wrote it"
is "$(q "$dst" "SELECT members FROM loyalty.refresh_segments() WHERE segment = 'dr_who'" 2>&1)" "2" \
	"refreshed by the superuser, the restored predicate runs as that admin"
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

# Sales after the restore: the trigger is there and enabled as it was; a new
# sale earns by the restored rules, budgets and caps (dr-bonus's budget and
# dr-first's once per member are spent, dr-baby's member cap has 5 points
# left: 10 base + 5), with new sale, entry and event ids; a
# retried sale is still recognised; a return of a restored sale takes back
# what its restored award says; a rule added after the restore gets a new
# id and applies from the next sale of a session that had compiled the rules.
trig_sql="SELECT string_agg(x, ', ' ORDER BY x) FROM (
	SELECT format('%s.%s %s', t.tgrelid::regclass, t.tgname, t.tgenabled) AS x
	  FROM pg_trigger t WHERE NOT t.tgisinternal AND t.tgrelid::regclass::text LIKE 'loyalty.%') s"
is "$(q "$dst" "$trig_sql" 2>&1)" "$(q "$src" "$trig_sql" 2>&1)" \
	"the restored database has the same triggers, enabled the same way (sale_award ENABLE ALWAYS)"
max_sale=$(q "$dst" "SELECT max(sale_id) FROM loyalty.sale")
max_event=$(q "$dst" "SELECT max(event_id) FROM loyalty.outbox")
new_sale=$(q "$dst" "INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
	VALUES ('store-1', 'sale-after-restore', loyalty.card_issue('40', 2), 10, '[{\"sku\": \"A1\", \"category\": \"baby\", \"qty\": 1, \"amount\": 10}]')
	RETURNING sale_id || ' ' || points_earned" 2>&1)
greater "${new_sale%% *}" "$max_sale" "a new sale in the restored database gets a new sale id, above all restored ones" ||
	diag "$new_sale"
is "${new_sale#* }" "15" "the new sale earns by the restored rules, budget and caps (15 points)"
is "$(q "$dst" "SELECT string_agg(code || ' ' || fired || ' ' || points || coalesce(' (' || why || ')', ''), ', ')
				 FROM loyalty.explain_sale((SELECT sale_id FROM loyalty.sale WHERE pos_txn = 'sale-after-restore'))" 2>&1)" \
	"base true 10, dr-nogift false 0 (no matching line), dr-baby true 5 (capped from 10 to 5 points), dr-bonus false 0 (budget of 25 points is spent), dr-first false 0 (not the member's first purchase)" \
	"explain_sale of the new sale: the restored member cap leaves 5, the budget is spent, the first purchase used"
greater "$(q "$dst" "SELECT max(event_id) FROM loyalty.outbox" 2>&1)" "$max_event" \
	"the new sale's award event gets an event id above all restored ones"
is "$(q "$dst" "INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES
	('store-1', 'sale-1', loyalty.card_issue('40', 1), 45,
	 '[{\"sku\": \"A1\", \"category\": \"baby\", \"qty\": 1, \"amount\": 10}, {\"sku\": \"B1\", \"qty\": 2, \"amount\": 20},
	   {\"sku\": \"GIFT\", \"qty\": 1, \"amount\": 15, \"note\": \"kept\"}]')
	ON CONFLICT (store, pos_txn) DO NOTHING RETURNING sale_id" 2>&1)" "" \
	"a restored sale retried after the restore is recognised (ON CONFLICT DO NOTHING: no row, no error)"
is "$(q "$dst" "INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
	SELECT 'store-1', 'return-2', 10, '[{\"sku\": \"A1\", \"category\": \"baby\", \"qty\": 1, \"amount\": 10}]', sale_id
	  FROM loyalty.sale WHERE store = 'store-1' AND pos_txn = 'sale-1'
	RETURNING points_earned" 2>&1)" "-20" \
	"a return of a restored sale takes back the restored award's base and multiplier points"
psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$dst" >"$work/rules.out" 2>&1 <<'SQL'
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('store-2', 'sale-6', loyalty.card_issue('40', 2), 5, '[{"sku": "B1", "qty": 1, "amount": 5}]')
RETURNING points_earned;
INSERT INTO loyalty.rule (program_id, code, kind, points, stores)
SELECT program_id, 'dr-after', 'bonus', 7, '{store-2}' FROM loyalty.program WHERE code = 'dr_plain'
RETURNING rule_id;
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('store-2', 'sale-7', loyalty.card_issue('40', 2), 5, '[{"sku": "B1", "qty": 1, "amount": 5}]')
RETURNING points_earned;
SQL
greater "$(sed -n 2p "$work/rules.out")" "$(q "$dst" "SELECT max(rule_id) FROM loyalty.rule WHERE code <> 'dr-after'" 2>&1)" \
	"a rule created after the restore gets a new rule id, above all restored ones" || diag "$(cat "$work/rules.out")"
is "$(sed -n '1p;3p' "$work/rules.out" | tr '\n' ' ')" "5 12 " \
	"a session's sale before the new rule earns 5, its next sale 5 + 7 by the new rule (the compiled rules were refreshed)"

is "$(q "$dst" "SELECT count(*) FROM loyalty.check_invariants()" 2>&1)" "0" \
	"check_invariants() is still empty after the new postings"

is "$(sqlstate "$dst" "SELECT loyalty.member_id(loyalty.card_issue('40', 3))")" "LY002" \
	"the replaced card is still refused in the restored database (LY002)"
is "$(sqlstate "$dst" "SELECT loyalty.earn(loyalty.card_issue('40', 4), 1, 'after-restore-2')")" "LY003" \
	"the suspended member still cannot earn in the restored database (LY003)"
