#!/usr/bin/env bash
# Sourced by demo.sh and test.sh: install what a fresh Debian 12 machine lacks,
# then build and install the extension.  Needs root (or sudo).
#
# LOYALTY_DESTDIR=DIR installs into DIR instead of the server's directories,
# and the throwaway cluster loads the extension from there (Debian's
# extension_destdir): several checkouts can then run their suites at once.
set -euo pipefail

LOYALTY_PACKAGES=(build-essential postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
                  libtap-parser-sourcehandler-pgtap-perl postgresql-contrib perl python3 python3-psycopg2
                  postgresql-15-cron pgbouncer)
PG_BINDIR=/usr/lib/postgresql/15/bin

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

loyalty_install_packages() {
	local missing=()
	for p in "${LOYALTY_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "== installing ${missing[*]}"
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

# Remove every file of the extension from the server's directories (or from
# LOYALTY_DESTDIR), so that nothing an earlier build installed there, such as
# a script of a version that no longer exists, is seen by the tests.
loyalty_uninstall() {
	local root="${LOYALTY_DESTDIR:-}" share lib
	share="$root$("$PG_BINDIR/pg_config" --sharedir)/extension"
	lib="$root$("$PG_BINDIR/pg_config" --pkglibdir)"
	as_root rm -rf "$share"/loyalty.control "$share"/loyalty--*.sql \
		"$lib/loyalty.so" "$lib/bitcode/loyalty" "$lib/bitcode/loyalty.index.bc"
}

# LOYALTY_COPT: extra compiler flags (test.sh builds with assertions on).
loyalty_build() {
	echo "== building and installing the extension ${LOYALTY_COPT:-}${LOYALTY_DESTDIR:+ into $LOYALTY_DESTDIR}"
	make -s clean >/dev/null
	make -s PG_CONFIG="$PG_BINDIR/pg_config" COPT="${LOYALTY_COPT:-}" >/dev/null
	loyalty_uninstall
	as_root make -s install PG_CONFIG="$PG_BINDIR/pg_config" ${LOYALTY_DESTDIR:+DESTDIR="$LOYALTY_DESTDIR"} >/dev/null
	if [ -n "${LOYALTY_DESTDIR:-}" ]; then
		chmod -R a+rX "$LOYALTY_DESTDIR"
	fi
}

# pg_virtualenv options that make the cluster load the extension from
# LOYALTY_DESTDIR (nothing without it)
loyalty_cluster_options() {
	[ -n "${LOYALTY_DESTDIR:-}" ] || return 0
	local lib
	lib="$("$PG_BINDIR/pg_config" --pkglibdir)"
	printf '%s\n' -o "extension_destdir=$LOYALTY_DESTDIR" \
		-o "dynamic_library_path=$LOYALTY_DESTDIR$lib:$lib"
}

# A port no server listens on: pg_virtualenv -t looks only at its own
# clusters when it picks one, so two suites at once could pick the same.
loyalty_free_port() {
	local port
	for port in $(shuf -i 20000-29999 -n 50); do
		if [ ! -e "/var/run/postgresql/.s.PGSQL.$port" ] && [ ! -e "/tmp/.s.PGSQL.$port" ] &&
			! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	echo 5433
}

LOYALTY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$LOYALTY_ROOT"
if [ -z "${LOYALTY_IN_CLUSTER:-}" ]; then	# not again inside pg_virtualenv
	loyalty_install_packages
	loyalty_build
fi
export PATH=$PG_BINDIR:$PATH
if [ -n "${LOYALTY_DESTDIR:-}" ]; then
	export LOYALTY_EXTENSION_DIR="$LOYALTY_DESTDIR$("$PG_BINDIR/pg_config" --sharedir)/extension"
fi
