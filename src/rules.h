/*
 * rules.h -- the earning-rules engine: a sale's basket, the compiled rules of
 * its program, and the award they make.
 */
#ifndef LOYALTY_RULES_H
#define LOYALTY_RULES_H

#include "loyalty.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

/* numeric arithmetic on Datums (rules.c, tier.c) */
static inline Datum
NumAdd(Datum a, Datum b)
{
	return DirectFunctionCall2(numeric_add, a, b);
}

static inline Datum
NumMul(Datum a, Datum b)
{
	return DirectFunctionCall2(numeric_mul, a, b);
}

static inline int
NumCmp(Datum a, Datum b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, a, b));
}

static inline Datum
NumInt(int64 v)
{
	return NumericGetDatum(int64_to_numeric(v));
}

static inline Datum
NumCopy(Datum a)
{
	return PointerGetDatum(DatumGetNumericCopy(a));
}

/*
 * Bounds of what a POS sends (README, "Limits"): lines per sale; decimals
 * and magnitude of every qty, amount and total; and the lines that count
 * toward the tolerance of the total (0.01 each).
 */
#define LOYALTY_MAX_SALE_LINES		10000
#define LOYALTY_MAX_DECIMALS		4
#define LOYALTY_MAX_AMOUNT_DIGITS	12	/* |value| < 10^12 */
#define LOYALTY_TOLERANCE_LINES		5	/* tolerance 0.01 x min(lines, 5) */

/* One line of a sale, parsed from its jsonb. */
typedef struct SaleLine
{
	char	   *sku;			/* NULL when absent */
	char	   *category;		/* NULL when absent */
	Datum		qty;			/* numeric */
	Datum		amount;			/* numeric */
	bool		excluded;		/* an exclude rule took it out of earning */
	Datum		base;			/* numeric: amount x points per unit, 0 if excluded */
} SaleLine;

typedef struct SaleBasket
{
	int			nlines;
	SaleLine   *lines;
	Datum		total;			/* numeric */
} SaleBasket;

/* What the rules know about a sale besides its lines. */
typedef struct SaleFacts
{
	LoyaltyMember *member;		/* program settings and member_id */
	const char *store;
	TimestampTz occurred_at;
	bool		read_only;		/* a quote: no locks, no counters written */
	const struct LoyaltyTier *tier; /* the member's tier before the sale; NULL: none */
} SaleFacts;

/* What one rule (or the base rate, rule_id 0) did for a sale. */
typedef struct RuleOutcome
{
	int32		rule_id;
	const char *code;
	const char *kind;
	bool		fired;
	int64		points;
	char	   *why;			/* why it did not fire, or how it was capped */
	bool		per_line;		/* points follow the lines (base, multiplier) */
	bool	   *matched;		/* per line: the lines this rule is about */
	Datum	   *line_points;	/* per line, exact numeric (per_line only) */
	bool		has_min_basket;
	Datum		min_basket;
	int32		voucher_type_id;	/* a voucher rule that fired: the type it issues; 0: none */
	const char *voucher_type;	/* its code */
	bool		has_voucher_value;	/* the voucher's own value (a return rule's) */
	Datum		voucher_value;	/* numeric */
	char	   *voucher_code;	/* the code issued; NULL: none yet (a quote) */
} RuleOutcome;

typedef struct SaleAward
{
	int64		points;
	LoyaltyRounding rounding;	/* the program's, at the sale */
	int			noutcomes;
	RuleOutcome *outcomes;		/* [0] is the base rate */
} SaleAward;

extern void LoyaltyParseLines(Jsonb *lines, Datum total, bool is_return,
							  SaleBasket *basket, bool *within);
extern void LoyaltyParseStoredLines(Jsonb *lines, bool is_return, SaleBasket *basket);
extern void LoyaltyEvaluateRules(const SaleFacts *facts, SaleBasket *basket,
								 SaleAward *award);
extern void LoyaltyEvaluateReturnRules(const SaleFacts *facts, TimestampTz sold_at,
									   const SaleBasket *returned, SaleAward *award);
extern Datum LoyaltyAwardJson(const SaleBasket *basket, const SaleAward *award);
extern int64 LoyaltyRemainingAward(Jsonb *award, const SaleBasket *original,
								   const Datum *left_amount, const Datum *left_qty);
extern int64 LoyaltyRoundPoints(Datum exact, LoyaltyRounding rounding);

/* building jsonb values without text (rules.c) */
extern void LoyaltyJsonbKey(JsonbParseState **st, const char *key);
extern void LoyaltyJsonbString(JsonbParseState **st, const char *s);
extern void LoyaltyJsonbInt(JsonbParseState **st, int64 n);

/* the tz database zone spelled exactly name, or NULL (rules.c) */
extern struct pg_tz *LoyaltyZone(const char *name, const char **canonical);

/* sale_trigger.c: a sale's event (outbox row and NOTIFY); the lock that
 * decides an anonymous sale's returns (and enrolments) one after the other */
extern void LoyaltySaleEvent(const char *kind, int64 member_id, int64 sale_id, int64 entry_id,
					  int64 points, const char *store, const char *pos_txn);
extern void LockAnonymousSale(int64 sale_id);

/* budget.c */
extern void LoyaltyBudgetFlush(void);
extern int64 LoyaltyBudgetTake(int32 rule_id, int64 budget, int64 member_id,
							   int64 wanted, bool read_only);

#endif							/* LOYALTY_RULES_H */
