/*
 * hold.c -- tender holds: authorize, capture, void, and their expiry.
 *
 * A POS that takes points as tender reserves them first (authorize) and
 * spends them when the basket is paid (capture, all or fewer) or gives them
 * back (void).  Every call follows the ledger's path (ledger.c): the member's
 * balance row is locked first, so the calls of one member run one at a time,
 * and a retry is recognised under that lock.
 *
 * Held points are taken out of their lots at authorize time (LoyaltyTakeLots,
 * the lots a redemption would take, earliest expiry first) and recorded on
 * the hold row, so no other debit and no expire_points can take them: the
 * capture cannot fail for lack of points.  member_balance.held counts them.
 * A capture posts one redeem entry naming the lots the hold took (the first
 * lots, up to the points captured) and puts the rest back; a void or an
 * expiry puts them all back.
 *
 * A debit that cannot be refused (a reversal, a negative adjustment) takes
 * the lots it would take without the hold, held points included (ledger.c,
 * SelectLots; LoyaltyTakeFromHolds here): the hold keeps its points but
 * fewer of them in lots (hold.taken).  A void then gives back only what is
 * left, so the member ends as without the hold; a capture takes what the
 * reversals took from the member's other points, as any debit that cannot
 * be refused (shortfall under 'truncate', debt under 'allow').  A lot that passed its own expiry meanwhile
 * gets its points back all the same, and the next expire_points expires
 * them (balance counts them as expired at once).
 *
 * A hold not captured by expires_at (authorized_at + the program's
 * hold_minutes) counts as released from that moment: balance() says so, a
 * capture is refused (LY103), and every later debit or authorize of the
 * member releases it for real first (LoyaltyReleaseLapsedHolds, called from
 * ledger.c's lot selection), emitting hold_expired.  sweep_holds() does the
 * same for every member, for tidiness only.  Both look only while
 * member_balance.open_holds (the number of open holds) is above 0.
 *
 * Invariants (loyalty.check_invariants()): member_balance.held = the points
 * of open holds, open_holds = their number; net = open lots + held - debt;
 * each lot = what the ledger put in and took, less what open holds keep out
 * of it.
 */
#include "hold.h"

#include "access/genam.h"
#include "access/tableam.h"
#include "access/tupconvert.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "rules.h"
#include "txn_key.h"

typedef enum HoldStatus			/* hold.status */
{
	HOLD_OPEN,
	HOLD_CAPTURED,
	HOLD_VOIDED,
	HOLD_EXPIRED
} HoldStatus;

static const char *const hold_status_names[] = {"open", "captured", "voided", "expired", NULL};

/* A hold row as the calls read it under the member's lock. */
typedef struct Hold
{
	int64		member_id;
	int64		hold_id;
	HoldStatus	status;
	int64		points;
	int64		captured;		/* 0 unless captured */
	int64		taken;			/* points reversals took from the hold's lots */
	TimestampTz expires_at;
	Datum		lot_ids;		/* int8[] */
	Datum		lot_points;		/* int8[] */
	char	   *store;
	char	   *pos_txn;
	bool		has_tid;		/* read without SQL (FetchHold): the row's tid */
	ItemPointerData tid;
} Hold;

#define HOLD_COLUMNS \
	"member_id, hold_id, status, points, captured, expires_at, lot_ids, lot_points, store, pos_txn, taken"

static LoyaltyPlan find_by_txn_plan = {
	"SELECT * FROM loyalty.hold "
	"WHERE store OPERATOR(pg_catalog.=) $1 AND pos_txn OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

static LoyaltyPlan hold_row_plan = {
	"SELECT * FROM loyalty.hold "
	"WHERE member_id OPERATOR(pg_catalog.=) $1 AND hold_id OPERATOR(pg_catalog.=) $2",
	2, {INT8OID, INT8OID}
};

/* the member's lapsed holds among its open ones ($3: LoyaltyOpenHoldIds) */
static LoyaltyPlan lapsed_holds_plan = {
	"SELECT " HOLD_COLUMNS " FROM loyalty.hold "
	"WHERE member_id OPERATOR(pg_catalog.=) $1 AND hold_id OPERATOR(pg_catalog.=) ANY ($3) "
	"AND status OPERATOR(pg_catalog.=) 'open' AND expires_at OPERATOR(pg_catalog.<=) $2 "
	"ORDER BY authorized_at, store, pos_txn",
	3, {INT8OID, TIMESTAMPTZOID, INT8ARRAYOID}
};

/* another card's hold of the key: nothing; the same hold_id: a unique violation */
static LoyaltyPlan insert_hold_plan = {
	"INSERT INTO loyalty.hold (member_id, store, pos_txn, points, value, currency, "
	"authorized_at, expires_at, lot_ids, lot_points, hold_id) "
	"SELECT $1, $2, $3, $4, $5, $6, $7, "
	"$7 OPERATOR(pg_catalog.+) pg_catalog.make_interval(mins => p.hold_minutes), $8, $9, $11 "
	"FROM loyalty.program p WHERE p.program_id OPERATOR(pg_catalog.=) $10 "
	"ON CONFLICT (store, pos_txn) DO NOTHING RETURNING *",
	11, {INT8OID, TEXTOID, TEXTOID, INT8OID, NUMERICOID, TEXTOID, TIMESTAMPTZOID,
	INT8ARRAYOID, INT8ARRAYOID, INT4OID, INT8OID}
};

static LoyaltyPlan close_hold_plan = {
	"UPDATE loyalty.hold SET status = $3, closed_at = $4, captured = $5, "
	"captured_value = $6, redemption_id = $7 "
	"WHERE member_id OPERATOR(pg_catalog.=) $1 AND hold_id OPERATOR(pg_catalog.=) $2 "
	"RETURNING *",
	7, {INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, INT8OID, NUMERICOID, INT8OID}
};

static LoyaltyPlan add_held_plan = {
	"UPDATE loyalty.member_balance SET held = held OPERATOR(pg_catalog.+) $2, "
	"open_holds = open_holds OPERATOR(pg_catalog.+) $3, "
	"updated_at = pg_catalog.now() WHERE member_id OPERATOR(pg_catalog.=) $1",
	3, {INT8OID, INT8OID, INT8OID}
};

/* members with open holds: sweep_holds() walks each one's (WalkOpenHolds) */
static LoyaltyPlan members_with_holds_plan = {
	"SELECT member_id, open_holds FROM loyalty.member_balance "
	"WHERE open_holds OPERATOR(pg_catalog.>) 0 ORDER BY member_id",
	0, {InvalidOid}
};

/* ---------- helpers ---------- */

/* A hold row (HOLD_COLUMNS, or the whole row: read by name) into *h. */
static void
HoldFromTuple(HeapTuple tup, TupleDesc desc, Hold *h)
{
	bool		isnull;
	Datum		d;

	h->member_id = DatumGetInt64(SPI_getbinval(tup, desc, SPI_fnumber(desc, "member_id"), &isnull));
	h->hold_id = DatumGetInt64(SPI_getbinval(tup, desc, SPI_fnumber(desc, "hold_id"), &isnull));
	h->status = LoyaltyParseName(SPI_getvalue(tup, desc, SPI_fnumber(desc, "status")), hold_status_names,
								 "hold status");
	h->points = DatumGetInt64(SPI_getbinval(tup, desc, SPI_fnumber(desc, "points"), &isnull));
	d = SPI_getbinval(tup, desc, SPI_fnumber(desc, "captured"), &isnull);
	h->captured = isnull ? 0 : DatumGetInt64(d);
	h->expires_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, SPI_fnumber(desc, "expires_at"), &isnull));
	h->lot_ids = SPI_getbinval(tup, desc, SPI_fnumber(desc, "lot_ids"), &isnull);
	h->lot_points = SPI_getbinval(tup, desc, SPI_fnumber(desc, "lot_points"), &isnull);
	h->store = SPI_getvalue(tup, desc, SPI_fnumber(desc, "store"));
	h->pos_txn = SPI_getvalue(tup, desc, SPI_fnumber(desc, "pos_txn"));
	h->taken = DatumGetInt64(SPI_getbinval(tup, desc, SPI_fnumber(desc, "taken"), &isnull));
	h->has_tid = false;
}

/* Read row i of an SPI result of HOLD_COLUMNS. */
static void
HoldFromRow(SPITupleTable *t, uint64 i, Hold *h)
{
	HoldFromTuple(t->vals[i], t->tupdesc, h);
}

/*
 * The hold a unique index of loyalty.hold finds for keys, read without SQL
 * with the snapshot a statement would take (what committed while the caller
 * waited for a lock counts), into *h unless h is NULL.  False: none.
 */
static bool
FetchHold(const char *index, int nkeys, const Datum *keys, Hold *h)
{
	Relation	rel;
	TupleTableSlot *slot;
	bool		found;

	LoyaltyPushReadSnapshot(false);
	rel = LoyaltyOpen("hold", false, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	found = LoyaltyFetchByKey(rel, index, nkeys, keys, GetActiveSnapshot(), slot);
	if (found && h)
	{
		HoldFromTuple(ExecCopySlotHeapTuple(slot), RelationGetDescr(rel), h);
		h->tid = slot->tts_tid;
		h->has_tid = true;
	}
	ExecDropSingleTupleTableSlot(slot);
	PopActiveSnapshot();
	return found;
}

/* The hold, read under its member's lock (which the caller holds). */
static void
ReadHold(int64 member_id, int64 hold_id, Hold *h)
{
	Datum		v[2];

	v[0] = Int64GetDatum(member_id);
	v[1] = Int64GetDatum(hold_id);
	if (!FetchHold("hold_pkey", 2, v, h))
		elog(ERROR, "hold " INT64_FORMAT " of member " INT64_FORMAT " is missing", hold_id, member_id);
}

/*
 * Walk a member's open holds: the first `open_holds`
 * (member_balance.open_holds) open ones walking hold_member_expires_idx from
 * the latest expiry back, without SQL.  Open holds are few and among the
 * latest, so this reads the holds since the oldest open one; a planner,
 * knowing only that open holds are rare, reads all the member's holds (or
 * the whole table) instead.  `latest`: as a statement would see the table
 * now (a posting, under the member's lock), else as the active snapshot does
 * (a read, or a count read with that snapshot): the count and the walk must
 * see the same holds.  Fills *ids (hold_ids, palloc'd) and *oldest (the
 * earliest expiry among them, DT_NOEND when none) when not NULL, and puts
 * each row in rows->setResult (a materialized SRF's) when not NULL.
 * Returns how many.
 */
static int
WalkOpenHolds(int64 member_id, int64 open_holds, bool latest, Datum **ids,
			  TimestampTz *oldest, ReturnSetInfo *rows)
{
	Relation	rel;
	TupleTableSlot *slot;
	IndexScanDesc scan;
	LoyaltyKey	key = {1, BTEqualStrategyNumber, Int64GetDatum(member_id)};
	AttrNumber	id_col,
				closed_col,
				expires_col;
	int			room = (int) Max(Min(open_holds, 1024), 1);
	int			n = 0;

	if (ids)
		*ids = palloc(sizeof(Datum) * room);
	if (oldest)
		*oldest = DT_NOEND;
	if (open_holds <= 0)
		return 0;
	LoyaltyPushReadSnapshot(!latest);
	rel = LoyaltyOpen("hold", false, AccessShareLock);
	id_col = LoyaltyRelColumn(rel, "hold_id");
	closed_col = LoyaltyRelColumn(rel, "closed_at");
	expires_col = LoyaltyRelColumn(rel, "expires_at");
	slot = table_slot_create(rel, NULL);
	scan = LoyaltyIndexScan(rel, "hold_member_expires_idx", 1, &key, GetActiveSnapshot());
	while (n < open_holds && index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		/* open = not closed (the table's CHECK) */
		if (!slot_attisnull(slot, closed_col))
			continue;
		if (ids)
		{
			if (n == room)
			{
				room *= 2;
				*ids = repalloc(*ids, sizeof(Datum) * room);
			}
			(*ids)[n] = slot_getattr(slot, id_col, &isnull);
		}
		if (oldest)
			*oldest = DatumGetTimestampTz(slot_getattr(slot, expires_col, &isnull));
		if (rows)
		{
			/* every column, a default of a column added later included */
			slot_getallattrs(slot);
			tuplestore_putvalues(rows->setResult, rows->setDesc, slot->tts_values, slot->tts_isnull);
		}
		n++;
	}
	LoyaltyIndexScanEnd(scan);
	ExecDropSingleTupleTableSlot(slot);
	PopActiveSnapshot();
	return n;
}

/*
 * The hold_ids of a member's open holds (WalkOpenHolds, as a posting under
 * the member's lock sees them), as an int8[] for the plans' = ANY; *oldest,
 * when not NULL, gets the earliest expiry among them (DT_NOEND: none).
 */
Datum
LoyaltyOpenHoldIds(int64 member_id, int64 open_holds, TimestampTz *oldest)
{
	Datum	   *ids;
	int			n = WalkOpenHolds(member_id, open_holds, true, &ids, oldest, NULL);

	return LoyaltyInt8Array(ids, n);
}

/*
 * loyalty.open_holds_of(member_id, open_holds): the rows of the member's
 * open holds (WalkOpenHolds) as the caller's snapshot sees them, for
 * balance().  A function, not a join, so no plan reads the member's closed
 * holds.  The table and index are closed again before it returns (a DDL
 * later in the transaction would find them in use).  Granted to no role: the
 * SECURITY DEFINER functions call it.
 */
PG_FUNCTION_INFO_V1(loyalty_open_holds_of);
Datum
loyalty_open_holds_of(PG_FUNCTION_ARGS)
{
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	WalkOpenHolds(PG_GETARG_INT64(0), PG_GETARG_INT64(1), false, NULL, NULL,
				  (ReturnSetInfo *) fcinfo->resultinfo);
	LoyaltyWriterClose();
	return (Datum) 0;
}

/*
 * True, with the hold in SPI_tuptable, when (store, pos_txn) (text datums)
 * keys a hold.  A new payment, the common case, costs one index probe.
 */
static bool
FindHoldOfTxn(Datum *key)
{
	if (!FetchHold("hold_store_pos_txn_key", 2, key, NULL))
		return false;
	LoyaltyExecute(&find_by_txn_plan, key, NULL, false, 1);
	return SPI_processed > 0;
}

/*
 * Add delta to member_balance.held and holds (+1 a new hold, -1 a closed
 * one) to its open_holds: by the locked row's tid without SQL (writer.c)
 * while the posting still knows it, else through SQL.  Either way the row
 * moves, so its tid is forgotten.
 */
static void
AddHeld(LoyaltyMember *m, int64 delta, int64 holds)
{
	Datum		v[3];

	if (m->has_balance_tid && LoyaltyWriterDirect(LOYALTY_BALANCE))
	{
		LoyaltyRow *row = LoyaltyRowBegin(LOYALTY_BALANCE);

		LoyaltyRowAdd(row, "held", delta);
		LoyaltyRowAdd(row, "open_holds", holds);
		LoyaltyRowSet(row, "updated_at", TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false);
		LoyaltyRowUpdate(row, &m->balance_tid);
	}
	else
	{
		v[0] = Int64GetDatum(m->member_id);
		v[1] = Int64GetDatum(delta);
		v[2] = Int64GetDatum(holds);
		LoyaltyExecute(&add_held_plan, v, NULL, false, 0);
		if (SPI_processed != 1)
			elog(ERROR, "balance row of member " INT64_FORMAT " is missing", m->member_id);
	}
	m->held += delta;
	m->open_holds += holds;
	m->has_balance_tid = false;
}

/*
 * Close a hold: status, closing time and, for a capture, what it spent.  The
 * updated row stays in SPI_tuptable (the calls return it).
 */
static void
CloseHold(const Hold *h, HoldStatus status, TimestampTz at, int64 captured,
		  Datum captured_value, int64 redemption_id)
{
	Datum		v[7];
	char		n[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	v[0] = Int64GetDatum(h->member_id);
	v[1] = Int64GetDatum(h->hold_id);
	v[2] = CStringGetTextDatum(hold_status_names[status]);
	v[3] = TimestampTzGetDatum(at);
	v[4] = Int64GetDatum(captured);
	v[5] = captured_value;
	v[6] = Int64GetDatum(redemption_id);
	if (status != HOLD_CAPTURED)
		n[4] = n[5] = n[6] = 'n';
	LoyaltyExecute(&close_hold_plan, v, n, false, 0);
	if (SPI_processed != 1)
		elog(ERROR, "hold " INT64_FORMAT " could not be closed", h->hold_id);
}

/*
 * CloseHold for a capture, without SQL (writer.c): the row its read found
 * (under the member's lock, so no other transaction changes it meanwhile),
 * updated by its tid -- a HOT update, no index has a column it changes --
 * and returned as the function's result, made in `caller`.  False when the
 * table is written through SQL (a DBA's trigger, ...): then nothing is done.
 */
static bool
CloseCaptured(const Hold *h, TimestampTz at, int64 captured, Datum captured_value,
			  int64 redemption_id, MemoryContext caller, Datum *result)
{
	LoyaltyRow *row;
	HeapTuple	tup;
	MemoryContext old;

	/*
	 * A DBA's trigger on a table the capture wrote through SQL may have
	 * updated the hold since it was read (its tid would be stale): then close
	 * through SQL too.
	 */
	if (!h->has_tid || !LoyaltyWriterDirect(LOYALTY_HOLD) || !LoyaltyWriterDirect(LOYALTY_LEDGER) ||
		!LoyaltyWriterDirect(LOYALTY_LOT) || !LoyaltyWriterDirect(LOYALTY_BALANCE) ||
		!LoyaltyWriterDirect(LOYALTY_OUTBOX))
		return false;
	row = LoyaltyRowBegin(LOYALTY_HOLD);
	LoyaltyRowSet(row, "status", CStringGetTextDatum(hold_status_names[HOLD_CAPTURED]), false);
	LoyaltyRowSet(row, "closed_at", TimestampTzGetDatum(at), false);
	LoyaltyRowSet(row, "captured", Int64GetDatum(captured), false);
	LoyaltyRowSet(row, "captured_value", captured_value, false);
	LoyaltyRowSet(row, "redemption_id", Int64GetDatum(redemption_id), false);
	tup = LoyaltyRowUpdateCopy(row, (ItemPointer) &h->tid);
	old = MemoryContextSwitchTo(caller);
	*result = heap_copy_tuple_as_datum(tup, RelationGetDescr(LoyaltyOpen("hold", false, AccessShareLock)));
	MemoryContextSwitchTo(old);
	return true;
}

/* The hold_expired event (outbox). */
static void
HoldExpiredEvent(const Hold *h)
{
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	LoyaltyJsonbKey(&st, "event");
	LoyaltyJsonbString(&st, "hold_expired");
	LoyaltyJsonbKey(&st, "member_id");
	LoyaltyJsonbInt(&st, h->member_id);
	LoyaltyJsonbKey(&st, "hold_id");
	LoyaltyJsonbInt(&st, h->hold_id);
	LoyaltyJsonbKey(&st, "points");	/* what comes back: reversals took the rest */
	LoyaltyJsonbInt(&st, h->points - h->taken);
	LoyaltyJsonbKey(&st, "store");
	LoyaltyJsonbString(&st, h->store);
	LoyaltyJsonbKey(&st, "pos_txn");
	LoyaltyJsonbString(&st, h->pos_txn);
	LoyaltyJsonbKey(&st, "expired_at");
	LoyaltyJsonbString(&st, LoyaltyUtcText(h->expires_at, true));
	LoyaltyEmitEvent("hold_expired", h->member_id,
					 JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL))));
}

/* Give all of an open hold's points back (void, or expiry with its event). */
static void
ReleaseHold(LoyaltyMember *m, const Hold *h, HoldStatus status, TimestampTz at)
{
	LoyaltyPutBackLots(h->member_id, h->lot_ids, h->lot_points);
	AddHeld(m, -(h->points - h->taken), -1);
	if (status == HOLD_EXPIRED)
		HoldExpiredEvent(h);
	CloseHold(h, status, at, 0, (Datum) 0, 0);
}

/*
 * Release the member's open holds whose expiry is at or before `at`: their
 * points go back to their lots, each emits hold_expired.  Under the member's
 * lock (a posting's, or sweep_holds'); inside SPI.  Returns the holds
 * released and adds their points to *points (when not NULL).
 */
int64
LoyaltyReleaseLapsedHolds(LoyaltyMember *m, TimestampTz at, int64 *points)
{
	Datum		v[3];
	SPITupleTable *lapsed;
	uint64		n;
	TimestampTz oldest;

	if (m->open_holds <= 0)
		return 0;
	v[2] = LoyaltyOpenHoldIds(m->member_id, m->open_holds, &oldest);
	if (oldest > at)
		return 0;
	v[0] = Int64GetDatum(m->member_id);
	v[1] = TimestampTzGetDatum(at);
	LoyaltyExecute(&lapsed_holds_plan, v, NULL, false, 0);
	lapsed = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		Hold		h;

		HoldFromRow(lapsed, i, &h);
		ReleaseHold(m, &h, HOLD_EXPIRED, at);
		if (points)
			*points += h.points - h.taken;
	}
	return (int64) n;
}

/*
 * Take points out of the member's open holds but `except_hold`, lot by lot
 * (parallel int8[] datums: the points wanted from each lot), oldest hold
 * first: each hold's lot_points shrink and its `taken` grows by what it gave.
 * For ledger.c's debits that cannot be refused; under the member's lock,
 * inside SPI.  Returns the points taken (all that were asked for).
 */
int64
LoyaltyTakeFromHolds(const LoyaltyMember *m, int64 except_hold, Datum lot_ids, Datum lot_points)
{
	static LoyaltyPlan open_holds_plan = {
		"SELECT hold_id, lot_ids, lot_points FROM loyalty.hold "
		"WHERE member_id OPERATOR(pg_catalog.=) $1 AND hold_id OPERATOR(pg_catalog.=) ANY ($3) "
		"AND status OPERATOR(pg_catalog.=) 'open' AND hold_id OPERATOR(pg_catalog.<>) $2 "
		"ORDER BY authorized_at, hold_id",
		3, {INT8OID, INT8OID, INT8ARRAYOID}
	};
	static LoyaltyPlan shrink_hold_plan = {
		"UPDATE loyalty.hold SET lot_ids = $3, lot_points = $4, taken = taken OPERATOR(pg_catalog.+) $5 "
		"WHERE member_id OPERATOR(pg_catalog.=) $1 AND hold_id OPERATOR(pg_catalog.=) $2",
		5, {INT8OID, INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT8OID}
	};
	Datum	   *want_ids,
			   *want_pts;
	int			nwant;
	int64		asked = 0,
				total = 0;
	Datum		v[5];
	SPITupleTable *holds;
	uint64		nholds;

	nwant = LoyaltyInt8Elems(lot_ids, &want_ids);
	LoyaltyInt8Elems(lot_points, &want_pts);
	for (int k = 0; k < nwant; k++)
		asked += DatumGetInt64(want_pts[k]);
	v[0] = Int64GetDatum(m->member_id);
	v[1] = Int64GetDatum(except_hold);
	v[2] = LoyaltyOpenHoldIds(m->member_id, m->open_holds, NULL);
	LoyaltyExecute(&open_holds_plan, v, NULL, false, 0);
	holds = SPI_tuptable;
	nholds = SPI_processed;
	for (uint64 i = 0; i < nholds && total < asked; i++)
	{
		bool		isnull;
		Datum	   *ids,
				   *pts;
		int			n,
					kept = 0;
		int64		gave = 0;

		n = LoyaltyInt8Elems(SPI_getbinval(holds->vals[i], holds->tupdesc, 2, &isnull), &ids);
		LoyaltyInt8Elems(SPI_getbinval(holds->vals[i], holds->tupdesc, 3, &isnull), &pts);
		for (int j = 0; j < n; j++)
		{
			int64		in_lot = DatumGetInt64(pts[j]);

			for (int k = 0; k < nwant && in_lot > 0; k++)
			{
				int64		t;

				if (DatumGetInt64(want_ids[k]) != DatumGetInt64(ids[j]))
					continue;
				t = Min(in_lot, DatumGetInt64(want_pts[k]));
				want_pts[k] = Int64GetDatum(DatumGetInt64(want_pts[k]) - t);
				in_lot -= t;
				gave += t;
			}
			if (in_lot > 0)		/* the lots it keeps, without emptied ones */
			{
				ids[kept] = ids[j];
				pts[kept++] = Int64GetDatum(in_lot);
			}
		}
		if (gave == 0)
			continue;
		v[1] = SPI_getbinval(holds->vals[i], holds->tupdesc, 1, &isnull);
		v[2] = LoyaltyInt8Array(ids, kept);
		v[3] = LoyaltyInt8Array(pts, kept);
		v[4] = Int64GetDatum(gave);
		LoyaltyExecute(&shrink_hold_plan, v, NULL, false, 0);
		if (SPI_processed != 1)
			elog(ERROR, "hold of member " INT64_FORMAT " could not be updated", m->member_id);
		total += gave;
	}
	if (total != asked)
		elog(ERROR, "open holds of member " INT64_FORMAT " keep " INT64_FORMAT " of the " INT64_FORMAT
			 " points a debit took from them", m->member_id, total, asked);
	return total;
}

/* The hold row now in SPI_tuptable, as the function's result. */
static Datum
HoldResult(void)
{
	TupleDesc	rowtype;
	TupleConversionMap *map;
	HeapTuple	tup;

	if (SPI_processed != 1)
		elog(ERROR, "hold row is missing");
	/*
	 * as the table's row type, which the function returns: a column a DBA
	 * dropped is in it, and not in the query's `*`
	 */
	rowtype = RelationGetDescr(LoyaltyOpen("hold", false, AccessShareLock));
	tup = SPI_tuptable->vals[0];
	map = convert_tuples_by_name(SPI_tuptable->tupdesc, rowtype);
	if (map != NULL)
		tup = execute_attr_map_tuple(tup, map);
	return PointerGetDatum(SPI_returntuple(tup, rowtype));
}

/* Run hold_row_plan for the hold and return it as the result. */
static Datum
HoldRowResult(int64 member_id, int64 hold_id)
{
	Datum		v[2];

	v[0] = Int64GetDatum(member_id);
	v[1] = Int64GetDatum(hold_id);
	LoyaltyExecute(&hold_row_plan, v, NULL, false, 1);
	return HoldResult();
}

/*
 * Insert the new hold (v: insert_hold_plan's parameters) unless another
 * transaction inserted its (store, pos_txn) meanwhile (false): without SQL
 * (writer.c, a speculative insertion as ON CONFLICT DO NOTHING makes) while
 * the table has no trigger of a DBA's, else through insert_hold_plan.  The
 * new row is the function's result, in *result, made in `caller`.
 */
static bool
InsertHold(const LoyaltyMember *m, Datum *v, MemoryContext caller, Datum *result)
{
	LoyaltyRow *row;
	HeapTuple	tup;
	MemoryContext old;

	if (!LoyaltyWriterDirect(LOYALTY_HOLD))
	{
		LoyaltyExecute(&insert_hold_plan, v, NULL, false, 0);
		if (SPI_processed != 1)
			return false;
		*result = HoldResult();
		return true;
	}
	row = LoyaltyRowBegin(LOYALTY_HOLD);
	LoyaltyRowSet(row, "member_id", v[0], false);
	LoyaltyRowSet(row, "store", v[1], false);
	LoyaltyRowSet(row, "pos_txn", v[2], false);
	LoyaltyRowSet(row, "points", v[3], false);
	LoyaltyRowSet(row, "value", v[4], false);
	LoyaltyRowSet(row, "currency", v[5], false);
	LoyaltyRowSet(row, "authorized_at", v[6], false);
	/* minutes are fixed lengths of time: no time zone moves them */
	LoyaltyRowSet(row, "expires_at",
				  TimestampTzGetDatum(DatumGetTimestampTz(v[6]) +
									  (TimestampTz) m->hold_minutes * USECS_PER_MINUTE), false);
	LoyaltyRowSet(row, "lot_ids", v[7], false);
	LoyaltyRowSet(row, "lot_points", v[8], false);
	LoyaltyRowSet(row, "hold_id", v[10], false);
	if (!LoyaltyRowInsertNew(row, &tup))
		return false;
	old = MemoryContextSwitchTo(caller);
	*result = heap_copy_tuple_as_datum(tup, RelationGetDescr(LoyaltyOpen("hold", false, AccessShareLock)));
	MemoryContextSwitchTo(old);
	return true;
}

/* The hold_id argument: required (LY013), then its member locked and the hold read. */
static void
LockHold(FunctionCallInfo fcinfo, LoyaltyMember *m, Hold *h)
{
	int64		hold_id;
	Datum		v;
	int64		member_id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MISSING_KEY),
				 errmsg("hold_id is required"),
				 errdetail("It may not be NULL.")));
	hold_id = PG_GETARG_INT64(0);
	v = Int64GetDatum(hold_id);
	if (!FetchHold("hold_hold_id_key", 1, &v, h))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_UNKNOWN_HOLD),
				 errmsg("hold " INT64_FORMAT " does not exist", hold_id),
				 errhint("Use the hold_id that loyalty.authorize() returned.")));
	member_id = h->member_id;
	LoyaltyResolveMember(member_id, true, m);
	ReadHold(member_id, hold_id, h);
}

/* LY101/LY102: the hold was closed the other way. */
static void
HoldClosedError(const Hold *h, const char *action)
{
	if (h->status == HOLD_VOIDED)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_HOLD_VOIDED),
				 errmsg("hold " INT64_FORMAT " was voided", h->hold_id),
				 errdetail("Its points went back to the member; it cannot be %s.", action),
				 errhint("Authorize again with a new pos_txn.")));
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_HOLD_CAPTURED),
			 errmsg("hold " INT64_FORMAT " was captured", h->hold_id),
			 errdetail("It spent " INT64_FORMAT " points; it cannot be %s.", h->captured, action),
			 errhint("Give points back with loyalty.adjust().")));
}

/* LY103: capture of a hold past its expiry. */
static void
HoldExpiredError(const Hold *h)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_HOLD_EXPIRED),
			 errmsg("hold " INT64_FORMAT " has expired", h->hold_id),
			 errdetail("It expired at %s; its points are back with the member, it cannot be captured.",
					   LoyaltyUtcText(h->expires_at, false)),
			 errhint("Authorize again with a new pos_txn.")));
}

/*
 * Split a hold's lots into the first `points` (captured, in the hold's
 * order) and the rest (back to the lots).
 */
static void
SplitLots(const Hold *h, int64 points, Datum *cap_ids, Datum *cap_pts,
		  Datum *rest_ids, Datum *rest_pts)
{
	Datum	   *ids,
			   *pts;
	Datum	   *c_ids,
			   *c_pts,
			   *r_ids,
			   *r_pts;
	int			n,
				nc = 0,
				nr = 0;
	int64		left = points;

	n = LoyaltyInt8Elems(h->lot_ids, &ids);
	LoyaltyInt8Elems(h->lot_points, &pts);
	c_ids = palloc(sizeof(Datum) * n);
	c_pts = palloc(sizeof(Datum) * n);
	r_ids = palloc(sizeof(Datum) * n);
	r_pts = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		int64		in_lot = DatumGetInt64(pts[i]);
		int64		take = Min(in_lot, left);

		if (take > 0)
		{
			c_ids[nc] = ids[i];
			c_pts[nc++] = Int64GetDatum(take);
		}
		if (in_lot > take)
		{
			r_ids[nr] = ids[i];
			r_pts[nr++] = Int64GetDatum(in_lot - take);
		}
		left -= take;
	}
	*cap_ids = LoyaltyInt8Array(c_ids, nc);
	*cap_pts = LoyaltyInt8Array(c_pts, nc);
	*rest_ids = LoyaltyInt8Array(r_ids, nr);
	*rest_pts = LoyaltyInt8Array(r_pts, nr);
}

/* Positive points within the ledger's range, or LY012. */
static int64
HoldPoints(int64 points)
{
	if (points <= 0 || points > LOYALTY_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_POINTS),
				 errmsg("points must be positive and at most " INT64_FORMAT ": " INT64_FORMAT,
						(int64) LOYALTY_MAX_POINTS, points)));
	return points;
}

/*
 * A new hold_id: a random positive 63-bit number (pg_strong_random), so one
 * hold's id tells nothing of another's; the id is what lets a till capture
 * or void the hold.  Two holds drawing one id (about 1 in 2^63 per pair) is
 * a unique violation of loyalty.hold, which the till retries.
 */
static int64
NewHoldId(void)
{
	uint64		id;

	do
	{
		if (!pg_strong_random(&id, sizeof(id)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random hold_id")));
		id &= (uint64) PG_INT64_MAX;
	} while (id == 0);
	return (int64) id;
}

/* LY011: (store, pos_txn) already keys another request. */
static void
TxnConflict(const char *store, const char *pos_txn, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_IDEMPOTENCY_CONFLICT),
			 errmsg("POS transaction \"%s\" of store \"%s\" was already used for a different request",
					pos_txn, store),
			 errdetail("%s", detail),
			 errhint("Use a new pos_txn for a new payment.")));
}

/* ---------- SQL-callable functions ---------- */

/*
 * loyalty.authorize(card, points, store, pos_txn): hold available points for
 * a payment in progress.  A retry of the same (store, pos_txn), card and
 * points returns the hold as it is now; a different request with that key is
 * LY011.  Never overdraws (LY010).
 */
PG_FUNCTION_INFO_V1(loyalty_authorize);
Datum
loyalty_authorize(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	int64		card = RequiredCard(fcinfo);
	int64		points;
	char	   *store = RequiredText(fcinfo, 2, "store");
	char	   *pos_txn = RequiredText(fcinfo, 3, "pos_txn");
	LoyaltyMember m;
	Datum		key[2];
	Datum		v[11];
	Datum		result;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_POINTS),
				 errmsg("points are required")));
	points = HoldPoints(PG_GETARG_INT64(1));
	SPI_connect();
	LoyaltyResolveCard(card, true, &m);
	key[0] = CStringGetTextDatum(store);
	key[1] = CStringGetTextDatum(pos_txn);
	if (FindHoldOfTxn(key))
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		was_member = DatumGetInt64(SPI_getbinval(tup, desc, SPI_fnumber(desc, "member_id"), &isnull));
		int64		was_points = DatumGetInt64(SPI_getbinval(tup, desc, SPI_fnumber(desc, "points"), &isnull));

		if (was_member != m.member_id || was_points != points)
			TxnConflict(store, pos_txn,
						psprintf("It holds " INT64_FORMAT " points%s.", was_points,
								 was_member != m.member_id ? " of another card" : ""));
		/* a retry: the hold as it is now, whatever became of it */
		result = HoldResult();
	}
	else
	{
		LoyaltyRequireActive(card, &m);
		LoyaltyTakeLots(&m, m.locked_at, points, &v[7], &v[8]);
		v[0] = Int64GetDatum(m.member_id);
		v[1] = key[0];
		v[2] = key[1];
		v[3] = Int64GetDatum(points);
		v[4] = DirectFunctionCall2(numeric_mul, NumericGetDatum(int64_to_numeric(points)),
								   m.point_value);
		v[5] = CStringGetTextDatum(m.currency);
		v[6] = TimestampTzGetDatum(m.locked_at);
		v[9] = Int32GetDatum(m.program_id);
		v[10] = Int64GetDatum(NewHoldId());
		if (!InsertHold(&m, v, caller, &result))
			TxnConflict(store, pos_txn, "Another card authorized with it at the same time.");
		/* after the hold row is in: of a hold and a redeem racing, one sees the other */
		if (LoyaltyTxnKeyTaken(LOYALTY_KEY_REDEMPTIONS, store, pos_txn))
			TxnConflict(store, pos_txn, "A redemption was posted with it.");
		AddHeld(&m, points, 1);
	}
	LoyaltyWriterClose();
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/*
 * loyalty.capture(hold_id, points): spend the hold, all of it (points NULL)
 * or fewer points (the rest goes back to the lots), as one redeem entry keyed
 * by the hold's (store, pos_txn).  A retry returns the same capture; a retry
 * asking for other points is LY105.  Voided: LY101; expired: LY103; more
 * than held: LY104.
 */
PG_FUNCTION_INFO_V1(loyalty_capture);
Datum
loyalty_capture(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	LoyaltyMember m;
	Hold		h;
	LoyaltyPosting p = {0};
	int64		want;
	int64		from_hold;
	Datum		cap_ids,
				cap_pts,
				rest_ids,
				rest_pts;
	Datum		result;

	SPI_connect();
	LockHold(fcinfo, &m, &h);
	want = PG_ARGISNULL(1) ? h.points : HoldPoints(PG_GETARG_INT64(1));
	if (h.status == HOLD_CAPTURED)
	{
		if (!PG_ARGISNULL(1) && want != h.captured)
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_CAPTURE_MISMATCH),
					 errmsg("hold " INT64_FORMAT " was captured for " INT64_FORMAT " points, not " INT64_FORMAT,
							h.hold_id, h.captured, want),
					 errdetail("A retried capture must ask for the same points (or none).")));
		result = HoldRowResult(h.member_id, h.hold_id);
		LoyaltyWriterClose();
		SPI_finish();
		PG_RETURN_DATUM(result);
	}
	if (h.status == HOLD_VOIDED)
		HoldClosedError(&h, "captured");
	if (h.status == HOLD_EXPIRED || h.expires_at <= m.locked_at)
		HoldExpiredError(&h);
	if (want > h.points)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_CAPTURE_EXCEEDS_HOLD),
				 errmsg("cannot capture " INT64_FORMAT " points of hold " INT64_FORMAT, want, h.hold_id),
				 errdetail("The hold is for " INT64_FORMAT " points.", h.points),
				 errhint("Capture at most the points held, or authorize a new hold.")));

	/* what reversals took from the hold, the capture takes from elsewhere */
	from_hold = Min(want, h.points - h.taken);
	SplitLots(&h, from_hold, &cap_ids, &cap_pts, &rest_ids, &rest_pts);
	p.kind = LOYALTY_REDEEM;
	p.member_id = m.member_id;
	p.effective_at = m.locked_at;
	p.posted_at = m.locked_at;
	p.source = "hold";
	p.store = h.store;
	p.pos_txn = h.pos_txn;
	p.value = DirectFunctionCall2(numeric_mul, NumericGetDatum(int64_to_numeric(want)),
								  m.point_value);
	p.held = -(h.points - h.taken);
	p.open_holds = -1;
	if (!LoyaltyPostCapture(&m, &p, cap_ids, cap_pts, want - from_hold, h.hold_id))
		TxnConflict(h.store, h.pos_txn, "A redemption was posted with it; void the hold.");
	if (from_hold < h.points - h.taken)
		LoyaltyPutBackLots(h.member_id, rest_ids, rest_pts);
	if (!CloseCaptured(&h, m.locked_at, want, p.value, p.entry_id, caller, &result))
	{
		CloseHold(&h, HOLD_CAPTURED, m.locked_at, want, p.value, p.entry_id);
		result = HoldResult();
	}
	LoyaltyWriterClose();
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/*
 * loyalty.void(hold_id): give the hold's points back.  A retry (or a void of
 * a hold that expired) returns the hold as it is; a captured hold is LY102.
 */
PG_FUNCTION_INFO_V1(loyalty_void);
Datum
loyalty_void(PG_FUNCTION_ARGS)
{
	LoyaltyMember m;
	Hold		h;
	Datum		result;

	SPI_connect();
	LockHold(fcinfo, &m, &h);
	if (h.status == HOLD_CAPTURED)
		HoldClosedError(&h, "voided");
	if (h.status == HOLD_OPEN)
	{
		ReleaseHold(&m, &h, h.expires_at <= m.locked_at ? HOLD_EXPIRED : HOLD_VOIDED,
					m.locked_at);
		result = HoldResult();
	}
	else
		result = HoldRowResult(h.member_id, h.hold_id);
	LoyaltyWriterClose();
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/*
 * loyalty.sweep_holds(): release every open hold past its expiry, member by
 * member under each one's lock (one SPI level per member, so the memory of
 * one member's releases goes before the next).  A member whose open holds
 * all run past now is not locked.  Correctness never waits for it; it tidies
 * and emits hold_expired.
 */
PG_FUNCTION_INFO_V1(loyalty_sweep_holds);
Datum
loyalty_sweep_holds(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	TimestampTz now = GetCurrentTimestamp();
	SPITupleTable *members;
	uint64		nmembers;
	int64		holds = 0,
				points = 0;
	TupleDesc	desc;
	Datum		v[2];
	bool		n[2] = {0};
	HeapTuple	tup;

	SPI_connect();
	LoyaltyExecute(&members_with_holds_plan, NULL, NULL, true, 0);
	members = SPI_tuptable;
	nmembers = SPI_processed;
	for (uint64 i = 0; i < nmembers; i++)
	{
		bool		isnull;
		int64		member_id = DatumGetInt64(SPI_getbinval(members->vals[i], members->tupdesc, 1, &isnull));
		int64		open_holds = DatumGetInt64(SPI_getbinval(members->vals[i], members->tupdesc, 2, &isnull));
		TimestampTz oldest;
		LoyaltyMember m;

		/* with the snapshot that counted open_holds (a later authorize is not in the count) */
		WalkOpenHolds(member_id, open_holds, false, NULL, &oldest, NULL);
		if (oldest > now)
			continue;
		SPI_connect();
		LoyaltyResolveMember(member_id, true, &m);
		holds += LoyaltyReleaseLapsedHolds(&m, Max(now, m.locked_at), &points);
		SPI_finish();
	}

	MemoryContextSwitchTo(caller);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	v[0] = Int64GetDatum(holds);
	v[1] = Int64GetDatum(points);
	tup = heap_form_tuple(desc, v, n);
	LoyaltyWriterClose();
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}
