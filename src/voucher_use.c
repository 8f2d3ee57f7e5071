/*
 * voucher_use.c -- a voucher at the till: loyalty.check_voucher and
 * loyalty.use_voucher.
 *
 * A use is judged in this order, each refusal with its own SQLSTATE (README
 * "Vouchers"): the code's form and check character (LY110, LY111, before
 * any look-up), the voucher (LY112), the card (a member-bound voucher: a
 * card of its member, LY116; a points voucher needs a card, LY123; a card
 * of another program, LY124), its validity (LY115 not yet, LY114 expired),
 * the store (LY117), the day of week in the store's, else the program's,
 * time zone (LY118), the uses left (LY120), the basket (LY119) and, for an
 * item voucher, the item in it (LY121).
 *
 * use_voucher takes the voucher's row lock first (FOR UPDATE: two tills
 * taking the last use of one voucher are decided one after the other, and
 * the second sees uses_left as the first left it), then answers a retry of
 * its (store, pos_txn) as it was answered the first time -- a retry is the
 * same request: the same code (else LY011), the same card or none again, and
 * lines equal as jsonb, told by their jsonb hash (else LY035) --, then judges,
 * credits a points voucher through the ledger (LoyaltyPostCredit, under the
 * member's lock, taken after the voucher's), and writes the use and its
 * voucher_used event.  check_voucher judges the same way without a lock and
 * writes nothing; a refusal is a row (ok false, the SQLSTATE and message
 * use_voucher would raise) that a till can show.
 *
 * The moment of a use is when the call started judging (the voucher's
 * validity and day); the basket is the sum of the lines' amounts.
 */
#include "voucher.h"
#include "rules.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#define NO_REFUSAL 0

/* One use: what the till asked for, what the voucher is, the answer. */
typedef struct VoucherUse
{
	/* asked */
	const char *typed;			/* the code as given */
	char		code[VOUCHER_CODE_LENGTH + 1];
	bool		has_card;
	int64		card;
	const char *store;
	const char *pos_txn;		/* NULL: a check */
	Datum		lines;			/* jsonb */
	int64		lines_hash;		/* a use: jsonb_hash_extended(lines, 0) */
	TimestampTz at;
	/* the voucher */
	int64		voucher_id;
	int64		voucher_member;	/* 0: a bearer voucher */
	bool		member_bound;
	int32		uses_left;
	TimestampTz valid_from;
	bool		has_valid_to;
	TimestampTz valid_to;
	const char *kind;
	const char *type_code;
	int32		program_id;
	bool		store_ok;
	bool		day_ok;
	const char *day_name;
	/* the answer */
	LoyaltyMember member;		/* of the card, when given */
	Datum		discount;		/* numeric */
	int64		points;
	int64		entry_id;
	int64		use_id;
	/* a refusal: NO_REFUSAL, or its SQLSTATE and message */
	int			refusal;
	char	   *message;
	char	   *detail;
} VoucherUse;

#define VOUCHER_SELECT \
	"SELECT v.voucher_id, v.member_id, t.member_bound, v.uses_left, v.valid_from, v.valid_to, " \
	"  t.kind, t.code, t.program_id, " \
	"  t.stores IS NULL OR $3 OPERATOR(pg_catalog.=) ANY (t.stores), " \
	"  t.days_of_week IS NULL OR pg_catalog.date_part('isodow', " \
	"    $2 AT TIME ZONE COALESCE(s.time_zone, p.time_zone))::pg_catalog.int4 " \
	"    OPERATOR(pg_catalog.=) ANY (t.days_of_week), " \
	"  pg_catalog.to_char($2 AT TIME ZONE COALESCE(s.time_zone, p.time_zone), 'FMDay') " \
	"FROM loyalty.voucher v " \
	"JOIN loyalty.voucher_type t ON t.voucher_type_id OPERATOR(pg_catalog.=) v.voucher_type_id " \
	"JOIN loyalty.program p ON p.program_id OPERATOR(pg_catalog.=) t.program_id " \
	"LEFT JOIN loyalty.store s ON s.store OPERATOR(pg_catalog.=) $3 " \
	"WHERE v.code OPERATOR(pg_catalog.=) $1"

static LoyaltyPlan check_plan = {VOUCHER_SELECT, 3, {TEXTOID, TIMESTAMPTZOID, TEXTOID}};
static LoyaltyPlan lock_plan = {VOUCHER_SELECT " FOR UPDATE OF v", 3, {TEXTOID, TIMESTAMPTZOID, TEXTOID}};

/*
 * What a voucher takes off a basket ($1 lines): the basket, the price of one
 * unit of the item (at most its line's amount: a weighed item's qty may be
 * below 1), the discount and the points of the voucher's
 * kind ($2) and value ($3, the voucher's own or its type's).
 */
static LoyaltyPlan basket_plan = {
	"SELECT b.basket, b.item, "
	"  CASE $2 WHEN 'amount' THEN LEAST($3, b.basket) "
	"          WHEN 'percent' THEN pg_catalog.round(b.basket OPERATOR(pg_catalog.*) $3 OPERATOR(pg_catalog./) 100, 2) "
	"          WHEN 'item' THEN LEAST(pg_catalog.round(b.item, 2), pg_catalog.trunc(b.item_line, 2)) ELSE 0 END, "
	"  CASE $2 WHEN 'points' THEN $3::pg_catalog.int8 ELSE 0 END, "
	"  t.min_basket "
	"FROM loyalty.voucher v "
	"JOIN loyalty.voucher_type t ON t.voucher_type_id OPERATOR(pg_catalog.=) v.voucher_type_id, "
	"LATERAL (SELECT COALESCE(pg_catalog.sum((l OPERATOR(pg_catalog.->>) 'amount')::pg_catalog.numeric), 0) AS basket, "
	"    (pg_catalog.array_agg((l OPERATOR(pg_catalog.->>) 'amount')::pg_catalog.numeric OPERATOR(pg_catalog./) "
	"       COALESCE(NULLIF((l OPERATOR(pg_catalog.->>) 'qty')::pg_catalog.numeric, 0), 1)) "
	"       FILTER (WHERE l OPERATOR(pg_catalog.->>) 'sku' OPERATOR(pg_catalog.=) t.sku))[1] AS item, "
	"    (pg_catalog.array_agg((l OPERATOR(pg_catalog.->>) 'amount')::pg_catalog.numeric) "
	"       FILTER (WHERE l OPERATOR(pg_catalog.->>) 'sku' OPERATOR(pg_catalog.=) t.sku))[1] AS item_line "
	"  FROM pg_catalog.jsonb_array_elements($1) AS l) b "
	"WHERE v.voucher_id OPERATOR(pg_catalog.=) $4",
	4, {JSONBOID, TEXTOID, NUMERICOID, INT8OID}
};

static LoyaltyPlan value_plan = {
	"SELECT COALESCE(v.value, t.value), t.sku FROM loyalty.voucher v "
	"JOIN loyalty.voucher_type t ON t.voucher_type_id OPERATOR(pg_catalog.=) v.voucher_type_id "
	"WHERE v.voucher_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

static LoyaltyPlan earlier_use_plan = {
	"SELECT u.use_id, v.code, t.kind, u.discount, u.points, u.uses_left, u.used_at, u.voucher_id, "
	"  u.card, u.lines_hash "
	"FROM loyalty.voucher_use u "
	"JOIN loyalty.voucher v ON v.voucher_id OPERATOR(pg_catalog.=) u.voucher_id "
	"JOIN loyalty.voucher_type t ON t.voucher_type_id OPERATOR(pg_catalog.=) v.voucher_type_id "
	"WHERE u.store OPERATOR(pg_catalog.=) $1 AND u.pos_txn OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

static LoyaltyPlan insert_use_plan = {
	"INSERT INTO loyalty.voucher_use (voucher_id, member_id, store, pos_txn, used_at, discount, "
	"points, entry_id, uses_left, card, lines_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
	"ON CONFLICT (store, pos_txn) DO NOTHING RETURNING use_id",
	/* $10: InvalidOid is loyalty.card (LoyaltyPrepare) */
	11, {INT8OID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, NUMERICOID, INT8OID, INT8OID, INT4OID,
		InvalidOid, INT8OID}
};

static LoyaltyPlan spend_use_plan = {
	"UPDATE loyalty.voucher SET uses_left = uses_left OPERATOR(pg_catalog.-) 1 "
	"WHERE voucher_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

/* Record a refusal (the first one counts). */
static void
Refuse(VoucherUse *u, int sqlstate, char *message, char *detail)
{
	if (u->refusal != NO_REFUSAL)
		return;
	u->refusal = sqlstate;
	u->message = message;
	u->detail = detail;
}

/* Read the code's form and check character (LY110, LY111): no look-up. */
static bool
ParseCode(VoucherUse *u)
{
	char		expected;

	switch (VoucherCodeParse(u->typed, u->code, &expected))
	{
		case VOUCHER_CODE_OK:
			return true;
		case VOUCHER_CODE_MALFORMED:
			Refuse(u, ERRCODE_VOUCHER_MALFORMED_CODE,
				   psprintf("invalid voucher code: \"%s\"", u->typed),
				   psprintf("A voucher code is %d characters of 23456789ABCDEFGHJKMNPQRSTUVWXYZ (hyphens and spaces aside).",
							VOUCHER_CODE_LENGTH));
			return false;
		default:
			Refuse(u, ERRCODE_VOUCHER_CHECK_CHARACTER,
				   psprintf("invalid check character for voucher code: \"%s\", should be %c",
							u->typed, expected),
				   pstrdup("The code was mistyped: a character is wrong or two are swapped."));
			return false;
	}
}

/* The voucher by code (locked for a use), into u; false when there is none (LY112). */
static bool
LoadVoucher(VoucherUse *u, bool lock)
{
	Datum		args[3];
	SPITupleTable *tt;
	HeapTuple	row;
	bool		isnull;
	Datum		d;

	args[0] = CStringGetTextDatum(u->code);
	args[1] = TimestampTzGetDatum(u->at);
	args[2] = CStringGetTextDatum(u->store);
	LoyaltyExecute(lock ? &lock_plan : &check_plan, args, NULL, !lock, 1);
	if (SPI_processed == 0)
	{
		Refuse(u, ERRCODE_VOUCHER_UNKNOWN,
			   psprintf("voucher \"%s\" does not exist", u->code), NULL);
		return false;
	}
	tt = SPI_tuptable;
	row = tt->vals[0];
	u->voucher_id = DatumGetInt64(SPI_getbinval(row, tt->tupdesc, 1, &isnull));
	d = SPI_getbinval(row, tt->tupdesc, 2, &isnull);
	u->voucher_member = isnull ? 0 : DatumGetInt64(d);
	u->member_bound = DatumGetBool(SPI_getbinval(row, tt->tupdesc, 3, &isnull));
	u->uses_left = DatumGetInt32(SPI_getbinval(row, tt->tupdesc, 4, &isnull));
	u->valid_from = DatumGetTimestampTz(SPI_getbinval(row, tt->tupdesc, 5, &isnull));
	d = SPI_getbinval(row, tt->tupdesc, 6, &isnull);
	u->has_valid_to = !isnull;
	u->valid_to = isnull ? 0 : DatumGetTimestampTz(d);
	u->kind = SPI_getvalue(row, tt->tupdesc, 7);
	u->type_code = SPI_getvalue(row, tt->tupdesc, 8);
	u->program_id = DatumGetInt32(SPI_getbinval(row, tt->tupdesc, 9, &isnull));
	u->store_ok = DatumGetBool(SPI_getbinval(row, tt->tupdesc, 10, &isnull));
	u->day_ok = DatumGetBool(SPI_getbinval(row, tt->tupdesc, 11, &isnull));
	u->day_name = SPI_getvalue(row, tt->tupdesc, 12);
	return true;
}

/* The card against the voucher: LY116, LY123, LY124.  The card's own errors are raised. */
static void
JudgeCard(VoucherUse *u, bool lock)
{
	bool		points = strcmp(u->kind, "points") == 0;

	if (u->has_card)
	{
		LoyaltyResolveCard(u->card, lock && points, &u->member);
		LoyaltyRequireActive(u->card, &u->member);
	}
	if (u->member_bound && u->voucher_member != 0 &&
		(!u->has_card || u->member.member_id != u->voucher_member))
		Refuse(u, ERRCODE_VOUCHER_WRONG_MEMBER,
			   psprintf("voucher \"%s\" belongs to another member", u->code),
			   pstrdup(u->has_card ? "It can be used only with a card of the member it was issued to." :
					   "It can be used only with a card of the member it was issued to; no card was given."));
	else if (points && !u->has_card)
		Refuse(u, ERRCODE_VOUCHER_NEEDS_CARD,
			   psprintf("points voucher \"%s\" needs a card", u->code),
			   pstrdup("Its points are credited to the card's member."));
	else if (u->has_card && u->member.program_id != u->program_id)
		Refuse(u, ERRCODE_VOUCHER_OTHER_PROGRAM,
			   psprintf("voucher \"%s\" is of another program than card \"%s\"", u->code,
						LoyaltyCardText(u->card)), NULL);
}

/* Validity, store, day and uses left: LY115, LY114, LY117, LY118, LY120. */
static void
JudgeWhenWhere(VoucherUse *u)
{
	if (u->at < u->valid_from)
		Refuse(u, ERRCODE_VOUCHER_NOT_YET_VALID,
			   psprintf("voucher \"%s\" is not valid yet", u->code),
			   psprintf("It can be used from %s.", LoyaltyUtcText(u->valid_from, false)));
	if (u->has_valid_to && u->at >= u->valid_to)
		Refuse(u, ERRCODE_VOUCHER_EXPIRED,
			   psprintf("voucher \"%s\" has expired", u->code),
			   psprintf("It could be used until %s.", LoyaltyUtcText(u->valid_to, false)));
	if (!u->store_ok)
		Refuse(u, ERRCODE_VOUCHER_WRONG_STORE,
			   psprintf("voucher \"%s\" cannot be used in store \"%s\"", u->code, u->store),
			   psprintf("Vouchers of type \"%s\" are for some stores only (loyalty.voucher_type.stores).",
						u->type_code));
	if (!u->day_ok)
		Refuse(u, ERRCODE_VOUCHER_WRONG_DAY,
			   psprintf("voucher \"%s\" cannot be used on a %s", u->code, u->day_name),
			   psprintf("Vouchers of type \"%s\" are for some days of the week only (loyalty.voucher_type.days_of_week).",
						u->type_code));
	if (u->uses_left <= 0)
		Refuse(u, ERRCODE_VOUCHER_USED_UP,
			   psprintf("voucher \"%s\" has been used up", u->code), NULL);
}

static char *
NumText(Datum n)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, n));
}

/*
 * The basket: LY119, LY121; else the discount and points.  read_only as
 * the voucher was loaded: a use reads the voucher with a fresh snapshot (it
 * may have been issued earlier in the same statement, by issue_voucher or
 * a sale's voucher rule in a data-modifying WITH), and so must these reads,
 * else they find no row.
 */
static void
JudgeBasket(VoucherUse *u, bool read_only)
{
	Datum		args[4];
	SPITupleTable *tt;
	bool		isnull,
				no_item,
				no_min;
	Datum		basket,
				min_basket;
	const char *sku;

	if (DatumGetJsonbP(u->lines) == NULL || !JB_ROOT_IS_ARRAY(DatumGetJsonbP(u->lines)) ||
		JB_ROOT_IS_SCALAR(DatumGetJsonbP(u->lines)))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MALFORMED_LINES),
				 errmsg("lines must be a jsonb array"),
				 errdetail("The basket is an array of {\"sku\", \"qty\", \"amount\"}.")));

	/*
	 * The lines as a sale's are checked (objects with a text sku, a positive
	 * qty, an amount of at least 0, within the bounds, LY031...LY061): a
	 * negative, non-numeric or fractional-qty basket would otherwise give a
	 * negative discount (check_voucher ok, use_voucher 23514) or one larger
	 * than the basket.  [] is no line.
	 */
	if (JsonContainerSize(&DatumGetJsonbP(u->lines)->root) > 0)
	{
		SaleBasket	parsed;

		LoyaltyParseLines(DatumGetJsonbP(u->lines), (Datum) 0, false, &parsed, NULL);
	}
	args[0] = Int64GetDatum(u->voucher_id);
	LoyaltyExecute(&value_plan, args, NULL, read_only, 1);
	if (SPI_processed != 1)
		elog(ERROR, "voucher " INT64_FORMAT " is missing", u->voucher_id);
	tt = SPI_tuptable;
	args[2] = SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull);
	if (isnull)
		args[2] = NumInt(0);
	sku = SPI_getvalue(tt->vals[0], tt->tupdesc, 2);
	args[0] = u->lines;
	args[1] = CStringGetTextDatum(u->kind);
	args[3] = Int64GetDatum(u->voucher_id);
	LoyaltyExecute(&basket_plan, args, NULL, read_only, 1);
	if (SPI_processed != 1)
		elog(ERROR, "voucher " INT64_FORMAT " is missing", u->voucher_id);
	tt = SPI_tuptable;
	basket = SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull);
	SPI_getbinval(tt->vals[0], tt->tupdesc, 2, &no_item);
	u->discount = SPI_getbinval(tt->vals[0], tt->tupdesc, 3, &isnull);
	u->points = DatumGetInt64(SPI_getbinval(tt->vals[0], tt->tupdesc, 4, &isnull));
	min_basket = SPI_getbinval(tt->vals[0], tt->tupdesc, 5, &no_min);
	if (!no_min && NumCmp(basket, min_basket) < 0)
		Refuse(u, ERRCODE_VOUCHER_BELOW_MINIMUM,
			   psprintf("basket %s is below the minimum %s of voucher \"%s\"", NumText(basket),
						NumText(min_basket), u->code), NULL);
	if (strcmp(u->kind, "item") == 0 && no_item)
		Refuse(u, ERRCODE_VOUCHER_ITEM_MISSING,
			   psprintf("voucher \"%s\" is for item \"%s\", which is not in the basket", u->code, sku),
			   pstrdup("An item voucher takes off the price of one unit of its item."));
}

/* Judge a use of the loaded voucher: u->refusal says whether and why not. */
static void
Judge(VoucherUse *u, bool lock)
{
	JudgeCard(u, lock);
	JudgeWhenWhere(u);
	if (u->refusal == NO_REFUSAL)
		JudgeBasket(u, !lock);
}

/* The arguments code, card, store (and pos_txn) common to check and use; lines last. */
static void
ReadArguments(FunctionCallInfo fcinfo, VoucherUse *u, bool use)
{
	int			lines_arg = use ? 4 : 3;

	memset(u, 0, sizeof(*u));
	u->typed = RequiredText(fcinfo, 0, "voucher code");
	u->has_card = !PG_ARGISNULL(1);
	if (u->has_card)
	{
		LoyaltySetCardType(get_fn_expr_argtype(fcinfo->flinfo, 1));
		u->card = PG_GETARG_INT64(1);
	}
	u->store = RequiredText(fcinfo, 2, "store");
	if (use)
		u->pos_txn = RequiredText(fcinfo, 3, "POS transaction id");
	if (PG_ARGISNULL(lines_arg))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MALFORMED_LINES),
				 errmsg("lines are required"),
				 errdetail("The basket is an array of {\"sku\", \"qty\", \"amount\"}; [] for none.")));
	u->lines = PG_GETARG_DATUM(lines_arg);
	if (use)
		u->lines_hash = DatumGetInt64(DirectFunctionCall2(jsonb_hash_extended, u->lines,
														  Int64GetDatum(0)));
	u->at = GetCurrentTimestamp();
}

/* The result row of a function from its values, in the caller's memory. */
static Datum
ResultRow(FunctionCallInfo fcinfo, MemoryContext caller, Datum *v, bool *n)
{
	TupleDesc	desc;
	MemoryContext old = MemoryContextSwitchTo(caller);
	HeapTuple	tup;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	tup = heap_form_tuple(desc, v, n);
	MemoryContextSwitchTo(old);
	return HeapTupleGetDatum(tup);
}

/*
 * loyalty.check_voucher(code, card, store, lines): what use_voucher would
 * take off now, or why not, as a row (ok, kind, discount, points,
 * uses_left, valid_to, sqlstate, reason); writes nothing.
 */
PG_FUNCTION_INFO_V1(loyalty_check_voucher);
Datum
loyalty_check_voucher(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	VoucherUse	u;
	Datum		v[8];
	bool		n[8] = {0};
	Datum		result;
	bool		loaded;

	ReadArguments(fcinfo, &u, false);
	SPI_connect();
	loaded = ParseCode(&u) && LoadVoucher(&u, false);
	if (loaded)
		Judge(&u, false);
	v[0] = BoolGetDatum(u.refusal == NO_REFUSAL);
	v[1] = loaded ? CStringGetTextDatum(u.kind) : (Datum) 0;
	n[1] = !loaded;
	v[2] = u.discount;
	v[3] = Int64GetDatum(u.points);
	n[2] = n[3] = u.refusal != NO_REFUSAL;
	v[4] = Int32GetDatum(u.uses_left);
	n[4] = !loaded;
	v[5] = TimestampTzGetDatum(u.valid_to);
	n[5] = !loaded || !u.has_valid_to;
	v[6] = u.refusal == NO_REFUSAL ? (Datum) 0 : CStringGetTextDatum(unpack_sql_state(u.refusal));
	n[6] = u.refusal == NO_REFUSAL;
	v[7] = u.refusal == NO_REFUSAL ? (Datum) 0 : CStringGetTextDatum(u.message);
	n[7] = u.refusal == NO_REFUSAL;
	result = ResultRow(fcinfo, caller, v, n);
	LoyaltyWriterClose();
	SPI_finish();
	return result;
}

/* LY011: the (store, pos_txn) of the use names a use of another voucher. */
static void
PosTxnConflict(const VoucherUse *u)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_IDEMPOTENCY_CONFLICT),
			 errmsg("POS transaction \"%s\" of store \"%s\" used another voucher", u->pos_txn, u->store),
			 errdetail("A (store, pos_txn) names one use of one voucher.")));
}

/*
 * LY035: the (store, pos_txn) names a use of this voucher asked for with
 * another card (or none) or another basket; what differs is the detail.
 */
static void
AlteredRetry(const VoucherUse *u, const char *differs)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_DUPLICATE_SALE),
			 errmsg("POS transaction \"%s\" of store \"%s\" was already recorded with different content",
					u->pos_txn, u->store),
			 errdetail("Voucher \"%s\" was used under it %s; a retried use_voucher must repeat the code, card and lines of the first.",
					   u->code, differs),
			 errhint("Use a new pos_txn for a new use.")));
}

/*
 * An earlier use under (store, pos_txn): of this code, with the same card
 * (or none again) and lines of the same jsonb hash, its answer into v; of
 * another code LY011; else LY035.
 */
static bool
EarlierUse(VoucherUse *u, Datum *v, bool *n)
{
	Datum		args[2];
	SPITupleTable *tt;
	bool		isnull,
				no_card;
	int64		card;

	args[0] = CStringGetTextDatum(u->store);
	args[1] = CStringGetTextDatum(u->pos_txn);
	LoyaltyExecute(&earlier_use_plan, args, NULL, false, 1);
	if (SPI_processed == 0)
		return false;
	tt = SPI_tuptable;
	if (strcmp(SPI_getvalue(tt->vals[0], tt->tupdesc, 2), u->code) != 0)
		PosTxnConflict(u);
	card = DatumGetInt64(SPI_getbinval(tt->vals[0], tt->tupdesc, 9, &no_card));
	if (no_card && u->has_card)
		AlteredRetry(u, "without a card");
	if (!no_card && !u->has_card)
		AlteredRetry(u, psprintf("with card \"%s\", not without one", LoyaltyCardText(card)));
	if (!no_card && card != u->card)
		AlteredRetry(u, psprintf("with card \"%s\"", LoyaltyCardText(card)));
	if (DatumGetInt64(SPI_getbinval(tt->vals[0], tt->tupdesc, 10, &isnull)) != u->lines_hash)
		AlteredRetry(u, "on other lines");
	v[0] = SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull);
	v[1] = SPI_getbinval(tt->vals[0], tt->tupdesc, 8, &isnull);
	v[2] = SPI_getbinval(tt->vals[0], tt->tupdesc, 3, &isnull);
	v[3] = SPI_getbinval(tt->vals[0], tt->tupdesc, 4, &isnull);
	v[4] = SPI_getbinval(tt->vals[0], tt->tupdesc, 5, &isnull);
	v[5] = SPI_getbinval(tt->vals[0], tt->tupdesc, 6, &isnull);
	v[6] = SPI_getbinval(tt->vals[0], tt->tupdesc, 7, &isnull);
	memset(n, 0, sizeof(bool) * 7);
	return true;
}

/* Credit a points voucher's points to the card's member (locked by JudgeCard). */
static void
CreditPoints(VoucherUse *u)
{
	LoyaltyPosting p = {0};

	p.kind = LOYALTY_EARN;
	p.member_id = u->member.member_id;
	p.points = u->points;
	p.posted_at = u->member.locked_at;
	p.effective_at = u->member.locked_at;
	p.source = "voucher";
	p.reason = psprintf("voucher of type %s", u->type_code);
	/* no idempotency key: voucher_use's (store, pos_txn) makes the use once */
	p.idem_key = NULL;
	p.store = u->store;
	p.pos_txn = u->pos_txn;
	LoyaltyPostCredit(&u->member, &p);
	u->entry_id = p.entry_id;
}

/* The voucher_used event. */
static void
UsedEvent(VoucherUse *u)
{
	JsonbParseState *st = NULL;
	JsonbValue	num;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	LoyaltyJsonbKey(&st, "event");
	LoyaltyJsonbString(&st, "voucher_used");
	LoyaltyJsonbKey(&st, "voucher_id");
	LoyaltyJsonbInt(&st, u->voucher_id);
	LoyaltyJsonbKey(&st, "use_id");
	LoyaltyJsonbInt(&st, u->use_id);
	LoyaltyJsonbKey(&st, "store");
	LoyaltyJsonbString(&st, u->store);
	LoyaltyJsonbKey(&st, "pos_txn");
	LoyaltyJsonbString(&st, u->pos_txn);
	LoyaltyJsonbKey(&st, "discount");
	num.type = jbvNumeric;
	num.val.numeric = DatumGetNumeric(u->discount);
	pushJsonbValue(&st, WJB_VALUE, &num);
	LoyaltyJsonbKey(&st, "points");
	LoyaltyJsonbInt(&st, u->points);
	LoyaltyJsonbKey(&st, "uses_left");
	LoyaltyJsonbInt(&st, u->uses_left - 1);
	LoyaltyEmitEvent("voucher_used", u->has_card ? u->member.member_id : u->voucher_member,
					 JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL))));
}

/* Write the use (LY011 when another voucher took the (store, pos_txn) meanwhile) and spend it. */
static void
RecordUse(VoucherUse *u)
{
	Datum		a[11];
	char		nulls[11] = "           ";
	bool		isnull;

	if (u->points > 0)
		CreditPoints(u);
	a[0] = Int64GetDatum(u->voucher_id);
	a[1] = Int64GetDatum(u->member.member_id);
	nulls[1] = u->has_card ? ' ' : 'n';
	a[2] = CStringGetTextDatum(u->store);
	a[3] = CStringGetTextDatum(u->pos_txn);
	a[4] = TimestampTzGetDatum(u->at);
	a[5] = u->discount;
	a[6] = Int64GetDatum(u->points);
	a[7] = Int64GetDatum(u->entry_id);
	nulls[7] = u->entry_id != 0 ? ' ' : 'n';
	a[8] = Int32GetDatum(u->uses_left - 1);
	a[9] = Int64GetDatum(u->card);
	nulls[9] = nulls[1];
	a[10] = Int64GetDatum(u->lines_hash);
	LoyaltyExecute(&insert_use_plan, a, nulls, false, 0);
	if (SPI_processed == 0)
		PosTxnConflict(u);
	u->use_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	LoyaltyExecute(&spend_use_plan, a, NULL, false, 0);
	UsedEvent(u);
}

/*
 * loyalty.use_voucher(code, card, store, pos_txn, lines): one use, or the
 * refusal's error; a retry of (store, pos_txn) -- the same code, card and
 * lines -- gets the first answer.
 */
PG_FUNCTION_INFO_V1(loyalty_use_voucher);
Datum
loyalty_use_voucher(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	VoucherUse	u;
	Datum		v[7];
	bool		n[7] = {0};
	Datum		result;

	ReadArguments(fcinfo, &u, true);
	SPI_connect();
	if (ParseCode(&u) && LoadVoucher(&u, true) && !EarlierUse(&u, v, n))
	{
		Judge(&u, true);
		if (u.refusal == NO_REFUSAL)
		{
			RecordUse(&u);
			v[0] = Int64GetDatum(u.use_id);
			v[1] = Int64GetDatum(u.voucher_id);
			v[2] = CStringGetTextDatum(u.kind);
			v[3] = u.discount;
			v[4] = Int64GetDatum(u.points);
			v[5] = Int32GetDatum(u.uses_left - 1);
			v[6] = TimestampTzGetDatum(u.at);
		}
	}
	if (u.refusal != NO_REFUSAL)
		ereport(ERROR,
				(errcode(u.refusal),
				 errmsg("%s", u.message),
				 u.detail != NULL ? errdetail("%s", u.detail) : 0));
	result = ResultRow(fcinfo, caller, v, n);
	LoyaltyWriterClose();
	SPI_finish();
	return result;
}
