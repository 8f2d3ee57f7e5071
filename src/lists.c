/*
 * lists.c -- the C half of the analytics lists (src/sql/lists.sql): the RFM
 * segment map and the home_store aggregate.
 *
 * loyalty.rfm_segment(r, f, m) names the segment of three RFM scores (1..5)
 * from the grid of R against FM = floor((f + m) / 2) that the README spells
 * out; loyalty.rfm() calls it once per member, so it is C, not plpgsql.
 *
 * loyalty.home_store(store, occurred_at, as_of [, half_life]) is the store a
 * member shops at most, recency-weighted: each row (a visit) weighs
 * 2^(-(as_of - occurred_at) / half_life), and the store whose visits weigh
 * most wins; equal weights go to the store visited last, then to the store
 * whose name sorts first (bytewise).  The weights are rounded to units of
 * 2^-32 and summed as integers, so a sum is exact and the same in whatever
 * order rows and partial states arrive: a parallel plan gives the serial
 * plan's answer, near-ties included.  Rows with a NULL store or occurred_at
 * and rows after as_of are skipped; as_of and half_life must be the same in
 * every row of a group (LY099).  The state (internal) holds one entry per
 * distinct store of the group -- weight, latest visit, name -- in an array
 * sorted by name (binary search), so its memory grows with the stores a
 * member used, not with the rows.  Combine, serialize and deserialize make it
 * PARALLEL SAFE; a serialized state is checked before it is used.
 */
#include "lists.h"

#include <math.h>

#include "common/int.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

/* the default half-life of home_store(store, occurred_at, as_of) */
#define HOME_STORE_DEFAULT_HALF_LIFE_DAYS 180
/* weights are summed in units of 2^-HOME_STORE_WEIGHT_BITS */
#define HOME_STORE_WEIGHT_BITS 32
/* first word of a serialized state ("LYHS") */
#define HOME_STORE_MAGIC 0x4c594853

typedef struct HomeStoreEntry
{
	int64		weight;			/* sum of the visits' weights, in 2^-32 */
	TimestampTz last_at;		/* the latest visit */
	int32		len;			/* bytes of name */
	char	   *name;			/* the store, not NUL-terminated */
} HomeStoreEntry;

typedef struct HomeStoreState
{
	bool		has_reference;	/* as_of and half_life are set */
	TimestampTz as_of;
	double		half_life;		/* microseconds, > 0 */
	int			n;
	int			cap;
	HomeStoreEntry *entries;	/* sorted by name, bytewise */
} HomeStoreState;

/* Bytewise order of two store names (C collation), shorter first on a tie. */
static int
StoreCmp(const char *a, int32 alen, const char *b, int32 blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/* The half-life in microseconds; a month counts 30 days, as in comparisons. */
static double
HalfLifeMicroseconds(const Interval *iv)
{
	double		us = (double) iv->time +
		((double) iv->day + (double) iv->month * DAYS_PER_MONTH) * (double) USECS_PER_DAY;

	if (!(us > 0) || isinf(us))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_LENGTH_OUT_OF_RANGE),
				 errmsg("half_life must be positive: \"%s\"",
						DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(iv)))),
				 errdetail("A visit half_life before as_of weighs half as much as a visit at as_of."),
				 errhint("Pass an interval such as '180 days', or NULL for the default.")));
	return us;
}

/* The weight of a visit at t, in units of 2^-32 (at most 2^32, at as_of). */
static int64
VisitWeight(const HomeStoreState *st, TimestampTz t)
{
	double		age,
				w;

	if (TIMESTAMP_IS_NOBEGIN(t))
		return 0;
	age = (double) st->as_of - (double) t;
	w = exp2(-age / st->half_life);
	return (int64) floor(ldexp(w, HOME_STORE_WEIGHT_BITS) + 0.5);
}

/* as_of and half_life of a row (or a partial state) against the group's. */
static void
CheckReference(HomeStoreState *st, TimestampTz as_of, double half_life)
{
	if (!st->has_reference)
	{
		st->has_reference = true;
		st->as_of = as_of;
		st->half_life = half_life;
		return;
	}
	if (st->as_of != as_of || st->half_life != half_life)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MIXED_REFERENCE),
				 errmsg("home_store needs the same as_of and half_life in every row of a group"),
				 errdetail("A row has as_of %s and a half-life of %g days; an earlier row %s and %g days.",
						   timestamptz_to_str(as_of), half_life / USECS_PER_DAY,
						   timestamptz_to_str(st->as_of), st->half_life / USECS_PER_DAY),
				 errhint("Pass constants, or values that depend only on the GROUP BY columns.")));
}

/*
 * Adds weight and a visit at last_at to store name (len bytes), copied into
 * cxt if the store is new.
 */
static void
AddVisits(HomeStoreState *st, MemoryContext cxt, const char *name, int32 len,
		  int64 weight, TimestampTz last_at)
{
	int			lo = 0,
				hi = st->n - 1;
	HomeStoreEntry *e;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = StoreCmp(st->entries[mid].name, st->entries[mid].len, name, len);

		if (c == 0)
		{
			e = &st->entries[mid];
			if (pg_add_s64_overflow(e->weight, weight, &e->weight))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("home_store: too many visits to store \"%.*s\"", len, name)));
			if (last_at > e->last_at)
				e->last_at = last_at;
			return;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	if (st->n == st->cap)
	{
		st->cap = st->cap ? st->cap * 2 : 4;
		st->entries = st->entries ?
			repalloc(st->entries, sizeof(HomeStoreEntry) * st->cap) :
			MemoryContextAlloc(cxt, sizeof(HomeStoreEntry) * st->cap);
	}
	memmove(&st->entries[lo + 1], &st->entries[lo], sizeof(HomeStoreEntry) * (st->n - lo));
	e = &st->entries[lo];
	e->weight = weight;
	e->last_at = last_at;
	e->len = len;
	e->name = MemoryContextAlloc(cxt, Max(len, 1));
	memcpy(e->name, name, len);
	st->n++;
}

/* The group's state, made in the aggregate's context on its first row. */
static HomeStoreState *
GetState(FunctionCallInfo fcinfo, MemoryContext *aggcxt)
{
	if (!AggCheckCallContext(fcinfo, aggcxt))
		elog(ERROR, "home_store called in a non-aggregate context");
	if (PG_ARGISNULL(0))
		return MemoryContextAllocZero(*aggcxt, sizeof(HomeStoreState));
	return (HomeStoreState *) PG_GETARG_POINTER(0);
}

/* One row: (state, store, occurred_at, as_of) and the half-life. */
static Datum
HomeStoreTransition(FunctionCallInfo fcinfo, double half_life)
{
	MemoryContext aggcxt;
	HomeStoreState *st = GetState(fcinfo, &aggcxt);
	TimestampTz as_of,
				t;
	text	   *store;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MISSING_KEY),
				 errmsg("as_of is required"),
				 errdetail("home_store weighs each visit by its age at as_of.")));
	as_of = PG_GETARG_TIMESTAMPTZ(3);
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_TIME),
				 errmsg("as_of must be a finite time")));
	CheckReference(st, as_of, half_life);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);
	t = PG_GETARG_TIMESTAMPTZ(2);
	if (t > as_of)
		PG_RETURN_POINTER(st);
	store = PG_GETARG_TEXT_PP(1);
	AddVisits(st, aggcxt, VARDATA_ANY(store), VARSIZE_ANY_EXHDR(store), VisitWeight(st, t), t);
	PG_RETURN_POINTER(st);
}

/*
 * home_store(store, occurred_at, as_of): transition with the default
 * half-life of 180 days.
 */
PG_FUNCTION_INFO_V1(loyalty_home_store_transfn);
Datum
loyalty_home_store_transfn(PG_FUNCTION_ARGS)
{
	return HomeStoreTransition(fcinfo, (double) HOME_STORE_DEFAULT_HALF_LIFE_DAYS * USECS_PER_DAY);
}

/*
 * home_store(store, occurred_at, as_of, half_life): transition; a NULL
 * half_life is the default, 180 days.
 */
PG_FUNCTION_INFO_V1(loyalty_home_store_transfn_half_life);
Datum
loyalty_home_store_transfn_half_life(PG_FUNCTION_ARGS)
{
	double		half_life = (double) HOME_STORE_DEFAULT_HALF_LIFE_DAYS * USECS_PER_DAY;

	if (!PG_ARGISNULL(4))
		half_life = HalfLifeMicroseconds(PG_GETARG_INTERVAL_P(4));
	return HomeStoreTransition(fcinfo, half_life);
}

/*
 * Combines two partial states: the weights of each store add up, the later
 * visit stays.  The result lives in the aggregate's context (the second
 * state may not).
 */
PG_FUNCTION_INFO_V1(loyalty_home_store_combine);
Datum
loyalty_home_store_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	HomeStoreState *st;
	HomeStoreState *other;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "home_store_combine called in a non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	other = (HomeStoreState *) PG_GETARG_POINTER(1);
	st = PG_ARGISNULL(0) ? MemoryContextAllocZero(aggcxt, sizeof(HomeStoreState)) :
		(HomeStoreState *) PG_GETARG_POINTER(0);
	if (other->has_reference)
		CheckReference(st, other->as_of, other->half_life);
	for (int i = 0; i < other->n; i++)
		AddVisits(st, aggcxt, other->entries[i].name, other->entries[i].len,
				  other->entries[i].weight, other->entries[i].last_at);
	PG_RETURN_POINTER(st);
}

/*
 * A state as bytea: magic, reference flag, as_of, half-life, the number of
 * stores, then per store its weight, latest visit, name length and name.
 */
PG_FUNCTION_INFO_V1(loyalty_home_store_serialize);
Datum
loyalty_home_store_serialize(PG_FUNCTION_ARGS)
{
	HomeStoreState *st;
	StringInfoData buf;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "home_store_serialize called in a non-aggregate context");
	st = (HomeStoreState *) PG_GETARG_POINTER(0);
	pq_begintypsend(&buf);
	pq_sendint32(&buf, HOME_STORE_MAGIC);
	pq_sendbyte(&buf, st->has_reference ? 1 : 0);
	pq_sendint64(&buf, st->as_of);
	pq_sendfloat8(&buf, st->half_life);
	pq_sendint32(&buf, st->n);
	for (int i = 0; i < st->n; i++)
	{
		pq_sendint64(&buf, st->entries[i].weight);
		pq_sendint64(&buf, st->entries[i].last_at);
		pq_sendint32(&buf, st->entries[i].len);
		pq_sendbytes(&buf, st->entries[i].name, st->entries[i].len);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* A serialized state that does not hold together. */
static void
CorruptState(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid home_store state: %s", what)));
}

/* At least n more bytes in buf, or a corrupt state. */
static void
Need(StringInfo buf, int64 n)
{
	if (n < 0 || (int64) buf->len - buf->cursor < n)
		CorruptState("truncated");
}

/*
 * The state of a bytea made by loyalty_home_store_serialize, checked: the
 * magic word, a positive finite half-life, lengths inside the bytes,
 * weights not negative, names strictly ascending, nothing left over.
 */
PG_FUNCTION_INFO_V1(loyalty_home_store_deserialize);
Datum
loyalty_home_store_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b;
	StringInfoData buf;
	HomeStoreState *st;
	int			flag;
	int32		n;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "home_store_deserialize called in a non-aggregate context");
	b = PG_GETARG_BYTEA_PP(0);
	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;

	st = palloc0(sizeof(HomeStoreState));
	Need(&buf, 4 + 1 + 8 + 8 + 4);
	if ((uint32) pq_getmsgint(&buf, 4) != HOME_STORE_MAGIC)
		CorruptState("not a home_store state");
	flag = pq_getmsgbyte(&buf);
	if (flag != 0 && flag != 1)
		CorruptState("bad reference flag");
	st->has_reference = flag == 1;
	st->as_of = pq_getmsgint64(&buf);
	st->half_life = pq_getmsgfloat8(&buf);
	if (st->has_reference && (!(st->half_life > 0) || isinf(st->half_life) ||
							  TIMESTAMP_NOT_FINITE(st->as_of)))
		CorruptState("bad as_of or half-life");
	n = (int32) pq_getmsgint(&buf, 4);
	/* each store takes at least 20 bytes */
	if (n < 0 || (int64) n * 20 > (int64) buf.len - buf.cursor)
		CorruptState("bad number of stores");
	if (n > 0 && !st->has_reference)
		CorruptState("stores without as_of");
	st->n = st->cap = n;
	st->entries = n > 0 ? palloc(sizeof(HomeStoreEntry) * n) : NULL;
	for (int i = 0; i < n; i++)
	{
		HomeStoreEntry *e = &st->entries[i];

		Need(&buf, 20);
		e->weight = pq_getmsgint64(&buf);
		e->last_at = pq_getmsgint64(&buf);
		e->len = (int32) pq_getmsgint(&buf, 4);
		if (e->weight < 0 || e->last_at > st->as_of)
			CorruptState("bad weight or visit");
		Need(&buf, e->len);
		e->name = palloc(Max(e->len, 1));
		memcpy(e->name, pq_getmsgbytes(&buf, e->len), e->len);
		if (i > 0 && StoreCmp(st->entries[i - 1].name, st->entries[i - 1].len, e->name, e->len) >= 0)
			CorruptState("stores out of order");
	}
	if (buf.cursor != buf.len)
		CorruptState("trailing bytes");
	PG_RETURN_POINTER(st);
}

/*
 * The home store: the greatest weight, then the latest visit, then the
 * name that sorts first.  NULL when the group counted no visit.
 */
PG_FUNCTION_INFO_V1(loyalty_home_store_final);
Datum
loyalty_home_store_final(PG_FUNCTION_ARGS)
{
	HomeStoreState *st;
	HomeStoreEntry *best = NULL;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "home_store_final called in a non-aggregate context");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (HomeStoreState *) PG_GETARG_POINTER(0);
	for (int i = 0; i < st->n; i++)
	{
		HomeStoreEntry *e = &st->entries[i];

		/* entries ascend by name: on a full tie the first one stays */
		if (best == NULL || e->weight > best->weight ||
			(e->weight == best->weight && e->last_at > best->last_at))
			best = e;
	}
	if (best == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(best->name, best->len));
}

/* The segment names, and the grid: rows R = 1..5, columns FM = 1..5. */
static const char *const rfm_grid[5][5] = {
	{"Lost", "Lost", "At Risk", "At Risk", "Can't Lose Them"},
	{"Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"},
	{"About to Sleep", "About to Sleep", "Need Attention", "Loyal", "Loyal"},
	{"Promising", "Potential Loyalist", "Potential Loyalist", "Loyal", "Loyal"},
	{"New", "Potential Loyalist", "Potential Loyalist", "Champions", "Champions"},
};

/*
 * loyalty.rfm_segment(r, f, m): the named segment of three scores 1..5, by R
 * and FM = floor((f + m) / 2).  NULL scores are LY013, others out of 1..5
 * LY098.
 */
PG_FUNCTION_INFO_V1(loyalty_rfm_segment);
Datum
loyalty_rfm_segment(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"r", "f", "m"};
	int32		score[3];

	for (int i = 0; i < 3; i++)
	{
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_MISSING_KEY),
					 errmsg("%s is required", names[i]),
					 errdetail("rfm_segment needs all three scores, r, f and m.")));
		score[i] = PG_GETARG_INT32(i);
		if (score[i] < 1 || score[i] > 5)
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_SCORE_OUT_OF_RANGE),
					 errmsg("RFM score %s out of range: %d", names[i], score[i]),
					 errdetail("Scores run from 1 to 5.")));
	}
	PG_RETURN_TEXT_P(cstring_to_text(rfm_grid[score[0] - 1][(score[1] + score[2]) / 2 - 1]));
}
