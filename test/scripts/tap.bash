# TAP helpers for the shell test scripts in this directory.  Sourced, not run
# (prove only runs *.sh).  The scripts connect with the PG* environment
# variables alone, as the superuser.

tap_n=0

plan() { echo "1..$1"; }

diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# ok <status> <description>: passes when status is 0
ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
	fi
	return "$1"
}

# is <have> <want> <description>
is() {
	if [ "$1" == "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		diag "have: $1" "want: $2"
	fi
}

# same_file <have-file> <want-file> <description>: identical, else the diff
same_file() {
	if cmp -s "$1" "$2"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		diag "diff $2 $1:" "$(diff -u "$2" "$1" | head -60)"
	fi
}

bail() { echo "Bail out! $*"; exit 1; }

# q <db> <sql>: one query, unaligned, tuples only, stop on error
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

# sqlstate <db> <sql>: run it and print the SQLSTATE of its error (nothing
# when it succeeds)
sqlstate() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$1" -c "$2" 2>&1 >/dev/null |
		sed -n 's/^\(psql:[^:]*:[0-9]*: \)\{0,1\}ERROR: *\([0-9A-Z]\{5\}\).*/\2/p' | head -1
}

# greater <have> <than> <description>: both integers and have > than
greater() {
	if [[ "$1" =~ ^-?[0-9]+$ && "$2" =~ ^-?[0-9]+$ ]] && (($1 > $2)); then
		ok 0 "$3"
	else
		ok 1 "$3"
		diag "have: $1" "want more than: $2"
	fi
}

# The suite's server, which test.sh starts either as Debian's pg_virtualenv
# cluster (PostgreSQL 15: pg_lsclusters, pg_ctlcluster, pg_conftool) or as a
# plain pg_ctl cluster (PostgreSQL 17 from tools/pg17.sh: LOYALTY_PGDATA is
# its data directory, it runs as postgres and logs to server.log there).
# suite_cluster: true when the scripts run in one of them (they restart it).
suite_cluster() {
	if [ -n "${LOYALTY_PGDATA:-}" ]; then
		server_logfile="$LOYALTY_PGDATA/server.log"
		return 0
	fi
	[ -n "${PG_CLUSTER_CONF_ROOT:-}" ] || return 1
	read -r server_ver server_cluster server_logfile < <(pg_lsclusters -h | awk 'NR == 1 { print $1, $2, $7 }')
}

# server_ctl start|stop|restart [-m immediate].  A restart is a stop, then a
# start once the cluster reports down (pg_ctlcluster's own restart was seen to
# find the old server still running under load).
server_ctl() {
	if [ -n "${LOYALTY_PGDATA:-}" ]; then
		runuser -u postgres -- "$(command -v pg_ctl)" -D "$LOYALTY_PGDATA" -l "$server_logfile" -w -t 300 "$@" >/dev/null
	elif [ "$1" = restart ]; then
		server_ctl stop || return 1
		for _ in $(seq 1 120); do
			pg_lsclusters -h | awk -v c="$server_cluster" '$2 == c { print $4 }' | grep -qx down && break
			sleep 0.5
		done
		server_ctl start
	else
		pg_ctlcluster "$server_ver" "$server_cluster" "$@" -- -t 300
	fi
}

# server_conf set <name> <value> | server_conf remove <name>: in the
# configuration the next start reads
server_conf() {
	if [ -n "${LOYALTY_PGDATA:-}" ]; then
		local conf="$LOYALTY_PGDATA/loyalty_suite.conf"
		touch "$conf"
		sed -i "/^$2 = /d" "$conf"
		if [ "$1" = set ]; then echo "$2 = '$3'" >>"$conf"; fi
		chown postgres "$conf"
	else
		pg_conftool "$server_ver" "$server_cluster" "$@"
	fi
}
