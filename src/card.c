/*
 * card.c -- the loyalty.card type: membership card numbers.
 *
 * A card number has 8 to 19 ASCII digits, the last of which is a Luhn
 * (ISO/IEC 7812) check digit.  Input may carry leading and trailing
 * whitespace, and single spaces or hyphens between digit groups; they are
 * normalised away, so "4000 0000-0000 0002" is stored and printed as
 * "4000000000000002".
 *
 * Storage is a pass-by-value int64, so that the SQL script can reuse the
 * int8 support functions (int8eq, btint8cmp, hashint8, ...) as contrib/isn
 * does.  Leading zeros are significant ("0012345674" and "12345674" are
 * different cards), so the number of digits is part of the encoding.  With
 * L the number of digits and body the integer formed by the first L - 1
 * digits (the check digit is dropped: it is derivable):
 *
 *		value = CardOffset[L] + body
 *		CardOffset[8] = 0,  CardOffset[L + 1] = CardOffset[L] + 10^(L - 1)
 *
 * This is a bijection between valid card numbers and the integers
 * [0, CardOffset[20]), where CardOffset[20] = 1111111111110000000 (about
 * 1.111e18), so every value is non-negative and well inside int64.  The
 * int64 order is therefore: shorter card numbers first, then card numbers of
 * the same length numerically (which, at a fixed length, is also their
 * textual order).
 */
#include "loyalty.h"

#include <ctype.h>

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#define CARD_MIN_DIGITS 8
#define CARD_MAX_DIGITS 19

/* CardOffset[L] for L = 8 .. 20; CardOffset[20] is the end of the range */
static const int64 CardOffset[CARD_MAX_DIGITS + 2] = {
	0, 0, 0, 0, 0, 0, 0, 0,
	INT64CONST(0),				/* 8 digits */
	INT64CONST(10000000),		/* 9 */
	INT64CONST(110000000),		/* 10 */
	INT64CONST(1110000000),		/* 11 */
	INT64CONST(11110000000),	/* 12 */
	INT64CONST(111110000000),	/* 13 */
	INT64CONST(1111110000000),	/* 14 */
	INT64CONST(11111110000000), /* 15 */
	INT64CONST(111111110000000),	/* 16 */
	INT64CONST(1111111110000000),	/* 17 */
	INT64CONST(11111111110000000),	/* 18 */
	INT64CONST(111111111110000000), /* 19 */
	INT64CONST(1111111111110000000) /* end of range */
};

#define CARD_VALUE_END	(CardOffset[CARD_MAX_DIGITS + 1])

/* powers of ten that fit in int64 and that we need: 10^0 .. 10^18 */
static const int64 CardPow10[CARD_MAX_DIGITS] = {
	INT64CONST(1),
	INT64CONST(10),
	INT64CONST(100),
	INT64CONST(1000),
	INT64CONST(10000),
	INT64CONST(100000),
	INT64CONST(1000000),
	INT64CONST(10000000),
	INT64CONST(100000000),
	INT64CONST(1000000000),
	INT64CONST(10000000000),
	INT64CONST(100000000000),
	INT64CONST(1000000000000),
	INT64CONST(10000000000000),
	INT64CONST(100000000000000),
	INT64CONST(1000000000000000),
	INT64CONST(10000000000000000),
	INT64CONST(100000000000000000),
	INT64CONST(1000000000000000000)
};

/* Outcome of ParseCard */
typedef enum CardParseStatus
{
	CARD_PARSE_OK,
	CARD_PARSE_BAD_CHAR,		/* a character that is no digit or separator */
	CARD_PARSE_LEADING_SEP,		/* a separator before the first digit */
	CARD_PARSE_TRAILING_SEP,	/* a separator after the last digit */
	CARD_PARSE_DOUBLE_SEP,		/* two separators in a row */
	CARD_PARSE_BAD_LENGTH,		/* fewer than 8 or more than 19 digits */
	CARD_PARSE_BAD_CHECK		/* the Luhn check digit is wrong */
} CardParseStatus;

/* What ParseCard found, for the error report */
typedef struct CardParseResult
{
	int64		value;			/* the encoded card, if CARD_PARSE_OK */
	int			offset;			/* byte offset of the offending character */
	int			ndigits;		/* number of digits in the input */
	int			check;			/* the check digit the number should have */
} CardParseResult;

static void ReportCardParseError(const char *str, CardParseStatus status,
								 const CardParseResult *res) pg_attribute_noreturn();

/*
 * Luhn check digit for the n digits (ASCII) in digits: double every second
 * digit counting from the rightmost one, sum the digits of the products and
 * of the other digits, and pick the digit that brings the sum to a multiple
 * of ten.
 */
static int
LuhnCheckDigit(const char *digits, int n)
{
	int			sum = 0;
	bool		twice = true;

	for (int i = n - 1; i >= 0; i--)
	{
		int			d = digits[i] - '0';

		if (twice)
		{
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
		twice = !twice;
	}
	return (10 - sum % 10) % 10;
}

/* Is c an ASCII digit?  (isdigit() may be locale-dependent.) */
static inline bool
IsCardDigit(char c)
{
	return c >= '0' && c <= '9';
}

/* Is c one of the separators allowed between digit groups? */
static inline bool
IsCardSeparator(char c)
{
	return c == ' ' || c == '-';
}

/*
 * Parse a card number; never raises an error.  On success fill res->value
 * and return CARD_PARSE_OK; otherwise return what is wrong, with the details
 * ReportCardParseError needs in res.  Shared by card_in, which reports the
 * problem, and loyalty_card_is_valid, which just answers false.
 */
static CardParseStatus
ParseCard(const char *str, CardParseResult *res)
{
	char		digits[CARD_MAX_DIGITS];
	const char *p = str;
	const char *end;
	bool		after_sep = false;
	int64		body = 0;

	res->value = 0;
	res->offset = 0;
	res->ndigits = 0;
	res->check = 0;

	/* leading and trailing whitespace is allowed, as in int8in */
	while (*p && isspace((unsigned char) *p))
		p++;
	end = p + strlen(p);
	while (end > p && isspace((unsigned char) end[-1]))
		end--;

	for (; p < end; p++)
	{
		if (IsCardDigit(*p))
		{
			if (res->ndigits < CARD_MAX_DIGITS)
				digits[res->ndigits] = *p;
			res->ndigits++;
			after_sep = false;
		}
		else if (IsCardSeparator(*p))
		{
			res->offset = p - str;
			if (res->ndigits == 0)
				return CARD_PARSE_LEADING_SEP;
			if (after_sep)
				return CARD_PARSE_DOUBLE_SEP;
			if (p + 1 == end)
				return CARD_PARSE_TRAILING_SEP;
			after_sep = true;
		}
		else
		{
			res->offset = p - str;
			return CARD_PARSE_BAD_CHAR;
		}
	}

	if (res->ndigits < CARD_MIN_DIGITS || res->ndigits > CARD_MAX_DIGITS)
		return CARD_PARSE_BAD_LENGTH;

	res->check = LuhnCheckDigit(digits, res->ndigits - 1);
	if (digits[res->ndigits - 1] - '0' != res->check)
		return CARD_PARSE_BAD_CHECK;

	for (int i = 0; i < res->ndigits - 1; i++)
		body = body * 10 + (digits[i] - '0');
	res->value = CardOffset[res->ndigits] + body;

	return CARD_PARSE_OK;
}

/*
 * Raise the error for a failed ParseCard(str).  Positions in the details are
 * 1-based character positions in the whole input string.
 */
static void
ReportCardParseError(const char *str, CardParseStatus status,
					 const CardParseResult *res)
{
	int			pos = pg_mbstrlen_with_len(str, res->offset) + 1;

	switch (status)
	{
		case CARD_PARSE_OK:
			break;
		case CARD_PARSE_BAD_CHAR:
			{
				int			len = pg_mblen(str + res->offset);

				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("invalid input syntax for type %s: \"%s\"",
								"card", str),
						 errdetail("Unexpected character \"%.*s\" at position %d.",
								   len, str + res->offset, pos),
						 errhint("A card number consists of digits, optionally grouped by single spaces or hyphens.")));
				break;
			}
		case CARD_PARSE_LEADING_SEP:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s: \"%s\"",
							"card", str),
					 errdetail("Separator \"%c\" at position %d comes before the first digit. Separators must stand alone between digit groups.",
							   str[res->offset], pos)));
			break;
		case CARD_PARSE_TRAILING_SEP:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s: \"%s\"",
							"card", str),
					 errdetail("Separator \"%c\" at position %d comes after the last digit. Separators must stand alone between digit groups.",
							   str[res->offset], pos)));
			break;
		case CARD_PARSE_DOUBLE_SEP:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s: \"%s\"",
							"card", str),
					 errdetail("Separator \"%c\" at position %d follows another separator. Separators must stand alone between digit groups.",
							   str[res->offset], pos)));
			break;
		case CARD_PARSE_BAD_LENGTH:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s: \"%s\"",
							"card", str),
					 errdetail_plural("The card number has %d digit, but card numbers have %d to %d digits.",
									  "The card number has %d digits, but card numbers have %d to %d digits.",
									  res->ndigits,
									  res->ndigits, CARD_MIN_DIGITS,
									  CARD_MAX_DIGITS)));
			break;
		case CARD_PARSE_BAD_CHECK:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid check digit for card number: \"%s\", should be %d",
							str, res->check)));
			break;
	}
	elog(ERROR, "unexpected card parse status %d", (int) status);
}

/*
 * Format the encoded card value into buf (at least CARD_MAX_DIGITS + 1
 * bytes).  The value must be within [0, CARD_VALUE_END).
 */
static void
CardToString(int64 value, char *buf)
{
	int			ndigits = CARD_MIN_DIGITS;
	int64		body;

	if (value < 0 || value >= CARD_VALUE_END)
		elog(ERROR, "card value " INT64_FORMAT " is out of range", value);

	while (value >= CardOffset[ndigits + 1])
		ndigits++;
	body = value - CardOffset[ndigits];

	/* the body, zero-padded to ndigits - 1 digits */
	for (int i = ndigits - 2; i >= 0; i--)
	{
		buf[i] = '0' + (char) (body % 10);
		body /= 10;
	}
	buf[ndigits - 1] = '0' + (char) LuhnCheckDigit(buf, ndigits - 1);
	buf[ndigits] = '\0';
}

/*
 * card_in -- text input: digits with optional single-space or hyphen
 * separators, surrounding whitespace allowed.
 */
PG_FUNCTION_INFO_V1(card_in);
Datum
card_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	CardParseResult res;
	CardParseStatus status;

	status = ParseCard(str, &res);
	if (status != CARD_PARSE_OK)
		ReportCardParseError(str, status, &res);

	PG_RETURN_INT64(res.value);
}

/*
 * card_out -- text output: the plain digits, check digit included.
 */
PG_FUNCTION_INFO_V1(card_out);
Datum
card_out(PG_FUNCTION_ARGS)
{
	int64		value = PG_GETARG_INT64(0);
	char	   *buf = palloc(CARD_MAX_DIGITS + 1);

	CardToString(value, buf);
	PG_RETURN_CSTRING(buf);
}

/*
 * card_recv -- binary input: the encoded int64, which must be in range.
 */
PG_FUNCTION_INFO_V1(card_recv);
Datum
card_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int64		value = pq_getmsgint64(buf);

	if (value < 0 || value >= CARD_VALUE_END)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external card value: %lld",
						(long long) value),
				 errdetail("Binary card values must be between 0 and %lld.",
						   (long long) (CARD_VALUE_END - 1))));

	PG_RETURN_INT64(value);
}

/*
 * card_send -- binary output: the encoded int64.
 */
PG_FUNCTION_INFO_V1(card_send);
Datum
card_send(PG_FUNCTION_ARGS)
{
	int64		value = PG_GETARG_INT64(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, value);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * loyalty_card_issue(prefix text, serial bigint, length integer) -> card
 *
 * The digits of prefix, then serial zero-padded to the length - 1 -
 * length(prefix) digits left, then the Luhn check digit.
 */
PG_FUNCTION_INFO_V1(loyalty_card_issue);
Datum
loyalty_card_issue(PG_FUNCTION_ARGS)
{
	char	   *prefix = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		serial = PG_GETARG_INT64(1);
	int32		length = PG_GETARG_INT32(2);
	int			prefixlen = strlen(prefix);
	int			avail;
	int64		body = 0;

	for (int i = 0; i < prefixlen; i++)
	{
		if (!IsCardDigit(prefix[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid card number prefix: \"%s\"", prefix),
					 errdetail("Unexpected character \"%.*s\" at position %d; a prefix consists of digits only.",
							   pg_mblen(prefix + i), prefix + i,
							   pg_mbstrlen_with_len(prefix, i) + 1)));
	}

	if (length < CARD_MIN_DIGITS || length > CARD_MAX_DIGITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid card number length: %d", length),
				 errdetail("Card numbers have %d to %d digits.",
						   CARD_MIN_DIGITS, CARD_MAX_DIGITS)));

	if (prefixlen > length - 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("card number prefix \"%s\" is too long for length %d",
						prefix, length),
				 errdetail_plural("The prefix has %d digit, but a card number of %d digits has room for at most %d before the check digit.",
								  "The prefix has %d digits, but a card number of %d digits has room for at most %d before the check digit.",
								  prefixlen,
								  prefixlen, length, length - 1)));

	avail = length - 1 - prefixlen;

	if (serial < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("card serial number %lld is out of range",
						(long long) serial),
				 errdetail("Serial numbers cannot be negative.")));
	if (serial >= CardPow10[avail])
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("card serial number %lld is out of range",
						(long long) serial),
				 errdetail_plural("A card number of %d digits with prefix \"%s\" leaves %d digit for the serial number.",
								  "A card number of %d digits with prefix \"%s\" leaves %d digits for the serial number.",
								  avail,
								  length, prefix, avail)));

	/* body = prefix digits followed by avail digits of serial */
	for (int i = 0; i < prefixlen; i++)
		body = body * 10 + (prefix[i] - '0');
	body = body * CardPow10[avail] + serial;

	PG_RETURN_INT64(CardOffset[length] + body);
}

/*
 * loyalty_card_is_valid(text) -> boolean
 *
 * Whether card_in would accept the text; never raises an error.
 */
PG_FUNCTION_INFO_V1(loyalty_card_is_valid);
Datum
loyalty_card_is_valid(PG_FUNCTION_ARGS)
{
	char	   *str = text_to_cstring(PG_GETARG_TEXT_PP(0));
	CardParseResult res;

	PG_RETURN_BOOL(ParseCard(str, &res) == CARD_PARSE_OK);
}
