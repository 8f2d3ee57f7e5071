/*
 * loyalty.c -- module entry point and the small SPI layer every concern uses.
 */
#include "loyalty.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "jit/jit.h"
#include "optimizer/cost.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Every prepared plan ever kept, so that a change of the card type's OID can
 * drop the ones whose parameter types went stale.
 */
#define MAX_PLANS 64
static LoyaltyPlan *known_plans[MAX_PLANS];
static int	n_known_plans = 0;
static Oid	card_type_oid = InvalidOid;

/*
 * loyalty.notify: wake the outbox's consumer with a NOTIFY (no payload).  Off
 * by default: PostgreSQL serialises the commits of notifying transactions,
 * which cost the tills about two thirds of their sales per second in
 * bench/events.sh, while a consumer that watches the outbox's sequence is
 * woken as fast at no cost to them.
 */
bool		loyalty_notify = false;

void
_PG_init(void)
{
	DefineCustomBoolVariable("loyalty.notify",
							 "Sends a NOTIFY without payload on channel loyalty_events when a transaction writes events.",
							 "Off by default: the events are in loyalty.outbox, and PostgreSQL makes "
							 "the commits of notifying transactions wait for each other.",
							 &loyalty_notify,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("loyalty.max_pending_members",
							"Members whose balance changes (and member_tier rows) one sale statement holds in memory at most.",
							"A statement's sales update each member's balance and member_tier rows once, at its end; "
							"when this many members are pending, they are written out and the "
							"statement goes on (about 96 bytes per member, and about 200 for a tier row).",
							&loyalty_max_pending_members,
							262144, 1, 4194304,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("loyalty");
}

/*
 * Record the OID of loyalty.card as seen by the calling function (from its
 * own argument type, so no catalog lookup is needed).  When it changes, every
 * kept plan is dropped and prepared again on next use.
 */
void
LoyaltySetCardType(Oid card_type)
{
	if (card_type == card_type_oid || !OidIsValid(card_type))
		return;
	for (int i = 0; i < n_known_plans; i++)
	{
		if (known_plans[i]->plan != NULL)
			SPI_freeplan(known_plans[i]->plan);
		known_plans[i]->plan = NULL;
	}
	card_type_oid = card_type;
}

Oid
LoyaltyCardType(void)
{
	if (!OidIsValid(card_type_oid))
		elog(ERROR, "loyalty.card type OID is not known yet");
	return card_type_oid;
}

/*
 * The settings every statement the extension runs with LoyaltyExecute is
 * prepared, planned and executed with, whoever called.  They are not SET
 * clauses of the sale trigger's functions, which PostgreSQL would apply on
 * every row; here they change only around the SQL, only where they differ.  (A plan opened as a cursor -- expire_points's scan of lapsed lots
 * -- is only prepared so; it is planned and run with its function's own
 * settings, which pin the same search_path.)  What the trigger writes
 * without SQL runs no code but PostgreSQL's and the extension's (see
 * CallsForeignCode in writer.c).
 *
 * search_path = pg_catalog, pg_temp: the SQL is written fully qualified and
 * the functions are SECURITY DEFINER, so a caller's schemas must not take
 * part; a kept plan is also analysed again whenever the path differs from
 * the one it was made under.
 *
 * enable_seqscan = off: each statement has an index made for it, and a
 * generic plan kept while a table was small (a back-fill into a new
 * database) must not scan it whole as it grows.
 *
 * jit = off: the statements touch a row or a handful; seqscan's disable cost
 * would otherwise put the odd full scan of a small table (the programs, the
 * stores) over jit_above_cost, and JIT compiles it with inlining: about
 * 100 ms and 16 MB of LLVM memory that the backend keeps.
 *
 * A statement that fails leaves the nest level to its (sub)transaction's
 * abort, which unwinds it (cf. fmgr_security_definer).
 */
#define SQL_SEARCH_PATH "pg_catalog, pg_temp"

static int
SqlSettingsPush(void)
{
	bool		set_path = namespace_search_path == NULL ||
		strcmp(namespace_search_path, SQL_SEARCH_PATH) != 0;
	int			nest;

	if (!set_path && !enable_seqscan && !jit_enabled)
		return -1;				/* as wanted already: nothing to undo */
	nest = NewGUCNestLevel();
	if (set_path)
		(void) set_config_option("search_path", SQL_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	if (enable_seqscan)
		(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	if (jit_enabled)
		(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

static void
SqlSettingsPop(int nest)
{
	if (nest >= 0)
		AtEOXact_GUC(true, nest);
}

/*
 * Prepare a plan on first use and keep it.  Argument types equal to
 * InvalidOid in the LoyaltyPlan stand for loyalty.card.
 */
SPIPlanPtr
LoyaltyPrepare(LoyaltyPlan *plan)
{
	if (plan->plan == NULL)
	{
		Oid			types[20];
		SPIPlanPtr	p;
		int			nest;

		for (int i = 0; i < plan->nargs; i++)
			types[i] = OidIsValid(plan->argtypes[i]) ? plan->argtypes[i] : LoyaltyCardType();
		nest = SqlSettingsPush();
		p = SPI_prepare(plan->sql, plan->nargs, types);
		SqlSettingsPop(nest);
		if (p == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", plan->sql,
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		plan->plan = p;
		if (n_known_plans < MAX_PLANS)
		{
			bool		seen = false;

			for (int i = 0; i < n_known_plans; i++)
				seen |= (known_plans[i] == plan);
			if (!seen)
				known_plans[n_known_plans++] = plan;
		}
		else
			elog(ERROR, "too many loyalty plans");
	}
	return plan->plan;
}

/* Execute a kept plan; an SPI failure is a can't-happen error. */
int
LoyaltyExecute(LoyaltyPlan *plan, Datum *values, const char *nulls,
			   bool read_only, long count)
{
	int			rc;
	int			nest = SqlSettingsPush();

	rc = SPI_execute_plan(LoyaltyPrepare(plan), values, nulls, read_only, count);
	SqlSettingsPop(nest);
	if (rc < 0)
		elog(ERROR, "could not execute \"%s\": %s", plan->sql,
			 SPI_result_code_string(rc));
	return rc;
}

/*
 * Under REPEATABLE READ or SERIALIZABLE, a kept plan that found no row with
 * the transaction's snapshot may have missed one that a transaction we
 * waited for (a lock of ours it held) committed since: true when the
 * latest snapshot finds a row.  The caller then raises 40001, as
 * PostgreSQL does for a row changed since the snapshot, and the retry sees
 * it.  Under READ COMMITTED each query reads a fresh snapshot: false.
 */
bool
LoyaltyCommittedSince(LoyaltyPlan *plan, Datum *values)
{
	int			rc;
	int			nest;

	if (!IsolationUsesXactSnapshot())
		return false;
	nest = SqlSettingsPush();
	rc = SPI_execute_snapshot(LoyaltyPrepare(plan), values, NULL, GetLatestSnapshot(),
							  InvalidSnapshot, false, false, 1);
	SqlSettingsPop(nest);
	if (rc < 0)
		elog(ERROR, "could not execute \"%s\": %s", plan->sql,
			 SPI_result_code_string(rc));
	return SPI_processed > 0;
}

/*
 * The owner of table loyalty.<relname>: what the pre-commit writes of the
 * budget and the pending balances run as, after the last statement, when
 * the user is the session's again.
 */
Oid
LoyaltyTableOwner(const char *relname)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(get_relname_relid(relname,
																			   get_namespace_oid("loyalty", false))));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "loyalty.%s is missing", relname);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* ---------- words the catalog stores as text ---------- */

/* NULL-terminated, in the order of the enums in loyalty.h */
const char *const loyalty_kind_names[] = {
	"earn", "redeem", "expire", "reverse", "adjust", NULL
};
const char *const loyalty_rounding_names[] = {
	"floor", "half_up", "ceil", NULL
};
const char *const loyalty_debit_policy_names[] = {
	"truncate", "allow", "refuse", NULL
};
const char *const loyalty_period_names[] = {
	"none", "day", "week", "month", "quarter", "year", NULL
};

/*
 * The enum value of a word read from the catalog: its index in names.  The
 * tables' CHECK constraints admit no other word, so any other is a
 * can't-happen.
 */
int
LoyaltyParseName(const char *value, const char *const *names, const char *what)
{
	for (int i = 0; value != NULL && names[i] != NULL; i++)
		if (strcmp(value, names[i]) == 0)
			return i;
	elog(ERROR, "unknown %s \"%s\"", what, value ? value : "(null)");
	return 0;					/* keep the compiler quiet */
}

/* One calendar period (a quarter is three months); zero for NONE. */
Interval
LoyaltyPeriodInterval(LoyaltyPeriod period)
{
	Interval	step = {0};

	switch (period)
	{
		case LOYALTY_PERIOD_NONE:
			break;
		case LOYALTY_PERIOD_DAY:
			step.day = 1;
			break;
		case LOYALTY_PERIOD_WEEK:
			step.day = 7;
			break;
		case LOYALTY_PERIOD_MONTH:
			step.month = 1;
			break;
		case LOYALTY_PERIOD_QUARTER:
			step.month = 3;
			break;
		case LOYALTY_PERIOD_YEAR:
			step.month = 12;
			break;
	}
	return step;
}
