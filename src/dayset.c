/*
 * dayset.c -- days in the session's TimeZone, and sets of them.
 *
 * purchase_summary and cadence count days, not rows: a purchase at 23:59
 * and one at 00:01 are two days, two at 09:00 and 17:00 one, in the time
 * zone of the session (the TimeZone setting), exactly as occurred_at::date
 * says.  A day is a number of days since 2000-01-01 (PostgreSQL's date).
 *
 * LoyaltyLocalDay is called once per row of those aggregates, so it does
 * not ask the tz library for every row: for the session's zone it keeps the
 * zone's UTC offsets between 1900 and 2100 (from pg_next_dst_boundary, the
 * same tables pg_localtime reads) and finds a time's offset by binary
 * search.  Times outside those years go through timestamp2tm, as the date
 * cast does.  sql/analytics_summary.sql compares both with ::date in zones
 * with odd offsets and transitions.
 */
#include "analytics.h"

#include "datatype/timestamp.h"
#include "libpq/pqformat.h"
#include "pgtime.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* seconds from 1970-01-01 to 2000-01-01 */
#define UNIX_TO_PG_SECS ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)
/* the years whose offsets are kept: [1900-01-01, 2100-01-01) UTC */
#define ZONE_CACHE_FROM INT64CONST(-2208988800)
#define ZONE_CACHE_TO	INT64CONST(4102444800)
#define ZONE_CACHE_MAX	8192

/* The offsets of one zone: from start[i] (Unix seconds) on, gmtoff[i]. */
typedef struct ZoneCache
{
	pg_tz	   *tz;				/* the zone they belong to (NULL: none yet) */
	int			n;				/* 0: use timestamp2tm for every time */
	pg_time_t	hi;				/* start[0] .. hi is covered */
	pg_time_t  *start;
	long	   *gmtoff;
	int			last;			/* the interval found last time */
} ZoneCache;

static ZoneCache zone_cache;

static int64
FloorDiv(int64 a, int64 b)
{
	int64		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Fills zone_cache for tz: the intervals of constant offset, in order. */
static void
ZoneCacheBuild(pg_tz *tz)
{
	pg_time_t	t = ZONE_CACHE_FROM;
	int			n = 0;

	if (zone_cache.start == NULL)
	{
		zone_cache.start = MemoryContextAlloc(TopMemoryContext, sizeof(pg_time_t) * ZONE_CACHE_MAX);
		zone_cache.gmtoff = MemoryContextAlloc(TopMemoryContext, sizeof(long) * ZONE_CACHE_MAX);
	}
	zone_cache.tz = tz;
	zone_cache.hi = ZONE_CACHE_TO;
	zone_cache.last = 0;
	for (;;)
	{
		long		before,
					after;
		int			before_dst,
					after_dst;
		pg_time_t	boundary;
		int			found;

		found = pg_next_dst_boundary(&t, &before, &before_dst, &boundary,
									 &after, &after_dst, tz);
		if (found < 0)
		{
			n = 0;				/* cannot happen, says localtime.c: no cache */
			break;
		}
		zone_cache.start[n] = t;
		zone_cache.gmtoff[n] = before;
		n++;
		if (found == 0 || boundary >= ZONE_CACHE_TO)
			break;
		if (n == ZONE_CACHE_MAX)
		{
			zone_cache.hi = boundary;	/* a zone of many changes: the rest
										 * goes through timestamp2tm */
			break;
		}
		t = boundary;
	}
	zone_cache.n = n;
}

/*
 * The local date (days since 2000-01-01) of a finite timestamptz in the
 * session's TimeZone: what ts::date gives, without its per-row cost.
 */
int32
LoyaltyLocalDay(TimestampTz ts)
{
	pg_time_t	secs;

	Assert(!TIMESTAMP_NOT_FINITE(ts));
	if (zone_cache.tz != session_timezone)
		ZoneCacheBuild(session_timezone);

	secs = FloorDiv(ts, USECS_PER_SEC) + UNIX_TO_PG_SECS;
	if (zone_cache.n > 0 && secs >= zone_cache.start[0] && secs < zone_cache.hi)
	{
		int			i = zone_cache.last;

		if (!(zone_cache.start[i] <= secs &&
			  (i + 1 == zone_cache.n || secs < zone_cache.start[i + 1])))
		{
			int			lo = 0,
						hi = zone_cache.n - 1;

			/* the last interval whose start is <= secs */
			while (lo < hi)
			{
				int			mid = (lo + hi + 1) / 2;

				if (zone_cache.start[mid] <= secs)
					lo = mid;
				else
					hi = mid - 1;
			}
			i = lo;
			zone_cache.last = i;
		}
		return (int32) (FloorDiv(secs + zone_cache.gmtoff[i], SECS_PER_DAY) -
						(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE));
	}
	else
	{
		struct pg_tm tm;
		fsec_t		fsec;
		int			tz;

		if (timestamp2tm(ts, &tz, &tm, &fsec, NULL, NULL) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range")));
		return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
	}
}

/* A StringInfo that reads len bytes at data (a serialised state). */
void
LoyaltyReadBuffer(StringInfo buf, const char *data, int len)
{
	buf->data = (char *) data;
	buf->len = len;
	buf->maxlen = len;
	buf->cursor = 0;
}

static int
DayCmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/*
 * Sorts n int32 values: insertion sort for the few days or gaps most
 * customers have (no comparator calls), qsort beyond.
 */
void
LoyaltySortInt32(int32 *a, int32 n)
{
	int32		i,
				j;

	if (n > 32)
	{
		qsort(a, n, sizeof(int32), DayCmp);
		return;
	}
	for (i = 1; i < n; i++)
	{
		int32		v = a[i];

		for (j = i; j > 0 && a[j - 1] > v; j--)
			a[j] = a[j - 1];
		a[j] = v;
	}
}

/* Room for one more day. */
static void
DaySetGrow(DaySet *set, MemoryContext cxt)
{
	if (set->n < set->cap)
		return;
	if (set->days == NULL)
	{
		set->cap = DAYSET_LOCAL;
		set->days = set->local;
	}
	else if (set->days == set->local)
	{
		set->cap *= 2;
		set->days = MemoryContextAlloc(cxt, sizeof(int32) * set->cap);
		memcpy(set->days, set->local, sizeof(int32) * set->n);
	}
	else
	{
		set->cap *= 2;
		set->days = repalloc(set->days, sizeof(int32) * set->cap);
	}
}

/* Is day in the sorted part of the set? */
static bool
DaySetHasSorted(DaySet *set, int32 day)
{
	int32		lo = 0,
				hi = set->nsorted;

	while (lo < hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (set->days[mid] < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < set->nsorted && set->days[lo] == day;
}

/*
 * Adds a day.  Days in order (the usual case) are appended to the sorted
 * part; others wait in the tail until it is as long as the sorted part,
 * then all are sorted together, so each costs O(log n) amortised and the
 * set never holds more than twice its distinct days (plus 16).
 */
void
DaySetAdd(DaySet *set, int32 day, MemoryContext cxt)
{
	if (set->n > 0 && set->days[set->n - 1] == day)
		return;
	if (set->n == set->nsorted && (set->n == 0 || day > set->days[set->n - 1]))
	{
		DaySetGrow(set, cxt);
		set->days[set->n++] = day;
		set->nsorted = set->n;
		return;
	}
	if (DaySetHasSorted(set, day))
		return;
	DaySetGrow(set, cxt);
	set->days[set->n++] = day;
	if (set->n - set->nsorted >= Max(16, set->nsorted))
		DaySetCompact(set);
}

/* Sorts the set and drops duplicates: afterwards nsorted = n. */
void
DaySetCompact(DaySet *set)
{
	int32		i,
				m;

	if (set->n == set->nsorted)
		return;
	LoyaltySortInt32(set->days, set->n);
	m = 0;
	for (i = 0; i < set->n; i++)
		if (m == 0 || set->days[i] != set->days[m - 1])
			set->days[m++] = set->days[i];
	set->n = set->nsorted = m;
}

/* Adds every day of src to dst (the combine step of a parallel plan). */
void
DaySetMerge(DaySet *dst, DaySet *src, MemoryContext cxt)
{
	int32		i;

	for (i = 0; i < src->n; i++)
	{
		DaySetGrow(dst, cxt);
		dst->days[dst->n++] = src->days[i];
	}
	DaySetCompact(dst);
}

/* Writes the set (compacted) for a serialised aggregate state. */
void
DaySetSend(StringInfo buf, DaySet *set)
{
	int32		i;

	DaySetCompact(set);
	pq_sendint32(buf, set->n);
	for (i = 0; i < set->n; i++)
		pq_sendint32(buf, set->days[i]);
}

/*
 * Reads what DaySetSend wrote into an empty set, checking it: a count that
 * fits the bytes, days in increasing order within the timestamp range (the
 * local dates of its times).
 */
void
DaySetRecv(StringInfo buf, DaySet *set, MemoryContext cxt)
{
	int32		n = pq_getmsgint(buf, 4);
	int32		i;

	if (n < 0 || n > (buf->len - buf->cursor) / 4)
		elog(ERROR, "malformed day set in an aggregate state");
	memset(set, 0, sizeof(DaySet));
	if (n == 0)
		return;
	set->cap = Max(n, DAYSET_LOCAL);
	set->days = (n <= DAYSET_LOCAL) ? set->local : MemoryContextAlloc(cxt, sizeof(int32) * n);
	for (i = 0; i < n; i++)
	{
		int32		day = pq_getmsgint(buf, 4);

		/* a local date may lie a day either side of the UTC range */
		if ((i > 0 && day <= set->days[i - 1]) ||
			day < DATETIME_MIN_JULIAN - POSTGRES_EPOCH_JDATE - 1 ||
			day > TIMESTAMP_END_JULIAN - POSTGRES_EPOCH_JDATE)
			elog(ERROR, "malformed day set in an aggregate state");
		set->days[i] = day;
	}
	set->n = set->nsorted = n;
}
