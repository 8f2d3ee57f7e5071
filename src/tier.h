/*
 * tier.h -- tiers: a program's ladder (cached with the rules, rules.c) and a
 * member's place on it, kept by the sale trigger (tier.c).
 */
#ifndef LOYALTY_TIER_H
#define LOYALTY_TIER_H

#include "loyalty.h"
#include "utils/date.h"

/* program.tier_window, in the order of loyalty_tier_window_names */
typedef enum LoyaltyTierWindow
{
	TIER_WINDOW_LIFETIME,
	TIER_WINDOW_ROLLING,
	TIER_WINDOW_CALENDAR_YEAR,
	TIER_WINDOW_ANNIVERSARY_YEAR
} LoyaltyTierWindow;

extern const char *const loyalty_tier_window_names[];

/* One rung of a ladder (a loyalty.tier row). */
typedef struct LoyaltyTier
{
	int32		tier_id;
	char	   *code;
	int32		rank;
	bool		has_min_spend;
	Datum		min_spend;		/* numeric */
	int32		min_visits;		/* 0: none */
	int64		min_points;		/* 0: none */
	bool		multiplies;		/* earn_multiplier <> 1 */
	Datum		earn_multiplier;	/* numeric */
	Datum		discount_pct;	/* numeric */
} LoyaltyTier;

/* A program's ladder, ordered by rank (tiers[0] is rank 0). */
typedef struct LoyaltyLadder
{
	int			ntiers;			/* 0: the program has no tiers */
	LoyaltyTier *tiers;
	LoyaltyTierWindow window;
	int32		window_days;
} LoyaltyLadder;

/* One day's figures of a member (a tier_day row), as a sale counts them. */
typedef struct TierDay
{
	DateADT		day;
	bool		in_table;		/* the row is in tier_day, at tid */
	bool		dirty;			/* changed: to be written */
	ItemPointerData tid;
	Datum		spend;			/* numeric, in the set's context */
	int64		points;
} TierDay;

/* A member's tier_day rows read or changed so far, ordered by day (tier_day.c). */
typedef struct TierDays
{
	MemoryContext cxt;			/* where days and their spends live */
	DateADT		known_from;		/* every row of the member from this day on is in days */
	DateADT		load_from;		/* a load reads from here (the window's start) */
	int			fetches;		/* days fetched one by one */
	int			ndays;
	int			maxdays;
	TierDay    *days;
} TierDays;

/* A member's tier and the running figures of the window of its latest sale. */
typedef struct MemberTier
{
	bool		exists;			/* a member_tier row is there */
	ItemPointerData tid;		/* where */
	const LoyaltyTier *tier;	/* the current tier */
	TimestampTz since;
	DateADT		held_until;
	DateADT		window_start;
	DateADT		last_day;
	Datum		spend;			/* numeric */
	int64		visits;
	int64		points;
	TierDays	days;			/* the member's days read or changed */
} MemberTier;

/* rules.c: the ladder of a program, copied into the caller's context */
extern void LoyaltyProgramLadder(int32 program_id, LoyaltyLadder *ladder);
extern DateADT LoyaltyLocalDate(TimestampTz t, const char *zone);

/* tier.c */
extern void LoyaltyTierPeriod(const LoyaltyLadder *ladder, DateADT anchor, DateADT day,
							  DateADT *start, DateADT *end);
extern void LoyaltyTierRead(const LoyaltyMember *m, const LoyaltyLadder *ladder,
							bool read_only, MemberTier *mt);
extern const LoyaltyTier *LoyaltyTierCountSale(const LoyaltyMember *m, const LoyaltyLadder *ladder,
											   MemberTier *mt, TimestampTz occurred_at,
											   Datum spend, int64 points, int64 sale_id);
extern void LoyaltyTierWriteRow(int64 member_id, int32 tier_id, MemberTier *mt, bool direct);

/* tier_day.c: a member's tier_day rows in memory */
extern void LoyaltyTierDaysInit(TierDays *d, DateADT known_from, DateADT load_from);
extern void LoyaltyTierDaysCopy(TierDays *dst, const TierDays *src, MemoryContext cxt);
extern void LoyaltyTierDaysFree(TierDays *d);
extern TierDay *LoyaltyTierDayGet(int64 member_id, TierDays *d, DateADT day, bool create);
extern void LoyaltyTierDaySet(TierDays *d, TierDay *day, Datum spend, int64 points, bool dirty);
extern void LoyaltyTierDaysSum(int64 member_id, const TierDays *d, DateADT from, DateADT to,
							   Datum *spend, int64 *points, int64 *visits);
extern void LoyaltyTierDaysWrite(int64 member_id, TierDays *d, bool direct);

/* tier_pending.c: a sale statement's member_tier and tier_day rows, written at its end */
extern bool LoyaltyTierPendingGet(int64 member_id, bool for_write, MemberTier *mt, int32 *tier_id);
extern bool LoyaltyTierDefer(int64 member_id, int32 tier_id, const MemberTier *mt);
extern void LoyaltyTierFlush(void);
extern const LoyaltyTier *LoyaltyTierCountReturn(const LoyaltyMember *m, const LoyaltyLadder *ladder,
								   TimestampTz sale_occurred_at, Datum refund, int64 points);

#endif							/* LOYALTY_TIER_H */
