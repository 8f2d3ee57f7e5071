/*
 * voucher_rule.c -- the vouchers that voucher rules issue, from the sale
 * trigger, in the sale's own INSERT.
 *
 * The rules engine (rules.c) decides which voucher rules fire -- on a sale
 * with the other rules, on a return with the program's return rules
 * (on_return) -- and counts their caps and budgets; here each rule that
 * fired gets one voucher of its type, issued by the voucher code
 * (VoucherIssue, voucher.c: no SQL, its voucher_issued event in the outbox),
 * bound to the member and naming the sale (or return) and the rule.  A
 * return rule's voucher is worth what the returned lines it is about cost.
 * The codes go into the award (explain_sale shows them) and, as text[], into
 * sale.vouchers_issued, which RETURNING gives the POS to print.  A retried
 * sale or return never reaches here (the trigger answers it first), so a
 * retry issues nothing twice.
 *
 * A voucher type limited to an audience (voucher_type.audience) is issued
 * to its members only: the rules engine does not fire a rule of such a type
 * for anyone else, and issue_voucher refuses them
 * (LoyaltyVoucherAudienceRequire, LY127).
 */
#include "voucher_rule.h"
#include "audience.h"
#include "compat.h"
#include "voucher.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

/*
 * Issue one voucher for each voucher rule of award that fired, to member
 * member_id, naming sale sale_id; each outcome gets its code and says so in
 * its why.  Returns the codes as a text[] in rule order, or 0 when none.
 * Inside SPI, under the member's lock.
 */
Datum
LoyaltyIssueRuleVouchers(SaleAward *award, int64 member_id, int64 sale_id)
{
	Datum	   *codes = NULL;
	int			n = 0;

	for (int i = 0; i < award->noutcomes; i++)
	{
		RuleOutcome *o = &award->outcomes[i];

		if (!o->fired || o->voucher_type_id == 0)
			continue;
		o->voucher_code = VoucherIssue(o->voucher_type_id, member_id,
									   o->has_voucher_value ? o->voucher_value : (Datum) 0,
									   0, sale_id, o->rule_id);
		o->why = o->has_voucher_value ?
			psprintf("issued voucher %s of type %s worth %s", o->voucher_code, o->voucher_type,
					 DatumGetCString(DirectFunctionCall1(numeric_out, o->voucher_value))) :
			psprintf("issued voucher %s of type %s", o->voucher_code, o->voucher_type);
		if (codes == NULL)
			codes = palloc(sizeof(Datum) * award->noutcomes);
		codes[n++] = CStringGetTextDatum(o->voucher_code);
	}
	if (n == 0)
		return (Datum) 0;
	return PointerGetDatum(construct_array(codes, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * A return of a sale made at sold_at, by member m (active, locked), at
 * store and time at: the program's return rules are evaluated on the
 * returned lines and those that fire issue their vouchers.  Their outcomes
 * join the return's award as its "rules" (so explain_sale lists them; *award
 * 0: the return has no award of its own yet).  Returns the codes (text[]),
 * or 0.  Inside SPI.
 */
Datum
LoyaltyReturnVouchers(LoyaltyMember *m, const char *store, TimestampTz at,
					  TimestampTz sold_at, const SaleBasket *returned,
					  int64 sale_id, Datum *award)
{
	SaleFacts	facts = {0};
	SaleAward	ra;
	Datum		codes;
	Datum		rules;

	facts.member = m;
	facts.store = store;
	facts.occurred_at = at;
	LoyaltyEvaluateReturnRules(&facts, sold_at, returned, &ra);
	if (ra.noutcomes == 0)
		return (Datum) 0;
	codes = LoyaltyIssueRuleVouchers(&ra, m->member_id, sale_id);
	/* {"points": 0, "rounding": ..., "rules": [...]}: the rules alone */
	rules = LoyaltyAwardJson(returned, &ra);
	rules = DirectFunctionCall2(jsonb_delete, rules, CStringGetTextDatum("points"));
	rules = DirectFunctionCall2(jsonb_delete, rules, CStringGetTextDatum("rounding"));
	if (*award == (Datum) 0)
		*award = DirectFunctionCall1(jsonb_in, CStringGetDatum("{\"points\": 0}"));
	*award = DirectFunctionCall2(jsonb_concat, *award, rules);
	return codes;
}

/* the audience of a voucher type, by id, as compiled for the current command */
static LoyaltyPlan type_audience_plan = {
	"SELECT " LOYALTY_AUDIENCE_COLUMNS("t.audience") " FROM loyalty.voucher_type t "
	LOYALTY_AUDIENCE_JOIN("t.program_id", "t.audience")
	"WHERE t.voucher_type_id OPERATOR(pg_catalog.=) $1",
	1, {INT4OID}
};

static int32 cached_type_id = 0;
static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
static CommandId cached_cid = InvalidCommandId;
static LoyaltyAudienceRef cached_audience;

/*
 * The audience of voucher type voucher_type_id, read once per command (a
 * bulk issue of a million vouchers reads it once), into the transaction's
 * memory.  Inside SPI.
 */
static const LoyaltyAudienceRef *
TypeAudience(int32 voucher_type_id)
{
	Datum		arg = Int32GetDatum(voucher_type_id);
	MemoryContext old;

	if (cached_type_id == voucher_type_id && cached_lxid == LY_MY_LXID &&
		cached_cid == GetCurrentCommandId(false))
		return &cached_audience;
	LoyaltyExecute(&type_audience_plan, &arg, NULL, true, 1);
	if (SPI_processed != 1)
		elog(ERROR, "voucher type %d is missing", voucher_type_id);
	old = MemoryContextSwitchTo(TopTransactionContext);
	LoyaltyCompileAudience(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &cached_audience);
	MemoryContextSwitchTo(old);
	cached_type_id = voucher_type_id;
	cached_lxid = LY_MY_LXID;
	cached_cid = GetCurrentCommandId(false);
	return &cached_audience;
}

/*
 * issue_voucher's test of a voucher type limited to an audience: the
 * member (member_id; 0: a bearer voucher, which has none) must be in it now
 * -- clipped, if it is opt_in, and within its window -- else LY127.  One
 * probe of audience_member's key per voucher.  Inside SPI.
 */
void
LoyaltyVoucherAudienceRequire(int32 voucher_type_id, const char *type_code, int64 member_id)
{
	const LoyaltyAudienceRef *a = TypeAudience(voucher_type_id);
	char	   *why;

	if (!a->named)
		return;
	why = member_id == 0 ? pstrdup("a bearer voucher has no member") :
		LoyaltyAudienceFails(a, member_id, GetCurrentTransactionStartTimestamp(), true);
	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_VOUCHER_AUDIENCE),
				 errmsg("voucher type \"%s\" is issued to audience \"%s\" only", type_code, a->code),
				 errdetail("Here: %s.", why),
				 errhint("Issue it in bulk from the audience's members: join loyalty.audience_member.")));
}
