#!/usr/bin/env bash
# The demo: a throwaway cluster, a small program, a few hundred members and a
# stream of POS activity through the public SQL API; prints what happened.
set -euo pipefail
self="$(realpath "$0")"
source "$(dirname "$self")/tools/setup.sh"

if [ -z "${LOYALTY_IN_CLUSTER:-}" ]; then
	mapfile -t cluster_options < <(loyalty_cluster_options)
	exec env LOYALTY_IN_CLUSTER=1 PGPORT="$(loyalty_free_port)" pg_virtualenv -v 15 -t \
		"${cluster_options[@]}" "$self" "$@"
fi
echo "== demo on a throwaway cluster (port $PGPORT)"
psql -X -q -v ON_ERROR_STOP=1 -f demo/demo.sql
