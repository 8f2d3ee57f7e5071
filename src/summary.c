/*
 * summary.c -- the aggregates purchase_summary and cadence: what a
 * customer's rows of (time, amount) say, by day.
 *
 * purchase_summary(occurred_at, amount, as_of [, unit]) gives the RFM
 * summary the customer-base models read (Fader, Hardie & Lee 2005): x, the
 * repeat purchase days; t_x, from the first to the last purchase day; t,
 * from the first purchase day to as_of's day, both in units; monetary, the
 * mean net amount of the repeat days.  Rules, all in the README:
 *
 *   - a row counts when occurred_at <= as_of; later rows are ignored (the
 *     calibration / hold-out split);
 *   - days are local dates in the session's TimeZone (dayset.c);
 *   - a row with amount >= 0 is a purchase and makes its day a purchase
 *     day; a row with amount < 0 is a return: it never makes a purchase
 *     day, and its amount counts on its day: on the first purchase day it
 *     lowers that day's spend, after it the repeat spend (monetary), before
 *     any purchase only the total;
 *   - rows may come in any order, and partial states of a parallel plan
 *     merge (combine) into the state one process would have built.
 *
 * The state: the set of purchase days (4 bytes per distinct day, never per
 * row: distinct days cannot be counted exactly in less, whatever the order
 * of the rows), the first purchase day with the sum of its rows, the sum of
 * the rows after it, and the returns dated before every purchase (normally
 * none; kept one per day).  Sums are numeric, exact, whatever the order.
 *
 * cadence(occurred_at) keeps only the set of days: the median gap needs
 * every gap, so its memory grows with the visit days (4 bytes each).
 */
#include "analytics.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

/*
 * An exact sum, kept in the state itself while it is short (up to five
 * base-10000 digits: sums below 10^12 with two decimals), so that a row's
 * amount is added without following a pointer to a numeric elsewhere.
 */
#define NUMSUM_INLINE 16

typedef struct NumSum
{
	Numeric		value;			/* NULL: nothing added yet (0); buf.data, or
								 * palloc'd in the aggregate context */
	union
	{
		char		data[NUMSUM_INLINE];
		int64		align;
	}			buf;
} NumSum;

#define NumSumExternal(s) ((s)->value != NULL && (s)->value != (Numeric) (s)->buf.data)

/* A return dated before every purchase day (so far). */
typedef struct EarlyReturn
{
	int32		day;
	Numeric		amount;
} EarlyReturn;

typedef struct SummaryState
{
	TimestampTz as_of;
	Interval	unit;
	DaySet		days;			/* purchase days */
	bool		has_purchase;
	int32		first_day;		/* days[0], kept at hand */
	TimestampTz first_at;		/* first and last purchase row */
	TimestampTz last_at;
	NumSum		first_sum;		/* rows of first_day */
	NumSum		later_sum;		/* rows after first_day */
	EarlyReturn *early;			/* returns before first_day */
	int32		nearly;
	int32		capearly;
} SummaryState;

typedef struct CadenceState
{
	DaySet		days;
} CadenceState;

static MemoryContext
AggContext(FunctionCallInfo fcinfo, const char *what)
{
	MemoryContext cxt;

	if (!AggCheckCallContext(fcinfo, &cxt))
		elog(ERROR, "%s called in non-aggregate context", what);
	return cxt;
}

/* acc + v, in cxt (acc NULL: v); acc is freed. */
static Numeric
NumAdd(Numeric acc, Numeric v, MemoryContext cxt)
{
	MemoryContext old;
	Numeric		sum;

	if (v == NULL)
		return acc;
	old = MemoryContextSwitchTo(cxt);
	if (acc == NULL)
		sum = DatumGetNumericCopy(NumericGetDatum(v));
	else
	{
		sum = numeric_add_opt_error(acc, v, NULL);
		pfree(acc);
	}
	MemoryContextSwitchTo(old);
	return sum;
}

/* s := v, copied into s (v may be a temporary) */
static void
NumSumSet(NumSum *s, Numeric v, MemoryContext cxt)
{
	Size		size = VARSIZE(v);

	if (NumSumExternal(s))
		pfree(s->value);
	if (size <= NUMSUM_INLINE)
	{
		memcpy(s->buf.data, v, size);
		s->value = (Numeric) s->buf.data;
	}
	else
	{
		s->value = MemoryContextAlloc(cxt, size);
		memcpy(s->value, v, size);
	}
}

/* s += v (v NULL: nothing) */
static void
NumSumAdd(NumSum *s, Numeric v, MemoryContext cxt)
{
	Numeric		sum;

	if (v == NULL)
		return;
	if (s->value == NULL)
	{
		NumSumSet(s, v, cxt);
		return;
	}
	sum = numeric_add_opt_error(s->value, v, NULL);
	NumSumSet(s, sum, cxt);
	pfree(sum);
}

static bool
NumIsNegative(Numeric v)
{
	static Numeric zero = NULL;

	if (zero == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		zero = int64_to_numeric(0);
		MemoryContextSwitchTo(old);
	}
	return DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(v),
											NumericGetDatum(zero)));
}

static double
UnitDays(const Interval *unit)
{
	return unit->day + (double) unit->time / USECS_PER_DAY;
}

static char *
IntervalText(const Interval *unit)
{
	return DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(unit)));
}

/* Checks a group's as_of and unit when its first row comes (LY094). */
static void
SummaryCheckArgs(TimestampTz as_of, const Interval *unit)
{
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_GROUP_ARGUMENT),
				 errmsg("as_of must be a finite time"),
				 errdetail("purchase_summary measures t from the first purchase day to as_of's day.")));
	if (unit->month != 0 || UnitDays(unit) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_GROUP_ARGUMENT),
				 errmsg("invalid unit of purchase_summary: \"%s\"", IntervalText(unit)),
				 errdetail("The unit must be a positive length of days and hours, such as '7 days' or '1 day'."),
				 errhint("Months and years have no fixed length in days: use '30 days' or '365 days'.")));
}

/* Every row of a group must name the same as_of and unit (LY094). */
static void
SummarySameArgs(SummaryState *state, TimestampTz as_of, const Interval *unit)
{
	if (state->as_of != as_of ||
		state->unit.month != unit->month || state->unit.day != unit->day ||
		state->unit.time != unit->time)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_GROUP_ARGUMENT),
				 errmsg("as_of and unit of purchase_summary differ between rows of one group"),
				 errdetail("One group has as_of %s and unit \"%s\", and also as_of %s and unit \"%s\".",
						   timestamptz_to_str(state->as_of), IntervalText(&state->unit),
						   timestamptz_to_str(as_of), IntervalText(unit)),
				 errhint("Pass the same as_of and unit for every row, e.g. constants or query parameters.")));
}

/* Adds a return dated before every purchase day. */
static void
EarlyAdd(SummaryState *state, int32 day, Numeric amount, MemoryContext cxt)
{
	int32		i;

	for (i = 0; i < state->nearly; i++)
		if (state->early[i].day == day)
		{
			state->early[i].amount = NumAdd(state->early[i].amount, amount, cxt);
			return;
		}
	if (state->nearly == state->capearly)
	{
		state->capearly = Max(4, state->capearly * 2);
		if (state->early == NULL)
			state->early = MemoryContextAlloc(cxt, sizeof(EarlyReturn) * state->capearly);
		else
			state->early = repalloc(state->early, sizeof(EarlyReturn) * state->capearly);
	}
	state->early[state->nearly].day = day;
	state->early[state->nearly].amount = NumAdd(NULL, amount, cxt);
	state->nearly++;
}

/* Moves the returns on or after the first purchase day into its sums. */
static void
EarlySettle(SummaryState *state, MemoryContext cxt)
{
	int32		i,
				m = 0;

	for (i = 0; i < state->nearly; i++)
	{
		EarlyReturn *e = &state->early[i];

		if (e->day == state->first_day)
			NumSumAdd(&state->first_sum, e->amount, cxt);
		else if (e->day > state->first_day)
			NumSumAdd(&state->later_sum, e->amount, cxt);
		else
		{
			state->early[m++] = *e;
			continue;
		}
		pfree(e->amount);
	}
	state->nearly = m;
}

/*
 * A purchase day group (a day with the sum of its rows, or a partial
 * state's first day) dated `day`, from `first_at` to `last_at`.
 */
static void
SummaryAddPurchase(SummaryState *state, int32 day, Numeric sum,
				   TimestampTz first_at, TimestampTz last_at, MemoryContext cxt)
{
	if (!state->has_purchase)
	{
		state->has_purchase = true;
		state->first_day = day;
		NumSumAdd(&state->first_sum, sum, cxt);
		state->first_at = first_at;
		state->last_at = last_at;
		EarlySettle(state, cxt);
		return;
	}
	state->first_at = Min(state->first_at, first_at);
	state->last_at = Max(state->last_at, last_at);
	if (day == state->first_day)
		NumSumAdd(&state->first_sum, sum, cxt);
	else if (day > state->first_day)
		NumSumAdd(&state->later_sum, sum, cxt);
	else
	{
		/* an earlier first day: the old one becomes a repeat day */
		NumSumAdd(&state->later_sum, state->first_sum.value, cxt);
		if (sum != NULL)
			NumSumSet(&state->first_sum, sum, cxt);
		else
		{
			if (NumSumExternal(&state->first_sum))
				pfree(state->first_sum.value);
			state->first_sum.value = NULL;
		}
		state->first_day = day;
		EarlySettle(state, cxt);
	}
}

/* One row, on or before as_of. */
static void
SummaryAddRow(SummaryState *state, TimestampTz ts, Numeric amount, MemoryContext cxt)
{
	int32		day = LoyaltyLocalDay(ts);

	if (!NumIsNegative(amount))
	{
		DaySetAdd(&state->days, day, cxt);
		SummaryAddPurchase(state, day, amount, ts, ts, cxt);
	}
	else if (state->has_purchase && day == state->first_day)
		NumSumAdd(&state->first_sum, amount, cxt);
	else if (state->has_purchase && day > state->first_day)
		NumSumAdd(&state->later_sum, amount, cxt);
	else
		EarlyAdd(state, day, amount, cxt);
}

static void
CheckFiniteTime(TimestampTz ts, const char *agg)
{
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_OBSERVATION),
				 errmsg("%s got a time that is not finite: %s", agg, timestamptz_to_str(ts)),
				 errdetail("A purchase happens on a day; infinity and -infinity are none.")));
}

/*
 * Transition of purchase_summary (3 and 4 arguments; the 3-argument form's
 * unit is 7 days).  A row with a NULL argument is skipped.
 */
PG_FUNCTION_INFO_V1(loyalty_purchase_summary_trans);
Datum
loyalty_purchase_summary_trans(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = AggContext(fcinfo, "purchase_summary_trans");
	SummaryState *state = PG_ARGISNULL(0) ? NULL : (SummaryState *) PG_GETARG_POINTER(0);
	Interval	week = {0, 7, 0};
	Interval   *unit = &week;
	TimestampTz ts,
				as_of;
	Numeric		amount;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) ||
		(PG_NARGS() > 4 && PG_ARGISNULL(4)))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	ts = PG_GETARG_TIMESTAMPTZ(1);
	amount = PG_GETARG_NUMERIC(2);
	as_of = PG_GETARG_TIMESTAMPTZ(3);
	if (PG_NARGS() > 4)
		unit = PG_GETARG_INTERVAL_P(4);

	if (state == NULL)
	{
		SummaryCheckArgs(as_of, unit);
		state = MemoryContextAllocZero(cxt, sizeof(SummaryState));
		state->as_of = as_of;
		state->unit = *unit;
	}
	else
		SummarySameArgs(state, as_of, unit);

	CheckFiniteTime(ts, "purchase_summary");
	if (numeric_is_nan(amount) || numeric_is_inf(amount))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_OBSERVATION),
				 errmsg("purchase_summary got an amount that is not a number: %s",
						DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(amount)))),
				 errdetail("Amounts must be finite: a purchase is >= 0, a return < 0.")));
	if (ts <= as_of)
		SummaryAddRow(state, ts, amount, cxt);
	PG_RETURN_POINTER(state);
}

/* A deep copy of a state into cxt. */
static SummaryState *
SummaryCopy(SummaryState *src, MemoryContext cxt)
{
	SummaryState *dst = MemoryContextAllocZero(cxt, sizeof(SummaryState));
	int32		i;

	dst->as_of = src->as_of;
	dst->unit = src->unit;
	DaySetMerge(&dst->days, &src->days, cxt);
	dst->has_purchase = src->has_purchase;
	dst->first_day = src->first_day;
	dst->first_at = src->first_at;
	dst->last_at = src->last_at;
	NumSumAdd(&dst->first_sum, src->first_sum.value, cxt);
	NumSumAdd(&dst->later_sum, src->later_sum.value, cxt);
	for (i = 0; i < src->nearly; i++)
		EarlyAdd(dst, src->early[i].day, src->early[i].amount, cxt);
	return dst;
}

/* Merges two partial states of purchase_summary (parallel plans). */
PG_FUNCTION_INFO_V1(loyalty_purchase_summary_combine);
Datum
loyalty_purchase_summary_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = AggContext(fcinfo, "purchase_summary_combine");
	SummaryState *s1 = PG_ARGISNULL(0) ? NULL : (SummaryState *) PG_GETARG_POINTER(0);
	SummaryState *s2 = PG_ARGISNULL(1) ? NULL : (SummaryState *) PG_GETARG_POINTER(1);
	int32		i;

	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	if (s1 == NULL)
		PG_RETURN_POINTER(SummaryCopy(s2, cxt));

	SummarySameArgs(s1, s2->as_of, &s2->unit);
	DaySetMerge(&s1->days, &s2->days, cxt);
	if (s2->has_purchase)
	{
		/* s2's first day as one purchase group, then its later rows */
		SummaryAddPurchase(s1, s2->first_day, s2->first_sum.value, s2->first_at, s2->last_at, cxt);
		NumSumAdd(&s1->later_sum, s2->later_sum.value, cxt);
	}
	for (i = 0; i < s2->nearly; i++)
	{
		EarlyReturn *e = &s2->early[i];

		if (s1->has_purchase && e->day >= s1->first_day)
		{
			if (e->day == s1->first_day)
				NumSumAdd(&s1->first_sum, e->amount, cxt);
			else
				NumSumAdd(&s1->later_sum, e->amount, cxt);
		}
		else
			EarlyAdd(s1, e->day, e->amount, cxt);
	}
	PG_RETURN_POINTER(s1);
}

static void
SendNumeric(StringInfo buf, Numeric v)
{
	bytea	   *b;

	pq_sendbyte(buf, v != NULL);
	if (v == NULL)
		return;
	b = DatumGetByteaPP(DirectFunctionCall1(numeric_send, NumericGetDatum(v)));
	pq_sendint32(buf, VARSIZE_ANY_EXHDR(b));
	pq_sendbytes(buf, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
}

/* Reads what SendNumeric wrote; numeric_recv checks the bytes. */
static Numeric
RecvNumeric(StringInfo buf, MemoryContext cxt)
{
	StringInfoData sub;
	int32		len;
	MemoryContext old;
	Numeric		v;

	if (pq_getmsgbyte(buf) == 0)
		return NULL;
	len = pq_getmsgint(buf, 4);
	if (len < 0 || len > buf->len - buf->cursor)
		elog(ERROR, "malformed numeric in an aggregate state");
	LoyaltyReadBuffer(&sub, pq_getmsgbytes(buf, len), len);
	old = MemoryContextSwitchTo(cxt);
	v = DatumGetNumeric(DirectFunctionCall3(numeric_recv, PointerGetDatum(&sub),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	MemoryContextSwitchTo(old);
	if (numeric_is_nan(v) || numeric_is_inf(v))
		elog(ERROR, "malformed numeric in an aggregate state");
	return v;
}

/* The state of purchase_summary as bytes, for a parallel worker. */
PG_FUNCTION_INFO_V1(loyalty_purchase_summary_serialize);
Datum
loyalty_purchase_summary_serialize(PG_FUNCTION_ARGS)
{
	SummaryState *state = (SummaryState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int32		i;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, state->as_of);
	pq_sendint64(&buf, state->unit.time);
	pq_sendint32(&buf, state->unit.day);
	pq_sendint32(&buf, state->unit.month);
	DaySetSend(&buf, &state->days);
	pq_sendbyte(&buf, state->has_purchase);
	pq_sendint32(&buf, state->first_day);
	pq_sendint64(&buf, state->first_at);
	pq_sendint64(&buf, state->last_at);
	SendNumeric(&buf, state->first_sum.value);
	SendNumeric(&buf, state->later_sum.value);
	pq_sendint32(&buf, state->nearly);
	for (i = 0; i < state->nearly; i++)
	{
		pq_sendint32(&buf, state->early[i].day);
		SendNumeric(&buf, state->early[i].amount);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Rebuilds a state from loyalty_purchase_summary_serialize's bytes. */
PG_FUNCTION_INFO_V1(loyalty_purchase_summary_deserialize);
Datum
loyalty_purchase_summary_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = AggContext(fcinfo, "purchase_summary_deserialize");
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	SummaryState *state = MemoryContextAllocZero(cxt, sizeof(SummaryState));
	int32		i,
				nearly;

	LoyaltyReadBuffer(&buf, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	state->as_of = pq_getmsgint64(&buf);
	state->unit.time = pq_getmsgint64(&buf);
	state->unit.day = pq_getmsgint(&buf, 4);
	state->unit.month = pq_getmsgint(&buf, 4);
	DaySetRecv(&buf, &state->days, cxt);
	state->has_purchase = pq_getmsgbyte(&buf) != 0;
	state->first_day = pq_getmsgint(&buf, 4);
	state->first_at = pq_getmsgint64(&buf);
	state->last_at = pq_getmsgint64(&buf);
	NumSumAdd(&state->first_sum, RecvNumeric(&buf, cxt), cxt);
	NumSumAdd(&state->later_sum, RecvNumeric(&buf, cxt), cxt);
	nearly = pq_getmsgint(&buf, 4);
	if (nearly < 0 || nearly > buf.len - buf.cursor)
		elog(ERROR, "malformed purchase_summary state");
	for (i = 0; i < nearly; i++)
	{
		int32		day = pq_getmsgint(&buf, 4);
		Numeric		amount = RecvNumeric(&buf, cxt);

		if (amount == NULL)
			elog(ERROR, "malformed purchase_summary state");
		EarlyAdd(state, day, amount, cxt);
	}
	pq_getmsgend(&buf);
	if (state->has_purchase != (state->days.n > 0) ||
		(state->has_purchase && state->days.days[0] != state->first_day))
		elog(ERROR, "malformed purchase_summary state");
	PG_RETURN_POINTER(state);
}

/*
 * The composite result of a final function, blessed, looked up once per
 * query (fn_extra): a GROUP BY calls the final function once per group.
 */
static TupleDesc
ResultDesc(FunctionCallInfo fcinfo)
{
	TupleDesc	desc = (TupleDesc) fcinfo->flinfo->fn_extra;

	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		desc = BlessTupleDesc(desc);
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = desc;
	}
	return desc;
}

/*
 * The summary of a group: NULL when no purchase is on or before as_of (the
 * customer had not been acquired yet).
 */
PG_FUNCTION_INFO_V1(loyalty_purchase_summary_final);
Datum
loyalty_purchase_summary_final(PG_FUNCTION_ARGS)
{
	SummaryState *state = PG_ARGISNULL(0) ? NULL : (SummaryState *) PG_GETARG_POINTER(0);
	TupleDesc	desc;
	Datum		values[8];
	bool		nulls[8] = {false};
	double		unit_days;
	int32		x,
				last_day,
				as_of_day;
	Numeric		total = NULL;
	int32		i;

	if (state == NULL || !state->has_purchase)
		PG_RETURN_NULL();
	desc = ResultDesc(fcinfo);
	DaySetCompact(&state->days);
	Assert(state->days.days[0] == state->first_day);
	unit_days = UnitDays(&state->unit);
	x = state->days.n - 1;
	last_day = state->days.days[state->days.n - 1];
	as_of_day = LoyaltyLocalDay(state->as_of);

	total = NumAdd(NULL, state->first_sum.value, CurrentMemoryContext);
	total = NumAdd(total, state->later_sum.value, CurrentMemoryContext);
	for (i = 0; i < state->nearly; i++)
		total = NumAdd(total, state->early[i].amount, CurrentMemoryContext);

	values[0] = Int32GetDatum(x);
	values[1] = Float8GetDatum((last_day - state->first_day) / unit_days);
	values[2] = Float8GetDatum((as_of_day - state->first_day) / unit_days);
	if (x > 0 && state->later_sum.value != NULL)
		values[3] = Float8GetDatum(DatumGetFloat8(DirectFunctionCall1(numeric_float8,
																	  NumericGetDatum(state->later_sum.value))) / x);
	else
		values[3] = Float8GetDatum(0.0);
	values[4] = TimestampTzGetDatum(state->first_at);
	values[5] = TimestampTzGetDatum(state->last_at);
	values[6] = Int32GetDatum(state->days.n);
	values[7] = NumericGetDatum(total);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* Transition of cadence: adds the row's local day; NULL rows are skipped. */
PG_FUNCTION_INFO_V1(loyalty_cadence_trans);
Datum
loyalty_cadence_trans(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = AggContext(fcinfo, "cadence_trans");
	CadenceState *state = PG_ARGISNULL(0) ? NULL : (CadenceState *) PG_GETARG_POINTER(0);
	TimestampTz ts;

	if (PG_ARGISNULL(1))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	ts = PG_GETARG_TIMESTAMPTZ(1);
	CheckFiniteTime(ts, "cadence");
	if (state == NULL)
		state = MemoryContextAllocZero(cxt, sizeof(CadenceState));
	DaySetAdd(&state->days, LoyaltyLocalDay(ts), cxt);
	PG_RETURN_POINTER(state);
}

/* Merges two partial states of cadence. */
PG_FUNCTION_INFO_V1(loyalty_cadence_combine);
Datum
loyalty_cadence_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = AggContext(fcinfo, "cadence_combine");
	CadenceState *s1 = PG_ARGISNULL(0) ? NULL : (CadenceState *) PG_GETARG_POINTER(0);
	CadenceState *s2 = PG_ARGISNULL(1) ? NULL : (CadenceState *) PG_GETARG_POINTER(1);

	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	if (s1 == NULL)
		s1 = MemoryContextAllocZero(cxt, sizeof(CadenceState));
	DaySetMerge(&s1->days, &s2->days, cxt);
	PG_RETURN_POINTER(s1);
}

/* The state of cadence as bytes. */
PG_FUNCTION_INFO_V1(loyalty_cadence_serialize);
Datum
loyalty_cadence_serialize(PG_FUNCTION_ARGS)
{
	CadenceState *state = (CadenceState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	DaySetSend(&buf, &state->days);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Rebuilds a state of cadence from its bytes. */
PG_FUNCTION_INFO_V1(loyalty_cadence_deserialize);
Datum
loyalty_cadence_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = AggContext(fcinfo, "cadence_deserialize");
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	CadenceState *state = MemoryContextAllocZero(cxt, sizeof(CadenceState));

	LoyaltyReadBuffer(&buf, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	DaySetRecv(&buf, &state->days, cxt);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(state);
}

/*
 * visit_days, first_day, last_day, mean_gap, median_gap, regularity
 * (stddev_samp of the gaps / their mean), next_expected (last day + the
 * median gap rounded half up).  Gaps need two days, regularity two gaps.
 */
PG_FUNCTION_INFO_V1(loyalty_cadence_final);
Datum
loyalty_cadence_final(PG_FUNCTION_ARGS)
{
	CadenceState *state = PG_ARGISNULL(0) ? NULL : (CadenceState *) PG_GETARG_POINTER(0);
	TupleDesc	desc;
	Datum		values[7];
	bool		nulls[7] = {false};
	DaySet	   *days;
	int32		ngaps,
				i;

	if (state == NULL || state->days.n == 0)
		PG_RETURN_NULL();
	desc = ResultDesc(fcinfo);
	days = &state->days;
	DaySetCompact(days);
	ngaps = days->n - 1;
	values[0] = Int32GetDatum(days->n);
	values[1] = DateADTGetDatum(days->days[0]);
	values[2] = DateADTGetDatum(days->days[ngaps]);
	if (ngaps == 0)
	{
		nulls[3] = nulls[4] = nulls[5] = nulls[6] = true;
	}
	else
	{
		int32	   *gaps = palloc(sizeof(int32) * ngaps);
		double		mean = (double) (days->days[ngaps] - days->days[0]) / ngaps;
		double		median;

		for (i = 0; i < ngaps; i++)
			gaps[i] = days->days[i + 1] - days->days[i];
		LoyaltySortInt32(gaps, ngaps);
		median = (ngaps % 2) ? gaps[ngaps / 2]
			: (gaps[ngaps / 2 - 1] + (double) gaps[ngaps / 2]) / 2.0;
		values[3] = Float8GetDatum(mean);
		values[4] = Float8GetDatum(median);
		if (ngaps >= 2)
		{
			double		ss = 0;

			for (i = 0; i < ngaps; i++)
				ss += (gaps[i] - mean) * (gaps[i] - mean);
			values[5] = Float8GetDatum(sqrt(ss / (ngaps - 1)) / mean);
		}
		else
			nulls[5] = true;
		values[6] = DateADTGetDatum(days->days[ngaps] + (int32) floor(median + 0.5));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
