/*
 * audience.c -- the C half of targeted offers (src/sql/audience.sql).
 *
 * An audience is a list of members of a program (loyalty.audience_member),
 * loaded in bulk, with an optional window and an optional opt-in ("clip the
 * coupon": the member counts only once clipped_at is set).  An earning rule
 * names one by code (rule.audience); the rule cache compiles the code into
 * the audience's id, opt_in and window (LoyaltyCompileAudience), and a
 * change to loyalty.audience recompiles the rules.  Membership is read at
 * each sale, never compiled: LoyaltyAudienceFails probes audience_member's
 * primary key (member_id, audience_id) once, without SPI, through the probe
 * segments use (LoyaltyProbeMembership), and only for a rule that names an
 * audience.  A voucher type can name an audience the same way.
 */
#include "audience.h"
#include "segment.h"

#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

/*
 * The audience columns of a configuration row (col .. col + 5, as
 * LOYALTY_AUDIENCE_COLUMNS selects them) into a, in the current context.
 * Inside SPI.
 */
void
LoyaltyCompileAudience(HeapTuple tup, TupleDesc desc, int col, LoyaltyAudienceRef *a)
{
	bool		isnull;
	Datum		d;

	memset(a, 0, sizeof(*a));
	a->named = DatumGetBool(SPI_getbinval(tup, desc, col, &isnull));
	if (isnull || !a->named)
	{
		a->named = false;
		return;
	}
	d = SPI_getbinval(tup, desc, col + 1, &isnull);
	a->exists = !isnull;
	a->audience_id = isnull ? 0 : DatumGetInt64(d);
	d = SPI_getbinval(tup, desc, col + 2, &isnull);
	a->opt_in = !isnull && DatumGetBool(d);
	d = SPI_getbinval(tup, desc, col + 3, &isnull);
	a->has_valid_from = !isnull;
	a->valid_from = isnull ? 0 : DatumGetTimestampTz(d);
	d = SPI_getbinval(tup, desc, col + 4, &isnull);
	a->has_valid_to = !isnull;
	a->valid_to = isnull ? 0 : DatumGetTimestampTz(d);
	a->code = SPI_getvalue(tup, desc, col + 5);
}

/* What the probe found: a row, and whether it is clipped. */
typedef struct AudienceProbe
{
	bool		found;
	bool		clipped;
} AudienceProbe;

/* The audience_member row found: whether the member clipped; one row is all. */
static bool
ReadAudienceRow(Relation rel, TupleTableSlot *slot, void *arg)
{
	AudienceProbe *p = arg;
	bool		isnull;

	p->found = true;
	slot_getattr(slot, LoyaltyRelColumn(rel, "clipped_at"), &isnull);
	p->clipped = !isnull;
	return false;
}

/*
 * NULL when member_id is in audience a (clipped, if it is opt-in) and `at`
 * is within its window; else why not, for the award's explanation.  No
 * audience named: NULL at no cost.  One probe of audience_member_pkey.
 */
char *
LoyaltyAudienceFails(const LoyaltyAudienceRef *a, int64 member_id, TimestampTz at, bool read_only)
{
	AudienceProbe p = {false, false};

	if (!a->named)
		return NULL;
	if (a->has_valid_from && at < a->valid_from)
		return psprintf("audience %s starts %s", a->code, LoyaltyUtcText(a->valid_from, false));
	if (a->has_valid_to && at >= a->valid_to)
		return psprintf("audience %s ended %s", a->code, LoyaltyUtcText(a->valid_to, false));
	if (a->exists)
		LoyaltyProbeMembership("audience_member", "audience_member_pkey", member_id,
							   &a->audience_id, read_only, ReadAudienceRow, &p);
	if (!p.found)
		return psprintf("not in audience %s", a->code);
	if (a->opt_in && !p.clipped)
		return psprintf("not clipped: audience %s is opt-in", a->code);
	return NULL;
}
