/*
 * enrolment.c -- a card issued after a qualifying purchase:
 * loyalty.enroll_with_sale(card, program, store, pos_txn) and its variant
 * with several receipts, loyalty.enroll_with_sales.
 *
 * The purchase is an anonymous sale already in loyalty.sale (card NULL).  In
 * this order:
 *
 *   1. the program (LY005) and the sales by (store, pos_txn): each must exist,
 *      be anonymous and not a return (LY089);
 *   2. the card's lock (an advisory lock tag of our own on the card number,
 *      field4 = LOYALTY_ENROL_LOCK), then each sale's (LockAnonymousSale, the
 *      lock an anonymous sale's returns take) in sale_id order: two
 *      enrolments of one card, or of one sale, and a sale's enrolment and its
 *      return are decided one after the other;
 *   3. under those locks, who the sales enrolled already
 *      (loyalty.enrolment_sale): this card with exactly these sales is a
 *      retry, answered as the first time and crediting nothing; a sale that
 *      enrolled another card, or a card already enrolled otherwise, is
 *      LY089 (a card of another program LY006, a replaced one LY002);
 *   4. the sales must not have been returned and be recent enough: made in
 *      the last enroll_window_days days, at least the program's
 *      backdate_limit (how far back a POS may date a member's sale: crediting
 *      an anonymous sale to a member is recording it as the member's); with
 *      enroll_window_days = 0 one sale only (LY089);
 *   5. their totals must reach enroll_min_spend (LY088 says what is missing);
 *   6. loyalty.enroll() enrols the card, dated at the earliest sale (the
 *      membership starts with the purchase that earned it, and no member's
 *      sale is dated before its enrolment), and the member is locked
 *      (LoyaltyResolveCard);
 *   7. each sale, oldest first, is taken as the sale trigger takes a member's
 *      sale: evaluated by the program's rules at its own time and store and
 *      at the tier the member holds before it (LoyaltyEvaluateRules: first
 *      purchase, caps and budgets included), counted for the tier (tier.c:
 *      it may move the new member up) and as one of the member's sales;
 *      their points are posted as one earn entry
 *      (LoyaltyPostCredit) naming the latest sale (sale_id, store, pos_txn),
 *      all of them in its reason, with rule_points summed by rule; an award
 *      event is written; each sale's part and award go to enrolment_sale.
 *
 * loyalty.sale is append-only: the sales stay anonymous rows.  A later
 * return of such a sale reads enrolment_sale (sale_trigger.c) and takes the
 * sale's part of the entry back from the member.
 */
#include "rules.h"
#include "tier.h"
#include "voucher_rule.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

/* How many receipts one enrolment may name. */
#define ENROL_MAX_SALES		100

/* field4 of the card's lock tag (sale_trigger.c uses 3 and 4) */
#define LOYALTY_ENROL_LOCK	5

/* One sale named by (store, pos_txn), and what the rules award it. */
typedef struct EnrolSale
{
	const char *store;
	const char *pos_txn;
	int64		sale_id;
	TimestampTz occurred_at;
	Datum		total;			/* numeric */
	Jsonb	   *lines;
	int64		points;
	Datum		award;			/* jsonb, as sale.award */
	const char *tier;			/* the member's tier after it; NULL: no tiers */
} EnrolSale;

/* An enrolment: the request, the program's settings, and the answer. */
typedef struct Enrolment
{
	int64		card;
	const char *program;
	int32		program_id;
	bool		has_min_spend;
	Datum		min_spend;		/* numeric */
	int32		window_days;
	Interval	backdate_limit;
	int			nsales;
	EnrolSale  *sales;			/* by sale_id, then (step 7) oldest first */
	Datum		spend;			/* numeric: the sales' totals */
	int64		member_id;
	int64		points;
	int64		points_pending;
	int64		entry_id;		/* 0: none (the sales earned nothing) */
} Enrolment;

static LoyaltyPlan program_plan = {
	"SELECT program_id, enroll_min_spend, enroll_window_days, backdate_limit "
	"FROM loyalty.program WHERE code OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};

static LoyaltyPlan sale_plan = {
	"SELECT sale_id, card IS NULL, return_of IS NOT NULL, occurred_at, total, lines "
	"FROM loyalty.sale WHERE store OPERATOR(pg_catalog.=) $1 AND pos_txn OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

static LoyaltyPlan card_plan = {
	"SELECT c.member_id, c.replaced_at IS NOT NULL, p.code "
	"FROM loyalty.member_card c JOIN loyalty.member m ON m.member_id OPERATOR(pg_catalog.=) c.member_id "
	"JOIN loyalty.program p ON p.program_id OPERATOR(pg_catalog.=) m.program_id "
	"WHERE c.card OPERATOR(pg_catalog.=) $1",
	1, {InvalidOid}
};

/* who the named sales enrolled ($1), and which sales enrolled a member ($2) */
static LoyaltyPlan claims_plan = {
	"SELECT sale_id, member_id, entry_id, points FROM loyalty.enrolment_sale "
	"WHERE sale_id OPERATOR(pg_catalog.=) ANY ($1) OR member_id OPERATOR(pg_catalog.=) $2",
	2, {INT8ARRAYOID, INT8OID}
};

static LoyaltyPlan entry_pending_plan = {
	"SELECT pending_until OPERATOR(pg_catalog.>) posted_at FROM loyalty.ledger "
	"WHERE member_id OPERATOR(pg_catalog.=) $1 AND entry_id OPERATOR(pg_catalog.=) $2",
	2, {INT8OID, INT8OID}
};

static LoyaltyPlan returned_plan = {
	"SELECT return_of FROM loyalty.sale WHERE return_of OPERATOR(pg_catalog.=) ANY ($1) "
	"ORDER BY return_of LIMIT 1",
	1, {INT8ARRAYOID}
};

static LoyaltyPlan enroll_plan = {
	"SELECT loyalty.enroll($1, $2, enrolled_at => $3)",
	3, {InvalidOid, TEXTOID, TIMESTAMPTZOID}
};

/* who wrote the member's row: this transaction, or one that enrolled the card first */
static LoyaltyPlan member_xmin_plan = {
	"SELECT xmin FROM loyalty.member WHERE member_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

static LoyaltyPlan claim_plan = {
	"INSERT INTO loyalty.enrolment_sale (member_id, sale_id, entry_id, points, award, tier) "
	"VALUES ($1, $2, $3, $4, $5, $6)",
	6, {INT8OID, INT8OID, INT8OID, INT8OID, JSONBOID, TEXTOID}
};

/* ---------- helpers ---------- */

static char *
NumText(Datum n)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, n));
}

/* LY089: a sale that cannot enrol a card, and why. */
static void
SaleCannotEnrol(const char *msg, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_ENROL_SALE),
			 errmsg_internal("%s", msg),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));
}

static int
CompareSaleId(const void *a, const void *b)
{
	int64		x = ((const EnrolSale *) a)->sale_id;
	int64		y = ((const EnrolSale *) b)->sale_id;

	return (x > y) - (x < y);
}

/* Oldest first: the order the sale trigger would have seen them in. */
static int
CompareOccurred(const void *a, const void *b)
{
	const EnrolSale *x = a;
	const EnrolSale *y = b;

	if (x->occurred_at != y->occurred_at)
		return (x->occurred_at > y->occurred_at) - (x->occurred_at < y->occurred_at);
	return CompareSaleId(a, b);
}

static Datum
SaleIdArray(const Enrolment *e)
{
	Datum	   *ids = palloc(sizeof(Datum) * e->nsales);

	for (int i = 0; i < e->nsales; i++)
		ids[i] = Int64GetDatum(e->sales[i].sale_id);
	return LoyaltyInt8Array(ids, e->nsales);
}

/* ---------- steps ---------- */

/* Step 1: the program's enrolment settings (LY005). */
static void
LoadProgram(Enrolment *e)
{
	Datum		arg = CStringGetTextDatum(e->program);
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	LoyaltyExecute(&program_plan, &arg, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_PROGRAM_NOT_FOUND),
				 errmsg("program \"%s\" does not exist", e->program)));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	e->program_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	d = SPI_getbinval(tup, desc, 2, &isnull);
	e->has_min_spend = !isnull;
	e->min_spend = isnull ? (Datum) 0 : datumCopy(d, false, -1);
	e->window_days = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	e->backdate_limit = *DatumGetIntervalP(SPI_getbinval(tup, desc, 4, &isnull));
}

/*
 * Step 1: each sale by (store, pos_txn); it must exist, be anonymous and not
 * be a return.  Sorted by sale_id, each named once.
 */
static void
FindSales(Enrolment *e)
{
	for (int i = 0; i < e->nsales; i++)
	{
		EnrolSale  *s = &e->sales[i];
		Datum		v[2];
		HeapTuple	tup;
		TupleDesc	desc;
		bool		isnull;

		v[0] = CStringGetTextDatum(s->store);
		v[1] = CStringGetTextDatum(s->pos_txn);
		LoyaltyExecute(&sale_plan, v, NULL, false, 1);
		if (SPI_processed == 0)
			SaleCannotEnrol(psprintf("no sale of store \"%s\" has pos_txn \"%s\"", s->store, s->pos_txn),
							"The purchase that enrols a card is recorded first, as an anonymous sale.",
							"INSERT INTO loyalty.sale without a card, then enroll_with_sale.");
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		s->sale_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		if (!DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull)))
			SaleCannotEnrol(psprintf("sale " INT64_FORMAT " was made with a card", s->sale_id),
							"Only an anonymous sale can enrol a card; a member's sale earned already.",
							NULL);
		if (DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)))
			SaleCannotEnrol(psprintf("sale " INT64_FORMAT " is a return", s->sale_id),
							"Only a purchase can enrol a card.", NULL);
		s->occurred_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
		s->total = datumCopy(SPI_getbinval(tup, desc, 5, &isnull), false, -1);
		s->lines = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 6, &isnull));
	}
	qsort(e->sales, e->nsales, sizeof(EnrolSale), CompareSaleId);
	for (int i = 1; i < e->nsales; i++)
		if (e->sales[i].sale_id == e->sales[i - 1].sale_id)
			SaleCannotEnrol(psprintf("sale " INT64_FORMAT " is named twice", e->sales[i].sale_id),
							"Each receipt counts once.", NULL);
}

/* Step 2: the card, then the sales in sale_id order, until the transaction ends. */
static void
LockEnrolment(const Enrolment *e)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) e->card >> 32),
						 (uint32) e->card, LOYALTY_ENROL_LOCK);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	for (int i = 0; i < e->nsales; i++)
		LockAnonymousSale(e->sales[i].sale_id);
}

/*
 * The answer of an enrolment made before: the sales' points (one entry, or
 * none), whether they were pending when posted, and the sales' spend.
 */
static void
AnswerAgain(Enrolment *e, int64 entry_id, int64 points)
{
	e->entry_id = entry_id;
	e->points = points;
	if (entry_id)
	{
		Datum		v[2];
		bool		isnull;
		Datum		d;

		v[0] = Int64GetDatum(e->member_id);
		v[1] = Int64GetDatum(entry_id);
		LoyaltyExecute(&entry_pending_plan, v, NULL, false, 1);
		d = SPI_processed == 1 ? SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull) : (Datum) 0;
		e->points_pending = (SPI_processed == 1 && !isnull && DatumGetBool(d)) ? points : 0;
	}
}

/*
 * Step 3, under the locks: a retry (this card, enrolled by exactly these
 * sales) is answered and returns true; a sale that enrolled another card, or
 * a card already enrolled otherwise, is refused.  False: go on and enrol.
 */
static bool
AnswerRetry(Enrolment *e)
{
	Datum		v[2];
	bool		isnull;
	bool		enrolled;
	int			mine = 0;
	int64		entry_id = 0,
				points = 0;
	SPITupleTable *claims;
	uint64		nclaims;

	v[0] = Int64GetDatum(e->card);
	LoyaltyExecute(&card_plan, v, NULL, false, 1);
	enrolled = SPI_processed == 1;
	if (enrolled)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];

		e->member_id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		if (DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull)))
			LoyaltyCardReplacedError(e->card);
		if (strcmp(SPI_getvalue(tup, SPI_tuptable->tupdesc, 3), e->program) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_CARD_IN_USE),
					 errmsg("card \"%s\" is already enrolled in program \"%s\"",
							LoyaltyCardText(e->card), SPI_getvalue(tup, SPI_tuptable->tupdesc, 3))));
	}
	v[0] = SaleIdArray(e);
	v[1] = Int64GetDatum(enrolled ? e->member_id : 0);
	LoyaltyExecute(&claims_plan, v, NULL, false, 0);
	claims = SPI_tuptable;
	nclaims = SPI_processed;
	for (uint64 i = 0; i < nclaims; i++)
	{
		HeapTuple	tup = claims->vals[i];
		Datum		d;

		if (!enrolled || DatumGetInt64(SPI_getbinval(tup, claims->tupdesc, 2, &isnull)) != e->member_id)
			SaleCannotEnrol(psprintf("sale " INT64_FORMAT " was already used to enrol another card",
									 DatumGetInt64(SPI_getbinval(tup, claims->tupdesc, 1, &isnull))),
							"A sale enrols one card, once.", NULL);
		for (int k = 0; k < e->nsales; k++)
			mine += e->sales[k].sale_id == DatumGetInt64(SPI_getbinval(tup, claims->tupdesc, 1, &isnull));
		d = SPI_getbinval(tup, claims->tupdesc, 3, &isnull);
		entry_id = isnull ? 0 : DatumGetInt64(d);
		points += DatumGetInt64(SPI_getbinval(tup, claims->tupdesc, 4, &isnull));
	}
	if (!enrolled)
		return false;
	if (mine != e->nsales || nclaims != (uint64) e->nsales)
		SaleCannotEnrol(psprintf("card \"%s\" is already enrolled", LoyaltyCardText(e->card)),
						nclaims ? "It was enrolled with other sales." :
						"It was enrolled without enroll_with_sale.",
						"enroll_with_sale issues a new card; an enrolled card earns with its own sales.");
	AnswerAgain(e, entry_id, points);
	return true;
}

/*
 * Step 4: not returned; recent enough; one sale unless the program adds up
 * the sales of several days (LY089).
 */
static void
CheckSales(const Enrolment *e)
{
	Datum		ids = SaleIdArray(e);
	Interval	window = {0};
	Interval	limit;
	TimestampTz earliest;
	bool		isnull;

	if (e->window_days == 0 && e->nsales > 1)
		SaleCannotEnrol(psprintf("program \"%s\" enrols a card with one sale", e->program),
						"Its enroll_window_days is 0: one sale must reach enroll_min_spend by itself.",
						NULL);
	LoyaltyExecute(&returned_plan, &ids, NULL, false, 1);
	if (SPI_processed == 1)
		SaleCannotEnrol(psprintf("sale " INT64_FORMAT " has been returned",
								 DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))),
						"A sale with a return cannot enrol a card.", NULL);
	/* a return that committed while we waited for the sale's lock */
	if (LoyaltyCommittedSince(&returned_plan, &ids))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent return of sale " INT64_FORMAT,
						DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))),
				 errhint("Retry the enrolment: it then finds the sale returned.")));
	window.day = e->window_days;
	limit = DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(&window),
											  IntervalPGetDatum(&e->backdate_limit))) > 0 ?
		window : e->backdate_limit;
	/* calendar arithmetic on UTC wall time, as for the back-dating limit */
	earliest = DatumGetTimestamp(DirectFunctionCall2(timestamp_mi_interval,
													 TimestampGetDatum(GetCurrentTimestamp()),
													 IntervalPGetDatum(&limit)));
	for (int i = 0; i < e->nsales; i++)
		if (e->sales[i].occurred_at < earliest)
			SaleCannotEnrol(psprintf("sale " INT64_FORMAT " is too old to enrol a card", e->sales[i].sale_id),
							psprintf("Program \"%s\" enrols with sales of the last %s (enroll_window_days, at least backdate_limit).",
									 e->program,
									 DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(&limit)))),
							NULL);
}

/* What the sales spent: their totals. */
static void
SumSpend(Enrolment *e)
{
	e->spend = DirectFunctionCall1(int8_numeric, Int64GetDatum(0));
	for (int i = 0; i < e->nsales; i++)
		e->spend = DirectFunctionCall2(numeric_add, e->spend, e->sales[i].total);
}

/* Step 5: the sales' totals reach enroll_min_spend, or LY088 says what is missing. */
static void
CheckThreshold(const Enrolment *e)
{
	if (!e->has_min_spend ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, e->spend, e->min_spend)) >= 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_ENROL_THRESHOLD),
			 errmsg("%s %s %s below the enrolment threshold %s of program \"%s\"",
					e->nsales == 1 ? "sale total" : "sales adding up to",
					NumText(e->spend), e->nsales == 1 ? "is" : "are",
					NumText(e->min_spend), e->program),
			 errdetail("%s is missing.",
					   NumText(DirectFunctionCall2(numeric_sub, e->min_spend, e->spend))),
			 e->window_days == 0 ?
			 errhint("The card is issued after one sale of at least %s.", NumText(e->min_spend)) :
			 errhint("Sales of the last %d days add up: name them all with enroll_with_sales.",
					 e->window_days)));
}

/* Step 6: enrol the card, dated at the earliest sale, and lock the member. */
static void
EnrolCard(Enrolment *e, LoyaltyMember *m)
{
	Datum		v[3];
	bool		isnull;
	TimestampTz first = e->sales[0].occurred_at;

	for (int i = 1; i < e->nsales; i++)
		first = Min(first, e->sales[i].occurred_at);
	v[0] = Int64GetDatum(e->card);
	v[1] = CStringGetTextDatum(e->program);
	v[2] = TimestampTzGetDatum(first);
	LoyaltyExecute(&enroll_plan, v, NULL, false, 1);
	e->member_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	LoyaltyResolveCard(e->card, true, m);
	if (m->member_id != e->member_id)
		elog(ERROR, "card %s enrolled member " INT64_FORMAT ", found " INT64_FORMAT,
			 LoyaltyCardText(e->card), e->member_id, m->member_id);

	/*
	 * enroll() answers a card enrolled meanwhile by a plain enroll() (which
	 * does not take our card lock) with that member, whose row another
	 * transaction wrote: that card was not issued by these sales.
	 */
	v[0] = Int64GetDatum(e->member_id);
	LoyaltyExecute(&member_xmin_plan, v, NULL, false, 1);
	if (SPI_processed != 1 ||
		!TransactionIdIsCurrentTransactionId(DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0],
																				 SPI_tuptable->tupdesc, 1, &isnull))))
		SaleCannotEnrol(psprintf("card \"%s\" is already enrolled", LoyaltyCardText(e->card)),
						"It was enrolled by another call at the same time.",
						"enroll_with_sale issues a new card; an enrolled card earns with its own sales.");
}

/*
 * Points by rule over the sales, keyed as a sale's entry keys them: the rule
 * id, "base" for the base rate, "tier" for the tier's multiple of it.
 */
typedef struct RulePoints
{
	int			n;
	const char **key;
	int64	   *points;
} RulePoints;

static void
AddRulePoints(RulePoints *rp, const SaleAward *award)
{
	for (int i = 0; i < award->noutcomes; i++)
	{
		const RuleOutcome *o = &award->outcomes[i];
		const char *key;
		int			k;

		if (!o->fired || o->points == 0)
			continue;
		key = o->rule_id ? psprintf("%d", o->rule_id) : i == 0 ? "base" : "tier";
		for (k = 0; k < rp->n && strcmp(rp->key[k], key) != 0; k++)
			;
		if (k == rp->n)
		{
			rp->key = rp->n ? repalloc(rp->key, sizeof(char *) * (rp->n + 1)) : palloc(sizeof(char *));
			rp->points = rp->n ? repalloc(rp->points, sizeof(int64) * (rp->n + 1)) : palloc(sizeof(int64));
			rp->key[k] = key;
			rp->points[k] = 0;
			rp->n++;
		}
		rp->points[k] += o->points;
	}
}

/* ledger.rule_points: {"base": n, "<rule_id>": n, ...}, as a sale's entry has it. */
static Datum
RulePointsJson(const RulePoints *rp)
{
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (int k = 0; k < rp->n; k++)
	{
		LoyaltyJsonbKey(&st, rp->key[k]);
		LoyaltyJsonbInt(&st, rp->points[k]);
	}
	return JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL)));
}

/*
 * Step 7a: each sale, oldest first, as the sale trigger takes a member's
 * sale: it earns at the tier held before it (tier.c), by the program's rules
 * at its own time and store, and then counts for the tier (which may move
 * the member up, dated at the sale).  Every sale but the last is counted as
 * one of the member's sales here (the first-purchase test of the next one
 * reads the count), the last by the posting.
 */
static void
EvaluateSales(Enrolment *e, LoyaltyMember *m, RulePoints *rp)
{
	LoyaltyLadder ladder;

	LoyaltyProgramLadder(m->program_id, &ladder);
	qsort(e->sales, e->nsales, sizeof(EnrolSale), CompareOccurred);
	for (int i = 0; i < e->nsales; i++)
	{
		EnrolSale  *s = &e->sales[i];
		SaleFacts	facts = {0};
		SaleBasket	basket;
		SaleAward	award;
		MemberTier	mt;

		LoyaltyParseStoredLines(s->lines, false, &basket);
		facts.member = m;
		facts.store = s->store;
		facts.occurred_at = s->occurred_at;
		if (ladder.ntiers > 0)
		{
			LoyaltyTierRead(m, &ladder, false, &mt);
			facts.tier = mt.tier;
		}
		LoyaltyEvaluateRules(&facts, &basket, &award);
		/* its voucher rules issue as at the till (codes: in the award) */
		(void) LoyaltyIssueRuleVouchers(&award, m->member_id, s->sale_id);
		if (ladder.ntiers > 0)
			s->tier = LoyaltyTierCountSale(m, &ladder, &mt, s->occurred_at, s->total,
										   award.points, s->sale_id)->code;
		s->points = award.points;
		s->award = LoyaltyAwardJson(&basket, &award);
		AddRulePoints(rp, &award);
		e->points += award.points;
		if (e->points > LOYALTY_MAX_POINTS)
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_INVALID_POINTS),
					 errmsg("an enrolment would credit more than " INT64_FORMAT " points",
							(int64) LOYALTY_MAX_POINTS)));
		if (i < e->nsales - 1)
		{
			LoyaltyCountSale(m);
			m->sales++;			/* written to the row: the next sale reads it */
		}
	}
}

/*
 * Step 7b: one earn entry for the sales' points (none when they earned
 * nothing: the last sale is then counted alone), its event, and the sales'
 * claims.
 */
static void
CreditSales(Enrolment *e, LoyaltyMember *m)
{
	RulePoints	rp = {0};
	EnrolSale  *last;
	LoyaltyPosting p = {0};
	StringInfoData reason;

	EvaluateSales(e, m, &rp);
	last = &e->sales[e->nsales - 1];
	if (e->points > 0)
	{
		initStringInfo(&reason);
		appendStringInfo(&reason, "enrolment with sale%s", e->nsales > 1 ? "s" : "");
		for (int i = 0; i < e->nsales; i++)
			appendStringInfo(&reason, "%s " INT64_FORMAT, i ? "," : "", e->sales[i].sale_id);
		p.kind = LOYALTY_EARN;
		p.member_id = m->member_id;
		p.points = e->points;
		/* dated at the latest sale, never ahead of the lock (as a sale's award) */
		p.effective_at = Min(last->occurred_at, m->locked_at);
		p.posted_at = m->locked_at;
		p.source = "enrolment";
		p.reason = reason.data;
		p.store = last->store;
		p.pos_txn = last->pos_txn;
		p.sale_id = last->sale_id;
		p.rule_points = RulePointsJson(&rp);
		p.counts_sale = true;
		LoyaltyPostCredit(m, &p);
		e->entry_id = p.entry_id;
		e->points_pending = (p.has_pending_until && p.pending_until > m->locked_at) ? p.points : 0;
		LoyaltySaleEvent("award", m->member_id, last->sale_id, p.entry_id, p.points, last->store, last->pos_txn);
	}
	else
		LoyaltyCountSale(m);
	for (int i = 0; i < e->nsales; i++)
	{
		Datum		v[6];
		char		n[6] = {' ', ' ', ' ', ' ', ' ', ' '};

		v[0] = Int64GetDatum(m->member_id);
		v[1] = Int64GetDatum(e->sales[i].sale_id);
		v[2] = Int64GetDatum(e->entry_id);
		n[2] = e->entry_id ? ' ' : 'n';
		v[3] = Int64GetDatum(e->sales[i].points);
		v[4] = e->sales[i].award;
		v[5] = e->sales[i].tier ? CStringGetTextDatum(e->sales[i].tier) : (Datum) 0;
		n[5] = e->sales[i].tier ? ' ' : 'n';
		LoyaltyExecute(&claim_plan, v, n, false, 0);
	}
}

/* The answer, as the OUT parameters, in the caller's context. */
static Datum
EnrolResult(FunctionCallInfo fcinfo, MemoryContext caller, const Enrolment *e)
{
	TupleDesc	desc;
	Datum		v[5];
	bool		n[5] = {0};
	MemoryContext old = MemoryContextSwitchTo(caller);
	HeapTuple	tup;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	v[0] = Int64GetDatum(e->member_id);
	v[1] = Int64GetDatum(e->points);
	v[2] = Int64GetDatum(e->points_pending);
	v[3] = Int64GetDatum(e->entry_id);
	n[3] = e->entry_id == 0;
	v[4] = datumCopy(e->spend, false, -1);
	tup = heap_form_tuple(desc, v, n);
	MemoryContextSwitchTo(old);
	return HeapTupleGetDatum(tup);
}

/* Both functions: the steps above, in one SPI connection. */
static Datum
Enrol(FunctionCallInfo fcinfo, Enrolment *e)
{
	MemoryContext caller = CurrentMemoryContext;
	LoyaltyMember m;
	Datum		result;

	SPI_connect();
	/* balances are written at once: no sale statement's end will write them */
	loyalty_defer_balances = false;
	LoadProgram(e);
	FindSales(e);
	LockEnrolment(e);
	SumSpend(e);
	if (!AnswerRetry(e))
	{
		CheckSales(e);
		CheckThreshold(e);
		EnrolCard(e, &m);
		CreditSales(e, &m);
	}
	result = EnrolResult(fcinfo, caller, e);
	LoyaltyBudgetFlush();
	LoyaltyWriterClose();
	SPI_finish();
	return result;
}

/*
 * loyalty.enroll_with_sale(card, program, store, pos_txn): enrol a card after
 * the anonymous sale (store, pos_txn) met the program's threshold, and credit
 * its points.
 */
PG_FUNCTION_INFO_V1(loyalty_enroll_with_sale);
Datum
loyalty_enroll_with_sale(PG_FUNCTION_ARGS)
{
	Enrolment	e = {0};

	e.card = RequiredCard(fcinfo);
	e.program = RequiredText(fcinfo, 1, "program");
	e.nsales = 1;
	e.sales = palloc0(sizeof(EnrolSale));
	e.sales[0].store = RequiredText(fcinfo, 2, "store");
	e.sales[0].pos_txn = RequiredText(fcinfo, 3, "pos_txn");
	return Enrol(fcinfo, &e);
}

/* A text[] argument without NULL elements (LY013), as C strings. */
static int
TextArrayArgument(FunctionCallInfo fcinfo, int argno, const char *what, char ***out)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MISSING_KEY),
				 errmsg("%s are required", what),
				 errdetail("It may not be NULL.")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(argno), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	*out = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i] || VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i])) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_MISSING_KEY),
					 errmsg("%s are required", what),
					 errdetail("Element %d is NULL or empty.", i + 1)));
		(*out)[i] = TextDatumGetCString(elems[i]);
		if (strlen((*out)[i]) > LOYALTY_MAX_KEY_LENGTH)
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_MISSING_KEY),
					 errmsg("%s are too long", what),
					 errdetail("Element %d has %zu bytes; at most %d are allowed.", i + 1,
							   strlen((*out)[i]), LOYALTY_MAX_KEY_LENGTH)));
	}
	return n;
}

/*
 * loyalty.enroll_with_sales(card, program, stores, pos_txns): the same with
 * several receipts, (stores[i], pos_txns[i]), whose totals add up.
 */
PG_FUNCTION_INFO_V1(loyalty_enroll_with_sales);
Datum
loyalty_enroll_with_sales(PG_FUNCTION_ARGS)
{
	Enrolment	e = {0};
	char	  **stores;
	char	  **pos_txns;
	int			n;

	e.card = RequiredCard(fcinfo);
	e.program = RequiredText(fcinfo, 1, "program");
	n = TextArrayArgument(fcinfo, 2, "stores", &stores);
	if (TextArrayArgument(fcinfo, 3, "pos_txns", &pos_txns) != n || n == 0 || n > ENROL_MAX_SALES)
		SaleCannotEnrol(psprintf("enroll_with_sales takes 1 to %d receipts, a store and a pos_txn each",
								 ENROL_MAX_SALES),
						"stores[i] and pos_txns[i] name receipt i: the arrays have the same length.",
						NULL);
	e.nsales = n;
	e.sales = palloc0(sizeof(EnrolSale) * n);
	for (int i = 0; i < n; i++)
	{
		e.sales[i].store = stores[i];
		e.sales[i].pos_txn = pos_txns[i];
	}
	return Enrol(fcinfo, &e);
}
