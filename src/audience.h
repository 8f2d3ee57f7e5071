/*
 * audience.h -- targeted offers (src/audience.c, src/sql/audience.sql): the
 * audience an earning rule (and later a voucher type) is limited to, as it
 * is compiled from the configuration, and the sale path's check of one
 * member against it.
 */
#ifndef LOYALTY_AUDIENCE_H
#define LOYALTY_AUDIENCE_H

#include "loyalty.h"
#include "executor/spi.h"

/* SQLSTATEs of audience.sql (LY130-LY134), raised there; listed here */
/* an audience code its program does not have (a rule, audience_add, clip_offer) */
#define ERRCODE_LOYALTY_UNKNOWN_AUDIENCE	MAKE_SQLSTATE('L','Y','1','3','0')
/* an audience a rule names deleted, renamed or moved */
#define ERRCODE_LOYALTY_AUDIENCE_IN_USE		MAKE_SQLSTATE('L','Y','1','3','1')
/* a member added to an audience of another program */
#define ERRCODE_LOYALTY_AUDIENCE_PROGRAM	MAKE_SQLSTATE('L','Y','1','3','2')
/* clip_offer by a member not in the audience */
#define ERRCODE_LOYALTY_NOT_IN_AUDIENCE		MAKE_SQLSTATE('L','Y','1','3','3')
/* clip_offer of an audience without opt-in, or whose window has ended */
#define ERRCODE_LOYALTY_NOT_CLIPPABLE		MAKE_SQLSTATE('L','Y','1','3','4')

/*
 * How a configuration query reads the audience a row names by code
 * (rule.audience; a voucher type's likewise) for LoyaltyCompileAudience:
 * LOYALTY_AUDIENCE_JOIN(program column, code column) after its FROM item,
 * LOYALTY_AUDIENCE_COLUMNS(code column) in its select list (whether one is
 * named, its id, opt_in, window and code).
 */
#define LOYALTY_AUDIENCE_JOIN(program, code) \
	" LEFT JOIN (SELECT program_id AS aud_program, code AS aud_code, audience_id AS aud_id, " \
	"opt_in AS aud_opt_in, valid_from AS aud_from, valid_to AS aud_to FROM loyalty.audience) aud " \
	"ON aud.aud_program OPERATOR(pg_catalog.=) " program \
	" AND aud.aud_code OPERATOR(pg_catalog.=) " code " "
#define LOYALTY_AUDIENCE_COLUMNS(code) \
	code " IS NOT NULL, aud.aud_id, aud.aud_opt_in, aud.aud_from, aud.aud_to, " code
#define LOYALTY_AUDIENCE_NCOLUMNS 6

/* An audience as compiled into a rule: named false when there is none. */
typedef struct LoyaltyAudienceRef
{
	bool		named;			/* NULL audience: every member */
	bool		exists;			/* false: the code names no audience, no member matches */
	int64		audience_id;
	bool		opt_in;			/* members count only once they clipped it */
	bool		has_valid_from;
	TimestampTz valid_from;
	bool		has_valid_to;
	TimestampTz valid_to;
	char	   *code;
} LoyaltyAudienceRef;

extern void LoyaltyCompileAudience(HeapTuple tup, TupleDesc desc, int col, LoyaltyAudienceRef *a);
extern char *LoyaltyAudienceFails(const LoyaltyAudienceRef *a, int64 member_id, TimestampTz at,
								  bool read_only);

#endif							/* LOYALTY_AUDIENCE_H */
