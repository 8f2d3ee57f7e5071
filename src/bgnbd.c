/*
 * bgnbd.c -- the BG/NBD model of Fader, Hardie & Lee (2005), "Counting
 * Your Customers the Easy Way", Marketing Science 24(2): the aggregate
 * bgnbd_fit (maximum likelihood) and the functions bgnbd_p_alive,
 * bgnbd_expected and bgnbd_pmf.
 *
 * While alive a customer buys as a Poisson process of rate lambda; after
 * every purchase he drops out with probability p; lambda ~ Gamma(r, alpha)
 * and p ~ Beta(a, b) across customers.  A customer's history is x (repeat
 * purchases), t_x (time of the last), t (time observed), all measured from
 * the first purchase.
 *
 * Likelihood (FHL eq. 6), in logs, as their section 7 writes it:
 *   A1 = lnG(r + x) - lnG(r) + r ln alpha
 *   A2 = lnG(a + b) + lnG(b + x) - lnG(b) - lnG(a + b + x)
 *   A3 = -(r + x) ln(alpha + t)
 *   A4 = ln a - ln(b + x - 1) - (r + x) ln(alpha + t_x)     (x > 0)
 *   ln L = A1 + A2 + ln(e^A3 + [x > 0] e^A4)
 * maximised over the logs of the four parameters by BFGS with the analytic
 * gradient (numeric.c), from three starting points.
 *
 * Conditional expectation (FHL eq. 10) is P(alive) times the expectation
 * for a customer still alive, E[(1 - e^(-lambda p h)) / p] with lambda ~
 * Gamma(r + x, alpha + t) and p ~ Beta(a, b + x).  FHL write it with
 * 2F1(r + x, b + x; a + b + x - 1; z), z = h / (alpha + t + h), times
 * (a + b + x - 1) / (a - 1): that factor breaks at a = 1 and flips sign for
 * a < 1, and the series converges ever more slowly (and overflows for large
 * x, the "#NUM!" of Fader & Hardie's 2013 note) as its parameters grow.
 * Here Euler's transformation 2F1(A, B; C; z) = (1 - z)^(C-A-B) 2F1(C - A,
 * C - B; C; z) turns it into a series in 2F1(a + b - 1 - r, a - 1; C; z),
 * whose parameters do not grow with x, and the (a - 1) cancels in closed
 * form (see AliveExpectationSeries): finite and smooth for every a > 0.
 * Where z is near 1 (horizons far beyond alpha + t) the series needs many
 * terms and loses digits, so there the expectation is integrated over p
 * directly by double-exponential quadrature (AliveExpectationQuadrature).
 */
#include "analytics.h"

#include <math.h>

#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/typcache.h"

/* the series is used up to this z = h / (alpha + t + h) */
#define SERIES_MAX_Z 0.95
/*
 * Estimates beyond these ran off to the edge of the parameter space: shape
 * parameters (r, a, b) absolutely, alpha relative to the mean t.
 */
#define FIT_MIN_SHAPE 1e-5
#define FIT_MAX_SHAPE 1e5
#define FIT_MIN_SCALE 1e-8
#define FIT_MAX_SCALE 1e8
#define FIT_TOLERANCE 1e-10

static const char *const bgnbd_names[] = {"r", "alpha", "a", "b"};

/*
 * The first n fields of a model's parameter row (bgnbd_params, gg_params),
 * which must be finite and positive (LY091).
 */
void
LoyaltyReadParams(HeapTupleHeader row, int n, const char *const *names,
				  const char *type, double *out)
{
	TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(row),
											  HeapTupleHeaderGetTypMod(row));
	HeapTupleData tuple;
	int			i;

	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = row;
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d = heap_getattr(&tuple, i + 1, desc, &isnull);

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_INVALID_MODEL_ARGUMENT),
					 errmsg("parameter %s of %s is NULL", names[i], type),
					 errhint("Use the row a fit returned, or give every parameter.")));
		out[i] = DatumGetFloat8(d);
		if (!(isfinite(out[i]) && out[i] > 0))
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_INVALID_MODEL_ARGUMENT),
					 errmsg("parameter %s of %s must be positive and finite, not %s",
							names[i], type, float8out_internal(out[i]))));
	}
	ReleaseTupleDesc(desc);
}

/*
 * Checks one customer's history (LY090): x >= 0, t_x and t finite and
 * 0 <= t_x <= t.  `what` names the caller in the message.
 */
void
LoyaltyCheckHistory(int32 x, double t_x, double t, const char *what)
{
	if (x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_OBSERVATION),
				 errmsg("%s: x must not be negative, got %d", what, x),
				 errdetail("x counts repeat purchases.")));
	if (!isfinite(t_x) || !isfinite(t) || t_x < 0 || t_x > t)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_OBSERVATION),
				 errmsg("%s: need 0 <= t_x <= t, got t_x = %s and t = %s", what,
						float8out_internal(t_x), float8out_internal(t)),
				 errdetail("t_x is the time of the last repeat purchase and t the time observed, both from the first purchase.")));
}

static void
CheckHorizon(double h, const char *what)
{
	if (!isfinite(h) || h < 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_MODEL_ARGUMENT),
				 errmsg("%s: horizon must be finite and not negative, got %s",
						what, float8out_internal(h))));
}

/* The parameters of a bgnbd_params row, checked. */
BgnbdParams
LoyaltyReadBgnbd(HeapTupleHeader row)
{
	double		v[4];
	BgnbdParams p;

	LoyaltyReadParams(row, 4, bgnbd_names, "bgnbd_params", v);
	p.r = v[0];
	p.alpha = v[1];
	p.a = v[2];
	p.b = v[3];
	return p;
}

/* log(1 + e^x), without overflow */
static double
Log1pExp(double x)
{
	return x > 35 ? x : log1p(exp(x));
}

/* P(alive | x, t_x, t) (Fader, Hardie & Lee 2008, "Computing P(alive)"). */
double
LoyaltyBgnbdPAlive(const BgnbdParams *p, int32 x, double t_x, double t)
{
	double		lr;

	if (x == 0)
		return 1.0;
	lr = log(p->a) - log(p->b + x - 1) +
		(p->r + x) * (log(p->alpha + t) - log(p->alpha + t_x));
	/* 1 / (1 + e^lr) */
	return lr > 0 ? exp(-lr) / (1 + exp(-lr)) : 1 / (1 + exp(lr));
}

/*
 * E[(1 - e^(-lambda p h)) / p] for a customer alive at t, by the
 * Euler-transformed series.  With C = a + b + x - 1, A = a + b - 1 - r,
 * L = ln(1 - z), u = (a - 1) L:
 *   E = -C L (e^u - 1) / u  -  e^u S,
 *   S = sum_{k >= 1} (A)_k (a)_(k-1) / ((C + 1)_(k-1) k!) z^k
 * (C S is FHL's (a + b + x - 1) times the 2F1 series less its first term,
 * divided by a - 1; (e^u - 1) / u is 1 at u = 0).  C + 1 = a + b + x > 0,
 * so no term divides by zero, for any a > 0.
 */
static double
AliveExpectationSeries(const BgnbdParams *p, int32 x, double t, double h)
{
	double		tau = h / (p->alpha + t);
	double		z = tau / (1 + tau);
	double		C = p->a + p->b + x - 1;
	double		A = p->a + p->b - 1 - p->r;
	double		L = -log1p(tau);
	double		u = (p->a - 1) * L;
	double		phi = (u == 0) ? 1.0 : expm1(u) / u;
	double		term = A * z,
				sum = term;
	int64		k;

	for (k = 1; k < 10000000; k++)
	{
		if (k % 10000 == 0)
			CHECK_FOR_INTERRUPTS();
		term *= (A + k) * (p->a + k - 1) / ((C + k) * (k + 1)) * z;
		sum += term;
		if (fabs(term) <= 1e-17 * fabs(sum) && k > -A + 1)
			break;
	}
	return -C * L * phi - exp(u) * sum;
}

/*
 * The same expectation as a one-dimensional integral over p ~ Beta(a,
 * b + x) of (1 - (1 + p tau)^-(r + x)) / p, tau = h / (alpha + t), by the
 * tanh-sinh rule on p = 1 / (1 + e^(-2v)), v = (pi/2) sinh w, which copes
 * with the Beta density's endpoint singularities; the step is halved until
 * the sum settles to 1e-13.
 */
static double
AliveExpectationQuadrature(const BgnbdParams *p, int32 x, double t, double h)
{
	double		tau = h / (p->alpha + t);
	double		s = p->r + x;
	double		bx = p->b + x;
	double		lbeta = LoyaltyLogBeta(p->a, bx);
	double		step = 0.5,
				sum = 0,
				prev = 0;
	int			level;

	for (level = 0; level < 12; level++, step /= 2)
	{
		int			kstep = (level == 0) ? 1 : 2;	/* then only new nodes */
		int			side;

		CHECK_FOR_INTERRUPTS();
		for (side = 0; side < 2; side++)
		{
			int			k;

			for (k = (side == 0 && level == 0) ? 0 : 1;; k += kstep)
			{
				double		w = (side == 0 ? k : -k) * step;
				double		v = M_PI_2 * sinh(w);
				double		logp = -Log1pExp(-2 * v);
				double		pp = exp(logp);
				double		f;

				if (fabs(w) > 9)
					break;
				/* (1 - (1 + p tau)^-s) / p, which tends to s tau at p = 0 */
				f = (pp == 0) ? s * tau : -expm1(-s * log1p(pp * tau)) / pp;
				f *= exp(p->a * logp - bx * Log1pExp(2 * v) - lbeta + log(M_PI * cosh(w)));
				sum += f;
				if (fabs(w) > 3 && f <= 1e-30 * sum)
					break;
			}
		}
		if (level > 0 && fabs(sum * step - prev) <= 1e-13 * fabs(prev))
			return sum * step;
		prev = sum * step;
	}
	return prev;
}

/* The expected purchases in (t, t + h] of a customer alive at t. */
double
LoyaltyBgnbdAliveExpectation(const BgnbdParams *p, int32 x, double t, double h)
{
	if (h == 0)
		return 0;
	if (h / (p->alpha + t + h) <= SERIES_MAX_Z)
		return AliveExpectationSeries(p, x, t, h);
	return AliveExpectationQuadrature(p, x, t, h);
}

/* bgnbd_p_alive(p, x, t_x, t): the probability the customer is alive. */
PG_FUNCTION_INFO_V1(loyalty_bgnbd_p_alive);
Datum
loyalty_bgnbd_p_alive(PG_FUNCTION_ARGS)
{
	BgnbdParams p = LoyaltyReadBgnbd(PG_GETARG_HEAPTUPLEHEADER(0));
	int32		x = PG_GETARG_INT32(1);
	double		t_x = PG_GETARG_FLOAT8(2);
	double		t = PG_GETARG_FLOAT8(3);

	LoyaltyCheckHistory(x, t_x, t, "bgnbd_p_alive");
	PG_RETURN_FLOAT8(LoyaltyBgnbdPAlive(&p, x, t_x, t));
}

/*
 * bgnbd_expected(p, horizon, x, t_x, t): expected purchases in the next
 * `horizon` units (FHL eq. 10).
 */
PG_FUNCTION_INFO_V1(loyalty_bgnbd_expected);
Datum
loyalty_bgnbd_expected(PG_FUNCTION_ARGS)
{
	BgnbdParams p = LoyaltyReadBgnbd(PG_GETARG_HEAPTUPLEHEADER(0));
	double		h = PG_GETARG_FLOAT8(1);
	int32		x = PG_GETARG_INT32(2);
	double		t_x = PG_GETARG_FLOAT8(3);
	double		t = PG_GETARG_FLOAT8(4);

	CheckHorizon(h, "bgnbd_expected");
	LoyaltyCheckHistory(x, t_x, t, "bgnbd_expected");
	PG_RETURN_FLOAT8(LoyaltyBgnbdPAlive(&p, x, t_x, t) * LoyaltyBgnbdAliveExpectation(&p, x, t, h));
}

/*
 * bgnbd_pmf(p, horizon, n): P(X(horizon) = n) for a new customer (FHL eq.
 * 8), the tail of the negative binomial as an incomplete Beta function
 * rather than 1 minus a sum, so small probabilities keep their digits.
 */
PG_FUNCTION_INFO_V1(loyalty_bgnbd_pmf);
Datum
loyalty_bgnbd_pmf(PG_FUNCTION_ARGS)
{
	BgnbdParams p = LoyaltyReadBgnbd(PG_GETARG_HEAPTUPLEHEADER(0));
	double		h = PG_GETARG_FLOAT8(1);
	int32		n = PG_GETARG_INT32(2);
	double		lq,
				lp0,
				lb,
				prob;

	CheckHorizon(h, "bgnbd_pmf");
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_MODEL_ARGUMENT),
				 errmsg("bgnbd_pmf: n must not be negative, got %d", n)));
	if (h == 0)
		PG_RETURN_FLOAT8(n == 0 ? 1.0 : 0.0);
	lq = log(h) - log(p.alpha + h);
	lp0 = log(p.alpha) - log(p.alpha + h);
	lb = LoyaltyLogBeta(p.a, p.b);
	prob = exp(LoyaltyLogBeta(p.a, p.b + n) - lb + lgamma(p.r + n) - lgamma(p.r) -
			   lgamma(n + 1.0) + p.r * lp0 + n * lq);
	if (n > 0)
		prob += exp(LoyaltyLogBeta(p.a + 1, p.b + n - 1) - lb) *
			LoyaltyBetaReg(h / (p.alpha + h), n, p.r);
	PG_RETURN_FLOAT8(prob);
}

/*
 * The fit.  The customers' histogram (fitstate.c), arranged for fast
 * likelihood evaluation: repeat buyers grouped by x (the terms in lnG and
 * psi depend on x alone), every distinct time (t or t_x) once, so each
 * evaluation takes one log per distinct time and one exp and log1p per
 * distinct (x, t_x, t); customers without repeat purchases by t alone.
 */
typedef struct BgnbdData
{
	double		customers;
	int64		nu;				/* distinct times */
	double	   *u;
	double	   *logu;			/* ln(alpha + u), 1 / (alpha + u): per */
	double	   *invu;			/* evaluation */
	int64		nzero;			/* x = 0: by t */
	int64	   *zero_t;
	double	   *zero_w;
	int64		ngroups;		/* x > 0: distinct x */
	double	   *group_x;
	int64	   *group_end;		/* points of group g: [end[g-1], end[g]) */
	int64		npoints;
	int64	   *point_t;
	int64	   *point_tx;
	double	   *point_w;
} BgnbdData;

static int
DoubleCmp(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* The index of v in the sorted distinct times. */
static int64
TimeIndex(const BgnbdData *d, double v)
{
	double	   *hit = bsearch(&v, d->u, d->nu, sizeof(double), DoubleCmp);

	Assert(hit != NULL);
	return hit - d->u;
}

/* Arranges a compacted histogram of (x, t_x, t) for BgnbdObjective. */
static void
BgnbdPrepare(FitState *state, BgnbdData *d)
{
	int64		i,
				m = 0;

	memset(d, 0, sizeof(BgnbdData));
	d->u = palloc_extended(sizeof(double) * 2 * Max(state->n, 1), MCXT_ALLOC_HUGE);
	for (i = 0; i < state->n; i++)
	{
		d->u[m++] = state->points[i].v[1];
		d->u[m++] = state->points[i].v[2];
	}
	qsort(d->u, m, sizeof(double), DoubleCmp);
	for (i = 0; i < m; i++)
		if (d->nu == 0 || d->u[i] != d->u[d->nu - 1])
			d->u[d->nu++] = d->u[i];
	d->logu = palloc_extended(sizeof(double) * d->nu, MCXT_ALLOC_HUGE);
	d->invu = palloc_extended(sizeof(double) * d->nu, MCXT_ALLOC_HUGE);

	d->zero_t = palloc_extended(sizeof(int64) * state->n, MCXT_ALLOC_HUGE);
	d->zero_w = palloc_extended(sizeof(double) * state->n, MCXT_ALLOC_HUGE);
	d->group_x = palloc_extended(sizeof(double) * state->n, MCXT_ALLOC_HUGE);
	d->group_end = palloc_extended(sizeof(int64) * state->n, MCXT_ALLOC_HUGE);
	d->point_t = palloc_extended(sizeof(int64) * state->n, MCXT_ALLOC_HUGE);
	d->point_tx = palloc_extended(sizeof(int64) * state->n, MCXT_ALLOC_HUGE);
	d->point_w = palloc_extended(sizeof(double) * state->n, MCXT_ALLOC_HUGE);
	for (i = 0; i < state->n; i++)
	{
		FitPoint   *p = &state->points[i];

		d->customers += p->count;
		if (p->v[0] == 0)
		{
			/* sorted by (x, t_x, t) with t_x = 0: each t once */
			d->zero_t[d->nzero] = TimeIndex(d, p->v[2]);
			d->zero_w[d->nzero++] = p->count;
			continue;
		}
		if (d->ngroups == 0 || d->group_x[d->ngroups - 1] != p->v[0])
			d->group_x[d->ngroups++] = p->v[0];
		d->point_tx[d->npoints] = TimeIndex(d, p->v[1]);
		d->point_t[d->npoints] = TimeIndex(d, p->v[2]);
		d->point_w[d->npoints++] = p->count;
		d->group_end[d->ngroups - 1] = d->npoints;
	}
}

/*
 * Minus the mean log-likelihood at theta = ln(r, alpha, a, b), and its
 * gradient with respect to theta.
 */
static double
BgnbdObjective(const double *theta, double *grad, void *arg)
{
	BgnbdData  *d = arg;
	double		r = exp(theta[0]),
				al = exp(theta[1]),
				a = exp(theta[2]),
				b = exp(theta[3]);
	double		lal = log(al),
				ll = 0,
				gr = 0,
				gal = 0,
				ga = 0,
				gb = 0;
	double		lgr = lgamma(r),
				psr = LoyaltyDigamma(r),
				lgab = lgamma(a + b),
				psab = LoyaltyDigamma(a + b),
				lgb = lgamma(b),
				psb = LoyaltyDigamma(b);
	int64		i,
				g,
				start = 0;

	if (!isfinite(r) || !isfinite(al) || !isfinite(a) || !isfinite(b) ||
		r == 0 || al == 0 || a == 0 || b == 0)
		return get_float8_infinity();
	for (i = 0; i < d->nu; i++)
	{
		d->logu[i] = log(al + d->u[i]);
		d->invu[i] = 1 / (al + d->u[i]);
	}
	for (i = 0; i < d->nzero; i++)
	{
		double		w = d->zero_w[i],
					lu = d->logu[d->zero_t[i]];

		ll += w * r * (lal - lu);
		gr += w * (lal - lu);
		gal += w * r * (1 / al - d->invu[d->zero_t[i]]);
	}
	for (g = 0; g < d->ngroups; g++)
	{
		double		x = d->group_x[g];
		double		c = lgamma(r + x) - lgr + r * lal + lgab + lgamma(b + x) - lgb - lgamma(a + b + x);
		double		la = log(a) - log(b + x - 1);
		double		W = 0,
					SL = 0,
					SI = 0,
					SW = 0;

		for (i = start; i < d->group_end[g]; i++)
		{
			double		w = d->point_w[i];
			double		A3 = -(r + x) * d->logu[d->point_t[i]];
			double		A4 = la - (r + x) * d->logu[d->point_tx[i]];
			double		D = A4 - A3,
						e,
						q;		/* the weight of the A4 term */

			/*
			 * ln(e^A3 + e^A4) = max + ln(1 + e^-|D|); log(1 + e) rather
			 * than log1p(e): the term is added to A3 or A4, so its absolute
			 * error (1e-16) is what counts, and log is several times faster
			 */
			if (D > 0)
			{
				e = exp(-D);
				ll += w * (c + A4 + log(1 + e));
				q = 1 / (1 + e);
			}
			else
			{
				e = exp(D);
				ll += w * (c + A3 + log(1 + e));
				q = e / (1 + e);
			}
			W += w;
			SL += w * ((1 - q) * d->logu[d->point_t[i]] + q * d->logu[d->point_tx[i]]);
			SI += w * ((1 - q) * d->invu[d->point_t[i]] + q * d->invu[d->point_tx[i]]);
			SW += w * q;
		}
		start = d->group_end[g];
		gr += W * (LoyaltyDigamma(r + x) - psr + lal) - SL;
		gal += W * r / al - (r + x) * SI;
		ga += W * (psab - LoyaltyDigamma(a + b + x)) + SW / a;
		gb += W * (psab + LoyaltyDigamma(b + x) - psb - LoyaltyDigamma(a + b + x)) - SW / (b + x - 1);
	}
	grad[0] = -r * gr / d->customers;
	grad[1] = -al * gal / d->customers;
	grad[2] = -a * ga / d->customers;
	grad[3] = -b * gb / d->customers;
	return -ll / d->customers;
}

/*
 * Fits from three starting points (alpha at the scale of the data's t) and
 * keeps the best; LY093 when the best did not converge or ran off to the
 * edge of the parameter space.
 */
static void
BgnbdFit(BgnbdData *d, double mean_t, double *best, double *best_f)
{
	static const double starts[3][4] = {
		{1.0, 1.0, 1.0, 1.0}, {0.5, 0.1, 0.5, 2.0}, {2.0, 3.0, 2.0, 0.5}};
	MinimizeResult res,
				best_res = {0};
	int			s,
				i;

	double		scale = Max(mean_t, 1e-6);
	double		lo[4],
				hi[4];

	/* a bit beyond the bounds LoyaltyCheckEstimate puts on the estimates */
	for (i = 0; i < 4; i++)
	{
		lo[i] = log((i == 1 ? scale * FIT_MIN_SCALE : FIT_MIN_SHAPE) / 10);
		hi[i] = log((i == 1 ? scale * FIT_MAX_SCALE : FIT_MAX_SHAPE) * 10);
	}
	*best_f = get_float8_infinity();
	best_res.f = *best_f;
	for (s = 0; s < 3; s++)
	{
		double		theta[4];

		for (i = 0; i < 4; i++)
			theta[i] = log(starts[s][i] * (i == 1 ? scale : 1.0));
		LoyaltyMinimize(BgnbdObjective, d, 4, theta, lo, hi, FIT_TOLERANCE, &res);
		if (isfinite(res.f) && res.f < *best_f)
		{
			*best_f = res.f;
			best_res = res;
			memcpy(best, theta, sizeof(theta));
		}
	}
	if (isfinite(*best_f))
	{
		LoyaltyCheckEstimate("bgnbd_fit", "r", exp(best[0]), FIT_MIN_SHAPE, FIT_MAX_SHAPE);
		LoyaltyCheckEstimate("bgnbd_fit", "alpha", exp(best[1]),
							 scale * FIT_MIN_SCALE, scale * FIT_MAX_SCALE);
		LoyaltyCheckEstimate("bgnbd_fit", "a", exp(best[2]), FIT_MIN_SHAPE, FIT_MAX_SHAPE);
		LoyaltyCheckEstimate("bgnbd_fit", "b", exp(best[3]), FIT_MIN_SHAPE, FIT_MAX_SHAPE);
	}
	if (isfinite(*best_f))
	{
		char	   *where = psprintf("r = %s, alpha = %s, a = %s, b = %s",
									 float8out_internal(exp(best[0])), float8out_internal(exp(best[1])),
									 float8out_internal(exp(best[2])), float8out_internal(exp(best[3])));

		LoyaltyCheckConverged("bgnbd_fit", &best_res, where);
	}
	else
		LoyaltyCheckConverged("bgnbd_fit", &best_res, "no finite likelihood");
}

/*
 * Transition of bgnbd_fit(x, t_x, t): a row with a NULL is skipped, an
 * impossible one is LY090; t_x is taken as 0 when x = 0 (it says nothing).
 */
PG_FUNCTION_INFO_V1(loyalty_bgnbd_fit_trans);
Datum
loyalty_bgnbd_fit_trans(PG_FUNCTION_ARGS)
{
	FitState   *state = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	double		v[FIT_DIMS];

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	LoyaltyCheckHistory(PG_GETARG_INT32(1), PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3), "bgnbd_fit");
	v[0] = PG_GETARG_INT32(1);
	v[1] = v[0] == 0 ? 0 : PG_GETARG_FLOAT8(2);
	v[2] = PG_GETARG_FLOAT8(3);
	PG_RETURN_POINTER(FitStateAdd(fcinfo, state, v));
}

/*
 * The maximum-likelihood estimates (r, alpha, a, b, ll, n); NULL without
 * rows; LY092 when the data cannot identify the model.
 */
PG_FUNCTION_INFO_V1(loyalty_bgnbd_fit_final);
Datum
loyalty_bgnbd_fit_final(PG_FUNCTION_ARGS)
{
	FitState   *state = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	MemoryContext work,
				old;
	BgnbdData	d;
	TupleDesc	desc;
	double		theta[4],
				f,
				sum_t = 0;
	int64		i;
	Datum		values[6];
	bool		nulls[6] = {false};
	bool		repeat = false;

	if (state == NULL || state->n == 0)
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	FitStateCompact(state);
	for (i = 0; i < state->n; i++)
	{
		repeat |= state->points[i].v[0] > 0;
		sum_t += state->points[i].v[2] * state->points[i].count;
	}
	if (FitStateCustomers(state) < 2 || !repeat)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MODEL_NOT_IDENTIFIED),
				 errmsg("bgnbd_fit cannot identify the model from %s",
						FitStateCustomers(state) < 2 ? "one customer" : "customers without repeat purchases"),
				 errdetail("The BG/NBD model needs several customers, some with repeat purchases (x > 0)."),
				 errhint("Fit over a whole cohort, not one customer; check the calibration period.")));

	work = AllocSetContextCreate(CurrentMemoryContext, "bgnbd_fit", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	BgnbdPrepare(state, &d);
	BgnbdFit(&d, sum_t / d.customers, theta, &f);
	MemoryContextSwitchTo(old);
	for (i = 0; i < 4; i++)
		values[i] = Float8GetDatum(exp(theta[i]));
	values[4] = Float8GetDatum(-f * d.customers);
	values[5] = Int64GetDatum((int64) d.customers);
	MemoryContextDelete(work);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
