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

extern Datum LoyaltyIssueRuleVouchers(SaleAward *award, int64 member_id, int64 sale_id);
extern Datum LoyaltyReturnVouchers(LoyaltyMember *m, const char *store, TimestampTz at,
								   TimestampTz sold_at, const SaleBasket *returned,
								   int64 sale_id, Datum *award);

#endif							/* LOYALTY_VOUCHER_RULE_H */
