/*
 * loyalty.h -- shared declarations of the loyalty extension.
 *
 * Every error a POS, DBA or analyst can provoke has its own SQLSTATE in the
 * class "LY" (implementation-defined classes start with I-Z, see the SQL
 * standard); the README lists them all.
 */
#ifndef LOYALTY_H
#define LOYALTY_H

#include "postgres.h"

/* card lookup */
#define ERRCODE_LOYALTY_CARD_NOT_FOUND		MAKE_SQLSTATE('L','Y','0','0','1')
#define ERRCODE_LOYALTY_CARD_REPLACED		MAKE_SQLSTATE('L','Y','0','0','2')
#define ERRCODE_LOYALTY_MEMBER_SUSPENDED	MAKE_SQLSTATE('L','Y','0','0','3')
#define ERRCODE_LOYALTY_MEMBER_CLOSED		MAKE_SQLSTATE('L','Y','0','0','4')
#define ERRCODE_LOYALTY_PROGRAM_NOT_FOUND	MAKE_SQLSTATE('L','Y','0','0','5')
#define ERRCODE_LOYALTY_CARD_IN_USE			MAKE_SQLSTATE('L','Y','0','0','6')
#define ERRCODE_LOYALTY_STATUS_TRANSITION	MAKE_SQLSTATE('L','Y','0','0','7')
#define ERRCODE_LOYALTY_INVALID_ACCESS		MAKE_SQLSTATE('L','Y','0','0','8')
/* postings */
#define ERRCODE_LOYALTY_INSUFFICIENT_POINTS	MAKE_SQLSTATE('L','Y','0','1','0')
#define ERRCODE_LOYALTY_IDEMPOTENCY_CONFLICT	MAKE_SQLSTATE('L','Y','0','1','1')
#define ERRCODE_LOYALTY_INVALID_POINTS		MAKE_SQLSTATE('L','Y','0','1','2')
#define ERRCODE_LOYALTY_MISSING_KEY			MAKE_SQLSTATE('L','Y','0','1','3')
#define ERRCODE_LOYALTY_NOT_REVERSIBLE		MAKE_SQLSTATE('L','Y','0','1','4')
#define ERRCODE_LOYALTY_OVER_REVERSAL		MAKE_SQLSTATE('L','Y','0','1','5')
#define ERRCODE_LOYALTY_FUTURE_TIME			MAKE_SQLSTATE('L','Y','0','1','6')
#define ERRCODE_LOYALTY_INVALID_TIME		MAKE_SQLSTATE('L','Y','0','1','7')
/* sales and returns */
#define ERRCODE_LOYALTY_MALFORMED_LINES		MAKE_SQLSTATE('L','Y','0','3','1')
#define ERRCODE_LOYALTY_NEGATIVE_LINE		MAKE_SQLSTATE('L','Y','0','3','2')
#define ERRCODE_LOYALTY_TOTAL_MISMATCH		MAKE_SQLSTATE('L','Y','0','3','3')
#define ERRCODE_LOYALTY_DUPLICATE_SALE		MAKE_SQLSTATE('L','Y','0','3','5')
#define ERRCODE_LOYALTY_UNKNOWN_SALE		MAKE_SQLSTATE('L','Y','0','3','6')
#define ERRCODE_LOYALTY_RETURN_OF_RETURN	MAKE_SQLSTATE('L','Y','0','3','7')
#define ERRCODE_LOYALTY_OVER_RETURN			MAKE_SQLSTATE('L','Y','0','3','8')
#define ERRCODE_LOYALTY_RETURN_MEMBER		MAKE_SQLSTATE('L','Y','0','3','9')
#define ERRCODE_LOYALTY_RETURN_WINDOW		MAKE_SQLSTATE('L','Y','0','4','0')
#define ERRCODE_LOYALTY_BACKDATE_LIMIT		MAKE_SQLSTATE('L','Y','0','4','1')
#define ERRCODE_LOYALTY_BEFORE_ENROLMENT	MAKE_SQLSTATE('L','Y','0','4','2')
#define ERRCODE_LOYALTY_UNKNOWN_TIER			MAKE_SQLSTATE('L','Y','0','5','0')
#define ERRCODE_LOYALTY_LADDER_WITHOUT_BASE	MAKE_SQLSTATE('L','Y','0','5','1')
#define ERRCODE_LOYALTY_LADDER_UNORDERED		MAKE_SQLSTATE('L','Y','0','5','2')
#define ERRCODE_LOYALTY_OVERRIDE_ENDED		MAKE_SQLSTATE('L','Y','0','5','3')
#define ERRCODE_LOYALTY_TIER_MOVED			MAKE_SQLSTATE('L','Y','0','5','4')
#define ERRCODE_LOYALTY_TIER_ROWS_PENDING	MAKE_SQLSTATE('L','Y','0','5','5')
#define ERRCODE_LOYALTY_LEDGER_APPEND_ONLY	MAKE_SQLSTATE('L','Y','0','2','0')
/* bounds of a sale's input, and time zones */
#define ERRCODE_LOYALTY_TOO_MANY_LINES		MAKE_SQLSTATE('L','Y','0','6','0')
#define ERRCODE_LOYALTY_NUMBER_OUT_OF_BOUNDS	MAKE_SQLSTATE('L','Y','0','6','1')
#define ERRCODE_LOYALTY_UNKNOWN_TIME_ZONE	MAKE_SQLSTATE('L','Y','0','6','2')
/* benefits (benefit.c) and the enrolment threshold (enrolment.c) */
#define ERRCODE_LOYALTY_UNKNOWN_BENEFIT		MAKE_SQLSTATE('L','Y','0','8','0')
#define ERRCODE_LOYALTY_BENEFIT_NOT_VALID	MAKE_SQLSTATE('L','Y','0','8','1')
#define ERRCODE_LOYALTY_BENEFIT_TIER		MAKE_SQLSTATE('L','Y','0','8','2')
#define ERRCODE_LOYALTY_BENEFIT_BIRTHDAY	MAKE_SQLSTATE('L','Y','0','8','3')
#define ERRCODE_LOYALTY_BENEFIT_DAY			MAKE_SQLSTATE('L','Y','0','8','4')
#define ERRCODE_LOYALTY_BENEFIT_HOUR		MAKE_SQLSTATE('L','Y','0','8','5')
#define ERRCODE_LOYALTY_BENEFIT_CAP			MAKE_SQLSTATE('L','Y','0','8','6')
/* LY087, a benefit's tier of another program, is raised in SQL (benefit.sql) */
#define ERRCODE_LOYALTY_ENROL_THRESHOLD		MAKE_SQLSTATE('L','Y','0','8','8')
#define ERRCODE_LOYALTY_ENROL_SALE			MAKE_SQLSTATE('L','Y','0','8','9')
/* the extension's own tables and data, as a DBA may have changed them */
#define ERRCODE_LOYALTY_MISSING_COLUMN		MAKE_SQLSTATE('L','Y','0','7','0')
#define ERRCODE_LOYALTY_MALFORMED_AWARD		MAKE_SQLSTATE('L','Y','0','7','1')
/* analytics: summaries and customer-base models (analytics.h) */
#define ERRCODE_LOYALTY_INVALID_OBSERVATION	MAKE_SQLSTATE('L','Y','0','9','0')
#define ERRCODE_LOYALTY_INVALID_MODEL_ARGUMENT	MAKE_SQLSTATE('L','Y','0','9','1')
#define ERRCODE_LOYALTY_MODEL_NOT_IDENTIFIED	MAKE_SQLSTATE('L','Y','0','9','2')
#define ERRCODE_LOYALTY_FIT_FAILED			MAKE_SQLSTATE('L','Y','0','9','3')
#define ERRCODE_LOYALTY_GROUP_ARGUMENT		MAKE_SQLSTATE('L','Y','0','9','4')

#include "executor/spi.h"
#include "fmgr.h"
#include "executor/tuptable.h"
#include "nodes/lockoptions.h"
#include "storage/lockdefs.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

/* Limits that keep sums from overflowing and keys indexable. */
#define LOYALTY_MAX_POINTS		INT64CONST(1000000000000000)	/* 10^15 per entry */
#define LOYALTY_MAX_KEY_LENGTH	200

/*
 * A prepared statement kept for the life of the backend.  PostgreSQL's plan
 * cache re-plans it when the tables it reads change; only its parameter types
 * are fixed, so plans taking a loyalty.card are dropped when that type's OID
 * changes (the extension was dropped and created again).
 */
typedef struct LoyaltyPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[20];
	SPIPlanPtr	plan;
} LoyaltyPlan;

extern bool loyalty_notify;
extern int	loyalty_max_pending_members;
extern void LoyaltySetCardType(Oid card_type);
extern Oid	LoyaltyCardType(void);
extern SPIPlanPtr LoyaltyPrepare(LoyaltyPlan *plan);
extern Oid	LoyaltyTableOwner(const char *relname);
extern int	LoyaltyExecute(LoyaltyPlan *plan, Datum *values, const char *nulls,
						   bool read_only, long count);
extern bool LoyaltyCommittedSince(LoyaltyPlan *plan, Datum *values);
extern char *LoyaltyCardText(int64 card);
extern Datum card_out(PG_FUNCTION_ARGS);

/*
 * Words the catalog stores as text (ledger.kind, program.rounding, ...),
 * parsed once where they are read (LoyaltyParseName) and compared as enums.
 * Each enum's values follow the order of its names in loyalty.c.
 */
typedef enum LoyaltyKind		/* ledger.kind */
{
	LOYALTY_EARN,
	LOYALTY_REDEEM,
	LOYALTY_EXPIRE,
	LOYALTY_REVERSE,
	LOYALTY_ADJUST
} LoyaltyKind;

typedef enum LoyaltyRounding	/* program.rounding */
{
	LOYALTY_ROUND_FLOOR,
	LOYALTY_ROUND_HALF_UP,
	LOYALTY_ROUND_CEIL
} LoyaltyRounding;

typedef enum LoyaltyDebitPolicy /* program.negative_balance, and redemptions */
{
	LOYALTY_DEBIT_TRUNCATE,		/* post what is there, record the shortfall */
	LOYALTY_DEBIT_ALLOW,		/* owe the rest as debt */
	LOYALTY_DEBIT_REFUSE		/* LY010 (redemptions) */
} LoyaltyDebitPolicy;

typedef enum LoyaltyPeriod		/* program.expiry_rounding, rule.visit_period */
{
	LOYALTY_PERIOD_NONE,
	LOYALTY_PERIOD_DAY,
	LOYALTY_PERIOD_WEEK,
	LOYALTY_PERIOD_MONTH,
	LOYALTY_PERIOD_QUARTER,
	LOYALTY_PERIOD_YEAR
} LoyaltyPeriod;

extern const char *const loyalty_kind_names[];
extern const char *const loyalty_rounding_names[];
extern const char *const loyalty_debit_policy_names[];
extern const char *const loyalty_period_names[];
extern int	LoyaltyParseName(const char *value, const char *const *names, const char *what);
extern Interval LoyaltyPeriodInterval(LoyaltyPeriod period);

/* The member behind a card, with the program settings a posting needs. */
typedef struct LoyaltyMember
{
	int64		member_id;
	char		status;			/* 'a'ctive, 's'uspended, 'c'losed */
	int64		sales;			/* member_balance.sales: sales made before */
	Datum		point_value;	/* numeric, in the caller's context */
	char	   *currency;
	bool		has_expiry;
	Interval	expiry_after;
	LoyaltyPeriod expiry_rounding;	/* LOYALTY_PERIOD_NONE when exact */
	int32		pending_days;
	LoyaltyDebitPolicy negative_balance;	/* allow or truncate */
	/* from the member_balance row, read under its lock for a posting */
	int64		debt;
	int64		held;			/* points of open holds (hold.c) */
	int64		open_holds;		/* how many open holds (hold.c) */
	TimestampTz locked_at;		/* when the lock was granted */
	bool		has_balance_tid;	/* the locked balance row, for writer.c */
	ItemPointerData balance_tid;
	/* earning */
	int32		program_id;
	Datum		points_per_unit;	/* numeric */
	LoyaltyRounding rounding;
	char	   *time_zone;
	int32		return_days;
	Interval	backdate_limit;	/* how far back a POS may date a sale */
	int32		hold_minutes;	/* how long a tender hold lasts (hold.c) */
} LoyaltyMember;

extern void LoyaltyResolveCard(int64 card, bool lock_for_posting,
							   LoyaltyMember *member);
extern bool LoyaltyResolveAnyCard(int64 card, bool lock_for_posting,
								  LoyaltyMember *member);
extern void LoyaltyCardReplacedError(int64 card) pg_attribute_noreturn();
extern void LoyaltyResolveMember(int64 member_id, bool lock_for_posting,
								 LoyaltyMember *member);
extern void LoyaltyRequireActive(int64 card, const LoyaltyMember *member);
extern TimestampTz LoyaltyMemberEnrolledAt(int64 member_id);
extern void LoyaltyProgramSettings(int32 program_id, LoyaltyMember *member);	/* rules.c */
/* ledger.c: a required text argument (LY013 when NULL, empty or too long), a required card */
extern char *RequiredText(FunctionCallInfo fcinfo, int argno, const char *what);
extern int64 RequiredCard(FunctionCallInfo fcinfo);
extern void LoyaltyLongestBackdateLimit(Interval *limit);	/* rules.c */

/* One ledger entry to post, and after posting (or a replay) what was posted. */
typedef struct LoyaltyPosting
{
	LoyaltyKind kind;
	int64		member_id;
	int64		points;			/* signed, as posted */
	int64		shortfall;		/* what a truncated debit could not take */
	TimestampTz effective_at;
	bool		effective_at_lock;	/* no explicit time: use the lock time */
	TimestampTz posted_at;
	bool		has_pending_until;
	TimestampTz pending_until;
	bool		has_expires_at;
	TimestampTz expires_at;
	const char *source;
	const char *reason;			/* may be NULL */
	const char *idem_key;		/* may be NULL */
	const char *store;			/* redemptions and sales */
	const char *pos_txn;
	Datum		value;			/* redemptions: numeric money value */
	int64		reverses;		/* reverse: the earn entry, else 0 */
	int64		sale_id;		/* sales and returns, else 0 */
	bool		counts_sale;	/* a member's sale: member_balance.sales + 1 */
	Datum		rule_points;	/* sales: jsonb of points by rule, else 0 */
	int64		held;			/* change to member_balance.held (a capture) */
	int64		open_holds;		/* change to member_balance.open_holds (a capture: -1) */
	int64		entry_id;
} LoyaltyPosting;

/* ledger.c: post under the member's lock (taken by LoyaltyResolveCard) */
extern void LoyaltyPostCredit(LoyaltyMember *m, LoyaltyPosting *p);
extern bool LoyaltyPostDebit(LoyaltyMember *m, LoyaltyPosting *p, int64 need,
							 int64 prefer, LoyaltyDebitPolicy policy);
extern int64 LoyaltyReversedSoFar(int64 member_id, int64 entry_id);
extern void LoyaltyCountSale(LoyaltyMember *m);
/* ledger.c: the lot side of tender holds (hold.c) */
extern void LoyaltyTakeLots(LoyaltyMember *m, TimestampTz at, int64 need, Datum *lot_ids,
							Datum *lot_points);
extern void LoyaltyPutBackLots(int64 member_id, Datum lot_ids, Datum lot_points);
extern Datum LoyaltyInt8Array(Datum *elems, int n);
extern int	LoyaltyInt8Elems(Datum array, Datum **elems);
extern bool LoyaltyPostCapture(LoyaltyMember *m, LoyaltyPosting *p, Datum lot_ids,
							   Datum lot_points, int64 more, int64 hold_id);

/* pending.c: a sale statement's balance changes, written at its end */
extern bool LoyaltyDeferBalance(int64 member_id, int64 net, int64 debt, int64 earned,
								int64 sales, int64 last_entry_id);
extern void LoyaltyPendingAdjust(int64 member_id, int64 *debt, int64 *sales);
extern void LoyaltyBalanceFlush(void);
extern void LoyaltyWriteAtCommit(const char *relname, void (*write) (void));
extern bool loyalty_defer_balances;

/* writer.c: rows of the ledger's tables written without SPI */
typedef enum LoyaltyTableId
{
	LOYALTY_LEDGER,
	LOYALTY_LOT,
	LOYALTY_OUTBOX,
	LOYALTY_BALANCE,
	LOYALTY_RULE_SPEND,
	LOYALTY_TIER_DAY,
	LOYALTY_MEMBER_TIER,
	LOYALTY_TIER_CHANGE,
	LOYALTY_VOUCHER,
	LOYALTY_HOLD,
	LOYALTY_NTABLES
} LoyaltyTableId;

typedef struct LoyaltyRow
{
	LoyaltyTableId table;
	Datum	   *values;			/* by attribute */
	bool	   *isnull;
	bool	   *set;
	bool	   *add;			/* LoyaltyRowAdd: added to the old value */
} LoyaltyRow;

extern bool LoyaltyWriterDirect(LoyaltyTableId t);

/* events.c */
extern void LoyaltyEmitEvent(const char *kind, int64 member_id, Datum payload);
extern char *LoyaltyUtcText(TimestampTz t, bool xsd);

extern void LoyaltyWriterClose(void);
extern LoyaltyRow *LoyaltyRowBegin(LoyaltyTableId t);
extern void LoyaltyRowSet(LoyaltyRow *row, const char *column, Datum value, bool isnull);
extern void LoyaltyRowAdd(LoyaltyRow *row, const char *column, int64 value);
extern void LoyaltyRowInsert(LoyaltyRow *row);
extern bool LoyaltyRowInsertNew(LoyaltyRow *row, HeapTuple *copy);
extern void LoyaltyRowUpdate(LoyaltyRow *row, ItemPointer tid);
extern HeapTuple LoyaltyRowUpdateCopy(LoyaltyRow *row, ItemPointer tid);
extern AttrNumber LoyaltyColumn(TupleDesc desc, const char *table, const char *column);
extern AttrNumber LoyaltyRelColumn(Relation rel, const char *column);
extern void LoyaltyCheckColumnTypes(Relation rel);
typedef struct LoyaltyKey
{
	int			column;			/* of the index, from 1 */
	int			strategy;		/* BTEqualStrategyNumber, ... */
	Datum		value;
} LoyaltyKey;

extern Relation LoyaltyOpen(const char *name, bool is_index, LOCKMODE mode);
extern struct IndexScanDescData *LoyaltyIndexScan(Relation rel, const char *index, int nkeys,
												  const LoyaltyKey *keys, Snapshot snapshot);
extern void LoyaltyIndexScanEnd(struct IndexScanDescData *scan);
extern void LoyaltyPushReadSnapshot(bool read_only);
extern bool LoyaltyLockRow(Relation rel, TupleTableSlot *slot, Snapshot snapshot,
						   LockWaitPolicy wait);
extern bool LoyaltyFetchByKey(Relation rel, const char *index, int nkeys, const Datum *keys,
							  Snapshot snapshot, TupleTableSlot *slot);

#endif							/* LOYALTY_H */
