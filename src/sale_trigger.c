/*
 * sale_trigger.c -- INSERT INTO loyalty.sale: from the POS row to the ledger.
 *
 * loyalty_sale_trigger runs BEFORE INSERT FOR EACH ROW, inside the POS's own
 * statement, and in this order:
 *
 *   1. checks the row and parses its lines (LoyaltyParseLines, rules.c);
 *   2. claims (store, pos_txn) (ClaimPosTxn) and looks for an earlier row
 *      with that pair, committed or in progress: the same content again is a
 *      retry and passes through untouched, so the unique index refuses it
 *      (or ON CONFLICT DO NOTHING skips it) and nothing is awarded twice;
 *      different content is LY035;
 *   3. an anonymous sale (card NULL) is stored as it is;
 *   4. a member's sale: LoyaltyResolveAnyCard locks the member, the rules
 *      make the award (LoyaltyEvaluateRules, rules.c), LoyaltyPostCredit
 *      (ledger.c) posts one earn entry, and the row gets member_id,
 *      points_earned, points_pending, entry_id and award, readable by
 *      RETURNING;
 *   5. a return (return_of set): checked against the original sale and its
 *      earlier returns, then LoyaltyPostDebit posts what the remaining basket
 *      no longer earns, taken from the original sale's lot first.  An
 *      anonymous sale that enrolled a card (loyalty.enrolment_sale) is the
 *      new member's: its return takes back the sale's part of the
 *      enrolment's entry (FetchEnrolment).
 * Step 2 comes under the member's lock and before every other check, so a
 * retry gets the retry's answer even when the card was replaced, the member
 * suspended or the back-dating window passed since the first attempt.  A POS
 * may date a sale or return only within its program's backdate_limit, which
 * an admin's back-fill is not bound by; no member's sale is dated before the
 * member's enrolment (CheckBackdating).
 * Each award and reversal also writes a loyalty.outbox row, and the
 * transaction sends one NOTIFY without payload on channel loyalty_events.
 */
#include "rules.h"
#include "compat.h"
#include "tier.h"
#include "voucher_rule.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/resowner.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

/* A POS clock may run this far ahead of the server's. */
#define SALE_CLOCK_SKEW_USECS	(5 * 60 * USECS_PER_SEC)

static LoyaltyPlan original_sale_plan = {
	"SELECT member_id, lines, award, entry_id, occurred_at, return_of, points_earned, tier "
	"FROM loyalty.sale WHERE sale_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

static LoyaltyPlan earlier_returns_plan = {
	"SELECT lines, (award OPERATOR(pg_catalog.->>) 'points_left')::pg_catalog.int8 "
	"FROM loyalty.sale WHERE return_of OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

/*
 * The member an anonymous sale enrolled (enroll_with_sale), with its part of
 * the enrolment's entry and the entry's points in all.
 */
static LoyaltyPlan enrolment_plan = {
	"SELECT es.member_id, es.entry_id, es.points, es.award, es.tier, "
	"  (SELECT pg_catalog.sum(x.points)::pg_catalog.int8 FROM loyalty.enrolment_sale x "
	"    WHERE x.member_id OPERATOR(pg_catalog.=) es.member_id "
	"    AND x.entry_id OPERATOR(pg_catalog.=) es.entry_id) "
	"FROM loyalty.enrolment_sale es WHERE es.sale_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

/*
 * Points the earlier returns of sale $1 requested back from entry $2 (one
 * enrolment's entry credits several sales; a truncated reversal counts in
 * full, as LoyaltyReversedSoFar counts it).
 */
static LoyaltyPlan sale_reversed_plan = {
	"SELECT (OPERATOR(pg_catalog.-) COALESCE(pg_catalog.sum(r.points OPERATOR(pg_catalog.-) r.shortfall), 0))::pg_catalog.int8 "
	"FROM loyalty.sale s JOIN loyalty.ledger r ON r.member_id OPERATOR(pg_catalog.=) s.member_id "
	"  AND r.entry_id OPERATOR(pg_catalog.=) s.entry_id "
	"WHERE s.return_of OPERATOR(pg_catalog.=) $1 AND r.reverses OPERATOR(pg_catalog.=) $2",
	2, {INT8OID, INT8OID}
};

/*
 * Points of a sale's lot that expired, or lapsed by $3 (expire_points not
 * run yet): a return cannot take them back, they are gone already.
 */
static LoyaltyPlan lot_lost_plan = {
	"SELECT (COALESCE((SELECT pg_catalog.sum(OPERATOR(pg_catalog.-) e.points) FROM loyalty.ledger e "
	"   WHERE e.member_id OPERATOR(pg_catalog.=) $1 AND e.kind OPERATOR(pg_catalog.=) 'expire' "
	"   AND e.lot_ids OPERATOR(pg_catalog.=) ARRAY[$2]::pg_catalog.int8[]), 0) "
	" OPERATOR(pg_catalog.+) COALESCE((SELECT l.remaining FROM loyalty.lot l "
	"   WHERE l.member_id OPERATOR(pg_catalog.=) $1 AND l.lot_id OPERATOR(pg_catalog.=) $2 "
	"   AND l.expires_at OPERATOR(pg_catalog.<=) $3), 0))::pg_catalog.int8",
	3, {INT8OID, INT8OID, TIMESTAMPTZOID}
};

/* ---------- helpers ---------- */

/*
 * The (store, pos_txn) claim: a lock of our own (an advisory lock tag with
 * field4 = LOYALTY_CLAIM_LOCK, apart from the keys of pg_advisory_lock), so
 * that two terminals sending one POS transaction (for the same or for
 * different cards, even one anonymous) decide it one after the other.  It
 * only has to cover the time from the look for an earlier row (FindEarlier)
 * until this row is in the unique index: from then on a twin finds the row,
 * in progress, and waits for its transaction.  So the next sale's claim
 * releases this one -- the executor inserts each row before it calls the
 * trigger for the next -- and a back-fill of a million sales in one
 * statement holds one claim, not a million.
 * A claim follows its subtransaction: to the parent when it commits (whose
 * resource owner then holds the lock), gone when it aborts.
 */
#define LOYALTY_CLAIM_LOCK	3

static LOCKTAG held_claim;
static LocalTransactionId held_claim_lxid = InvalidLocalTransactionId;
static SubTransactionId held_claim_subxid = InvalidSubTransactionId;
static ResourceOwner held_claim_owner = NULL;	/* whose lock it is */

/* Let go of the last claim: its row is in the index, or the statement failed. */
static void
ReleaseClaim(void)
{
	ResourceOwner save = CurrentResourceOwner;

	if (held_claim_lxid != LY_MY_LXID)
		return;
	CurrentResourceOwner = held_claim_owner;
	if (LyLockHeldByMe(&held_claim, ExclusiveLock))
		LockRelease(&held_claim, ExclusiveLock, false);
	CurrentResourceOwner = save;
	held_claim_lxid = InvalidLocalTransactionId;
}

/* A claim taken in a subtransaction belongs to its parent once it commits. */
static void
ClaimSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	if (held_claim_lxid != LY_MY_LXID || held_claim_subxid != mySubid)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		held_claim_subxid = parentSubid;
		held_claim_owner = ResourceOwnerGetParent(held_claim_owner);
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		held_claim_lxid = InvalidLocalTransactionId;	/* released with it */
}

static void
ClaimPosTxn(const char *store, const char *pos_txn)
{
	uint32		h1 = hash_bytes((const unsigned char *) store, strlen(store));
	uint32		h2 = hash_bytes((const unsigned char *) pos_txn, strlen(pos_txn));

	/*
	 * Owned by the (sub)transaction, not by the statement's portal, so that
	 * the next statement's sale can release it.
	 */
	ResourceOwner save = CurrentResourceOwner;
	static bool callback_registered = false;

	if (!callback_registered)
	{
		RegisterSubXactCallback(ClaimSubXactCallback, NULL);
		callback_registered = true;
	}
	ReleaseClaim();
	CurrentResourceOwner = CurTransactionResourceOwner;
	SET_LOCKTAG_ADVISORY(held_claim, MyDatabaseId, h1, h2, LOYALTY_CLAIM_LOCK);
	(void) LockAcquire(&held_claim, ExclusiveLock, false, false);
	held_claim_owner = CurTransactionResourceOwner;
	CurrentResourceOwner = save;
	held_claim_lxid = LY_MY_LXID;
	held_claim_subxid = GetCurrentSubTransactionId();
}

/*
 * Returns of one anonymous sale, one after the other (no member's lock
 * serialises them): a lock of our own on the full 64-bit sale_id, an
 * advisory lock tag with field4 = LOYALTY_RETURN_LOCK, which none of SQL's
 * advisory lock functions can take or hold (they use 1 and 2), so no session
 * can block such returns.  Held until the transaction ends.  enroll_with_sale
 * (enrolment.c) takes it too: a sale is returned or enrols a card, one after
 * the other.
 */
#define LOYALTY_RETURN_LOCK	4

void
LockAnonymousSale(int64 sale_id)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) sale_id >> 32),
						 (uint32) sale_id, LOYALTY_RETURN_LOCK);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * The unique index of loyalty.sale on (store, pos_txn), found by its columns
 * (its name is PostgreSQL's choice).
 */
static Oid
PosTxnIndex(Relation rel)
{
	AttrNumber	store_att = LoyaltyRelColumn(rel, "store");
	AttrNumber	txn_att = LoyaltyRelColumn(rel, "pos_txn");
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index ind;

		if (!HeapTupleIsValid(tup))
			continue;
		ind = (Form_pg_index) GETSTRUCT(tup);
		if (ind->indisunique && ind->indisvalid && ind->indnkeyatts == 2 &&
			ind->indkey.values[0] == store_att && ind->indkey.values[1] == txn_att &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL))
			found = ind->indexrelid;
		ReleaseSysCache(tup);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	if (!OidIsValid(found))
		elog(ERROR, "loyalty.sale has no unique index on (store, pos_txn)");
	return found;
}

/*
 * Look for a row of (store, pos_txn), committed or not: an index scan with a
 * dirty snapshot, which also shows rows of transactions in progress; when it
 * finds one it waits for that transaction to end and looks again (as a
 * unique index does before it refuses a duplicate).  Fills slot when found.
 */
/* PosTxnIndex's answer, for the rest of the statement (sale_statement_end forgets it) */
static Oid	pos_txn_index = InvalidOid;
static LocalTransactionId pos_txn_index_lxid = InvalidLocalTransactionId;

static bool
FindEarlier(Relation rel, const char *store, const char *pos_txn, TupleTableSlot *slot)
{
	Relation	idx;
	SnapshotData dirty;
	ScanKeyData key[2];
	IndexScanDesc scan;
	bool		found;

	if (pos_txn_index_lxid != LY_MY_LXID || !OidIsValid(pos_txn_index))
	{
		pos_txn_index = PosTxnIndex(rel);
		pos_txn_index_lxid = LY_MY_LXID;
	}
	idx = index_open(pos_txn_index, AccessShareLock);

	InitDirtySnapshot(dirty);
	ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(store));
	key[0].sk_collation = idx->rd_indcollation[0];
	ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(pos_txn));
	key[1].sk_collation = idx->rd_indcollation[1];
	scan = index_beginscan(rel, idx, &dirty, 2, 0);
	for (;;)
	{
		TransactionId xwait;

		index_rescan(scan, key, 2, NULL, 0);
		found = index_getnext_slot(scan, ForwardScanDirection, slot);
		xwait = !found ? InvalidTransactionId :
			TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;
		if (!TransactionIdIsValid(xwait))
			break;
		XactLockTableWait(xwait, rel, &slot->tts_tid, XLTW_InsertIndex);
	}
	index_endscan(scan);
	index_close(idx, AccessShareLock);
	return found;
}

static bool
NumericsEqual(Datum a, Datum b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, a, b)) == 0;
}

/* The event of an award or reversal (events.c); also the enrolment's award. */
void
LoyaltySaleEvent(const char *kind, int64 member_id, int64 sale_id, int64 entry_id,
		  int64 points, const char *store, const char *pos_txn)
{
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	LoyaltyJsonbKey(&st, "event");
	LoyaltyJsonbString(&st, kind);
	LoyaltyJsonbKey(&st, "member_id");
	LoyaltyJsonbInt(&st, member_id);
	LoyaltyJsonbKey(&st, "sale_id");
	LoyaltyJsonbInt(&st, sale_id);
	LoyaltyJsonbKey(&st, "entry_id");
	LoyaltyJsonbInt(&st, entry_id);
	LoyaltyJsonbKey(&st, "points");
	LoyaltyJsonbInt(&st, points);
	LoyaltyJsonbKey(&st, "store");
	LoyaltyJsonbString(&st, store);
	LoyaltyJsonbKey(&st, "pos_txn");
	LoyaltyJsonbString(&st, pos_txn);
	LoyaltyEmitEvent(kind, member_id, JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL))));
}

/*
 * The qty and amount of every sku summed over some lines (what a sale
 * bought, what its returns brought back): a hash table keyed by sku, so that
 * a basket of n lines costs O(n), and the skus in the order first seen, so
 * that errors name the same sku whatever the table's layout.
 */
typedef struct SkuEntry
{
	const char *sku;			/* the key */
	uint32		hash;
	char		status;			/* simplehash's */
	Datum		qty;			/* numeric */
	Datum		amount;			/* numeric */
} SkuEntry;

#define SH_PREFIX		skuhash
#define SH_ELEMENT_TYPE	SkuEntry
#define SH_KEY_TYPE		const char *
#define SH_KEY			sku
#define SH_HASH_KEY(tb, key)	hash_bytes((const unsigned char *) (key), strlen(key))
#define SH_EQUAL(tb, a, b)		(strcmp((a), (b)) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a)		((a)->hash)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct SkuTotals
{
	skuhash_hash *table;		/* NULL until the first sku */
	int			n;
	const char **sku;			/* n skus, in the order first seen */
	int			cap;
} SkuTotals;

static void
SkuAdd(SkuTotals *t, const char *sku, Datum qty, Datum amount)
{
	SkuEntry   *e;
	bool		found;

	if (t->table == NULL)
		t->table = skuhash_create(CurrentMemoryContext, 64, NULL);
	e = skuhash_insert(t->table, sku, &found);
	if (found)
	{
		e->qty = DirectFunctionCall2(numeric_add, e->qty, qty);
		e->amount = DirectFunctionCall2(numeric_add, e->amount, amount);
		return;
	}
	e->sku = pstrdup(sku);
	e->qty = qty;
	e->amount = amount;
	if (t->n == t->cap)
	{
		t->cap = t->cap ? t->cap * 2 : 64;
		t->sku = t->sku ? repalloc(t->sku, sizeof(char *) * t->cap) : palloc(sizeof(char *) * t->cap);
	}
	t->sku[t->n++] = e->sku;
}

/* The totals of one sku, or NULL (valid until the next SkuAdd). */
static SkuEntry *
SkuFind(SkuTotals *t, const char *sku)
{
	return t->table ? skuhash_lookup(t->table, sku) : NULL;
}

static void
SkuAddBasket(SkuTotals *t, const SaleBasket *b)
{
	for (int k = 0; k < b->nlines; k++)
	{
		CHECK_FOR_INTERRUPTS();
		SkuAdd(t, b->lines[k].sku, b->lines[k].qty, b->lines[k].amount);
	}
}

/* Take what a pool of returned amount (or qty) covers of a line's own. */
static Datum
TakeShare(Datum line, Datum *pool)
{
	Datum		take = DatumGetInt32(DirectFunctionCall2(numeric_cmp, *pool, line)) < 0 ? *pool : line;

	*pool = DirectFunctionCall2(numeric_sub, *pool, take);
	return DirectFunctionCall2(numeric_sub, line, take);
}

/*
 * Does loyalty.sale have an INSERT trigger of a DBA's besides ours?  Such a
 * trigger may read member_balance while the statement runs, so the sales'
 * balance changes are then written at once, not at the statement's end.
 */
static bool
SaleHasOwnTriggers(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;

	for (int i = 0; td != NULL && i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];

		if (t->tgisinternal || t->tgenabled == TRIGGER_DISABLED || !TRIGGER_FOR_INSERT(t->tgtype))
			continue;
		if (strcmp(t->tgname, "sale_award") != 0 && strcmp(t->tgname, "sale_statement_end") != 0)
			return true;
	}
	return false;
}

/* ---------- the trigger ---------- */

typedef struct SaleRow
{
	Relation	rel;			/* loyalty.sale */
	int64		sale_id;
	char	   *store;
	char	   *pos_txn;
	bool		has_card;
	int64		card;
	TimestampTz occurred_at;
	TimestampTz received_at;	/* the server's clock when the trigger began */
	Datum		total;
	Jsonb	   *lines;
	bool		is_return;
	int64		return_of;
} SaleRow;

/* What the trigger writes back into the new row. */
typedef struct SaleResult
{
	int64		member_id;		/* 0: none */
	int64		points_earned;
	int64		points_pending;
	int64		entry_id;		/* 0: none */
	Datum		award;			/* 0: none */
	const char *tier;			/* the member's tier code after; NULL: none */
	Datum		vouchers;		/* text[]: codes its voucher rules issued; 0: none */
} SaleResult;

/* ---------- back-dating ---------- */

/*
 * May the caller back-fill, that is date sales and returns further back than
 * the program's backdate_limit (never before the member's enrolment)?  Whoever
 * may change that limit may: UPDATE on loyalty.program (the admin level has
 * it; so do the owner and superusers) or on its backdate_limit column.  The
 * trigger runs as the extension's owner (SECURITY DEFINER), so the caller is
 * the outer user: the session's role, as SET ROLE left it.  Asked once per
 * statement.
 */
static bool
CallerMayBackfill(void)
{
	static Oid	asked_user = InvalidOid;
	static LocalTransactionId asked_lxid = InvalidLocalTransactionId;
	static TimestampTz asked_statement = 0;
	static bool may = false;
	Oid			user = GetOuterUserId();

	if (user != asked_user || asked_lxid != LY_MY_LXID ||
		asked_statement != GetCurrentStatementStartTimestamp())
	{
		Oid			program = get_relname_relid("program", get_namespace_oid("loyalty", false));
		AttrNumber	limit_att = get_attnum(program, "backdate_limit");

		if (!OidIsValid(program) || limit_att == InvalidAttrNumber)
			elog(ERROR, "loyalty.program.backdate_limit is missing");
		may = pg_class_aclcheck(program, user, ACL_UPDATE) == ACLCHECK_OK ||
			pg_attribute_aclcheck(program, limit_att, user, ACL_UPDATE) == ACLCHECK_OK;
		asked_user = user;
		asked_lxid = LY_MY_LXID;
		asked_statement = GetCurrentStatementStartTimestamp();
	}
	return may;
}

/*
 * The back-dating policy of a sale or a return from a POS: its occurred_at
 * no further back from the server's clock than the program's backdate_limit
 * (LY041; for an anonymous sale, which has no program, the longest limit of
 * any program); an admin's back-fill is not bound by it (CallerMayBackfill).
 * A member's sale or return is never dated before the member's enrolment
 * (LY042), whoever records it: history from before the program is imported
 * by enrolling the member with its original enrolled_at.
 */
static void
CheckBackdating(const SaleRow *row, const LoyaltyMember *m)
{
	const char *what = row->is_return ? "return" : "sale";
	Interval	limit;
	TimestampTz earliest;

	if (m)
		limit = m->backdate_limit;
	else
		LoyaltyLongestBackdateLimit(&limit);
	/* calendar arithmetic on UTC wall time, as for expiry (ledger.c) */
	earliest = DatumGetTimestamp(DirectFunctionCall2(timestamp_mi_interval,
													 TimestampGetDatum(row->received_at),
													 IntervalPGetDatum(&limit)));
	if (row->occurred_at < earliest && !CallerMayBackfill())
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_BACKDATE_LIMIT),
				 errmsg("%s dated %s is too far in the past", what, timestamptz_to_str(row->occurred_at)),
				 errdetail("A POS may date a %s at most %s before the database server's clock.", what,
						   DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(&limit)))),
				 errhint("Older history is recorded by an admin (a back-fill), or the program's backdate_limit is raised.")));
	if (m && row->occurred_at < LoyaltyMemberEnrolledAt(m->member_id))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_BEFORE_ENROLMENT),
				 errmsg("%s dated %s is before the member's enrolment", what,
						timestamptz_to_str(row->occurred_at)),
				 errdetail("A member's sales and returns cannot be dated before the member's enrolment.")));
}

/*
 * Step 2: a retried POS transaction passes through (the unique index deals
 * with it); the same (store, pos_txn) with other content is an error.
 * Returns true when the row is such a retry.  The claim makes a second
 * attempt wait for the first to end; the query then runs with a fresh
 * snapshot and sees it if it committed.
 */
static bool
IsRetry(const SaleRow *row)
{
	TupleTableSlot *slot = table_slot_create(row->rel, NULL);
	bool		isnull;
	Datum		d;
	bool		same = true;

	ClaimPosTxn(row->store, row->pos_txn);
	if (!FindEarlier(row->rel, row->store, row->pos_txn, slot))
	{
		ExecDropSingleTupleTableSlot(slot);
		return false;
	}
	d = slot_getattr(slot, LoyaltyRelColumn(row->rel, "card"), &isnull);
	same &= (isnull == !row->has_card) && (isnull || DatumGetInt64(d) == row->card);
	d = slot_getattr(slot, LoyaltyRelColumn(row->rel, "total"), &isnull);
	same &= !isnull && NumericsEqual(d, row->total);
	d = slot_getattr(slot, LoyaltyRelColumn(row->rel, "lines"), &isnull);
	same &= !isnull && DatumGetBool(DirectFunctionCall2(jsonb_eq, d, JsonbPGetDatum(row->lines)));
	d = slot_getattr(slot, LoyaltyRelColumn(row->rel, "return_of"), &isnull);
	same &= (isnull == !row->is_return) && (isnull || DatumGetInt64(d) == row->return_of);
	ExecDropSingleTupleTableSlot(slot);
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_DUPLICATE_SALE),
				 errmsg("POS transaction \"%s\" of store \"%s\" was already recorded with different content",
						row->pos_txn, row->store),
				 errdetail("A retried sale must repeat the card, total, lines and return_of of the first."),
				 errhint("Use a new pos_txn for a new sale.")));
	return true;
}

/* Step 3: an anonymous sale is stored as it is, once. */
static bool
AnonymousSale(const SaleRow *row)
{
	if (IsRetry(row))
		return false;
	CheckBackdating(row, NULL);
	return true;
}

/* Step 4: a member's sale earns. */
static bool
EarnSale(const SaleRow *row, SaleBasket *basket, SaleResult *res)
{
	LoyaltyMember m;
	SaleFacts	facts = {0};
	SaleAward	award;
	LoyaltyPosting p = {0};
	JsonbParseState *rp = NULL;
	bool		card_current;
	LoyaltyLadder ladder;
	MemberTier	mt;

	/* a retry is answered even if the card was replaced since */
	card_current = LoyaltyResolveAnyCard(row->card, true, &m);
	if (IsRetry(row))
		return false;
	if (!card_current)
		LoyaltyCardReplacedError(row->card);
	LoyaltyRequireActive(row->card, &m);
	CheckBackdating(row, &m);
	facts.member = &m;
	facts.store = row->store;
	facts.occurred_at = row->occurred_at;
	/* the sale earns at the tier held before it */
	LoyaltyProgramLadder(m.program_id, &ladder);
	if (ladder.ntiers > 0)
	{
		LoyaltyTierRead(&m, &ladder, false, &mt);
		facts.tier = mt.tier;
	}
	LoyaltyEvaluateRules(&facts, basket, &award);
	res->vouchers = LoyaltyIssueRuleVouchers(&award, m.member_id, row->sale_id);

	res->member_id = m.member_id;
	res->award = LoyaltyAwardJson(basket, &award);
	/* then its figures count, and may move the member up */
	if (ladder.ntiers > 0)
		res->tier = LoyaltyTierCountSale(&m, &ladder, &mt, row->occurred_at, row->total,
										 award.points, row->sale_id)->code;
	if (award.points <= 0)
	{
		LoyaltyCountSale(&m);
		return true;
	}

	pushJsonbValue(&rp, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < award.noutcomes; i++)
		if (award.outcomes[i].fired && award.outcomes[i].points != 0)
		{
			if (award.outcomes[i].rule_id)
				LoyaltyJsonbKey(&rp, psprintf("%d", award.outcomes[i].rule_id));
			else
				LoyaltyJsonbKey(&rp, i == 0 ? "base" : "tier");
			LoyaltyJsonbInt(&rp, award.outcomes[i].points);
		}

	p.kind = LOYALTY_EARN;
	p.member_id = m.member_id;
	p.points = award.points;
	/* dated at the sale, but never ahead of the lock (a POS clock runs fast) */
	p.effective_at = Min(row->occurred_at, m.locked_at);
	p.posted_at = m.locked_at;
	p.source = "sale";
	p.store = row->store;
	p.pos_txn = row->pos_txn;
	p.sale_id = row->sale_id;
	p.rule_points = JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&rp, WJB_END_OBJECT, NULL)));
	p.counts_sale = true;
	LoyaltyPostCredit(&m, &p);

	res->points_earned = p.points;
	res->points_pending = (p.has_pending_until && p.pending_until > m.locked_at) ? p.points : 0;
	res->entry_id = p.entry_id;
	LoyaltySaleEvent("award", m.member_id, row->sale_id, p.entry_id, p.points, row->store, row->pos_txn);
	return true;
}

/* ---------- returns ---------- */

/* The sale a return names, as loyalty.sale has it. */
typedef struct OriginalSale
{
	int64		member_id;		/* 0: an anonymous sale */
	Jsonb	   *lines;
	Jsonb	   *award;			/* NULL: none */
	int64		entry_id;		/* its earn entry; 0: none */
	TimestampTz occurred_at;
	int64		points;
	bool		tier_counted;	/* its figures went to the tiers (sale.tier) */
	int64		points_left;	/* of its award after its earlier returns */
	bool		enrolled;		/* anonymous, credited by enroll_with_sale */
	int64		entry_points;	/* of its entry, which credits other sales too */
} OriginalSale;

/* The sale a return names (LY036), which must not be a return itself (LY037). */
static void
FetchOriginalSale(int64 sale_id, OriginalSale *o)
{
	Datum		arg = Int64GetDatum(sale_id);
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	LoyaltyExecute(&original_sale_plan, &arg, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_UNKNOWN_SALE),
				 errmsg("sale " INT64_FORMAT " to return does not exist", sale_id)));
	tup = SPI_copytuple(SPI_tuptable->vals[0]);
	desc = SPI_tuptable->tupdesc;
	SPI_getbinval(tup, desc, 6, &isnull);
	if (!isnull)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_RETURN_OF_RETURN),
				 errmsg("sale " INT64_FORMAT " is itself a return", sale_id),
				 errdetail("Only a sale can be returned.")));
	d = SPI_getbinval(tup, desc, 1, &isnull);
	o->member_id = isnull ? 0 : DatumGetInt64(d);
	o->lines = DatumGetJsonbP(SPI_getbinval(tup, desc, 2, &isnull));
	d = SPI_getbinval(tup, desc, 3, &isnull);
	o->award = isnull ? NULL : DatumGetJsonbP(d);
	d = SPI_getbinval(tup, desc, 4, &isnull);
	o->entry_id = isnull ? 0 : DatumGetInt64(d);
	o->occurred_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
	d = SPI_getbinval(tup, desc, 7, &isnull);
	o->points = isnull ? 0 : DatumGetInt64(d);
	SPI_getbinval(tup, desc, 8, &isnull);
	o->tier_counted = !isnull;
	o->points_left = o->points;
	o->enrolled = false;
	o->entry_points = o->points;
}

/*
 * An anonymous sale that enrolled a card (enrolment.c) is the new member's
 * from then on: its return goes to that member and takes back the sale's
 * part of the enrolment's entry.  Read under the sale's lock, which
 * enroll_with_sale takes too, with a fresh snapshot: an enrolment that
 * committed while this return waited is seen (under REPEATABLE READ, whose
 * snapshot cannot see it, the return fails with 40001 and is retried).
 */
static void
FetchEnrolment(int64 sale_id, OriginalSale *o)
{
	Datum		arg = Int64GetDatum(sale_id);
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	LoyaltyExecute(&enrolment_plan, &arg, NULL, false, 1);
	if (SPI_processed == 0)
	{
		if (LoyaltyCommittedSince(&enrolment_plan, &arg))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent enrolment with sale " INT64_FORMAT,
							sale_id),
					 errhint("Retry the return: it then goes to the member the sale enrolled.")));
		return;
	}
	tup = SPI_copytuple(SPI_tuptable->vals[0]);
	desc = SPI_tuptable->tupdesc;
	o->enrolled = true;
	o->member_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	d = SPI_getbinval(tup, desc, 2, &isnull);
	o->entry_id = isnull ? 0 : DatumGetInt64(d);
	o->points = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	o->award = DatumGetJsonbP(SPI_getbinval(tup, desc, 4, &isnull));
	SPI_getbinval(tup, desc, 5, &isnull);
	o->tier_counted = !isnull;
	d = SPI_getbinval(tup, desc, 6, &isnull);
	o->entry_points = isnull ? 0 : DatumGetInt64(d);
	o->points_left = o->points;
}

/*
 * Lock what a return is decided under, before it looks for an earlier
 * attempt: the member (the one of the card on the return, else the sale's),
 * or for an anonymous sale the sale itself, so that its returns are decided
 * one after the other -- and then, if the sale enrolled a card, that member
 * too (the order enroll_with_sale takes them in).  Returns false when the card on the return has been
 * replaced (the member is locked all the same: a retry is answered).
 */
static bool
LockReturn(const SaleRow *row, OriginalSale *o, LoyaltyMember *m)
{
	if (!o->member_id)
	{
		LockAnonymousSale(row->return_of);
		FetchEnrolment(row->return_of, o);
		if (!o->member_id)
			return true;
	}
	if (row->has_card)
		return LoyaltyResolveAnyCard(row->card, true, m);
	LoyaltyResolveMember(o->member_id, true, m);
	return true;
}

/*
 * A card on a return must be the current card of the sale's member: LY002
 * for a replaced card, else LY039 (also for any card on the return of an
 * anonymous sale).  The message says what is wrong with the return, not
 * whose the sale was.
 */
static void
CheckReturnCard(const SaleRow *row, const OriginalSale *o, const LoyaltyMember *m,
				bool card_current)
{
	if (!row->has_card)
		return;
	if (!card_current)
		LoyaltyCardReplacedError(row->card);
	if (!o->member_id || m->member_id != o->member_id)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_RETURN_MEMBER),
				 errmsg("card \"%s\" does not match sale " INT64_FORMAT,
						LoyaltyCardText(row->card), row->return_of),
				 errdetail("A return carries the card the sale was made with, or no card."),
				 errhint("Leave the card out: the return then goes to the sale's member, if it had one.")));
}

/*
 * When a return may be dated: not before its sale (LY040), within the
 * back-dating policy (CheckBackdating), and inside the program's return_days
 * after the sale (LY040), judged by the server's clock when the return comes
 * from a POS and by the return's own date in a back-fill.  The messages do
 * not say when the sale was made.
 */
static void
CheckReturnDates(const SaleRow *row, const OriginalSale *o, const LoyaltyMember *m)
{
	TimestampTz judged_at;

	if (row->occurred_at < o->occurred_at)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_RETURN_WINDOW),
				 errmsg("return dated %s is before sale " INT64_FORMAT,
						timestamptz_to_str(row->occurred_at), row->return_of),
				 errdetail("A return cannot be dated before the sale it returns.")));
	CheckBackdating(row, o->member_id ? m : NULL);
	if (!o->member_id)
		return;
	judged_at = CallerMayBackfill() ? row->occurred_at : row->received_at;
	if (judged_at > o->occurred_at + (TimestampTz) m->return_days * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_RETURN_WINDOW),
				 errmsg("sale " INT64_FORMAT " can no longer be returned", row->return_of),
				 errdetail("The program accepts returns for %d days after a sale.", m->return_days)));
}

/*
 * What comes back: no sku more often, or for more, than the sale bought it,
 * over all its returns (LY038).  Fills the original basket and, per sku,
 * what all returns of the sale, this one included, bring back.  The message
 * names the return's own sku, never what the sale bought.
 */
static void
CheckReturnedLines(const SaleRow *row, OriginalSale *o, const SaleBasket *returned,
				   SaleBasket *original, SkuTotals *back)
{
	Datum		arg = Int64GetDatum(row->return_of);
	SkuTotals	bought = {0};

	LoyaltyParseStoredLines(o->lines, false, original);
	SkuAddBasket(&bought, original);
	LoyaltyExecute(&earlier_returns_plan, &arg, NULL, false, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		SaleBasket	earlier;
		bool		isnull;
		Jsonb	   *lines = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		Datum		left = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);

		CHECK_FOR_INTERRUPTS();
		LoyaltyParseStoredLines(lines, true, &earlier);
		SkuAddBasket(back, &earlier);
		/* what of the award the earlier returns left (they come one by one) */
		if (!isnull)
			o->points_left = Min(o->points_left, DatumGetInt64(left));
	}
	SkuAddBasket(back, returned);
	for (int i = 0; i < back->n; i++)
	{
		SkuEntry   *b = SkuFind(back, back->sku[i]);
		SkuEntry   *sold = SkuFind(&bought, back->sku[i]);

		CHECK_FOR_INTERRUPTS();
		if (sold == NULL ||
			DatumGetInt32(DirectFunctionCall2(numeric_cmp, b->qty, sold->qty)) > 0 ||
			DatumGetInt32(DirectFunctionCall2(numeric_cmp, b->amount, sold->amount)) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_OVER_RETURN),
					 errmsg("return of sku \"%s\" exceeds what sale " INT64_FORMAT " sold",
							back->sku[i], row->return_of),
					 errdetail("A sku can be returned at most as often, and for at most as much, as the sale bought it, over all the sale's returns."),
					 errhint("Return only what the sale's receipt lists and has not come back yet.")));
	}
}

/* What the earlier returns of an enrolled sale took back from its entry. */
static int64
SaleReversedSoFar(int64 sale_id, int64 entry_id)
{
	Datum		v[2] = {Int64GetDatum(sale_id), Int64GetDatum(entry_id)};
	bool		isnull;
	Datum		d;

	LoyaltyExecute(&sale_reversed_plan, v, NULL, false, 1);
	if (SPI_processed != 1)
		return 0;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * The points a return takes back: the original award, less the award of
 * what is left of the sale, less what earlier returns took back; never the
 * sale's points that have expired (or lapsed) by now, which are gone
 * already.  Sets the return's award record, which also says when the member
 * is closed (nothing is then taken back).
 */
static int64
ReturnPointsDue(const SaleRow *row, const OriginalSale *o, const SaleBasket *original,
				SkuTotals *back, const LoyaltyMember *m, Datum *award, int64 *unearned)
{
	Datum	   *remaining = palloc(sizeof(Datum) * original->nlines);
	Datum	   *remaining_qty = palloc(sizeof(Datum) * original->nlines);
	Datum		lv[3];
	bool		isnull;
	int64		kept,
				already,
				entry_already,
				lost,
				due;

	for (int k = 0; k < original->nlines; k++)
	{
		/* this line's share of its sku's returns, in line order */
		SkuEntry   *b = SkuFind(back, original->lines[k].sku);

		CHECK_FOR_INTERRUPTS();
		remaining[k] = original->lines[k].amount;
		remaining_qty[k] = original->lines[k].qty;
		if (b != NULL)
		{
			remaining[k] = TakeShare(remaining[k], &b->amount);
			remaining_qty[k] = TakeShare(remaining_qty[k], &b->qty);
		}
	}
	kept = LoyaltyRemainingAward(o->award, original, remaining, remaining_qty);
	entry_already = LoyaltyReversedSoFar(m->member_id, o->entry_id);
	already = o->enrolled ? SaleReversedSoFar(row->return_of, o->entry_id) : entry_already;
	lv[0] = Int64GetDatum(m->member_id);
	lv[1] = Int64GetDatum(o->entry_id);
	lv[2] = TimestampTzGetDatum(m->locked_at);
	LoyaltyExecute(&lot_lost_plan, lv, NULL, false, 1);
	lost = SPI_processed != 1 ? 0 :
		DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	/*
	 * points of the sale that expired are not taken again from other lots:
	 * at most what is left of its entry (of an enrolment's, credited to
	 * several sales, what none of their returns took yet)
	 */
	due = Max(Min(o->points - kept - already, o->entry_points - entry_already - lost), 0);
	/*
	 * What the sale no longer earns, expired or not: its tier points.  Not
	 * o->points - kept - already: what the ledger took back so far leaves
	 * out what had expired, which the earlier returns' tier points did not.
	 */
	*unearned = Max(o->points_left - kept, 0);

	*award = DirectFunctionCall1(jsonb_in, CStringGetDatum(
		psprintf("{\"return_of\": " INT64_FORMAT ", \"original_points\": " INT64_FORMAT
				 ", \"points_left\": " INT64_FORMAT ", \"taken_back_before\": " INT64_FORMAT
				 ", \"expired\": " INT64_FORMAT ", \"due\": " INT64_FORMAT "%s%s}",
				 row->return_of, o->points, kept, already, lost, due,
				 o->enrolled ? ", \"enrolment\": true" : "",
				 m->status == 'c' ? ", \"member_closed\": true" : "")));
	return due;
}

/* Post a return's reversal, taken from the original sale's lot first. */
static void
PostReturnReversal(const SaleRow *row, const OriginalSale *o, LoyaltyMember *m,
				   int64 due, SaleResult *res)
{
	LoyaltyPosting p = {0};

	p.kind = LOYALTY_REVERSE;
	p.member_id = m->member_id;
	p.effective_at = Min(row->occurred_at, m->locked_at);
	p.posted_at = m->locked_at;
	p.source = "return";
	p.store = row->store;
	p.pos_txn = row->pos_txn;
	p.sale_id = row->sale_id;
	p.reverses = o->entry_id;
	LoyaltyPostDebit(m, &p, due, o->entry_id, m->negative_balance);
	res->points_earned = p.points;
	res->entry_id = p.entry_id;
	LoyaltySaleEvent("reversal", m->member_id, row->sale_id, p.entry_id, p.points, row->store, row->pos_txn);
}

/*
 * Step 5: a return takes back what the remaining basket no longer earns.
 * Under the lock, a retry is answered first; then the card, the dates and the
 * lines are checked.  A closed member's return is recorded, and takes
 * nothing back: a closed membership's balance is final and never posted to.
 * A suspended member's return does take its points back.
 */
static bool
ReturnSale(const SaleRow *row, SaleBasket *returned, SaleResult *res)
{
	OriginalSale o;
	LoyaltyMember m = {0};
	bool		card_current;
	SaleBasket	original;
	SkuTotals	back = {0};
	int64		due;
	int64		unearned = 0;
	LoyaltyLadder ladder;

	FetchOriginalSale(row->return_of, &o);
	card_current = LockReturn(row, &o, &m);
	if (IsRetry(row))
		return false;
	CheckReturnCard(row, &o, &m, card_current);
	CheckReturnDates(row, &o, &m);
	CheckReturnedLines(row, &o, returned, &original, &back);
	if (!o.member_id)
		return true;
	res->member_id = o.member_id;
	if (o.entry_id && o.award != NULL)
	{
		due = ReturnPointsDue(row, &o, &original, &back, &m, &res->award, &unearned);
		if (due > 0 && m.status != 'c')
			PostReturnReversal(row, &o, &m, due, res);
	}
	/* an active member's return rules (the Christmas tree) */
	if (m.status == 'a')
		res->vouchers = LoyaltyReturnVouchers(&m, row->store, row->occurred_at, o.occurred_at,
											  returned, row->sale_id, &res->award);

	/*
	 * the tier figures of the sale's day go down, if the sale counted (not
	 * one from before the program had tiers); the tier stays
	 */
	LoyaltyProgramLadder(m.program_id, &ladder);
	if (ladder.ntiers > 0 && m.status != 'c' && o.tier_counted)
		res->tier = LoyaltyTierCountReturn(&m, &ladder, o.occurred_at, row->total, unearned)->code;
	else if (ladder.ntiers > 0 && m.status != 'c')
	{
		MemberTier	mt;

		LoyaltyTierRead(&m, &ladder, false, &mt);
		res->tier = mt.tier->code;
	}
	return true;
}

/* The sale row as stored and as RETURNING shows it: what the trigger filled in. */
static HeapTuple
StoredSaleRow(HeapTuple tuple, TupleDesc desc, SaleResult *res)
{
	int			cols[7];
	Datum		vals[7];
	bool		nulls[7] = {0};

	cols[0] = LoyaltyColumn(desc, "sale", "member_id");
	vals[0] = Int64GetDatum(res->member_id);
	nulls[0] = res->member_id == 0;
	cols[1] = LoyaltyColumn(desc, "sale", "points_earned");
	vals[1] = Int64GetDatum(res->points_earned);
	cols[2] = LoyaltyColumn(desc, "sale", "points_pending");
	vals[2] = Int64GetDatum(res->points_pending);
	cols[3] = LoyaltyColumn(desc, "sale", "entry_id");
	vals[3] = Int64GetDatum(res->entry_id);
	nulls[3] = res->entry_id == 0;
	/* every processed row carries an award, which marks it processed */
	if (res->award == 0)
		res->award = DirectFunctionCall1(jsonb_in, CStringGetDatum("{\"points\": 0}"));
	cols[4] = LoyaltyColumn(desc, "sale", "award");
	vals[4] = res->award ? datumCopy(res->award, false, -1) : (Datum) 0;
	nulls[4] = res->award == 0;
	cols[5] = LoyaltyColumn(desc, "sale", "tier");
	vals[5] = res->tier ? CStringGetTextDatum(res->tier) : (Datum) 0;
	nulls[5] = res->tier == NULL;
	cols[6] = LoyaltyColumn(desc, "sale", "vouchers_issued");
	vals[6] = res->vouchers ? datumCopy(res->vouchers, false, -1) : (Datum) 0;
	nulls[6] = res->vouchers == 0;
	return heap_modify_tuple_by_cols(tuple, desc, 7, cols, vals, nulls);
}

/* The BEFORE INSERT trigger of loyalty.sale: steps 1-5 of the header comment. */
PG_FUNCTION_INFO_V1(loyalty_sale_trigger);
Datum
loyalty_sale_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	SaleRow		row = {0};
	SaleResult	res = {0};
	SaleBasket	basket;
	bool		isnull;
	Datum		d;
	MemoryContext caller = CurrentMemoryContext;
	bool		within_bounds = true;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		elog(ERROR, "sale_trigger must be a BEFORE INSERT FOR EACH ROW trigger");
	LoyaltyCheckColumnTypes(trigdata->tg_relation);
	desc = RelationGetDescr(trigdata->tg_relation);
	tuple = trigdata->tg_trigtuple;

	/*
	 * A row that already carries its award was processed when it was first
	 * inserted: pg_restore (the trigger belongs to the extension, so it is
	 * there before the data) or a copy between databases.  It passes
	 * untouched; the roles that insert sales cannot write this column.
	 */
	heap_getattr(tuple, LoyaltyColumn(desc, "sale", "award"), desc, &isnull);
	if (!isnull)
		return PointerGetDatum(tuple);

	/* 1. the row */
	row.rel = trigdata->tg_relation;
	row.sale_id = DatumGetInt64(heap_getattr(tuple, LoyaltyColumn(desc, "sale", "sale_id"), desc, &isnull));
	d = heap_getattr(tuple, LoyaltyColumn(desc, "sale", "store"), desc, &isnull);
	row.store = isnull ? "" : TextDatumGetCString(d);
	d = heap_getattr(tuple, LoyaltyColumn(desc, "sale", "pos_txn"), desc, &isnull);
	row.pos_txn = isnull ? "" : TextDatumGetCString(d);
	if (row.store[0] == '\0' || row.pos_txn[0] == '\0' ||
		strlen(row.store) > LOYALTY_MAX_KEY_LENGTH || strlen(row.pos_txn) > LOYALTY_MAX_KEY_LENGTH)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MISSING_KEY),
				 errmsg("a sale needs a store and a pos_txn of 1 to %d bytes", LOYALTY_MAX_KEY_LENGTH)));
	d = heap_getattr(tuple, LoyaltyColumn(desc, "sale", "card"), desc, &isnull);
	row.has_card = !isnull;
	row.card = isnull ? 0 : DatumGetInt64(d);
	LoyaltySetCardType(TupleDescAttr(desc, LoyaltyColumn(desc, "sale", "card") - 1)->atttypid);
	row.occurred_at = DatumGetTimestampTz(heap_getattr(tuple, LoyaltyColumn(desc, "sale", "occurred_at"), desc, &isnull));
	if (isnull || TIMESTAMP_NOT_FINITE(row.occurred_at))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_TIME),
				 errmsg("occurred_at must be a finite time")));
	row.received_at = GetCurrentTimestamp();
	if (row.occurred_at > row.received_at + SALE_CLOCK_SKEW_USECS)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_FUTURE_TIME),
				 errmsg("sale time %s is in the future", timestamptz_to_str(row.occurred_at)),
				 errdetail("A POS clock may be at most 5 minutes ahead of the database server's.")));
	/* NOT NULL is checked only after BEFORE triggers: check it here */
	row.total = heap_getattr(tuple, LoyaltyColumn(desc, "sale", "total"), desc, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_NEGATIVE_LINE),
				 errmsg("a sale needs a total")));
	d = heap_getattr(tuple, LoyaltyColumn(desc, "sale", "lines"), desc, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MALFORMED_LINES),
				 errmsg("a sale needs its lines")));
	row.lines = DatumGetJsonbP(d);
	d = heap_getattr(tuple, LoyaltyColumn(desc, "sale", "return_of"), desc, &isnull);
	row.is_return = !isnull;
	row.return_of = isnull ? 0 : DatumGetInt64(d);
	LoyaltyParseLines(row.lines, row.total, row.is_return, &basket, &within_bounds);

	SPI_connect();
	loyalty_defer_balances = !SaleHasOwnTriggers(row.rel);
	/* outside 0.5.0's bounds: the retry of a sale stored before them, or an error */
	if (!within_bounds)
	{
		if (IsRetry(&row))
		{
			SPI_finish();
			return PointerGetDatum(tuple);
		}
		LoyaltyParseLines(row.lines, row.total, row.is_return, &basket, NULL);
		elog(ERROR, "sale lines out of bounds passed the second check");
	}
	/* 2-5; a retry (found under the member's lock) passes through untouched */
	if (row.is_return ? !ReturnSale(&row, &basket, &res) :
		row.has_card ? !EarnSale(&row, &basket, &res) : !AnonymousSale(&row))
	{
		SPI_finish();
		return PointerGetDatum(tuple);
	}

	MemoryContextSwitchTo(caller);
	tuple = StoredSaleRow(tuple, desc, &res);
	SPI_finish();
	return PointerGetDatum(tuple);
}

/*
 * AFTER INSERT FOR EACH STATEMENT on loyalty.sale: the statement's sales are
 * in; write their balances (pending.c), member_tier rows (tier_pending.c)
 * and what they spent of budgets (budget.c), close the tables the
 * trigger wrote (writer.c) and let go of the last claim.
 */
PG_FUNCTION_INFO_V1(loyalty_sale_statement_end);
Datum
loyalty_sale_statement_end(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "sale_statement_end must be called as a trigger");
	LoyaltyBalanceFlush();
	LoyaltyTierFlush();
	LoyaltyBudgetFlush();
	LoyaltyWriterClose();
	ReleaseClaim();
	pos_txn_index = InvalidOid;
	return PointerGetDatum(NULL);
}

/*
 * The member price of a quote: the tier's code, discount_pct, the discount
 * (rounded to the cent) and the member total; no tier: NULL, 0, 0, total.
 */
static void
MemberPrice(const LoyaltyTier *tier, Datum total, Datum *v, bool *n)
{
	Datum		pct = tier ? tier->discount_pct : NumInt(0);
	Datum		discount;

	discount = DirectFunctionCall2(numeric_round,
								   DirectFunctionCall2(numeric_div, NumMul(total, pct), NumInt(100)),
								   Int32GetDatum(2));
	n[0] = tier == NULL;
	v[0] = tier ? CStringGetTextDatum(tier->code) : (Datum) 0;
	v[1] = datumCopy(pct, false, -1);
	v[2] = datumCopy(discount, false, -1);
	v[3] = datumCopy(DirectFunctionCall2(numeric_sub, total, discount), false, -1);
}

/*
 * loyalty.quote(card, lines, total, store, at): what a basket would earn now,
 * writing nothing and taking no lock.
 */
PG_FUNCTION_INFO_V1(loyalty_quote);
Datum
loyalty_quote(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	LoyaltyMember m;
	SaleFacts	facts = {0};
	SaleBasket	basket;
	SaleAward	award;
	TupleDesc	tdesc;
	Datum		v[6];
	bool		n[6] = {0};
	HeapTuple	tup;
	Datum		total;
	Datum		award_json;
	LoyaltyLadder ladder;
	MemberTier	mt;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MISSING_KEY),
				 errmsg("card is required")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MALFORMED_LINES),
				 errmsg("lines are required")));
	LoyaltySetCardType(get_fn_expr_argtype(fcinfo->flinfo, 0));
	total = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	LoyaltyParseLines(PG_GETARG_JSONB_P(1), total, false, &basket, NULL);

	SPI_connect();
	LoyaltyResolveCard(PG_GETARG_INT64(0), false, &m);
	LoyaltyRequireActive(PG_GETARG_INT64(0), &m);
	facts.member = &m;
	facts.store = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	facts.occurred_at = PG_ARGISNULL(4) ? GetCurrentTimestamp() : PG_GETARG_TIMESTAMPTZ(4);
	if (TIMESTAMP_NOT_FINITE(facts.occurred_at))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_TIME),
				 errmsg("time must be finite: %s", timestamptz_to_str(facts.occurred_at)),
				 errdetail("A quote is for a sale at a real moment; NULL means now.")));
	facts.read_only = true;
	LoyaltyProgramLadder(m.program_id, &ladder);
	if (ladder.ntiers > 0)
	{
		LoyaltyTierRead(&m, &ladder, true, &mt);
		facts.tier = mt.tier;
	}
	LoyaltyEvaluateRules(&facts, &basket, &award);
	award_json = LoyaltyAwardJson(&basket, &award);

	MemoryContextSwitchTo(caller);
	if (get_call_result_type(fcinfo, NULL, &tdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tdesc = BlessTupleDesc(tdesc);
	v[0] = Int64GetDatum(award.points);
	v[1] = datumCopy(award_json, false, -1);
	if (basket.total == (Datum) 0)
	{
		/* no total given: the lines' */
		basket.total = NumInt(0);
		for (int k = 0; k < basket.nlines; k++)
			basket.total = NumAdd(basket.total, basket.lines[k].amount);
	}
	MemberPrice(facts.tier, basket.total, &v[2], &n[2]);
	tup = heap_form_tuple(tdesc, v, n);
	LoyaltyWriterClose();
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}
