/*
 * gammagamma.c -- the Gamma-Gamma model of spend (Fader, Hardie & Lee
 * 2005, "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis",
 * JMR 42; Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value"):
 * the aggregate gg_fit, gg_expected_spend, and clv, which joins it to the
 * BG/NBD model.
 *
 * A customer's spends are Gamma(p, nu), nu ~ Gamma(q, gamma) across
 * customers; mbar, the mean of his x repeat spends, then has the density
 *   f(mbar | x) = G(px + q) / (G(px) G(q)) gamma^q mbar^(px-1) x^(px)
 *                 / (gamma + x mbar)^(px+q)
 * (the spend of the first purchase is not used, as in the papers), and
 *   E[spend | x, mbar] = p (gamma + x mbar) / (p x + q - 1).
 */
#include "analytics.h"

#include <math.h>

#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"

/* estimates beyond these ran off to the edge (gamma: relative to the mean m) */
#define FIT_MIN_SHAPE 1e-5
#define FIT_MAX_SHAPE 1e5
#define FIT_MIN_SCALE 1e-8
#define FIT_MAX_SCALE 1e8
#define FIT_TOLERANCE 1e-10
/* the most periods clv adds up */
#define CLV_MAX_PERIODS 100000

static const char *const gg_names[] = {"p", "q", "gamma"};

/* The fit's data: repeat buyers grouped by x, each distinct (x, m) once. */
typedef struct GgData
{
	double		customers;
	int64		ngroups;
	double	   *group_x;
	int64	   *group_end;
	int64		npoints;
	double	   *m;
	double	   *logm;
	double	   *w;
} GgData;

static void
GgPrepare(FitState *state, GgData *d)
{
	int64		i;

	memset(d, 0, sizeof(GgData));
	d->group_x = palloc_extended(sizeof(double) * state->n, MCXT_ALLOC_HUGE);
	d->group_end = palloc_extended(sizeof(int64) * state->n, MCXT_ALLOC_HUGE);
	d->m = palloc_extended(sizeof(double) * state->n, MCXT_ALLOC_HUGE);
	d->logm = palloc_extended(sizeof(double) * state->n, MCXT_ALLOC_HUGE);
	d->w = palloc_extended(sizeof(double) * state->n, MCXT_ALLOC_HUGE);
	for (i = 0; i < state->n; i++)
	{
		FitPoint   *p = &state->points[i];

		if (d->ngroups == 0 || d->group_x[d->ngroups - 1] != p->v[0])
			d->group_x[d->ngroups++] = p->v[0];
		d->m[d->npoints] = p->v[1];
		d->logm[d->npoints] = log(p->v[1]);
		d->w[d->npoints++] = p->count;
		d->group_end[d->ngroups - 1] = d->npoints;
		d->customers += p->count;
	}
}

/* Minus the mean log-likelihood at theta = ln(p, q, gamma), and its gradient. */
static double
GgObjective(const double *theta, double *grad, void *arg)
{
	GgData	   *d = arg;
	double		p = exp(theta[0]),
				q = exp(theta[1]),
				g = exp(theta[2]);
	double		lg = log(g),
				lgq = lgamma(q),
				psq = LoyaltyDigamma(q),
				ll = 0,
				gp = 0,
				gq = 0,
				gg = 0;
	int64		k,
				i,
				start = 0;

	if (!isfinite(p) || !isfinite(q) || !isfinite(g) || p == 0 || q == 0 || g == 0)
		return get_float8_infinity();
	for (k = 0; k < d->ngroups; k++)
	{
		double		x = d->group_x[k];
		double		px = p * x;
		double		c = lgamma(px + q) - lgamma(px) - lgq + q * lg + px * log(x);
		double		pspq = LoyaltyDigamma(px + q);
		double		psp = LoyaltyDigamma(px);
		double		W = 0,
					SM = 0,
					SL = 0,
					SI = 0;

		for (i = start; i < d->group_end[k]; i++)
		{
			double		w = d->w[i];
			double		lxm = log(x * d->m[i] + g);

			ll += w * (c + (px - 1) * d->logm[i] - (px + q) * lxm);
			W += w;
			SM += w * d->logm[i];
			SL += w * lxm;
			SI += w / (x * d->m[i] + g);
		}
		start = d->group_end[k];
		gp += x * (W * (pspq - psp + log(x)) + SM - SL);
		gq += W * (pspq - psq + lg) - SL;
		gg += W * q / g - (px + q) * SI;
	}
	grad[0] = -p * gp / d->customers;
	grad[1] = -q * gq / d->customers;
	grad[2] = -g * gg / d->customers;
	return -ll / d->customers;
}

/* Three starts, gamma at the scale of the spends; the best, or LY093. */
static void
GgFit(GgData *d, double mean_m, double *best, double *best_f)
{
	static const double starts[3][3] = {{1.0, 1.0, 1.0}, {5.0, 3.0, 0.5}, {0.5, 2.0, 3.0}};
	MinimizeResult res,
				best_res = {0};
	int			s,
				i;

	double		lo[3],
				hi[3];

	/* a bit beyond the bounds LoyaltyCheckEstimate puts on the estimates */
	for (i = 0; i < 3; i++)
	{
		lo[i] = log((i == 2 ? mean_m * FIT_MIN_SCALE : FIT_MIN_SHAPE) / 10);
		hi[i] = log((i == 2 ? mean_m * FIT_MAX_SCALE : FIT_MAX_SHAPE) * 10);
	}
	*best_f = get_float8_infinity();
	best_res.f = *best_f;
	for (s = 0; s < 3; s++)
	{
		double		theta[3];

		for (i = 0; i < 3; i++)
			theta[i] = log(starts[s][i] * (i == 2 ? mean_m : 1.0));
		LoyaltyMinimize(GgObjective, d, 3, theta, lo, hi, FIT_TOLERANCE, &res);
		if (isfinite(res.f) && res.f < *best_f)
		{
			*best_f = res.f;
			best_res = res;
			memcpy(best, theta, sizeof(theta));
		}
	}
	if (isfinite(*best_f))
	{
		LoyaltyCheckEstimate("gg_fit", "p", exp(best[0]), FIT_MIN_SHAPE, FIT_MAX_SHAPE);
		LoyaltyCheckEstimate("gg_fit", "q", exp(best[1]), FIT_MIN_SHAPE, FIT_MAX_SHAPE);
		LoyaltyCheckEstimate("gg_fit", "gamma", exp(best[2]), mean_m * FIT_MIN_SCALE, mean_m * FIT_MAX_SCALE);
	}
	if (isfinite(*best_f))
		LoyaltyCheckConverged("gg_fit", &best_res,
							  psprintf("p = %s, q = %s, gamma = %s",
									   float8out_internal(exp(best[0])), float8out_internal(exp(best[1])),
									   float8out_internal(exp(best[2]))));
	else
		LoyaltyCheckConverged("gg_fit", &best_res, "no finite likelihood");
}

static void
CheckSpend(int32 x, double m, const char *what)
{
	if (x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_OBSERVATION),
				 errmsg("%s: x must not be negative, got %d", what, x)));
	if (!isfinite(m))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_OBSERVATION),
				 errmsg("%s: the mean spend m must be finite, got %s", what, float8out_internal(m))));
}

/*
 * Transition of gg_fit(x, m): rows with a NULL, x = 0 (no repeat spend) or
 * m <= 0 (the model is of positive spends) are skipped; x < 0 or m NaN or
 * infinite is LY090.
 */
PG_FUNCTION_INFO_V1(loyalty_gg_fit_trans);
Datum
loyalty_gg_fit_trans(PG_FUNCTION_ARGS)
{
	FitState   *state = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	double		v[FIT_DIMS];

	if (!PG_ARGISNULL(1) && !PG_ARGISNULL(2))
	{
		CheckSpend(PG_GETARG_INT32(1), PG_GETARG_FLOAT8(2), "gg_fit");
		if (PG_GETARG_INT32(1) > 0 && PG_GETARG_FLOAT8(2) > 0)
		{
			v[0] = PG_GETARG_INT32(1);
			v[1] = PG_GETARG_FLOAT8(2);
			v[2] = 0;
			PG_RETURN_POINTER(FitStateAdd(fcinfo, state, v));
		}
	}
	if (state == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(state);
}

/*
 * The maximum-likelihood estimates (p, q, gamma, ll, n); NULL without
 * repeat buyers; LY092 with fewer than two, or when all have one mean
 * spend (no spread to fit).
 */
PG_FUNCTION_INFO_V1(loyalty_gg_fit_final);
Datum
loyalty_gg_fit_final(PG_FUNCTION_ARGS)
{
	FitState   *state = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	MemoryContext work,
				old;
	GgData		d;
	TupleDesc	desc;
	double		theta[3],
				f,
				sum_m = 0;
	int64		i;
	bool		spread = false;
	Datum		values[5];
	bool		nulls[5] = {false};

	if (state == NULL || state->n == 0)
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	FitStateCompact(state);
	for (i = 0; i < state->n; i++)
	{
		spread |= state->points[i].v[1] != state->points[0].v[1];
		sum_m += state->points[i].v[1] * state->points[i].count;
	}
	if (FitStateCustomers(state) < 2 || !spread)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MODEL_NOT_IDENTIFIED),
				 errmsg("gg_fit cannot identify the model from %s",
						FitStateCustomers(state) < 2 ? "one repeat buyer" : "repeat buyers who all spend the same"),
				 errdetail("The Gamma-Gamma model needs several repeat buyers (x > 0, m > 0) whose mean spends differ.")));

	work = AllocSetContextCreate(CurrentMemoryContext, "gg_fit", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	GgPrepare(state, &d);
	GgFit(&d, sum_m / d.customers, theta, &f);
	MemoryContextSwitchTo(old);
	for (i = 0; i < 3; i++)
		values[i] = Float8GetDatum(exp(theta[i]));
	values[3] = Float8GetDatum(-f * d.customers);
	values[4] = Int64GetDatum((int64) d.customers);
	MemoryContextDelete(work);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * E[spend | x, m] = p (gamma + x m) / (p x + q - 1); for x = 0 the
 * population mean p gamma / (q - 1).  LY091 where that mean is infinite.
 */
static double
ExpectedSpend(HeapTupleHeader row, int32 x, double m, const char *what)
{
	double		v[3];
	double		den;

	LoyaltyReadParams(row, 3, gg_names, "gg_params", v);
	CheckSpend(x, m, what);
	if (x > 0 && m < 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_OBSERVATION),
				 errmsg("%s: the mean spend m must not be negative, got %s", what, float8out_internal(m))));
	if (x == 0)
		m = 0;
	den = v[0] * x + v[1] - 1;
	if (!(den > 0))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_MODEL_ARGUMENT),
				 errmsg("%s: the expected spend is infinite when p x + q <= 1 (p = %s, q = %s, x = %d)",
						what, float8out_internal(v[0]), float8out_internal(v[1]), x),
				 errdetail("A customer without repeat purchases gets the population mean p gamma / (q - 1), which needs q > 1.")));
	return v[0] * (v[2] + x * m) / den;
}

/* gg_expected_spend(p, x, m): the expected spend of the next purchase. */
PG_FUNCTION_INFO_V1(loyalty_gg_expected_spend);
Datum
loyalty_gg_expected_spend(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(ExpectedSpend(PG_GETARG_HEAPTUPLEHEADER(0), PG_GETARG_INT32(1),
								   PG_GETARG_FLOAT8(2), "gg_expected_spend"));
}

/*
 * clv(bg, gg, x, t_x, t, m, horizon, discount_rate): the discounted value
 * of the next `horizon` units,
 *   sum_{k=1..ceil(horizon)} spend (E(t_k) - E(t_(k-1))) / (1 + d)^t_k,
 * t_k = min(k, horizon), E = bgnbd_expected, spend = gg_expected_spend:
 * lifetimes' customer_lifetime_value with its period the model's unit.
 */
PG_FUNCTION_INFO_V1(loyalty_clv);
Datum
loyalty_clv(PG_FUNCTION_ARGS)
{
	BgnbdParams bg = LoyaltyReadBgnbd(PG_GETARG_HEAPTUPLEHEADER(0));
	int32		x = PG_GETARG_INT32(2);
	double		t_x = PG_GETARG_FLOAT8(3);
	double		t = PG_GETARG_FLOAT8(4);
	double		horizon = PG_GETARG_FLOAT8(6);
	double		d = PG_GETARG_FLOAT8(7);
	double		spend,
				alive,
				prev = 0,
				sum = 0;
	int32		k,
				periods;

	LoyaltyCheckHistory(x, t_x, t, "clv");
	spend = ExpectedSpend(PG_GETARG_HEAPTUPLEHEADER(1), x, PG_GETARG_FLOAT8(5), "clv");
	if (!isfinite(horizon) || horizon < 0 || horizon > CLV_MAX_PERIODS)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_MODEL_ARGUMENT),
				 errmsg("clv: horizon must be between 0 and %d units, got %s",
						CLV_MAX_PERIODS, float8out_internal(horizon))));
	if (!isfinite(d) || d < 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_MODEL_ARGUMENT),
				 errmsg("clv: discount_rate must be finite and not negative, got %s",
						float8out_internal(d)),
				 errdetail("It is the rate per unit of the model's time (per week for weeks).")));
	alive = LoyaltyBgnbdPAlive(&bg, x, t_x, t);
	periods = (int32) ceil(horizon);
	for (k = 1; k <= periods; k++)
	{
		double		tk = Min((double) k, horizon);
		double		e;

		CHECK_FOR_INTERRUPTS();
		e = LoyaltyBgnbdAliveExpectation(&bg, x, t, tk);

		sum += (e - prev) / pow(1 + d, tk);
		prev = e;
	}
	PG_RETURN_FLOAT8(spend * alive * sum);
}
