/*
 * member.c -- from a card number to the member, its status and its program.
 *
 * Every call that names a card comes through LoyaltyResolveCard, so an
 * unknown, replaced, suspended or closed card is refused the same way (and
 * with the same SQLSTATE) whether the caller posts points or reads a balance.
 */
#include "loyalty.h"

#include "utils/builtins.h"
#include "catalog/pg_type.h"
#include "utils/numeric.h"

/*
 * One query finds the card, its member, the program and the balance row;
 * for a posting it also takes the balance row lock, which serialises all
 * postings of one member (see ledger.c).
 */
#define RESOLVE_SELECT \
	"SELECT m.member_id, b.status, (c.replaced_at IS NOT NULL OR b.card OPERATOR(loyalty.<>) c.card), p.point_value, " \
	"       p.currency, p.expiry_after, p.expiry_rounding, p.pending_days, " \
	"       p.negative_balance, b.debt, p.program_id, p.points_per_unit, " \
	"       p.rounding, p.time_zone, p.return_days, b.ctid " \
	"FROM loyalty.member_card c " \
	"JOIN loyalty.member m ON m.member_id OPERATOR(pg_catalog.=) c.member_id " \
	"JOIN loyalty.program p ON p.program_id OPERATOR(pg_catalog.=) m.program_id " \
	"JOIN loyalty.member_balance b ON b.member_id OPERATOR(pg_catalog.=) m.member_id " \
	"WHERE c.card OPERATOR(loyalty.=) $1"

static LoyaltyPlan resolve_plan = {RESOLVE_SELECT, 1, {InvalidOid}};
static LoyaltyPlan resolve_lock_plan = {RESOLVE_SELECT " FOR NO KEY UPDATE OF b", 1, {InvalidOid}};

/* the same by member (a return without a card): the member's current card */
#define RESOLVE_MEMBER_SELECT \
	"SELECT b.card FROM loyalty.member_balance b WHERE b.member_id OPERATOR(pg_catalog.=) $1"
static LoyaltyPlan resolve_member_plan = {RESOLVE_MEMBER_SELECT, 1, {INT8OID}};

char *
LoyaltyCardText(int64 card)
{
	return DatumGetCString(DirectFunctionCall1(card_out, Int64GetDatum(card)));
}

/*
 * Find the member of a card.  Must be called inside SPI_connect; values that
 * outlive SPI are copied into the caller's memory context by SPI_datumTransfer
 * or pstrdup in the upper context.
 */
void
LoyaltyResolveCard(int64 card, bool lock_for_posting, LoyaltyMember *member)
{
	Datum		arg = Int64GetDatum(card);
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *status;
	char	   *policy;
	Datum		d;

	LoyaltyExecute(lock_for_posting ? &resolve_lock_plan : &resolve_plan,
				   &arg, NULL, !lock_for_posting, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_CARD_NOT_FOUND),
				 errmsg("card \"%s\" is not enrolled", LoyaltyCardText(card)),
				 errhint("Enrol the card with loyalty.enroll() first.")));

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_CARD_REPLACED),
				 errmsg("card \"%s\" has been replaced", LoyaltyCardText(card)),
				 errdetail("A replaced card can no longer be used."),
				 errhint("Use the member's current card.")));

	memset(member, 0, sizeof(*member));
	member->member_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	status = SPI_getvalue(tup, desc, 2);
	member->status = status[0];
	member->point_value = SPI_datumTransfer(SPI_getbinval(tup, desc, 4, &isnull),
											false, -1);
	member->currency = SPI_getvalue(tup, desc, 5);
	d = SPI_getbinval(tup, desc, 6, &isnull);
	member->has_expiry = !isnull;
	if (!isnull)
		member->expiry_after = *DatumGetIntervalP(d);
	member->expiry_rounding = SPI_getvalue(tup, desc, 7);
	member->pending_days = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
	policy = SPI_getvalue(tup, desc, 9);
	member->negative_balance = policy[0];
	member->debt = DatumGetInt64(SPI_getbinval(tup, desc, 10, &isnull));
	member->program_id = DatumGetInt32(SPI_getbinval(tup, desc, 11, &isnull));
	member->points_per_unit = SPI_datumTransfer(SPI_getbinval(tup, desc, 12, &isnull),
												false, -1);
	member->rounding = SPI_getvalue(tup, desc, 13)[0];	/* floor, half_up, ceil */
	member->time_zone = SPI_getvalue(tup, desc, 14);
	member->return_days = DatumGetInt32(SPI_getbinval(tup, desc, 15, &isnull));
	if (lock_for_posting)
	{
		/* the version we locked: writer.c updates it by its tid */
		member->balance_tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 16, &isnull));
		member->has_balance_tid = true;
	}
	/* the moment the lock was granted: postings are dated no earlier */
	member->locked_at = GetCurrentTimestamp();
}

/* The member by id, through its current card (same checks, same lock). */
void
LoyaltyResolveMember(int64 member_id, bool lock_for_posting, LoyaltyMember *member)
{
	Datum		arg = Int64GetDatum(member_id);
	bool		isnull;
	int64		card;

	LoyaltyExecute(&resolve_member_plan, &arg, NULL, true, 1);
	if (SPI_processed == 0)
		elog(ERROR, "member " INT64_FORMAT " has no balance row", member_id);
	card = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	LoyaltyResolveCard(card, lock_for_posting, member);
	if (member->member_id != member_id)
		elog(ERROR, "member " INT64_FORMAT " changed its card meanwhile", member_id);
}

/* Postings need an active member; reads accept any status. */
void
LoyaltyRequireActive(int64 card, const LoyaltyMember *member)
{
	if (member->status == 's')
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MEMBER_SUSPENDED),
				 errmsg("member of card \"%s\" is suspended", LoyaltyCardText(card)),
				 errdetail("A suspended member can neither earn nor redeem points."),
				 errhint("Reactivate the member with loyalty.set_member_status().")));
	if (member->status == 'c')
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MEMBER_CLOSED),
				 errmsg("member of card \"%s\" is closed", LoyaltyCardText(card)),
				 errdetail("A closed membership cannot be used again.")));
}

/*
 * loyalty.member_id(card): the member behind a card, refusing unknown and
 * replaced cards.  Reads only; any member status is accepted.
 */
PG_FUNCTION_INFO_V1(loyalty_member_id);
Datum
loyalty_member_id(PG_FUNCTION_ARGS)
{
	int64		card = PG_GETARG_INT64(0);
	LoyaltyMember member;

	LoyaltySetCardType(get_fn_expr_argtype(fcinfo->flinfo, 0));
	SPI_connect();
	LoyaltyResolveCard(card, false, &member);
	SPI_finish();
	PG_RETURN_INT64(member.member_id);
}
