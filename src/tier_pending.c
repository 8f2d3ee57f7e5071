/*
 * tier_pending.c -- the member_tier and tier_day rows of a sale statement,
 * written once per member and once per (member, day) at its end.
 *
 * Each tiered sale changes its member's running figures (tier.c).  Written
 * per sale, a back-fill of a million sales updated each member's
 * member_tier row about ten times in one transaction, each update of a
 * version the transaction had written itself costing a combo command id
 * kept in backend memory until commit (about 48 bytes a sale), and a row
 * version, its WAL and its index work.  The member is locked by the sale
 * (LoyaltyResolveCard) and nothing else writes its row meanwhile, so the
 * row is kept here instead, per member, and written at the end of the
 * statement (LoyaltyTierFlush, from sale_statement_end) -- as pending.c
 * keeps the balances, bounded by the same loyalty.max_pending_members.
 *
 * A later sale of the member in the statement reads the row from here
 * (LoyaltyTierPendingGet, from LoyaltyTierRead): it sees the earlier sales'
 * figures and tier.  The member's tier_day rows wait with it: the state
 * holds the member's day set (tier_day.c), which a later sale changes in
 * place, so that each (member, day) row is read at most once and written
 * once; the days pending in all count against loyalty.max_pending_members
 * too.  tier_change rows are written at once.
 *
 * Subtransactions: each entry belongs to the subtransaction that changed it
 * last.  A sale in a deeper subtransaction (a nested statement in an
 * exception block) saves a copy of the entry's state when it reads it to
 * change it (LoyaltyTierPendingGet with for_write); the abort
 * of that subtransaction restores it, its commit hands the entry to the
 * parent.  A statement's end writes only the entries of its own
 * subtransaction; an entry that still has a saved state (a nested
 * statement's) then stays as an undo record without state of its own: if
 * the subtransaction aborts, its write goes with it and the saved state is
 * pending again.  The abort of the subtransaction the entries were made in
 * drops them with the sales that made them.  XACT_EVENT_PRE_COMMIT writes
 * whatever a statement left (it should leave nothing).
 */
#include "tier.h"
#include "compat.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

/* A member's row as it stands (valid), and which subtransaction made it. */
typedef struct TierState
{
	SubTransactionId subxid;
	bool		valid;			/* false: an undo record only (see above) */
	int32		tier_id;
	MemberTier	mt;				/* mt.tier unused; mt.spend and mt.days in
								 * tier_cxt; mt.exists: the row is in the
								 * table (at mt.tid), else it is inserted */
	struct TierState *saved;	/* the state before subxid changed it */
} TierState;

typedef struct PendingTier
{
	int64		member_id;		/* hash key */
	TierState	state;
} PendingTier;

static HTAB *pending = NULL;	/* in tier_cxt */
static MemoryContext tier_cxt = NULL;	/* child of TopTransactionContext */
static LocalTransactionId pending_lxid = InvalidLocalTransactionId;
static int64 pending_days = 0;	/* days of the entries' current states */
static bool callbacks_registered = false;

static bool
HavePending(void)
{
	if (pending != NULL && pending_lxid != LY_MY_LXID)
	{
		pending = NULL;			/* freed with its transaction */
		tier_cxt = NULL;
	}
	return pending != NULL;
}

/*
 * The member's row and days after a sale.  Days in tier_cxt are the
 * state's own set, changed in place by the sale (LoyaltyTierPendingGet);
 * others (read from the table by this sale) are copied into tier_cxt.
 */
static void
SetState(TierState *s, SubTransactionId subxid, int32 tier_id, const MemberTier *mt,
		 bool in_table)
{
	Datum		old = s->valid ? s->mt.spend : (Datum) 0;
	TierDays	old_days = s->mt.days;
	bool		had_days = s->valid;

	s->subxid = subxid;
	s->valid = true;
	s->tier_id = tier_id;
	s->mt = *mt;
	s->mt.exists = in_table;
	s->mt.tier = NULL;
	s->mt.spend = datumCopy(mt->spend, false, -1);	/* in tier_cxt */
	if (old != (Datum) 0 && old != s->mt.spend)
		pfree(DatumGetPointer(old));
	if (mt->days.cxt != tier_cxt)
	{
		LoyaltyTierDaysCopy(&s->mt.days, &mt->days, tier_cxt);
		if (had_days)
			LoyaltyTierDaysFree(&old_days);
	}
	pending_days += s->mt.days.ndays - (had_days ? old_days.ndays : 0);
}

/* Free a state's memory; counted: its days count in pending_days (not a saved state). */
static void
FreeState(TierState *s, bool counted)
{
	if (!s->valid)
		return;
	pfree(DatumGetPointer(s->mt.spend));
	if (counted)
		pending_days -= s->mt.days.ndays;
	LoyaltyTierDaysFree(&s->mt.days);
}

/*
 * Write the entries of subtransaction subxid (all: InvalidSubTransactionId)
 * that have a state; an entry with a saved state stays as an undo record,
 * the others go.
 */
static void
WriteEntries(SubTransactionId subxid, bool direct)
{
	HASH_SEQ_STATUS seq;
	PendingTier *e;
	MemoryContext per_member = AllocSetContextCreate(CurrentMemoryContext,
													 "loyalty pending tier write",
													 ALLOCSET_SMALL_SIZES);
	MemoryContext outer = CurrentMemoryContext;

	hash_seq_init(&seq, pending);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (subxid != InvalidSubTransactionId && e->state.subxid != subxid)
			continue;
		if (e->state.valid)
		{
			MemoryContextReset(per_member);
			MemoryContextSwitchTo(per_member);
			LoyaltyTierWriteRow(e->member_id, e->state.tier_id, &e->state.mt, direct);
			MemoryContextSwitchTo(outer);
			FreeState(&e->state, true);
			e->state.valid = false;
		}
		if (e->state.saved == NULL)
			(void) hash_search(pending, &e->member_id, HASH_REMOVE, NULL);
	}
	MemoryContextDelete(per_member);
}

/*
 * The end of a sale statement: write the member_tier rows its sales left
 * pending in its own subtransaction.  Inside SPI or not.
 */
void
LoyaltyTierFlush(void)
{
	if (!HavePending() || hash_get_num_entries(pending) == 0)
		return;
	SPI_connect();
	WriteEntries(GetCurrentSubTransactionId(), LoyaltyWriterDirect(LOYALTY_MEMBER_TIER));
	SPI_finish();
}

/*
 * loyalty.tier_pending_refuse(): set_tier and review_tiers call it before
 * they write member_tier rows.  A sale statement still running in the same
 * query (a data-modifying WITH, a function in its SELECT list) keeps its
 * members' rows in memory until it ends and would then write them over
 * theirs: refuse instead, with a SQLSTATE of its own.
 */
PG_FUNCTION_INFO_V1(loyalty_tier_pending_refuse);
Datum
loyalty_tier_pending_refuse(PG_FUNCTION_ARGS)
{
	if (HavePending() && hash_get_num_entries(pending) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_TIER_ROWS_PENDING),
				 errmsg("a sale statement of this query has not finished writing members' tiers"),
				 errdetail("The sales of a statement write their members' tier rows when the statement ends."),
				 errhint("Set or review tiers in a statement of its own, after the sales.")));
	PG_RETURN_VOID();
}

/*
 * A subtransaction ends: on abort its entries go back to the state saved
 * before it changed them (or go), on commit they are its parent's, whose
 * own saved state they supersede.
 */
static void
EndNested(SubTransactionId mySubid, SubTransactionId parentSubid, bool commit)
{
	HASH_SEQ_STATUS seq;
	PendingTier *e;

	hash_seq_init(&seq, pending);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		TierState  *saved = e->state.saved;

		if (e->state.subxid != mySubid)
			continue;
		if (!commit)
		{
			FreeState(&e->state, true);
			if (saved != NULL)
			{
				e->state = *saved;
				pfree(saved);
				if (e->state.valid)
					pending_days += e->state.mt.days.ndays;
			}
			else
				e->state.valid = false;
		}
		else
		{
			if (saved != NULL && saved->subxid == parentSubid)
			{
				FreeState(saved, false);
				e->state.saved = saved->saved;
				pfree(saved);
			}
			e->state.subxid = parentSubid;
		}
		if (!e->state.valid && e->state.saved == NULL)
			(void) hash_search(pending, &e->member_id, HASH_REMOVE, NULL);
	}
}

static void
TierSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	if (!HavePending())
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB || event == SUBXACT_EVENT_COMMIT_SUB)
		EndNested(mySubid, parentSubid, event == SUBXACT_EVENT_COMMIT_SUB);
}

static void
WriteAllBySql(void)
{
	WriteEntries(InvalidSubTransactionId, false);
}

static void
TierXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
	{
		if (HavePending() && hash_get_num_entries(pending) > 0)
			LoyaltyWriteAtCommit("member_tier", WriteAllBySql);
	}
	else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
			 event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_ABORT)
	{
		pending = NULL;			/* its memory goes with the transaction */
		tier_cxt = NULL;
	}
}

/*
 * The member's row as this statement left it, if it is pending: fills mt
 * (but for mt->tier) and *tier_id and returns true.  mt->days is the
 * state's own day set: a sale changes it in place and then hands mt back
 * to LoyaltyTierDefer, which always takes a pending member.  for_write: the
 * caller is such a sale; in a deeper subtransaction than the state's, the
 * state is saved first (see above).
 */
bool
LoyaltyTierPendingGet(int64 member_id, bool for_write, MemberTier *mt, int32 *tier_id)
{
	PendingTier *e;
	SubTransactionId subxid = GetCurrentSubTransactionId();

	if (!HavePending())
		return false;
	e = hash_search(pending, &member_id, HASH_FIND, NULL);
	if (e == NULL || !e->state.valid)
		return false;
	if (for_write && e->state.subxid != subxid)
	{
		MemoryContext old = MemoryContextSwitchTo(tier_cxt);
		TierState  *saved = palloc(sizeof(TierState));

		*saved = e->state;
		saved->mt.spend = datumCopy(e->state.mt.spend, false, -1);
		LoyaltyTierDaysCopy(&saved->mt.days, &e->state.mt.days, tier_cxt);
		MemoryContextSwitchTo(old);
		e->state.saved = saved;
		e->state.subxid = subxid;
	}
	*mt = e->state.mt;
	mt->exists = true;			/* counted already, whether written or not */
	mt->spend = datumCopy(e->state.mt.spend, false, -1);	/* the caller's */
	*tier_id = e->state.tier_id;
	return true;
}

/*
 * Keep the member's row for the end of the statement: true when taken,
 * false when the caller must write it now (a table of the sale's path has
 * a trigger of a DBA's, or no sale statement's end will write it).  A
 * member already pending is always kept here, so that the pending state
 * is never left behind a row written meanwhile.
 */
bool
LoyaltyTierDefer(int64 member_id, int32 tier_id, const MemberTier *mt)
{
	PendingTier *e;
	bool		found;
	SubTransactionId subxid = GetCurrentSubTransactionId();
	MemoryContext old;
	bool		in_table;

	e = HavePending() ? hash_search(pending, &member_id, HASH_FIND, NULL) : NULL;
	if (e == NULL)
	{
		/*
		 * only when no trigger of a DBA's could read member_tier meanwhile:
		 * none on the tables a sale writes (writer.c), none but ours on
		 * loyalty.sale (loyalty_defer_balances, set by the sale trigger)
		 */
		if (!loyalty_defer_balances ||
			!LoyaltyWriterDirect(LOYALTY_MEMBER_TIER) || !LoyaltyWriterDirect(LOYALTY_TIER_DAY) ||
			!LoyaltyWriterDirect(LOYALTY_TIER_CHANGE) || !LoyaltyWriterDirect(LOYALTY_LEDGER) ||
			!LoyaltyWriterDirect(LOYALTY_LOT) || !LoyaltyWriterDirect(LOYALTY_OUTBOX) ||
			!LoyaltyWriterDirect(LOYALTY_BALANCE))
			return false;
		/* full: write this subtransaction's members out, as its end would */
		if (HavePending() && hash_get_num_entries(pending) >= loyalty_max_pending_members)
			WriteEntries(subxid, true);
	}
	if (!HavePending())
	{
		HASHCTL		ctl;

		if (!callbacks_registered)
		{
			RegisterXactCallback(TierXactCallback, NULL);
			RegisterSubXactCallback(TierSubXactCallback, NULL);
			callbacks_registered = true;
		}
		tier_cxt = AllocSetContextCreate(TopTransactionContext, "loyalty pending tiers",
										 ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(PendingTier);
		ctl.hcxt = tier_cxt;
		pending = hash_create("loyalty pending tiers", 1024, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		pending_lxid = LY_MY_LXID;
		pending_days = 0;
	}
	old = MemoryContextSwitchTo(tier_cxt);
	e = hash_search(pending, &member_id, HASH_ENTER, &found);
	if (!found)
	{
		memset(&e->state, 0, sizeof(e->state));
		e->state.subxid = subxid;
	}
	/* is the row in the table?  a pending state knows, else the caller read it */
	in_table = e->state.valid ? e->state.mt.exists : mt->exists;
	if (found && e->state.subxid != subxid)
	{
		/*
		 * a deeper subtransaction: keep what to go back to (an undo record: a
		 * state of this member is saved by LoyaltyTierPendingGet)
		 */
		TierState  *saved = palloc(sizeof(TierState));

		Assert(!e->state.valid);

		*saved = e->state;
		e->state.valid = false;
		e->state.saved = saved;
	}
	SetState(&e->state, subxid, tier_id, mt, in_table);
	MemoryContextSwitchTo(old);
	/* too many days: write this subtransaction's members out, this one too */
	if (pending_days > loyalty_max_pending_members)
		WriteEntries(subxid, true);
	return true;
}
