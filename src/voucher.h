/*
 * voucher.h -- vouchers: codes (voucher_code.c), issuing and use at the till
 * (voucher.c).
 */
#ifndef VOUCHER_H
#define VOUCHER_H

#include "loyalty.h"

/* SQLSTATEs of vouchers: LY110-LY124 (README "Vouchers") */
#define ERRCODE_VOUCHER_MALFORMED_CODE	MAKE_SQLSTATE('L','Y','1','1','0')
#define ERRCODE_VOUCHER_CHECK_CHARACTER	MAKE_SQLSTATE('L','Y','1','1','1')
#define ERRCODE_VOUCHER_UNKNOWN			MAKE_SQLSTATE('L','Y','1','1','2')
#define ERRCODE_VOUCHER_UNKNOWN_TYPE	MAKE_SQLSTATE('L','Y','1','1','3')
#define ERRCODE_VOUCHER_EXPIRED			MAKE_SQLSTATE('L','Y','1','1','4')
#define ERRCODE_VOUCHER_NOT_YET_VALID	MAKE_SQLSTATE('L','Y','1','1','5')
#define ERRCODE_VOUCHER_WRONG_MEMBER	MAKE_SQLSTATE('L','Y','1','1','6')
#define ERRCODE_VOUCHER_WRONG_STORE		MAKE_SQLSTATE('L','Y','1','1','7')
#define ERRCODE_VOUCHER_WRONG_DAY		MAKE_SQLSTATE('L','Y','1','1','8')
#define ERRCODE_VOUCHER_BELOW_MINIMUM	MAKE_SQLSTATE('L','Y','1','1','9')
#define ERRCODE_VOUCHER_USED_UP			MAKE_SQLSTATE('L','Y','1','2','0')
#define ERRCODE_VOUCHER_ITEM_MISSING	MAKE_SQLSTATE('L','Y','1','2','1')
#define ERRCODE_VOUCHER_INVALID_VALUE	MAKE_SQLSTATE('L','Y','1','2','2')
#define ERRCODE_VOUCHER_NEEDS_CARD		MAKE_SQLSTATE('L','Y','1','2','3')
#define ERRCODE_VOUCHER_OTHER_PROGRAM	MAKE_SQLSTATE('L','Y','1','2','4')

/* A code: VOUCHER_CODE_RANDOM random characters and one check character. */
#define VOUCHER_CODE_RANDOM	12
#define VOUCHER_CODE_LENGTH	(VOUCHER_CODE_RANDOM + 1)

/* Why a text is not a voucher code (VoucherCodeParse). */
typedef enum VoucherCodeStatus
{
	VOUCHER_CODE_OK,
	VOUCHER_CODE_MALFORMED,		/* length, or a character not of the alphabet */
	VOUCHER_CODE_BAD_CHECK		/* the check character is wrong */
} VoucherCodeStatus;

/* voucher_code.c */
extern void VoucherCodeGenerate(char *code);
extern VoucherCodeStatus VoucherCodeParse(const char *text, char *code, char *expected_check);

/*
 * voucher.c: issue one voucher of a type to a member (0: a bearer voucher),
 * with its own value (a numeric Datum; 0: the type's), a later start (0:
 * now), the sale and rule that issued it (0: none).  Writes the voucher row
 * and its voucher_issued event without SQL (the type is read once per
 * statement).  Returns the code, palloc'd.  The caller holds no lock the
 * voucher needs: the type is locked FOR KEY SHARE when first read.
 */
extern char *VoucherIssue(int32 voucher_type_id, int64 member_id, Datum value,
						  TimestampTz valid_from, int64 sale_id, int32 rule_id);

#endif							/* VOUCHER_H */
