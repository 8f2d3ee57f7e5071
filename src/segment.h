/*
 * segment.h -- segments (src/segment.c, src/sql/segment.sql): the check and
 * the evaluation of a segment's predicate, and the member's current
 * segments read by the rules engine on the sale path.
 */
#ifndef LOYALTY_SEGMENT_H
#define LOYALTY_SEGMENT_H

#include "loyalty.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"

/* a segment predicate that is not one boolean expression over the features */
#define ERRCODE_LOYALTY_INVALID_PREDICATE	MAKE_SQLSTATE('L','Y','0','6','3')
/* a rule's segments name a segment its program does not have (segment.sql) */
#define ERRCODE_LOYALTY_UNKNOWN_SEGMENT		MAKE_SQLSTATE('L','Y','0','6','4')
/* a segment a rule targets deleted, renamed or moved (segment.sql) */
#define ERRCODE_LOYALTY_SEGMENT_IN_USE		MAKE_SQLSTATE('L','Y','0','6','5')
/* refresh_segments as of a moment before the latest refresh (segment.sql) */
#define ERRCODE_LOYALTY_REFRESH_OUT_OF_ORDER	MAKE_SQLSTATE('L','Y','0','6','6')
/* segment_migration from a day after its to day (segment.sql) */
#define ERRCODE_LOYALTY_MIGRATION_ORDER		MAKE_SQLSTATE('L','Y','0','6','7')
/* a segment whose run_as role the caller cannot act as, or that is gone */
#define ERRCODE_LOYALTY_SEGMENT_ROLE		MAKE_SQLSTATE('L','Y','0','6','8')

/* The segments a member is in now (ids, ascending), for the rules engine. */
typedef struct MemberSegments
{
	bool		known;			/* looked up (once per sale, when a rule asks) */
	int			n;
	int64	   *ids;
} MemberSegments;

/*
 * A probe of a member's rows of a membership table (segment_member,
 * audience_member) without SPI: fn sees each row until it returns false.
 */
typedef bool (*LoyaltyMembershipRow) (Relation rel, TupleTableSlot *slot, void *arg);
extern void LoyaltyProbeMembership(const char *table, const char *index, int64 member_id,
								   const int64 *group_id, bool read_only,
								   LoyaltyMembershipRow fn, void *arg);

extern void LoyaltyMemberSegments(int64 member_id, bool read_only, MemberSegments *ms);
extern bool LoyaltyInAnySegment(const MemberSegments *ms, const int64 *ids, int n);

#endif							/* LOYALTY_SEGMENT_H */
