/*
 * voucher_rule.h -- the vouchers that voucher rules issue from the sale
 * trigger (src/voucher_rule.c): on a sale, and on a return (on_return, the
 * Christmas tree).
 */
#ifndef LOYALTY_VOUCHER_RULE_H
#define LOYALTY_VOUCHER_RULE_H

#include "rules.h"

/* SQLSTATEs of voucher rules: LY125-LY129 (README "Voucher rules") */
/* LY125 (voucher_rule.sql): a rule's voucher_type is no type of its program */
/* LY126 (voucher_rule.sql): a return rule's voucher type is not of kind amount */
/* issue_voucher of a type limited to an audience to someone not in it */
#define ERRCODE_LOYALTY_VOUCHER_AUDIENCE	MAKE_SQLSTATE('L','Y','1','2','7')
/* LY128 (voucher_rule.sql): a voucher type's audience is no audience of its program */
/* LY129 (voucher_rule.sql): an audience a voucher type names deleted, renamed or moved */

extern Datum LoyaltyIssueRuleVouchers(SaleAward *award, int64 member_id, int64 sale_id);
extern Datum LoyaltyReturnVouchers(LoyaltyMember *m, const char *store, TimestampTz at,
								   TimestampTz sold_at, const SaleBasket *returned,
								   int64 sale_id, Datum *award);
extern void LoyaltyVoucherAudienceRequire(int32 voucher_type_id, const char *type_code,
										  int64 member_id);

#endif							/* LOYALTY_VOUCHER_RULE_H */
