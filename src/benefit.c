/*
 * benefit.c -- member benefits used at the till: loyalty.use_benefit.
 *
 * A benefit (a row of loyalty.benefit) is a perk a member takes at the POS:
 * a free coffee Monday to Friday once a day, a gift in the birthday month.
 * use_benefit grants one use, or refuses it with the reason's own SQLSTATE,
 * in this order:
 *
 *   1. LoyaltyResolveCard locks the member's balance row, as every posting
 *      does: all uses of one member are decided one after the other, so two
 *      tills can never both take the last use of a cap;
 *   2. (store, pos_txn) names one use: the same request again is answered
 *      as it was the first time, from the row it wrote; another card or
 *      benefit under that pair is LY011 (as for a redemption);
 *   3. the member must be active (LY003, LY004); the benefit must exist in
 *      the member's program (LY080), be valid at the moment (LY081), be for
 *      the member's tier or a lower one (LY082), the birthday month if it
 *      says so (LY083), and the day of week (LY084) and hour (LY085) in the
 *      store's time zone, else the program's;
 *   4. the member's uses of the benefit in the local day, ISO week and month
 *      are counted (one range of benefit_use_day_idx) against the caps
 *      (LY086 says which cap and when it frees up);
 *   5. the use is written with its local day, week and month and the answer
 *      (what is left of each cap), which use_benefit returns.
 *
 * Why C and not a SQL function: the member's lock is the one the postings
 * take (LoyaltyResolveCard), the local calendar comes from the tz database
 * in C as the rules' does (LoyaltyZone: no session setting moves a day or an
 * hour), and the statements are prepared once per backend.  A use costs the
 * lock, one look-up of the (store, pos_txn), one query for the benefit and
 * the member's tier and birthday, one range count and one INSERT.
 *
 * The moment of a use is when the member's lock was granted (as for a
 * posting without a time): a use that waited for another is never dated
 * before it.  use_benefit_at takes the moment instead, for an admin who
 * back-fills uses recorded elsewhere; it is judged and counted as then.
 */
#include "rules.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

/* The caps of a benefit, in the order they are checked (the longest first). */
typedef enum BenefitCap
{
	BENEFIT_CAP_MONTH,
	BENEFIT_CAP_WEEK,
	BENEFIT_CAP_DAY,
	BENEFIT_NCAPS
} BenefitCap;

static const char *const cap_per[BENEFIT_NCAPS] = {"a month", "a week", "a day"};
static const char *const cap_period[BENEFIT_NCAPS] = {"this month", "this week", "today"};

static const char *const iso_day_names[8] = {
	NULL, "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"
};
static const char *const month_names[13] = {
	NULL, "January", "February", "March", "April", "May", "June", "July", "August",
	"September", "October", "November", "December"
};

/* A benefit of the member's program, with what its conditions need to know. */
typedef struct Benefit
{
	int32		benefit_id;
	const char *code;
	bool		has_tier;
	const char *tier_code;
	int32		tier_rank;
	int			dow_mask;		/* bit d for ISO day d; 0: every day */
	int			hour_from;		/* -1: all day */
	int			hour_to;
	int32		cap[BENEFIT_NCAPS]; /* 0: no cap */
	bool		birthday_month;
	bool		has_valid_from;
	TimestampTz valid_from;
	bool		has_valid_to;
	TimestampTz valid_to;
	const char *zone;			/* the store's time zone, else the program's */
	int			birth_month;	/* the member's; 0: no birth date */
	const char *member_tier;	/* the member's tier code; NULL: no tiers */
	int32		member_rank;
	TimestampTz enrolled_at;
} Benefit;

/* The moment of a use in the benefit's local calendar. */
typedef struct UseTime
{
	TimestampTz at;
	struct pg_tm tm;
	int			dow;			/* ISO: 1 = Monday */
	DateADT		start[BENEFIT_NCAPS];	/* first day of the month, week, day */
	DateADT		end[BENEFIT_NCAPS]; /* the first day after each */
} UseTime;

/* One use: what the till asked for, and the answer. */
typedef struct BenefitUse
{
	int64		card;
	const char *benefit;
	const char *store;
	const char *pos_txn;
	bool		at_given;		/* use_benefit_at */
	TimestampTz at;
	int64		use_id;
	int64		member_id;
	int32		benefit_id;
	TimestampTz used_at;
	bool		has_left[BENEFIT_NCAPS];
	int32		left[BENEFIT_NCAPS];
} BenefitUse;

static LoyaltyPlan earlier_use_plan = {
	"SELECT u.use_id, u.member_id, b.code, u.used_at, "
	"u.left_this_month, u.left_this_week, u.left_today "
	"FROM loyalty.benefit_use u JOIN loyalty.benefit b ON b.benefit_id OPERATOR(pg_catalog.=) u.benefit_id "
	"WHERE u.store OPERATOR(pg_catalog.=) $1 AND u.pos_txn OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

/*
 * The benefit by code in the member's program ($1, $2), with the member's
 * birthday, enrolment and tier ($3; no member_tier row: the program's rank-0
 * tier) and the zone of the store ($4), else of the program.
 */
static LoyaltyPlan load_benefit_plan = {
	"SELECT b.benefit_id, b.tier_id, bt.code, bt.rank, "
	"  (SELECT pg_catalog.bit_or(1 OPERATOR(pg_catalog.<<) d) FROM pg_catalog.unnest(b.days_of_week) AS d), "
	"  b.hour_from, b.hour_to, b.per_month, b.per_week, b.per_day, b.birthday_month, "
	"  b.valid_from, b.valid_to, COALESCE(s.time_zone, p.time_zone), "
	"  EXTRACT(MONTH FROM m.birth_date)::pg_catalog.int4, "
	"  COALESCE(mtt.code, t0.code), COALESCE(mtt.rank, 0), m.enrolled_at "
	"FROM loyalty.benefit b "
	"JOIN loyalty.program p ON p.program_id OPERATOR(pg_catalog.=) b.program_id "
	"JOIN loyalty.member m ON m.member_id OPERATOR(pg_catalog.=) $3 "
	"LEFT JOIN loyalty.store s ON s.store OPERATOR(pg_catalog.=) $4 "
	"LEFT JOIN loyalty.tier bt ON bt.tier_id OPERATOR(pg_catalog.=) b.tier_id "
	"LEFT JOIN loyalty.member_tier mt ON mt.member_id OPERATOR(pg_catalog.=) m.member_id "
	"LEFT JOIN loyalty.tier mtt ON mtt.tier_id OPERATOR(pg_catalog.=) mt.tier_id "
	"LEFT JOIN loyalty.tier t0 ON t0.program_id OPERATOR(pg_catalog.=) b.program_id "
	"  AND t0.rank OPERATOR(pg_catalog.=) 0 "
	"WHERE b.program_id OPERATOR(pg_catalog.=) $1 AND b.code OPERATOR(pg_catalog.=) $2",
	4, {INT4OID, TEXTOID, INT8OID, TEXTOID}
};

/*
 * The member's uses of a benefit in the month, week and day of the use: one
 * range of benefit_use_day_idx from the earlier of the month's and the
 * week's first day to the later of their ends (a week may straddle months).
 */
static LoyaltyPlan count_uses_plan = {
	"SELECT pg_catalog.count(*) FILTER (WHERE day OPERATOR(pg_catalog.>=) $3 AND day OPERATOR(pg_catalog.<) $4)::pg_catalog.int4, "
	"  pg_catalog.count(*) FILTER (WHERE day OPERATOR(pg_catalog.>=) $5 AND day OPERATOR(pg_catalog.<) $6)::pg_catalog.int4, "
	"  pg_catalog.count(*) FILTER (WHERE day OPERATOR(pg_catalog.=) $7)::pg_catalog.int4 "
	"FROM loyalty.benefit_use "
	"WHERE member_id OPERATOR(pg_catalog.=) $1 AND benefit_id OPERATOR(pg_catalog.=) $2 "
	"AND day OPERATOR(pg_catalog.>=) LEAST($3, $5) AND day OPERATOR(pg_catalog.<) GREATEST($4, $6)",
	7, {INT8OID, INT4OID, DATEOID, DATEOID, DATEOID, DATEOID, DATEOID}
};

static LoyaltyPlan insert_use_plan = {
	"INSERT INTO loyalty.benefit_use (member_id, benefit_id, store, pos_txn, used_at, time_zone, "
	"day, week, month, left_this_month, left_this_week, left_today) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
	"ON CONFLICT (store, pos_txn) DO NOTHING RETURNING use_id",
	12, {INT8OID, INT4OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, DATEOID, DATEOID, DATEOID,
	INT4OID, INT4OID, INT4OID}
};

/* ---------- helpers ---------- */

/* A local date as ISO text, whatever the session's DateStyle. */
static char *
DayText(DateADT day)
{
	int			y,
				m,
				d;

	j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	return psprintf("%04d-%02d-%02d", y, m, d);
}

/* An int4 column of the first row of tt into *out (0 when NULL); false when NULL. */
static bool
Int32OrNull(SPITupleTable *tt, int col, int32 *out)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tt->vals[0], tt->tupdesc, col, &isnull);

	*out = isnull ? 0 : DatumGetInt32(d);
	return !isnull;
}

/* A timestamptz column of the first row of tt into *out; false when NULL. */
static bool
TimeOrNull(SPITupleTable *tt, int col, TimestampTz *out)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tt->vals[0], tt->tupdesc, col, &isnull);

	*out = isnull ? 0 : DatumGetTimestampTz(d);
	return !isnull;
}

/* LY011: (store, pos_txn) names a use of another card or benefit. */
static void
UseConflict(const BenefitUse *u, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_IDEMPOTENCY_CONFLICT),
			 errmsg("POS transaction \"%s\" of store \"%s\" was already used for a different benefit use",
					u->pos_txn, u->store),
			 errdetail("It was used %s.", what),
			 errhint("Use a new pos_txn for a new use.")));
}

/*
 * Step 2: an earlier use under (store, pos_txn).  The same member and benefit
 * (and, for use_benefit_at, the same moment) is a retry: *u gets the first
 * answer.  Anything else is LY011.
 */
static bool
FindEarlierUse(BenefitUse *u)
{
	Datum		v[2];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	TimestampTz used_at;

	v[0] = CStringGetTextDatum(u->store);
	v[1] = CStringGetTextDatum(u->pos_txn);
	LoyaltyExecute(&earlier_use_plan, v, NULL, false, 1);
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	used_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
	if (DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull)) != u->member_id)
		UseConflict(u, "by another card");
	if (strcmp(SPI_getvalue(tup, desc, 3), u->benefit) != 0)
		UseConflict(u, psprintf("for benefit \"%s\"", SPI_getvalue(tup, desc, 3)));
	if (u->at_given && used_at != u->at)
		UseConflict(u, psprintf("at %s", timestamptz_to_str(used_at)));
	u->use_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	u->used_at = used_at;
	for (int c = 0; c < BENEFIT_NCAPS; c++)
		u->has_left[c] = Int32OrNull(SPI_tuptable, 5 + c, &u->left[c]);
	return true;
}

/* Step 3: the benefit by code in the member's program (LY080). */
static void
LoadBenefit(const LoyaltyMember *m, const BenefitUse *u, Benefit *b)
{
	Datum		v[4];
	SPITupleTable *tt;
	bool		isnull;
	int32		tier_id;

	v[0] = Int32GetDatum(m->program_id);
	v[1] = CStringGetTextDatum(u->benefit);
	v[2] = Int64GetDatum(m->member_id);
	v[3] = CStringGetTextDatum(u->store);
	LoyaltyExecute(&load_benefit_plan, v, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_UNKNOWN_BENEFIT),
				 errmsg("benefit \"%s\" does not exist", u->benefit),
				 errdetail("The program of card \"%s\" has no benefit of that code.",
						   LoyaltyCardText(u->card)),
				 errhint("The program's benefits are the rows of loyalty.benefit.")));
	tt = SPI_tuptable;
	memset(b, 0, sizeof(*b));
	b->code = u->benefit;
	(void) Int32OrNull(tt, 1, &b->benefit_id);
	b->has_tier = Int32OrNull(tt, 2, &tier_id);
	b->tier_code = SPI_getvalue(tt->vals[0], tt->tupdesc, 3);
	(void) Int32OrNull(tt, 4, &b->tier_rank);
	(void) Int32OrNull(tt, 5, &b->dow_mask);
	if (!Int32OrNull(tt, 6, &b->hour_from))
		b->hour_from = -1;
	(void) Int32OrNull(tt, 7, &b->hour_to);
	for (int c = 0; c < BENEFIT_NCAPS; c++)
		(void) Int32OrNull(tt, 8 + c, &b->cap[c]);
	b->birthday_month = DatumGetBool(SPI_getbinval(tt->vals[0], tt->tupdesc, 11, &isnull));
	b->has_valid_from = TimeOrNull(tt, 12, &b->valid_from);
	b->has_valid_to = TimeOrNull(tt, 13, &b->valid_to);
	b->zone = SPI_getvalue(tt->vals[0], tt->tupdesc, 14);
	(void) Int32OrNull(tt, 15, &b->birth_month);
	b->member_tier = SPI_getvalue(tt->vals[0], tt->tupdesc, 16);
	(void) Int32OrNull(tt, 17, &b->member_rank);
	(void) TimeOrNull(tt, 18, &b->enrolled_at);
}

/*
 * The moment of a use in the benefit's zone: day of week, hour, and the
 * local month, ISO week (Monday first) and day it counts in.  The zone is a
 * tz database name (its CHECK); one the tz database no longer has (an OS
 * update) is LY062, as for a rule.
 */
static void
LocalUseTime(const Benefit *b, TimestampTz at, UseTime *t)
{
	const char *canonical;
	pg_tz	   *tz = LoyaltyZone(b->zone, &canonical);
	fsec_t		fsec;
	int			tzoff;
	int			jd;
	int			next_month;

	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_UNKNOWN_TIME_ZONE),
				 errmsg("time zone \"%s\" is not a zone of the tz database", b->zone),
				 errdetail("A benefit's days, hours and caps need a tz database name, such as \"America/Chicago\"."),
				 canonical ? errhint("Set loyalty.store.time_zone or loyalty.program.time_zone to \"%s\".", canonical) :
				 errhint("Correct loyalty.store.time_zone or loyalty.program.time_zone.")));
	t->at = at;
	if (timestamp2tm(at, &tzoff, &t->tm, &fsec, NULL, tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("time out of range for a benefit's calendar")));
	jd = date2j(t->tm.tm_year, t->tm.tm_mon, t->tm.tm_mday);
	t->dow = j2day(jd) == 0 ? 7 : j2day(jd);
	t->start[BENEFIT_CAP_DAY] = jd - POSTGRES_EPOCH_JDATE;
	t->end[BENEFIT_CAP_DAY] = t->start[BENEFIT_CAP_DAY] + 1;
	t->start[BENEFIT_CAP_WEEK] = t->start[BENEFIT_CAP_DAY] - (t->dow - 1);
	t->end[BENEFIT_CAP_WEEK] = t->start[BENEFIT_CAP_WEEK] + 7;
	t->start[BENEFIT_CAP_MONTH] = date2j(t->tm.tm_year, t->tm.tm_mon, 1) - POSTGRES_EPOCH_JDATE;
	next_month = t->tm.tm_mon % 12 + 1;
	t->end[BENEFIT_CAP_MONTH] = date2j(t->tm.tm_year + (next_month == 1), next_month, 1) - POSTGRES_EPOCH_JDATE;
}

/* The ISO days of a mask, as "Monday, Tuesday, ...". */
static char *
DayList(int mask)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int d = 1; d <= 7; d++)
		if (mask & (1 << d))
			appendStringInfo(&s, "%s%s", s.len ? ", " : "", iso_day_names[d]);
	return s.data;
}

/*
 * Step 3: validity (LY081), tier (LY082), birthday month (LY083), day of
 * week (LY084) and hour (LY085) at the moment of the use.
 */
static void
CheckConditions(const Benefit *b, const UseTime *t)
{
	if (b->has_valid_from && t->at < b->valid_from)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_BENEFIT_NOT_VALID),
				 errmsg("benefit \"%s\" is not valid yet", b->code),
				 errdetail("It can be used from %s on.", timestamptz_to_str(b->valid_from))));
	if (b->has_valid_to && t->at >= b->valid_to)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_BENEFIT_NOT_VALID),
				 errmsg("benefit \"%s\" is no longer valid", b->code),
				 errdetail("It could be used until %s.", timestamptz_to_str(b->valid_to))));
	if (b->has_tier && b->member_rank < b->tier_rank)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_BENEFIT_TIER),
				 errmsg("benefit \"%s\" is for tier \"%s\" and higher", b->code, b->tier_code),
				 errdetail("The member's tier is \"%s\".", b->member_tier ? b->member_tier : "none")));
	if (b->birthday_month && b->birth_month == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_BENEFIT_BIRTHDAY),
				 errmsg("benefit \"%s\" is for the member's birthday month", b->code),
				 errdetail("The member has no birth date on record."),
				 errhint("An admin records it: UPDATE loyalty.member SET birth_date = ...")));
	if (b->birthday_month && b->birth_month != t->tm.tm_mon)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_BENEFIT_BIRTHDAY),
				 errmsg("benefit \"%s\" is for the member's birthday month", b->code),
				 errdetail("The member's birthday is in %s; it is %s now (%s).",
						   month_names[b->birth_month], month_names[t->tm.tm_mon], b->zone)));
	if (b->dow_mask && !(b->dow_mask & (1 << t->dow)))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_BENEFIT_DAY),
				 errmsg("benefit \"%s\" is not available on %s", b->code, iso_day_names[t->dow]),
				 errdetail("It is available on %s (%s).", DayList(b->dow_mask), b->zone)));
	if (b->hour_from >= 0 && (t->tm.tm_hour < b->hour_from || t->tm.tm_hour >= b->hour_to))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_BENEFIT_HOUR),
				 errmsg("benefit \"%s\" is not available at %02d:%02d", b->code,
						t->tm.tm_hour, t->tm.tm_min),
				 errdetail("It is available from %02d:00 to %02d:00 (%s).", b->hour_from,
						   b->hour_to, b->zone)));
}

/*
 * Step 4: the member's uses of the benefit in the month, week and day of
 * this one, against the caps.  A cap that is reached is LY086, naming the
 * cap and the local day it frees up; when several are, the one that frees
 * up last (the month's before the week's before the day's).  Fills what is
 * left of each cap after this use.
 */
static void
CheckCaps(const Benefit *b, const UseTime *t, BenefitUse *u)
{
	Datum		v[7];
	int32		used[BENEFIT_NCAPS];
	bool		isnull;

	if (!b->cap[BENEFIT_CAP_MONTH] && !b->cap[BENEFIT_CAP_WEEK] && !b->cap[BENEFIT_CAP_DAY])
		return;
	v[0] = Int64GetDatum(u->member_id);
	v[1] = Int32GetDatum(b->benefit_id);
	v[2] = DateADTGetDatum(t->start[BENEFIT_CAP_MONTH]);
	v[3] = DateADTGetDatum(t->end[BENEFIT_CAP_MONTH]);
	v[4] = DateADTGetDatum(t->start[BENEFIT_CAP_WEEK]);
	v[5] = DateADTGetDatum(t->end[BENEFIT_CAP_WEEK]);
	v[6] = DateADTGetDatum(t->start[BENEFIT_CAP_DAY]);
	/* not read-only: a fresh snapshot, so uses committed while we waited count */
	LoyaltyExecute(&count_uses_plan, v, NULL, false, 1);
	for (int c = 0; c < BENEFIT_NCAPS; c++)
		used[c] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c + 1, &isnull));
	for (int c = 0; c < BENEFIT_NCAPS; c++)
	{
		if (!b->cap[c])
			continue;
		if (used[c] >= b->cap[c])
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_BENEFIT_CAP),
					 errmsg("benefit \"%s\" has reached its cap of %d %s", b->code, b->cap[c], cap_per[c]),
					 errdetail("Card \"%s\" has used it %d %s %s (local date %s, %s); it can be used again from %s.",
							   LoyaltyCardText(u->card), used[c], used[c] == 1 ? "time" : "times",
							   cap_period[c], DayText(t->start[BENEFIT_CAP_DAY]), b->zone,
							   DayText(t->end[c]))));
		u->has_left[c] = true;
		u->left[c] = b->cap[c] - used[c] - 1;
	}
}

/* Step 5: write the use and its answer; LY011 if another card took (store, pos_txn). */
static void
RecordUse(const Benefit *b, const UseTime *t, BenefitUse *u)
{
	Datum		v[12];
	char		n[12];
	bool		isnull;

	memset(n, ' ', sizeof(n));
	v[0] = Int64GetDatum(u->member_id);
	v[1] = Int32GetDatum(b->benefit_id);
	v[2] = CStringGetTextDatum(u->store);
	v[3] = CStringGetTextDatum(u->pos_txn);
	v[4] = TimestampTzGetDatum(t->at);
	v[5] = CStringGetTextDatum(b->zone);
	v[6] = DateADTGetDatum(t->start[BENEFIT_CAP_DAY]);
	v[7] = DateADTGetDatum(t->start[BENEFIT_CAP_WEEK]);
	v[8] = DateADTGetDatum(t->start[BENEFIT_CAP_MONTH]);
	for (int c = 0; c < BENEFIT_NCAPS; c++)
	{
		v[9 + c] = Int32GetDatum(u->left[c]);
		n[9 + c] = u->has_left[c] ? ' ' : 'n';
	}
	LoyaltyExecute(&insert_use_plan, v, n, false, 1);
	if (SPI_processed != 1)
		UseConflict(u, "by another card at the same time");
	u->use_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	u->used_at = t->at;
}

/* The answer, as use_benefit's OUT parameters, in the caller's context. */
static Datum
UseResult(FunctionCallInfo fcinfo, MemoryContext caller, const BenefitUse *u)
{
	TupleDesc	desc;
	Datum		v[6];
	bool		n[6] = {0};
	MemoryContext old = MemoryContextSwitchTo(caller);
	HeapTuple	tup;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	v[0] = Int64GetDatum(u->use_id);
	v[1] = Int64GetDatum(u->member_id);
	v[2] = TimestampTzGetDatum(u->used_at);
	/* left_today, left_this_week, left_this_month */
	for (int c = 0; c < BENEFIT_NCAPS; c++)
	{
		v[5 - c] = Int32GetDatum(u->left[c]);
		n[5 - c] = !u->has_left[c];
	}
	tup = heap_form_tuple(desc, v, n);
	MemoryContextSwitchTo(old);
	return HeapTupleGetDatum(tup);
}

/*
 * use_benefit and use_benefit_at: lock the member, answer a retry, check the
 * benefit's conditions and caps, record the use.
 */
static Datum
UseBenefit(FunctionCallInfo fcinfo, BenefitUse *u)
{
	MemoryContext caller = CurrentMemoryContext;
	LoyaltyMember m;
	Benefit		b;
	UseTime		t;
	Datum		result;

	SPI_connect();
	LoyaltyResolveCard(u->card, true, &m);
	u->member_id = m.member_id;
	if (!FindEarlierUse(u))		/* a retry is answered even if suspended since */
	{
		LoyaltyRequireActive(u->card, &m);
		LoadBenefit(&m, u, &b);
		if (u->at_given && u->at < b.enrolled_at)
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_BEFORE_ENROLMENT),
					 errmsg("benefit use dated %s is before the member's enrolment",
							timestamptz_to_str(u->at)),
					 errdetail("A member's benefit uses cannot be dated before the member's enrolment.")));
		LocalUseTime(&b, u->at_given ? u->at : m.locked_at, &t);
		CheckConditions(&b, &t);
		CheckCaps(&b, &t, u);
		RecordUse(&b, &t, u);
	}
	result = UseResult(fcinfo, caller, u);
	SPI_finish();
	return result;
}

/* The arguments card, benefit, store and pos_txn (LY013 when missing). */
static void
UseArguments(FunctionCallInfo fcinfo, BenefitUse *u)
{
	memset(u, 0, sizeof(*u));
	u->card = RequiredCard(fcinfo);
	u->benefit = RequiredText(fcinfo, 1, "benefit");
	u->store = RequiredText(fcinfo, 2, "store");
	u->pos_txn = RequiredText(fcinfo, 3, "pos_txn");
}

/*
 * loyalty.use_benefit(card, benefit, store, pos_txn): one use now, or an
 * error saying why not.
 */
PG_FUNCTION_INFO_V1(loyalty_use_benefit);
Datum
loyalty_use_benefit(PG_FUNCTION_ARGS)
{
	BenefitUse	u;

	UseArguments(fcinfo, &u);
	return UseBenefit(fcinfo, &u);
}

/*
 * loyalty.use_benefit_at(card, benefit, store, pos_txn, at): one use at a
 * past moment (admin: uses recorded elsewhere), judged and counted as then.
 */
PG_FUNCTION_INFO_V1(loyalty_use_benefit_at);
Datum
loyalty_use_benefit_at(PG_FUNCTION_ARGS)
{
	BenefitUse	u;

	UseArguments(fcinfo, &u);
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MISSING_KEY),
				 errmsg("the time of the use is required"),
				 errdetail("use_benefit uses a benefit now.")));
	u.at_given = true;
	u.at = PG_GETARG_TIMESTAMPTZ(4);
	if (TIMESTAMP_NOT_FINITE(u.at))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_TIME),
				 errmsg("time must be finite: %s", timestamptz_to_str(u.at))));
	if (u.at > GetCurrentTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_FUTURE_TIME),
				 errmsg("benefit use time %s is in the future", timestamptz_to_str(u.at)),
				 errdetail("Uses may be back-filled but not dated ahead of the present.")));
	return UseBenefit(fcinfo, &u);
}
