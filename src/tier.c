/*
 * tier.c -- a member's tier, kept by the sale trigger.
 *
 * A program's ladder (loyalty.tier, cached with the rules in rules.c) grades
 * its members; a member qualifies for a tier by meeting any one of its
 * thresholds -- spend, visit days, points earned -- within the program's
 * tier window.  The figures are kept incrementally, never read back from
 * the sales:
 *
 *   - loyalty.tier_day: per member and day (the program's time zone) the
 *     spend and points of that day's sales net of returns; a day is a visit
 *     while its spend is above zero (read and changed in memory, tier_day.c,
 *     and written with the member's row);
 *   - loyalty.member_tier: the member's tier and the running figures of the
 *     window of the member's latest sale (window_start .. last_day).  A sale
 *     whose day moves the window forward first drops what left it: a rolling
 *     window subtracts the days that fell out (each day is added once and
 *     dropped once), a calendar or anniversary year starts again at zero.
 *
 * The sale earns at the tier the member held before it (so the points it
 * earns never depend on themselves through min_points); then its figures
 * count, and if they qualify the member for a higher tier the member moves
 * up in the same statement (tier_change cause 'qualified', a tier_up event).
 * Everything runs under the member's lock, which the sale holds.  Nothing
 * here moves a member down: returns lower the figures, review_tiers
 * (src/sql/tier.sql) downgrades, set-based, after the tier's hold.
 */
#include "rules.h"
#include "tier.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "access/genam.h"
#include "access/stratnum.h"
#include "access/tableam.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/snapmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"

const char *const loyalty_tier_window_names[] = {
	"lifetime", "rolling", "calendar_year", "anniversary_year", NULL
};

static LoyaltyPlan member_tier_write_plan = {
	"INSERT INTO loyalty.member_tier AS t (member_id, tier_id, since, held_until, window_start, "
	"last_day, spend, visits, points) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
	"ON CONFLICT (member_id) DO UPDATE SET tier_id = excluded.tier_id, since = excluded.since, "
	"held_until = excluded.held_until, window_start = excluded.window_start, "
	"last_day = excluded.last_day, spend = excluded.spend, visits = excluded.visits, "
	"points = excluded.points",
	9, {INT8OID, INT4OID, TIMESTAMPTZOID, DATEOID, DATEOID, DATEOID, NUMERICOID, INT4OID, INT8OID}
};

static LoyaltyPlan tier_change_plan = {
	"INSERT INTO loyalty.tier_change (member_id, from_tier_id, to_tier_id, changed_at, cause, sale_id) "
	"VALUES ($1, $2, $3, $4, 'qualified', $5)",
	5, {INT8OID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID}
};

/* ---------- windows ---------- */

/* d plus years, on the same month and day (29 February: the 28th) */
static DateADT
AddYears(DateADT d, int years)
{
	int			y,
				m,
				day;

	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	y += years;
	day = Min(day, day_tab[isleap(y)][m - 1]);
	return date2j(y, m, day) - POSTGRES_EPOCH_JDATE;
}

/*
 * The tier window that holds day: [*start, *end).  Lifetime: everything;
 * rolling: the window_days days before day, and day; calendar year; the
 * anniversary year that began on the latest anniversary of anchor (the
 * enrolment day) not after day.
 */
void
LoyaltyTierPeriod(const LoyaltyLadder *ladder, DateADT anchor, DateADT day,
				  DateADT *start, DateADT *end)
{
	int			y,
				m,
				d,
				ay;

	switch (ladder->window)
	{
		case TIER_WINDOW_LIFETIME:
			*start = DATEVAL_NOBEGIN;
			*end = DATEVAL_NOEND;
			break;
		case TIER_WINDOW_ROLLING:
			*start = day - ladder->window_days;
			*end = day + 1;
			break;
		case TIER_WINDOW_CALENDAR_YEAR:
			j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
			*start = date2j(y, 1, 1) - POSTGRES_EPOCH_JDATE;
			*end = date2j(y + 1, 1, 1) - POSTGRES_EPOCH_JDATE;
			break;
		case TIER_WINDOW_ANNIVERSARY_YEAR:
			j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
			j2date(anchor + POSTGRES_EPOCH_JDATE, &ay, &m, &d);
			y -= ay;
			if (AddYears(anchor, y) > day)
				y--;
			*start = AddYears(anchor, y);
			*end = AddYears(anchor, y + 1);
			break;
	}
}

/*
 * The day until which a tier reached on day is kept at least: to the end
 * of the next period (calendar and anniversary years), one whole window
 * (rolling: the day the qualifying sale stops counting), no hold for
 * lifetime figures (only returns lower them).
 */
static DateADT
HoldUntil(const LoyaltyLadder *ladder, DateADT anchor, DateADT day)
{
	DateADT		start,
				end;

	switch (ladder->window)
	{
		case TIER_WINDOW_LIFETIME:
			return day;
		case TIER_WINDOW_ROLLING:
			return day + ladder->window_days + 1;
		default:
			LoyaltyTierPeriod(ladder, anchor, day, &start, &end);
			LoyaltyTierPeriod(ladder, anchor, end, &start, &end);
			return end;
	}
}

/*
 * loyalty.tier_period(tier_window, tier_window_days, anchor, day): the
 * window that holds day, as the sale trigger counts it; review_tiers and
 * tier_progress use it so that SQL and C agree to the day.
 */
PG_FUNCTION_INFO_V1(loyalty_tier_period);
Datum
loyalty_tier_period(PG_FUNCTION_ARGS)
{
	LoyaltyLadder ladder = {0};
	DateADT		anchor = PG_GETARG_DATEADT(2);
	DateADT		day = PG_GETARG_DATEADT(3);
	DateADT		start,
				end;
	TupleDesc	tdesc;
	Datum		v[2];
	bool		n[2] = {0};

	char	   *window = text_to_cstring(PG_GETARG_TEXT_PP(0));

	ladder.window = -1;
	for (int i = 0; loyalty_tier_window_names[i] != NULL; i++)
		if (strcmp(window, loyalty_tier_window_names[i]) == 0)
			ladder.window = i;
	if ((int) ladder.window < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown tier window \"%s\"", window),
				 errhint("The tier windows are lifetime, rolling, calendar_year and anniversary_year.")));
	ladder.window_days = PG_GETARG_INT32(1);
	if (ladder.window_days < 1 || ladder.window_days > 3660)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("tier_window_days must be between 1 and 3660")));
	if (DATE_NOT_FINITE(anchor) || DATE_NOT_FINITE(day))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_TIME),
				 errmsg("a tier period needs finite days")));
	LoyaltyTierPeriod(&ladder, anchor, day, &start, &end);
	if (get_call_result_type(fcinfo, NULL, &tdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	v[0] = DateADTGetDatum(start);
	v[1] = DateADTGetDatum(end);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tdesc), v, n)));
}

/* ---------- the member's tier ---------- */

static const LoyaltyTier *
TierById(const LoyaltyLadder *ladder, int32 tier_id)
{
	for (int i = 0; i < ladder->ntiers; i++)
		if (ladder->tiers[i].tier_id == tier_id)
			return &ladder->tiers[i];
	elog(ERROR, "tier %d is not on its member's program's ladder", tier_id);
	return NULL;				/* keep the compiler quiet */
}

/* The base tier (rank 0), which a ladder must have (LY051). */
static const LoyaltyTier *
BaseTier(const LoyaltyLadder *ladder)
{
	if (ladder->tiers[0].rank != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_LADDER_WITHOUT_BASE),
				 errmsg("the program's tier ladder has no base tier (rank 0)")));
	return &ladder->tiers[0];
}

/*
 * The member's tier and running figures (under the member's lock for a
 * sale, none for a quote); no row: the base tier, nothing counted yet.  Read
 * from what this statement's earlier sales of the member left pending
 * (tier_pending.c), else with a fresh snapshot, which sees what earlier
 * statements wrote.
 */
void
LoyaltyTierRead(const LoyaltyMember *m, const LoyaltyLadder *ladder, bool read_only,
				MemberTier *mt)
{
	Relation	rel = LoyaltyOpen("member_tier", false, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	Datum		key = Int64GetDatum(m->member_id);
	bool		isnull;

	int32		tier_id;

	if (LoyaltyTierPendingGet(m->member_id, !read_only, mt, &tier_id))
	{
		/* as an earlier sale of this statement left it */
		mt->tier = TierById(ladder, tier_id);
		ExecDropSingleTupleTableSlot(slot);
		return;
	}
	memset(mt, 0, sizeof(*mt));
	mt->tier = BaseTier(ladder);
	mt->spend = NumInt(0);
	LoyaltyPushReadSnapshot(read_only);
	if (LoyaltyFetchByKey(rel, "member_tier_pkey", 1, &key, GetActiveSnapshot(), slot))
	{
		mt->exists = true;
		mt->tid = slot->tts_tid;
		mt->tier = TierById(ladder, DatumGetInt32(slot_getattr(slot, LoyaltyRelColumn(rel, "tier_id"), &isnull)));
		mt->since = DatumGetTimestampTz(slot_getattr(slot, LoyaltyRelColumn(rel, "since"), &isnull));
		mt->held_until = DatumGetDateADT(slot_getattr(slot, LoyaltyRelColumn(rel, "held_until"), &isnull));
		mt->window_start = DatumGetDateADT(slot_getattr(slot, LoyaltyRelColumn(rel, "window_start"), &isnull));
		mt->last_day = DatumGetDateADT(slot_getattr(slot, LoyaltyRelColumn(rel, "last_day"), &isnull));
		mt->spend = NumCopy(slot_getattr(slot, LoyaltyRelColumn(rel, "spend"), &isnull));
		mt->visits = DatumGetInt32(slot_getattr(slot, LoyaltyRelColumn(rel, "visits"), &isnull));
		mt->points = DatumGetInt64(slot_getattr(slot, LoyaltyRelColumn(rel, "points"), &isnull));
	}
	/* no day after last_day has a row; without a member row, nothing is known */
	LoyaltyTierDaysInit(&mt->days, mt->exists ? mt->last_day + 1 : DATEVAL_NOEND,
						mt->exists ? mt->window_start : DATEVAL_NOEND);
	PopActiveSnapshot();
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * Write the member's changed days and row: in place (the rows read under
 * the member's lock, which no one else writes meanwhile) or new; through
 * SQL when not direct (a DBA gave the table a trigger of its own, or the
 * end of a transaction writes what a statement left).  tier_pending.c
 * writes its rows with it.
 */
void
LoyaltyTierWriteRow(int64 member_id, int32 tier_id, MemberTier *mt, bool direct)
{
	Datum		v[9];
	const char *const columns[] = {"member_id", "tier_id", "since", "held_until", "window_start",
	"last_day", "spend", "visits", "points"};
	LoyaltyRow *row;
	ItemPointerData tid = mt->tid;

	v[0] = Int64GetDatum(member_id);
	v[1] = Int32GetDatum(tier_id);
	v[2] = TimestampTzGetDatum(mt->since);
	v[3] = DateADTGetDatum(mt->held_until);
	v[4] = DateADTGetDatum(mt->window_start);
	v[5] = DateADTGetDatum(mt->last_day);
	v[6] = mt->spend;
	v[7] = Int32GetDatum((int32) Max(Min(mt->visits, PG_INT32_MAX), 0));
	v[8] = Int64GetDatum(mt->points);
	if (!direct)
	{
		LoyaltyTierDaysWrite(member_id, &mt->days, false);
		LoyaltyExecute(&member_tier_write_plan, v, NULL, false, 0);
		return;
	}
	LoyaltyPushReadSnapshot(false);
	LoyaltyTierDaysWrite(member_id, &mt->days, LoyaltyWriterDirect(LOYALTY_TIER_DAY));
	row = LoyaltyRowBegin(LOYALTY_MEMBER_TIER);
	for (int i = mt->exists ? 1 : 0; i < (int) lengthof(columns); i++)
		LoyaltyRowSet(row, columns[i], v[i], false);
	if (mt->exists)
		LoyaltyRowUpdate(row, &tid);
	else
		LoyaltyRowInsert(row);
	PopActiveSnapshot();
}

/* The member's row after a sale or return: kept for the statement's end, or written now. */
static void
WriteMemberTier(int64 member_id, MemberTier *mt)
{
	if (!LoyaltyTierDefer(member_id, mt->tier->tier_id, mt))
		LoyaltyTierWriteRow(member_id, mt->tier->tier_id, mt, LoyaltyWriterDirect(LOYALTY_MEMBER_TIER));
}

/* Does the member's figure meet any threshold of tier t? */
static bool
Qualifies(const LoyaltyTier *t, const MemberTier *mt)
{
	if (t->rank == 0)
		return true;
	return (t->has_min_spend && NumCmp(mt->spend, t->min_spend) >= 0) ||
		(t->min_visits > 0 && mt->visits >= t->min_visits) ||
		(t->min_points > 0 && mt->points >= t->min_points);
}

/* The highest tier the running figures qualify for. */
static const LoyaltyTier *
QualifiedTier(const LoyaltyLadder *ladder, const MemberTier *mt)
{
	for (int i = ladder->ntiers - 1; i > 0; i--)
		if (Qualifies(&ladder->tiers[i], mt))
			return &ladder->tiers[i];
	return BaseTier(ladder);
}

/*
 * Move the running figures to the window of day (the latest sale day):
 * what left a rolling window is subtracted; a new year, or figures kept for
 * a window the program has changed since (tier_window, tier_window_days),
 * are counted again from the day figures of the new window (no day after
 * last_day has any).
 */
static void
MoveWindow(int64 member_id, const LoyaltyLadder *ladder, DateADT anchor, MemberTier *mt, DateADT day)
{
	DateADT		start,
				end,
				kept_start;
	Datum		spend;
	int64		points,
				visits;

	LoyaltyTierPeriod(ladder, anchor, day, &start, &end);
	/* the window the figures were kept for, as the program counts it now */
	LoyaltyTierPeriod(ladder, anchor, mt->last_day, &kept_start, &end);
	if (kept_start == mt->window_start)
	{
		if (start <= mt->window_start)
			return;
		if (ladder->window == TIER_WINDOW_ROLLING && start - mt->window_start <= ladder->window_days + 1)
		{
			LoyaltyTierDaysSum(member_id, &mt->days, mt->window_start, start, &spend, &points, &visits);
			mt->spend = DirectFunctionCall2(numeric_sub, mt->spend, spend);
			mt->points -= points;
			mt->visits -= visits;
			mt->window_start = start;
			return;
		}
	}
	LoyaltyTierDaysSum(member_id, &mt->days, start, day + 1, &spend, &points, &visits);
	mt->spend = spend;
	mt->points = points;
	mt->visits = visits;
	mt->window_start = start;
}

/*
 * Change a day's figures by spend and points (signed), in the member's day
 * set (written with the member's row): a sale adds a day that is not there
 * yet, a return changes only a day that was counted, and never takes its
 * spend below zero (a refund may exceed its sale's total by the tolerance
 * of the lines: review_tiers' candidates rely on days that are never
 * negative).  Returns whether the day is there; *before and *after: its
 * spend (the change made is *after - *before).
 */
static bool
ChangeDay(int64 member_id, TierDays *days, DateADT day, Datum spend, int64 points, bool add,
		  Datum *before, Datum *after)
{
	TierDay    *d = LoyaltyTierDayGet(member_id, days, day, add);
	int64		day_points;

	if (d == NULL)
		return false;
	*before = NumCopy(d->spend);
	*after = NumAdd(*before, spend);
	if (!add && NumCmp(*after, NumInt(0)) < 0)
		*after = NumInt(0);
	if (pg_add_s64_overflow(d->points, points, &day_points))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_POINTS),
				 errmsg("a member's tier points of a day are out of range")));
	LoyaltyTierDaySet(days, d, *after, day_points, true);
	return true;
}

/* Add a day's change to the running figures, when the day is in their window. */
static void
CountDay(MemberTier *mt, DateADT day, Datum spend, int64 points, Datum before, Datum after)
{
	if (day < mt->window_start || day > mt->last_day)
		return;
	mt->spend = NumAdd(mt->spend, spend);
	if (pg_add_s64_overflow(mt->points, points, &mt->points))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_POINTS),
				 errmsg("a member's tier points are out of range")));
	mt->visits += (NumCmp(after, NumInt(0)) > 0) - (NumCmp(before, NumInt(0)) > 0);
}

/*
 * The member moved up: a tier_change row (written without SQL, like the
 * ledger's rows, unless the table has a trigger of its own) and a tier_up
 * event.
 */
static void
RecordUpgrade(int64 member_id, const LoyaltyTier *from, const LoyaltyTier *to,
			  TimestampTz at, int64 sale_id)
{
	JsonbParseState *st = NULL;

	if (LoyaltyWriterDirect(LOYALTY_TIER_CHANGE))
	{
		LoyaltyRow *row = LoyaltyRowBegin(LOYALTY_TIER_CHANGE);

		LoyaltyRowSet(row, "member_id", Int64GetDatum(member_id), false);
		LoyaltyRowSet(row, "from_tier_id", Int32GetDatum(from->tier_id), false);
		LoyaltyRowSet(row, "to_tier_id", Int32GetDatum(to->tier_id), false);
		LoyaltyRowSet(row, "changed_at", TimestampTzGetDatum(at), false);
		LoyaltyRowSet(row, "cause", CStringGetTextDatum("qualified"), false);
		LoyaltyRowSet(row, "sale_id", Int64GetDatum(sale_id), false);
		LoyaltyRowInsert(row);
	}
	else
	{
		Datum		v[5] = {Int64GetDatum(member_id), Int32GetDatum(from->tier_id),
		Int32GetDatum(to->tier_id), TimestampTzGetDatum(at), Int64GetDatum(sale_id)};

		LoyaltyExecute(&tier_change_plan, v, NULL, false, 0);
	}
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	LoyaltyJsonbKey(&st, "event");
	LoyaltyJsonbString(&st, "tier_up");
	LoyaltyJsonbKey(&st, "member_id");
	LoyaltyJsonbInt(&st, member_id);
	LoyaltyJsonbKey(&st, "from");
	LoyaltyJsonbString(&st, from->code);
	LoyaltyJsonbKey(&st, "to");
	LoyaltyJsonbString(&st, to->code);
	LoyaltyJsonbKey(&st, "cause");
	LoyaltyJsonbString(&st, "qualified");
	LoyaltyJsonbKey(&st, "sale_id");
	LoyaltyJsonbInt(&st, sale_id);
	LoyaltyJsonbKey(&st, "changed_at");
	LoyaltyJsonbString(&st, LoyaltyUtcText(at, true));
	LoyaltyEmitEvent("tier_up", member_id, JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL))));
}

/*
 * When the member's latest tier change took effect (DT_NOBEGIN: none), by
 * tier_change_at_idx, with the fresh snapshot the figures are read with.
 */
static TimestampTz
LatestChange(int64 member_id)
{
	Relation	rel = LoyaltyOpen("tier_change", false, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	LoyaltyKey	key = {1, BTEqualStrategyNumber, Int64GetDatum(member_id)};
	struct IndexScanDescData *scan;
	TimestampTz latest = DT_NOBEGIN;
	bool		isnull;

	LoyaltyPushReadSnapshot(false);
	scan = LoyaltyIndexScan(rel, "tier_change_at_idx", 1, &key, GetActiveSnapshot());
	if (index_getnext_slot(scan, BackwardScanDirection, slot))
		latest = DatumGetTimestampTz(slot_getattr(slot, LoyaltyRelColumn(rel, "changed_at"), &isnull));
	LoyaltyIndexScanEnd(scan);
	PopActiveSnapshot();
	ExecDropSingleTupleTableSlot(slot);
	return latest;
}

/* The enrolment day, which an anniversary year counts from. */
static DateADT
AnchorDay(const LoyaltyMember *m, const LoyaltyLadder *ladder)
{
	if (ladder->window != TIER_WINDOW_ANNIVERSARY_YEAR)
		return 0;
	return LoyaltyLocalDate(LoyaltyMemberEnrolledAt(m->member_id), m->time_zone);
}

/*
 * A member's sale counts for the tier: its spend and points go to its day
 * and, when in the window, to the running figures; a higher tier they
 * qualify for is reached now (dated at the sale), and a member who meets
 * the current tier again keeps it longer.  Returns the tier after the sale.
 * Under the member's lock; inside SPI.
 */
const LoyaltyTier *
LoyaltyTierCountSale(const LoyaltyMember *m, const LoyaltyLadder *ladder, MemberTier *mt,
					 TimestampTz occurred_at, Datum spend, int64 points, int64 sale_id)
{
	DateADT		day = LoyaltyLocalDate(occurred_at, m->time_zone);
	DateADT		anchor = AnchorDay(m, ladder);
	const LoyaltyTier *qualified;
	DateADT		hold;
	Datum		before,
				after;

	if (!mt->exists)
	{
		DateADT		end;

		LoyaltyTierPeriod(ladder, anchor, day, &mt->window_start, &end);
		mt->last_day = day;
		mt->held_until = day;
		mt->since = occurred_at;
	}
	MoveWindow(m->member_id, ladder, anchor, mt, Max(day, mt->last_day));
	mt->last_day = Max(day, mt->last_day);
	ChangeDay(m->member_id, &mt->days, day, spend, points, true, &before, &after);
	CountDay(mt, day, spend, points, before, after);

	qualified = QualifiedTier(ladder, mt);
	hold = HoldUntil(ladder, anchor, day);
	if (day < mt->window_start)
	{
		/*
		 * A late sale of an earlier window (an offline POS, a back-fill):
		 * that window's figures may earn a tier whose hold still runs (last
		 * calendar or anniversary year's, held through this one).
		 */
		MemberTier	earlier = {0};
		DateADT		start,
					end;
		const LoyaltyTier *late;

		LoyaltyTierPeriod(ladder, anchor, day, &start, &end);
		LoyaltyTierDaysSum(m->member_id, &mt->days, start, end, &earlier.spend, &earlier.points, &earlier.visits);
		late = QualifiedTier(ladder, &earlier);
		if (late->rank > qualified->rank && hold > mt->last_day)
			qualified = late;
	}
	if (qualified->rank > mt->tier->rank)
	{
		/*
		 * Dated at the sale, but never ahead of the lock (a POS clock runs
		 * fast) nor before the member's latest change (a back-dated sale), so
		 * that the history stays in order of time and tier_at agrees with
		 * tier_of.
		 */
		TimestampTz at = Max(Min(occurred_at, m->locked_at), LatestChange(m->member_id));

		RecordUpgrade(m->member_id, mt->tier, qualified, at, sale_id);
		mt->tier = qualified;
		mt->since = at;
		mt->held_until = hold;
	}
	else if (qualified == mt->tier && qualified->rank > 0)
		mt->held_until = Max(mt->held_until, hold);
	WriteMemberTier(m->member_id, mt);
	mt->exists = true;
	return mt->tier;
}

/*
 * A return lowers the figures of its sale's day (and the running figures
 * when that day is in their window): spend by the refund, points by what
 * the sale no longer earns, a visit when the day's spend reaches zero.  It
 * never moves the member down (review_tiers does, after the hold).  A sale
 * that was never counted (before the program had tiers) changes nothing.
 * Returns the member's tier (unchanged).  Under the member's lock; inside SPI.
 */
const LoyaltyTier *
LoyaltyTierCountReturn(const LoyaltyMember *m, const LoyaltyLadder *ladder,
					   TimestampTz sale_occurred_at, Datum refund, int64 points)
{
	DateADT		day = LoyaltyLocalDate(sale_occurred_at, m->time_zone);
	MemberTier	mt;
	Datum		taken = DirectFunctionCall1(numeric_uminus, refund);
	Datum		before,
				after;

	LoyaltyTierRead(m, ladder, false, &mt);
	if (!ChangeDay(m->member_id, &mt.days, day, taken, -points, false, &before, &after))
		return mt.tier;
	if (!mt.exists)
	{
		/* days without a member row (none is made by a return): the day only */
		LoyaltyPushReadSnapshot(false);
		LoyaltyTierDaysWrite(m->member_id, &mt.days, LoyaltyWriterDirect(LOYALTY_TIER_DAY));
		PopActiveSnapshot();
		return mt.tier;
	}
	/* what the day lost: the refund, or the day's spend when that was less */
	CountDay(&mt, day, DirectFunctionCall2(numeric_sub, after, before), -points, before, after);
	WriteMemberTier(m->member_id, &mt);
	return mt.tier;
}
