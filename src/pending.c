/*
 * pending.c -- the balance changes of a sale statement, written once per
 * member at its end.
 *
 * A back-fill of a million sales in one statement updated each member's
 * member_balance row once per sale: about ten times per member, each a new
 * row version (and a new entry in its index when the page was full), and
 * each version the transaction both wrote and replaced cost a combo command
 * id held in backend memory until commit (57 bytes a sale).  The row is
 * locked by the first sale of the member anyway (LoyaltyResolveCard), so a
 * sale's credit to it is counted here instead, per member, and written at
 * the end of the statement (LoyaltyBalanceFlush, from sale_statement_end):
 * one update per member per statement.
 *
 * The table holds loyalty.max_pending_members members (262,144 by default:
 * about 25 MB); a sale of a member not in it that finds it full writes it
 * out first, as the end of the statement would, and starts an empty one, so
 * a statement over any number of members keeps its memory flat.  Each
 * such write makes every row's new version in one command, so a member's
 * row written out twice costs one combo command id per write-out, not per
 * sale.
 *
 * Everything is additive (net, debt, lifetime_earned, sales; last_entry_id
 * is the greatest), so a posting written directly meanwhile -- a return in
 * the same statement -- and the pending sum add up in any order; a posting
 * reads the row plus what is pending for its member
 * (LoyaltyPendingAdjust).  The pending changes belong to the subtransaction
 * the statement runs in: its abort drops them with the sales that made them,
 * its commit hands them to the parent; a sale in another subtransaction
 * (a nested statement in an exception block) writes its balance directly.
 * XACT_EVENT_PRE_COMMIT writes whatever a statement left (it should leave
 * nothing).  Within the statement, member_balance shows the balances as of
 * its start plus what was written directly.
 */
#include "loyalty.h"
#include "compat.h"

#include "access/xact.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "storage/proc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* loyalty.max_pending_members: members pending at most before a write-out */
int			loyalty_max_pending_members = 262144;

typedef struct PendingBalance
{
	int64		member_id;		/* hash key */
	int64		net;
	int64		debt;
	int64		earned;
	int64		sales;
	int64		last_entry_id;
} PendingBalance;

static HTAB *pending = NULL;	/* in TopTransactionContext */
bool		loyalty_defer_balances = false;	/* set by the sale trigger per sale */
static LocalTransactionId pending_lxid = InvalidLocalTransactionId;
static SubTransactionId pending_subxid = InvalidSubTransactionId;
static bool callbacks_registered = false;

static LoyaltyPlan pending_write_plan = {
	"UPDATE loyalty.member_balance SET net = net OPERATOR(pg_catalog.+) $2, "
	"debt = debt OPERATOR(pg_catalog.+) $3, "
	"lifetime_earned = lifetime_earned OPERATOR(pg_catalog.+) $4, "
	"sales = sales OPERATOR(pg_catalog.+) $5, "
	"last_entry_id = GREATEST(last_entry_id, $6), updated_at = pg_catalog.now() "
	"WHERE member_id OPERATOR(pg_catalog.=) $1",
	6, {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID}
};

static bool
HavePending(void)
{
	if (pending != NULL && pending_lxid != LY_MY_LXID)
		pending = NULL;			/* freed with its transaction */
	return pending != NULL && hash_get_num_entries(pending) > 0;
}

static void
Forget(void)
{
	if (pending != NULL && pending_lxid == LY_MY_LXID)
		hash_destroy(pending);
	pending = NULL;
}

/* Write every pending change; inside SPI when not direct. */
static void
WritePending(bool direct)
{
	HASH_SEQ_STATUS seq;
	PendingBalance *e;
	Relation	rel = direct ? LoyaltyOpen("member_balance", false, RowExclusiveLock) : NULL;
	TupleTableSlot *found = direct ? table_slot_create(rel, NULL) : NULL;
	HTAB	   *writing = pending;

	/* what writing one member's row allocates goes before the next (100k+) */
	MemoryContext per_member = AllocSetContextCreate(CurrentMemoryContext,
													 "loyalty pending write",
													 ALLOCSET_SMALL_SIZES);
	MemoryContext outer = CurrentMemoryContext;

	/*
	 * Detached first: a trigger the SQL path fires must neither see these
	 * changes as pending (they are being written) nor add to this table.
	 */
	pending = NULL;
	if (direct)
		LoyaltyPushReadSnapshot(false);
	hash_seq_init(&seq, writing);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		MemoryContextReset(per_member);
		MemoryContextSwitchTo(per_member);
		if (direct)
		{
			Datum		key = Int64GetDatum(e->member_id);
			LoyaltyRow *row;
			bool		isnull;
			int64		last;

			/* the version this transaction holds locked (or wrote since) */
			if (!LoyaltyFetchByKey(rel, "member_balance_pkey", 1, &key, GetActiveSnapshot(), found))
				elog(ERROR, "member " INT64_FORMAT " has no balance row", e->member_id);
			last = DatumGetInt64(slot_getattr(found, LoyaltyRelColumn(rel, "last_entry_id"), &isnull));
			row = LoyaltyRowBegin(LOYALTY_BALANCE);
			LoyaltyRowAdd(row, "net", e->net);
			LoyaltyRowAdd(row, "debt", e->debt);
			LoyaltyRowAdd(row, "lifetime_earned", e->earned);
			LoyaltyRowAdd(row, "sales", e->sales);
			if (e->last_entry_id > 0 && (isnull || e->last_entry_id > last))
				LoyaltyRowSet(row, "last_entry_id", Int64GetDatum(e->last_entry_id), false);
			LoyaltyRowSet(row, "updated_at", TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false);
			LoyaltyRowUpdate(row, &found->tts_tid);
		}
		else
		{
			Datum		v[6];
			char		n[6] = {' ', ' ', ' ', ' ', ' ', ' '};

			v[0] = Int64GetDatum(e->member_id);
			v[1] = Int64GetDatum(e->net);
			v[2] = Int64GetDatum(e->debt);
			v[3] = Int64GetDatum(e->earned);
			v[4] = Int64GetDatum(e->sales);
			v[5] = Int64GetDatum(e->last_entry_id);
			n[5] = e->last_entry_id > 0 ? ' ' : 'n';
			LoyaltyExecute(&pending_write_plan, v, n, false, 0);
		}
		MemoryContextSwitchTo(outer);
	}
	MemoryContextDelete(per_member);
	if (direct)
	{
		PopActiveSnapshot();
		ExecDropSingleTupleTableSlot(found);
	}
	hash_destroy(writing);
}

/*
 * The end of a sale statement: write what its sales left pending, if it runs
 * in the subtransaction they were made in (else its outer statement will).
 */
void
LoyaltyBalanceFlush(void)
{
	if (!HavePending() || pending_subxid != GetCurrentSubTransactionId())
		return;
	SPI_connect();
	WritePending(LoyaltyWriterDirect(LOYALTY_BALANCE));
	SPI_finish();
}

/*
 * Run write() when the transaction commits, after its last statement: as
 * the owner of table relname (cf. budget.c), inside SPI, with a fresh
 * snapshot.  What a statement left pending here and in tier_pending.c.
 */
void
LoyaltyWriteAtCommit(const char *relname, void (*write) (void))
{
	Oid			save_user;
	int			save_sec;

	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(LoyaltyTableOwner(relname), save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	write();
	SPI_finish();
	PopActiveSnapshot();
	SetUserIdAndSecContext(save_user, save_sec);
}

static void
WriteAllBySql(void)
{
	WritePending(false);
}

static void
PendingXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
	{
		if (HavePending())
			LoyaltyWriteAtCommit("member_balance", WriteAllBySql);
	}
	else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
			 event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_ABORT)
		pending = NULL;			/* its memory goes with the transaction */
}

static void
PendingSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (!HavePending() || pending_subxid != mySubid)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		Forget();				/* the sales that made them are undone too */
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		pending_subxid = parentSubid;
}

/*
 * Count a sale's credit to its member's balance for the end of the
 * statement: true when taken, false when the caller must write it now (the
 * table has an UPDATE trigger of its own, or the statement's changes are in
 * another subtransaction).
 */
bool
LoyaltyDeferBalance(int64 member_id, int64 net, int64 debt, int64 earned, int64 sales,
					int64 last_entry_id)
{
	PendingBalance *e;
	bool		found;

	/*
	 * Only when no trigger of a DBA's could look at or post to the balance
	 * meanwhile: none on the ledger, lots, outbox or balances (see
	 * writer.c), none but ours on loyalty.sale (the sale trigger says so).
	 */
	if (!loyalty_defer_balances ||
		!LoyaltyWriterDirect(LOYALTY_BALANCE) || !LoyaltyWriterDirect(LOYALTY_LEDGER) ||
		!LoyaltyWriterDirect(LOYALTY_LOT) || !LoyaltyWriterDirect(LOYALTY_OUTBOX))
		return false;
	if (HavePending())
	{
		if (pending_subxid != GetCurrentSubTransactionId())
			return false;

		/*
		 * Full, and a member not in it yet: write the others out, as the
		 * statement's end would, and go on with an empty table.  Their rows
		 * are not this member's, whose row the caller read and locked.
		 */
		if (hash_get_num_entries(pending) >= loyalty_max_pending_members &&
			hash_search(pending, &member_id, HASH_FIND, NULL) == NULL)
			WritePending(true);
	}
	if (!HavePending())
	{
		HASHCTL		ctl;

		if (!callbacks_registered)
		{
			RegisterXactCallback(PendingXactCallback, NULL);
			RegisterSubXactCallback(PendingSubXactCallback, NULL);
			callbacks_registered = true;
		}
		if (pending == NULL)
		{
			ctl.keysize = sizeof(int64);
			ctl.entrysize = sizeof(PendingBalance);
			ctl.hcxt = TopTransactionContext;
			pending = hash_create("loyalty pending balances", 1024, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
		pending_lxid = LY_MY_LXID;
		pending_subxid = GetCurrentSubTransactionId();
	}
	e = hash_search(pending, &member_id, HASH_ENTER, &found);
	if (!found)
	{
		e->net = e->debt = e->earned = e->sales = 0;
		e->last_entry_id = 0;
	}
	e->net += net;
	e->debt += debt;
	e->earned += earned;
	e->sales += sales;
	e->last_entry_id = Max(e->last_entry_id, last_entry_id);
	return true;
}

/* The member's balance row as read, plus what is pending for it. */
void
LoyaltyPendingAdjust(int64 member_id, int64 *debt, int64 *sales)
{
	PendingBalance *e;

	if (!HavePending())
		return;
	e = hash_search(pending, &member_id, HASH_FIND, NULL);
	if (e == NULL)
		return;
	*debt += e->debt;
	*sales += e->sales;
}
