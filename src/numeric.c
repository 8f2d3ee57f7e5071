/*
 * numeric.c -- the numerical tools of the customer-base models: the
 * digamma function, log Beta, the regularised incomplete Beta function,
 * and a quasi-Newton minimiser (BFGS).
 *
 * All of it is plain double arithmetic, deterministic: the same input gives
 * the same bits on every call, so a fit in a parallel plan (whose state is
 * sorted before the fit, see fitstate.c) equals the serial one.
 */
#include "analytics.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"

/*
 * psi(x) for x > 0: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 6,
 * then the asymptotic series (Abramowitz & Stegun 6.3.18), which at x >= 6
 * is good to a few units in the last place.
 */
double
LoyaltyDigamma(double x)
{
	double		r = 0,
				f;

	Assert(x > 0);
	while (x < 6)
	{
		r -= 1 / x;
		x += 1;
	}
	f = 1 / (x * x);
	return r + log(x) - 0.5 / x -
		f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

/* log B(a, b) for a, b > 0. */
double
LoyaltyLogBeta(double a, double b)
{
	return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/*
 * The continued fraction of the incomplete Beta function (modified Lentz;
 * Press et al., Numerical Recipes, 6.4), for x < (a + 1) / (a + b + 2)
 * where it converges fast (in about sqrt(max(a, b)) steps).
 */
static double
BetaContinuedFraction(double x, double a, double b)
{
	const double tiny = 1e-300;
	double		c = 1,
				d = 1 - (a + b) * x / (a + 1),
				h;
	int64		m;

	if (fabs(d) < tiny)
		d = tiny;
	d = 1 / d;
	h = d;
	for (m = 1; m < 100000000; m++)
	{
		double		aa,
					del;

		if (m % 10000 == 0)
			CHECK_FOR_INTERRUPTS();
		aa = m * (b - m) * x / ((a - 1 + 2 * m) * (a + 2 * m));
		d = 1 + aa * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1 + aa / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1 / d;
		h *= d * c;
		aa = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1 + 2 * m));
		d = 1 + aa * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1 + aa / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1 / d;
		del = d * c;
		h *= del;
		if (fabs(del - 1) < 1e-16)
			break;
	}
	return h;
}

/*
 * I_x(a, b), the regularised incomplete Beta function.  A result below
 * about one half is computed directly, never as 1 minus something, so tiny
 * tails keep their digits.
 */
double
LoyaltyBetaReg(double x, double a, double b)
{
	double		y = 1 - x;
	double		front;

	if (x <= 0)
		return 0;
	if (x >= 1)
		return 1;
	front = a * log(x) + b * log1p(-x) - LoyaltyLogBeta(a, b);
	if (x < (a + 1) / (a + b + 2))
		return exp(front) * BetaContinuedFraction(x, a, b) / a;
	return 1 - exp(front) * BetaContinuedFraction(y, b, a) / b;
}

/* The BFGS state: the inverse Hessian approximation. */
typedef struct Bfgs
{
	int			n;
	bool		scaled;			/* H scaled to the curvature seen once */
	double		H[MINIMIZE_MAX_DIMS][MINIMIZE_MAX_DIMS];
} Bfgs;

static void
BfgsReset(Bfgs *b)
{
	int			i,
				j;

	for (i = 0; i < b->n; i++)
		for (j = 0; j < b->n; j++)
			b->H[i][j] = (i == j);
	b->scaled = false;
}

/*
 * The search direction d = -H g and its slope g'd; steepest descent (and H
 * reset) when H does not give a descent direction.
 */
static double
BfgsDirection(Bfgs *b, const double *g, double *d)
{
	double		slope = 0;
	int			i,
				j;

	for (i = 0; i < b->n; i++)
	{
		d[i] = 0;
		for (j = 0; j < b->n; j++)
			d[i] -= b->H[i][j] * g[j];
		slope += g[i] * d[i];
	}
	if (slope < 0)
		return slope;
	BfgsReset(b);
	slope = 0;
	for (i = 0; i < b->n; i++)
	{
		d[i] = -g[i];
		slope -= g[i] * g[i];
	}
	return slope;
}

/*
 * The BFGS update of H for the step s and the change y of the gradient,
 * H += (1 + rho y'Hy) rho s s' - rho (Hy s' + s y'H), rho = 1 / s'y; skipped
 * when s'y <= 0 (it would lose positive definiteness).
 */
static void
BfgsUpdate(Bfgs *b, const double *s, const double *y)
{
	double		sy = 0,
				yy = 0,
				rho,
				yHy = 0,
				Hy[MINIMIZE_MAX_DIMS];
	int			i,
				j;

	for (i = 0; i < b->n; i++)
	{
		sy += s[i] * y[i];
		yy += y[i] * y[i];
	}
	if (!(sy > 0 && yy > 0))
		return;
	rho = 1 / sy;
	if (!b->scaled)
	{
		for (i = 0; i < b->n; i++)
			for (j = 0; j < b->n; j++)
				b->H[i][j] = (i == j) * sy / yy;
		b->scaled = true;
	}
	for (i = 0; i < b->n; i++)
	{
		Hy[i] = 0;
		for (j = 0; j < b->n; j++)
			Hy[i] += b->H[i][j] * y[j];
		yHy += y[i] * Hy[i];
	}
	for (i = 0; i < b->n; i++)
		for (j = 0; j < b->n; j++)
			b->H[i][j] += (1 + rho * yHy) * rho * s[i] * s[j] -
				rho * (Hy[i] * s[j] + s[i] * Hy[j]);
}

/*
 * Backtracking from a step of at most 2 in any coordinate (the models'
 * coordinates are log-parameters: a factor e^2 at a time) until f decreases
 * by the Armijo rule; false when no step of 40 halvings does.
 */
static bool
LineSearch(LoyaltyObjective fn, void *arg, int n, const double *theta, double f,
		   const double *d, double slope, double *tnew, double *gnew, double *fnew)
{
	double		dmax = 0,
				step = 1;
	int			i,
				tries;

	for (i = 0; i < n; i++)
		dmax = Max(dmax, fabs(d[i]));
	if (dmax > 2)
		step = 2 / dmax;
	for (tries = 0; tries < 40; tries++, step *= 0.5)
	{
		for (i = 0; i < n; i++)
			tnew[i] = theta[i] + step * d[i];
		*fnew = fn(tnew, gnew, arg);
		if (isfinite(*fnew) && *fnew <= f + 1e-4 * step * slope)
			return true;
	}
	return false;
}

static double
MaxAbs(const double *v, int n)
{
	double		m = 0;
	int			i;

	for (i = 0; i < n; i++)
		m = Max(m, fabs(v[i]));
	return m;
}

/*
 * Minimises fn from theta (n <= MINIMIZE_MAX_DIMS) by BFGS with a
 * backtracking line search, and stops when every gradient component is
 * below tolerance; when the decrease the next step promises, or the one
 * it makes (five times in a row), is below what fn's rounding can show:
 * then fn is as small as double arithmetic can tell; or when
 * theta leaves the box [lo, hi] (a likelihood growing towards the edge of
 * the parameter space: the caller reports it rather than following it for
 * ever).  theta and res describe the best point reached.
 */
void
LoyaltyMinimize(LoyaltyObjective fn, void *arg, int n, double *theta,
				const double *lo, const double *hi, double tolerance,
				MinimizeResult *res)
{
	Bfgs		b;
	double		g[MINIMIZE_MAX_DIMS],
				gnew[MINIMIZE_MAX_DIMS],
				d[MINIMIZE_MAX_DIMS],
				tnew[MINIMIZE_MAX_DIMS],
				s[MINIMIZE_MAX_DIMS],
				y[MINIMIZE_MAX_DIMS];
	double		f,
				fnew = 0;
	int			i,
				iter,
				stalled = 0;
	bool		outside = false,
				flat = false;

	Assert(n <= MINIMIZE_MAX_DIMS);
	b.n = n;
	BfgsReset(&b);
	f = fn(theta, g, arg);
	for (iter = 0; iter < 1000 && isfinite(f) && !outside; iter++)
	{
		double		slope;

		CHECK_FOR_INTERRUPTS();
		if (MaxAbs(g, n) < tolerance)
			break;
		slope = BfgsDirection(&b, g, d);
		/* a decrease below what f's rounding can show: as good as it gets */
		if (-slope < 1e-13 * Max(1.0, fabs(f)))
		{
			flat = true;
			break;
		}
		if (!LineSearch(fn, arg, n, theta, f, d, slope, tnew, gnew, &fnew))
			break;
		for (i = 0; i < n; i++)
		{
			s[i] = tnew[i] - theta[i];
			y[i] = gnew[i] - g[i];
			theta[i] = tnew[i];
			g[i] = gnew[i];
			outside |= theta[i] < lo[i] || theta[i] > hi[i];
		}
		BfgsUpdate(&b, s, y);
		stalled = (f - fnew <= 1e-15 * fabs(f)) ? stalled + 1 : 0;
		f = fnew;
		if (stalled >= 5)
			break;
	}
	res->f = f;
	res->iterations = iter;
	res->gradmax = MaxAbs(g, n);
	/*
	 * At a maximum the gradient is what the rounding of a mean over many
	 * customers leaves, about 1e-7; a flat stretch with more gradient than
	 * 1e-5 is a ridge the optimiser gave up on, not a maximum.
	 */
	res->converged = isfinite(f) && !outside &&
		(res->gradmax < tolerance || ((flat || stalled >= 5 || iter < 1000) && res->gradmax < 1e-5));
}

/*
 * LY093 when a fitted parameter lies outside [lo, hi]: the likelihood grew
 * towards the edge of the parameter space (no heterogeneity the data can
 * show, nobody dropping out, ...), so the "estimate" is only where the
 * optimiser stopped.
 */
void
LoyaltyCheckEstimate(const char *fit, const char *param, double v, double lo, double hi)
{
	if (v >= lo && v <= hi)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_FIT_FAILED),
			 errmsg("%s: the estimate of %s runs off to %s (%s)", fit, param,
					v > hi ? "infinity" : "zero", float8out_internal(v)),
			 errdetail("The likelihood keeps growing towards the edge of the parameter space: the data do not identify the model."),
			 errhint("Fit over more customers; a model needs customers who differ (in rates, dropout or spend) to estimate how they differ.")));
}

/*
 * LY093 when the best of the starts did not reach a point where the
 * gradient vanishes; the detail shows where it stopped.
 */
void
LoyaltyCheckConverged(const char *fit, const MinimizeResult *res, const char *where)
{
	if (res->converged)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_FIT_FAILED),
			 errmsg("%s did not converge", fit),
			 errdetail("It stopped at %s after %d iterations, with a gradient of %s left.",
					   where, res->iterations, float8out_internal(res->gradmax)),
			 errhint("With few customers the likelihood may keep growing towards the edge of the parameter space: fit over more customers.")));
}
