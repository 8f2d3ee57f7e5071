/*
 * fitstate.c -- the state of the model fits bgnbd_fit and gg_fit: a
 * histogram of the customers' observations.
 *
 * A fit needs every customer's (x, t_x, t) or (x, m), but customers with
 * the same values contribute the same likelihood, so the state keeps each
 * distinct tuple once with its count (Fader and Hardie condense their
 * CDNOW data the same way).  Summaries made by purchase_summary are
 * measured in whole days, so there are far fewer distinct tuples than
 * customers.  Memory: 32 bytes per distinct tuple, at most twice that
 * between compactions.
 *
 * Compacted, the points are sorted by their values, so the final function
 * sums the likelihood in one order whatever order the rows came in and
 * however a parallel plan split them: a parallel fit equals the serial one
 * bit for bit.
 */
#include "analytics.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "utils/memutils.h"

static int
FitPointCmp(const void *a, const void *b)
{
	const FitPoint *p = a;
	const FitPoint *q = b;
	int			i;

	for (i = 0; i < FIT_DIMS; i++)
	{
		if (p->v[i] < q->v[i])
			return -1;
		if (p->v[i] > q->v[i])
			return 1;
	}
	return 0;
}

/* Sorts the points and adds up the counts of equal ones. */
void
FitStateCompact(FitState *state)
{
	int64		i,
				m = 0;

	if (state->nsorted == state->n)
		return;
	qsort(state->points, state->n, sizeof(FitPoint), FitPointCmp);
	for (i = 0; i < state->n; i++)
	{
		if (m > 0 && FitPointCmp(&state->points[m - 1], &state->points[i]) == 0)
			state->points[m - 1].count += state->points[i].count;
		else
			state->points[m++] = state->points[i];
	}
	state->n = state->nsorted = m;
}

static void
FitStateAppend(FitState *state, const FitPoint *p, MemoryContext cxt)
{
	if (state->n == state->cap)
	{
		if (state->points == NULL)
		{
			state->cap = 64;
			state->points = MemoryContextAllocHuge(cxt, sizeof(FitPoint) * state->cap);
		}
		else
		{
			state->cap *= 2;
			state->points = repalloc_huge(state->points, sizeof(FitPoint) * state->cap);
		}
	}
	state->points[state->n++] = *p;
	if (state->n - state->nsorted >= Max(1024, state->nsorted))
		FitStateCompact(state);
}

/*
 * Adds one customer's observation (FIT_DIMS values, already checked) to the
 * state, making it in the aggregate context if need be.
 */
FitState *
FitStateAdd(FunctionCallInfo fcinfo, FitState *state, const double *v)
{
	MemoryContext cxt;
	FitPoint	p;
	int			i;

	if (!AggCheckCallContext(fcinfo, &cxt))
		elog(ERROR, "model fit transition called in non-aggregate context");
	if (state == NULL)
		state = MemoryContextAllocZero(cxt, sizeof(FitState));
	for (i = 0; i < FIT_DIMS; i++)
		p.v[i] = v[i] + 0.0;	/* -0 is 0 */
	p.count = 1;
	FitStateAppend(state, &p, cxt);
	return state;
}

/* The number of customers in the state. */
int64
FitStateCustomers(FitState *state)
{
	int64		n = 0,
				i;

	for (i = 0; i < state->n; i++)
		n += state->points[i].count;
	return n;
}

/* Merges two partial states of bgnbd_fit or gg_fit. */
PG_FUNCTION_INFO_V1(loyalty_model_fit_combine);
Datum
loyalty_model_fit_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt;
	FitState   *s1 = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	FitState   *s2 = PG_ARGISNULL(1) ? NULL : (FitState *) PG_GETARG_POINTER(1);
	int64		i;

	if (!AggCheckCallContext(fcinfo, &cxt))
		elog(ERROR, "model_fit_combine called in non-aggregate context");
	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	if (s1 == NULL)
		s1 = MemoryContextAllocZero(cxt, sizeof(FitState));
	for (i = 0; i < s2->n; i++)
		FitStateAppend(s1, &s2->points[i], cxt);
	PG_RETURN_POINTER(s1);
}

/* The state of a fit as bytes (compacted first). */
PG_FUNCTION_INFO_V1(loyalty_model_fit_serialize);
Datum
loyalty_model_fit_serialize(PG_FUNCTION_ARGS)
{
	FitState   *state = (FitState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int64		i;
	int			j;

	FitStateCompact(state);
	if (state->n > (int64) ((MaxAllocSize - 64) / (sizeof(FitPoint) + 8)))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct observations for a parallel model fit: %lld",
						(long long) state->n),
				 errhint("SET max_parallel_workers_per_gather = 0 for this query.")));
	pq_begintypsend(&buf);
	pq_sendint64(&buf, state->n);
	for (i = 0; i < state->n; i++)
	{
		for (j = 0; j < FIT_DIMS; j++)
			pq_sendfloat8(&buf, state->points[i].v[j]);
		pq_sendint64(&buf, state->points[i].count);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * Rebuilds a fit state from its bytes: the count must fit the bytes, the
 * points be sorted and distinct, finite, with positive counts.
 */
PG_FUNCTION_INFO_V1(loyalty_model_fit_deserialize);
Datum
loyalty_model_fit_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext cxt;
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	FitState   *state;
	int64		n,
				i;
	int			j;

	if (!AggCheckCallContext(fcinfo, &cxt))
		elog(ERROR, "model_fit_deserialize called in non-aggregate context");
	LoyaltyReadBuffer(&buf, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	n = pq_getmsgint64(&buf);
	if (n < 0 || n > (buf.len - buf.cursor) / (int64) (8 * (FIT_DIMS + 1)))
		elog(ERROR, "malformed model fit state");
	state = MemoryContextAllocZero(cxt, sizeof(FitState));
	state->cap = Max(n, 1);
	state->points = MemoryContextAllocHuge(cxt, sizeof(FitPoint) * state->cap);
	for (i = 0; i < n; i++)
	{
		FitPoint   *p = &state->points[i];

		for (j = 0; j < FIT_DIMS; j++)
		{
			p->v[j] = pq_getmsgfloat8(&buf);
			if (!isfinite(p->v[j]))
				elog(ERROR, "malformed model fit state");
		}
		p->count = pq_getmsgint64(&buf);
		if (p->count <= 0 || (i > 0 && FitPointCmp(&state->points[i - 1], p) >= 0))
			elog(ERROR, "malformed model fit state");
	}
	pq_getmsgend(&buf);
	state->n = state->nsorted = n;
	PG_RETURN_POINTER(state);
}
