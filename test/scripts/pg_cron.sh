#!/usr/bin/env bash
# The batch jobs under pg_cron (Debian's postgresql-15-cron), as the README's
# "Scheduling" section tells a DBA to install them: run by a role with the
# admin level (not a superuser), in background workers.  Two jobs that run
# the same batch fire in the same minute, so the runs overlap: lapsed points
# expire exactly once and the tier review changes each member once.
#
# Loads pg_cron into the suite's cluster (server_conf and a restart with
# server_ctl: pg_conftool and pg_ctlcluster on 15's pg_virtualenv cluster, a
# conf file and pg_ctl on 17's), and takes it out again at the end.  Waits for
# the next minute boundary: pg_cron 1.4 schedules by the minute.
set -uo pipefail
source "$(dirname "$0")/tap.bash"

db=loyalty_cron_$$
role=loyalty_batch_$$
cleanup() {
	for p in shared_preload_libraries cron.database_name cron.use_background_workers; do
		server_conf remove "$p" >/dev/null 2>&1
	done
	server_ctl restart >/dev/null 2>&1
	dropdb --if-exists "$db" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
	rm -f "$err"
}

plan 8

suite_cluster || bail "needs the cluster of test.sh (it restarts it)"
[ -f "$(pg_config --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)/pg_cron.so" ] ||
	[ -f /usr/lib/postgresql/15/lib/pg_cron.so ] || bail "pg_cron is not installed (tools/setup.sh installs postgresql-15-cron)"
trap cleanup EXIT

err=$(mktemp)
# fail <what>: bail out, showing what the failing command said
fail() { diag "$(cat "$err")"; bail "$1"; }
createdb "$db" 2>"$err" || fail "createdb"
server_conf set shared_preload_libraries pg_cron &&
	server_conf set cron.database_name "$db" &&
	server_conf set cron.use_background_workers on 2>"$err" || fail "configure pg_cron"
server_ctl restart >"$err" 2>&1 || fail "restart with pg_cron"

# A program whose points last a day: each member has 100 points earned three
# days ago (lapsed) and 50 earned now; a tier ladder for the review.
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null 2>"$err" <<SQL || fail "setup"
CREATE EXTENSION pg_cron;
CREATE EXTENSION loyalty;
CREATE ROLE $role LOGIN;
SELECT loyalty.grant_access('$role', 'admin');
INSERT INTO loyalty.program (code, expiry_after) VALUES ('cron', '1 day');
INSERT INTO loyalty.tier (program_id, code, rank) SELECT program_id, 'base', 0 FROM loyalty.program;
INSERT INTO loyalty.tier (program_id, code, rank, min_spend) SELECT program_id, 'gold', 1, 100 FROM loyalty.program;
SELECT loyalty.enroll(loyalty.card_issue('85', s), 'cron') FROM generate_series(1, 3) s;
UPDATE loyalty.member SET enrolled_at = now() - interval '10 days';
SELECT loyalty.earn(loyalty.card_issue('85', s), 100, 'old', effective_at => now() - interval '3 days'),
       loyalty.earn(loyalty.card_issue('85', s), 50, 'new')
  FROM generate_series(1, 3) s;
SQL
is "$(q "$db" "SELECT count(*) FROM loyalty.lot WHERE expires_at <= now()")" 3 "setup: three lapsed lots"

# The schedules, each as the batch role; two of each batch so that runs overlap.
q "$db" "SELECT cron.schedule_in_database(j || '-' || n, '* * * * *', c, '$db', '$role')
           FROM (VALUES ('expire', 'SELECT loyalty.expire_points()'),
                        ('review', 'SELECT * FROM loyalty.review_tiers()')) v(j, c),
                generate_series(1, 2) n" >/dev/null 2>"$err" || fail "cron.schedule_in_database"

for _ in $(seq 1 90); do
	[ "$(q "$db" "SELECT count(*) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')")" -ge 4 ] && break
	sleep 1
done
q "$db" "CREATE TABLE runs AS SELECT j.jobname, d.* FROM cron.job_run_details d JOIN cron.job j USING (jobid);
         SELECT cron.unschedule(jobid) FROM cron.job" >/dev/null

is "$(q "$db" "SELECT string_agg(j.jobname || ' ' || j.status || coalesce(' ' || nullif(j.return_message, ''), ''), ', ' ORDER BY j.jobname)
                 FROM runs j")" \
	"expire-1 succeeded SELECT 1, expire-2 succeeded SELECT 1, review-1 succeeded SELECT 1, review-2 succeeded SELECT 1" \
	"the four jobs ran once each, and succeeded"
is "$(q "$db" "SELECT DISTINCT username FROM runs")" "$role" "they ran as the batch role"
is "$(q "$db" "SELECT rolsuper FROM pg_roles WHERE rolname = '$role'")" "f" "which is not a superuser"
is "$(q "$db" "SELECT count(DISTINCT date_trunc('minute', start_time)) FROM runs")" 1 \
	"all four fired in the same minute, in parallel workers (the two runs of each batch overlapped)"
is "$(q "$db" "SELECT count(*) || ' entries, ' || sum(points) || ' points' FROM loyalty.ledger WHERE kind = 'expire'")" \
	"3 entries, -300 points" "each lapsed lot expired exactly once"
is "$(q "$db" "SELECT string_agg(b.available::text, ',') FROM loyalty.member_card c, loyalty.balance(c.card) b")" \
	"50,50,50" "every member keeps the 50 points that have not lapsed"
bad=$(q "$db" "SELECT string_agg(format('member %s: %s (%s)', member_id, invariant, detail), E'\n')
                 FROM loyalty.check_invariants()")
is "$bad" "" "check_invariants() is empty"
