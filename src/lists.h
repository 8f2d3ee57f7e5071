/*
 * lists.h -- SQLSTATEs of the analytics lists (src/lists.c and
 * src/sql/lists.sql): RFM, repurchase cohorts, activity, callbacks,
 * buyers_of and home stores.  The README lists them with the others.
 */
#ifndef LOYALTY_LISTS_H
#define LOYALTY_LISTS_H

#include "loyalty.h"

/* a period whose start is not before its end (repurchase's from_at, to_at) */
#define ERRCODE_LOYALTY_EMPTY_PERIOD		MAKE_SQLSTATE('L','Y','0','9','5')
/* a count of days or a half-life out of its range */
#define ERRCODE_LOYALTY_LENGTH_OUT_OF_RANGE	MAKE_SQLSTATE('L','Y','0','9','6')
/* a breakdown (by) the function does not have */
#define ERRCODE_LOYALTY_UNKNOWN_BREAKDOWN	MAKE_SQLSTATE('L','Y','0','9','7')
/* an RFM score outside 1..5 */
#define ERRCODE_LOYALTY_SCORE_OUT_OF_RANGE	MAKE_SQLSTATE('L','Y','0','9','8')
/* home_store: as_of or half_life not the same in every row of a group */
#define ERRCODE_LOYALTY_MIXED_REFERENCE		MAKE_SQLSTATE('L','Y','0','9','9')

#endif							/* LOYALTY_LISTS_H */
