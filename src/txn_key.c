/*
 * txn_key.c -- the (store, pos_txn) key that holds and redemptions share.
 *
 * A hold (loyalty.hold, UNIQUE (store, pos_txn)) and a redemption (a redeem
 * entry of loyalty.ledger, unique by (store, pos_txn)) may not use one key,
 * but no index spans the two tables, and two cards racing for one key lock
 * two different members.  So each side, after writing its own row, probes
 * the other table's index with a dirty snapshot, the way PostgreSQL checks
 * an exclusion constraint (check_exclusion_or_unique_constraint in
 * execIndexing.c): a row of a transaction still in progress is waited for
 * and the probe repeated; a committed row, or one of this transaction, means
 * the key is taken; a row of an aborted transaction is not there.  Both
 * sides write before they probe, so the one that probes second sees the
 * other's row, and the two cannot both commit.  When both wait for each
 * other, PostgreSQL's deadlock detector ends one (40P01); its retry meets the
 * other's row.  The wait holds no lock afterwards, so a transaction of many
 * redemptions takes no lock per key.
 */
#include "txn_key.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* the (store, pos_txn) index of each table, by LoyaltyKeyTable */
static const char *const key_index_names[] = {"hold_store_pos_txn_key", "ledger_redeem_pos_txn_idx"};

/* Open the table's (store, pos_txn) index; its table comes back in *heap. */
static Relation
OpenKeyIndex(LoyaltyKeyTable table, Relation *heap)
{
	Oid			index_oid = get_relname_relid(key_index_names[table],
											  get_namespace_oid("loyalty", false));
	Relation	index;

	if (!OidIsValid(index_oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation loyalty.%s does not exist", key_index_names[table]),
				 errhint("The loyalty extension reads it without SQL; create it again as the extension's script does.")));
	index = index_open(index_oid, AccessShareLock);
	*heap = table_open(index->rd_index->indrelid, AccessShareLock);
	return index;
}

/*
 * Whether a row of `table` (committed, or written by this transaction) has
 * the key (store, pos_txn); waits for a transaction still writing or
 * changing such a row to end first.  Called after the caller wrote its own
 * row with that key into the other table.
 */
bool
LoyaltyTxnKeyTaken(LoyaltyKeyTable table, const char *store, const char *pos_txn)
{
	Relation	heap;
	Relation	index = OpenKeyIndex(table, &heap);
	ScanKeyData keys[2];
	SnapshotData dirty;
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	bool		taken = false;

	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], F_TEXTEQ, CStringGetTextDatum(store));
	ScanKeyEntryInitialize(&keys[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[1], F_TEXTEQ, CStringGetTextDatum(pos_txn));
	InitDirtySnapshot(dirty);
	for (;;)
	{
		IndexScanDesc scan = index_beginscan(heap, index, &dirty, 2, 0);
		TransactionId xwait = InvalidTransactionId;

		index_rescan(scan, keys, 2, NULL, 0);
		if (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			/* the dirty snapshot names a transaction still at work on it */
			xwait = TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;
			taken = !TransactionIdIsValid(xwait);
		}
		index_endscan(scan);
		if (!TransactionIdIsValid(xwait))
			break;
		if (dirty.speculativeToken)
			SpeculativeInsertionWait(dirty.xmin, dirty.speculativeToken);
		else
			XactLockTableWait(xwait, heap, &slot->tts_tid, XLTW_InsertIndexUnique);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(heap, AccessShareLock);
	index_close(index, AccessShareLock);
	return taken;
}
