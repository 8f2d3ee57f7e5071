/*
 * analytics.h -- shared parts of the analytics aggregates and models:
 * local days and sets of them (dayset.c), the state of the model fits
 * (fitstate.c), special functions and the optimiser (numeric.c).
 */
#ifndef LOYALTY_ANALYTICS_H
#define LOYALTY_ANALYTICS_H

#include "loyalty.h"

#include "lib/stringinfo.h"
#include "utils/palloc.h"

/* dayset.c */
extern int32 LoyaltyLocalDay(TimestampTz ts);
extern void LoyaltyReadBuffer(StringInfo buf, const char *data, int len);
extern void LoyaltySortInt32(int32 *a, int32 n);

/*
 * A set of day numbers (days since 2000-01-01).  days[0 .. nsorted) is
 * sorted and free of duplicates; days[nsorted .. n) are days added out of
 * order, merged in by DaySetCompact.  Memory: 4 bytes per distinct day, at
 * most twice that between compactions; never per row.  The first
 * DAYSET_LOCAL days live in the struct (no pointer to chase per row for the
 * few days most customers have); a DaySet is never copied by value.
 */
#define DAYSET_LOCAL 8

typedef struct DaySet
{
	int32	   *days;			/* local, or palloc'd beyond DAYSET_LOCAL */
	int32		n;
	int32		nsorted;
	int32		cap;
	int32		local[DAYSET_LOCAL];	/* the first days, in the state itself */
} DaySet;

extern void DaySetAdd(DaySet *set, int32 day, MemoryContext cxt);
extern void DaySetCompact(DaySet *set);
extern void DaySetMerge(DaySet *dst, DaySet *src, MemoryContext cxt);
extern void DaySetSend(StringInfo buf, DaySet *set);
extern void DaySetRecv(StringInfo buf, DaySet *set, MemoryContext cxt);

/* fitstate.c: the state of bgnbd_fit and gg_fit */
#define FIT_DIMS 3

typedef struct FitPoint
{
	double		v[FIT_DIMS];	/* bgnbd: x, t_x, t; gg: x, m, 0 */
	int64		count;			/* customers with exactly these values */
} FitPoint;

typedef struct FitState
{
	FitPoint   *points;
	int64		n;				/* points in use */
	int64		nsorted;		/* points[0 .. nsorted) sorted, distinct */
	int64		cap;
} FitState;

extern FitState *FitStateAdd(FunctionCallInfo fcinfo, FitState *state,
							 const double *v);
extern void FitStateCompact(FitState *state);
extern int64 FitStateCustomers(FitState *state);

/* numeric.c */
extern double LoyaltyDigamma(double x);
extern double LoyaltyLogBeta(double a, double b);
extern double LoyaltyBetaReg(double x, double a, double b);

/*
 * The objective of LoyaltyMinimize: returns f(theta) and fills grad; a
 * value that is not finite means "outside where f can be evaluated".
 */
typedef double (*LoyaltyObjective) (const double *theta, double *grad, void *arg);

#define MINIMIZE_MAX_DIMS 4

typedef struct MinimizeResult
{
	double		f;				/* the objective at theta */
	double		gradmax;		/* largest |gradient| component there */
	int			iterations;
	bool		converged;		/* gradmax below the tolerance, or no decrease
								 * left that f's rounding could show and a
								 * gradient below 1e-5 */
} MinimizeResult;

extern void LoyaltyMinimize(LoyaltyObjective fn, void *arg, int n, double *theta,
							const double *lo, const double *hi, double tolerance,
							MinimizeResult *res);
extern void LoyaltyCheckEstimate(const char *fit, const char *param, double v,
								 double lo, double hi);
extern void LoyaltyCheckConverged(const char *fit, const MinimizeResult *res,
								  const char *where);

/* bgnbd.c */
extern void LoyaltyReadParams(HeapTupleHeader row, int n, const char *const *names,
							  const char *type, double *out);
extern void LoyaltyCheckHistory(int32 x, double t_x, double t, const char *what);
typedef struct BgnbdParams
{
	double		r,
				alpha,
				a,
				b;
} BgnbdParams;

extern BgnbdParams LoyaltyReadBgnbd(HeapTupleHeader row);
extern double LoyaltyBgnbdPAlive(const BgnbdParams *p, int32 x, double t_x, double t);
extern double LoyaltyBgnbdAliveExpectation(const BgnbdParams *p, int32 x, double t, double h);

#endif							/* LOYALTY_ANALYTICS_H */
