/*
 * member.c -- from a card number to the member, its status and its program.
 *
 * Every call that names a card comes through LoyaltyResolveCard, so an
 * unknown, replaced, suspended or closed card is refused the same way (and
 * with the same SQLSTATE) whether the caller posts points or reads a balance.
 * It reads by index look-ups, without SPI (it runs for every sale).
 */
#include "loyalty.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "parser/parse_relation.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/*
 * One query finds the card, its member, the program and the balance row;
 * for a posting it also takes the balance row lock, which serialises all
 * postings of one member (see ledger.c).
 */
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
static char *
TextColumn(TupleTableSlot *slot, Relation rel, const char *name)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, attnameAttNum(rel, name, false), &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static Datum
ValueColumn(TupleTableSlot *slot, Relation rel, const char *name, bool *isnull)
{
	Form_pg_attribute att;
	AttrNumber	n = attnameAttNum(rel, name, false);
	Datum		d = slot_getattr(slot, n, isnull);

	att = TupleDescAttr(RelationGetDescr(rel), n - 1);
	return *isnull ? (Datum) 0 : datumCopy(d, att->attbyval, att->attlen);
}

/*
 * From a card to its member, program and balance, by four index look-ups
 * (member_card, member, program, member_balance) -- what a four-table join
 * did through SPI before.  For a posting (lock_for_posting) it first makes
 * this transaction's own changes visible and takes a new snapshot (as SPI
 * did for a read-write query: a new one per call in READ COMMITTED, the
 * transaction's in REPEATABLE READ), then locks the balance row: waiting
 * for a posting in flight, and in READ COMMITTED reading the latest version
 * of the row once it is granted.  The program and card are read in the
 * snapshot; the status, the debt and the current card from the locked row.
 */
void
LoyaltyResolveCard(int64 card, bool lock_for_posting, LoyaltyMember *member)
{
	Oid			nsp = get_namespace_oid("loyalty", false);
	Relation	card_rel,
				member_rel,
				program_rel,
				balance_rel;
	TupleTableSlot *cs,
			   *ms,
			   *ps,
			   *bs;
	Snapshot	snapshot;
	Datum		key;
	bool		isnull;
	bool		found;
	bool		replaced;
	char	   *text;
	Datum		d;

	LoyaltyPushReadSnapshot(!lock_for_posting);
	snapshot = GetActiveSnapshot();

	card_rel = table_open(get_relname_relid("member_card", nsp), AccessShareLock);
	cs = table_slot_create(card_rel, NULL);
	key = Int64GetDatum(card);
	found = LoyaltyFetchByKey(card_rel, "member_card_pkey", 1, &key, snapshot, cs);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_CARD_NOT_FOUND),
				 errmsg("card \"%s\" is not enrolled", LoyaltyCardText(card)),
				 errhint("Enrol the card with loyalty.enroll() first.")));
	memset(member, 0, sizeof(*member));
	member->member_id = DatumGetInt64(slot_getattr(cs, attnameAttNum(card_rel, "member_id", false), &isnull));
	slot_getattr(cs, attnameAttNum(card_rel, "replaced_at", false), &isnull);
	replaced = !isnull;

	member_rel = table_open(get_relname_relid("member", nsp), AccessShareLock);
	ms = table_slot_create(member_rel, NULL);
	key = Int64GetDatum(member->member_id);
	if (!LoyaltyFetchByKey(member_rel, "member_pkey", 1, &key, snapshot, ms))
		elog(ERROR, "member " INT64_FORMAT " of card %s is missing", member->member_id, LoyaltyCardText(card));
	member->program_id = DatumGetInt32(slot_getattr(ms, attnameAttNum(member_rel, "program_id", false), &isnull));

	program_rel = table_open(get_relname_relid("program", nsp), AccessShareLock);
	ps = table_slot_create(program_rel, NULL);
	key = Int32GetDatum(member->program_id);
	if (!LoyaltyFetchByKey(program_rel, "program_pkey", 1, &key, snapshot, ps))
		elog(ERROR, "program %d is missing", member->program_id);
	member->point_value = ValueColumn(ps, program_rel, "point_value", &isnull);
	member->currency = TextColumn(ps, program_rel, "currency");
	d = ValueColumn(ps, program_rel, "expiry_after", &isnull);
	member->has_expiry = !isnull;
	if (!isnull)
		member->expiry_after = *DatumGetIntervalP(d);
	member->expiry_rounding = TextColumn(ps, program_rel, "expiry_rounding");
	member->pending_days = DatumGetInt32(ValueColumn(ps, program_rel, "pending_days", &isnull));
	member->negative_balance = TextColumn(ps, program_rel, "negative_balance")[0];
	member->points_per_unit = ValueColumn(ps, program_rel, "points_per_unit", &isnull);
	member->rounding = TextColumn(ps, program_rel, "rounding")[0];	/* floor, half_up, ceil */
	member->time_zone = TextColumn(ps, program_rel, "time_zone");
	member->return_days = DatumGetInt32(ValueColumn(ps, program_rel, "return_days", &isnull));

	balance_rel = table_open(get_relname_relid("member_balance", nsp),
							 lock_for_posting ? RowShareLock : AccessShareLock);
	bs = table_slot_create(balance_rel, NULL);
	key = Int64GetDatum(member->member_id);
	if (!LoyaltyFetchByKey(balance_rel, "member_balance_pkey", 1, &key, snapshot, bs))
		elog(ERROR, "member " INT64_FORMAT " has no balance row", member->member_id);
	if (lock_for_posting)
		LoyaltyLockRow(balance_rel, bs, snapshot, LockWaitBlock);
	d = slot_getattr(bs, attnameAttNum(balance_rel, "card", false), &isnull);
	replaced |= DatumGetInt64(d) != card;
	if (replaced)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_CARD_REPLACED),
				 errmsg("card \"%s\" has been replaced", LoyaltyCardText(card)),
				 errdetail("A replaced card can no longer be used."),
				 errhint("Use the member's current card.")));
	text = TextColumn(bs, balance_rel, "status");
	member->status = text[0];
	member->debt = DatumGetInt64(slot_getattr(bs, attnameAttNum(balance_rel, "debt", false), &isnull));
	if (lock_for_posting)
	{
		/* the version we locked: writer.c updates it by its tid */
		member->balance_tid = bs->tts_tid;
		member->has_balance_tid = true;
	}

	ExecDropSingleTupleTableSlot(bs);
	ExecDropSingleTupleTableSlot(ps);
	ExecDropSingleTupleTableSlot(ms);
	ExecDropSingleTupleTableSlot(cs);
	table_close(balance_rel, NoLock);
	table_close(program_rel, NoLock);
	table_close(member_rel, NoLock);
	table_close(card_rel, NoLock);
	PopActiveSnapshot();
	/* the moment the lock was granted: postings are dated no earlier */
	member->locked_at = GetCurrentTimestamp();
}

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
