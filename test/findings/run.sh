#!/usr/bin/env bash
# The open tier findings (not in the Makefile's lists: they fail today).
# Run inside a cluster with the extension installed, as test.sh does, e.g.
#   LOYALTY_DESTDIR=/tmp/dd ./test/findings/run.sh
# (builds, installs and starts a throwaway cluster like test.sh).
set -euo pipefail
self="$(realpath "$0")"
source "$(dirname "$self")/../../tools/setup.sh"
if [ -z "${LOYALTY_IN_CLUSTER:-}" ]; then
	mapfile -t cluster_options < <(loyalty_cluster_options)
	exec env LOYALTY_IN_CLUSTER=1 PGPORT="$(loyalty_free_port)" pg_virtualenv -v 15 -t \
		"${cluster_options[@]}" "$self" "$@"
fi
make -s installcheck PG_CONFIG="$PG_BINDIR/pg_config" REGRESS=tier_open ISOLATION= \
	REGRESS_OPTS="--load-extension=loyalty --inputdir=test/findings --outputdir=test/findings/out"
