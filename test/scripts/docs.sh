#!/usr/bin/env bash
# TAP: the README documents every SQLSTATE the code raises, every public
# function and table and every setting (GUC) the library defines; the error
# regression tests provoke every LY SQLSTATE.
set -u
cd "$(dirname "$0")/../.."
codes=$( (grep -ho "MAKE_SQLSTATE('L','Y','[0-9]','[0-9]','[0-9]')" src/*.h | sed "s/[^0-9]//g; s/^/LY/"; \
          grep -ho "ERRCODE = 'LY[0-9]*'" src/sql/*.sql | grep -o "LY[0-9]*") | sort -u)
settings=$(grep -ho 'DefineCustom[A-Za-z]*Variable("loyalty\.[a-z_]*"' src/*.c | grep -o 'loyalty\.[a-z_]*' | sort -u)
db=loyalty_docs_$$
createdb "$db" && psql -X -q -d "$db" -c "CREATE EXTENSION loyalty" >/dev/null
objects=$(psql -X -At -d "$db" -c "
  SELECT p.proname FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
   WHERE p.pronamespace = 'loyalty'::regnamespace AND p.prorettype <> 'trigger'::regtype
     AND p.proname NOT LIKE 'card\_%' OR p.proname IN ('card_issue', 'card_is_valid')
  UNION SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind = 'r'" | sort -u)
dropdb "$db"
n=0
tests=$(( $(echo "$codes" | wc -l) * 2 + $(echo "$objects" | wc -l) + $(echo "$settings" | wc -l) ))
echo "1..$tests"
for c in $codes; do
	n=$((n + 1))
	if grep -q "\`$c\`" README.md; then echo "ok $n - README documents $c"; else echo "not ok $n - README documents $c"; fi
	n=$((n + 1))
	if grep -q "^ .*| $c: " expected/*.out; then echo "ok $n - a regression test provokes $c"; else echo "not ok $n - a regression test provokes $c"; fi
done
for o in $objects; do
	n=$((n + 1))
	if grep -q "\`$o\b" README.md; then echo "ok $n - README documents $o"; else echo "not ok $n - README documents $o"; fi
done
for g in $settings; do
	n=$((n + 1))
	if grep -q "\`$g\`" README.md; then echo "ok $n - README documents setting $g"; else echo "not ok $n - README documents setting $g"; fi
done
