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
#include "utils/inval.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/*
 * Index look-ups, without SQL, find a card's member, program and balance
 * row; for a posting the balance row is also locked, which serialises all
 * postings of one member (see ledger.c).
 */

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
/*
 * From a card to its member, program and balance: two index look-ups
 * (member_card, member_balance, which carries the member's program) and the
 * program's settings from the rules cache -- what a four-table join did
 * through SPI before.  For a posting (lock_for_posting) the look-ups read
 * with the snapshot SPI took for a read-write query (LoyaltyPushReadSnapshot)
 * and the balance row is locked: waiting for a posting in flight, and in
 * READ COMMITTED reading the latest version of the row once it is granted.
 * The card is read in the snapshot; status, debt, current card, program and
 * sales count from the locked row.  A replaced card is LY002.
 */
void
LoyaltyResolveCard(int64 card, bool lock_for_posting, LoyaltyMember *member)
{
	if (!LoyaltyResolveAnyCard(card, lock_for_posting, member))
		LoyaltyCardReplacedError(card);
}

/* LY002: the card has been replaced. */
void
LoyaltyCardReplacedError(int64 card)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_CARD_REPLACED),
			 errmsg("card \"%s\" has been replaced", LoyaltyCardText(card)),
			 errdetail("A replaced card can no longer be used."),
			 errhint("Use the member's current card.")));
}

/*
 * The member's balance row, read with snapshot (and locked, for a posting),
 * into *member with the program's settings.  False when its current card is
 * not `card` (0: no card to compare).
 */
static bool
ReadBalance(int64 member_id, int64 card, bool lock_for_posting, Snapshot snapshot,
			LoyaltyMember *member)
{
	Relation	balance_rel;
	TupleTableSlot *bs;
	Datum		key = Int64GetDatum(member_id);
	bool		isnull;
	bool		same_card;
	int32		program_id;
	char		status;
	int64		debt;
	int64		sales;
	int64		held;
	int64		open_holds;

	balance_rel = LoyaltyOpen("member_balance", false,
							  lock_for_posting ? RowShareLock : AccessShareLock);
	bs = table_slot_create(balance_rel, NULL);
	if (!LoyaltyFetchByKey(balance_rel, "member_balance_pkey", 1, &key, snapshot, bs))
		elog(ERROR, "member " INT64_FORMAT " has no balance row", member_id);
	if (lock_for_posting)
	{
		LoyaltyLockRow(balance_rel, bs, snapshot, LockWaitBlock);
		/*
		 * a change to the program (or the rules) that committed while we
		 * waited for the row: its invalidation, before the settings are read
		 * below (a row lock's wait, unlike a relation lock's, takes none)
		 */
		AcceptInvalidationMessages();
	}
	same_card = card == 0 ||
		DatumGetInt64(slot_getattr(bs, LoyaltyRelColumn(balance_rel, "card"), &isnull)) == card;
	status = TextDatumGetCString(slot_getattr(bs, LoyaltyRelColumn(balance_rel, "status"), &isnull))[0];
	debt = DatumGetInt64(slot_getattr(bs, LoyaltyRelColumn(balance_rel, "debt"), &isnull));
	program_id = DatumGetInt32(slot_getattr(bs, LoyaltyRelColumn(balance_rel, "program_id"), &isnull));
	sales = DatumGetInt64(slot_getattr(bs, LoyaltyRelColumn(balance_rel, "sales"), &isnull));
	held = DatumGetInt64(slot_getattr(bs, LoyaltyRelColumn(balance_rel, "held"), &isnull));
	open_holds = DatumGetInt64(slot_getattr(bs, LoyaltyRelColumn(balance_rel, "open_holds"), &isnull));
	/* plus what this statement's earlier sales of the member left pending */
	LoyaltyPendingAdjust(member_id, &debt, &sales);

	memset(member, 0, sizeof(*member));
	member->member_id = member_id;
	member->status = status;
	member->debt = debt;
	member->sales = sales;
	member->held = held;
	member->open_holds = open_holds;
	if (lock_for_posting)
	{
		/* the version we locked: writer.c updates it by its tid */
		member->balance_tid = bs->tts_tid;
		member->has_balance_tid = true;
	}
	ExecDropSingleTupleTableSlot(bs);
	LoyaltyProgramSettings(program_id, member);
	/* the moment the lock was granted: postings are dated no earlier */
	member->locked_at = GetCurrentTimestamp();
	return same_card;
}

/*
 * LoyaltyResolveCard that also accepts a replaced card: it then returns false,
 * with the member found (and locked) all the same.  A sale retried after its
 * card was replaced is answered as a retry; the caller refuses anything else.
 */
bool
LoyaltyResolveAnyCard(int64 card, bool lock_for_posting, LoyaltyMember *member)
{
	Relation	card_rel;
	TupleTableSlot *cs;
	Datum		key = Int64GetDatum(card);
	bool		isnull;
	bool		replaced;
	int64		member_id;

	LoyaltyPushReadSnapshot(!lock_for_posting);
	card_rel = LoyaltyOpen("member_card", false, AccessShareLock);
	cs = table_slot_create(card_rel, NULL);
	if (!LoyaltyFetchByKey(card_rel, "member_card_pkey", 1, &key, GetActiveSnapshot(), cs))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_CARD_NOT_FOUND),
				 errmsg("card \"%s\" is not enrolled", LoyaltyCardText(card)),
				 errhint("Enrol the card with loyalty.enroll() first.")));
	member_id = DatumGetInt64(slot_getattr(cs, LoyaltyRelColumn(card_rel, "member_id"), &isnull));
	slot_getattr(cs, LoyaltyRelColumn(card_rel, "replaced_at"), &isnull);
	replaced = !isnull;
	ExecDropSingleTupleTableSlot(cs);
	replaced |= !ReadBalance(member_id, card, lock_for_posting, GetActiveSnapshot(), member);
	PopActiveSnapshot();
	return !replaced;
}

/*
 * The member by id (a return without a card goes to the sale's member),
 * read as LoyaltyResolveCard reads a card's; locked for posting when asked.
 */
void
LoyaltyResolveMember(int64 member_id, bool lock_for_posting, LoyaltyMember *member)
{
	/*
	 * for a posting, a fresh snapshot: the member may have been enrolled
	 * (enroll_with_sale) while the caller waited for a lock
	 */
	LoyaltyPushReadSnapshot(!lock_for_posting);
	ReadBalance(member_id, 0, lock_for_posting, GetActiveSnapshot(), member);
	PopActiveSnapshot();
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
	int64		card;
	LoyaltyMember member;

	/* not STRICT: a NULL card is an error, not a NULL member (nor card 0) */
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MISSING_KEY),
				 errmsg("card is required"),
				 errdetail("It may not be NULL.")));
	card = PG_GETARG_INT64(0);
	LoyaltySetCardType(get_fn_expr_argtype(fcinfo->flinfo, 0));
	SPI_connect();
	LoyaltyResolveCard(card, false, &member);
	LoyaltyWriterClose();
	SPI_finish();
	PG_RETURN_INT64(member.member_id);
}

/*
 * When a member enrolled (loyalty.member.enrolled_at): no sale is dated
 * before it, and an anniversary tier year counts from it.
 */
TimestampTz
LoyaltyMemberEnrolledAt(int64 member_id)
{
	Relation	rel = LoyaltyOpen("member", false, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	Datum		key = Int64GetDatum(member_id);
	bool		isnull;
	TimestampTz enrolled_at;

	/*
	 * a fresh snapshot, as LoyaltyResolveCard's for a posting: a member
	 * enrolled earlier in this statement counts
	 */
	LoyaltyPushReadSnapshot(false);
	if (!LoyaltyFetchByKey(rel, "member_pkey", 1, &key, GetActiveSnapshot(), slot))
		elog(ERROR, "member " INT64_FORMAT " is missing", member_id);
	enrolled_at = DatumGetTimestampTz(slot_getattr(slot, LoyaltyRelColumn(rel, "enrolled_at"), &isnull));
	PopActiveSnapshot();
	ExecDropSingleTupleTableSlot(slot);
	return enrolled_at;
}
