#!/usr/bin/env bash
# Model-based randomized test of tiers: tier_model.py drives random sales,
# returns, reviews and overrides of nine programs (every window kind and
# downgrade policy, time zones with odd offsets and DST) and compares the
# database with a reference model after every step.  Its header lists the
# rules the model encodes.  Fixed seeds; fast (well under a minute).
set -uo pipefail
source "$(dirname "$0")/tap.bash"

db=loyalty_tier_model_$$
cleanup() { dropdb --if-exists "$db" >/dev/null 2>&1; }
trap cleanup EXIT
if ! command -v python3 >/dev/null; then
	echo "1..1"
	echo "not ok 1 - python3 is needed (tools/setup.sh installs it)"
	exit 1
fi
createdb "$db" || bail "createdb $db failed"
python3 "$(dirname "$0")/tier_model.py" "$db"
