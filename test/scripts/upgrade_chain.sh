#!/usr/bin/env bash
# Upgrades as a chain (hll, pg_cron): install the oldest installable version,
# ALTER EXTENSION ... UPDATE one step at a time along the path PostgreSQL
# finds to default_version, then compare the whole extension with a fresh
# CREATE EXTENSION at default_version.  They must be identical: an upgrade
# script that forgets a function, a COMMENT, a GRANT, an index or a
# pg_extension_config_dump() call fails here.
#
# The comparison is pg_dump --schema-only --binary-upgrade of each database:
# only in binary-upgrade mode does pg_dump write out every member of an
# extension (with its comment, ACL and pg_init_privs), where a plain dump
# just says CREATE EXTENSION.  What differs between two databases for no
# reason is taken out first: OIDs, relfilenodes and the \restrict key.
set -uo pipefail
source "$(dirname "$0")/tap.bash"

repo=$(cd "$(dirname "$0")/../.." && pwd)
extdir=${LOYALTY_EXTENSION_DIR:-$("${PG_CONFIG:-pg_config}" --sharedir)/extension}
chain=loyalty_chain_$$
fresh=loyalty_fresh_$$
work=$(mktemp -d)
cleanup() {
	dropdb --if-exists "$chain" >/dev/null 2>&1
	dropdb --if-exists "$fresh" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

default=$(sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$repo/loyalty.control")
extversion=$(sed -n 's/^EXTVERSION *= *\([^ ]*\).*/\1/p' "$repo/Makefile")

# Installable versions: the install scripts loyalty--V.sql (not the upgrade
# scripts loyalty--A--B.sql), oldest first.
versions=$(cd "$extdir" && ls loyalty--*.sql 2>/dev/null | grep -v -- '--.*--' |
	sed 's/^loyalty--\(.*\)\.sql$/\1/' | sort -V)
oldest=$(head -1 <<<"$versions")
[ -n "$oldest" ] || bail "no loyalty--VERSION.sql in $extdir"

# The path from the oldest version to default_version, as ALTER EXTENSION
# UPDATE would take it (NULL: no path; no row: nothing to do).
steps=()
if [ "$oldest" != "$default" ]; then
	path=$(q postgres "SELECT path FROM pg_extension_update_paths('loyalty')
						WHERE source = '$oldest' AND target = '$default'") || bail "pg_extension_update_paths failed"
	IFS=' ' read -r -a steps <<<"$(sed 's/--/ /g' <<<"$path" | cut -d' ' -f2-)"
fi

plan $((12 + ${#steps[@]}))

# 1-5: the version is written down consistently, and installed as built
is "$default" "$extversion" "default_version in loyalty.control ($default) = EXTVERSION in the Makefile"
same_file "$extdir/loyalty.control" "$repo/loyalty.control" "the installed loyalty.control is the repository's (else: make install)"
ok $([ -f "$extdir/loyalty--$default.sql" ]; echo $?) "loyalty--$default.sql is installed in $extdir"
stale=$(cd "$repo" && for f in loyalty--*--*.sql; do
	[ -e "$f" ] || continue
	cmp -s "$f" "$extdir/$f" || echo "$f"
done)
is "$stale" "" "every upgrade script of the repository is installed as it is (else: make install)"
# PostgreSQL offers every version it can reach: those with an install script
# and those an update script leads to.  (Under LOYALTY_DESTDIR the server
# reads the scripts from Debian's extension_destdir, which its catalog view
# does not list: nothing to compare there.)
offered=$(cd "$extdir" && ls loyalty--*.sql 2>/dev/null | sed 's/^loyalty--\(.*\)\.sql$/\1/' |
	tr -s '-' '\n' | LC_ALL=C sort -u | tr '\n' ' ' | sed 's/ $//')
if [ -n "${LOYALTY_DESTDIR:-}" ]; then
	echo "ok $((tap_n += 1)) # skip the server does not list extension_destdir's versions"
else
	is "$(q postgres "SELECT string_agg(version, ' ' ORDER BY version COLLATE \"C\") FROM pg_available_extension_versions WHERE name = 'loyalty'" 2>&1)" \
		"$offered" "the server offers exactly the versions the installed scripts name ($offered)"
fi

# 6-7: the oldest version, then each step of the chain
createdb "$chain" || bail "createdb $chain failed"
q "$chain" "CREATE EXTENSION loyalty VERSION '$oldest'" >"$work/log" 2>&1
ok $? "CREATE EXTENSION loyalty VERSION '$oldest' (the oldest installable version)" || diag "$(cat "$work/log")"
if [ "$oldest" = "$default" ]; then
	ok 0 "$oldest is default_version: no update step to take"
else
	ok $([ -n "${path:-}" ]; echo $?) "there is an update path $oldest -> $default (${path:-none})"
fi
for v in "${steps[@]}"; do
	q "$chain" "ALTER EXTENSION loyalty UPDATE TO '$v'" >"$work/log" 2>&1
	ok $? "ALTER EXTENSION loyalty UPDATE TO '$v'" || diag "$(cat "$work/log")"
done
is "$(q "$chain" "SELECT extversion FROM pg_extension WHERE extname = 'loyalty'" 2>&1)" "$default" \
	"after the chain the extension is at $default"

# fresh install at default_version
createdb "$fresh" || bail "createdb $fresh failed"
q "$fresh" "CREATE EXTENSION loyalty" >"$work/log" 2>&1
ok $? "CREATE EXTENSION loyalty (fresh, at default_version)" || diag "$(cat "$work/log")"

# Compare.  Normalise: drop OID/relfilenode/attribute-version pinning, the
# transaction ids a table was created at, and the random \restrict key; keep
# binary_upgrade_create_empty_extension's name, schema, relocatable and
# version but not its OID list (compared by name below); and forget dropped
# columns (a chain that dropped a column still has it as a dropped
# attribute; the trailing commas and blank lines it leaves go with them).
describe() {
	pg_dump --schema-only --binary-upgrade --no-owner -d "$1" 2>&1 |
		sed -e '/binary_upgrade_set_next_/d' \
			-e "s/relfrozenxid = '[0-9]*', relminmxid = '[0-9]*'/relfrozenxid = ..., relminmxid = .../" \
			-e "s/^WHERE oid = '[0-9]*';\$/WHERE oid = '...';/" \
			-e '/^\\\(un\)\{0,1\}restrict /d' \
			-e '/pg\.dropped\./d' \
			-e '/^-- For binary upgrade, recreate dropped column\.$/d' \
			-e '/^UPDATE pg_catalog\.pg_attribute$/d' \
			-e '/^SET attlen = /d' \
			-e '/^  AND attrelid = .*::pg_catalog\.regclass;$/d' \
			-e "s/\(binary_upgrade_create_empty_extension('[^']*', '[^']*', [a-z]*, '[^']*'\), .*/\1, ...);/" \
			-e 's/,$//' |
		cat -s
}
describe "$chain" >"$work/chain.sql"
describe "$fresh" >"$work/fresh.sql"
# (the extension's own schema is created by its script and dumped as a plain
# CREATE SCHEMA, not as ALTER EXTENSION ... ADD, so it is not counted here)
# (PostgreSQL 17 also records a table's row type and an array type as members
# of their own, which pg_dump leaves to their table or element type: not
# counted either)
members=$(q "$fresh" "SELECT count(*) FROM pg_depend d WHERE deptype = 'e' AND classid <> 'pg_namespace'::regclass AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'loyalty') AND NOT EXISTS (SELECT FROM pg_depend i WHERE d.classid = 'pg_type'::regclass AND i.classid = d.classid AND i.objid = d.objid AND i.deptype = 'i')")
dumped=$(grep -c '^ALTER EXTENSION loyalty ADD ' "$work/fresh.sql")
is "$dumped" "$members" "the description of the fresh install names every member of the extension ($members)"
same_file "$work/chain.sql" "$work/fresh.sql" \
	"the upgraded extension is identical to a fresh install: every object, comment, privilege ($(wc -l <"$work/fresh.sql") lines)"

config_sql="SELECT string_agg(format('%s %L', c::regclass, w), E'\n' ORDER BY c::regclass::text)
			  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(c, w)
			 WHERE e.extname = 'loyalty'"
is "$(q "$chain" "$config_sql" 2>&1)" "$(q "$fresh" "$config_sql" 2>&1)" \
	"the same tables and sequences are registered with pg_extension_config_dump"
