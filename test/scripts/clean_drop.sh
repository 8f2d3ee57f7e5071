#!/usr/bin/env bash
# DROP EXTENSION leaves the catalog exactly as CREATE EXTENSION found it, and
# every object of the extension carries a COMMENT.
set -uo pipefail
source "$(dirname "$0")/tap.bash"

db=loyalty_drop_$$
role=loyalty_drop_admin_$$
work=$(mktemp -d)
cleanup() {
	dropdb --if-exists "$db" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

plan 12

# A description of everything in the database's catalog that an extension
# can create or change: one line per object (pg_identify_object), plus the
# ACLs of the objects and the sizes of the catalogs that only hold links
# between objects (dependencies, comments, initial privileges, shared
# dependencies on roles for this database).
snapshot_sql="
WITH obj(classid, objid) AS (
	          SELECT 'pg_class'::regclass,      oid FROM pg_class
	UNION ALL SELECT 'pg_proc'::regclass,       oid FROM pg_proc
	UNION ALL SELECT 'pg_type'::regclass,       oid FROM pg_type
	UNION ALL SELECT 'pg_operator'::regclass,   oid FROM pg_operator
	UNION ALL SELECT 'pg_opclass'::regclass,    oid FROM pg_opclass
	UNION ALL SELECT 'pg_opfamily'::regclass,   oid FROM pg_opfamily
	UNION ALL SELECT 'pg_amop'::regclass,       oid FROM pg_amop
	UNION ALL SELECT 'pg_amproc'::regclass,     oid FROM pg_amproc
	UNION ALL SELECT 'pg_cast'::regclass,       oid FROM pg_cast
	UNION ALL SELECT 'pg_namespace'::regclass,  oid FROM pg_namespace
	UNION ALL SELECT 'pg_trigger'::regclass,    oid FROM pg_trigger
	UNION ALL SELECT 'pg_event_trigger'::regclass, oid FROM pg_event_trigger
	UNION ALL SELECT 'pg_constraint'::regclass, oid FROM pg_constraint
	UNION ALL SELECT 'pg_attrdef'::regclass,    oid FROM pg_attrdef
	UNION ALL SELECT 'pg_rewrite'::regclass,    oid FROM pg_rewrite
	UNION ALL SELECT 'pg_policy'::regclass,     oid FROM pg_policy
	UNION ALL SELECT 'pg_collation'::regclass,  oid FROM pg_collation
	UNION ALL SELECT 'pg_conversion'::regclass, oid FROM pg_conversion
	UNION ALL SELECT 'pg_extension'::regclass,  oid FROM pg_extension
	UNION ALL SELECT 'pg_ts_config'::regclass,  oid FROM pg_ts_config
	UNION ALL SELECT 'pg_ts_dict'::regclass,    oid FROM pg_ts_dict
	UNION ALL SELECT 'pg_foreign_data_wrapper'::regclass, oid FROM pg_foreign_data_wrapper
	UNION ALL SELECT 'pg_foreign_server'::regclass, oid FROM pg_foreign_server
	UNION ALL SELECT 'pg_statistic_ext'::regclass, oid FROM pg_statistic_ext
	UNION ALL SELECT 'pg_publication'::regclass, oid FROM pg_publication
)
SELECT line FROM (
	SELECT format('%s | %s', i.type, i.identity) AS line
	  FROM obj, pg_identify_object(obj.classid, obj.objid, 0) AS i
	UNION ALL SELECT format('acl | class %s | %s', oid::regclass, relacl) FROM pg_class WHERE relacl IS NOT NULL
	UNION ALL SELECT format('acl | function %s | %s', oid::regprocedure, proacl) FROM pg_proc WHERE proacl IS NOT NULL
	UNION ALL SELECT format('acl | type %s | %s', oid::regtype, typacl) FROM pg_type WHERE typacl IS NOT NULL
	UNION ALL SELECT format('acl | schema %s | %s', nspname, nspacl) FROM pg_namespace WHERE nspacl IS NOT NULL
	UNION ALL SELECT format('count | pg_depend | %s', count(*)) FROM pg_depend
	UNION ALL SELECT format('count | pg_description | %s', count(*)) FROM pg_description
	UNION ALL SELECT format('count | pg_init_privs | %s', count(*)) FROM pg_init_privs
	UNION ALL SELECT format('count | pg_seclabel | %s', count(*)) FROM pg_seclabel
	UNION ALL SELECT format('count | pg_attribute | %s', count(*)) FROM pg_attribute
	UNION ALL SELECT format('count | pg_shdepend of this database | %s', count(*))
	  FROM pg_shdepend WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
) s ORDER BY line"

createdb "$db" || bail "createdb $db failed"
q "$db" "$snapshot_sql" >"$work/before" 2>&1
ok $? "catalog snapshot of a fresh database ($(wc -l <"$work/before") lines)" || diag "$(head "$work/before")"

q "$db" "CREATE EXTENSION loyalty" >"$work/log" 2>&1
ok $? "CREATE EXTENSION loyalty" || diag "$(cat "$work/log")"
q "$db" "$snapshot_sql" >"$work/created" 2>&1
added=$(comm -13 "$work/before" "$work/created" | wc -l)
ok $(( added > 50 ? 0 : 1 )) "the snapshot sees what CREATE EXTENSION adds ($added lines)"

# Use it a little: every table gets rows, a role gets grants (ACLs and
# shared dependencies that DROP EXTENSION must take away again).
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >"$work/log" 2>&1 <<SQL
CREATE ROLE $role;
SELECT loyalty.grant_access('$role', 'admin');
INSERT INTO loyalty.program (code, expiry_after) VALUES ('cd', interval '1 year');
SELECT loyalty.enroll(loyalty.card_issue('40', 1), 'cd');
SELECT loyalty.enroll(loyalty.card_issue('40', 2), 'cd');
SELECT loyalty.earn(loyalty.card_issue('40', 1), 100, 'e1');
SELECT loyalty.earn(loyalty.card_issue('40', 1), 50, 'e0', NULL, '2000-01-01');
SELECT loyalty.redeem(loyalty.card_issue('40', 1), 30, 's', 't');
SELECT loyalty.expire_points(now());
SELECT loyalty.replace_card(loyalty.card_issue('40', 2), loyalty.card_issue('40', 3));
SELECT loyalty.set_member_status(loyalty.card_issue('40', 3), 'suspended');
CREATE TABLE public.cd_cards (c loyalty.card);
CREATE INDEX ON public.cd_cards USING hash (c);
INSERT INTO public.cd_cards SELECT loyalty.card_issue('40', g) FROM generate_series(1, 10) g;
DROP TABLE public.cd_cards;
SQL
ok $? "the extension used: grants, programs, members, postings, a table with the card type" || diag "$(tail "$work/log")"

q "$db" "DROP EXTENSION loyalty" >"$work/log" 2>&1
ok $? "DROP EXTENSION loyalty (no CASCADE needed)" || diag "$(cat "$work/log")"
q "$db" "$snapshot_sql" >"$work/after" 2>&1
same_file "$work/after" "$work/before" "after DROP EXTENSION the catalog is as it was before CREATE EXTENSION"

# The schema belongs to the extension (the install script creates it, as
# pg_cron's does), so it goes too, with the grants grant_access() put on it.
schema_left=$(q "$db" "SELECT count(*) FROM pg_namespace WHERE nspname = 'loyalty'")
is "$schema_left" "0" "schema loyalty went with the extension"
q "$db" "DROP ROLE $role" >"$work/log" 2>&1
ok $? "a role granted access can be dropped after DROP EXTENSION (no grants left behind)" || diag "$(cat "$work/log")"

q "$db" "CREATE EXTENSION loyalty" >"$work/log" 2>&1
ok $? "CREATE EXTENSION loyalty again after the drop" || diag "$(cat "$work/log")"

# ---------------------------------------------------------------------------
# Comments.  Every member of the extension (pg_depend deptype 'e') has a
# non-empty COMMENT: functions, tables, views, sequences, types, operators, operator
# classes and families, casts.  Not required, by decision:
#  - objects that are not members but parts of one: columns (the extension
#    comments the columns whose meaning is not obvious from the name),
#    constraints, indexes and triggers (the trigger functions carry the
#    comment); they go with their table;
#  - implicit objects PostgreSQL makes on its own: the array type of every
#    type and the row type of every table (not members anyway), and the
#    sequences behind identity columns (members, but part of the column:
#    they cannot be created or dropped on their own).
# ---------------------------------------------------------------------------
members_sql="
SELECT d.classid::regclass::text AS catalog, pg_describe_object(d.classid, d.objid, 0) AS object,
	   obj_description(d.objid, d.classid::regclass::name) AS comment
  FROM pg_depend d
 WHERE d.deptype = 'e'
   AND d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'loyalty')
   AND NOT EXISTS (SELECT FROM pg_depend i
					WHERE d.classid = 'pg_class'::regclass AND i.classid = d.classid
					  AND i.objid = d.objid AND i.deptype = 'i' AND i.refobjsubid > 0)
   -- PostgreSQL 17 records a table's row type and an array type as members
   -- of their own; they go with their table or element type
   AND NOT EXISTS (SELECT FROM pg_depend i
					WHERE d.classid = 'pg_type'::regclass AND i.classid = d.classid
					  AND i.objid = d.objid AND i.deptype = 'i')"
kinds=$(q "$db" "SELECT string_agg(DISTINCT split_part(object, ' ', 1) || ' ' || CASE WHEN split_part(object, ' ', 2) IN ('class', 'family') THEN split_part(object, ' ', 2) ELSE '' END, ',') FROM ($members_sql) m" 2>&1 | sed 's/ ,/,/g; s/ $//')
is "$kinds" "cast,function,operator,operator class,operator family,schema,sequence,table,type,view" \
	"the members checked include every kind of object the extension has"
n=$(q "$db" "SELECT count(*) FROM ($members_sql) m" 2>&1)
ok $(( n >= 50 ? 0 : 1 )) "there are members to check ($n)"
missing=$(q "$db" "SELECT object FROM ($members_sql) m WHERE coalesce(btrim(comment), '') = '' ORDER BY 1" 2>&1)
is "$missing" "" "every member of the extension has a COMMENT"
