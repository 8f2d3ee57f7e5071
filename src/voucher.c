/*
 * voucher.c -- issuing vouchers: VoucherIssue and loyalty.issue_voucher.
 *
 * Issuing (VoucherIssue) is on two hot paths: a bulk issue in one statement
 * (SELECT loyalty.issue_voucher('t', card) FROM ...) and the sale trigger's
 * voucher rules.  So a voucher is written without SQL: the type is read (and
 * locked FOR KEY SHARE, so it cannot be deleted under its vouchers) once per
 * statement and command, the card resolved by index look-ups
 * (LoyaltyResolveCard), and the voucher row and its voucher_issued event
 * inserted by writer.c, as the ledger's rows are.  The tables stay open to
 * the end of the transaction (writer.c closes them before commit): a bulk
 * issue opens them once.
 *
 * Using a voucher at the till is voucher_use.c.
 */
#include "voucher.h"
#include "voucher_rule.h"
#include "rules.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "compat.h"

typedef enum VoucherKind		/* voucher_type.kind */
{
	VOUCHER_AMOUNT,
	VOUCHER_PERCENT,
	VOUCHER_POINTS,
	VOUCHER_ITEM
} VoucherKind;

static const char *const voucher_kind_names[] = {"amount", "percent", "points", "item", NULL};

/* A voucher type as issuing needs it. */
typedef struct VoucherType
{
	int32		voucher_type_id;
	int32		program_id;
	char	   *code;
	VoucherKind kind;
	int32		valid_days;		/* 0: none */
	bool		has_valid_from;
	TimestampTz valid_from;
	bool		has_valid_to;
	TimestampTz valid_to;
	int32		max_uses;
	bool		member_bound;
} VoucherType;

/*
 * The type last read, valid for one command of one transaction: a bulk
 * issue reads it once; a later statement (or a change to the row in this
 * transaction) reads it again.
 */
static VoucherType cached_type;
static bool cached_valid = false;
static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
static CommandId cached_cid = InvalidCommandId;
static MemoryContext cached_cxt = NULL;
/* the cached type was found by code in any program (TypeByCode with 0) */
static bool cached_by_any = false;

#define TYPE_COLUMNS \
	"SELECT voucher_type_id, program_id, code, kind, valid_days, valid_from, valid_to, " \
	"max_uses, member_bound FROM loyalty.voucher_type "

static LoyaltyPlan type_by_id_plan = {
	TYPE_COLUMNS "WHERE voucher_type_id OPERATOR(pg_catalog.=) $1 FOR KEY SHARE",
	1, {INT4OID}
};

/* $1 0: in any program (a bearer voucher without a program named) */
static LoyaltyPlan type_by_code_plan = {
	TYPE_COLUMNS "WHERE code OPERATOR(pg_catalog.=) $2 "
	"AND ($1 OPERATOR(pg_catalog.=) 0 OR program_id OPERATOR(pg_catalog.=) $1) "
	"ORDER BY program_id LIMIT 2 FOR KEY SHARE",
	2, {INT4OID, TEXTOID}
};

static LoyaltyPlan program_by_code_plan = {
	"SELECT program_id FROM loyalty.program WHERE code OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};

static LoyaltyPlan insert_voucher_plan = {
	"INSERT INTO loyalty.voucher (code, voucher_type_id, member_id, value, issued_at, valid_from, "
	"valid_to, uses_left, issued_by_sale, issued_by_rule) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
	10, {TEXTOID, INT4OID, INT8OID, NUMERICOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	INT4OID, INT8OID, INT4OID}
};

static bool
CacheCurrent(void)
{
	return cached_valid && cached_lxid == LY_MY_LXID && cached_cid == GetCurrentCommandId(false);
}

/* Fill the cache from the first row of SPI_tuptable. */
static void
CacheTypeRow(void)
{
	SPITupleTable *tt = SPI_tuptable;
	HeapTuple	row = tt->vals[0];
	bool		isnull;
	Datum		d;
	MemoryContext old;

	if (cached_cxt == NULL)
		cached_cxt = AllocSetContextCreate(TopMemoryContext, "loyalty voucher type",
										   ALLOCSET_SMALL_SIZES);
	MemoryContextReset(cached_cxt);
	cached_valid = false;
	old = MemoryContextSwitchTo(cached_cxt);
	cached_type.voucher_type_id = DatumGetInt32(SPI_getbinval(row, tt->tupdesc, 1, &isnull));
	cached_type.program_id = DatumGetInt32(SPI_getbinval(row, tt->tupdesc, 2, &isnull));
	cached_type.code = SPI_getvalue(row, tt->tupdesc, 3);
	cached_type.kind = LoyaltyParseName(SPI_getvalue(row, tt->tupdesc, 4), voucher_kind_names,
										"voucher kind");
	d = SPI_getbinval(row, tt->tupdesc, 5, &isnull);
	cached_type.valid_days = isnull ? 0 : DatumGetInt32(d);
	d = SPI_getbinval(row, tt->tupdesc, 6, &isnull);
	cached_type.has_valid_from = !isnull;
	cached_type.valid_from = isnull ? 0 : DatumGetTimestampTz(d);
	d = SPI_getbinval(row, tt->tupdesc, 7, &isnull);
	cached_type.has_valid_to = !isnull;
	cached_type.valid_to = isnull ? 0 : DatumGetTimestampTz(d);
	cached_type.max_uses = DatumGetInt32(SPI_getbinval(row, tt->tupdesc, 8, &isnull));
	cached_type.member_bound = DatumGetBool(SPI_getbinval(row, tt->tupdesc, 9, &isnull));
	MemoryContextSwitchTo(old);
	cached_lxid = LY_MY_LXID;
	cached_cid = GetCurrentCommandId(false);
	cached_valid = true;
	cached_by_any = false;
}

/* The type by id, read once per command.  Inside SPI. */
static const VoucherType *
TypeById(int32 voucher_type_id)
{
	Datum		arg = Int32GetDatum(voucher_type_id);

	if (CacheCurrent() && cached_type.voucher_type_id == voucher_type_id)
		return &cached_type;
	LoyaltyExecute(&type_by_id_plan, &arg, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_VOUCHER_UNKNOWN_TYPE),
				 errmsg("voucher type %d does not exist", voucher_type_id)));
	CacheTypeRow();
	return &cached_type;
}

/*
 * The type by code in a program (0: in any, which must then have one of
 * that code: LY113 otherwise).  Inside SPI.
 */
static const VoucherType *
TypeByCode(int32 program_id, const char *code)
{
	Datum		args[2];

	/*
	 * Without a program, only a type found without one will do: the type of
	 * a card's program, cached by an earlier call of the same command, would
	 * hide that the code is in several programs (LY113).
	 */
	if (CacheCurrent() && strcmp(cached_type.code, code) == 0 &&
		(program_id == 0 ? cached_by_any : cached_type.program_id == program_id))
		return &cached_type;
	args[0] = Int32GetDatum(program_id);
	args[1] = CStringGetTextDatum(code);
	LoyaltyExecute(&type_by_code_plan, args, NULL, false, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_VOUCHER_UNKNOWN_TYPE),
				 errmsg("voucher type \"%s\" does not exist", code),
				 program_id != 0 ? errdetail("The program of the card has no voucher type of that code.") : 0,
				 errhint("Voucher types are rows of loyalty.voucher_type.")));
	if (SPI_processed > 1)
		ereport(ERROR,
				(errcode(ERRCODE_VOUCHER_UNKNOWN_TYPE),
				 errmsg("voucher type \"%s\" exists in more than one program", code),
				 errhint("Name the program: issue_voucher(..., program => ...).")));
	CacheTypeRow();
	cached_by_any = program_id == 0;
	return &cached_type;
}

/* LY122 unless value is a value a voucher of type t may carry. */
static void
CheckOwnValue(const VoucherType *t, Datum value)
{
	const char *why = NULL;

	if (t->kind == VOUCHER_ITEM)
		why = "An item voucher gives its type's item; it has no value of its own.";
	else if (NumCmp(value, NumInt(0)) <= 0 ||
			 NumCmp(value, NumInt(LOYALTY_MAX_POINTS)) > 0)
		why = "A voucher's value is above 0 and at most 10^15.";
	else if (t->kind == VOUCHER_PERCENT && NumCmp(value, NumInt(100)) > 0)
		why = "A percent voucher takes at most 100 percent off.";
	else if (t->kind == VOUCHER_POINTS &&
			 NumCmp(value, DirectFunctionCall2(numeric_trunc, value, Int32GetDatum(0))) != 0)
		why = "A points voucher credits whole points.";
	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_VOUCHER_INVALID_VALUE),
				 errmsg("invalid value %s for a voucher of type \"%s\"",
						DatumGetCString(DirectFunctionCall1(numeric_out, value)), t->code),
				 errdetail("%s", why)));
}

/* The voucher_issued event: its code goes to the member (the outbox is access-controlled). */
static void
IssuedEvent(const VoucherType *t, int64 voucher_member, const char *code, TimestampTz valid_from,
			bool has_valid_to, TimestampTz valid_to)
{
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	LoyaltyJsonbKey(&st, "event");
	LoyaltyJsonbString(&st, "voucher_issued");
	LoyaltyJsonbKey(&st, "code");
	LoyaltyJsonbString(&st, code);
	LoyaltyJsonbKey(&st, "voucher_type");
	LoyaltyJsonbString(&st, t->code);
	LoyaltyJsonbKey(&st, "valid_from");
	LoyaltyJsonbString(&st, LoyaltyUtcText(valid_from, true));
	if (has_valid_to)
	{
		LoyaltyJsonbKey(&st, "valid_to");
		LoyaltyJsonbString(&st, LoyaltyUtcText(valid_to, true));
	}
	LoyaltyEmitEvent("voucher_issued", voucher_member,
					 JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL))));
}

/* Write the voucher row: directly, or through SQL when the table has a trigger of its own. */
static void
InsertVoucher(Datum *v, const bool *isnull)
{
	static const char *const columns[] = {
		"code", "voucher_type_id", "member_id", "value", "issued_at", "valid_from",
		"valid_to", "uses_left", "issued_by_sale", "issued_by_rule"
	};

	if (LoyaltyWriterDirect(LOYALTY_VOUCHER))
	{
		LoyaltyRow *row = LoyaltyRowBegin(LOYALTY_VOUCHER);

		for (int i = 0; i < (int) lengthof(columns); i++)
			LoyaltyRowSet(row, columns[i], v[i], isnull[i]);
		LoyaltyRowInsert(row);
	}
	else
	{
		char		nulls[lengthof(columns)];

		for (int i = 0; i < (int) lengthof(columns); i++)
			nulls[i] = isnull[i] ? 'n' : ' ';
		LoyaltyExecute(&insert_voucher_plan, v, nulls, false, 0);
	}
}

/*
 * Issue one voucher (voucher.h): its validity from the type and valid_from,
 * a new code, the row and its voucher_issued event.  Inside SPI.
 */
char *
VoucherIssue(int32 voucher_type_id, int64 member_id, Datum value,
			 TimestampTz valid_from, int64 sale_id, int32 rule_id)
{
	const VoucherType *t = TypeById(voucher_type_id);
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz start = Max(now, valid_from);
	TimestampTz end = 0;
	bool		has_end = t->has_valid_to;
	char	   *code = palloc(VOUCHER_CODE_LENGTH + 1);
	Datum		v[10];
	bool		n[10] = {0};

	if (member_id == 0 && t->member_bound)
		ereport(ERROR,
				(errcode(ERRCODE_VOUCHER_NEEDS_CARD),
				 errmsg("voucher type \"%s\" is issued to a member", t->code),
				 errdetail("Its vouchers are member-bound: issue_voucher needs the member's card."),
				 errhint("For bearer vouchers set member_bound to false.")));
	if (value != (Datum) 0)
		CheckOwnValue(t, value);
	if (t->has_valid_from && t->valid_from > start)
		start = t->valid_from;
	if (has_end)
		end = t->valid_to;
	if (t->valid_days > 0)
	{
		TimestampTz by_days = start + (TimestampTz) t->valid_days * USECS_PER_DAY;

		end = has_end ? Min(end, by_days) : by_days;
		has_end = true;
	}
	if (has_end && end <= start)
		ereport(ERROR,
				(errcode(ERRCODE_VOUCHER_EXPIRED),
				 errmsg("voucher type \"%s\" is no longer valid", t->code),
				 errdetail("Its vouchers could be used until %s.", LoyaltyUtcText(end, false))));
	VoucherCodeGenerate(code);
	v[0] = CStringGetTextDatum(code);
	v[1] = Int32GetDatum(t->voucher_type_id);
	v[2] = Int64GetDatum(member_id);
	n[2] = member_id == 0;
	v[3] = value;
	n[3] = value == (Datum) 0;
	v[4] = TimestampTzGetDatum(now);
	v[5] = TimestampTzGetDatum(start);
	v[6] = TimestampTzGetDatum(end);
	n[6] = !has_end;
	v[7] = Int32GetDatum(t->max_uses);
	v[8] = Int64GetDatum(sale_id);
	n[8] = sale_id == 0;
	v[9] = Int32GetDatum(rule_id);
	n[9] = rule_id == 0;
	InsertVoucher(v, n);
	IssuedEvent(t, member_id, code, start, has_end, end);
	return code;
}

/* The program by code (LY005 when there is none).  Inside SPI. */
static int32
ProgramByCode(const char *code)
{
	Datum		arg = CStringGetTextDatum(code);
	bool		isnull;

	LoyaltyExecute(&program_by_code_plan, &arg, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_PROGRAM_NOT_FOUND),
				 errmsg("program \"%s\" does not exist", code)));
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * loyalty.issue_voucher(voucher_type, card, value, valid_from, program):
 * one voucher of the card's program's type to the card's member, or (NULL
 * card) a bearer voucher; returns its code.
 */
PG_FUNCTION_INFO_V1(loyalty_issue_voucher);
Datum
loyalty_issue_voucher(PG_FUNCTION_ARGS)
{
	char	   *type_code = RequiredText(fcinfo, 0, "voucher type");
	Datum		value = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	TimestampTz valid_from = PG_ARGISNULL(3) ? DT_NOBEGIN : PG_GETARG_TIMESTAMPTZ(3);
	char	   *program = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	MemoryContext caller = CurrentMemoryContext;
	int32		program_id = 0;
	int64		member_id = 0;
	const VoucherType *t;
	char	   *code;
	text	   *result;
	MemoryContext old;

	if (!PG_ARGISNULL(3) && TIMESTAMP_NOT_FINITE(valid_from))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_TIME),
				 errmsg("valid_from must be a finite time")));
	SPI_connect();
	if (program != NULL)
		program_id = ProgramByCode(program);
	if (!PG_ARGISNULL(1))
	{
		int64		card = PG_GETARG_INT64(1);
		LoyaltyMember m;

		LoyaltySetCardType(get_fn_expr_argtype(fcinfo->flinfo, 1));
		LoyaltyResolveCard(card, false, &m);
		LoyaltyRequireActive(card, &m);
		if (program_id != 0 && program_id != m.program_id)
			ereport(ERROR,
					(errcode(ERRCODE_VOUCHER_OTHER_PROGRAM),
					 errmsg("card \"%s\" is of another program than \"%s\"",
							LoyaltyCardText(card), program)));
		program_id = m.program_id;
		member_id = m.member_id;
	}
	t = TypeByCode(program_id, type_code);
	/* a type limited to an audience: its members only (LY127) */
	LoyaltyVoucherAudienceRequire(t->voucher_type_id, t->code, member_id);
	code = VoucherIssue(t->voucher_type_id, member_id, value, valid_from, 0, 0);
	old = MemoryContextSwitchTo(caller);
	result = cstring_to_text(code);
	MemoryContextSwitchTo(old);
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}
