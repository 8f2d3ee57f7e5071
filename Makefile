# loyalty -- PGXS build.  EXTVERSION is the one place the version lives; it
# must match default_version in loyalty.control (checked below).
EXTENSION  = loyalty
EXTVERSION = 0.6.0

MODULE_big = loyalty
OBJS = src/loyalty.o src/card.o src/member.o src/ledger.o src/pending.o src/writer.o src/rules.o src/budget.o src/events.o src/tier.o src/tier_day.o src/tier_pending.o src/sale_trigger.o src/benefit.o src/enrolment.o \
	src/dayset.o src/summary.o src/fitstate.o src/numeric.o src/bgnbd.o src/gammagamma.o src/lists.o src/segment.o \
	src/audience.o src/voucher.o src/voucher_code.o src/voucher_use.o src/voucher_rule.o src/hold.o src/txn_key.o

# The install script is built from one file per concern (pgvector, hll).
SQL_SOURCES = src/sql/header.sql src/sql/card.sql src/sql/program.sql \
	src/sql/ledger.sql src/sql/reports.sql src/sql/sale.sql src/sql/budget.sql src/sql/writer.sql src/sql/member_program.sql src/sql/member_sales.sql src/sql/tier.sql src/sql/benefit.sql src/sql/enrolment.sql src/sql/analytics.sql src/sql/lists.sql src/sql/lists_value.sql src/sql/segment.sql src/sql/voucher.sql src/sql/audience.sql src/sql/voucher_rule.sql src/sql/hold.sql src/sql/privileges.sql
DATA_built = sql_build/$(EXTENSION)--$(EXTVERSION).sql
# the frozen install script of the oldest version (for the upgrade chain)
# and every upgrade script
DATA = $(EXTENSION)--0.1.0.sql $(wildcard $(EXTENSION)--*--*.sql)
EXTRA_CLEAN = sql_build

REGRESS = card program ledger errors holds hold_reversals sale limits returns_backdating security null_args crash_paths boundaries column_types tiers tier_findings tier_edges tier_fixes tier_review tier_pending benefit enrolment enrolment_return \
	analytics_summary analytics_models analytics_cdnow analytics_parallel \
	lists_rfm lists_cohorts lists_followup segments segments_p_alive lists_value lists_due voucher voucher_points_key audiences voucher_rules voucher_lines voucher_type_cache voucher_invariants voucher_same_statement voucher_retry new_boundaries hostile_session hold_writes
REGRESS_OPTS = --load-extension=$(EXTENSION)
ISOLATION = redeem_race idempotency redeem_vs_expire expire_skips_closed earn_vs_redeem status_race \
	sale_retry sale_vs_return sale_vs_rule_change budget_race budget_shares stale_rule_cache anonymous_return_lock writer_invalidation \
	tier_sale_race tier_sale_vs_review tier_override_race tier_return_race tier_override_dating benefit_cap_race enroll_race segment_refresh_race audience_clip_race voucher_race voucher_return_race \
	hold_capture_vs_void hold_authorize_race hold_vs_expire hold_key_race hold_settings_after_wait hold_sweep_race
ISOLATION_OPTS = --load-extension=$(EXTENSION)

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-missing-field-initializers

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

CONTROL_VERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)
ifneq ($(CONTROL_VERSION),$(EXTVERSION))
$(error EXTVERSION $(EXTVERSION) does not match default_version $(CONTROL_VERSION) in $(EXTENSION).control)
endif

# every object depends on the headers (PGXS tracks no header dependencies)
$(OBJS): src/compat.h src/loyalty.h src/rules.h src/tier.h src/analytics.h src/lists.h src/segment.h src/audience.h src/voucher.h src/voucher_rule.h src/hold.h src/txn_key.h

sql_build/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SOURCES)
	@mkdir -p sql_build
	cat $(SQL_SOURCES) > $@
