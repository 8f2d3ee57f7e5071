/*
 * tier_day.c -- a member's tier_day rows, held in memory while sales count
 * them.
 *
 * A sale adds its spend and points to its day's row, and a sale whose day
 * moves a rolling window on subtracts the days that left it (tier.c).  The
 * rows read or changed are kept in a TierDays set, ordered by day: a
 * member's set lives for one sale, or, when the member's row waits for the
 * end of the statement (tier_pending.c), for the statement, so that each
 * (member, day) row is read at most once and written once per statement.
 *
 * known_from: every row of the member from that day on is in the set.  No
 * row is ever after the member_tier row's last_day (a sale moves last_day
 * to its day before it writes the day), so a set read with the member's
 * row starts with known_from = last_day + 1: a sale of a new day reads no
 * tier_day row at all.  The first day before known_from a set needs is
 * fetched alone (a POS sale needs one at most); the next one loads the
 * member's rows from the window's start (load_from) on in one index scan
 * (a back-fill's later sales of the member then read nothing).  A sum over
 * days before known_from scans the table and takes the set's version of
 * every day the set has.
 */
#include "rules.h"
#include "tier.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/datum.h"
#include "utils/snapmgr.h"

/* a day's row as the set has it, whether the row is there or not */
static LoyaltyPlan tier_day_write_plan = {
	"INSERT INTO loyalty.tier_day AS t (member_id, day, spend, points) VALUES ($1, $2, $3, $4) "
	"ON CONFLICT (member_id, day) DO UPDATE SET spend = excluded.spend, points = excluded.points",
	4, {INT8OID, DATEOID, NUMERICOID, INT8OID}
};

/*
 * An empty set in the current memory context: every row from known_from on
 * is in it (DATEVAL_NOEND: none known); a load reads from load_from on.
 */
void
LoyaltyTierDaysInit(TierDays *d, DateADT known_from, DateADT load_from)
{
	memset(d, 0, sizeof(*d));
	d->cxt = CurrentMemoryContext;
	d->known_from = known_from;
	d->load_from = load_from;
}

/* A copy of src whose days live in cxt. */
void
LoyaltyTierDaysCopy(TierDays *dst, const TierDays *src, MemoryContext cxt)
{
	*dst = *src;
	dst->cxt = cxt;
	dst->maxdays = Max(src->ndays, 4);
	dst->days = MemoryContextAlloc(cxt, sizeof(TierDay) * dst->maxdays);
	for (int i = 0; i < src->ndays; i++)
	{
		dst->days[i] = src->days[i];
		dst->days[i].spend = PointerGetDatum(MemoryContextAlloc(cxt, VARSIZE_ANY(DatumGetPointer(src->days[i].spend))));
		memcpy(DatumGetPointer(dst->days[i].spend), DatumGetPointer(src->days[i].spend),
			   VARSIZE_ANY(DatumGetPointer(src->days[i].spend)));
	}
}

/* Free what a set holds (the set itself is the caller's). */
void
LoyaltyTierDaysFree(TierDays *d)
{
	for (int i = 0; i < d->ndays; i++)
		pfree(DatumGetPointer(d->days[i].spend));
	if (d->days != NULL)
		pfree(d->days);
	d->days = NULL;
	d->ndays = d->maxdays = 0;
}

/* The index of day in the set, or where it would go (*found false). */
static int
Find(const TierDays *d, DateADT day, bool *found)
{
	int			lo = 0,
				hi = d->ndays;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (d->days[mid].day < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < d->ndays && d->days[lo].day == day;
	return lo;
}

/* Put a day into the set at index i (from Find), its spend copied into the set's context. */
static TierDay *
Insert(TierDays *d, int i, const TierDay *day)
{
	if (d->ndays == d->maxdays)
	{
		d->maxdays = Max(d->maxdays * 2, 4);
		d->days = d->days == NULL
			? MemoryContextAlloc(d->cxt, sizeof(TierDay) * d->maxdays)
			: repalloc(d->days, sizeof(TierDay) * d->maxdays);
	}
	memmove(&d->days[i + 1], &d->days[i], sizeof(TierDay) * (d->ndays - i));
	d->ndays++;
	d->days[i] = *day;
	d->days[i].spend = (Datum) 0;
	LoyaltyTierDaySet(d, &d->days[i], day->spend, day->points, day->dirty);
	return &d->days[i];
}

/* Read the member's row of day from tier_day with a fresh snapshot; false: none. */
static bool
Fetch(int64 member_id, DateADT day, TierDay *out)
{
	Relation	rel = LoyaltyOpen("tier_day", false, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	Datum		keys[2] = {Int64GetDatum(member_id), DateADTGetDatum(day)};
	bool		found;
	bool		isnull;

	LoyaltyPushReadSnapshot(false);
	found = LoyaltyFetchByKey(rel, "tier_day_pkey", 2, keys, GetActiveSnapshot(), slot);
	if (found)
	{
		out->day = day;
		out->in_table = true;
		out->dirty = false;
		out->tid = slot->tts_tid;
		out->spend = NumCopy(slot_getattr(slot, LoyaltyRelColumn(rel, "spend"), &isnull));
		out->points = DatumGetInt64(slot_getattr(slot, LoyaltyRelColumn(rel, "points"), &isnull));
	}
	PopActiveSnapshot();
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/*
 * Load the member's rows of days [from, known_from) that the set does not
 * have, in one index scan; every row from `from` on is known then.
 */
static void
Load(int64 member_id, TierDays *d, DateADT from)
{
	Relation	rel = LoyaltyOpen("tier_day", false, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	LoyaltyKey	keys[3] = {
		{1, BTEqualStrategyNumber, Int64GetDatum(member_id)},
		{2, BTGreaterEqualStrategyNumber, DateADTGetDatum(from)},
		{2, BTLessStrategyNumber, DateADTGetDatum(d->known_from)}
	};
	struct IndexScanDescData *scan;
	AttrNumber	day_att = LoyaltyRelColumn(rel, "day");
	AttrNumber	spend_att = LoyaltyRelColumn(rel, "spend");
	AttrNumber	points_att = LoyaltyRelColumn(rel, "points");
	bool		isnull;

	LoyaltyPushReadSnapshot(false);
	scan = LoyaltyIndexScan(rel, "tier_day_pkey", 3, keys, GetActiveSnapshot());
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		TierDay		row = {0};
		bool		in_set;
		int			i;

		CHECK_FOR_INTERRUPTS();
		row.day = DatumGetDateADT(slot_getattr(slot, day_att, &isnull));
		i = Find(d, row.day, &in_set);
		if (in_set)
			continue;
		row.in_table = true;
		row.tid = slot->tts_tid;
		row.spend = slot_getattr(slot, spend_att, &isnull);
		row.points = DatumGetInt64(slot_getattr(slot, points_att, &isnull));
		(void) Insert(d, i, &row);
	}
	LoyaltyIndexScanEnd(scan);
	PopActiveSnapshot();
	ExecDropSingleTupleTableSlot(slot);
	d->known_from = from;
}

/*
 * The member's figures of day: from the set, else from the table (kept in
 * the set); a day that has no row yet is made (spend and points 0, to be
 * inserted) when create, else NULL.  The pointer is good until the set
 * changes.
 */
TierDay *
LoyaltyTierDayGet(int64 member_id, TierDays *d, DateADT day, bool create)
{
	bool		found;
	int			i = Find(d, day, &found);
	TierDay		row = {0};

	if (found)
		return &d->days[i];
	if (day < d->known_from && d->fetches > 0)
	{
		/* a second day to read: load the window's rows at once */
		Load(member_id, d, Min(day, d->load_from));
		i = Find(d, day, &found);
		if (found)
			return &d->days[i];
	}
	else if (day < d->known_from)
	{
		d->fetches++;
		found = Fetch(member_id, day, &row);
	}
	/* the days from day on are all known now */
	if (day == d->known_from - 1)
		d->known_from = day;
	if (!found && !create)
		return NULL;
	if (!found)
	{
		row.day = day;
		row.spend = NumInt(0);
	}
	return Insert(d, i, &row);
}

/* Set a day's figures (spend copied into the set's context); dirty: to be written. */
void
LoyaltyTierDaySet(TierDays *d, TierDay *day, Datum spend, int64 points, bool dirty)
{
	Datum		old = day->spend;
	Size		len = VARSIZE_ANY(DatumGetPointer(spend));

	day->spend = PointerGetDatum(MemoryContextAlloc(d->cxt, len));
	memcpy(DatumGetPointer(day->spend), DatumGetPointer(spend), len);
	if (old != (Datum) 0)
		pfree(DatumGetPointer(old));
	day->points = points;
	day->dirty |= dirty;
}

/* Add one day's figures to a sum (a visit: a day that spent more than zero). */
static void
AddDay(Datum spend, int64 day_points, Datum *sum, int64 *points, int64 *visits)
{
	*sum = NumAdd(*sum, spend);
	if (pg_add_s64_overflow(*points, day_points, points))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_POINTS),
				 errmsg("a member's tier points are out of range")));
	*visits += NumCmp(spend, NumInt(0)) > 0;
}

/* The table's rows of days [from, to) that the set does not have, added to the sums. */
static void
SumTable(int64 member_id, const TierDays *d, DateADT from, DateADT to,
		 Datum *spend, int64 *points, int64 *visits)
{
	Relation	rel = LoyaltyOpen("tier_day", false, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	LoyaltyKey	keys[3] = {
		{1, BTEqualStrategyNumber, Int64GetDatum(member_id)},
		{2, BTGreaterEqualStrategyNumber, DateADTGetDatum(from)},
		{2, BTLessStrategyNumber, DateADTGetDatum(to)}
	};
	struct IndexScanDescData *scan;
	AttrNumber	day_att = LoyaltyRelColumn(rel, "day");
	AttrNumber	spend_att = LoyaltyRelColumn(rel, "spend");
	AttrNumber	points_att = LoyaltyRelColumn(rel, "points");
	bool		isnull;
	bool		in_set;

	LoyaltyPushReadSnapshot(false);
	scan = LoyaltyIndexScan(rel, "tier_day_pkey", 3, keys, GetActiveSnapshot());
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		CHECK_FOR_INTERRUPTS();
		(void) Find(d, DatumGetDateADT(slot_getattr(slot, day_att, &isnull)), &in_set);
		if (!in_set)
			AddDay(slot_getattr(slot, spend_att, &isnull),
				   DatumGetInt64(slot_getattr(slot, points_att, &isnull)), spend, points, visits);
	}
	LoyaltyIndexScanEnd(scan);
	PopActiveSnapshot();
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * The member's figures of days [from, to): the set's days, and the table's
 * rows of the days before known_from that the set does not have.
 */
void
LoyaltyTierDaysSum(int64 member_id, const TierDays *d, DateADT from, DateADT to,
				   Datum *spend, int64 *points, int64 *visits)
{
	bool		found;

	*spend = NumInt(0);
	*points = 0;
	*visits = 0;
	if (from < d->known_from)
		SumTable(member_id, d, from, Min(to, d->known_from), spend, points, visits);
	for (int i = Find(d, from, &found); i < d->ndays && d->days[i].day < to; i++)
		AddDay(d->days[i].spend, d->days[i].points, spend, points, visits);
}

/*
 * Write the set's changed days: without SQL when direct (updating the rows
 * read, at their tid, under the member's lock), else through SQL (a DBA's
 * trigger on tier_day, or the end of a transaction).  A set is written
 * once, then dropped (the rows it inserted have no tid in it).  Needs an
 * active snapshot.
 */
void
LoyaltyTierDaysWrite(int64 member_id, TierDays *d, bool direct)
{
	for (int i = 0; i < d->ndays; i++)
	{
		TierDay    *day = &d->days[i];

		if (!day->dirty)
			continue;
		if (!direct)
		{
			Datum		v[4] = {Int64GetDatum(member_id), DateADTGetDatum(day->day), day->spend,
			Int64GetDatum(day->points)};

			LoyaltyExecute(&tier_day_write_plan, v, NULL, false, 0);
		}
		else
		{
			LoyaltyRow *row = LoyaltyRowBegin(LOYALTY_TIER_DAY);

			LoyaltyRowSet(row, "spend", day->spend, false);
			LoyaltyRowSet(row, "points", Int64GetDatum(day->points), false);
			if (day->in_table)
				LoyaltyRowUpdate(row, &day->tid);
			else
			{
				LoyaltyRowSet(row, "member_id", Int64GetDatum(member_id), false);
				LoyaltyRowSet(row, "day", DateADTGetDatum(day->day), false);
				LoyaltyRowInsert(row);
			}
		}
		day->dirty = false;
	}
}
