# Sourced by holds.sh and hold_costs.sh (the tender hold benches), with DB
# and here set: the settings they share, a temporary folder, psql_db, and the
# database DB made afresh with setup.sql's funded members (dropped at exit).
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
CLIENTS=${BENCH_CLIENTS:-4}
THREADS=${BENCH_THREADS:-2}
MEMBERS=${BENCH_MEMBERS:-10000}
FUND=1000000

tmp=$(mktemp -d)
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

echo "== setup: $MEMBERS members, each funded with $FUND points"
dropdb --if-exists "$DB" >/dev/null 2>&1
createdb "$DB"
psql_db -v members="$MEMBERS" -v fund="$FUND" -f "$here/setup.sql" >/dev/null
echo "server $(psql_db -At -c "SELECT current_setting('server_version') || ', fsync=' || current_setting('fsync')
                                  || ', synchronous_commit=' || current_setting('synchronous_commit')"), $(nproc) cores"
