/*
 * budget.c -- the overall budget of a rule (rule.budget_points), spent by
 * many sessions at once and never exceeded.
 *
 * One row that every sale of a campaign locked until commit would make
 * them queue there one durable commit after another.  So the budget is split
 * into BUDGET_SLOTS shares, one rule_spend row per slot, each with the most
 * points it may have spent (share) and the budget it was split from
 * (split_of).  The shares add up to the budget, and no slot spends beyond
 * its share, so the rule never spends beyond its budget.
 *
 *   - home: a sale tries the slots one by one, starting from a slot picked
 *     by its member, and locks one (FOR NO KEY UPDATE SKIP LOCKED) only if
 *     its share still covers the points wanted: sales in different slots do
 *     not wait for each other;
 *   - whole: when no slot covers them (the shares run low, the budget was
 *     changed, or the slots do not exist yet), the sale locks all slots in
 *     slot order, spends what the whole budget has left (possibly less than
 *     wanted: the award is capped) and splits the rest afresh over the slots.
 *
 * A sale holds at most one slot when it goes to "whole", and only if that
 * slot's share ran out between its look and its lock; two sales doing this
 * at the same moment may deadlock (40P01, the POS retries), nothing worse.
 * Once committed spending reaches the budget, sales see it without a lock
 * and the rule no longer fires.
 *
 * A slot stays locked until the transaction ends, so what a transaction
 * spends in the slots it holds is counted in backend memory (HeldSlot) and
 * written at the end of the sale statement (LoyaltyBudgetFlush, from its
 * statement-level trigger; XACT_EVENT_PRE_COMMIT writes what a failed
 * statement left), not by one UPDATE per sale: a back-fill of a million
 * sales in one statement would otherwise stack a million versions of a few
 * rows, each one's look-up walking all the earlier ones.  A subtransaction
 * that aborts takes its unwritten spending (and the locks it took) back with
 * it; what it wrote goes with its row versions.
 */
#include "rules.h"
#include "compat.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "utils/lsyscache.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#define BUDGET_SLOTS 8
#define MAX_HELD_SLOTS 64

/* A slot this transaction locked, and what it spent there, not yet written. */
typedef struct HeldSlot
{
	int32		rule_id;
	int16		slot;
	int64		budget;			/* the split_of it was locked with */
	int64		left;			/* share - points, counting the unwritten */
	SubTransactionId locked_in;

	/*
	 * Spending by the subtransaction that made it, and the one that wrote it
	 * to the row (Invalid: not yet).  A write made in a subtransaction that
	 * aborts is undone with it: the spending is unwritten again.  What the
	 * top level wrote is forgotten.
	 */
	int			nspends;
	struct
	{
		SubTransactionId subxid;
		SubTransactionId written_in;
		int64		points;
		int64		uses;
	}			spends[32];
} HeldSlot;

static HeldSlot held[MAX_HELD_SLOTS];
static int	nheld = 0;
static LocalTransactionId held_lxid = InvalidLocalTransactionId;
static bool callbacks_registered = false;



static LoyaltyPlan slot_spend_plan = {
	"UPDATE loyalty.rule_spend SET points = points OPERATOR(pg_catalog.+) $3, "
	"uses = uses OPERATOR(pg_catalog.+) 1 "
	"WHERE rule_id OPERATOR(pg_catalog.=) $1 AND slot OPERATOR(pg_catalog.=) $2",
	3, {INT4OID, INT2OID, INT8OID}
};

static LoyaltyPlan slots_ensure_plan = {
	"INSERT INTO loyalty.rule_spend (rule_id, slot) "
	"SELECT $1, s FROM pg_catalog.generate_series(0, $2) s ON CONFLICT DO NOTHING",
	2, {INT4OID, INT4OID}
};

/* in slot order: sales taking the whole budget lock the slots alike */
static LoyaltyPlan slots_lock_plan = {
	"SELECT slot, points FROM loyalty.rule_spend WHERE rule_id OPERATOR(pg_catalog.=) $1 "
	"ORDER BY slot FOR NO KEY UPDATE",
	1, {INT4OID}
};

static LoyaltyPlan slots_split_plan = {
	"UPDATE loyalty.rule_spend s SET points = s.points OPERATOR(pg_catalog.+) v.add, "
	"uses = s.uses OPERATOR(pg_catalog.+) v.use, share = v.share, split_of = $2 "
	"FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.int2[]), pg_catalog.unnest($4::pg_catalog.int8[]), "
	"  pg_catalog.unnest($5::pg_catalog.int8[]), pg_catalog.unnest($6::pg_catalog.int8[])) AS v(slot, add, use, share) "
	"WHERE s.rule_id OPERATOR(pg_catalog.=) $1 AND s.slot OPERATOR(pg_catalog.=) v.slot",
	6, {INT4OID, INT8OID, INT2ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}
};

static LoyaltyPlan slot_write_plan = {
	"UPDATE loyalty.rule_spend SET points = points OPERATOR(pg_catalog.+) $3, "
	"uses = uses OPERATOR(pg_catalog.+) $4 "
	"WHERE rule_id OPERATOR(pg_catalog.=) $1 AND slot OPERATOR(pg_catalog.=) $2",
	4, {INT4OID, INT2OID, INT8OID, INT8OID}
};

/* ---------- the slots this transaction holds ---------- */

static void
ForgetHeldIfOld(void)
{
	if (held_lxid != LY_MY_LXID)
	{
		nheld = 0;
		held_lxid = LY_MY_LXID;
	}
}

static HeldSlot *
FindHeld(int32 rule_id, int slot)
{
	ForgetHeldIfOld();
	for (int i = 0; i < nheld; i++)
		if (held[i].rule_id == rule_id && held[i].slot == slot)
			return &held[i];
	return NULL;
}

/* Note a slot just locked; NULL when there is no room (then write through). */
static HeldSlot *
AddHeld(int32 rule_id, int slot, int64 budget, int64 left)
{
	HeldSlot   *h = FindHeld(rule_id, slot);

	if (h == NULL)
	{
		if (nheld == MAX_HELD_SLOTS)
			return NULL;
		h = &held[nheld++];
		memset(h, 0, sizeof(*h));
		h->rule_id = rule_id;
		h->slot = (int16) slot;
		h->locked_in = GetCurrentSubTransactionId();
	}
	h->budget = budget;
	h->left = left;
	return h;
}

static int64
Unwritten(const HeldSlot *h, int64 *uses)
{
	int64		points = 0;

	*uses = 0;
	for (int k = 0; k < h->nspends; k++)
		if (h->spends[k].written_in == InvalidSubTransactionId)
		{
			points += h->spends[k].points;
			*uses += h->spends[k].uses;
		}
	return points;
}

static bool
HasUnwritten(const HeldSlot *h)
{
	for (int k = 0; k < h->nspends; k++)
		if (h->spends[k].written_in == InvalidSubTransactionId)
			return true;
	return false;
}

/* The unwritten spending has just been written, in this subtransaction. */
static void
MarkWritten(HeldSlot *h)
{
	SubTransactionId now = GetCurrentSubTransactionId();
	int			n = 0;

	for (int k = 0; k < h->nspends; k++)
	{
		if (h->spends[k].written_in == InvalidSubTransactionId)
			h->spends[k].written_in = now;

		/*
		 * Written by the subtransaction that made it (the top level
		 * included): nothing can separate the spending from its write any
		 * more -- an abort undoes both (and makes the slot stale), a commit
		 * hands both to the parent.  Forget it.
		 */
		if (h->spends[k].written_in != h->spends[k].subxid)
			h->spends[n++] = h->spends[k];
	}
	h->nspends = n;
}

/* Write a held slot's spending to its row.  Inside SPI. */
static void
WriteHeld(HeldSlot *h)
{
	Datum		v[4];
	int64		uses;
	int64		points = Unwritten(h, &uses);

	if (points == 0 && uses == 0)
		return;
	v[0] = Int32GetDatum(h->rule_id);
	v[1] = Int16GetDatum(h->slot);
	v[2] = Int64GetDatum(points);
	v[3] = Int64GetDatum(uses);
	LoyaltyExecute(&slot_write_plan, v, NULL, false, 0);
	MarkWritten(h);
}

/* Spend in a held slot, in memory (or, when its list is full, written at once). */
static void
SpendHeld(HeldSlot *h, int64 points)
{
	SubTransactionId subxid = GetCurrentSubTransactionId();

	h->left -= points;
	if (h->nspends > 0 && h->spends[h->nspends - 1].subxid == subxid &&
		h->spends[h->nspends - 1].written_in == InvalidSubTransactionId)
	{
		h->spends[h->nspends - 1].points += points;
		h->spends[h->nspends - 1].uses++;
		return;
	}
	if (h->nspends == lengthof(h->spends))
		WriteHeld(h);
	if (h->nspends == lengthof(h->spends))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many nested subtransactions spending the budget of rule %d", h->rule_id)));
	h->spends[h->nspends].subxid = subxid;
	h->spends[h->nspends].written_in = InvalidSubTransactionId;
	h->spends[h->nspends].points = points;
	h->spends[h->nspends].uses = 1;
	h->nspends++;
}

/*
 * Write what this transaction spent in its slots so far (the end of a sale
 * statement: one update per slot per statement, not per sale), directly
 * unless rule_spend has an UPDATE trigger of its own.
 */
void
LoyaltyBudgetFlush(void)
{
	bool		any = false;

	if (held_lxid != LY_MY_LXID)
		return;
	for (int i = 0; i < nheld && !any; i++)
		any = HasUnwritten(&held[i]);
	if (!any)
		return;
	SPI_connect();
	if (!LoyaltyWriterDirect(LOYALTY_RULE_SPEND))
	{
		for (int i = 0; i < nheld; i++)
			WriteHeld(&held[i]);
	}
	else
	{
		Relation	rel = LoyaltyOpen("rule_spend", false, RowExclusiveLock);
		TupleTableSlot *found = table_slot_create(rel, NULL);

		LoyaltyPushReadSnapshot(false);
		for (int i = 0; i < nheld; i++)
		{
			HeldSlot   *h = &held[i];
			Datum		keys[2] = {Int32GetDatum(h->rule_id), Int16GetDatum(h->slot)};
			LoyaltyRow *row;
			int64		uses;
			int64		points = Unwritten(h, &uses);

			if (!HasUnwritten(h))
				continue;
			/* the version this transaction holds locked (and may have written) */
			if (!LoyaltyFetchByKey(rel, "rule_spend_pkey", 2, keys, GetActiveSnapshot(), found))
				continue;		/* the rule was deleted meanwhile */
			row = LoyaltyRowBegin(LOYALTY_RULE_SPEND);
			LoyaltyRowAdd(row, "points", points);
			LoyaltyRowAdd(row, "uses", uses);
			LoyaltyRowUpdate(row, &found->tts_tid);
			MarkWritten(h);
		}
		PopActiveSnapshot();
		ExecDropSingleTupleTableSlot(found);
	}
	SPI_finish();
}

static void
BudgetXactCallback(XactEvent event, void *arg)
{
	if (held_lxid != LY_MY_LXID)
		return;
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
	{
		bool		any = false;
		Oid			save_user;
		int			save_sec;

		for (int i = 0; i < nheld && !any; i++)
			any = HasUnwritten(&held[i]);
		if (!any)
			return;

		/*
		 * After the last statement: no snapshot is active any more, and the
		 * user is the session's (a POS role may not write rule_spend): write
		 * as the table's owner, as the sale trigger would have.
		 */
		GetUserIdAndSecContext(&save_user, &save_sec);
		SetUserIdAndSecContext(LoyaltyTableOwner("rule_spend"), save_sec | SECURITY_LOCAL_USERID_CHANGE);
		PushActiveSnapshot(GetTransactionSnapshot());
		SPI_connect();
		for (int i = 0; i < nheld; i++)
			WriteHeld(&held[i]);
		SPI_finish();
		PopActiveSnapshot();
		SetUserIdAndSecContext(save_user, save_sec);
	}
	else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
			 event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_ABORT)
		nheld = 0;
}

/*
 * An aborted subtransaction's spending never happened and its row locks are
 * gone; a committed one's belong to its parent.
 */
static void
BudgetSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	int			kept = 0;

	if (held_lxid != LY_MY_LXID ||
		(event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	for (int i = 0; i < nheld; i++)
	{
		HeldSlot   *h = &held[i];
		int			n = 0;

		for (int k = 0; k < h->nspends; k++)
		{
			if (event == SUBXACT_EVENT_COMMIT_SUB)
			{
				if (h->spends[k].subxid == mySubid)
					h->spends[k].subxid = parentSubid;
				if (h->spends[k].written_in == mySubid)
					h->spends[k].written_in = parentSubid;
				h->spends[n++] = h->spends[k];
			}
			else if (h->spends[k].subxid == mySubid)
				h->left += h->spends[k].points;	/* never happened */
			else
			{
				/* an earlier spending written here: the write is undone */
				if (h->spends[k].written_in == mySubid)
					h->spends[k].written_in = InvalidSubTransactionId;
				h->spends[n++] = h->spends[k];
			}
		}
		h->nspends = n;
		/* a committed child's entries may now match their parent's: merge them */
		n = 0;
		for (int k = 0; k < h->nspends; k++)
		{
			int			j;

			for (j = 0; j < n; j++)
				if (h->spends[j].subxid == h->spends[k].subxid &&
					h->spends[j].written_in == h->spends[k].written_in)
					break;
			if (j < n)
			{
				h->spends[j].points += h->spends[k].points;
				h->spends[j].uses += h->spends[k].uses;
			}
			else if (h->spends[k].written_in != TopSubTransactionId)
				h->spends[n++] = h->spends[k];
		}
		h->nspends = n;

		/*
		 * The aborted subtransaction may have split the budget afresh: what
		 * this slot has left is no longer known.  The next sale takes from
		 * the whole budget, which reads the rows and splits again.
		 */
		if (event == SUBXACT_EVENT_ABORT_SUB)
			h->budget = -1;
		if (h->locked_in == mySubid)
		{
			if (event == SUBXACT_EVENT_ABORT_SUB)
				continue;		/* the lock went with it: drop the slot */
			h->locked_in = parentSubid;
		}
		held[kept++] = *h;
	}
	nheld = kept;
}

static void
RegisterCallbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(BudgetXactCallback, NULL);
	RegisterSubXactCallback(BudgetSubXactCallback, NULL);
	callbacks_registered = true;
}

/* ---------- taking points ---------- */

/* A rule_spend row as read; split_of -1 when NULL. */
typedef struct SlotState
{
	int			slot;
	int64		points;
	int64		share;
	int64		split_of;
} SlotState;

static void
ReadSlot(Relation rel, TupleTableSlot *row, SlotState *st)
{
	bool		isnull;

	st->slot = DatumGetInt16(slot_getattr(row, LoyaltyRelColumn(rel, "slot"), &isnull));
	st->points = DatumGetInt64(slot_getattr(row, LoyaltyRelColumn(rel, "points"), &isnull));
	st->share = DatumGetInt64(slot_getattr(row, LoyaltyRelColumn(rel, "share"), &isnull));
	st->split_of = DatumGetInt64(slot_getattr(row, LoyaltyRelColumn(rel, "split_of"), &isnull));
	if (isnull)
		st->split_of = -1;
}

/*
 * What the committed spending leaves in each slot (-1: the slot is missing
 * or was split from another budget), and the points spent in all.
 */
static int64
PeekSlots(int32 rule_id, int64 budget, int64 *left)
{
	Relation	rel = LoyaltyOpen("rule_spend", false, AccessShareLock);
	TupleTableSlot *row = table_slot_create(rel, NULL);
	LoyaltyKey	key = {1, BTEqualStrategyNumber, Int32GetDatum(rule_id)};
	IndexScanDesc scan;
	int64		spent = 0;

	for (int s = 0; s < BUDGET_SLOTS; s++)
		left[s] = -1;
	LoyaltyPushReadSnapshot(false);
	scan = LoyaltyIndexScan(rel, "rule_spend_pkey", 1, &key, GetActiveSnapshot());
	while (index_getnext_slot(scan, ForwardScanDirection, row))
	{
		SlotState	st;

		ReadSlot(rel, row, &st);
		if (st.slot >= 0 && st.slot < BUDGET_SLOTS && st.split_of == budget)
			left[st.slot] = st.share - st.points;
		spent += st.points;
	}
	LoyaltyIndexScanEnd(scan);
	PopActiveSnapshot();
	ExecDropSingleTupleTableSlot(row);
	return spent;
}

/*
 * Lock slot s of the rule unless another transaction holds it (SKIP
 * LOCKED); what it has left and the budget it was split from, as locked.
 */
static bool
LockSlot(int32 rule_id, int s, int64 *left, int64 *split_of)
{
	Relation	rel = LoyaltyOpen("rule_spend", false, RowShareLock);
	TupleTableSlot *row = table_slot_create(rel, NULL);
	Datum		keys[2] = {Int32GetDatum(rule_id), Int16GetDatum(s)};
	bool		locked = false;

	LoyaltyPushReadSnapshot(false);
	if (LoyaltyFetchByKey(rel, "rule_spend_pkey", 2, keys, GetActiveSnapshot(), row) &&
		LoyaltyLockRow(rel, row, GetActiveSnapshot(), LockWaitSkip))
	{
		SlotState	st;

		ReadSlot(rel, row, &st);
		*left = st.share - st.points;
		*split_of = st.split_of;
		locked = true;
	}
	PopActiveSnapshot();
	ExecDropSingleTupleTableSlot(row);
	return locked;
}

/*
 * Take `wanted` points in one slot whose share covers them, trying the slots
 * from `home` on; false if none would.  Sets *holding when it locked a slot
 * that then fell short.
 */
static bool
TakeFromASlot(int32 rule_id, int64 budget, int home, int64 wanted,
			  const int64 *left, bool *holding)
{
	for (int k = 0; k < BUDGET_SLOTS; k++)
	{
		int			s = (home + k) % BUDGET_SLOTS;
		Datum		v[3];
		int64		now_left;
		int64		split_of;
		HeldSlot   *h;

		/* no slot is locked that did not look as if it would do */
		if (left[s] < wanted || FindHeld(rule_id, s) != NULL)
			continue;
		v[0] = Int32GetDatum(rule_id);
		v[1] = Int16GetDatum(s);
		if (!LockSlot(rule_id, s, &now_left, &split_of))
			continue;			/* another sale holds it: try the next */
		if (split_of != budget)
			now_left = -1;		/* split from another budget meanwhile */
		h = AddHeld(rule_id, s, budget, now_left);
		if (now_left < wanted)
		{
			*holding = true;	/* it ran out meanwhile */
			return false;
		}
		if (h)
			SpendHeld(h, wanted);
		else
		{
			v[2] = Int64GetDatum(wanted);
			LoyaltyExecute(&slot_spend_plan, v, NULL, false, 0);
		}
		return true;
	}
	return false;
}

/*
 * Take up to `wanted` points of the whole budget, with every slot locked,
 * and split what is left evenly over the slots.  Returns the points taken.
 */
static int64
TakeFromWhole(int32 rule_id, int64 budget, int home, int64 wanted)
{
	Datum		v[6];
	Datum		slot[BUDGET_SLOTS];
	Datum		add[BUDGET_SLOTS];
	Datum		use[BUDGET_SLOTS];
	Datum		share[BUDGET_SLOTS];
	int64		points[BUDGET_SLOTS] = {0};
	int64		shares[BUDGET_SLOTS];
	int64		spent = 0;
	int64		left;
	int64		taken;

	/* the rows must say what this transaction spent before they are split */
	for (int i = 0; i < nheld; i++)
		if (held[i].rule_id == rule_id)
			WriteHeld(&held[i]);
	v[0] = Int32GetDatum(rule_id);
	v[1] = Int32GetDatum(BUDGET_SLOTS - 1);
	LoyaltyExecute(&slots_ensure_plan, v, NULL, false, 0);
	LoyaltyExecute(&slots_lock_plan, v, NULL, false, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			s = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		if (s < 0 || s >= BUDGET_SLOTS)
			elog(ERROR, "rule_spend of rule %d has slot %d", rule_id, s);
		points[s] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		spent += points[s];
	}
	if (SPI_processed != BUDGET_SLOTS)
		elog(ERROR, "rule_spend of rule %d has " UINT64_FORMAT " slots", rule_id, (uint64) SPI_processed);

	taken = Min(wanted, Max(budget - spent, 0));
	points[home] += taken;
	left = Max(budget - spent - taken, 0);
	for (int s = 0; s < BUDGET_SLOTS; s++)
	{
		shares[s] = points[s] + left / BUDGET_SLOTS + (s < left % BUDGET_SLOTS ? 1 : 0);
		slot[s] = Int16GetDatum(s);
		add[s] = Int64GetDatum(s == home ? taken : 0);
		use[s] = Int64GetDatum(s == home && taken > 0 ? 1 : 0);
		share[s] = Int64GetDatum(shares[s]);
	}
	v[1] = Int64GetDatum(budget);
	v[2] = PointerGetDatum(construct_array(slot, BUDGET_SLOTS, INT2OID, 2, true, TYPALIGN_SHORT));
	v[3] = PointerGetDatum(construct_array(add, BUDGET_SLOTS, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	v[4] = PointerGetDatum(construct_array(use, BUDGET_SLOTS, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	v[5] = PointerGetDatum(construct_array(share, BUDGET_SLOTS, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	LoyaltyExecute(&slots_split_plan, v, NULL, false, 0);
	/* all eight are this transaction's now: the next sales spend in memory */
	for (int s = 0; s < BUDGET_SLOTS; s++)
		AddHeld(rule_id, s, budget, shares[s] - points[s]);
	return taken;
}

/*
 * Up to `wanted` points of rule `rule_id`'s budget for a sale of member
 * `member_id`: taken (under the slot locks) unless read_only, which only
 * says what the committed spending leaves.  Returns the points (<= wanted),
 * 0 when the budget is spent.
 */
int64
LoyaltyBudgetTake(int32 rule_id, int64 budget, int64 member_id, int64 wanted, bool read_only)
{
	int64		left[BUDGET_SLOTS];
	int			home = (int) (member_id % BUDGET_SLOTS);
	bool		holding = false;
	int64		spent;

	if (!read_only)
	{
		RegisterCallbacks();
		/* a slot this transaction holds already, its member's first */
		for (int k = 0; k < BUDGET_SLOTS; k++)
		{
			HeldSlot   *h = FindHeld(rule_id, (home + k) % BUDGET_SLOTS);

			if (h && h->budget == budget && h->left >= wanted)
			{
				SpendHeld(h, wanted);
				return wanted;
			}
		}
	}
	spent = PeekSlots(rule_id, budget, left);
	if (read_only)
		return Min(wanted, Max(budget - spent, 0));
	if (TakeFromASlot(rule_id, budget, home, wanted, left, &holding))
		return wanted;
	/* spending only grows: what committed sales spent is spent */
	if (!holding && spent >= budget)
		return 0;
	return TakeFromWhole(rule_id, budget, home, wanted);
}
