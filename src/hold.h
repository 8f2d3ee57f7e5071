/*
 * hold.h -- tender holds (hold.c): points a POS authorized, then captured,
 * voided or let expire.
 */
#ifndef LOYALTY_HOLD_H
#define LOYALTY_HOLD_H

#include "loyalty.h"

#define ERRCODE_LOYALTY_UNKNOWN_HOLD		MAKE_SQLSTATE('L','Y','1','0','0')
#define ERRCODE_LOYALTY_HOLD_VOIDED			MAKE_SQLSTATE('L','Y','1','0','1')
#define ERRCODE_LOYALTY_HOLD_CAPTURED		MAKE_SQLSTATE('L','Y','1','0','2')
#define ERRCODE_LOYALTY_HOLD_EXPIRED		MAKE_SQLSTATE('L','Y','1','0','3')
#define ERRCODE_LOYALTY_CAPTURE_EXCEEDS_HOLD	MAKE_SQLSTATE('L','Y','1','0','4')
#define ERRCODE_LOYALTY_CAPTURE_MISMATCH	MAKE_SQLSTATE('L','Y','1','0','5')

extern Datum LoyaltyOpenHoldIds(int64 member_id, int64 open_holds, TimestampTz *oldest);
extern int64 LoyaltyReleaseLapsedHolds(LoyaltyMember *m, TimestampTz at, int64 *points);
extern int64 LoyaltyTakeFromHolds(const LoyaltyMember *m, int64 except_hold, Datum lot_ids,
								  Datum lot_points);

#endif							/* LOYALTY_HOLD_H */
