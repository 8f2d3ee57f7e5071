/*
 * segment.c -- the C half of segments (src/sql/segment.sql).
 *
 * A segment's predicate is SQL an admin writes.  loyalty.segment_predicate_check
 * makes sure it is one expression and nothing more: the text wrapped as
 * "SELECT (\n predicate \n)" must parse as one plain SELECT of one unnamed
 * target, with no FROM, WHERE, set operation or any other clause, so that a
 * closing parenthesis, a second statement or a comment cannot reach out of
 * the place the predicate is put in.  The segment_check trigger then plans
 * it over loyalty.member_features (names, types, EXECUTE privileges).
 *
 * loyalty.segment_hits evaluates a segment's predicate over a table of
 * features (refresh_segments' temporary table) as the segment's run_as role
 * -- the role that wrote its predicate -- in a security-restricted
 * operation, as PostgreSQL runs index expressions during maintenance: the
 * predicate cannot SET ROLE or SET SESSION AUTHORIZATION back to the
 * caller, and every setting it changes is undone.  So a predicate never runs
 * with more privileges than the role that wrote it, whoever refreshes.
 *
 * On the sale path, LoyaltyMemberSegments reads the segments a member is in
 * now by one probe of segment_member_current_idx, without SPI; the rules
 * engine asks only when it meets a rule with segments.
 */
#include "segment.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

static void PredicateRefused(const char *predicate, const char *why) pg_attribute_noreturn();

static void
PredicateRefused(const char *predicate, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOYALTY_INVALID_PREDICATE),
			 errmsg("segment predicate is not one expression: \"%s\"", predicate),
			 errdetail("%s", why),
			 errhint("Write one boolean expression over the columns of loyalty.member_features, without a semicolon, a clause or a comment around it.")));
}

/*
 * LY063 unless predicate is one SQL expression; a syntax error is the
 * parser's (42601).  Parsed, never run.
 */
static void
CheckPredicate(const char *predicate)
{
	List	   *tree = raw_parser(psprintf("SELECT (\n%s\n)", predicate), RAW_PARSE_DEFAULT);
	SelectStmt *sel;

	if (list_length(tree) != 1)
		PredicateRefused(predicate, "It ends one statement and begins another.");
	sel = (SelectStmt *) linitial_node(RawStmt, tree)->stmt;
	if (!IsA(sel, SelectStmt) || sel->op != SETOP_NONE || sel->valuesLists != NIL ||
		sel->withClause != NULL || sel->intoClause != NULL)
		PredicateRefused(predicate, "It closes the expression and adds a query of its own.");
	if (list_length(sel->targetList) != 1 ||
		((ResTarget *) linitial(sel->targetList))->name != NULL)
		PredicateRefused(predicate, "It is a list of expressions, or names its expression.");
	if (sel->fromClause != NIL || sel->whereClause != NULL || sel->groupClause != NIL ||
		sel->havingClause != NULL || sel->windowClause != NIL || sel->sortClause != NIL ||
		sel->limitCount != NULL || sel->limitOffset != NULL || sel->lockingClause != NIL ||
		sel->distinctClause != NIL)
		PredicateRefused(predicate, "It closes the expression and adds a clause of its own.");
}

/*
 * loyalty.segment_predicate_check(predicate text): LY063 (or the parser's
 * 42601) unless the text is one expression; for the segment_check trigger.
 */
PG_FUNCTION_INFO_V1(loyalty_segment_predicate_check);
Datum
loyalty_segment_predicate_check(PG_FUNCTION_ARGS)
{
	CheckPredicate(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

/* The segment's predicate, program code and run_as role.  Inside SPI. */
static void
ReadSegment(int64 segment_id, char **predicate, char **program, Oid *run_as)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(segment_id)};
	bool		isnull;

	if (SPI_execute_with_args("SELECT s.predicate, p.code, s.run_as::pg_catalog.oid "
							  "FROM loyalty.segment s JOIN loyalty.program p "
							  "ON p.program_id OPERATOR(pg_catalog.=) s.program_id "
							  "WHERE s.segment_id OPERATOR(pg_catalog.=) $1",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read segment " INT64_FORMAT, segment_id);
	if (SPI_processed != 1)
		elog(ERROR, "segment " INT64_FORMAT " does not exist", segment_id);
	*predicate = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	*program = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	*run_as = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
}

/* LY068 unless run_as exists and the current user has its privileges. */
static void
CheckRunAs(int64 segment_id, Oid run_as)
{
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(run_as)))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_SEGMENT_ROLE),
				 errmsg("the role that wrote segment " INT64_FORMAT " no longer exists", segment_id),
				 errdetail("A predicate is evaluated as the role that wrote it."),
				 errhint("Write the predicate again (UPDATE it) as a role that exists.")));
	if (!has_privs_of_role(GetUserId(), run_as))
		ereport(ERROR,
				(errcode(ERRCODE_LOYALTY_SEGMENT_ROLE),
				 errmsg("role %s may not evaluate the predicate of segment " INT64_FORMAT " as role %s",
						GetUserNameFromId(GetUserId(), false), segment_id,
						GetUserNameFromId(run_as, false)),
				 errdetail("Only loyalty.refresh_segments evaluates predicates.")));
}

/*
 * loyalty.segment_hits(features regclass, segment_id bigint) -> bigint[]:
 * the member_id of every row of features of the segment's program, not
 * closed, whose predicate is true, evaluated as the segment's run_as role in
 * a security-restricted operation (with search_path pg_catalog, pg_temp, and
 * every setting the predicate changes undone).
 */
PG_FUNCTION_INFO_V1(loyalty_segment_hits);
Datum
loyalty_segment_hits(PG_FUNCTION_ARGS)
{
	Oid			features = PG_GETARG_OID(0);
	int64		segment_id = PG_GETARG_INT64(1);
	char	   *predicate;
	char	   *program;
	char	   *query;
	Oid			run_as;
	Oid			save_userid;
	int			save_sec;
	int			nest;
	Datum	   *ids;
	int			n = 0;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	if (get_rel_name(features) == NULL)
		elog(ERROR, "relation %u does not exist", features);
	query = quote_qualified_identifier(get_namespace_name(get_rel_namespace(features)),
									   get_rel_name(features));
	SPI_connect();
	ReadSegment(segment_id, &predicate, &program, &run_as);
	CheckPredicate(predicate);
	CheckRunAs(segment_id, run_as);
	query = psprintf("SELECT q.member_id FROM (SELECT f.member_id, (\n%s\n) AS hit FROM %s f "
					 "WHERE f.program_code OPERATOR(pg_catalog.=) $1 "
					 "AND f.status OPERATOR(pg_catalog.<>) 'closed') q WHERE q.hit",
					 predicate, query);
	values[0] = CStringGetTextDatum(program);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(run_as, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_execute_with_args(query, 1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not evaluate segment " INT64_FORMAT, segment_id);
	AtEOXact_GUC(false, nest);
	SetUserIdAndSecContext(save_userid, save_sec);

	ids = SPI_palloc(sizeof(Datum) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			ids[n++] = d;
	}
	SPI_finish();
	PG_RETURN_ARRAYTYPE_P(construct_array(ids, n, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE));
}

/*
 * One look-up, without SPI, of a member's rows in a membership table
 * (segment_member, audience_member) by an index whose first column is
 * member_id, narrowed by its second column to one group when group_id is
 * given: fn sees each row, as a new snapshot sees them (a quote: the
 * caller's), until it returns false.  The segment and audience checks of
 * the sale path share it.
 */
void
LoyaltyProbeMembership(const char *table, const char *index, int64 member_id,
					   const int64 *group_id, bool read_only,
					   LoyaltyMembershipRow fn, void *arg)
{
	Relation	rel = LoyaltyOpen(table, false, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	LoyaltyKey	keys[2] = {
		{1, BTEqualStrategyNumber, Int64GetDatum(member_id)},
		{2, BTEqualStrategyNumber, Int64GetDatum(group_id ? *group_id : 0)},
	};
	IndexScanDesc scan;

	LoyaltyPushReadSnapshot(read_only);
	scan = LoyaltyIndexScan(rel, index, group_id ? 2 : 1, keys, GetActiveSnapshot());
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
		if (!fn(rel, slot, arg))
			break;
	LoyaltyIndexScanEnd(scan);
	PopActiveSnapshot();
	ExecDropSingleTupleTableSlot(slot);
}

/* A segment_member row: its segment, when the member has not exited it. */
static bool
CollectSegment(Relation rel, TupleTableSlot *slot, void *arg)
{
	MemberSegments *ms = arg;
	bool		isnull;
	Datum		segment = slot_getattr(slot, LoyaltyRelColumn(rel, "segment_id"), &isnull);

	slot_getattr(slot, LoyaltyRelColumn(rel, "exited_on"), &isnull);
	if (!isnull)
		return true;
	if (ms->n % 8 == 0)
		ms->ids = ms->ids ? repalloc(ms->ids, sizeof(int64) * (ms->n + 8)) : palloc(sizeof(int64) * 8);
	ms->ids[ms->n++] = DatumGetInt64(segment);
	return true;
}

/*
 * The segments member_id is in now (segment_member rows with exited_on
 * NULL), by segment_member_current_idx, as a new snapshot sees them (a
 * quote: the caller's).  No SPI.
 */
void
LoyaltyMemberSegments(int64 member_id, bool read_only, MemberSegments *ms)
{
	ms->n = 0;
	ms->ids = NULL;
	LoyaltyProbeMembership("segment_member", "segment_member_current_idx", member_id, NULL,
						   read_only, CollectSegment, ms);
	ms->known = true;
}

/* Whether the member's segments include any of ids[0 .. n). */
bool
LoyaltyInAnySegment(const MemberSegments *ms, const int64 *ids, int n)
{
	for (int i = 0; i < n; i++)
		for (int k = 0; k < ms->n; k++)
			if (ms->ids[k] == ids[i])
				return true;
	return false;
}
