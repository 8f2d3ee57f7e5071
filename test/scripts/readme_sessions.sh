#!/usr/bin/env bash
# TAP: the README's SQL works, verbatim, from a default session.  Every
# statement of every ```sql block of README.md is taken as it is written and
# run, in order, in a fresh session of a role of each access level (pos,
# analyst, admin, given by loyalty.grant_access) with the default
# search_path, in a database of its own.  A statement the level may run
# must succeed; one it may not must be refused for lack of privilege
# (42501), and is then run by the superuser so that the tour goes on.  Which
# levels may run what is written down below, by the statement's beginning;
# a README statement that matches none fails here, so a new example gets a
# decision too.  (A fresh session is the superuser's connection switched to
# the role with SET SESSION AUTHORIZATION before anything else: the same
# privileges and the same default search_path, "$user", public, as a login
# of that role, without a password for it.)
set -uo pipefail
source "$(dirname "$0")/tap.bash"
readme="$(cd "$(dirname "$0")/../.." && pwd)/README.md"
work=$(mktemp -d)
levels=(pos analyst admin)
cleanup() {
	for l in "${levels[@]}"; do
		dropdb --if-exists "loyalty_readme_${l}_$$" >/dev/null 2>&1
		psql -X -q -d postgres -c "DROP ROLE IF EXISTS readme_${l}_$$" >/dev/null 2>&1
	done
	rm -rf "$work"
}
trap cleanup EXIT

# The statements of the ```sql blocks, in order, one file each: comments
# outside quotes removed, a statement ends with a line ending in ';'.
OUT="$work" perl -ne '
	BEGIN { ($in, $stmt, $n) = (0, "", 0); }
	if (/^```sql\s*$/) { $in = 1; next; }
	if ($in && /^```/) { $in = 0; next; }
	next unless $in;
	chomp;
	($out, $q) = ("", 0);
	for $i (0 .. length($_) - 1) {
		$c = substr($_, $i, 1);
		$q = !$q if $c eq "\x27";
		last if !$q && substr($_, $i, 2) eq "--";
		$out .= $c;
	}
	$out =~ s/\s+$//;
	next if $out eq "" && $stmt eq "";
	$stmt .= ($stmt eq "" ? "" : "\n") . $out;
	if ($out =~ /;$/) {
		open(F, ">", sprintf("%s/stmt.%03d", $ENV{OUT}, ++$n)) or die;
		print F $stmt;
		close F;
		$stmt = "";
	}
' "$readme"
stmts=("$work"/stmt.*)
[ -e "${stmts[0]}" ] || bail "no SQL found in $readme"

# who may run a statement, by its beginning (first match wins)
allowed() {
	local s
	s=$(tr '\n' ' ' <"$1")
	case "$s" in
	"INSERT INTO loyalty.program "*)			echo "admin" ;;
	"INSERT INTO loyalty.rule "*)				echo "admin" ;;
	"INSERT INTO loyalty.sale "*)				echo "pos admin" ;;
	"SELECT loyalty.enroll("*)					echo "pos admin" ;;
	"SELECT * FROM loyalty.explain_sale("*)		echo "analyst admin" ;;
	"SELECT * FROM loyalty.earn("*)				echo "admin" ;;
	"SELECT * FROM loyalty.redeem("*)			echo "pos admin" ;;
	"SELECT * FROM loyalty.authorize("*|"SELECT * FROM loyalty.capture("*|\
	"SELECT * FROM loyalty.void("*)				echo "pos admin" ;;
	"SELECT * FROM loyalty.sweep_holds("*)		echo "admin" ;;
	"SELECT * FROM loyalty.balance("*)			echo "pos analyst admin" ;;
	"SELECT * FROM loyalty.statement("*)		echo "analyst admin" ;;
	"SELECT * FROM loyalty.balance_at("*)		echo "analyst admin" ;;
	"SELECT * FROM loyalty.check_invariants("*)	echo "analyst admin" ;;
	"SELECT loyalty.issue_voucher("*|"SELECT count(loyalty.issue_voucher("*)	echo "admin" ;;
	"SELECT "*" FROM loyalty.member_card "*)	echo "analyst admin" ;;
	"DELETE FROM loyalty.outbox "*)				echo "admin" ;;
	"SELECT pg_sequence_last_value('loyalty.outbox_event_id_seq');"*)	echo "admin" ;;
	"UPDATE loyalty.program "*)					echo "admin" ;;
	"INSERT INTO loyalty.tier "*)				echo "admin" ;;
	"SELECT loyalty.tier_of("*)					echo "pos analyst admin" ;;
	"SELECT * FROM loyalty.tier_progress("*)	echo "pos analyst admin" ;;
	"SELECT * FROM loyalty.quote("*)			echo "pos admin" ;;
	"SELECT loyalty.set_tier("*)				echo "admin" ;;
	"SELECT * FROM loyalty.review_tiers_preview("*)	echo "analyst admin" ;;
	"SELECT * FROM loyalty.review_tiers("*)		echo "admin" ;;
	"SELECT loyalty.tier_at("*)					echo "analyst admin" ;;
	"INSERT INTO loyalty.benefit "*)			echo "admin" ;;
	"SELECT * FROM loyalty.use_benefit("*)		echo "pos admin" ;;
	"SELECT * FROM loyalty.enroll_with_sale("*)	echo "pos admin" ;;
	"INSERT INTO loyalty.voucher_type "*)		echo "admin" ;;
	"SELECT "*"loyalty.purchase_summary("*|"SELECT "*"loyalty.cadence("*|"SELECT "*"loyalty.bgnbd_"*|\
	"WITH "*"loyalty.purchase_summary("*)		echo "analyst admin" ;;
	"SELECT "*"loyalty.rfm("*)					echo "analyst admin" ;;
	"SELECT "*"loyalty.repurchase("*)			echo "analyst admin" ;;
	"SELECT "*"loyalty.activity("*)				echo "analyst admin" ;;
	"SELECT "*"loyalty.callbacks("*)			echo "analyst admin" ;;
	"SELECT "*"loyalty.buyers_of("*)			echo "analyst admin" ;;
	"SELECT "*"loyalty.home_store"*)			echo "analyst admin" ;;
	"SELECT "*"loyalty.member_value("*)		echo "analyst admin" ;;
	"SELECT "*"loyalty.winback("*)				echo "analyst admin" ;;
	"SELECT "*"loyalty.replenishment_due("*)	echo "analyst admin" ;;
	"UPDATE loyalty.member "*)					echo "admin" ;;
	"INSERT INTO loyalty.segment "*)			echo "admin" ;;
	"INSERT INTO loyalty.voucher_type "*)		echo "admin" ;;
	"SELECT * FROM loyalty.refresh_segments("*)	echo "admin" ;;
	"SELECT "*"loyalty.segment_sizes("*|"SELECT "*"loyalty.segment_overlap("*|\
	"SELECT "*"loyalty.segment_migration("*|"SELECT "*"loyalty.member_features"*)	echo "analyst admin" ;;
	"INSERT INTO loyalty.audience "*|"INSERT INTO loyalty.audience_member "*)	echo "admin" ;;
	"SELECT * FROM loyalty.audience_add("*)		echo "admin" ;;
	"SELECT loyalty.clip_offer("*)				echo "pos admin" ;;
	*)											echo "" ;;
	esac
}

# run <db> <role or empty> <file>: the statement in a fresh session; prints
# the SQLSTATE of its error, nothing when it succeeds
run() {
	local auth=()
	[ -n "$2" ] && auth=(-c "SET SESSION AUTHORIZATION $2")
	psql -X -q -A -t -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$1" "${auth[@]}" -f "$3" 2>&1 >/dev/null |
		sed -n 's/^\(psql:[^:]*:[0-9]*: \)\{0,1\}ERROR: *\([0-9A-Z]\{5\}\).*/\2/p' | head -1
}

plan $((1 + ${#levels[@]} * (${#stmts[@]} + 5)))
undecided=""
for f in "${stmts[@]}"; do
	[ -n "$(allowed "$f")" ] || undecided+="$(cat "$f")"$'\n'
done
is "$undecided" "" "every SQL statement of the README ($((${#stmts[@]}))) has a decision which levels may run it"

for l in "${levels[@]}"; do
	db=loyalty_readme_${l}_$$
	role=readme_${l}_$$
	createdb "$db" || bail "createdb $db failed"
	q "$db" "CREATE EXTENSION loyalty; CREATE ROLE $role; SELECT loyalty.grant_access('$role', '$l')" >/dev/null ||
		bail "setting up $db failed"
	for f in "${stmts[@]}"; do
		what="$(head -1 "$f" | cut -c1-70)"
		state=$(run "$db" "$role" "$f")
		if [[ " $(allowed "$f") " == *" $l "* ]]; then
			is "$state" "" "$l may run: $what"
		else
			is "$state" "42501" "$l may not run (42501): $what"
			state=$(run "$db" "" "$f")
			[ -z "$state" ] || bail "the superuser could not run it either ($state): $(cat "$f")"
		fi
	done
	# what the tour says it does
	is "$(q "$db" "SELECT points_earned FROM loyalty.sale WHERE pos_txn = 'T-000122'")" "120" \
		"$l: the tour's sale earned 70 + 50 for the baby line"
	is "$(q "$db" "SELECT count(*) || ' ' || sum(points) FROM loyalty.ledger WHERE kind = 'redeem' AND source = 'redemption'")" "1 -200" \
		"$l: the tour's retried redemption posted once"
	is "$(q "$db" "SELECT string_agg(pos_txn || ' ' || status || ' ' || COALESCE(captured, 0), ', ' ORDER BY pos_txn) FROM loyalty.hold")" \
		"T-000130 captured 30, T-000131 voided 0" "$l: the holds example captured 30 of 50 and voided the other"
	is "$(q "$db" "SELECT points_earned || ' ' || tier FROM loyalty.sale WHERE pos_txn = 'T-000124'")" "1000 silver" \
		"$l: the tiers example's sale earned at the base tier and moved the member to silver"
	is "$(q "$db" "SELECT loyalty.tier_of('4000000000000002')")" "gold" \
		"$l: the override holds through the review"
done
