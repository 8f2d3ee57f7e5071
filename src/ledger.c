/*
 * ledger.c -- posting points: earn, redeem, adjust, reverse, expire.
 *
 * Every posting follows the same path:
 *
 *   1. LoyaltyResolveCard(lock = true) finds the member and locks its
 *      loyalty.member_balance row.  That lock serialises every posting of one
 *      member, so each step below sees the member's state as the previous
 *      posting left it (each SPI statement takes a fresh snapshot in READ
 *      COMMITTED; under REPEATABLE READ a concurrent change is a
 *      serialization failure, 40001, and the caller retries).
 *   2. The idempotency key is looked up under that lock: the same key with the
 *      same request returns the original entry and posts nothing; with a
 *      different request it is an error (LY011).
 *   3. A credit opens a lot (after repaying any debt); a debit takes points
 *      from the open lots, earliest expiry first.
 *   4. One ledger row records the entry and the lots it touched; the lots and
 *      the balance row are updated in the same transaction.
 *
 * Invariants kept (and checked by loyalty.check_invariants()):
 *   member_balance.net = sum(ledger.points) = sum(lot.remaining) - debt
 *   lot.remaining = lot.points - points the ledger says were taken from it
 *   debt > 0 only when the program's negative_balance policy is 'allow'.
 *
 * Points an open hold took out of their lots (hold.c) still count for a
 * debit that cannot be refused (a reversal, a negative adjustment, what a
 * capture needs beyond its hold): it takes the same lots it would take
 * without the hold, the held part from the holds.  So a hold never changes
 * what a reversal takes; its capture or release settles the rest.
 */
#include "loyalty.h"
#include "hold.h"
#include "txn_key.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"



/* The lots one entry touched. */
typedef struct LotMoves
{
	int			n;
	int			cap;
	Datum	   *ids;
	Datum	   *points;
} LotMoves;

/* What a debit takes: from every lot (the ledger's record), split by source. */
typedef struct LotTake
{
	LotMoves	all;
	LotMoves	from_lots;		/* lot.remaining */
	LotMoves	from_holds;		/* points open holds kept out of the lot */
} LotTake;

/* ---------- prepared statements ---------- */

#define ENTRY_COLUMNS \
	"entry_id, member_id, kind, points, shortfall, effective_at, pending_until, " \
	"expires_at, reason, reverses, value"

static LoyaltyPlan find_by_key_plan = {
	"SELECT " ENTRY_COLUMNS " FROM loyalty.ledger "
	"WHERE member_id OPERATOR(pg_catalog.=) $1 AND idem_key OPERATOR(pg_catalog.=) $2",
	2, {INT8OID, TEXTOID}
};

static LoyaltyPlan find_redemption_plan = {
	"SELECT " ENTRY_COLUMNS " FROM loyalty.ledger "
	"WHERE store OPERATOR(pg_catalog.=) $1 AND pos_txn OPERATOR(pg_catalog.=) $2 "
	"AND kind OPERATOR(pg_catalog.=) 'redeem'",
	2, {TEXTOID, TEXTOID}
};

static LoyaltyPlan insert_entry_plan = {
	"INSERT INTO loyalty.ledger (member_id, entry_id, kind, points, effective_at, "
	"source, reason, idem_key, store, pos_txn, value, pending_until, expires_at, "
	"reverses, shortfall, lot_ids, lot_points, posted_at, sale_id, rule_points) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) "
	"ON CONFLICT DO NOTHING",
	20, {INT8OID, INT8OID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, NUMERICOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID, INT8OID,
	INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZOID, INT8OID, JSONBOID}
};

static LoyaltyPlan insert_lot_plan = {
	"INSERT INTO loyalty.lot (member_id, lot_id, points, remaining, earned_at, "
	"available_from, expires_at) VALUES ($1, $2, $3, $3, $4, $5, $6)",
	6, {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
};

/*
 * Lots a debit posted at $2 may take from, in the order it takes them: the
 * preferred lot ($3, the lot of the entry a reversal takes back, even while
 * pending) first, then redeemable lots earliest expiry first.  The lots are
 * those of the moment of posting, whatever the debit's effective time: a
 * back-dated debit takes the points the member has now (LoyaltyPostDebit
 * dates it no earlier than the lots it takes).  A lot past its expiry is
 * never taken, whether or not expire_points() has run yet.
 */
static LoyaltyPlan open_lots_plan = {
	"SELECT lot_id, remaining, earned_at FROM loyalty.lot "
	"WHERE member_id OPERATOR(pg_catalog.=) $1 AND remaining OPERATOR(pg_catalog.>) 0 "
	"AND earned_at OPERATOR(pg_catalog.<=) $2 "
	"AND (expires_at IS NULL OR expires_at OPERATOR(pg_catalog.>) $2) "
	"AND (available_from OPERATOR(pg_catalog.<=) $2 OR lot_id OPERATOR(pg_catalog.=) $3) "
	"ORDER BY lot_id OPERATOR(pg_catalog.=) $3 DESC, expires_at NULLS LAST, lot_id",
	3, {INT8OID, TIMESTAMPTZOID, INT8OID}
};

/*
 * open_lots_plan with the points the member's open holds (but hold $4) keep
 * out of each lot: for a debit that may take them.  $5: the hold_ids of the
 * member's open holds (LoyaltyOpenHoldIds), so the member's closed holds
 * are never read.
 */
static LoyaltyPlan open_and_held_lots_plan = {
	"SELECT l.lot_id, l.remaining, l.earned_at, COALESCE(h.held, 0) FROM loyalty.lot l "
	"LEFT JOIN (SELECT x.lot_id, pg_catalog.sum(x.pts)::pg_catalog.int8 AS held "
	"           FROM loyalty.hold h CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(h.lot_ids), pg_catalog.unnest(h.lot_points)) AS x(lot_id, pts) "
	"           WHERE h.member_id OPERATOR(pg_catalog.=) $1 AND h.hold_id OPERATOR(pg_catalog.=) ANY ($5) "
	"           AND h.status OPERATOR(pg_catalog.=) 'open' AND h.hold_id OPERATOR(pg_catalog.<>) $4 GROUP BY x.lot_id) h "
	"  ON h.lot_id OPERATOR(pg_catalog.=) l.lot_id "
	"WHERE l.member_id OPERATOR(pg_catalog.=) $1 "
	"AND (l.remaining OPERATOR(pg_catalog.>) 0 OR h.held OPERATOR(pg_catalog.>) 0) "
	"AND l.earned_at OPERATOR(pg_catalog.<=) $2 "
	"AND (l.expires_at IS NULL OR l.expires_at OPERATOR(pg_catalog.>) $2) "
	"AND (l.available_from OPERATOR(pg_catalog.<=) $2 OR l.lot_id OPERATOR(pg_catalog.=) $3) "
	"ORDER BY l.lot_id OPERATOR(pg_catalog.=) $3 DESC, l.expires_at NULLS LAST, l.lot_id",
	5, {INT8OID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8ARRAYOID}
};

static LoyaltyPlan take_lots_plan = {
	"UPDATE loyalty.lot l SET remaining = l.remaining OPERATOR(pg_catalog.-) t.points "
	"FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.int8[]), pg_catalog.unnest($3::pg_catalog.int8[])) AS t(lot_id, points) "
	"WHERE l.member_id OPERATOR(pg_catalog.=) $1 AND l.lot_id OPERATOR(pg_catalog.=) t.lot_id",
	3, {INT8OID, INT8ARRAYOID, INT8ARRAYOID}
};

static LoyaltyPlan update_balance_plan = {
	"UPDATE loyalty.member_balance SET "
	"net = net OPERATOR(pg_catalog.+) $2, debt = debt OPERATOR(pg_catalog.+) $3, "
	"lifetime_earned = lifetime_earned OPERATOR(pg_catalog.+) $4, "
	"lifetime_redeemed = lifetime_redeemed OPERATOR(pg_catalog.+) $5, "
	"expired = expired OPERATOR(pg_catalog.+) $6, "
	"reversed = reversed OPERATOR(pg_catalog.+) $7, "
	"adjusted = adjusted OPERATOR(pg_catalog.+) $8, "
	"shortfall = shortfall OPERATOR(pg_catalog.+) $9, "
	"last_entry_id = GREATEST(last_entry_id, $10), updated_at = pg_catalog.now(), "
	"sales = sales OPERATOR(pg_catalog.+) $11, held = held OPERATOR(pg_catalog.+) $12, "
	"open_holds = open_holds OPERATOR(pg_catalog.+) $13 "
	"WHERE member_id OPERATOR(pg_catalog.=) $1",
	13, {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
	INT8OID, INT8OID, INT8OID, INT8OID, INT8OID}
};

static LoyaltyPlan reversible_plan = {
	"SELECT e.points, "
	"  (SELECT COALESCE(pg_catalog.sum(r.points OPERATOR(pg_catalog.-) r.shortfall), 0)::pg_catalog.int8 "
	"     FROM loyalty.ledger r WHERE r.member_id OPERATOR(pg_catalog.=) $1 "
	"     AND r.reverses OPERATOR(pg_catalog.=) $2) "
	"FROM loyalty.ledger e WHERE e.member_id OPERATOR(pg_catalog.=) $1 "
	"AND e.entry_id OPERATOR(pg_catalog.=) $2 AND e.kind OPERATOR(pg_catalog.=) 'earn'",
	2, {INT8OID, INT8OID}
};

/*
 * Lots expire_points posts to: lapsed with points left, of members not
 * closed (a closed balance is final; ExpireLot checks again under the lock,
 * for a member closed since).
 */
static LoyaltyPlan lapsed_lots_plan = {
	"SELECT l.member_id, l.lot_id FROM loyalty.lot l "
	"WHERE l.remaining OPERATOR(pg_catalog.>) 0 AND l.expires_at OPERATOR(pg_catalog.<=) $1 "
	"AND NOT EXISTS (SELECT FROM loyalty.member_balance b "
	"WHERE b.member_id OPERATOR(pg_catalog.=) l.member_id "
	"AND b.status OPERATOR(pg_catalog.=) 'closed') "
	"ORDER BY l.member_id, l.lot_id",
	1, {TIMESTAMPTZOID}
};

static LoyaltyPlan lock_member_plan = {
	"SELECT debt, status OPERATOR(pg_catalog.=) 'closed' FROM loyalty.member_balance "
	"WHERE member_id OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE",
	1, {INT8OID}
};

static LoyaltyPlan lot_remaining_plan = {
	"SELECT remaining, expires_at FROM loyalty.lot "
	"WHERE member_id OPERATOR(pg_catalog.=) $1 AND lot_id OPERATOR(pg_catalog.=) $2",
	2, {INT8OID, INT8OID}
};

/* ---------- small helpers ---------- */

static Datum
TextOrNull(const char *s, char *null)
{
	*null = (s == NULL) ? 'n' : ' ';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

static void
LotMovesAdd(LotMoves *moves, int64 lot_id, int64 points)
{
	if (moves->n == moves->cap)
	{
		moves->cap = moves->cap ? moves->cap * 2 : 8;
		moves->ids = moves->ids ? repalloc(moves->ids, sizeof(Datum) * moves->cap)
			: palloc(sizeof(Datum) * moves->cap);
		moves->points = moves->points ? repalloc(moves->points, sizeof(Datum) * moves->cap)
			: palloc(sizeof(Datum) * moves->cap);
	}
	moves->ids[moves->n] = Int64GetDatum(lot_id);
	moves->points[moves->n] = Int64GetDatum(points);
	moves->n++;
}

/* Adds points of a lot to moves, to the lot's move when it has one already. */
static void
LotMovesMerge(LotMoves *moves, int64 lot_id, int64 points)
{
	for (int i = 0; i < moves->n; i++)
		if (DatumGetInt64(moves->ids[i]) == lot_id)
		{
			moves->points[i] = Int64GetDatum(DatumGetInt64(moves->points[i]) + points);
			return;
		}
	LotMovesAdd(moves, lot_id, points);
}

/* An int8[] datum of n int8 datums (lot ids, points, member ids). */
Datum
LoyaltyInt8Array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* The elements of an int8[] datum without NULLs (into *elems); returns how many. */
int
LoyaltyInt8Elems(Datum array, Datum **elems)
{
	int			n;

	deconstruct_array(DatumGetArrayTypeP(array), INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, elems, NULL, &n);
	return n;
}

/*
 * Text argument that must be present, non-empty and at most
 * LOYALTY_MAX_KEY_LENGTH bytes (keys are indexed): LY013 otherwise.
 */
char *
RequiredText(FunctionCallInfo fcinfo, int argno, const char *what)
{
	char	   *s;

	if (PG_ARGISNULL(argno) ||
		(s = text_to_cstring(PG_GETARG_TEXT_PP(argno)))[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MISSING_KEY),
				 errmsg("%s is required", what),
				 errdetail("It may be neither NULL nor empty.")));
	if (strlen(s) > LOYALTY_MAX_KEY_LENGTH)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MISSING_KEY),
				 errmsg("%s is too long", what),
				 errdetail("It has %zu bytes; at most %d are allowed.", strlen(s),
						   LOYALTY_MAX_KEY_LENGTH)));
	return s;
}

static char *
OptionalText(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* The card argument (the first), which must not be NULL: LY013 otherwise. */
int64
RequiredCard(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MISSING_KEY),
				 errmsg("card is required"),
				 errdetail("It may not be NULL.")));
	LoyaltySetCardType(get_fn_expr_argtype(fcinfo->flinfo, 0));
	return PG_GETARG_INT64(0);
}

/* One entry moves at most LOYALTY_MAX_POINTS, so sums cannot overflow. */
static void
CheckPointsRange(int64 points)
{
	if (points > LOYALTY_MAX_POINTS || points < -LOYALTY_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_POINTS),
				 errmsg("points out of range: " INT64_FORMAT, points),
				 errdetail("One entry moves at most " INT64_FORMAT " points.", (int64) LOYALTY_MAX_POINTS)));
}

static int64
PositivePoints(FunctionCallInfo fcinfo, int argno)
{
	int64		points;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_POINTS),
				 errmsg("points are required")));
	points = PG_GETARG_INT64(argno);
	if (points <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_POINTS),
				 errmsg("points must be positive: " INT64_FORMAT, points)));
	CheckPointsRange(points);
	return points;
}

static void
RequireFiniteTime(TimestampTz ts)
{
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_TIME),
				 errmsg("time must be finite: %s", timestamptz_to_str(ts))));
}

/*
 * An explicit effective time (back-dating); the future is refused (LY016).
 * Returns false when the argument is NULL: the entry then takes the time the
 * member's lock was granted (see LoyaltyResolveCard), not the transaction
 * start, so that an entry is never dated before one it had to wait for.
 */
static bool
EffectiveTime(FunctionCallInfo fcinfo, int argno, TimestampTz *ts)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return false;
	*ts = PG_GETARG_TIMESTAMPTZ(argno);
	RequireFiniteTime(*ts);
	if (*ts > GetCurrentTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_FUTURE_TIME),
				 errmsg("effective time %s is in the future",
						timestamptz_to_str(*ts)),
				 errdetail("Entries may be back-dated but not dated ahead of the present.")));
	return true;
}

/* ---------- the posting core ---------- */

/* Read a ledger row in ENTRY_COLUMNS order into a LoyaltyPosting (for replays). */
static void
LoyaltyPostingFromRow(HeapTuple tup, TupleDesc desc, LoyaltyPosting *p)
{
	bool		isnull;
	Datum		d;

	p->entry_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	p->member_id = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	p->kind = LoyaltyParseName(SPI_getvalue(tup, desc, 3), loyalty_kind_names, "ledger kind");
	p->points = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	p->shortfall = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
	p->effective_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
	d = SPI_getbinval(tup, desc, 7, &isnull);
	p->has_pending_until = !isnull;
	p->pending_until = isnull ? 0 : DatumGetTimestampTz(d);
	d = SPI_getbinval(tup, desc, 8, &isnull);
	p->has_expires_at = !isnull;
	p->expires_at = isnull ? 0 : DatumGetTimestampTz(d);
	p->reason = SPI_getvalue(tup, desc, 9);
	d = SPI_getbinval(tup, desc, 10, &isnull);
	p->reverses = isnull ? 0 : DatumGetInt64(d);
	d = SPI_getbinval(tup, desc, 11, &isnull);
	p->value = isnull ? (Datum) 0 : SPI_datumTransfer(d, false, -1);
}

static void
IdempotencyConflict(const char *key, const LoyaltyPosting *was)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_IDEMPOTENCY_CONFLICT),
			 errmsg("idempotency key \"%s\" was already used for a different request", key),
			 errdetail("It posted %s entry " INT64_FORMAT " of " INT64_FORMAT " points.",
					   loyalty_kind_names[was->kind], was->entry_id, was->points),
			 errhint("Use a new key for a new request.")));
}

/*
 * Replay check under the member lock.  Returns true (and fills *was) when the
 * key was used before by the same request; raises LY011 when it was used by a
 * different one.  "Same" means same kind, points requested, reason and, for a
 * reversal, the same entry reversed.
 */
static bool
FindReplay(const LoyaltyPosting *req, int64 requested, LoyaltyPosting *was)
{
	Datum		args[2];

	args[0] = Int64GetDatum(req->member_id);
	args[1] = CStringGetTextDatum(req->idem_key);
	LoyaltyExecute(&find_by_key_plan, args, NULL, false, 1);
	if (SPI_processed == 0)
		return false;
	LoyaltyPostingFromRow(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, was);
	if (was->kind != req->kind ||
		was->points - was->shortfall != requested ||
		was->reverses != req->reverses ||
		(was->reason == NULL) != (req->reason == NULL) ||
		(was->reason && strcmp(was->reason, req->reason) != 0))
		IdempotencyConflict(req->idem_key, was);
	return true;
}

static bool
InsertEntry(LoyaltyPosting *p, const LotMoves *moves)
{
	Datum		v[20];
	char		n[20];

	memset(n, ' ', sizeof(n));
	v[0] = Int64GetDatum(p->member_id);
	v[1] = Int64GetDatum(p->entry_id);
	v[2] = CStringGetTextDatum(loyalty_kind_names[p->kind]);
	v[3] = Int64GetDatum(p->points);
	v[4] = TimestampTzGetDatum(p->effective_at);
	v[5] = CStringGetTextDatum(p->source);
	v[6] = TextOrNull(p->reason, &n[6]);
	v[7] = TextOrNull(p->idem_key, &n[7]);
	v[8] = TextOrNull(p->store, &n[8]);
	v[9] = TextOrNull(p->pos_txn, &n[9]);
	v[10] = p->value;
	n[10] = p->value ? ' ' : 'n';
	v[11] = TimestampTzGetDatum(p->pending_until);
	n[11] = p->has_pending_until ? ' ' : 'n';
	v[12] = TimestampTzGetDatum(p->expires_at);
	n[12] = p->has_expires_at ? ' ' : 'n';
	v[13] = Int64GetDatum(p->reverses);
	n[13] = p->reverses ? ' ' : 'n';
	v[14] = Int64GetDatum(p->shortfall);
	v[15] = LoyaltyInt8Array(moves->ids, moves->n);
	v[16] = LoyaltyInt8Array(moves->points, moves->n);
	v[17] = TimestampTzGetDatum(p->posted_at);
	v[18] = Int64GetDatum(p->sale_id);
	n[18] = p->sale_id ? ' ' : 'n';
	v[19] = p->rule_points;
	n[19] = p->rule_points ? ' ' : 'n';

	/*
	 * A redemption may lose the race for its (store, pos_txn) to another
	 * member's (ON CONFLICT DO NOTHING tells); any other entry cannot meet a
	 * conflict under its member's lock, and goes the direct way (writer.c).
	 */
	if (p->kind != LOYALTY_REDEEM && LoyaltyWriterDirect(LOYALTY_LEDGER))
	{
		static const char *const columns[20] = {
			"member_id", "entry_id", "kind", "points", "effective_at", "source", "reason",
			"idem_key", "store", "pos_txn", "value", "pending_until", "expires_at",
			"reverses", "shortfall", "lot_ids", "lot_points", "posted_at", "sale_id", "rule_points"
		};
		LoyaltyRow *row = LoyaltyRowBegin(LOYALTY_LEDGER);

		for (int i = 0; i < 20; i++)
			LoyaltyRowSet(row, columns[i], v[i], n[i] == 'n');
		LoyaltyRowInsert(row);
		return true;
	}
	LoyaltyExecute(&insert_entry_plan, v, n, false, 0);
	return SPI_processed == 1;
}

static void
UpdateBalance(LoyaltyMember *m, const LoyaltyPosting *p, int64 new_debt)
{
	Datum		v[13];
	int64		earned = 0,
				redeemed = 0,
				expired = 0,
				reversed = 0,
				adjusted = 0;

	switch (p->kind)
	{
		case LOYALTY_EARN:
			earned = p->points;
			break;
		case LOYALTY_EXPIRE:
			expired = -p->points;
			break;
		case LOYALTY_REDEEM:
			redeemed = -p->points;
			break;
		case LOYALTY_REVERSE:
			reversed = -p->points;
			break;
		case LOYALTY_ADJUST:
			adjusted = p->points;
			break;
	}
	v[0] = Int64GetDatum(p->member_id);
	v[1] = Int64GetDatum(p->points);
	v[2] = Int64GetDatum(new_debt - m->debt);	/* additive, like everything here */
	v[3] = Int64GetDatum(earned);
	v[4] = Int64GetDatum(redeemed);
	v[5] = Int64GetDatum(expired);
	v[6] = Int64GetDatum(reversed);
	v[7] = Int64GetDatum(adjusted);
	v[8] = Int64GetDatum(p->shortfall);
	v[9] = Int64GetDatum(p->entry_id);
	v[10] = Int64GetDatum(p->counts_sale ? 1 : 0);
	v[11] = Int64GetDatum(p->held);
	v[12] = Int64GetDatum(p->open_holds);
	/* a sale's credit: counted for the end of its statement (pending.c) */
	if (p->counts_sale && redeemed == 0 && expired == 0 && reversed == 0 && adjusted == 0 &&
		p->shortfall == 0 && p->held == 0 && p->open_holds == 0 &&
		LoyaltyDeferBalance(p->member_id, p->points, new_debt - m->debt, earned, 1, p->entry_id))
	{
		m->debt = new_debt;
		m->sales++;
		return;
	}
	if (m->has_balance_tid && LoyaltyWriterDirect(LOYALTY_BALANCE))
	{
		/* the row the posting locked, by its tid */
		static const char *const added[11] = {
			"net", NULL, "lifetime_earned", "lifetime_redeemed", "expired", "reversed",
			"adjusted", "shortfall", NULL, "sales"
		};
		LoyaltyRow *row = LoyaltyRowBegin(LOYALTY_BALANCE);

		for (int i = 0; i < 10; i++)
			if (added[i])
				LoyaltyRowAdd(row, added[i], DatumGetInt64(v[i + 1]));
		/* additive like the rest: changes pending for the member add up (pending.c) */
		LoyaltyRowAdd(row, "debt", new_debt - m->debt);
		if (p->held != 0)
			LoyaltyRowAdd(row, "held", p->held);
		if (p->open_holds != 0)
			LoyaltyRowAdd(row, "open_holds", p->open_holds);
		m->held += p->held;
		m->open_holds += p->open_holds;
		LoyaltyRowSet(row, "last_entry_id", v[9], false);
		LoyaltyRowSet(row, "updated_at", TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false);
		LoyaltyRowUpdate(row, &m->balance_tid);
		/* the row has moved: a second posting in this call must find it again */
		m->has_balance_tid = false;
		return;
	}
	LoyaltyExecute(&update_balance_plan, v, NULL, false, 0);
	if (SPI_processed != 1)
		elog(ERROR, "balance row of member " INT64_FORMAT " is missing", p->member_id);
	m->held += p->held;
	m->open_holds += p->open_holds;
}

/* Take the points a debit recorded in `moves` out of the member's lots. */
static void
TakeFromLots(int64 member_id, const LotMoves *moves)
{
	Datum		w[3];

	if (moves->n == 0)
		return;
	w[0] = Int64GetDatum(member_id);
	w[1] = LoyaltyInt8Array(moves->ids, moves->n);
	w[2] = LoyaltyInt8Array(moves->points, moves->n);
	LoyaltyExecute(&take_lots_plan, w, NULL, false, 0);
	if (SPI_processed != (uint64) moves->n)
		elog(ERROR, "lots of member " INT64_FORMAT " changed under the balance lock",
			 member_id);
}

/* Draw the next entry id, and the expiry of a lot earned at effective_at. */
static void
NextEntry(const LoyaltyMember *m, LoyaltyPosting *p, bool with_expiry)
{
	Oid			seq = get_relname_relid("ledger_entry_id_seq", get_namespace_oid("loyalty", false));

	if (!OidIsValid(seq))
		elog(ERROR, "sequence loyalty.ledger_entry_id_seq is missing");
	p->entry_id = nextval_internal(seq, false);
	if (!with_expiry)
		return;
	/*
	 * Calendar arithmetic on UTC wall time, whose microseconds are the
	 * timestamptz's own: the result does not depend on the session's TimeZone.
	 */
	if (m->has_expiry)
	{
		Datum		t = DirectFunctionCall2(timestamp_pl_interval, TimestampGetDatum(p->effective_at),
											IntervalPGetDatum(&m->expiry_after));

		if (m->expiry_rounding != LOYALTY_PERIOD_NONE)
		{
			Interval	step = LoyaltyPeriodInterval(m->expiry_rounding);

			t = DirectFunctionCall2(timestamp_trunc,
									CStringGetTextDatum(loyalty_period_names[m->expiry_rounding]), t);
			t = DirectFunctionCall2(timestamp_pl_interval, t, IntervalPGetDatum(&step));
		}
		p->has_expires_at = true;
		p->expires_at = DatumGetTimestamp(t);
	}
	if (!p->has_pending_until && m->pending_days > 0)
	{
		Interval	days = {0};

		days.day = m->pending_days;
		p->has_pending_until = true;
		p->pending_until = DatumGetTimestamp(DirectFunctionCall2(timestamp_pl_interval,
																 TimestampGetDatum(p->effective_at),
																 IntervalPGetDatum(&days)));
	}
}

/*
 * Post a credit (earn, or a positive adjustment): repay debt first, open a
 * lot with the rest.
 */
void
LoyaltyPostCredit(LoyaltyMember *m, LoyaltyPosting *p)
{
	int64		repay = Min(p->points, m->debt);
	int64		lot_points = p->points - repay;
	LotMoves	moves = {0};

	NextEntry(m, p, true);
	if (lot_points > 0)
		LotMovesAdd(&moves, p->entry_id, lot_points);
	if (!InsertEntry(p, &moves))
		elog(ERROR, "ledger entry " INT64_FORMAT " could not be inserted", p->entry_id);
	if (lot_points > 0)
	{
		Datum		v[6];
		char		n[6] = {' ', ' ', ' ', ' ', ' ', ' '};

		v[0] = Int64GetDatum(p->member_id);
		v[1] = Int64GetDatum(p->entry_id);
		v[2] = Int64GetDatum(lot_points);
		v[3] = TimestampTzGetDatum(p->effective_at);
		v[4] = TimestampTzGetDatum(p->has_pending_until ? Max(p->pending_until, p->effective_at)
								   : p->effective_at);
		v[5] = TimestampTzGetDatum(p->expires_at);
		n[5] = p->has_expires_at ? ' ' : 'n';
		if (LoyaltyWriterDirect(LOYALTY_LOT))
		{
			LoyaltyRow *row = LoyaltyRowBegin(LOYALTY_LOT);

			LoyaltyRowSet(row, "member_id", v[0], false);
			LoyaltyRowSet(row, "lot_id", v[1], false);
			LoyaltyRowSet(row, "points", v[2], false);
			LoyaltyRowSet(row, "remaining", v[2], false);
			LoyaltyRowSet(row, "earned_at", v[3], false);
			LoyaltyRowSet(row, "available_from", v[4], false);
			LoyaltyRowSet(row, "expires_at", v[5], n[5] == 'n');
			LoyaltyRowInsert(row);
		}
		else
			LoyaltyExecute(&insert_lot_plan, v, n, false, 0);
	}
	UpdateBalance(m, p, m->debt - repay);
}

/*
 * A member's sale that earned no points still counts in member_balance.sales
 * (the first-purchase test reads it): the balance row, locked by the caller,
 * gets sales + 1 and nothing else.
 */
void
LoyaltyCountSale(LoyaltyMember *m)
{
	static LoyaltyPlan count_sale_plan = {
		"UPDATE loyalty.member_balance SET sales = sales OPERATOR(pg_catalog.+) 1 "
		"WHERE member_id OPERATOR(pg_catalog.=) $1",
		1, {INT8OID}
	};
	Datum		v = Int64GetDatum(m->member_id);

	if (LoyaltyDeferBalance(m->member_id, 0, 0, 0, 1, 0))
	{
		m->sales++;
		return;
	}
	if (m->has_balance_tid && LoyaltyWriterDirect(LOYALTY_BALANCE))
	{
		LoyaltyRow *row = LoyaltyRowBegin(LOYALTY_BALANCE);

		LoyaltyRowAdd(row, "sales", 1);
		LoyaltyRowUpdate(row, &m->balance_tid);
		m->has_balance_tid = false;
		return;
	}
	LoyaltyExecute(&count_sale_plan, &v, NULL, false, 0);
}

/*
 * Choose the lots a debit of `need` points takes (into *take), as
 * LoyaltyPostDebit describes; sets p->points, p->shortfall and p->effective_at
 * and the debt after it (*new_debt).  Open holds past their expiry are
 * released first (hold.c), so their points count again.  A debit that cannot
 * be refused also counts the points the other open holds (all but
 * `except_hold`) keep out of each lot: it takes each lot's own points before
 * its held ones.
 */
static void
SelectLots(LoyaltyMember *m, LoyaltyPosting *p, int64 need, int64 prefer,
		   LoyaltyDebitPolicy policy, int64 except_hold, LotTake *take, int64 *new_debt)
{
	Datum		v[5];
	int64		total = 0;
	int64		own = 0;
	int64		usable;
	int64		taken;
	bool		with_held;

	if (m->open_holds > 0)
		LoyaltyReleaseLapsedHolds(m, p->posted_at, NULL);
	with_held = policy != LOYALTY_DEBIT_REFUSE && m->held > 0;
	v[0] = Int64GetDatum(p->member_id);
	v[1] = TimestampTzGetDatum(p->posted_at);
	v[2] = Int64GetDatum(prefer);
	v[3] = Int64GetDatum(except_hold);
	v[4] = with_held ? LoyaltyOpenHoldIds(m->member_id, m->open_holds, NULL) : (Datum) 0;
	LoyaltyExecute(with_held ? &open_and_held_lots_plan : &open_lots_plan, v, NULL, false, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		pool = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		if (with_held)
			pool += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4, &isnull));
		total += pool;
		if (i == 0 && prefer != 0 &&
			DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)) == prefer)
			own = pool;			/* the plan puts the preferred lot first */
	}

	/*
	 * A reversal takes first from its own lot, all that lot holds.  Beyond
	 * that, points owed (debt) are a prior claim on the other lots: only what
	 * exceeds the debt can be taken, as for a redemption.
	 */
	usable = Min(own, need) + Max(total - own - m->debt, 0);
	if (usable < need)
	{
		if (policy == LOYALTY_DEBIT_REFUSE)
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_INSUFFICIENT_POINTS),
					 errmsg("insufficient points: " INT64_FORMAT " requested, " INT64_FORMAT " available",
							need, usable),
					 errdetail("Pending, expired and held points cannot be used.")));
		if (policy == LOYALTY_DEBIT_ALLOW)
			*new_debt += need - usable;
		else
			p->shortfall = need - usable;
	}
	taken = Min(usable, need);
	p->points = (policy == LOYALTY_DEBIT_ALLOW) ? -need : -taken;

	for (uint64 i = 0, left = taken; i < SPI_processed && left > 0; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		lot_id = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
		int64		remaining = DatumGetInt64(SPI_getbinval(row, desc, 2, &isnull));
		TimestampTz earned_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 3, &isnull));
		int64		held = with_held ? DatumGetInt64(SPI_getbinval(row, desc, 4, &isnull)) : 0;
		int64		from_lot = Min(remaining, (int64) left);
		int64		from_holds = Min(held, (int64) left - from_lot);

		if (from_lot + from_holds == 0)
			continue;
		LotMovesAdd(&take->all, lot_id, from_lot + from_holds);
		if (from_lot > 0)
			LotMovesAdd(&take->from_lots, lot_id, from_lot);
		if (from_holds > 0)
			LotMovesAdd(&take->from_holds, lot_id, from_holds);
		left -= from_lot + from_holds;
		p->effective_at = Max(p->effective_at, earned_at);
	}
}

/*
 * Carry out what SelectLots chose: the lots' own points, and the held ones
 * out of their holds (hold.c), which leave member_balance.held (p->held).
 */
static void
TakeChosen(LoyaltyMember *m, LoyaltyPosting *p, const LotTake *take, int64 except_hold)
{
	TakeFromLots(m->member_id, &take->from_lots);
	if (take->from_holds.n > 0)
		p->held -= LoyaltyTakeFromHolds(m, except_hold,
										LoyaltyInt8Array(take->from_holds.ids, take->from_holds.n),
										LoyaltyInt8Array(take->from_holds.points, take->from_holds.n));
}

/*
 * Post a debit of `need` points (redeem, reverse, negative adjustment).
 * Takes from the lots open when it is posted (p->posted_at), first all it
 * can from lot `prefer` (0: none; a reversal's own lot, pending or not, is
 * not held back for a debt), then from the others beyond the debt.  When the
 * lots do not cover it, `policy` decides:
 * refuse (LY010: redemptions), allow (owe the rest as debt) or truncate (post
 * what was there and record the shortfall).  A back-dated debit (effective
 * before it is posted) is dated no earlier than the newest lot it takes from,
 * so that no lot, and under truncate no balance, is ever negative at a past
 * moment (balance_at, statement).  Returns false when a redemption lost the
 * race for its (store, pos_txn) to another member.
 */
bool
LoyaltyPostDebit(LoyaltyMember *m, LoyaltyPosting *p, int64 need, int64 prefer,
				 LoyaltyDebitPolicy policy)
{
	LotTake		take = {0};
	int64		new_debt = m->debt;

	SelectLots(m, p, need, prefer, policy, 0, &take, &new_debt);
	NextEntry(m, p, false);
	if (!InsertEntry(p, &take.all))
		return false;
	TakeChosen(m, p, &take, 0);
	UpdateBalance(m, p, new_debt);
	return true;
}

/*
 * Take `need` points out of the member's lots for a hold, as a redemption
 * would take them (LY010 when they are not there), without a ledger entry:
 * the lots and the points taken from each come back as int8[] datums.
 */
void
LoyaltyTakeLots(LoyaltyMember *m, TimestampTz at, int64 need, Datum *lot_ids,
				Datum *lot_points)
{
	LotTake		take = {0};
	LoyaltyPosting p = {0};
	int64		new_debt = m->debt;

	p.member_id = m->member_id;
	p.posted_at = at;
	p.effective_at = at;
	SelectLots(m, &p, need, 0, LOYALTY_DEBIT_REFUSE, 0, &take, &new_debt);
	TakeFromLots(m->member_id, &take.from_lots);
	*lot_ids = LoyaltyInt8Array(take.all.ids, take.all.n);
	*lot_points = LoyaltyInt8Array(take.all.points, take.all.n);
}

/* Put points a hold took back into their lots (parallel int8[] datums). */
void
LoyaltyPutBackLots(int64 member_id, Datum lot_ids, Datum lot_points)
{
	static LoyaltyPlan put_back_plan = {
		"UPDATE loyalty.lot l SET remaining = l.remaining OPERATOR(pg_catalog.+) t.points "
		"FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.int8[]), pg_catalog.unnest($3::pg_catalog.int8[])) AS t(lot_id, points) "
		"WHERE l.member_id OPERATOR(pg_catalog.=) $1 AND l.lot_id OPERATOR(pg_catalog.=) t.lot_id",
		3, {INT8OID, INT8ARRAYOID, INT8ARRAYOID}
	};
	Datum		w[3];

	w[0] = Int64GetDatum(member_id);
	w[1] = lot_ids;
	w[2] = lot_points;
	LoyaltyExecute(&put_back_plan, w, NULL, false, 0);
}

/*
 * Post a hold's capture: one redeem entry of the points the hold still keeps
 * out of the lots (lot_ids / lot_points, taken at authorize time) and, when
 * reversals took some of them since (`more`), of that many more taken now as
 * the program's negative_balance policy takes a debit that cannot be refused
 * (other holds' points included, never those of hold `hold_id`): what is not
 * there is the entry's shortfall or the member's debt.  p->held must say how
 * many points leave member_balance.held with the hold, and p->open_holds -1
 * (the hold closes).  Returns false when
 * the entry lost its (store, pos_txn) to a redemption already posted with it.
 */
bool
LoyaltyPostCapture(LoyaltyMember *m, LoyaltyPosting *p, Datum lot_ids, Datum lot_points,
				   int64 more, int64 hold_id)
{
	LotTake		take = {0};
	LotMoves	all = {0};
	Datum	   *id_elems,
			   *pt_elems;
	int			n;
	int64		new_debt = m->debt;

	if (more > 0)
	{
		LoyaltyPosting q = *p;

		SelectLots(m, &q, more, 0, m->negative_balance, hold_id, &take, &new_debt);
		p->points = q.points;
		p->shortfall = q.shortfall;
	}
	/*
	 * the hold's own lots first in the entry, then what was taken now; a lot
	 * in both is listed once, with both parts
	 */
	n = LoyaltyInt8Elems(lot_ids, &id_elems);
	LoyaltyInt8Elems(lot_points, &pt_elems);
	for (int i = 0; i < n; i++)
	{
		LotMovesAdd(&all, DatumGetInt64(id_elems[i]), DatumGetInt64(pt_elems[i]));
		p->points -= DatumGetInt64(pt_elems[i]);
	}
	for (int i = 0; i < take.all.n; i++)
		LotMovesMerge(&all, DatumGetInt64(take.all.ids[i]), DatumGetInt64(take.all.points[i]));
	NextEntry(m, p, false);
	if (!InsertEntry(p, &all))
		return false;
	TakeChosen(m, p, &take, hold_id);
	UpdateBalance(m, p, new_debt);
	return true;
}

/*
 * Points requested back so far from an earn entry by its reversals (a
 * truncated reversal counts in full: what was short is recorded, not owed).
 */
int64
LoyaltyReversedSoFar(int64 member_id, int64 entry_id)
{
	Datum		v[2];
	bool		isnull;
	int64		already;

	v[0] = Int64GetDatum(member_id);
	v[1] = Int64GetDatum(entry_id);
	LoyaltyExecute(&reversible_plan, v, NULL, false, 1);
	if (SPI_processed == 0)
		return 0;
	already = -DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return already;
}

/* ---------- results ---------- */

static Datum
LoyaltyPostingResult(FunctionCallInfo fcinfo, MemoryContext caller, const LoyaltyPosting *p)
{
	TupleDesc	desc;
	Datum		v[8];
	bool		n[8] = {0};
	MemoryContext old = MemoryContextSwitchTo(caller);
	HeapTuple	tup;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	v[0] = Int64GetDatum(p->entry_id);
	v[1] = Int64GetDatum(p->member_id);
	v[2] = CStringGetTextDatum(loyalty_kind_names[p->kind]);
	v[3] = Int64GetDatum(p->points);
	v[4] = Int64GetDatum(p->shortfall);
	v[5] = TimestampTzGetDatum(p->effective_at);
	v[6] = TimestampTzGetDatum(p->pending_until);
	n[6] = !p->has_pending_until;
	v[7] = TimestampTzGetDatum(p->expires_at);
	n[7] = !p->has_expires_at;
	tup = heap_form_tuple(desc, v, n);
	MemoryContextSwitchTo(old);
	return HeapTupleGetDatum(tup);
}

/*
 * Shared body of earn, adjust and reverse: resolve and lock, replay check,
 * post, return the posting.
 */
static Datum
PostKeyed(FunctionCallInfo fcinfo, int64 card, LoyaltyPosting *req, int64 requested)
{
	MemoryContext caller = CurrentMemoryContext;
	LoyaltyMember m;
	LoyaltyPosting		was;
	Datum		result;

	SPI_connect();
	LoyaltyResolveCard(card, true, &m);
	req->member_id = m.member_id;
	req->posted_at = m.locked_at;
	if (req->effective_at_lock)
		req->effective_at = m.locked_at;
	if (FindReplay(req, requested, &was))
		result = LoyaltyPostingResult(fcinfo, caller, &was);	/* a retry: answered even if suspended since */
	else
	{
		LoyaltyRequireActive(card, &m);
		if (requested > 0)
			LoyaltyPostCredit(&m, req);
		else
		{
			int64		need = -requested;

			if (req->reverses != 0)
			{
				Datum		v[2];
				bool		isnull;
				int64		earned,
							already;

				v[0] = Int64GetDatum(m.member_id);
				v[1] = Int64GetDatum(req->reverses);
				LoyaltyExecute(&reversible_plan, v, NULL, false, 1);
				if (SPI_processed == 0)
					ereport(ERROR,
							(errcode(ERRCODE_LOYALTY_NOT_REVERSIBLE),
							 errmsg("entry " INT64_FORMAT " is not an earn entry of card \"%s\"",
									req->reverses, LoyaltyCardText(card)),
							 errdetail("Only earn entries of the same member can be reversed.")));
				earned = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
				already = -DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
				if (need > earned - already)
					ereport(ERROR,
							(errcode(ERRCODE_LOYALTY_OVER_REVERSAL),
							 errmsg("cannot reverse " INT64_FORMAT " points of entry " INT64_FORMAT,
									need, req->reverses),
							 errdetail("The entry earned " INT64_FORMAT " points and " INT64_FORMAT " of them have been reversed already.",
									   earned, already)));
			}
			LoyaltyPostDebit(&m, req, need, req->reverses, m.negative_balance);
		}
		result = LoyaltyPostingResult(fcinfo, caller, req);
	}
	LoyaltyWriterClose();
	SPI_finish();
	return result;
}

/* ---------- SQL-callable functions ---------- */

/*
 * loyalty.earn(card, points, idem_key, reason, effective_at, pending_until)
 */
PG_FUNCTION_INFO_V1(loyalty_earn);
Datum
loyalty_earn(PG_FUNCTION_ARGS)
{
	int64		card = RequiredCard(fcinfo);
	LoyaltyPosting		req = {0};

	req.kind = LOYALTY_EARN;
	req.points = PositivePoints(fcinfo, 1);
	req.idem_key = RequiredText(fcinfo, 2, "idempotency key");
	req.reason = OptionalText(fcinfo, 3);
	req.effective_at_lock = !EffectiveTime(fcinfo, 4, &req.effective_at);
	if (!PG_ARGISNULL(5))
	{
		req.has_pending_until = true;
		req.pending_until = PG_GETARG_TIMESTAMPTZ(5);
		RequireFiniteTime(req.pending_until);
	}
	req.source = "api";
	return PostKeyed(fcinfo, card, &req, req.points);
}

/*
 * loyalty.adjust(card, points, idem_key, reason, effective_at): a signed
 * correction; a negative one follows the program's negative_balance policy.
 */
PG_FUNCTION_INFO_V1(loyalty_adjust);
Datum
loyalty_adjust(PG_FUNCTION_ARGS)
{
	int64		card = RequiredCard(fcinfo);
	LoyaltyPosting		req = {0};

	req.kind = LOYALTY_ADJUST;
	if (PG_ARGISNULL(1) || PG_GETARG_INT64(1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_INVALID_POINTS),
				 errmsg("an adjustment needs a non-zero number of points")));
	req.points = PG_GETARG_INT64(1);
	CheckPointsRange(req.points);
	req.idem_key = RequiredText(fcinfo, 2, "idempotency key");
	req.reason = RequiredText(fcinfo, 3, "reason of an adjustment");
	req.effective_at_lock = !EffectiveTime(fcinfo, 4, &req.effective_at);
	req.source = "manual";
	return PostKeyed(fcinfo, card, &req, req.points);
}

/*
 * loyalty.reverse(card, entry_id, points, idem_key, reason): take back (part
 * of) an earn entry.
 */
PG_FUNCTION_INFO_V1(loyalty_reverse);
Datum
loyalty_reverse(PG_FUNCTION_ARGS)
{
	int64		card = RequiredCard(fcinfo);
	LoyaltyPosting		req = {0};
	int64		points;

	req.kind = LOYALTY_REVERSE;
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_MISSING_KEY),
				 errmsg("the entry to reverse is required")));
	req.reverses = PG_GETARG_INT64(1);
	points = PositivePoints(fcinfo, 2);
	req.idem_key = RequiredText(fcinfo, 3, "idempotency key");
	req.reason = OptionalText(fcinfo, 4);
	req.effective_at_lock = true;
	req.source = "api";
	return PostKeyed(fcinfo, card, &req, -points);
}

/*
 * loyalty.redeem(card, points, store, pos_txn): spend points as tender.  The
 * (store, pos_txn) pair is the idempotency key; a redemption never overdraws.
 */
PG_FUNCTION_INFO_V1(loyalty_redeem);
Datum
loyalty_redeem(PG_FUNCTION_ARGS)
{
	int64		card = RequiredCard(fcinfo);
	int64		points = PositivePoints(fcinfo, 1);
	char	   *store = RequiredText(fcinfo, 2, "store");
	char	   *pos_txn = RequiredText(fcinfo, 3, "pos_txn");
	MemoryContext caller = CurrentMemoryContext;
	LoyaltyMember m;
	LoyaltyPosting		p = {0};
	Datum		args[2];
	TupleDesc	desc;
	Datum		v[6];
	bool		n[6] = {0};
	HeapTuple	tup;
	MemoryContext old;

	SPI_connect();
	LoyaltyResolveCard(card, true, &m);

	args[0] = CStringGetTextDatum(store);
	args[1] = CStringGetTextDatum(pos_txn);
	LoyaltyExecute(&find_redemption_plan, args, NULL, false, 1);
	if (SPI_processed > 0)
	{
		LoyaltyPostingFromRow(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &p);
		if (p.member_id != m.member_id || -p.points != points)
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_IDEMPOTENCY_CONFLICT),
					 errmsg("POS transaction \"%s\" of store \"%s\" was already used for a different redemption",
							pos_txn, store),
					 errdetail("It redeemed " INT64_FORMAT " points%s.", -p.points,
							   p.member_id != m.member_id ? " of another card" : ""),
					 errhint("Use a new pos_txn for a new redemption.")));
	}
	else
	{
		LoyaltyRequireActive(card, &m);
		p.kind = LOYALTY_REDEEM;
		p.member_id = m.member_id;
		p.effective_at = m.locked_at;
		p.posted_at = m.locked_at;
		p.source = "redemption";
		p.store = store;
		p.pos_txn = pos_txn;
		p.value = DirectFunctionCall2(numeric_mul,
									  NumericGetDatum(int64_to_numeric(points)),
									  m.point_value);
		if (!LoyaltyPostDebit(&m, &p, points, 0, LOYALTY_DEBIT_REFUSE))
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_IDEMPOTENCY_CONFLICT),
					 errmsg("POS transaction \"%s\" of store \"%s\" was already used for a different redemption",
							pos_txn, store),
					 errdetail("Another card redeemed with it at the same time.")));
		/* holds and redemptions share the key (txn_key.c): after the entry is in */
		if (LoyaltyTxnKeyTaken(LOYALTY_KEY_HOLDS, store, pos_txn))
			ereport(ERROR,
					(errcode(ERRCODE_LOYALTY_IDEMPOTENCY_CONFLICT),
					 errmsg("POS transaction \"%s\" of store \"%s\" was already used for a different redemption",
							pos_txn, store),
					 errdetail("A hold was authorized with it."),
					 errhint("Capture or void that hold, or use a new pos_txn.")));
	}

	old = MemoryContextSwitchTo(caller);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	v[0] = Int64GetDatum(p.entry_id);
	v[1] = Int64GetDatum(p.member_id);
	v[2] = Int64GetDatum(-p.points);
	v[3] = datumCopy(p.value, false, -1);
	v[4] = CStringGetTextDatum(m.currency);
	v[5] = TimestampTzGetDatum(p.effective_at);
	tup = heap_form_tuple(desc, v, n);
	MemoryContextSwitchTo(old);
	LoyaltyWriterClose();
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}

/*
 * Expire what is left of one lapsed lot: one expire entry under its member's
 * lock, taken once for a run of the member's lots (*locked_member, with the
 * debt and whether the member is closed read under it).  A closed member's
 * balance is final and never posted to again: their lots are left as they
 * are.  Returns the points expired (0: nothing was left, or closed).
 */
static int64
ExpireLot(int64 member_id, int64 lot_id, int64 *locked_member, int64 *debt, bool *closed)
{
	Datum		w[2];
	bool		isnull;
	int64		remaining = 0;
	TimestampTz expires_at = 0;
	LoyaltyPosting p = {0};
	LotMoves	moves = {0};
	LoyaltyMember m = {0};

	/*
	 * One SPI level of its own per lot: everything the lot's statements leave
	 * behind (results, arrays, datums; SPI returns to its procedure context
	 * after each statement) goes at SPI_finish, so memory stays flat however
	 * many lots lapse.
	 */
	SPI_connect();
	w[0] = Int64GetDatum(member_id);
	if (member_id != *locked_member)
	{
		LoyaltyExecute(&lock_member_plan, w, NULL, false, 1);
		if (SPI_processed != 1)
			elog(ERROR, "member " INT64_FORMAT " has no balance row", member_id);
		*debt = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		*closed = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		SPI_freetuptable(SPI_tuptable);
		*locked_member = member_id;
	}
	if (*closed)
	{
		SPI_finish();
		return 0;
	}
	/* re-read under the lock: a redemption may have taken it since */
	w[1] = Int64GetDatum(lot_id);
	LoyaltyExecute(&lot_remaining_plan, w, NULL, false, 1);
	if (SPI_processed == 1)
	{
		remaining = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		expires_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	if (remaining > 0)
	{
		p.kind = LOYALTY_EXPIRE;
		p.member_id = member_id;
		p.points = -remaining;
		p.effective_at = expires_at;
		p.posted_at = GetCurrentTimestamp();
		p.source = "expiry";
		m.debt = *debt;
		LotMovesAdd(&moves, lot_id, remaining);
		NextEntry(&m, &p, false);
		if (!InsertEntry(&p, &moves))
			elog(ERROR, "expiry entry " INT64_FORMAT " could not be inserted", p.entry_id);
		TakeFromLots(member_id, &moves);
		UpdateBalance(&m, &p, *debt);
	}
	SPI_finish();
	return Max(remaining, 0);
}

/*
 * loyalty.expire_points(as_of): one expire entry for every lot whose expiry
 * is at or before as_of and that still holds points.  Re-running it for the
 * same moment finds nothing left to expire, so it posts nothing.  Each member
 * is locked like any posting, so it is safe beside live redemptions.
 */
PG_FUNCTION_INFO_V1(loyalty_expire_points);
Datum
loyalty_expire_points(PG_FUNCTION_ARGS)
{
	TimestampTz as_of;
	MemoryContext caller = CurrentMemoryContext;
	Datum		arg;
	Portal		portal;
	int64		entries = 0,
				points = 0;
	int64		locked_member = 0;
	int64		debt = 0;
	bool		closed = false;
	TupleDesc	desc;
	Datum		v[2];
	bool		n[2] = {0};
	HeapTuple	tup;

	if (!EffectiveTime(fcinfo, 0, &as_of))
		as_of = GetCurrentTimestamp();
	arg = TimestampTzGetDatum(as_of);
	SPI_connect();
	portal = SPI_cursor_open(NULL, LoyaltyPrepare(&lapsed_lots_plan), &arg, NULL, true);
	for (;;)
	{
		SPITupleTable *batch;
		uint64		nbatch;

		SPI_cursor_fetch(portal, true, 1000);
		batch = SPI_tuptable;
		nbatch = SPI_processed;
		if (nbatch == 0)
			break;
		for (uint64 i = 0; i < nbatch; i++)
		{
			bool		isnull;
			int64		member_id = DatumGetInt64(SPI_getbinval(batch->vals[i], batch->tupdesc, 1, &isnull));
			int64		lot_id = DatumGetInt64(SPI_getbinval(batch->vals[i], batch->tupdesc, 2, &isnull));
			int64		expired = ExpireLot(member_id, lot_id, &locked_member, &debt, &closed);

			entries += expired > 0 ? 1 : 0;
			points += expired;
		}
		SPI_freetuptable(batch);
	}
	SPI_cursor_close(portal);

	MemoryContextSwitchTo(caller);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	v[0] = Int64GetDatum(entries);
	v[1] = Int64GetDatum(points);
	tup = heap_form_tuple(desc, v, n);
	LoyaltyWriterClose();
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}

/*
 * Trigger on the append-only tables (the ledger, and sales): rows are never
 * updated, deleted or truncated.  Without arguments it speaks of the ledger;
 * with three (what the rows are, a detail, a hint) of any other table.
 */
PG_FUNCTION_INFO_V1(loyalty_ledger_refuse_change);
Datum
loyalty_ledger_refuse_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *what;
	const char *rows = "ledger entries";
	const char *detail = "The points ledger is append-only.";
	const char *hint = "Post a correcting entry with loyalty.adjust() or loyalty.reverse().";

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "ledger_refuse_change must be called as a trigger");
	if (trigdata->tg_trigger->tgnargs == 3)
	{
		rows = trigdata->tg_trigger->tgargs[0];
		detail = trigdata->tg_trigger->tgargs[1];
		hint = trigdata->tg_trigger->tgargs[2];
	}
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		what = "updated";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		what = "deleted";
	else
		what = "truncated";
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_LEDGER_APPEND_ONLY),
			 errmsg("%s cannot be %s", rows, what),
			 errdetail("%s", detail),
			 errhint("%s", hint)));
	PG_RETURN_NULL();
}
