/*
 * rules.c -- the earning-rules engine.
 *
 * Rules are rows of loyalty.rule.  Each backend compiles the active rules of
 * all programs once into RuleCacheContext and keeps them until a change to
 * loyalty.rule, loyalty.program or loyalty.store commits: a statement trigger
 * on those tables (loyalty_rules_changed) sends a relcache invalidation of
 * loyalty.rule to every backend, and our callback marks the cache stale, so
 * the next sale in every session sees the change without reconnecting (the
 * way pg_cron refreshes its job cache).
 *
 * Evaluation of one sale, deterministic and documented in the README:
 *   1. exclude rules whose windows hold take their lines out of earning;
 *   2. the base rate: points_per_unit x amount of every earning line;
 *   3. the other rules by priority, then rule_id: each one's windows, lines,
 *      minimum basket, kind-specific test, member cap and budget decide
 *      whether it fires and for how many points; a non-stackable rule that
 *      fires ends the list.
 * Each part is rounded by the program's rounding policy; the award is their
 * sum (never below zero).  Every rule considered leaves a RuleOutcome with the
 * reason it did not fire, which the sale keeps in its award column.
 */
#include "rules.h"
#include "audience.h"
#include "segment.h"
#include "tier.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
#include "parser/parse_relation.h"
#include "common/int.h"
#include "pgtime.h"
#include "miscadmin.h"

static void MalformedAward(const char *what) pg_attribute_noreturn();
static void MalformedLine(int k, const char *what) pg_attribute_noreturn();

/* rule.kind, in the order of rule_kind_names */
typedef enum RuleKind
{
	RULE_EXCLUDE,
	RULE_MULTIPLIER,
	RULE_BONUS,
	RULE_FIRST_PURCHASE,
	RULE_NTH_VISIT,
	RULE_VOUCHER
} RuleKind;

static const char *const rule_kind_names[] = {
	"exclude", "multiplier", "bonus", "first_purchase", "nth_visit", "voucher", NULL
};

typedef struct CompiledRule
{
	int32		rule_id;
	int32		program_id;
	char	   *code;
	RuleKind	kind;
	int32		priority;
	bool		stackable;
	int			nskus;
	char	  **skus;
	int			ncategories;
	char	  **categories;
	int			nstores;
	char	  **stores;
	bool		has_valid_from;
	TimestampTz valid_from;
	bool		has_valid_to;
	TimestampTz valid_to;
	int			dow_mask;		/* bit d for ISO day d; 0: every day */
	int			hour_from;		/* -1: all day */
	int			hour_to;
	bool		has_min_basket;
	Datum		min_basket;
	Datum		multiplier;
	int64		points;
	int32		every_nth;
	LoyaltyPeriod visit_period; /* LOYALTY_PERIOD_NONE: not an nth_visit rule */
	int32		member_max_uses;	/* 0: none */
	int64		member_max_points;	/* 0: none */
	int64		budget_points;	/* 0: none */
	bool		has_segments;	/* rule.segments is set: only their members */
	int			nsegments;
	int64	   *segments;		/* their segment ids */
	char	   *segment_codes;	/* their codes, for the award's "why" */
	LoyaltyAudienceRef audience;	/* rule.audience: only its members */
	char	   *voucher_type;	/* kind voucher: the code of the type it issues */
	int32		voucher_type_id;
	bool		on_return;		/* fires on returns (kind voucher) */
	bool		has_sold_from;	/* on_return: when the returned sale was made */
	TimestampTz sold_from;
	bool		has_sold_to;
	TimestampTz sold_to;
	bool		has_type_from;	/* the type's fixed window */
	TimestampTz type_from;
	bool		has_type_to;
	TimestampTz type_to;
	LoyaltyAudienceRef type_audience;	/* the voucher type's audience: only its members */
} CompiledRule;

/* A program's settings, cached with the rules (a change to either reloads both). */
typedef struct CachedProgram
{
	int32		program_id;
	Datum		point_value;	/* numeric */
	char	   *currency;
	bool		has_expiry;
	Interval	expiry_after;
	LoyaltyPeriod expiry_rounding;
	int32		pending_days;
	LoyaltyDebitPolicy negative_balance;
	Datum		points_per_unit;	/* numeric */
	LoyaltyRounding rounding;
	char	   *time_zone;
	int32		return_days;
	Interval	backdate_limit;
	int32		hold_minutes;
	LoyaltyLadder ladder;		/* its tiers, by rank */
} CachedProgram;

static MemoryContext RuleCacheContext = NULL;
static CachedProgram *programs = NULL;
static int	nprograms = 0;

/* Stores with a time zone of their own, sorted by store (bytes), cached likewise. */
static char **zone_stores = NULL;
static char **zone_names = NULL;
static int	nzones = 0;
static bool rule_cache_valid = false;
static uint64 rule_cache_generation = 0;	/* bumped by every invalidation */
static CompiledRule *rules = NULL;
static int	nrules = 0;
static Oid	rule_relid = InvalidOid;
static bool callback_registered = false;

static LoyaltyPlan load_rules_plan = {
	"SELECT rule_id, program_id, code, kind, priority, stackable, skus, categories, "
	"stores, valid_from, valid_to, days_of_week, hour_from, hour_to, min_basket, "
	"multiplier, points, every_nth, visit_period, member_max_uses, member_max_points, "
	"budget_points, segments IS NOT NULL, "
	"(SELECT pg_catalog.array_agg(s.segment_id ORDER BY s.segment_id) FROM loyalty.segment s "
	" WHERE s.program_id OPERATOR(pg_catalog.=) r.program_id "
	" AND s.code OPERATOR(pg_catalog.=) ANY (r.segments)), "
	"pg_catalog.array_to_string(segments, ', '), "
	LOYALTY_AUDIENCE_COLUMNS("r.audience") ", "
	"voucher_type, vt.vt_id, on_return, sold_from, sold_to, vt.vt_from, vt.vt_to, "
	"vt.vt_audience IS NOT NULL, vt.vta_id, vt.vta_opt_in, vt.vta_from, vt.vta_to, vt.vt_audience "
	"FROM loyalty.rule r "
	LOYALTY_AUDIENCE_JOIN("r.program_id", "r.audience")
	/* a voucher rule's type: its id, window and audience */
	"LEFT JOIN LATERAL (SELECT t.voucher_type_id AS vt_id, t.valid_from AS vt_from, t.valid_to AS vt_to, "
	" t.audience AS vt_audience, a.audience_id AS vta_id, a.opt_in AS vta_opt_in, "
	" a.valid_from AS vta_from, a.valid_to AS vta_to "
	" FROM loyalty.voucher_type t LEFT JOIN loyalty.audience a "
	" ON a.program_id OPERATOR(pg_catalog.=) t.program_id AND a.code OPERATOR(pg_catalog.=) t.audience "
	" WHERE t.program_id OPERATOR(pg_catalog.=) r.program_id "
	" AND t.code OPERATOR(pg_catalog.=) r.voucher_type) vt ON true "
	"WHERE active "
	"ORDER BY program_id, kind OPERATOR(pg_catalog.<>) 'exclude', priority, rule_id",
	0, {InvalidOid}
};

/* any earlier sale of the member, whatever its date (a back-filled sale too) */

/*
 * Visit days of the member in the period that holds the sale, in local time
 * ($3): how many, and whether the sale's own day is one of them already.  The
 * period's bounds are local wall times (a quarter is three months).
 */

static LoyaltyPlan load_programs_plan = {
	"SELECT program_id, point_value, currency, expiry_after, expiry_rounding, pending_days, "
	"negative_balance, points_per_unit, rounding, time_zone, return_days, backdate_limit, "
	"tier_window, tier_window_days, hold_minutes FROM loyalty.program",
	0, {InvalidOid}
};

static LoyaltyPlan load_tiers_plan = {
	"SELECT program_id, tier_id, code, rank, min_spend, min_visits, min_points, "
	"earn_multiplier, discount_pct FROM loyalty.tier ORDER BY program_id, rank",
	0, {InvalidOid}
};

static LoyaltyPlan load_store_zones_plan = {
	"SELECT store, time_zone FROM loyalty.store WHERE time_zone IS NOT NULL ORDER BY store COLLATE \"C\"",
	0, {InvalidOid}
};

static LoyaltyPlan member_use_plan = {
	"SELECT uses, points FROM loyalty.member_rule_use "
	"WHERE member_id OPERATOR(pg_catalog.=) $1 AND rule_id OPERATOR(pg_catalog.=) $2",
	2, {INT8OID, INT4OID}
};

static LoyaltyPlan member_use_add_plan = {
	"INSERT INTO loyalty.member_rule_use AS u (member_id, rule_id, uses, points) "
	"VALUES ($1, $2, 1, $3) ON CONFLICT (member_id, rule_id) DO UPDATE "
	"SET uses = u.uses OPERATOR(pg_catalog.+) 1, points = u.points OPERATOR(pg_catalog.+) $3",
	3, {INT8OID, INT4OID, INT8OID}
};






/*
 * Whole points from an exact amount, by the program's rounding policy.  The
 * limit of one entry applies to the rounded points (LY012).
 */
int64
LoyaltyRoundPoints(Datum exact, LoyaltyRounding rounding)
{
	Datum		r;

	switch (rounding)
	{
		case LOYALTY_ROUND_CEIL:
			r = DirectFunctionCall1(numeric_ceil, exact);
			break;
		case LOYALTY_ROUND_HALF_UP:
			r = DirectFunctionCall2(numeric_round, exact, Int32GetDatum(0));
			break;
		default:
			r = DirectFunctionCall1(numeric_floor, exact);
			break;
	}
	if (NumCmp(DirectFunctionCall1(numeric_abs, r), NumInt(LOYALTY_MAX_POINTS)) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_POINTS),
				 errmsg("a sale would earn more than " INT64_FORMAT " points", (int64) LOYALTY_MAX_POINTS),
				 errdetail("One entry moves at most " INT64_FORMAT " points.", (int64) LOYALTY_MAX_POINTS)));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, r));
}

/* ---------- the rule cache ---------- */

static void
RuleCacheCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == rule_relid)
	{
		rule_cache_valid = false;
		rule_cache_generation++;
	}
}

static char **
TextArray(Datum d, int *n)
{
	ArrayType  *arr = DatumGetArrayTypeP(d);
	Datum	   *elems;
	bool	   *nulls;
	int			count;
	char	  **out;
	int			k = 0;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count);
	out = palloc(sizeof(char *) * Max(count, 1));
	for (int i = 0; i < count; i++)
		if (!nulls[i])
			out[k++] = TextDatumGetCString(elems[i]);
	*n = k;
	return out;
}

/* A text column that must not be NULL, as a C string in the current context. */
static char *
RequiredValue(HeapTuple tup, TupleDesc desc, int col, const char *what)
{
	char	   *value = SPI_getvalue(tup, desc, col);

	if (value == NULL)
		elog(ERROR, "%s is NULL", what);
	return value;
}

/* The days_of_week array as a bit mask (bit d for ISO day d). */
static int
DayMask(Datum days)
{
	ArrayType  *arr = DatumGetArrayTypeP(days);
	Datum	   *elems;
	bool	   *nulls;
	int			count;
	int			mask = 0;

	deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &count);
	for (int k = 0; k < count; k++)
	{
		int			day = DatumGetInt32(elems[k]);

		if (!nulls[k] && day >= 1 && day <= 7)
			mask |= 1 << day;
	}
	return mask;
}

/*
 * rule.segments (columns col .. col + 2 of load_rules_plan: whether it is
 * set, the ids of its segments, their codes) into r.  Codes that name no
 * segment (refused when written: LY064) match no member.
 */
static void
CompileSegments(HeapTuple tup, TupleDesc desc, int col, CompiledRule *r)
{
	bool		isnull;
	Datum		d;

	r->has_segments = DatumGetBool(SPI_getbinval(tup, desc, col, &isnull));
	if (!r->has_segments)
		return;
	d = SPI_getbinval(tup, desc, col + 1, &isnull);
	if (!isnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *nulls;
		int			count;

		deconstruct_array(arr, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE, &elems, &nulls, &count);
		r->segments = palloc(sizeof(int64) * Max(count, 1));
		for (int k = 0; k < count; k++)
			if (!nulls[k])
				r->segments[r->nsegments++] = DatumGetInt64(elems[k]);
	}
	r->segment_codes = SPI_getvalue(tup, desc, col + 2);
}

/* A timestamptz column that may be NULL: whether it is set, and *t. */
static bool
OptionalTime(HeapTuple tup, TupleDesc desc, int col, TimestampTz *t)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	*t = isnull ? 0 : DatumGetTimestampTz(d);
	return !isnull;
}

/*
 * A voucher rule's columns (col .. col + 6 of load_rules_plan: the type's
 * code and id, on_return, sold_from, sold_to, the type's valid_from and
 * valid_to; then the type's audience) into r.
 */
static void
CompileVoucher(HeapTuple tup, TupleDesc desc, int col, CompiledRule *r)
{
	bool		isnull;
	Datum		d;

	r->voucher_type = SPI_getvalue(tup, desc, col);
	d = SPI_getbinval(tup, desc, col + 1, &isnull);
	r->voucher_type_id = isnull ? 0 : DatumGetInt32(d);
	if (r->kind == RULE_VOUCHER && r->voucher_type_id == 0)
		elog(ERROR, "voucher rule %d has no voucher type", r->rule_id);
	r->on_return = DatumGetBool(SPI_getbinval(tup, desc, col + 2, &isnull));
	r->has_sold_from = OptionalTime(tup, desc, col + 3, &r->sold_from);
	r->has_sold_to = OptionalTime(tup, desc, col + 4, &r->sold_to);
	r->has_type_from = OptionalTime(tup, desc, col + 5, &r->type_from);
	r->has_type_to = OptionalTime(tup, desc, col + 6, &r->type_to);
	LoyaltyCompileAudience(tup, desc, col + 7, &r->type_audience);
}

/* One row of load_rules_plan compiled into r, in the current context. */
static void
CompileRule(HeapTuple tup, TupleDesc desc, CompiledRule *r)
{
	bool		isnull;
	Datum		d;
	char	   *period;

	r->rule_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	r->program_id = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	r->code = RequiredValue(tup, desc, 3, "rule.code");
	r->kind = LoyaltyParseName(RequiredValue(tup, desc, 4, "rule.kind"), rule_kind_names, "rule kind");
	r->priority = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
	r->stackable = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
	d = SPI_getbinval(tup, desc, 7, &isnull);
	if (!isnull)
		r->skus = TextArray(d, &r->nskus);
	d = SPI_getbinval(tup, desc, 8, &isnull);
	if (!isnull)
		r->categories = TextArray(d, &r->ncategories);
	d = SPI_getbinval(tup, desc, 9, &isnull);
	if (!isnull)
		r->stores = TextArray(d, &r->nstores);
	d = SPI_getbinval(tup, desc, 10, &isnull);
	r->has_valid_from = !isnull;
	r->valid_from = isnull ? 0 : DatumGetTimestampTz(d);
	d = SPI_getbinval(tup, desc, 11, &isnull);
	r->has_valid_to = !isnull;
	r->valid_to = isnull ? 0 : DatumGetTimestampTz(d);
	d = SPI_getbinval(tup, desc, 12, &isnull);
	if (!isnull)
		r->dow_mask = DayMask(d);
	d = SPI_getbinval(tup, desc, 13, &isnull);
	r->hour_from = isnull ? -1 : DatumGetInt32(d);
	d = SPI_getbinval(tup, desc, 14, &isnull);
	r->hour_to = isnull ? -1 : DatumGetInt32(d);
	d = SPI_getbinval(tup, desc, 15, &isnull);
	r->has_min_basket = !isnull;
	r->min_basket = isnull ? (Datum) 0 : NumCopy(d);
	d = SPI_getbinval(tup, desc, 16, &isnull);
	r->multiplier = isnull ? NumInt(1) : NumCopy(d);
	d = SPI_getbinval(tup, desc, 17, &isnull);
	r->points = isnull ? 0 : DatumGetInt64(d);
	d = SPI_getbinval(tup, desc, 18, &isnull);
	r->every_nth = isnull ? 0 : DatumGetInt32(d);
	period = SPI_getvalue(tup, desc, 19);
	r->visit_period = period == NULL ? LOYALTY_PERIOD_NONE :
		LoyaltyParseName(period, loyalty_period_names, "rule visit_period");
	if (r->kind == RULE_NTH_VISIT && (r->visit_period == LOYALTY_PERIOD_NONE || r->every_nth <= 0))
		elog(ERROR, "nth_visit rule %d has no visit_period or every_nth", r->rule_id);
	d = SPI_getbinval(tup, desc, 20, &isnull);
	r->member_max_uses = isnull ? 0 : DatumGetInt32(d);
	d = SPI_getbinval(tup, desc, 21, &isnull);
	r->member_max_points = isnull ? 0 : DatumGetInt64(d);
	d = SPI_getbinval(tup, desc, 22, &isnull);
	r->budget_points = isnull ? 0 : DatumGetInt64(d);
	CompileSegments(tup, desc, 23, r);
	LoyaltyCompileAudience(tup, desc, 26, &r->audience);
	CompileVoucher(tup, desc, 26 + LOYALTY_AUDIENCE_NCOLUMNS, r);
}

/* Every active rule, compiled into RuleCacheContext.  Inside SPI. */
static void
LoadRuleRows(void)
{
	MemoryContext old;

	/*
	 * Not read-only: a fresh snapshot.  The statement's own may predate the
	 * change whose invalidation made us reload (it arrived while we waited
	 * for a lock), and we would cache the old rules as valid.
	 */
	LoyaltyExecute(&load_rules_plan, NULL, NULL, false, 0);
	old = MemoryContextSwitchTo(RuleCacheContext);
	rules = palloc0(sizeof(CompiledRule) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
		CompileRule(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &rules[nrules++]);
	MemoryContextSwitchTo(old);
}

/* One row of load_programs_plan into p, in the current context. */
static void
ReadProgram(HeapTuple tup, TupleDesc desc, CachedProgram *p)
{
	bool		isnull;
	Datum		d;
	char	   *expiry_rounding;

	p->program_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	p->point_value = NumCopy(SPI_getbinval(tup, desc, 2, &isnull));
	p->currency = RequiredValue(tup, desc, 3, "program.currency");
	d = SPI_getbinval(tup, desc, 4, &isnull);
	p->has_expiry = !isnull;
	if (!isnull)
		p->expiry_after = *DatumGetIntervalP(d);
	expiry_rounding = SPI_getvalue(tup, desc, 5);
	p->expiry_rounding = expiry_rounding == NULL ? LOYALTY_PERIOD_NONE :
		LoyaltyParseName(expiry_rounding, loyalty_period_names, "program expiry_rounding");
	p->pending_days = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
	p->negative_balance = LoyaltyParseName(RequiredValue(tup, desc, 7, "program.negative_balance"),
										   loyalty_debit_policy_names, "program negative_balance");
	p->points_per_unit = NumCopy(SPI_getbinval(tup, desc, 8, &isnull));
	p->rounding = LoyaltyParseName(RequiredValue(tup, desc, 9, "program.rounding"),
								   loyalty_rounding_names, "program rounding");
	p->time_zone = RequiredValue(tup, desc, 10, "program.time_zone");
	p->return_days = DatumGetInt32(SPI_getbinval(tup, desc, 11, &isnull));
	p->backdate_limit = *DatumGetIntervalP(SPI_getbinval(tup, desc, 12, &isnull));
	p->ladder.window = LoyaltyParseName(RequiredValue(tup, desc, 13, "program.tier_window"),
										loyalty_tier_window_names, "program tier_window");
	p->ladder.window_days = DatumGetInt32(SPI_getbinval(tup, desc, 14, &isnull));
	p->hold_minutes = DatumGetInt32(SPI_getbinval(tup, desc, 15, &isnull));
}

/* One tier row (of load_tiers_plan), into the current context. */
static void
ReadTier(HeapTuple tup, TupleDesc desc, LoyaltyTier *t)
{
	bool		isnull;
	Datum		d;

	t->tier_id = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	t->code = RequiredValue(tup, desc, 3, "tier.code");
	t->rank = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	d = SPI_getbinval(tup, desc, 5, &isnull);
	t->has_min_spend = !isnull;
	t->min_spend = isnull ? (Datum) 0 : NumCopy(d);
	d = SPI_getbinval(tup, desc, 6, &isnull);
	t->min_visits = isnull ? 0 : DatumGetInt32(d);
	d = SPI_getbinval(tup, desc, 7, &isnull);
	t->min_points = isnull ? 0 : DatumGetInt64(d);
	t->earn_multiplier = NumCopy(SPI_getbinval(tup, desc, 8, &isnull));
	t->multiplies = NumCmp(t->earn_multiplier, NumInt(1)) != 0;
	t->discount_pct = NumCopy(SPI_getbinval(tup, desc, 9, &isnull));
}

/*
 * Every program's ladder, into RuleCacheContext, after LoadPrograms.  The
 * rows come ordered by program and rank.  Inside SPI.
 */
static void
LoadLadders(void)
{
	MemoryContext old;
	uint64		i = 0;

	LoyaltyExecute(&load_tiers_plan, NULL, NULL, false, 0);
	old = MemoryContextSwitchTo(RuleCacheContext);
	while (i < SPI_processed)
	{
		bool		isnull;
		int32		program_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		uint64		end = i;
		LoyaltyLadder *ladder = NULL;

		while (end < SPI_processed &&
			   DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[end], SPI_tuptable->tupdesc, 1, &isnull)) == program_id)
			end++;
		for (int p = 0; p < nprograms; p++)
			if (programs[p].program_id == program_id)
				ladder = &programs[p].ladder;
		if (ladder != NULL)
		{
			ladder->tiers = palloc0(sizeof(LoyaltyTier) * (end - i));
			for (; i < end; i++)
				ReadTier(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &ladder->tiers[ladder->ntiers++]);
		}
		i = end;
	}
	MemoryContextSwitchTo(old);
}

/* Every program's settings, into RuleCacheContext.  Inside SPI. */
static void
LoadPrograms(void)
{
	MemoryContext old;

	LoyaltyExecute(&load_programs_plan, NULL, NULL, false, 0);
	old = MemoryContextSwitchTo(RuleCacheContext);
	programs = palloc0(sizeof(CachedProgram) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
		ReadProgram(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &programs[nprograms++]);
	MemoryContextSwitchTo(old);
}

/* The stores with a time zone of their own, into RuleCacheContext.  Inside SPI. */
static void
LoadStoreZones(void)
{
	MemoryContext old;

	LoyaltyExecute(&load_store_zones_plan, NULL, NULL, false, 0);
	old = MemoryContextSwitchTo(RuleCacheContext);
	zone_stores = palloc(sizeof(char *) * Max(SPI_processed, 1));
	zone_names = palloc(sizeof(char *) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		zone_stores[nzones] = RequiredValue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, "store.store");
		zone_names[nzones++] = RequiredValue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, "store.time_zone");
	}
	MemoryContextSwitchTo(old);
}

/* An empty cache, its context made on first use, its callback registered. */
static void
ResetRuleCache(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(RuleCacheCallback, (Datum) 0);
		callback_registered = true;
	}
	if (RuleCacheContext == NULL)
		RuleCacheContext = AllocSetContextCreate(CacheMemoryContext,
												 "loyalty rule cache",
												 ALLOCSET_SMALL_SIZES);
	MemoryContextReset(RuleCacheContext);
	rules = NULL;
	nrules = 0;
	programs = NULL;
	nprograms = 0;
	zone_stores = zone_names = NULL;
	nzones = 0;
	rule_cache_valid = false;	/* until loaded: an error leaves it stale */
}

/* Compile every active rule, ordered for evaluation.  Inside SPI. */
static void
LoadRules(void)
{
	uint64		generation;

	ResetRuleCache();
	rule_relid = get_relname_relid("rule", get_namespace_oid("loyalty", false));
	/* the columns read below have the types they are read as (LY070) */
	{
		const char *const tables[] = {"program", "rule", "store", "tier"};

		for (size_t i = 0; i < lengthof(tables); i++)
		{
			Relation	rel = table_open(get_relname_relid(tables[i], get_namespace_oid("loyalty", false)),
										 AccessShareLock);

			LoyaltyCheckColumnTypes(rel);
			table_close(rel, AccessShareLock);
		}
	}
	generation = rule_cache_generation;
	LoadRuleRows();
	LoadPrograms();
	LoadLadders();
	LoadStoreZones();

	/*
	 * Valid unless a change arrived while we loaded, or we read with a
	 * transaction snapshot (REPEATABLE READ): then the next sale loads again.
	 */
	rule_cache_valid = (generation == rule_cache_generation) && !IsolationUsesXactSnapshot();
}

/*
 * Trigger on loyalty.rule, loyalty.program and loyalty.store (FOR EACH
 * STATEMENT): every backend drops its compiled rules once this commits.
 */
PG_FUNCTION_INFO_V1(loyalty_rules_changed);
Datum
loyalty_rules_changed(PG_FUNCTION_ARGS)
{
	Oid			relid = get_relname_relid("rule", get_namespace_oid("loyalty", false));

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "rules_changed must be called as a trigger");
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
	PG_RETURN_POINTER(NULL);
}

/* ---------- one sale ---------- */

static bool
InList(const char *s, char **list, int n)
{
	if (s == NULL || list == NULL)
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool
LineMatches(const CompiledRule *r, const SaleLine *line)
{
	if (r->skus == NULL && r->categories == NULL)
		return true;
	return InList(line->sku, r->skus, r->nskus) ||
		InList(line->category, r->categories, r->ncategories);
}

/* Zone files of the tz database directory that are not zones. */
static const char *const not_zones[] = {"localtime", "posixrules", "Factory"};

/*
 * The tz database zone spelled exactly name, or NULL.  pg_tzset loads it
 * from its file (the leading colon keeps it from reading a name with no
 * file as a POSIX time zone spec); the name must be the file's own spelling
 * and free of leap seconds.  A time zone abbreviation (CST, or whatever the
 * session's timezone_abbreviations makes of it) or a POSIX spec is no zone
 * here, so what a name means depends on no session setting.  *canonical
 * (when not NULL) gets the zone's own spelling when only the case differs.
 */
pg_tz *
LoyaltyZone(const char *name, const char **canonical)
{
	pg_tz	   *tz;

	if (canonical)
		*canonical = NULL;
	if (name[0] == '\0' || name[0] == ':' || strlen(name) >= TZ_STRLEN_MAX)
		return NULL;
	for (size_t i = 0; i < lengthof(not_zones); i++)
		if (pg_strcasecmp(name, not_zones[i]) == 0)
			return NULL;
	tz = pg_tzset(psprintf(":%s", name));
	if (tz == NULL || !pg_tz_acceptable(tz))
		return NULL;
	if (strcmp(pg_get_timezone_name(tz), name) != 0)
	{
		if (canonical)
			*canonical = pg_get_timezone_name(tz);
		return NULL;
	}
	return tz;
}

/*
 * loyalty.time_zone_is_valid(name): whether name is a zone of the tz
 * database, spelled as the database spells it (the CHECK of store.time_zone
 * and program.time_zone).
 */
PG_FUNCTION_INFO_V1(loyalty_time_zone_is_valid);
Datum
loyalty_time_zone_is_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(LoyaltyZone(text_to_cstring(PG_GETARG_TEXT_PP(0)), NULL) != NULL);
}

/* The zone of a store or program, which its CHECK made a tz database name. */
static pg_tz *
RequireZone(const char *name)
{
	const char *canonical;
	pg_tz	   *tz = LoyaltyZone(name, &canonical);

	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_UNKNOWN_TIME_ZONE),
				 errmsg("time zone \"%s\" is not a zone of the tz database", name),
				 errdetail("Rule day and hour windows need a tz database name, such as \"America/Chicago\"."),
				 canonical ? errhint("Set loyalty.store.time_zone or loyalty.program.time_zone to \"%s\".", canonical) :
				 errhint("Correct loyalty.store.time_zone or loyalty.program.time_zone.")));
	return tz;
}

/* The local calendar time of t in zone tz. */
static void
LocalTm(TimestampTz t, pg_tz *tz, struct pg_tm *tm)
{
	fsec_t		fsec;
	int			tzoff;

	if (timestamp2tm(t, &tzoff, tm, &fsec, NULL, tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("time out of range for the rules' calendar")));
}

/*
 * The local date of t in a tz database zone (a program's): tier days.  Not
 * the session's TimeZone, whatever it is.
 */
DateADT
LoyaltyLocalDate(TimestampTz t, const char *zone)
{
	struct pg_tm tm;

	LocalTm(t, RequireZone(zone), &tm);
	return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
}

/*
 * loyalty.local_date(at, time_zone): the date of a moment in a tz database
 * zone, as the tier code counts days (review_tiers, tier_progress).
 */
PG_FUNCTION_INFO_V1(loyalty_local_date);
Datum
loyalty_local_date(PG_FUNCTION_ARGS)
{
	TimestampTz t = PG_GETARG_TIMESTAMPTZ(0);

	if (TIMESTAMP_IS_NOBEGIN(t))
		PG_RETURN_DATEADT(DATEVAL_NOBEGIN);
	if (TIMESTAMP_IS_NOEND(t))
		PG_RETURN_DATEADT(DATEVAL_NOEND);
	PG_RETURN_DATEADT(LoyaltyLocalDate(t, text_to_cstring(PG_GETARG_TEXT_PP(1))));
}

/* The moment local midnight of Julian day jd is in zone tz. */
static TimestampTz
LocalMidnight(int jd, pg_tz *tz)
{
	struct pg_tm tm = {0};
	int			tzoff;
	TimestampTz result;

	j2date(jd, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	tzoff = DetermineTimeZoneOffset(&tm, tz);
	if (tm2timestamp(&tm, 0, &tzoff, &result) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("time out of range for the rules' calendar")));
	return result;
}

/* A time for a reason in the award: ISO 8601 in UTC (events.c). */
static char *
UtcText(TimestampTz t)
{
	return LoyaltyUtcText(t, false);
}

/* Local ISO day of week and hour of the sale, in the store's or program's zone. */
typedef struct LocalTime
{
	bool		known;
	const char *zone;
	pg_tz	   *tz;
	int			dow;
	int			hour;
	int			jd;				/* the local date, as a Julian day */
	struct pg_tm tm;
} LocalTime;

static void
ResolveLocalTime(const SaleFacts *facts, LocalTime *lt)
{
	if (lt->known)
		return;
	lt->zone = facts->member->time_zone;
	if (facts->store)
	{
		/*
		 * The store's own time zone, from the cache (binary search by store),
		 * as loaded when this evaluation began: no reload here, the rules of
		 * the evaluation in progress live in the same cache.
		 */
		int			lo = 0,
					hi = nzones - 1;

		while (lo <= hi)
		{
			int			mid = (lo + hi) / 2;
			int			c = strcmp(zone_stores[mid], facts->store);

			if (c == 0)
			{
				lt->zone = pstrdup(zone_names[mid]);
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
	}
	/* the zone's own rules, not the session's TimeZone or abbreviations */
	lt->tz = RequireZone(lt->zone);
	LocalTm(facts->occurred_at, lt->tz, &lt->tm);
	lt->jd = date2j(lt->tm.tm_year, lt->tm.tm_mon, lt->tm.tm_mday);
	lt->dow = j2day(lt->jd);
	if (lt->dow == 0)
		lt->dow = 7;
	lt->hour = lt->tm.tm_hour;
	lt->known = true;
}

/* Calendar windows: dates, stores, days, hours.  NULL when they hold. */
static char *
WindowFails(const CompiledRule *r, const SaleFacts *facts, LocalTime *lt)
{
	if (r->has_valid_from && facts->occurred_at < r->valid_from)
		return psprintf("starts %s", UtcText(r->valid_from));
	if (r->has_valid_to && facts->occurred_at >= r->valid_to)
		return psprintf("ended %s", UtcText(r->valid_to));
	if (r->stores && !InList(facts->store, r->stores, r->nstores))
		return pstrdup("not at this store");
	if (r->dow_mask || r->hour_from >= 0)
	{
		ResolveLocalTime(facts, lt);
		if (r->dow_mask && !(r->dow_mask & (1 << lt->dow)))
			return psprintf("not on ISO day %d (%s)", lt->dow, lt->zone);
		if (r->hour_from >= 0 && (lt->hour < r->hour_from || lt->hour >= r->hour_to))
			return psprintf("hour %d is outside %d-%d (%s)", lt->hour, r->hour_from,
							r->hour_to, lt->zone);
	}
	return NULL;
}

/*
 * rule.segments: NULL when the member is in one of the rule's segments now
 * (looked up once per sale, by index, when the first such rule asks).
 */
static char *
SegmentFails(const CompiledRule *r, const SaleFacts *facts, MemberSegments *ms)
{
	if (!r->has_segments)
		return NULL;
	if (!ms->known)
		LoyaltyMemberSegments(facts->member->member_id, facts->read_only, ms);
	if (LoyaltyInAnySegment(ms, r->segments, r->nsegments))
		return NULL;
	return psprintf("member is in none of the segments %s", r->segment_codes);
}

/*
 * The member's visit days (local dates of sales, not returns, in the sale's
 * zone) in the calendar period (week, month, quarter, year) of the sale, and
 * whether the sale's own day is one of them.  By sale_member_idx.  The
 * period's bounds are local midnights, computed in C from the zone's rules
 * (a quarter is three months).
 */
static int64
VisitDays(const SaleFacts *facts, const LocalTime *lt, LoyaltyPeriod period, bool *today_counted)
{
	int			y = lt->tm.tm_year,
				mon = lt->tm.tm_mon;
	int			start_jd,
				end_jd;
	DateADT		today = lt->jd - POSTGRES_EPOCH_JDATE;
	Relation	rel;
	TupleTableSlot *slot;
	AttrNumber	return_of;
	AttrNumber	occurred_at;
	IndexScanDesc scan;
	DateADT    *visit_days = NULL;
	int64		ndays = 0;
	int			cap = 0;

	if (period == LOYALTY_PERIOD_WEEK)
	{
		start_jd = lt->jd - (lt->dow - 1);	/* ISO: weeks begin on Monday */
		end_jd = start_jd + 7;
	}
	else
	{
		int			months = period == LOYALTY_PERIOD_MONTH ? 1 : period == LOYALTY_PERIOD_QUARTER ? 3 : 12;
		int			first = months == 12 ? 1 : ((mon - 1) / months) * months + 1;
		int			next = first + months;

		start_jd = date2j(y, first, 1);
		end_jd = date2j(y + (next - 1) / 12, (next - 1) % 12 + 1, 1);
	}

	{
		LoyaltyKey	keys[3] = {
			{1, BTEqualStrategyNumber, Int64GetDatum(facts->member->member_id)},
			{2, BTGreaterEqualStrategyNumber, TimestampTzGetDatum(LocalMidnight(start_jd, lt->tz))},
			{2, BTLessStrategyNumber, TimestampTzGetDatum(LocalMidnight(end_jd, lt->tz))},
		};

		rel = LoyaltyOpen("sale", false, AccessShareLock);
		slot = table_slot_create(rel, NULL);
		return_of = LoyaltyRelColumn(rel, "return_of");
		occurred_at = LoyaltyRelColumn(rel, "occurred_at");
		*today_counted = false;
		LoyaltyPushReadSnapshot(facts->read_only);
		scan = LoyaltyIndexScan(rel, "sale_member_idx", 3, keys, GetActiveSnapshot());
	}
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		struct pg_tm tm;
		DateADT		day;
		int			k;

		CHECK_FOR_INTERRUPTS();
		slot_getattr(slot, return_of, &isnull);
		if (!isnull)
			continue;
		LocalTm(DatumGetTimestampTz(slot_getattr(slot, occurred_at, &isnull)), lt->tz, &tm);
		day = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
		*today_counted |= (day == today);
		for (k = 0; k < ndays && visit_days[k] != day; k++)
			;
		if (k < ndays)
			continue;
		if (ndays == cap)
		{
			cap = cap ? cap * 2 : 16;
			visit_days = visit_days ? repalloc(visit_days, sizeof(DateADT) * cap) : palloc(sizeof(DateADT) * cap);
		}
		visit_days[ndays++] = day;
	}
	LoyaltyIndexScanEnd(scan);
	PopActiveSnapshot();
	ExecDropSingleTupleTableSlot(slot);
	return ndays;
}

/* The kind-specific test of bonus kinds; NULL when the rule fires. */
static char *
KindFails(const CompiledRule *r, const SaleFacts *facts, LocalTime *lt)
{
	if (r->kind == RULE_FIRST_PURCHASE)
	{
		/* member_balance.sales, read under the member's lock */
		if (facts->member->sales > 0)
			return pstrdup("not the member's first purchase");
	}
	else if (r->kind == RULE_NTH_VISIT)
	{
		int64		visits;
		bool		today_counted;
		int64		visit;

		ResolveLocalTime(facts, lt);
		visits = VisitDays(facts, lt, r->visit_period, &today_counted);
		if (today_counted)
			return psprintf("visit day %lld of this %s was counted by an earlier sale",
							(long long) visits, loyalty_period_names[r->visit_period]);
		visit = visits + 1;
		if (visit % r->every_nth != 0)
			return psprintf("visit %lld of this %s; fires every %d", (long long) visit,
							loyalty_period_names[r->visit_period], r->every_nth);
	}
	return NULL;
}

/*
 * Member cap and overall budget.  Returns the points the rule may still give
 * (<= wanted), or 0 with *why set.  Spends the budget unless a quote.
 */
static int64
CapPoints(const CompiledRule *r, const SaleFacts *facts, int64 wanted, char **why)
{
	Datum		v[2];
	bool		isnull;
	int64		allowed = wanted;

	if (r->member_max_uses || r->member_max_points)
	{
		v[0] = Int64GetDatum(facts->member->member_id);
		v[1] = Int32GetDatum(r->rule_id);
		/*
		 * not read-only: a fresh snapshot, so sales committed while we waited
		 * for the member's lock, and earlier rows of this same INSERT, count
		 */
		LoyaltyExecute(&member_use_plan, v, NULL, false, 1);
		if (SPI_processed == 1)
		{
			int32		uses = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			int64		points = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

			if (r->member_max_uses && uses >= r->member_max_uses)
			{
				*why = psprintf("member used it %d times (cap %d)", uses, r->member_max_uses);
				return 0;
			}
			if (r->member_max_points)
				allowed = Min(allowed, r->member_max_points - points);
		}
		else if (r->member_max_points)
			allowed = Min(allowed, r->member_max_points);
		if (allowed <= 0)
		{
			*why = psprintf("member reached the cap of " INT64_FORMAT " points", r->member_max_points);
			return 0;
		}
	}
	if (r->budget_points)
	{
		/* the last word: this takes the points from the budget (budget.c) */
		allowed = LoyaltyBudgetTake(r->rule_id, r->budget_points, facts->member->member_id,
									allowed, facts->read_only);
		if (allowed <= 0)
		{
			*why = psprintf("budget of " INT64_FORMAT " %s is spent", r->budget_points,
							r->kind == RULE_VOUCHER ? "vouchers" : "points");
			return 0;
		}
	}
	if (allowed < wanted)
		*why = psprintf("capped from " INT64_FORMAT " to " INT64_FORMAT " points", wanted, allowed);
	return allowed;
}

static void
CountUse(const CompiledRule *r, const SaleFacts *facts, int64 points)
{
	Datum		v[3];

	if (facts->read_only)
		return;
	if (r->member_max_uses || r->member_max_points)
	{
		v[0] = Int64GetDatum(facts->member->member_id);
		v[1] = Int32GetDatum(r->rule_id);
		v[2] = Int64GetDatum(points);
		LoyaltyExecute(&member_use_add_plan, v, NULL, false, 0);
	}
}

/* A program in the cache, loaded (again, once) if it is not there. */
static CachedProgram *
CachedProgramOf(int32 program_id)
{
	for (int attempt = 0; attempt < 2; attempt++)
	{
		if (!rule_cache_valid || attempt > 0)
			LoadRules();
		for (int i = 0; i < nprograms; i++)
			if (programs[i].program_id == program_id)
				return &programs[i];
	}
	elog(ERROR, "program %d is missing", program_id);
	return NULL;				/* keep the compiler quiet */
}

/*
 * The settings of program program_id, from the cache (loaded with the rules,
 * reloaded after a change to loyalty.program commits), copied into the
 * caller's memory context: a later reload must not pull them away.  Inside
 * SPI.
 */
void
LoyaltyProgramSettings(int32 program_id, LoyaltyMember *m)
{
	CachedProgram *p = CachedProgramOf(program_id);

	m->program_id = program_id;
	m->point_value = NumCopy(p->point_value);
	m->currency = pstrdup(p->currency);
	m->has_expiry = p->has_expiry;
	m->expiry_after = p->expiry_after;
	m->expiry_rounding = p->expiry_rounding;
	m->pending_days = p->pending_days;
	m->negative_balance = p->negative_balance;
	m->points_per_unit = NumCopy(p->points_per_unit);
	m->rounding = p->rounding;
	m->time_zone = pstrdup(p->time_zone);
	m->return_days = p->return_days;
	m->backdate_limit = p->backdate_limit;
	m->hold_minutes = p->hold_minutes;
}

/*
 * The tier ladder of program program_id (ntiers 0: none), from the cache,
 * copied into the caller's memory context like LoyaltyProgramSettings.
 * Inside SPI.
 */
void
LoyaltyProgramLadder(int32 program_id, LoyaltyLadder *ladder)
{
	CachedProgram *p = CachedProgramOf(program_id);

	*ladder = p->ladder;
	if (p->ladder.ntiers == 0)
		return;
	ladder->tiers = palloc(sizeof(LoyaltyTier) * p->ladder.ntiers);
	for (int i = 0; i < p->ladder.ntiers; i++)
	{
		LoyaltyTier *t = &ladder->tiers[i];

		*t = p->ladder.tiers[i];
		t->code = pstrdup(t->code);
		if (t->has_min_spend)
			t->min_spend = NumCopy(t->min_spend);
		t->earn_multiplier = NumCopy(t->earn_multiplier);
		t->discount_pct = NumCopy(t->discount_pct);
	}
}

/*
 * The longest backdate_limit of all programs: how far back a POS may date an
 * anonymous sale, which belongs to no program (the column's default, 1 day,
 * when there is no program).
 */
void
LoyaltyLongestBackdateLimit(Interval *limit)
{
	if (!rule_cache_valid)
		LoadRules();
	memset(limit, 0, sizeof(*limit));
	limit->day = 1;
	for (int i = 0; i < nprograms; i++)
		if (i == 0 || DatumGetInt32(DirectFunctionCall2(interval_cmp,
														IntervalPGetDatum(&programs[i].backdate_limit),
														IntervalPGetDatum(limit))) > 0)
			*limit = programs[i].backdate_limit;
}

/* The rules of a program: rules[*first .. *last] (both -1: none). */
static void
ProgramRules(int32 program_id, int *first, int *last)
{
	*first = *last = -1;
	for (int i = 0; i < nrules; i++)
		if (rules[i].program_id == program_id)
		{
			if (*first < 0)
				*first = i;
			*last = i;
		}
}

/* The outcome of rule r, as it starts: not fired, no reason yet. */
static void
StartOutcome(const CompiledRule *r, RuleOutcome *o)
{
	o->rule_id = r->rule_id;
	o->code = r->code;
	o->kind = rule_kind_names[r->kind];
}

/*
 * Whether rule r is for this sale and member: its windows, segments and
 * audience.  NULL when they hold, else why not.
 */
static char *
TargetFails(const CompiledRule *r, const SaleFacts *facts, LocalTime *lt, MemberSegments *ms)
{
	char	   *why;

	if ((why = WindowFails(r, facts, lt)) != NULL ||
		(why = SegmentFails(r, facts, ms)) != NULL)
		return why;
	return LoyaltyAudienceFails(&r->audience, facts->member->member_id,
								facts->occurred_at, facts->read_only);
}

/* Step 1: an exclude rule whose windows hold takes its lines out of earning. */
static void
ApplyExclusion(const CompiledRule *r, const SaleFacts *facts, SaleBasket *basket,
			   LocalTime *lt, MemberSegments *ms, RuleOutcome *o)
{
	int			n = 0;

	StartOutcome(r, o);
	if ((o->why = TargetFails(r, facts, lt, ms)) != NULL)
		return;
	o->matched = palloc0(sizeof(bool) * Max(basket->nlines, 1));
	for (int k = 0; k < basket->nlines; k++)
	{
		CHECK_FOR_INTERRUPTS();
		if (LineMatches(r, &basket->lines[k]))
		{
			o->matched[k] = true;
			if (!basket->lines[k].excluded)
				n++;
			basket->lines[k].excluded = true;
		}
	}
	o->fired = n > 0;
	if (!o->fired)
		o->why = pstrdup("no matching line");
}

/* Step 2: the base rate, points_per_unit x amount of every earning line. */
static void
ApplyBaseRate(const LoyaltyMember *m, SaleBasket *basket, RuleOutcome *base)
{
	Datum		base_total = NumInt(0);

	base->code = "base";
	base->kind = "base";
	base->per_line = true;
	base->fired = true;
	base->line_points = palloc0(sizeof(Datum) * Max(basket->nlines, 1));
	base->matched = palloc0(sizeof(bool) * Max(basket->nlines, 1));
	for (int k = 0; k < basket->nlines; k++)
	{
		SaleLine   *line = &basket->lines[k];

		CHECK_FOR_INTERRUPTS();
		line->base = line->excluded ? NumInt(0) : NumMul(line->amount, m->points_per_unit);
		base->line_points[k] = line->base;
		base->matched[k] = !line->excluded;
		base_total = NumAdd(base_total, line->base);
	}
	base->points = LoyaltyRoundPoints(base_total, m->rounding);
}

/*
 * Step 2b: the member's tier multiplies the base rate: (earn_multiplier - 1)
 * x the base of every earning line, a part of its own (explain_sale shows
 * it; a return takes it back line by line like the base).
 */
static void
ApplyTierMultiplier(const LoyaltyTier *tier, const SaleBasket *basket, const RuleOutcome *base,
					RuleOutcome *o, LoyaltyRounding rounding)
{
	Datum		extra = DirectFunctionCall2(numeric_sub, tier->earn_multiplier, NumInt(1));
	Datum		total = NumInt(0);

	o->code = tier->code;
	o->kind = "tier";
	o->per_line = true;
	o->fired = true;
	o->line_points = palloc0(sizeof(Datum) * Max(basket->nlines, 1));
	o->matched = palloc0(sizeof(bool) * Max(basket->nlines, 1));
	for (int k = 0; k < basket->nlines; k++)
	{
		CHECK_FOR_INTERRUPTS();
		o->matched[k] = base->matched[k];
		o->line_points[k] = NumMul(basket->lines[k].base, extra);
		total = NumAdd(total, o->line_points[k]);
	}
	o->points = LoyaltyRoundPoints(total, rounding);
	o->why = psprintf("tier %s: x%s of the base", tier->code,
					  DatumGetCString(DirectFunctionCall1(numeric_out, tier->earn_multiplier)));
}

/*
 * The earning lines rule r is about, marked in o->matched: how many, their
 * amount, and for a multiplier its exact points (per line in o->line_points).
 */
static int
MatchEarningLines(const CompiledRule *r, const SaleBasket *basket, RuleOutcome *o,
				  Datum *amount, Datum *exact)
{
	int			n = 0;

	*amount = NumInt(0);
	*exact = NumInt(0);
	o->matched = palloc0(sizeof(bool) * Max(basket->nlines, 1));
	o->per_line = r->kind == RULE_MULTIPLIER;
	if (o->per_line)
		o->line_points = palloc0(sizeof(Datum) * Max(basket->nlines, 1));
	for (int k = 0; k < basket->nlines; k++)
	{
		SaleLine   *line = &basket->lines[k];

		CHECK_FOR_INTERRUPTS();
		if (line->excluded || !LineMatches(r, line))
			continue;
		o->matched[k] = true;
		n++;
		*amount = NumAdd(*amount, line->amount);
		if (o->per_line)
		{
			/* a multiplier adds (multiplier - 1) x the base of its lines */
			Datum		extra = NumMul(line->base,
									   DirectFunctionCall2(numeric_sub, r->multiplier, NumInt(1)));

			o->line_points[k] = extra;
			*exact = NumAdd(*exact, extra);
		}
	}
	return n;
}

/*
 * A voucher rule whose conditions hold: a voucher of its type can still be
 * issued (VoucherIssue's test of the type's end, so that it never fails a
 * sale), and the member cap and the budget count vouchers (one each time it
 * fires).  Fills o with the type and the
 * voucher's own value (has_value: a return rule's); the sale trigger issues
 * it (voucher_rule.c).  True when it fires.
 */
static bool
VoucherFires(const CompiledRule *r, const SaleFacts *facts, RuleOutcome *o,
			 bool has_value, Datum value)
{
	/* a voucher issued now would start at the later of now and the type's start */
	TimestampTz start = GetCurrentTransactionStartTimestamp();

	if (r->has_type_from && r->type_from > start)
		start = r->type_from;
	if (r->has_type_to && r->type_to <= start)
	{
		o->why = psprintf("voucher type %s ended %s", r->voucher_type, UtcText(r->type_to));
		return false;
	}
	/* a type limited to an audience is issued to its members only */
	if ((o->why = LoyaltyAudienceFails(&r->type_audience, facts->member->member_id,
									   facts->occurred_at, facts->read_only)) != NULL)
	{
		o->why = psprintf("voucher type %s: %s", r->voucher_type, o->why);
		return false;
	}
	if (CapPoints(r, facts, 1, &o->why) == 0)
		return false;
	o->fired = true;
	o->points = 0;
	o->voucher_type_id = r->voucher_type_id;
	o->voucher_type = r->voucher_type;
	o->has_voucher_value = has_value;
	o->voucher_value = value;
	o->why = psprintf("%s a voucher of type %s", facts->read_only ? "would issue" : "issues",
					  r->voucher_type);
	CountUse(r, facts, 1);
	return true;
}

/*
 * Step 3 for one rule: windows, lines, minimum basket, the kind's test, caps
 * and budget.  Fills o; true when the rule fired (its points are o->points).
 */
static bool
ApplyRule(const CompiledRule *r, const SaleFacts *facts, const SaleBasket *basket,
		  LocalTime *lt, MemberSegments *ms, RuleOutcome *o)
{
	Datum		matched_amount;
	Datum		exact;
	int64		points;

	if ((o->why = TargetFails(r, facts, lt, ms)) != NULL)
		return false;
	if (MatchEarningLines(r, basket, o, &matched_amount, &exact) == 0)
	{
		o->why = pstrdup("no matching line");
		return false;
	}
	o->has_min_basket = r->has_min_basket;
	o->min_basket = r->min_basket;
	if (r->has_min_basket && NumCmp(matched_amount, r->min_basket) < 0)
	{
		o->why = psprintf("basket %s is below the minimum %s",
						  DatumGetCString(DirectFunctionCall1(numeric_out, matched_amount)),
						  DatumGetCString(DirectFunctionCall1(numeric_out, r->min_basket)));
		return false;
	}
	if ((o->why = KindFails(r, facts, lt)) != NULL)
		return false;
	if (r->kind == RULE_VOUCHER)
		return VoucherFires(r, facts, o, false, (Datum) 0);

	points = o->per_line ? LoyaltyRoundPoints(exact, facts->member->rounding) : r->points;
	if (points > 0)
		points = CapPoints(r, facts, points, &o->why);
	if (points == 0)
	{
		if (o->why == NULL)
			o->why = pstrdup("earns no points");
		return false;
	}
	/* a capped multiplier keeps its per-line shares in proportion */
	o->fired = true;
	o->points = points;
	CountUse(r, facts, points);
	return true;
}

/*
 * Evaluate the program's rules for a sale.  Inside SPI; for a real sale the
 * caller holds the member's lock, so member caps and visit counts are read
 * and written race-free; budgets are spent here (budget.c).
 */
void
LoyaltyEvaluateRules(const SaleFacts *facts, SaleBasket *basket, SaleAward *award)
{
	LoyaltyMember *m = facts->member;
	LocalTime	lt = {0};
	MemberSegments ms = {0};
	int			first,
				last,
				i;
	const char *stopped_by = NULL;

	if (!rule_cache_valid)
		LoadRules();
	ProgramRules(m->program_id, &first, &last);
	award->outcomes = palloc0(sizeof(RuleOutcome) * (2 + (first < 0 ? 0 : last - first + 1)));
	award->rounding = m->rounding;
	award->noutcomes = 1;

	/* 1. exclusions (they sort first) */
	for (i = first; i >= 0 && i <= last && rules[i].kind == RULE_EXCLUDE; i++)
		ApplyExclusion(&rules[i], facts, basket, &lt, &ms, &award->outcomes[award->noutcomes++]);

	/* 2. the base rate, and the tier's multiple of it */
	ApplyBaseRate(m, basket, &award->outcomes[0]);
	award->points = award->outcomes[0].points;
	if (facts->tier != NULL && facts->tier->multiplies)
	{
		RuleOutcome *o = &award->outcomes[award->noutcomes++];

		ApplyTierMultiplier(facts->tier, basket, &award->outcomes[0], o, m->rounding);
		award->points += o->points;
	}

	/* 3. the other rules, in order, until a non-stackable one fires */
	for (; i >= 0 && i <= last; i++)
	{
		const CompiledRule *r = &rules[i];
		RuleOutcome *o;

		if (r->on_return)
			continue;			/* LoyaltyEvaluateReturnRules */
		o = &award->outcomes[award->noutcomes++];
		StartOutcome(r, o);
		if (stopped_by != NULL)
			o->why = psprintf("not applied after non-stackable rule %s", stopped_by);
		else if (ApplyRule(r, facts, basket, &lt, &ms, o))
		{
			/* each part is within 10^15; thousands of them could overflow */
			if (pg_add_s64_overflow(award->points, o->points, &award->points))
				ereport(ERROR,
						(errcode(ERRCODE_LOYALTY_INVALID_POINTS),
						 errmsg("a sale would earn more than " INT64_FORMAT " points", (int64) LOYALTY_MAX_POINTS)));
			if (!r->stackable)
				stopped_by = r->code;
		}
	}
	if (award->points < 0)
		award->points = 0;
	if (award->points > LOYALTY_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_POINTS),
				 errmsg("a sale would earn more than " INT64_FORMAT " points", (int64) LOYALTY_MAX_POINTS)));
}

/*
 * A return rule (on_return) for a return: its windows at the return, the
 * date of the returned sale, the returned lines it is about, its minimum
 * basket (of those lines), the caps and budget.  The voucher is worth what
 * those lines cost.
 */
static bool
ApplyReturnRule(const CompiledRule *r, const SaleFacts *facts, TimestampTz sold_at,
				const SaleBasket *returned, LocalTime *lt, MemberSegments *ms, RuleOutcome *o)
{
	Datum		amount = NumInt(0);
	int			n = 0;

	if ((o->why = TargetFails(r, facts, lt, ms)) != NULL)
		return false;
	if (r->has_sold_from && sold_at < r->sold_from)
		o->why = psprintf("the sale was made before %s", UtcText(r->sold_from));
	else if (r->has_sold_to && sold_at >= r->sold_to)
		o->why = psprintf("the sale was not made before %s", UtcText(r->sold_to));
	if (o->why != NULL)
		return false;
	o->matched = palloc0(sizeof(bool) * Max(returned->nlines, 1));
	for (int k = 0; k < returned->nlines; k++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!LineMatches(r, &returned->lines[k]))
			continue;
		o->matched[k] = true;
		n++;
		amount = NumAdd(amount, returned->lines[k].amount);
	}
	o->has_min_basket = r->has_min_basket;
	o->min_basket = r->min_basket;
	if (n == 0)
		o->why = pstrdup("no matching line");
	else if (NumCmp(amount, NumInt(0)) == 0)
		o->why = pstrdup("the matching lines cost nothing");
	else if (r->has_min_basket && NumCmp(amount, r->min_basket) < 0)
		o->why = psprintf("basket %s is below the minimum %s",
						  DatumGetCString(DirectFunctionCall1(numeric_out, amount)),
						  DatumGetCString(DirectFunctionCall1(numeric_out, r->min_basket)));
	if (o->why != NULL)
		return false;
	return VoucherFires(r, facts, o, true, amount);
}

/*
 * The return rules (on_return) of the member's program for a return of a
 * sale made at sold_at: by priority, then rule_id, until a non-stackable one
 * fires.  award gets only their outcomes (noutcomes 0: the program has
 * none) and no points.  Inside SPI, under the member's lock.
 */
void
LoyaltyEvaluateReturnRules(const SaleFacts *facts, TimestampTz sold_at,
						   const SaleBasket *returned, SaleAward *award)
{
	LocalTime	lt = {0};
	MemberSegments ms = {0};
	int			first,
				last;
	const char *stopped_by = NULL;

	if (!rule_cache_valid)
		LoadRules();
	ProgramRules(facts->member->program_id, &first, &last);
	memset(award, 0, sizeof(*award));
	award->rounding = facts->member->rounding;
	award->outcomes = palloc0(sizeof(RuleOutcome) * Max(first < 0 ? 0 : last - first + 1, 1));
	for (int i = first; i >= 0 && i <= last; i++)
	{
		const CompiledRule *r = &rules[i];
		RuleOutcome *o;

		if (!r->on_return)
			continue;
		o = &award->outcomes[award->noutcomes++];
		StartOutcome(r, o);
		if (stopped_by != NULL)
			o->why = psprintf("not applied after non-stackable rule %s", stopped_by);
		else if (ApplyReturnRule(r, facts, sold_at, returned, &lt, &ms, o) && !r->stackable)
			stopped_by = r->code;
	}
}

/* ---------- the award as jsonb, and what is left of it after returns ---------- */

void
LoyaltyJsonbKey(JsonbParseState **st, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &v);
}

/* a string value, or null */
void
LoyaltyJsonbString(JsonbParseState **st, const char *s)
{
	JsonbValue	v;

	if (s == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) s;
		v.val.string.len = strlen(s);
	}
	pushJsonbValue(st, WJB_VALUE, &v);
}

void
LoyaltyJsonbInt(JsonbParseState **st, int64 n)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(n);
	pushJsonbValue(st, WJB_VALUE, &v);
}

/*
 * {"points": N, "rules": [{"rule": id|null, "code", "kind", "fired", "points",
 *   "why", "lines": [line indexes], "line_points": ["exact", ...] (per-line
 *   kinds), "min_basket": "x"|null}, ...]}
 * The first element is the base rate.  Returns keep using "lines",
 * "line_points" and "min_basket" to work out what a return takes back.
 */
Datum
LoyaltyAwardJson(const SaleBasket *basket, const SaleAward *award)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;

	/* built as a JsonbValue, not as text to be parsed again (once per sale) */
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	LoyaltyJsonbKey(&st, "points");
	LoyaltyJsonbInt(&st, award->points);
	LoyaltyJsonbKey(&st, "rounding");
	/* the first letter of the policy, as every award records it */
	LoyaltyJsonbString(&st, psprintf("%c", loyalty_rounding_names[award->rounding][0]));
	LoyaltyJsonbKey(&st, "rules");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < award->noutcomes; i++)
	{
		const RuleOutcome *o = &award->outcomes[i];
		JsonbValue	v;

		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		LoyaltyJsonbKey(&st, "rule");
		if (o->rule_id)
			LoyaltyJsonbInt(&st, o->rule_id);
		else
		{
			v.type = jbvNull;
			pushJsonbValue(&st, WJB_VALUE, &v);
		}
		LoyaltyJsonbKey(&st, "code");
		LoyaltyJsonbString(&st, o->code);
		LoyaltyJsonbKey(&st, "kind");
		LoyaltyJsonbString(&st, o->kind);
		LoyaltyJsonbKey(&st, "fired");
		v.type = jbvBool;
		v.val.boolean = o->fired;
		pushJsonbValue(&st, WJB_VALUE, &v);
		LoyaltyJsonbKey(&st, "points");
		LoyaltyJsonbInt(&st, o->points);
		LoyaltyJsonbKey(&st, "why");
		LoyaltyJsonbString(&st, o->why);
		if (o->voucher_type_id)
		{
			LoyaltyJsonbKey(&st, "voucher_type");
			LoyaltyJsonbString(&st, o->voucher_type);
			LoyaltyJsonbKey(&st, "voucher");
			LoyaltyJsonbString(&st, o->voucher_code);
			if (o->has_voucher_value)
			{
				LoyaltyJsonbKey(&st, "value");
				LoyaltyJsonbString(&st, DatumGetCString(DirectFunctionCall1(numeric_out, o->voucher_value)));
			}
		}
		if (o->fired && o->matched)
		{
			LoyaltyJsonbKey(&st, "lines");
			pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
			for (int k = 0; k < basket->nlines; k++)
				if (o->matched[k])
				{
					CHECK_FOR_INTERRUPTS();
					v.type = jbvNumeric;
					v.val.numeric = int64_to_numeric(k);
					pushJsonbValue(&st, WJB_ELEM, &v);
				}
			pushJsonbValue(&st, WJB_END_ARRAY, NULL);
			if (o->per_line)
			{
				LoyaltyJsonbKey(&st, "line_points");
				pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
				for (int k = 0; k < basket->nlines; k++)
					if (o->matched[k])
					{
						char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out, o->line_points[k]));

						CHECK_FOR_INTERRUPTS();
						v.type = jbvString;
						v.val.string.val = text;
						v.val.string.len = strlen(text);
						pushJsonbValue(&st, WJB_ELEM, &v);
					}
				pushJsonbValue(&st, WJB_END_ARRAY, NULL);
			}
			if (o->has_min_basket)
			{
				LoyaltyJsonbKey(&st, "min_basket");
				LoyaltyJsonbString(&st, DatumGetCString(DirectFunctionCall1(numeric_out, o->min_basket)));
			}
		}
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

static JsonbValue *
JsonbKey(JsonbContainer *obj, const char *key)
{
	return getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);
}

/* A sale's stored award that the sale trigger did not write (LY071). */
static void
MalformedAward(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_MALFORMED_AWARD),
			 errmsg("malformed award of the returned sale: %s", what),
			 errdetail("A sale's award column holds what the sale trigger computed; this one was written by something else.")));
}

static Datum
JsonbNumericOf(JsonbValue *v)
{
	if (v != NULL && v->type == jbvNumeric)
		return NumericGetDatum(v->val.numeric);
	if (v != NULL && v->type == jbvString)
		return DirectFunctionCall3(numeric_in,
								   CStringGetDatum(pnstrdup(v->val.string.val, v->val.string.len)),
								   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	MalformedAward("a number is missing");
	return (Datum) 0;			/* keep the compiler quiet */
}

/* The i-th element of an award's array, which must be there. */
static JsonbValue *
AwardElement(JsonbValue *array, int i)
{
	JsonbValue *v;

	if (array == NULL || array->type != jbvBinary || !JsonContainerIsArray(array->val.binary.data) ||
		i >= (int) JsonContainerSize(array->val.binary.data) ||
		(v = getIthJsonbValueFromContainer(array->val.binary.data, i)) == NULL)
		MalformedAward("an array is missing or too short");
	return v;
}

/* What one fired part of the award (a rule object o) keeps of its points. */
static int64
RemainingPart(JsonbValue *o, const SaleBasket *original, const Datum *left_amount,
			  const Datum *left_qty, LoyaltyRounding rounding)
{
	JsonbValue *lines = JsonbKey(o->val.binary.data, "lines");
	JsonbValue *line_points = JsonbKey(o->val.binary.data, "line_points");
	JsonbValue *min_basket = JsonbKey(o->val.binary.data, "min_basket");
	Datum		part = JsonbNumericOf(JsonbKey(o->val.binary.data, "points"));
	int			nl = JsonContainerSize(lines->val.binary.data);
	Datum		amount_left = NumInt(0);
	Datum		lp_all = NumInt(0);
	Datum		lp_left = NumInt(0);
	bool		any_left = false;

	for (int j = 0; j < nl; j++)
	{
		Datum		ix = JsonbNumericOf(AwardElement(lines, j));
		int			k = DatumGetInt32(DirectFunctionCall1(numeric_int4, ix));

		CHECK_FOR_INTERRUPTS();
		if (k < 0 || k >= original->nlines)
			MalformedAward(psprintf("line %d is out of range", k));
		amount_left = NumAdd(amount_left, left_amount[k]);
		if (NumCmp(left_qty[k], NumInt(0)) > 0)
			any_left = true;
		if (line_points)
		{
			Datum		lp = JsonbNumericOf(AwardElement(line_points, j));
			Datum		amount = original->lines[k].amount;

			lp_all = NumAdd(lp_all, lp);
			if (NumCmp(amount, NumInt(0)) > 0)
				lp_left = NumAdd(lp_left, DirectFunctionCall2(numeric_div,
															  NumMul(lp, left_amount[k]), amount));
		}
	}
	/* a part whose minimum basket no longer holds goes whole */
	if (min_basket != NULL && min_basket->type != jbvNull &&
		NumCmp(amount_left, JsonbNumericOf(min_basket)) < 0)
		return 0;
	if (line_points)
		return NumCmp(lp_all, NumInt(0)) == 0 ? 0 :
			LoyaltyRoundPoints(DirectFunctionCall2(numeric_div, NumMul(part, lp_left), lp_all),
							   rounding);
	return any_left ? DatumGetInt64(DirectFunctionCall1(numeric_int8, part)) : 0;
}

/*
 * Points the original sale's award would be worth for what is left of its
 * lines (left_amount[k], left_qty[k]: what of line k was not returned).  A
 * per-line part keeps the share of its points that its lines' remaining
 * amounts carry (so a capped part shrinks in proportion, and nothing returned
 * keeps it whole); a fixed bonus stays whole while one of its lines is left;
 * any part whose rule had a minimum basket goes whole when what is left no
 * longer meets it.  Each part is rounded by the rounding in force at the sale.
 */
int64
LoyaltyRemainingAward(Jsonb *award, const SaleBasket *original,
					  const Datum *left_amount, const Datum *left_qty)
{
	JsonbValue *rules_v = JsonbKey(&award->root, "rules");
	JsonbValue *rounding_v = JsonbKey(&award->root, "rounding");
	LoyaltyRounding rounding = LOYALTY_ROUND_FLOOR;
	int			n;
	int64		total = 0;

	if (!JsonContainerIsObject(&award->root) || rules_v == NULL || rules_v->type != jbvBinary ||
		!JsonContainerIsArray(rules_v->val.binary.data))
		MalformedAward("no array of rules");
	/* recorded as the policy's first letter */
	if (rounding_v && rounding_v->type == jbvString && rounding_v->val.string.len > 0)
		for (int r = 0; loyalty_rounding_names[r] != NULL; r++)
			if (loyalty_rounding_names[r][0] == rounding_v->val.string.val[0])
				rounding = (LoyaltyRounding) r;
	n = JsonContainerSize(rules_v->val.binary.data);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *o = AwardElement(rules_v, i);
		JsonbValue *fired;
		JsonbValue *lines;

		if (o->type != jbvBinary || !JsonContainerIsObject(o->val.binary.data))
			MalformedAward("a rule is not an object");
		fired = JsonbKey(o->val.binary.data, "fired");
		lines = JsonbKey(o->val.binary.data, "lines");
		if (fired == NULL || fired->type != jbvBool || !fired->val.boolean ||
			lines == NULL || lines->type != jbvBinary || !JsonContainerIsArray(lines->val.binary.data))
			continue;
		if (pg_add_s64_overflow(total, RemainingPart(o, original, left_amount, left_qty, rounding), &total))
			MalformedAward("its parts add up past the range of points");
	}
	return Max(total, 0);
}

/* ---------- the lines of a sale ---------- */

static void
MalformedLine(int k, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_MALFORMED_LINES),
			 errmsg("line %d of the sale: %s", k + 1, what),
			 errdetail("Each line is a JSON object with \"sku\" (text), \"qty\" and \"amount\" (numbers) and optionally \"category\" (text).")));
}

static char *
LineText(JsonbContainer *obj, const char *key, int k, bool required)
{
	JsonbValue *v = JsonbKey(obj, key);

	if (v == NULL || v->type == jbvNull)
	{
		if (required)
			MalformedLine(k, psprintf("\"%s\" is missing", key));
		return NULL;
	}
	if (v->type != jbvString || v->val.string.len == 0)
		MalformedLine(k, psprintf("\"%s\" is not a non-empty string", key));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static Datum
LineNumber(JsonbContainer *obj, const char *key, int k)
{
	JsonbValue *v = JsonbKey(obj, key);

	if (v == NULL || v->type == jbvNull)
		MalformedLine(k, psprintf("\"%s\" is missing", key));
	if (v->type != jbvNumeric)
		MalformedLine(k, psprintf("\"%s\" is not a number", key));
	return NumericGetDatum(v->val.numeric);
}

/* A number for a message: its text, cut short when it is long. */
static char *
NumberText(Datum d)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out, d));

	if (strlen(text) > 40)
		return psprintf("%.30s... (%zu characters)", text, strlen(text));
	return text;
}

/* 10^LOYALTY_MAX_AMOUNT_DIGITS: what a qty, amount or total stays below. */
static Datum
AmountLimit(void)
{
	static Datum limit = (Datum) 0;

	if (limit == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		char		digits[LOYALTY_MAX_AMOUNT_DIGITS + 2];

		digits[0] = '1';
		memset(digits + 1, '0', LOYALTY_MAX_AMOUNT_DIGITS);
		digits[LOYALTY_MAX_AMOUNT_DIGITS + 1] = '\0';
		limit = DirectFunctionCall3(numeric_in, CStringGetDatum(digits),
									ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		MemoryContextSwitchTo(old);
	}
	return limit;
}

/*
 * d without its trailing zeros when it is below AmountLimit, has more than
 * LOYALTY_MAX_DECIMALS decimals and all of those past them are zeros
 * (14.3900000000000000, what a POS gets from numeric division, or
 * 0e-16000); else d as it is (rounding a number of numeric's largest size
 * could overflow).  Every number of a sale's lines goes through here,
 * stored ones too, so that a return does not reckon with thousands of zeros
 * either.
 */
static Datum
DropTrailingZeros(Datum d)
{
	if (DatumGetInt32(DirectFunctionCall1(numeric_scale, d)) > LOYALTY_MAX_DECIMALS &&
		NumCmp(DirectFunctionCall1(numeric_abs, d), AmountLimit()) < 0)
	{
		Datum		rounded = DirectFunctionCall2(numeric_round, d, Int32GetDatum(LOYALTY_MAX_DECIMALS));

		if (NumCmp(rounded, d) == 0)
			return DirectFunctionCall1(numeric_trim_scale, rounded);
	}
	return d;
}

/*
 * A qty, amount or total must be below AmountLimit and a multiple of
 * 10^-LOYALTY_MAX_DECIMALS: a number of thousands of digits (1e-16000 takes
 * 9 bytes of JSON) would otherwise make every sum and product of the award,
 * and the award stored with the sale, as long.  Trailing zeros are no
 * digits (DropTrailingZeros).  Returns the number without them.  what:
 * "line 3 of the sale: \"amount\"", "total"; d is finite.  With within, a
 * number out of bounds sets *within to false instead of raising LY061.
 */
static Datum
CheckNumberBounds(Datum d, const char *what, bool *within)
{
	bool		out_of_range = NumCmp(DirectFunctionCall1(numeric_abs, d), AmountLimit()) >= 0;

	if (!out_of_range)
		d = DropTrailingZeros(d);
	if (out_of_range || DatumGetInt32(DirectFunctionCall1(numeric_scale, d)) > LOYALTY_MAX_DECIMALS)
	{
		if (within)
		{
			*within = false;
			return d;
		}
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_NUMBER_OUT_OF_BOUNDS),
				 out_of_range ?
				 errmsg("%s %s is out of range", what, NumberText(d)) :
				 errmsg("%s %s has more than %d decimals", what, NumberText(d), LOYALTY_MAX_DECIMALS),
				 errdetail("Quantities, amounts and totals have at most %d decimals and are below 10^%d.",
						   LOYALTY_MAX_DECIMALS, LOYALTY_MAX_AMOUNT_DIGITS)));
	}
	return d;
}

/*
 * The lines of a sale, parsed and checked line by line: a line is an object
 * with a text sku, a positive qty and an amount of at least 0 (on a sale and
 * on a return alike: a return lists what came back); with check_bounds,
 * there are at most LOYALTY_MAX_SALE_LINES and their numbers are within the
 * bounds of CheckNumberBounds (with within: *within is set to false at the
 * first that is not, and the basket is left incomplete).  Returns the sum of
 * the amounts.
 */
static Datum
ParseLines(Jsonb *lines, bool is_return, bool check_bounds, bool *within, SaleBasket *basket)
{
	JsonbContainer *c = &lines->root;
	Datum		sum = NumInt(0);
	Datum		zero = NumInt(0);
	const char *what = is_return ? "return" : "sale";

	if (!JsonContainerIsArray(c) || JsonContainerIsScalar(c))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MALFORMED_LINES),
				 errmsg("the lines of a sale must be a JSON array")));
	basket->nlines = JsonContainerSize(c);
	if (basket->nlines == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MALFORMED_LINES),
				 errmsg("a sale needs at least one line")));
	if (check_bounds && basket->nlines > LOYALTY_MAX_SALE_LINES && within)
	{
		*within = false;
		return sum;
	}
	if (check_bounds && basket->nlines > LOYALTY_MAX_SALE_LINES)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_TOO_MANY_LINES),
				 errmsg("the %s has %d lines, more than %d", what, basket->nlines,
						LOYALTY_MAX_SALE_LINES),
				 errdetail("A sale or return has at most %d lines.", LOYALTY_MAX_SALE_LINES),
				 errhint("Split a larger basket into several sales.")));
	basket->lines = palloc0(sizeof(SaleLine) * basket->nlines);
	for (int k = 0; k < basket->nlines; k++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(c, k);
		SaleLine   *line = &basket->lines[k];

		CHECK_FOR_INTERRUPTS();
		if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
			MalformedLine(k, "not a JSON object");
		line->sku = LineText(e->val.binary.data, "sku", k, true);
		line->category = LineText(e->val.binary.data, "category", k, false);
		line->qty = DropTrailingZeros(LineNumber(e->val.binary.data, "qty", k));
		line->amount = DropTrailingZeros(LineNumber(e->val.binary.data, "amount", k));
		if (NumCmp(line->qty, zero) <= 0 || NumCmp(line->amount, zero) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_NEGATIVE_LINE),
					 errmsg("line %d of the %s has qty %s and amount %s", k + 1, what,
							NumberText(line->qty), NumberText(line->amount)),
					 errdetail("Quantities are positive and amounts are not negative, on a sale and on a return alike: a return lists what came back.")));
		if (check_bounds)
		{
			line->qty = CheckNumberBounds(line->qty, psprintf("line %d of the %s: \"qty\"", k + 1, what), within);
			line->amount = CheckNumberBounds(line->amount, psprintf("line %d of the %s: \"amount\"", k + 1, what), within);
			if (within && !*within)
				return sum;
		}
		sum = NumAdd(sum, line->amount);
	}
	return sum;
}

/*
 * Parse and check the lines a POS sends (a sale, a return or a quote):
 * at most LOYALTY_MAX_SALE_LINES lines, numbers within bounds, and with a
 * total (not 0) the amounts add up to it within 0.01 per line, at most
 * 0.01 x LOYALTY_TOLERANCE_LINES.  These bounds came with 0.5.0: with
 * within, a basket outside them sets *within to false instead of raising
 * (LY060, LY061, LY033), so that the sale trigger can first recognise the
 * retry of a sale stored before them; the basket is then incomplete, and a
 * second call without within raises the error.
 */
void
LoyaltyParseLines(Jsonb *lines, Datum total, bool is_return, SaleBasket *basket, bool *within)
{
	Datum		zero = NumInt(0);
	Datum		sum = ParseLines(lines, is_return, true, within, basket);

	basket->total = total;
	if (total == (Datum) 0 || (within && !*within))
		return;
	if (numeric_is_nan(DatumGetNumeric(total)) || numeric_is_inf(DatumGetNumeric(total)) ||
		NumCmp(total, zero) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_NEGATIVE_LINE),
				 errmsg("total %s is not a finite amount of at least 0", NumberText(total))));
	total = basket->total = CheckNumberBounds(total, "total", within);
	if (within && !*within)
		return;
	{
		Datum		diff = DirectFunctionCall1(numeric_abs, DirectFunctionCall2(numeric_sub, sum, total));
		Datum		tolerance = NumMul(NumInt(Min(basket->nlines, LOYALTY_TOLERANCE_LINES)),
									   DirectFunctionCall3(numeric_in, CStringGetDatum("0.01"),
														   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));

		if (NumCmp(diff, tolerance) > 0 && within)
			*within = false;
		else if (NumCmp(diff, tolerance) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_TOTAL_MISMATCH),
					 errmsg("the lines add up to %s, not to the total %s",
							DatumGetCString(DirectFunctionCall1(numeric_out, sum)),
							DatumGetCString(DirectFunctionCall1(numeric_out, total))),
					 errdetail("The tolerance is 0.01 per line for at most %d lines: %s here.",
							   LOYALTY_TOLERANCE_LINES,
							   DatumGetCString(DirectFunctionCall1(numeric_out, tolerance)))));
	}
}

/*
 * Parse the lines of a sale or return already stored (a return reads its
 * original and the earlier returns): checked as they were when stored, so a
 * row a release with other bounds accepted is read as it is.
 */
void
LoyaltyParseStoredLines(Jsonb *lines, bool is_return, SaleBasket *basket)
{
	(void) ParseLines(lines, is_return, false, NULL, basket);
	basket->total = (Datum) 0;
}
