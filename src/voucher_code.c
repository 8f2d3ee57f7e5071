/*
 * voucher_code.c -- voucher codes: random, unambiguous, with a check
 * character.
 *
 * A code is 13 characters of a 31-character alphabet without the look-alikes
 * 0/O, 1/I/L (and without lower case: input is folded to upper case, and
 * hyphens and spaces are ignored, so "abcd-efgh-jkmn-p" reads as printed):
 *
 *     23456789ABCDEFGHJKMNPQRSTUVWXYZ      (values 0..30 in this order)
 *
 * The first 12 come from pg_strong_random (rejection sampling: no bias), so
 * 31^12, about 7.9e17 codes (59 bits).  The 13th is the check character:
 * with v_k the value of the character at position k (1-based), the code is
 * valid when  sum over k = 1..13 of k * v_k  is 0 modulo 31.  31 is prime
 * and the weights 1..13 are distinct and non-zero modulo 31, so every change
 * of one character (k * (v' - v) is never 0) and every swap of two different
 * characters, adjacent or not ((k - j) * (v_j - v_k) is never 0), is caught
 * before any look-up.
 */
#include "voucher.h"

#include "fmgr.h"
#include "utils/builtins.h"

static const char alphabet[] = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

#define ALPHABET_SIZE	31

/* The value of an upper-case character of the alphabet; -1 if it is not one. */
static int
CharValue(char c)
{
	const char *p = (c == '\0') ? NULL : strchr(alphabet, c);

	return p == NULL ? -1 : (int) (p - alphabet);
}

/* The check character for the first VOUCHER_CODE_RANDOM values. */
static char
CheckCharacter(const int *values)
{
	int			sum = 0;

	for (int k = 1; k <= VOUCHER_CODE_RANDOM; k++)
		sum = (sum + k * values[k - 1]) % ALPHABET_SIZE;

	/*
	 * 13 * c + sum = 0 (mod 31): c = -sum * 13^-1, and 13 * 12 = 156 = 5 * 31
	 * + 1, so 13^-1 = 12
	 */
	return alphabet[((ALPHABET_SIZE - sum) * 12) % ALPHABET_SIZE];
}

/*
 * A new code into code[VOUCHER_CODE_LENGTH + 1]: random characters and
 * their check character.
 */
void
VoucherCodeGenerate(char *code)
{
	int			values[VOUCHER_CODE_RANDOM];
	int			n = 0;

	while (n < VOUCHER_CODE_RANDOM)
	{
		uint8		bytes[16];

		if (!pg_strong_random(bytes, sizeof(bytes)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random voucher code")));
		/* 248 = 8 * 31: a byte below it is uniform modulo 31 */
		for (int i = 0; i < (int) sizeof(bytes) && n < VOUCHER_CODE_RANDOM; i++)
			if (bytes[i] < 8 * ALPHABET_SIZE)
				values[n++] = bytes[i] % ALPHABET_SIZE;
	}
	for (int k = 0; k < VOUCHER_CODE_RANDOM; k++)
		code[k] = alphabet[values[k]];
	code[VOUCHER_CODE_RANDOM] = CheckCharacter(values);
	code[VOUCHER_CODE_LENGTH] = '\0';
}

/*
 * Read a code as a till or a customer types it: hyphens and spaces dropped,
 * letters folded to upper case, into code[VOUCHER_CODE_LENGTH + 1].  With a
 * wrong check character, *expected_check is the right one.
 */
VoucherCodeStatus
VoucherCodeParse(const char *text, char *code, char *expected_check)
{
	int			values[VOUCHER_CODE_LENGTH];
	int			n = 0;

	for (const char *p = text; *p != '\0'; p++)
	{
		char		c = *p;

		if (c == '-' || c == ' ')
			continue;
		if (c >= 'a' && c <= 'z')
			c = c - 'a' + 'A';
		if (n == VOUCHER_CODE_LENGTH || (values[n] = CharValue(c)) < 0)
			return VOUCHER_CODE_MALFORMED;
		code[n++] = c;
	}
	if (n != VOUCHER_CODE_LENGTH)
		return VOUCHER_CODE_MALFORMED;
	code[n] = '\0';
	*expected_check = CheckCharacter(values);
	return *expected_check == code[VOUCHER_CODE_RANDOM] ? VOUCHER_CODE_OK : VOUCHER_CODE_BAD_CHECK;
}

/*
 * loyalty.voucher_code_is_valid(code): whether the text reads as a code with
 * the right check character (no look-up).
 */
PG_FUNCTION_INFO_V1(loyalty_voucher_code_is_valid);
Datum
loyalty_voucher_code_is_valid(PG_FUNCTION_ARGS)
{
	char		code[VOUCHER_CODE_LENGTH + 1];
	char		check;

	PG_RETURN_BOOL(VoucherCodeParse(text_to_cstring(PG_GETARG_TEXT_PP(0)), code, &check) == VOUCHER_CODE_OK);
}
