#!/usr/bin/env bash
# The whole test suite on a throwaway cluster: pg_regress, isolation, pgTAP
# and the TAP scripts (load test, dump/restore, upgrade chain).  Ends with one
# line "N passed, N failed" that totals every suite.  A suite that exits
# non-zero without a failing test to show for it (a schedule that died, a
# bad plan, a script that crashed) counts as one failure more, and so does
# every regression test or spec that did not report at all.
#
# PostgreSQL 15 (Debian's packages, a pg_virtualenv cluster) always; then,
# when tools/pg17.sh has made PostgreSQL 17 in its cache
# (LOYALTY_PG17_CACHE, default /var/cache/loyalty), the same suites again on
# 17 (a plain pg_ctl cluster).  The last line totals both.
set -euo pipefail
self="$(realpath "$0")"
# the suite runs on a build with assertions enabled (as pgvector's CI does)
export LOYALTY_COPT="${LOYALTY_COPT--DUSE_ASSERT_CHECKING}"
source "$(dirname "$self")/tools/setup.sh"

if [ -z "${LOYALTY_IN_CLUSTER:-}" ]; then
	# pg_virtualenv: a private cluster that never touches an existing one
	mapfile -t cluster_options < <(loyalty_cluster_options)
	exec env LOYALTY_IN_CLUSTER=1 PGPORT="$(loyalty_free_port)" pg_virtualenv -v 15 -t -o "max_connections=60" \
		"${cluster_options[@]}" "$self" "$@"
fi

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
passed=0
failed=0
count() {	# count <log> <ok-regex> <fail-regex>: adds to the totals
	local ok bad
	ok=$(grep -cE "$2" "$1" || true)
	bad=$(grep -cE "$3" "$1" || true)
	passed=$((passed + ok)); failed=$((failed + bad))
	echo "   $ok passed, $bad failed"
	last_ok=$ok last_bad=$bad
}
exited() {	# exited <suite> <status>: a non-zero exit with no failure counted is one
	if [ "$2" -ne 0 ] && [ "$last_bad" -eq 0 ]; then
		failed=$((failed + 1))
		echo "   $1 exited with status $2 and no failing test: counted as a failure"
	fi
}
show() {	# show <file> <lines>: the start of a file, if it exists (no pipe)
	if [ -f "$1" ]; then head -n "$2" "$1"; fi
}

# run_suites <bindir> [make arguments]: every suite, against the server the PG* variables name,
# with the extension built for and installed in <bindir>'s PostgreSQL
run_suites() {
	echo "== pg_regress and isolation (make installcheck; each runs even if the other fails)"
	rm -f regression.diffs output_iso/regression.diffs
	status=0
	make -s installcheck ISOLATION= PG_CONFIG="$1/pg_config" "${@:2}" > "$log/installcheck" 2>&1 || status=$?
	make -s installcheck REGRESS= PG_CONFIG="$1/pg_config" "${@:2}" >> "$log/installcheck" 2>&1 || status=$?
	grep -E '^(ok|not ok|test|     )|\.\.\.' "$log/installcheck" || true
	show regression.diffs 200
	show output_iso/regression.diffs 200
	count "$log/installcheck" '\.\.\. ok|^ok ' '\.\.\. FAILED|^not ok |\.\.\. failed'
	exited "make installcheck" "$status"
	# every file in sql/ and specs/ must have reported
	want=$(( $(find sql -name '*.sql' | wc -l) + $(find specs -name '*.spec' | wc -l) ))
	if [ $((last_ok + last_bad)) -lt "$want" ]; then
		failed=$((failed + want - last_ok - last_bad))
		echo "   $((want - last_ok - last_bad)) of $want regression tests and specs did not report: counted as failures"
		tail -n 20 "$log/installcheck"
	fi

	echo "== pgTAP (pg_prove)"
	createdb loyalty_tap
	status=0
	pg_prove -v -d loyalty_tap test/pgtap/*.sql > "$log/pgtap" 2>&1 || status=$?
	{ grep -E '^(not ok|# )|^[^ ]' "$log/pgtap" || true; } | { grep -v '^ok ' || true; } | tail -n 40
	count "$log/pgtap" '^\s*ok [0-9]' '^\s*not ok [0-9]'
	exited "pg_prove" "$status"

	echo "== TAP scripts (prove)"
	status=0
	prove -v test/scripts/*.sh > "$log/scripts" 2>&1 || status=$?
	{ grep -E '^(not ok|#)|^test/|Result|Bail' "$log/scripts" || true; } | tail -n 40
	count "$log/scripts" '^\s*ok [0-9]' '^\s*not ok [0-9]'
	exited "prove" "$status"
}

echo "=== PostgreSQL 15"
run_suites "$PG_BINDIR"
passed15=$passed failed15=$failed
echo "=== PostgreSQL 15: $passed15 passed, $failed15 failed"

pg17_root="${LOYALTY_PG17_CACHE:-/var/cache/loyalty}/pg17root"
pg17_bin="$pg17_root/usr/lib/postgresql/17/bin"
if [ -f "$pg17_root/.loyalty-stamp" ] && [ -x "$pg17_bin/postgres" ]; then
	echo "=== PostgreSQL 17 ($pg17_bin)"
	# setup.sh's build and install, for 17: into LOYALTY_DESTDIR/pg17 when a
	# LOYALTY_DESTDIR is given, else into 17's private prefix
	dest17="${LOYALTY_DESTDIR:+$LOYALTY_DESTDIR/pg17}"
	share17="$dest17$("$pg17_bin/pg_config" --sharedir)/extension"
	lib17="$("$pg17_bin/pg_config" --pkglibdir)"
	echo "== building and installing the extension for 17 ${LOYALTY_COPT:-}${dest17:+ into $dest17}"
	make -s clean >/dev/null
	make -s PG_CONFIG="$pg17_bin/pg_config" with_llvm=no COPT="${LOYALTY_COPT:-}" >/dev/null
	as_root rm -rf "$share17"/loyalty.control "$share17"/loyalty--*.sql "$dest17$lib17/loyalty.so"
	as_root make -s install PG_CONFIG="$pg17_bin/pg_config" with_llvm=no ${dest17:+DESTDIR="$dest17"} >/dev/null
	if [ -n "$dest17" ]; then chmod -R a+rX "$dest17"; fi
	# a plain cluster (initdb refuses root: the postgres user runs it)
	c17=$(mktemp -d /tmp/loyalty-pg17.XXXXXX)
	chown postgres "$c17"
	trap 'runuser -u postgres -- "$pg17_bin/pg_ctl" -D "$c17/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$log" "$c17"' EXIT
	runuser -u postgres -- "$pg17_bin/initdb" -D "$c17/data" -A trust -U postgres >"$c17/initdb.log" 2>&1 ||
		{ cat "$c17/initdb.log"; exit 1; }
	port17=$(loyalty_free_port)
	{
		echo "port = $port17"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$c17'"
		echo "max_connections = 60"
		echo "fsync = off"	# as pg_virtualenv's cluster of 15
		echo "include_if_exists = 'loyalty_suite.conf'"	# tap.bash's server_conf
		if [ -n "$dest17" ]; then
			echo "extension_destdir = '$dest17'"
			echo "dynamic_library_path = '$dest17$lib17:$lib17'"
		fi
	} >>"$c17/data/postgresql.conf"
	runuser -u postgres -- "$pg17_bin/pg_ctl" -D "$c17/data" -l "$c17/data/server.log" -w start >/dev/null ||
		{ tail -n 20 "$c17/data/server.log"; exit 1; }
	(
		unset PG_CLUSTER_CONF_ROOT PGPASSWORD PGSYSCONFDIR
		export PGHOST=127.0.0.1 PGPORT=$port17 PGUSER=postgres PGDATABASE=postgres
		export PATH="$pg17_bin:$PATH" PGBENCH="$pg17_bin/pgbench" LOYALTY_PGDATA="$c17/data"
		if [ -n "$dest17" ]; then
			export LOYALTY_EXTENSION_DIR="$share17" LOYALTY_DESTDIR="$dest17"
		else
			unset LOYALTY_EXTENSION_DIR LOYALTY_DESTDIR
		fi
		passed=0 failed=0
		run_suites "$pg17_bin" with_llvm=no
		echo "$passed $failed" >"$log/counts17"
	) || true
	read -r passed17 failed17 <"$log/counts17" || { passed17=0 failed17=1; }
	echo "=== PostgreSQL 17: $passed17 passed, $failed17 failed"
	runuser -u postgres -- "$pg17_bin/pg_ctl" -D "$c17/data" -m fast stop >/dev/null 2>&1 || true
	passed=$((passed15 + passed17)) failed=$((failed15 + failed17))
else
	echo "=== PostgreSQL 17: not in the cache (tools/pg17.sh makes it): not tested"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
