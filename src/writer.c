/*
 * writer.c -- the ledger's own write path: rows of loyalty.ledger, lot,
 * outbox and member_balance written without SPI.
 *
 * Through SPI, a sale's entry, lot, outbox row and balance would be four
 * statements, each one an executor start-up of its own (plan state, the
 * table's CHECK constraints and index predicates compiled afresh, the index
 * list opened, a snapshot pushed).  Here, as PostgreSQL's logical
 * replication apply worker does, each table is opened once per transaction
 * with its indexes and defaults, and a row is: defaults for the columns left
 * unset, NOT NULL and CHECK constraints (ExecConstraints), the heap tuple,
 * its index entries.
 *
 * What this path does not do is fire triggers.  The tables' own triggers do
 * not fire on INSERT (the ledger's refuse UPDATE and DELETE); the foreign
 * keys to loyalty.member are not checked row by row: every row written here
 * belongs to a member whose balance row the posting holds locked, and a
 * member with a balance row cannot be deleted (that key is checked).  A
 * table that has a trigger of its own on INSERT (UPDATE for the balance) --
 * a DBA's audit trigger, say -- or a rule is written through SQL instead
 * (LoyaltyWriterDirect() is false), so the trigger fires as before.
 *
 * Lifetime: the tables stay open, under a resource owner of ours (child of
 * the transaction's, so subtransactions do not touch them), for the rows of
 * one statement: LoyaltyWriterClose() closes them at the end of an INSERT
 * into loyalty.sale (its statement-level trigger) and of each posting
 * function, and, should a failed statement have left them open, just before
 * commit (XACT_EVENT_PRE_COMMIT); an abort releases them with the
 * transaction.  (Open, they would make DDL on these tables later in the
 * transaction fail as "being used by active queries".)
 */
#include "loyalty.h"
#include "compat.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "parser/parse_coerce.h"
#include "parser/parse_relation.h"
#include "rewrite/rewriteHandler.h"
#include "storage/proc.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

typedef struct TableWriter
{
	const char *relname;		/* in schema loyalty */
	Relation	rel;			/* NULL: not open in this transaction */
	ResultRelInfo *rri;
	TupleTableSlot *slot;		/* the row to write */
	TupleTableSlot *old;		/* the row an update replaces */
	bool		direct;			/* no trigger of its own: written here */
	uint64		direct_generation;	/* compiled_generation when direct was
									 * found (0: unknown) */
	bool		is_update;		/* written by LoyaltyRowUpdate, not inserted */
	bool		upserts;		/* both inserted and updated */
	const char *arbiter;		/* the unique index LoyaltyRowInsertNew
								 * checks, as ON CONFLICT would (NULL: none) */
	List	   *arbiters;		/* its oid, while open */

	/*
	 * Compiled once per backend, not per transaction (the CHECKs' stringToNode
	 * and the defaults' planning cost as much as a row): the CHECK
	 * constraints and, as they are first needed, the column defaults.  They
	 * are thrown away, as the plan cache does with plans, on a relcache
	 * invalidation of the table (ALTER TABLE ... ADD/DROP CONSTRAINT, ALTER
	 * COLUMN ... SET DEFAULT) and on any change to a function (planning
	 * inlines SQL functions and folds immutable calls), a type or a
	 * constraint (a domain's CHECKs are compiled into the expression).
	 */
	Oid			relid;
	MemoryContext compiled_cxt;
	uint64		compiled_generation;	/* compiled_generation when built */
	bool		calls_foreign_code;	/* see CallsForeignCode */
	ExprState **checks;
	ExprState **defaults;		/* by attribute */
	bool	   *default_known;
} TableWriter;

static TableWriter writers[LOYALTY_NTABLES] = {
	[LOYALTY_LEDGER] = {"ledger"},
	[LOYALTY_LOT] = {"lot"},
	[LOYALTY_OUTBOX] = {"outbox"},
	[LOYALTY_BALANCE] = {"member_balance", .is_update = true},
	[LOYALTY_RULE_SPEND] = {"rule_spend", .is_update = true},
	[LOYALTY_TIER_DAY] = {"tier_day", .upserts = true},
	[LOYALTY_MEMBER_TIER] = {"member_tier", .upserts = true},
	[LOYALTY_TIER_CHANGE] = {"tier_change"},
	[LOYALTY_VOUCHER] = {"voucher"},
	[LOYALTY_HOLD] = {"hold", .upserts = true, .arbiter = "hold_store_pos_txn_key"},
};
static bool compiled_callback_registered = false;

static HeapTuple RowUpdate(LoyaltyRow *row, ItemPointer tid, bool copy);

/*
 * Bumped by every invalidation that makes all compiled expressions stale;
 * a table's are valid while its compiled_generation equals it.  Starts at 1:
 * a table never compiled has 0.
 */
static uint64 compiled_generation = 1;

/*
 * A relcache invalidation: if of one of our tables, its CHECKs or defaults
 * may have changed (the others are compiled again with it: it is rare).
 */
static void
CompiledRelCallback(Datum arg, Oid relid)
{
	for (int t = 0; t < LOYALTY_NTABLES; t++)
		if (relid == InvalidOid || relid == writers[t].relid)
		{
			compiled_generation++;
			return;
		}
}

/* A function, type or constraint changed: every compiled expression may be stale. */
static void
CompiledSysCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	compiled_generation++;
}

/*
 * Code that is neither PostgreSQL's (pg_catalog) nor the extension's (the
 * table's schema, loyalty), in what writing a row runs: a function, an
 * operator's function, a type's I/O or a domain's checks in a CHECK, a
 * default, an index expression or predicate; an index operator class.
 *
 * The sale trigger is SECURITY DEFINER and, for speed, has no SET
 * search_path (src/loyalty.c): a DBA's function in a CHECK, a default or an
 * index expression of a table it writes directly would run as the
 * extension's owner under the POS session's search_path, and a plpgsql or
 * inlined SQL function would resolve its names there.  Such a table is
 * written through SQL instead, where the extension's settings apply.
 */

/* Is the catalog row's namespace neither pg_catalog nor nsp? */
static bool
ForeignNamespace(int cache, Oid oid, Oid nsp)
{
	HeapTuple	tup = SearchSysCache1(cache, ObjectIdGetDatum(oid));
	bool		isnull;
	Oid			owner_nsp;

	if (!HeapTupleIsValid(tup))
		return true;
	owner_nsp = DatumGetObjectId(SysCacheGetAttr(cache, tup,
												 cache == CLAOID ? Anum_pg_opclass_opcnamespace :
												 Anum_pg_type_typnamespace, &isnull));
	ReleaseSysCache(tup);
	return owner_nsp != PG_CATALOG_NAMESPACE && owner_nsp != nsp;
}

static bool
ForeignFunction(Oid func, void *context)
{
	Oid			nsp = get_func_namespace(func);

	return nsp != PG_CATALOG_NAMESPACE && nsp != *(Oid *) context;
}

static bool
CallsForeignCode(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, ForeignFunction, context))
		return true;
	if (IsA(node, CoerceToDomain) &&
		ForeignNamespace(TYPEOID, ((CoerceToDomain *) node)->resulttype, *(Oid *) context))
		return true;
	return expression_tree_walker(node, CallsForeignCode, context);
}

/* The same over a stored expression (pg_node_tree text), as written, before any inlining. */
static bool
StoredCallsForeignCode(const char *node_text, Oid nsp)
{
	return node_text != NULL && CallsForeignCode(stringToNode(node_text), &nsp);
}

/*
 * Any CHECK, default, index expression or index predicate of the table, or
 * an index operator class (its support functions run on every insert).
 */
static bool
TableCallsForeignCode(TableWriter *w)
{
	TupleConstr *constr = RelationGetDescr(w->rel)->constr;
	Oid			nsp = RelationGetNamespace(w->rel);

	for (int i = 0; constr != NULL && i < constr->num_check; i++)
		if (StoredCallsForeignCode(constr->check[i].ccbin, nsp))
			return true;
	for (int i = 0; constr != NULL && i < constr->num_defval; i++)
		if (StoredCallsForeignCode(constr->defval[i].adbin, nsp))
			return true;
	for (int i = 0; i < w->rri->ri_NumIndices; i++)
	{
		HeapTuple	index_tuple = w->rri->ri_IndexRelationDescs[i]->rd_indextuple;
		AttrNumber	parts[] = {Anum_pg_index_indexprs, Anum_pg_index_indpred};
		bool		isnull;
		oidvector  *classes = (oidvector *) DatumGetPointer(SysCacheGetAttr(INDEXRELID, index_tuple,
																		  Anum_pg_index_indclass,
																		  &isnull));

		for (int k = 0; !isnull && k < classes->dim1; k++)
			if (ForeignNamespace(CLAOID, classes->values[k], nsp))
				return true;

		for (int k = 0; k < 2; k++)
		{
			Datum		d = SysCacheGetAttr(INDEXRELID, index_tuple, parts[k], &isnull);

			if (!isnull && StoredCallsForeignCode(TextDatumGetCString(d), nsp))
				return true;
		}
	}
	return false;
}

/* The table's compiled CHECKs, (re)built when stale; set into its ResultRelInfo. */
static void
CompileChecks(TableWriter *w)
{
	TupleDesc	desc = RelationGetDescr(w->rel);
	int			ncheck = desc->constr ? desc->constr->num_check : 0;
	MemoryContext old;

	if (!compiled_callback_registered)
	{
		CacheRegisterRelcacheCallback(CompiledRelCallback, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, CompiledSysCallback, (Datum) 0);
		CacheRegisterSyscacheCallback(TYPEOID, CompiledSysCallback, (Datum) 0);
		CacheRegisterSyscacheCallback(CONSTROID, CompiledSysCallback, (Datum) 0);
		compiled_callback_registered = true;
	}
	if (w->compiled_generation != compiled_generation || w->relid != RelationGetRelid(w->rel))
	{
		uint64		generation = compiled_generation;

		w->compiled_generation = 0; /* until rebuilt: an error leaves it stale */
		if (w->compiled_cxt == NULL)
			w->compiled_cxt = AllocSetContextCreate(CacheMemoryContext, "loyalty writer compiled",
													ALLOCSET_SMALL_SIZES);
		MemoryContextReset(w->compiled_cxt);
		w->relid = RelationGetRelid(w->rel);
		old = MemoryContextSwitchTo(w->compiled_cxt);
		w->checks = palloc0(sizeof(ExprState *) * Max(ncheck, 1));
		for (int i = 0; i < ncheck; i++)
			w->checks[i] = ExecInitExpr(expression_planner(stringToNode(desc->constr->check[i].ccbin)),
										NULL);
		w->defaults = palloc0(sizeof(ExprState *) * desc->natts);
		w->default_known = palloc0(sizeof(bool) * desc->natts);
		MemoryContextSwitchTo(old);
		w->calls_foreign_code = TableCallsForeignCode(w);
		/* stale at once if an invalidation arrived meanwhile */
		w->compiled_generation = generation;
	}
	if (ncheck > 0)
		w->rri->ri_ConstraintExprs = w->checks;
}

/* The default of attribute i (0-based), compiled on first need; NULL: none. */
static ExprState *
ColumnDefault(TableWriter *w, int i)
{
	if (!w->default_known[i])
	{
		MemoryContext old = MemoryContextSwitchTo(w->compiled_cxt);
		Node	   *expr = TupleDescAttr(RelationGetDescr(w->rel), i)->attisdropped ? NULL :
			build_column_default(w->rel, i + 1);

		if (expr != NULL)
			w->defaults[i] = ExecInitExpr(expression_planner((Expr *) expr), NULL);
		w->default_known[i] = true;
		MemoryContextSwitchTo(old);
	}
	return w->defaults[i];
}

/* Tables and indexes the sale path reads, kept open alike (LoyaltyOpen). */
#define MAX_READERS 64
static struct
{
	char		name[NAMEDATALEN];
	bool		is_index;
	LOCKMODE	mode;
	Relation	rel;
}			readers[MAX_READERS];
static int	nreaders = 0;

static EState *writer_estate = NULL;
static ResourceOwner writer_owner = NULL;
static LocalTransactionId writer_owner_lxid = InvalidLocalTransactionId;
static LocalTransactionId writer_lxid = InvalidLocalTransactionId;
static bool callback_registered = false;

/* Does the table have a trigger of its own for this event? */
static bool
HasOwnTrigger(Relation rel, int event)
{
	TriggerDesc *td = rel->trigdesc;

	if (td == NULL)
		return false;
	for (int i = 0; i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];

		if (t->tgisinternal || t->tgenabled == TRIGGER_DISABLED)
			continue;
		if ((event == CMD_INSERT && TRIGGER_FOR_INSERT(t->tgtype)) ||
			(event == CMD_UPDATE && TRIGGER_FOR_UPDATE(t->tgtype)))
			return true;
	}
	return false;
}

/*
 * Nothing this path would not honour: no stored generated column, no
 * foreign key but member_id to loyalty.member or rule_id to loyalty.rule
 * (which the posting's locks keep), no deferrable unique or exclusion
 * constraint.  A table a DBA
 * gave any of these is written through SQL.
 */
static bool
OnlyKnownConstraints(TableWriter *w)
{
	TupleDesc	desc = RelationGetDescr(w->rel);
	Oid			nsp = get_namespace_oid("loyalty", false);
	Oid			member = get_relname_relid("member", nsp);
	Oid			rule = get_relname_relid("rule", nsp);
	Oid			tier = get_relname_relid("tier", nsp);
	Oid			voucher_type = get_relname_relid("voucher_type", nsp);
	ListCell   *lc;

	if (desc->constr && desc->constr->has_generated_stored)
		return false;
	foreach(lc, RelationGetFKeyList(w->rel))
	{
		ForeignKeyCacheInfo *fk = lfirst_node(ForeignKeyCacheInfo, lc);
		const char *column = fk->nkeys != 1 ? NULL :
			fk->confrelid == member ? "member_id" :
			fk->confrelid == rule ? "rule_id" :
			fk->confrelid == voucher_type ? "voucher_type_id" : NULL;

		/*
		 * only the extension's own keys: member_id to member, rule_id to
		 * rule, voucher_type_id to voucher_type (voucher.c holds the type
		 * locked FOR KEY SHARE), and any one column to tier (the ladder
		 * cache's ids)
		 */
		if (fk->nkeys == 1 && fk->confrelid == tier)
			continue;
		if (column == NULL || fk->conkey[0] != LoyaltyRelColumn(w->rel, column))
			return false;
	}
	for (int i = 0; i < w->rri->ri_NumIndices; i++)
	{
		Relation	idx = w->rri->ri_IndexRelationDescs[i];

		if (w->rri->ri_IndexRelationInfo[i]->ii_ExclusionOps != NULL ||
			(idx->rd_index->indisunique && !idx->rd_index->indimmediate))
			return false;
	}
	return true;
}

static void
CloseWriters(void)
{
	ResourceOwner save = CurrentResourceOwner;

	CurrentResourceOwner = writer_owner;
	for (int t = 0; t < LOYALTY_NTABLES; t++)
	{
		TableWriter *w = &writers[t];

		if (w->rel == NULL)
			continue;
		ExecCloseIndices(w->rri);
		table_close(w->rel, NoLock);
		w->rel = NULL;
		w->rri = NULL;
		w->slot = w->old = NULL;
	}
	for (int i = 0; i < nreaders; i++)
	{
		if (readers[i].is_index)
			index_close(readers[i].rel, NoLock);
		else
			table_close(readers[i].rel, NoLock);
	}
	nreaders = 0;
	ExecResetTupleTable(writer_estate->es_tupleTable, false);
	FreeExecutorState(writer_estate);
	CurrentResourceOwner = save;
	writer_estate = NULL;
}

/*
 * Close the tables (the end of a statement that made sales, of a posting
 * function): DDL later in the transaction finds them closed.
 */
void
LoyaltyWriterClose(void)
{
	if (writer_estate != NULL && writer_lxid == LY_MY_LXID)
		CloseWriters();
}

static void
WriterXactCallback(XactEvent event, void *arg)
{
	if (writer_estate == NULL || writer_lxid != LY_MY_LXID)
		return;
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
		CloseWriters();
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		/* the transaction's resource owners and memory release it all */
		for (int t = 0; t < LOYALTY_NTABLES; t++)
			writers[t].rel = NULL;
		nreaders = 0;
		writer_estate = NULL;
	}
}

/* Forget a finished transaction's state; make the executor state and owner. */
static void
StartWriters(void)
{
	MemoryContext save_cxt;

	if (writer_lxid != LY_MY_LXID)
	{
		/* a transaction ended without our callback seeing it: start afresh */
		for (int i = 0; i < LOYALTY_NTABLES; i++)
			writers[i].rel = NULL;
		nreaders = 0;
		writer_estate = NULL;
		writer_lxid = LY_MY_LXID;
	}
	if (!callback_registered)
	{
		RegisterXactCallback(WriterXactCallback, NULL);
		callback_registered = true;
	}
	if (writer_estate != NULL)
		return;
	save_cxt = MemoryContextSwitchTo(TopTransactionContext);
	/* one owner per transaction: reopening takes its locks again, no more */
	if (writer_owner_lxid != LY_MY_LXID)
	{
		writer_owner = ResourceOwnerCreate(TopTransactionResourceOwner, "loyalty writer");
		writer_owner_lxid = LY_MY_LXID;
	}
	writer_estate = CreateExecutorState();
	MemoryContextSwitchTo(save_cxt);
}

/* The writer of table t, opened on first use in the statement. */
static TableWriter *
Writer(LoyaltyTableId t)
{
	TableWriter *w = &writers[t];
	ResourceOwner save_owner;
	MemoryContext save_cxt;
	Relation	rel;
	ResultRelInfo *rri;
	uint64		generation;

	StartWriters();
	if (w->rel != NULL)
		return w;
	/* freed with the executor state when the writers close */
	save_cxt = MemoryContextSwitchTo(writer_estate->es_query_cxt);
	save_owner = CurrentResourceOwner;
	CurrentResourceOwner = writer_owner;
	/* built aside, and published last: an error half-way leaves it closed */
	rel = table_open(get_relname_relid(w->relname, get_namespace_oid("loyalty", false)),
					 RowExclusiveLock);
	PG_TRY();
	{
		LoyaltyCheckColumnTypes(rel);
	}
	PG_CATCH();
	{
		CurrentResourceOwner = save_owner;
		PG_RE_THROW();
	}
	PG_END_TRY();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	w->arbiters = w->arbiter == NULL ? NIL :
		list_make1_oid(get_relname_relid(w->arbiter, RelationGetNamespace(rel)));
	w->rri = rri;
	w->rel = rel;				/* CompileChecks and OnlyKnownConstraints read these */
	PG_TRY();
	{
		w->slot = table_slot_create(rel, &writer_estate->es_tupleTable);
		w->old = table_slot_create(rel, &writer_estate->es_tupleTable);
		generation = compiled_generation;
		CompileChecks(w);
		w->direct = rel->rd_rules == NULL &&
			!HasOwnTrigger(rel, w->is_update ? CMD_UPDATE : CMD_INSERT) &&
			!(w->upserts && HasOwnTrigger(rel, CMD_UPDATE)) &&
			OnlyKnownConstraints(w) && !w->calls_foreign_code;
		/* stale at once if an invalidation arrived meanwhile */
		w->direct_generation = generation;
	}
	PG_CATCH();
	{
		w->rel = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
	CurrentResourceOwner = save_owner;
	MemoryContextSwitchTo(save_cxt);
	return w;
}

/*
 * Is table t written without SQL (no trigger of a DBA's, nothing but the
 * known constraints)?  Asked of tables a statement may never write (the
 * sale's deferral asks it of every table of the sale's path): when the
 * answer is known since the table's last relcache invalidation, the table
 * is only locked as opening it would, which keeps a trigger from being
 * added before the transaction ends, and not opened.
 */
bool
LoyaltyWriterDirect(LoyaltyTableId t)
{
	TableWriter *w = &writers[t];

	StartWriters();
	if (w->rel == NULL && w->direct_generation == compiled_generation)
	{
		ResourceOwner save_owner = CurrentResourceOwner;

		CurrentResourceOwner = writer_owner;
		LockRelationOid(w->relid, RowExclusiveLock);
		CurrentResourceOwner = save_owner;
		/* taking the lock may have brought an invalidation */
		if (w->direct_generation == compiled_generation)
			return w->direct;
	}
	return Writer(t)->direct;
}

/* Start a new row of table t: every column unset. */
LoyaltyRow *
LoyaltyRowBegin(LoyaltyTableId t)
{
	TableWriter *w = Writer(t);
	LoyaltyRow *row = palloc0(sizeof(LoyaltyRow));
	int			natts = RelationGetDescr(w->rel)->natts;

	row->table = t;
	row->values = palloc0(sizeof(Datum) * natts);
	row->isnull = palloc(sizeof(bool) * natts);
	row->set = palloc0(sizeof(bool) * natts);
	row->add = palloc0(sizeof(bool) * natts);
	memset(row->isnull, true, sizeof(bool) * natts);
	return row;
}

/* Set a column of the row to a value (NULL when isnull). */
void
LoyaltyRowSet(LoyaltyRow *row, const char *column, Datum value, bool isnull)
{
	AttrNumber	att = LoyaltyRelColumn(writers[row->table].rel, column);

	row->values[att - 1] = value;
	row->isnull[att - 1] = isnull;
	row->set[att - 1] = true;
	row->add[att - 1] = false;
}

/* Add a bigint to a column of the row LoyaltyRowUpdate updates. */
void
LoyaltyRowAdd(LoyaltyRow *row, const char *column, int64 value)
{
	AttrNumber	att = LoyaltyRelColumn(writers[row->table].rel, column);

	row->values[att - 1] = Int64GetDatum(value);
	row->isnull[att - 1] = false;
	row->set[att - 1] = true;
	row->add[att - 1] = true;
}

/* Fill the slot from the row: set columns, else defaults, else NULL. */
static void
FillSlot(TableWriter *w, LoyaltyRow *row)
{
	TupleTableSlot *slot = w->slot;
	ExprContext *econtext = GetPerTupleExprContext(writer_estate);
	int			natts = slot->tts_tupleDescriptor->natts;

	ExecClearTuple(slot);
	for (int i = 0; i < natts; i++)
	{
		if (row->set[i])
		{
			slot->tts_values[i] = row->values[i];
			slot->tts_isnull[i] = row->isnull[i];
		}
		else if (ColumnDefault(w, i) != NULL)
			slot->tts_values[i] = ExecEvalExprSwitchContext(w->defaults[i], econtext,
															&slot->tts_isnull[i]);
		else
		{
			slot->tts_values[i] = (Datum) 0;
			slot->tts_isnull[i] = true;
		}
	}
	ExecStoreVirtualTuple(slot);
}

void
LoyaltyRowInsert(LoyaltyRow *row)
{
	TableWriter *w = &writers[row->table];
	ResourceOwner save_owner = CurrentResourceOwner;

	Assert(w->direct);
	CurrentResourceOwner = writer_owner;
	FillSlot(w, row);
	if (w->rel->rd_att->constr)
		ExecConstraints(w->rri, w->slot, writer_estate);
	simple_table_tuple_insert(w->rel, w->slot);
	if (w->rri->ri_NumIndices > 0)
		list_free(LyInsertIndexTuples(w->rri, w->slot, writer_estate, false, LY_UPDATE_INDEXES_NONE));
	ExecClearTuple(w->slot);
	ResetPerTupleExprContext(writer_estate);
	CurrentResourceOwner = save_owner;
}

/*
 * Insert the row unless its table's arbiter index (TableWriter.arbiter)
 * has its key already, as INSERT ... ON CONFLICT (key) DO NOTHING does and
 * by the same speculative insertion (nodeModifyTable.c's ExecInsert): a
 * transaction inserting the key meanwhile is waited for, and of two, one
 * inserts.  False: the key is taken (in REPEATABLE READ, by a row the
 * transaction's snapshot cannot see: 40001, as ON CONFLICT).  True: inserted,
 * and *copy (when asked) a copy of the row, in the current memory context.
 */
bool
LoyaltyRowInsertNew(LoyaltyRow *row, HeapTuple *copy)
{
	TableWriter *w = &writers[row->table];
	ResourceOwner save_owner = CurrentResourceOwner;
	bool		inserted = false;

	Assert(w->direct && w->arbiters != NIL);
	CurrentResourceOwner = writer_owner;
	/* the unique indexes' operators, as ExecOpenIndices(speculative) finds them; once per opening */
	for (int i = 0; i < w->rri->ri_NumIndices; i++)
	{
		IndexInfo  *ii = w->rri->ri_IndexRelationInfo[i];

		if (ii->ii_Unique && ii->ii_UniqueOps == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(writer_estate->es_query_cxt);

			BuildSpeculativeIndexInfo(w->rri->ri_IndexRelationDescs[i], ii);
			MemoryContextSwitchTo(old);
		}
	}
	FillSlot(w, row);
	if (w->rel->rd_att->constr)
		ExecConstraints(w->rri, w->slot, writer_estate);
	for (;;)
	{
		ItemPointerData conflict;
		uint32		token;
		bool		spec_conflict = false;

		/* a key already there, or being inserted (waited for) */
		if (!ExecCheckIndexConstraints(w->rri, w->slot, writer_estate, &conflict, w->arbiters))
		{
			if (IsolationUsesXactSnapshot() &&
				!table_tuple_fetch_row_version(w->rel, &conflict, GetTransactionSnapshot(), w->old))
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			ExecClearTuple(w->old);
			break;
		}
		/*
		 * the token's lock under the caller's owner, as the executor holds
		 * it: an error before its release (a hold_id drawn twice) then
		 * releases it with the (sub)transaction that fails
		 */
		CurrentResourceOwner = save_owner;
		token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
		CurrentResourceOwner = writer_owner;
		table_tuple_insert_speculative(w->rel, w->slot, GetCurrentCommandId(true), 0, NULL, token);
		list_free(LyInsertIndexTuplesNew(w->rri, w->slot, writer_estate, &spec_conflict, w->arbiters));
		table_tuple_complete_speculative(w->rel, w->slot, token, !spec_conflict);
		CurrentResourceOwner = save_owner;
		SpeculativeInsertionLockRelease(GetCurrentTransactionId());
		CurrentResourceOwner = writer_owner;
		if (!spec_conflict)
		{
			inserted = true;
			if (copy)
				*copy = ExecCopySlotHeapTuple(w->slot);
			break;
		}
		/* another transaction inserted the key meanwhile: look again */
	}
	ExecClearTuple(w->slot);
	ResetPerTupleExprContext(writer_estate);
	CurrentResourceOwner = save_owner;
	return inserted;
}

/*
 * Update the row at tid (which the caller holds locked, FOR NO KEY UPDATE):
 * columns set with LoyaltyRowSet replace the old values, columns set with
 * LoyaltyRowAdd are added to them.
 */
void
LoyaltyRowUpdate(LoyaltyRow *row, ItemPointer tid)
{
	RowUpdate(row, tid, false);
}

/*
 * LoyaltyRowUpdate, returning a copy of the new version (in the current
 * memory context), for a function that returns the row it updated.
 */
HeapTuple
LoyaltyRowUpdateCopy(LoyaltyRow *row, ItemPointer tid)
{
	return RowUpdate(row, tid, true);
}

/* Both of the above; the new version's copy when asked, else NULL. */
static HeapTuple
RowUpdate(LoyaltyRow *row, ItemPointer tid, bool copy)
{
	TableWriter *w = &writers[row->table];
	ResourceOwner save_owner = CurrentResourceOwner;
	TupleTableSlot *slot = w->slot;
	int			natts = slot->tts_tupleDescriptor->natts;
	LyUpdateIndexes update_indexes;
	HeapTuple	result = NULL;

	Assert(w->direct);
	CurrentResourceOwner = writer_owner;
	if (!table_tuple_fetch_row_version(w->rel, tid, SnapshotAny, w->old))
		elog(ERROR, "row of loyalty.%s to update is gone", w->relname);
	slot_getallattrs(w->old);
	ExecClearTuple(slot);
	for (int i = 0; i < natts; i++)
	{
		slot->tts_values[i] = w->old->tts_values[i];
		slot->tts_isnull[i] = w->old->tts_isnull[i];
		if (!row->set[i])
			continue;
		if (row->add[i])
		{
			int64		sum;

			if (pg_add_s64_overflow(DatumGetInt64(slot->tts_values[i]),
									DatumGetInt64(row->values[i]), &sum))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("bigint out of range")));
			slot->tts_values[i] = Int64GetDatum(sum);
		}
		else
		{
			slot->tts_values[i] = row->values[i];
			slot->tts_isnull[i] = row->isnull[i];
		}
	}
	ExecStoreVirtualTuple(slot);
	if (w->rel->rd_att->constr)
		ExecConstraints(w->rri, slot, writer_estate);
	simple_table_tuple_update(w->rel, tid, slot, GetActiveSnapshot(), &update_indexes);
	if (w->rri->ri_NumIndices > 0 && update_indexes != LY_UPDATE_INDEXES_NONE)
		list_free(LyInsertIndexTuples(w->rri, slot, writer_estate, true, update_indexes));
	if (copy)
		result = ExecCopySlotHeapTuple(slot);
	ExecClearTuple(slot);
	ExecClearTuple(w->old);
	ResetPerTupleExprContext(writer_estate);
	CurrentResourceOwner = save_owner;
	return result;
}

/*
 * The attribute number of a column of a table of the extension; LY070 when
 * the table has no such column (a DBA dropped or renamed it).
 */
AttrNumber
LoyaltyColumn(TupleDesc desc, const char *table, const char *column)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), column) == 0)
			return i + 1;
	}
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_MISSING_COLUMN),
			 errmsg("table loyalty.%s has no column \"%s\"", table, column),
			 errdetail("The loyalty extension reads or writes this column."),
			 errhint("Give the column back its name, or add it again as the extension's install script defines it.")));
	return InvalidAttrNumber;	/* keep the compiler quiet */
}

/*
 * The types the extension reads and writes its columns as (InvalidOid: the
 * card type, a bigint passed by value).  A DBA who changes one (ALTER
 * COLUMN ... TYPE) would have the C code read or write a datum of another
 * representation: a crash, or a corrupt row.  Other columns, and types
 * binary-coercible both ways (text and varchar), are left alone.
 */
typedef struct LoyaltyColumnType
{
	const char *table;
	const char *column;
	Oid			type;
} LoyaltyColumnType;

static const LoyaltyColumnType column_types[] = {
	{"program", "program_id", INT4OID},
	{"program", "code", TEXTOID},
	{"program", "currency", TEXTOID},
	{"program", "points_per_unit", NUMERICOID},
	{"program", "point_value", NUMERICOID},
	{"program", "expiry_after", INTERVALOID},
	{"program", "expiry_rounding", TEXTOID},
	{"program", "pending_days", INT4OID},
	{"program", "rounding", TEXTOID},
	{"program", "negative_balance", TEXTOID},
	{"program", "time_zone", TEXTOID},
	{"program", "return_days", INT4OID},
	{"program", "backdate_limit", INTERVALOID},
	{"program", "tier_window", TEXTOID},
	{"program", "tier_window_days", INT4OID},
	{"tier", "program_id", INT4OID},
	{"tier", "tier_id", INT4OID},
	{"tier", "code", TEXTOID},
	{"tier", "rank", INT4OID},
	{"tier", "min_spend", NUMERICOID},
	{"tier", "min_visits", INT4OID},
	{"tier", "min_points", INT8OID},
	{"tier", "earn_multiplier", NUMERICOID},
	{"tier", "discount_pct", NUMERICOID},
	{"rule", "rule_id", INT4OID},
	{"rule", "program_id", INT4OID},
	{"rule", "code", TEXTOID},
	{"rule", "kind", TEXTOID},
	{"rule", "active", BOOLOID},
	{"rule", "priority", INT4OID},
	{"rule", "stackable", BOOLOID},
	{"rule", "skus", TEXTARRAYOID},
	{"rule", "categories", TEXTARRAYOID},
	{"rule", "stores", TEXTARRAYOID},
	{"rule", "valid_from", TIMESTAMPTZOID},
	{"rule", "valid_to", TIMESTAMPTZOID},
	{"rule", "days_of_week", INT4ARRAYOID},
	{"rule", "hour_from", INT4OID},
	{"rule", "hour_to", INT4OID},
	{"rule", "min_basket", NUMERICOID},
	{"rule", "multiplier", NUMERICOID},
	{"rule", "points", INT8OID},
	{"rule", "every_nth", INT4OID},
	{"rule", "visit_period", TEXTOID},
	{"rule", "member_max_uses", INT4OID},
	{"rule", "member_max_points", INT8OID},
	{"rule", "budget_points", INT8OID},
	{"rule", "voucher_type", TEXTOID},
	{"rule", "on_return", BOOLOID},
	{"rule", "sold_from", TIMESTAMPTZOID},
	{"rule", "sold_to", TIMESTAMPTZOID},
	{"store", "store", TEXTOID},
	{"store", "time_zone", TEXTOID},
	{"ledger", "member_id", INT8OID},
	{"ledger", "entry_id", INT8OID},
	{"ledger", "kind", TEXTOID},
	{"ledger", "points", INT8OID},
	{"ledger", "effective_at", TIMESTAMPTZOID},
	{"ledger", "posted_at", TIMESTAMPTZOID},
	{"ledger", "source", TEXTOID},
	{"ledger", "reason", TEXTOID},
	{"ledger", "actor", TEXTOID},
	{"ledger", "idem_key", TEXTOID},
	{"ledger", "store", TEXTOID},
	{"ledger", "pos_txn", TEXTOID},
	{"ledger", "value", NUMERICOID},
	{"ledger", "pending_until", TIMESTAMPTZOID},
	{"ledger", "expires_at", TIMESTAMPTZOID},
	{"ledger", "reverses", INT8OID},
	{"ledger", "shortfall", INT8OID},
	{"ledger", "lot_ids", INT8ARRAYOID},
	{"ledger", "lot_points", INT8ARRAYOID},
	{"ledger", "sale_id", INT8OID},
	{"ledger", "rule_points", JSONBOID},
	{"lot", "member_id", INT8OID},
	{"lot", "lot_id", INT8OID},
	{"lot", "points", INT8OID},
	{"lot", "remaining", INT8OID},
	{"lot", "earned_at", TIMESTAMPTZOID},
	{"lot", "available_from", TIMESTAMPTZOID},
	{"lot", "expires_at", TIMESTAMPTZOID},
	{"member", "member_id", INT8OID},
	{"member", "program_id", INT4OID},
	{"member", "status", TEXTOID},
	{"member", "enrolled_at", TIMESTAMPTZOID},
	{"member_balance", "member_id", INT8OID},
	{"member_balance", "net", INT8OID},
	{"member_balance", "debt", INT8OID},
	{"member_balance", "lifetime_earned", INT8OID},
	{"member_balance", "lifetime_redeemed", INT8OID},
	{"member_balance", "expired", INT8OID},
	{"member_balance", "reversed", INT8OID},
	{"member_balance", "adjusted", INT8OID},
	{"member_balance", "shortfall", INT8OID},
	{"member_balance", "last_entry_id", INT8OID},
	{"member_balance", "updated_at", TIMESTAMPTZOID},
	{"member_balance", "status", TEXTOID},
	{"member_balance", "card", InvalidOid},
	{"member_balance", "program_id", INT4OID},
	{"member_balance", "sales", INT8OID},
	{"member_balance", "held", INT8OID},
	{"member_balance", "open_holds", INT8OID},
	{"member_card", "card", InvalidOid},
	{"member_card", "member_id", INT8OID},
	{"member_card", "replaced_at", TIMESTAMPTZOID},
	{"member_card", "replaced_by", InvalidOid},
	{"member_rule_use", "member_id", INT8OID},
	{"member_rule_use", "rule_id", INT4OID},
	{"member_rule_use", "uses", INT4OID},
	{"member_rule_use", "points", INT8OID},
	{"outbox", "event_id", INT8OID},
	{"outbox", "member_id", INT8OID},
	{"outbox", "kind", TEXTOID},
	{"outbox", "payload", JSONBOID},
	{"outbox", "created_at", TIMESTAMPTZOID},
	{"rule_spend", "rule_id", INT4OID},
	{"rule_spend", "points", INT8OID},
	{"rule_spend", "uses", INT8OID},
	{"rule_spend", "slot", INT2OID},
	{"rule_spend", "share", INT8OID},
	{"rule_spend", "split_of", INT8OID},
	{"member_tier", "member_id", INT8OID},
	{"member_tier", "tier_id", INT4OID},
	{"member_tier", "since", TIMESTAMPTZOID},
	{"member_tier", "held_until", DATEOID},
	{"member_tier", "window_start", DATEOID},
	{"member_tier", "last_day", DATEOID},
	{"member_tier", "spend", NUMERICOID},
	{"member_tier", "visits", INT4OID},
	{"member_tier", "points", INT8OID},
	{"member_tier", "override_tier_id", INT4OID},
	{"member_tier", "override_until", TIMESTAMPTZOID},
	{"tier_change", "member_id", INT8OID},
	{"tier_change", "from_tier_id", INT4OID},
	{"tier_change", "to_tier_id", INT4OID},
	{"tier_change", "changed_at", TIMESTAMPTZOID},
	{"tier_change", "cause", TEXTOID},
	{"tier_change", "sale_id", INT8OID},
	{"tier_day", "member_id", INT8OID},
	{"tier_day", "day", DATEOID},
	{"tier_day", "spend", NUMERICOID},
	{"tier_day", "points", INT8OID},
	{"sale", "sale_id", INT8OID},
	{"sale", "store", TEXTOID},
	{"sale", "pos_txn", TEXTOID},
	{"sale", "card", InvalidOid},
	{"sale", "occurred_at", TIMESTAMPTZOID},
	{"sale", "total", NUMERICOID},
	{"sale", "lines", JSONBOID},
	{"sale", "return_of", INT8OID},
	{"sale", "member_id", INT8OID},
	{"sale", "points_earned", INT8OID},
	{"sale", "points_pending", INT8OID},
	{"sale", "entry_id", INT8OID},
	{"sale", "award", JSONBOID},
	{"sale", "recorded_at", TIMESTAMPTZOID},
	{"sale", "tier", TEXTOID},
	{"sale", "vouchers_issued", TEXTARRAYOID},
	{"segment_member", "member_id", INT8OID},
	{"segment_member", "segment_id", INT8OID},
	{"segment_member", "exited_on", DATEOID},
	{"hold", "member_id", INT8OID},
	{"hold", "hold_id", INT8OID},
	{"hold", "store", TEXTOID},
	{"hold", "pos_txn", TEXTOID},
	{"hold", "points", INT8OID},
	{"hold", "status", TEXTOID},
	{"hold", "expires_at", TIMESTAMPTZOID},
	{"hold", "closed_at", TIMESTAMPTZOID},
	{"hold", "captured", INT8OID},
	{"hold", "captured_value", NUMERICOID},
	{"hold", "redemption_id", INT8OID},
	{"hold", "lot_ids", INT8ARRAYOID},
	{"hold", "lot_points", INT8ARRAYOID},
};

/* tables whose column types were checked since their last invalidation */
#define MAX_CHECKED_TABLES 24
static Oid	checked_tables[MAX_CHECKED_TABLES];
static int	nchecked_tables = 0;
static bool checked_callback_registered = false;

static void
CheckedTypesCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid)
	{
		nchecked_tables = 0;
		return;
	}
	for (int i = 0; i < nchecked_tables; i++)
		if (checked_tables[i] == relid)
		{
			checked_tables[i] = checked_tables[--nchecked_tables];
			return;
		}
}

/*
 * LY070 when a column of rel the extension reads or writes has a type other
 * than the one the extension gave it.  Checked once per relcache entry.
 */
void
LoyaltyCheckColumnTypes(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	const char *table = RelationGetRelationName(rel);
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < nchecked_tables; i++)
		if (checked_tables[i] == relid)
			return;
	if (!checked_callback_registered)
	{
		CacheRegisterRelcacheCallback(CheckedTypesCallback, (Datum) 0);
		checked_callback_registered = true;
	}
	for (size_t k = 0; k < lengthof(column_types); k++)
	{
		const LoyaltyColumnType *ct = &column_types[k];

		if (strcmp(ct->table, table) != 0)
			continue;
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			bool		ok;

			if (att->attisdropped || strcmp(NameStr(att->attname), ct->column) != 0)
				continue;
			if (ct->type == InvalidOid)
				ok = att->attlen == sizeof(int64) && att->attbyval;
			else
				ok = att->atttypid == ct->type ||
					(IsBinaryCoercible(att->atttypid, ct->type) &&
					 IsBinaryCoercible(ct->type, att->atttypid));
			if (!ok)
				ereport(ERROR,
						(errcode(ERRCODE_LOYALTY_MISSING_COLUMN),
						 errmsg("column \"%s\" of table loyalty.%s has type %s", ct->column, table,
								format_type_be(att->atttypid)),
						 errdetail("The loyalty extension reads and writes this column as %s.",
								   ct->type == InvalidOid ? "loyalty.card" : format_type_be(ct->type)),
						 errhint("Give the column back its type.")));
			break;
		}
	}
	if (nchecked_tables < MAX_CHECKED_TABLES)
		checked_tables[nchecked_tables++] = relid;
}

/* LoyaltyColumn of an open relation. */
AttrNumber
LoyaltyRelColumn(Relation rel, const char *column)
{
	return LoyaltyColumn(RelationGetDescr(rel), RelationGetRelationName(rel), column);
}

/* ---------- reading rows by an index, without SPI ---------- */

/*
 * Table (or index) loyalty.<name>, opened with `mode` and kept open for the
 * rest of the statement, like the writers: do not close it.
 */
Relation
LoyaltyOpen(const char *name, bool is_index, LOCKMODE mode)
{
	ResourceOwner save_owner;
	Relation	rel;
	Oid			relid;

	StartWriters();
	for (int i = 0; i < nreaders; i++)
		if (readers[i].is_index == is_index && readers[i].mode == mode &&
			strcmp(readers[i].name, name) == 0)
			return readers[i].rel;
	relid = get_relname_relid(name, get_namespace_oid("loyalty", false));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation loyalty.%s does not exist", name),
				 errhint("The loyalty extension reads it without SQL; create it again as the extension's script does.")));
	save_owner = CurrentResourceOwner;
	CurrentResourceOwner = writer_owner;
	rel = is_index ? index_open(relid, mode) : table_open(relid, mode);
	CurrentResourceOwner = save_owner;
	if (!is_index)
		LoyaltyCheckColumnTypes(rel);
	if (nreaders < MAX_READERS)
	{
		strlcpy(readers[nreaders].name, name, NAMEDATALEN);
		readers[nreaders].is_index = is_index;
		readers[nreaders].mode = mode;
		readers[nreaders].rel = rel;
		nreaders++;
	}
	else
		elog(ERROR, "too many relations open on the sale path");
	return rel;
}

/*
 * An index scan of loyalty.<relname>'s btree index <index> for the given
 * keys (column of the index, btree strategy, value), as `snapshot` sees it.
 * The caller holds a lock on the table and ends the scan with
 * LoyaltyIndexScanEnd; the index stays open for the statement (LoyaltyOpen).
 */
IndexScanDesc
LoyaltyIndexScan(Relation rel, const char *index, int nkeys, const LoyaltyKey *keys,
				 Snapshot snapshot)
{
	Relation	idx = LoyaltyOpen(index, true, AccessShareLock);
	ScanKeyData skey[INDEX_MAX_KEYS];
	IndexScanDesc scan;

	Assert(nkeys <= INDEX_MAX_KEYS);
	for (int i = 0; i < nkeys; i++)
	{
		int			col = keys[i].column - 1;
		Oid			type = idx->rd_opcintype[col];
		Oid			op = get_opfamily_member(idx->rd_opfamily[col], type, type, keys[i].strategy);

		if (!OidIsValid(op))
			elog(ERROR, "index %s has no operator of strategy %d for column %d",
				 index, keys[i].strategy, keys[i].column);
		ScanKeyInit(&skey[i], keys[i].column, keys[i].strategy, get_opcode(op), keys[i].value);
		skey[i].sk_collation = idx->rd_indcollation[col];
	}
	scan = index_beginscan(rel, idx, snapshot, nkeys, 0);
	index_rescan(scan, skey, nkeys, NULL, 0);
	return scan;
}

void
LoyaltyIndexScanEnd(IndexScanDesc scan)
{
	index_endscan(scan);
}

/*
 * The row of a unique index whose leading columns equal keys, as `snapshot`
 * sees it; false when there is none.  The slot is of the table
 * (table_slot_create).
 */
bool
LoyaltyFetchByKey(Relation rel, const char *index, int nkeys, const Datum *keys,
				  Snapshot snapshot, TupleTableSlot *slot)
{
	LoyaltyKey	k[INDEX_MAX_KEYS];
	IndexScanDesc scan;
	bool		found;

	for (int i = 0; i < nkeys; i++)
	{
		k[i].column = i + 1;
		k[i].strategy = BTEqualStrategyNumber;
		k[i].value = keys[i];
	}
	scan = LoyaltyIndexScan(rel, index, nkeys, k, snapshot);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	LoyaltyIndexScanEnd(scan);
	return found;
}

/*
 * Lock the row in slot (found with snapshot) FOR NO KEY UPDATE, as the
 * executor's LockRows would: in READ COMMITTED, waiting if need be and then
 * holding the latest version (which the slot then has); in REPEATABLE READ a
 * version newer than the snapshot is a serialization failure (40001).  With
 * LockWaitSkip, false when another transaction holds the row.
 */
bool
LoyaltyLockRow(Relation rel, TupleTableSlot *slot, Snapshot snapshot, LockWaitPolicy wait)
{
	TM_FailureData tmfd;
	TM_Result	res;
	HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, false, NULL);

	/*
	 * A version this transaction wrote is ours already: no other transaction
	 * can update the row before we end (a back-fill updates each member's
	 * row many times; each lock would be one more WAL record).
	 */
	if (TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmin(tuple->t_data)) &&
		!HeapTupleHeaderXminInvalid(tuple->t_data))
		return true;
	res = table_tuple_lock(rel, &slot->tts_tid, snapshot, slot, GetCurrentCommandId(true),
						   LockTupleNoKeyExclusive, wait,
						   IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
						   &tmfd);
	switch (res)
	{
		case TM_Ok:
			return true;
		case TM_WouldBlock:
			return false;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			elog(ERROR, "row of loyalty.%s was %s concurrently", RelationGetRelationName(rel),
				 res == TM_Updated ? "updated" : "deleted");
			break;
		default:
			elog(ERROR, "unexpected result %d locking a row of loyalty.%s", (int) res,
				 RelationGetRelationName(rel));
	}
	return false;
}

/*
 * Push the snapshot a look-up reads with, as SPI would for the query: for a
 * read-write caller, this transaction's changes made visible and then a new
 * snapshot in READ COMMITTED (the transaction's in REPEATABLE READ), so that
 * what committed while we waited for a lock, and earlier rows of this same
 * INSERT, count; for a read-only one (a quote), the caller's.  The caller
 * pops it.
 */
void
LoyaltyPushReadSnapshot(bool read_only)
{
	if (read_only)
		PushActiveSnapshot(GetActiveSnapshot());
	else
	{
		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
	}
}
