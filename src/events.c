/*
 * events.c -- the outbox: one row per event (an award, a reversal, a tier
 * change) in the transaction that makes it, and a NOTIFY for its consumer.
 *
 * The NOTIFY of an event is a wake-up for the outbox's consumer, with no
 * payload: any role can LISTEN on a channel, so it carries no member data
 * (the outbox is access-controlled), and PostgreSQL sends a transaction's
 * identical notifications once, however many events it makes.
 */
#include "loyalty.h"

#include "catalog/pg_type.h"
#include "commands/async.h"
#include "utils/builtins.h"
#include "miscadmin.h"
#include "utils/datetime.h"

#define EVENTS_CHANNEL	"loyalty_events"

static LoyaltyPlan outbox_plan = {
	"INSERT INTO loyalty.outbox (member_id, kind, payload) VALUES ($1, $2, $3)",
	3, {INT8OID, TEXTOID, JSONBOID}
};

/*
 * Write an event of kind with its jsonb payload to loyalty.outbox (without
 * SQL unless a DBA gave the outbox a trigger of its own) and wake the
 * consumer when loyalty.notify is on.  member_id 0: an event of no member
 * (a bearer voucher's), member_id NULL.  Inside SPI.
 */
void
LoyaltyEmitEvent(const char *kind, int64 member_id, Datum payload)
{
	Datum		v[3];

	v[0] = Int64GetDatum(member_id);
	v[1] = CStringGetTextDatum(kind);
	v[2] = payload;
	if (LoyaltyWriterDirect(LOYALTY_OUTBOX))
	{
		LoyaltyRow *row = LoyaltyRowBegin(LOYALTY_OUTBOX);

		LoyaltyRowSet(row, "member_id", v[0], member_id == 0);
		LoyaltyRowSet(row, "kind", v[1], false);
		LoyaltyRowSet(row, "payload", v[2], false);
		LoyaltyRowInsert(row);
	}
	else
		LoyaltyExecute(&outbox_plan, v, member_id == 0 ? "n  " : NULL, false, 0);
	if (loyalty_notify)
		Async_Notify(EVENTS_CHANNEL, "");
}

/*
 * A moment as text in UTC, whatever the session's TimeZone and DateStyle:
 * ISO 8601 with a space (an award's reasons) or with a T (xsd: an event's
 * payload, "2025-01-02T09:00:00+00:00").
 */
char *
LoyaltyUtcText(TimestampTz t, bool xsd)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char		buf[MAXDATELEN + 1];

	if (TIMESTAMP_NOT_FINITE(t))
		EncodeSpecialTimestamp(t, buf);
	else if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	else
	{
		tm.tm_isdst = 0;		/* UTC: print its offset, +00 */
		EncodeDateTime(&tm, fsec, true, 0, NULL, xsd ? USE_XSD_DATES : USE_ISO_DATES, buf);
	}
	return pstrdup(buf);
}
