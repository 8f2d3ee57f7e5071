#!/usr/bin/env bash
# Sourced by demo.sh and test.sh: install what a fresh Debian 12 machine lacks,
# then build and install the extension.  Needs root (or sudo).
set -euo pipefail

LOYALTY_PACKAGES=(build-essential postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
                  libtap-parser-sourcehandler-pgtap-perl postgresql-contrib perl)

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

# LOYALTY_COPT: extra compiler flags (test.sh builds with assertions on).
loyalty_build() {
	echo "== building and installing the extension ${LOYALTY_COPT:-}"
	make -s clean >/dev/null
	make -s PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config COPT="${LOYALTY_COPT:-}" >/dev/null
	as_root make -s install PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config >/dev/null
}

LOYALTY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$LOYALTY_ROOT"
if [ -z "${LOYALTY_IN_CLUSTER:-}" ]; then	# not again inside pg_virtualenv
	loyalty_install_packages
	loyalty_build
fi
export PATH=/usr/lib/postgresql/15/bin:$PATH
