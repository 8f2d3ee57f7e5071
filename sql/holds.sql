-- Tender holds: every state transition (open -> captured / voided /
-- expired), every refusal, idempotent retries, the lazy release of a hold
-- past its expiry, sweep_holds, and held points against lot expiry.
-- Balances are computed by hand in the comments.
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;

-- 'ok' or the error; a hold_id (random) in the message is shown as the
-- hold's [pos_txn]
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	msg text;
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	msg := SQLSTATE || ': ' || SQLERRM;
	IF has_table_privilege('loyalty.hold', 'SELECT') THEN
		msg := COALESCE((SELECT replace(msg, 'hold ' || h.hold_id, 'hold [' || h.pos_txn || ']')
						   FROM loyalty.hold h WHERE h.hold_id = substring(msg FROM 'hold (\d+)')::bigint), msg);
	END IF;
	RETURN msg;
END
$$;
-- available / held / lifetime_redeemed / expired of a card
CREATE FUNCTION pg_temp.bal(c loyalty.card) RETURNS text
LANGUAGE sql AS $$
	SELECT format('available %s, held %s, redeemed %s, expired %s, value %s',
				  available, held, lifetime_redeemed, expired, value)
	  FROM loyalty.balance(c)
$$;

INSERT INTO loyalty.program (code) VALUES ('h');
SELECT hold_minutes FROM loyalty.program WHERE code = 'h';
SELECT loyalty.enroll(loyalty.card_issue('41', 1), 'h') IS NOT NULL AS a;
SELECT loyalty.enroll(loyalty.card_issue('41', 2), 'h') IS NOT NULL AS b;
SELECT loyalty.card_issue('41', 1) AS a \gset
SELECT loyalty.card_issue('41', 2) AS b \gset
-- two lots: 1000 then 500 (no expiry: taken in lot order)
SELECT points FROM loyalty.earn(:'a', 1000, 'k1');
SELECT points FROM loyalty.earn(:'a', 500, 'k2');

-- authorize: 300 held, taken from the first lot; available 1500 - 300 = 1200
SELECT hold_id AS h1, points, value, currency, status, expires_at - authorized_at AS lasts,
	   pg_catalog.cardinality(lot_ids) AS lots, lot_points
  FROM loyalty.authorize(:'a', 300, 'S1', 'T1') \gset
SELECT :'points' AS points, :'value' AS value, :'currency' AS currency, :'status' AS status,
	   :'lasts' AS lasts, :'lots' AS lots, :'lot_points' AS lot_points;
SELECT pg_temp.bal(:'a');
SELECT l.remaining FROM loyalty.lot l WHERE l.member_id = loyalty.member_id(:'a') ORDER BY l.lot_id;
SELECT held, net FROM loyalty.member_balance WHERE member_id = loyalty.member_id(:'a');
-- a retry returns the same hold, and holds nothing more
SELECT hold_id = :h1 AS same_hold, status FROM loyalty.authorize(:'a', 300, 'S1', 'T1');
SELECT pg_temp.bal(:'a');

SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('authorize: same key, other points', format($$SELECT loyalty.authorize(%L, 301, 'S1', 'T1')$$, :'a')),
  ('authorize: same key, other card',   format($$SELECT loyalty.authorize(%L, 300, 'S1', 'T1')$$, :'b')),
  ('authorize: more than available',    format($$SELECT loyalty.authorize(%L, 1201, 'S1', 'T2')$$, :'a')),
  ('redeem: held points are not there', format($$SELECT loyalty.redeem(%L, 1201, 'S1', 'R0')$$, :'a')),
  ('redeem: the key of an open hold',  format($$SELECT loyalty.redeem(%L, 5, 'S1', 'T1')$$, :'a')),
  ('authorize: no points',              format($$SELECT loyalty.authorize(%L, 0, 'S1', 'T2')$$, :'a')),
  ('authorize: NULL points',            format($$SELECT loyalty.authorize(%L, NULL, 'S1', 'T2')$$, :'a')),
  ('authorize: NULL card',              $$SELECT loyalty.authorize(NULL, 1, 'S1', 'T2')$$),
  ('authorize: empty store',            format($$SELECT loyalty.authorize(%L, 1, '', 'T2')$$, :'a')),
  ('authorize: unknown card',           $$SELECT loyalty.authorize(loyalty.card_issue('41', 9), 1, 'S1', 'T2')$$),
  ('capture: unknown hold',             $$SELECT loyalty.capture(999999)$$),
  ('capture: NULL hold',                $$SELECT loyalty.capture(NULL)$$),
  ('void: unknown hold',                $$SELECT loyalty.void(999999)$$),
  ('void: NULL hold',                   $$SELECT loyalty.void(NULL)$$),
  ('capture: more than held',           format($$SELECT loyalty.capture(%s, 301)$$, :h1)),
  ('capture: no points',                format($$SELECT loyalty.capture(%s, 0)$$, :h1))
) AS t(what, statement);
-- nothing was written by the refusals
SELECT pg_temp.bal(:'a');
SELECT count(*) AS holds FROM loyalty.hold;

-- a redemption beside the hold: 200 of the 1200 available
SELECT points FROM loyalty.redeem(:'a', 200, 'S1', 'R1');
SELECT pg_temp.bal(:'a');

-- capture less than held: 200 spent, 100 back; net 1500 - 200 - 200 = 1100, all available
SELECT status, points, captured, captured_value, redemption_id IS NOT NULL AS posted, closed_at IS NOT NULL AS closed
  FROM loyalty.capture(:h1, 200);
SELECT pg_temp.bal(:'a');
SELECT kind, points, source, store, pos_txn, value, lot_points
  FROM loyalty.ledger WHERE member_id = loyalty.member_id(:'a') AND kind = 'redeem' ORDER BY entry_id;
SELECT l.remaining FROM loyalty.lot l WHERE l.member_id = loyalty.member_id(:'a') ORDER BY l.lot_id;
-- retries: the same capture, posted once
SELECT redemption_id AS r1 FROM loyalty.hold WHERE hold_id = :h1 \gset
SELECT status, captured, redemption_id = :r1 AS same FROM loyalty.capture(:h1, 200);
SELECT status, captured, redemption_id = :r1 AS same FROM loyalty.capture(:h1);
SELECT count(*) AS redeem_entries FROM loyalty.ledger WHERE kind = 'redeem';
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('capture retried with other points', format($$SELECT loyalty.capture(%s, 250)$$, :h1)),
  ('void after capture',                format($$SELECT loyalty.void(%s)$$, :h1)),
  ('authorize with a redeemed key',     format($$SELECT loyalty.authorize(%L, 5, 'S1', 'R1')$$, :'a'))
) AS t(what, statement);

-- void: an abandoned basket; the 100 come back (available 1100 again)
SELECT hold_id AS h3 FROM loyalty.authorize(:'a', 100, 'S1', 'T3') \gset
SELECT pg_temp.bal(:'a');
SELECT status, captured, redemption_id FROM loyalty.void(:h3);
SELECT pg_temp.bal(:'a');
SELECT status FROM loyalty.void(:h3);
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('capture after void',         format($$SELECT loyalty.capture(%s)$$, :h3)),
  ('capture after void, points', format($$SELECT loyalty.capture(%s, 100)$$, :h3)),
  ('a retried authorize: ok, the voided hold',  format($$SELECT loyalty.authorize(%L, 100, 'S1', 'T3')$$, :'a'))
) AS t(what, statement);
SELECT pg_temp.bal(:'a');

-- capture of everything held (points NULL): available 1100 - 100 = 1000
SELECT hold_id AS h4 FROM loyalty.authorize(:'a', 100, 'S1', 'T4') \gset
SELECT status, points, captured FROM loyalty.capture(:h4);
SELECT pg_temp.bal(:'a');
SELECT count(*) AS broken FROM loyalty.check_invariants();

-- lazy expiry: a hold past its expiry counts as released at once
SELECT hold_id AS h5 FROM loyalty.authorize(:'a', 400, 'S1', 'T5') \gset
SELECT pg_temp.bal(:'a');
-- (the passage of hold_minutes, simulated)
UPDATE loyalty.hold SET expires_at = now() - interval '1 minute' WHERE hold_id = :h5;
SELECT pg_temp.bal(:'a');
SELECT h.status, b.held FROM loyalty.hold h JOIN loyalty.member_balance b USING (member_id) WHERE hold_id = :h5;
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('capture of an expired hold', format($$SELECT loyalty.capture(%s)$$, :h5))
) AS t(what, statement);
SELECT count(*) AS broken FROM loyalty.check_invariants();
-- a redemption of all 1000 needs the 400: it releases the hold first
SELECT points FROM loyalty.redeem(:'a', 1000, 'S1', 'R2');
SELECT h.status, b.held FROM loyalty.hold h JOIN loyalty.member_balance b USING (member_id) WHERE hold_id = :h5;
SELECT pg_temp.bal(:'a');
SELECT kind, payload->>'hold_id' = :'h5' AS h5, payload->>'points' AS points, payload->>'pos_txn' AS pos_txn
  FROM loyalty.outbox WHERE kind = 'hold_expired' ORDER BY event_id;
-- void of an expired hold: it stays expired, no error
SELECT status FROM loyalty.void(:h5);

-- an authorize releases lapsed holds too: 500 earned, 500 held, lapsed, 500 held again
SELECT points FROM loyalty.earn(:'a', 500, 'k3');
SELECT hold_id AS h6 FROM loyalty.authorize(:'a', 500, 'S1', 'T6') \gset
UPDATE loyalty.hold SET expires_at = now() - interval '1 minute' WHERE hold_id = :h6;
SELECT points FROM loyalty.authorize(:'a', 500, 'S1', 'T7');
SELECT status FROM loyalty.hold WHERE hold_id = :h6;
SELECT pg_temp.bal(:'a');
-- and a void of a hold that expired unreleased releases it as expired (event)
SELECT hold_id AS h7 FROM loyalty.hold WHERE pos_txn = 'T7' \gset
UPDATE loyalty.hold SET expires_at = now() - interval '1 minute' WHERE hold_id = :h7;
SELECT status FROM loyalty.void(:h7);
SELECT pg_temp.bal(:'a');

-- sweep_holds: releases every lapsed hold, one event each; again: nothing
SELECT hold_id AS h8 FROM loyalty.authorize(:'a', 100, 'S1', 'T8') \gset
SELECT hold_id AS h9 FROM loyalty.authorize(:'a', 50, 'S1', 'T9') \gset
SELECT hold_id AS h10 FROM loyalty.authorize(:'a', 25, 'S1', 'T10') \gset
UPDATE loyalty.hold SET expires_at = now() - interval '1 minute' WHERE hold_id IN (:h8, :h9);
SELECT pg_temp.bal(:'a');
SELECT * FROM loyalty.sweep_holds();
SELECT * FROM loyalty.sweep_holds();
SELECT pos_txn, status FROM loyalty.hold WHERE hold_id IN (:h8, :h9, :h10) ORDER BY authorized_at;
SELECT payload->>'pos_txn' AS pos_txn, payload->>'points' AS points
  FROM loyalty.outbox WHERE kind = 'hold_expired' ORDER BY event_id;
SELECT pg_temp.bal(:'a');
SELECT count(*) AS broken FROM loyalty.check_invariants();

-- held points and lot expiry (program x: points expire a day after they are
-- earned).  Member c: 100 expiring in 3 seconds, 50 a day from now; member
-- d: 100 expiring in 3 seconds.
INSERT INTO loyalty.program (code, expiry_after) VALUES ('x', interval '1 day');
SELECT loyalty.card_issue('41', 3) AS c \gset
SELECT loyalty.card_issue('41', 4) AS d \gset
SELECT loyalty.enroll(:'c', 'x', enrolled_at => now() - interval '2 days') IS NOT NULL AS c;
SELECT loyalty.enroll(:'d', 'x', enrolled_at => now() - interval '2 days') IS NOT NULL AS d;
SELECT points FROM loyalty.earn(:'c', 100, 'c1', effective_at => clock_timestamp() - interval '1 day' + interval '3 seconds');
SELECT points FROM loyalty.earn(:'c', 50, 'c2');
SELECT points FROM loyalty.earn(:'d', 100, 'd1', effective_at => clock_timestamp() - interval '1 day' + interval '3 seconds');
-- c holds 120: 100 from the lot expiring soonest, 20 from the other
SELECT hold_id AS hc, lot_points FROM loyalty.authorize(:'c', 120, 'S2', 'X1') \gset
SELECT :'lot_points' AS lot_points;
SELECT hold_id AS hd FROM loyalty.authorize(:'d', 100, 'S2', 'X2') \gset
SELECT pg_sleep(3.5);
-- the first lots are past their expiry, but their points are held: nothing expires
SELECT * FROM loyalty.expire_points();
SELECT pg_temp.bal(:'c');
SELECT pg_temp.bal(:'d');
-- c captures 10 (from the expired lot); 90 go back to it and 20 to the other:
-- net 150 - 10 = 140, of which 90 sit in a lot past its expiry: available 50, expired 90
SELECT status, captured, lot_points FROM loyalty.capture(:hc, 10);
SELECT pg_temp.bal(:'c');
-- d's hold lapses: its 100 are back in a lot past its expiry, so they count as expired
UPDATE loyalty.hold SET expires_at = now() - interval '1 minute' WHERE hold_id = :hd;
SELECT pg_temp.bal(:'d');
SELECT * FROM loyalty.sweep_holds();
-- and expire_points now posts both: 90 of c, 100 of d
SELECT * FROM loyalty.expire_points();
SELECT pg_temp.bal(:'c');
SELECT pg_temp.bal(:'d');
SELECT kind, points FROM loyalty.ledger WHERE member_id IN (loyalty.member_id(:'c'), loyalty.member_id(:'d'))
 ORDER BY member_id, entry_id;
SELECT count(*) AS broken FROM loyalty.check_invariants();

-- check_invariants sees a held sum out of step with the open holds
BEGIN;
UPDATE loyalty.member_balance SET held = held + 1 WHERE member_id = loyalty.member_id(:'a');
SELECT invariant FROM loyalty.check_invariants() ORDER BY invariant;
ROLLBACK;
-- and a hold's lot points out of step with its lots
BEGIN;
UPDATE loyalty.hold SET lot_points = ARRAY[24] WHERE hold_id = :h10;
SELECT invariant FROM loyalty.check_invariants() ORDER BY invariant;
ROLLBACK;

-- hold ids are random positive numbers, not a sequence: a pos of another
-- store, without the card, walking the ids from 1 finds no hold (on a
-- sequence it voided the first store's open hold and read a closed one),
-- and cannot read them from the table either
CREATE ROLE regress_hold_walker;
SELECT loyalty.grant_access('regress_hold_walker', 'pos');
SELECT count(*) AS holds, count(*) FILTER (WHERE hold_id > 0) AS positive FROM loyalty.hold;
SELECT status, count(*) FROM loyalty.hold GROUP BY status ORDER BY status;
SET ROLE regress_hold_walker;
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('void(1)',        $$SELECT loyalty.void(1)$$),
  ('void(2)',        $$SELECT loyalty.void(2)$$),
  ('capture(1)',     $$SELECT loyalty.capture(1)$$),
  ('capture(2, 1)',  $$SELECT loyalty.capture(2, 1)$$),
  ('read the holds', $$SELECT hold_id FROM loyalty.hold$$)
) AS t(what, statement);
RESET ROLE;
-- nothing changed
SELECT status, count(*) FROM loyalty.hold GROUP BY status ORDER BY status;
DROP OWNED BY regress_hold_walker;
DROP ROLE regress_hold_walker;

-- holds and redemptions keep no lock per (store, pos_txn) (txn_key.c waits
-- for a racing writer and keeps nothing), so a transaction of many of them
-- does not fill the lock table: as many locks after 40 more of each as after
-- the first two (the second authorize of a member with points held opens
-- the hold's indexes: one lock each, once)
SELECT points FROM loyalty.earn(:'b', 1000, 'kb');
BEGIN;
SELECT points FROM loyalty.redeem(:'b', 1, 'S3', 'L0');
SELECT points FROM loyalty.authorize(:'b', 1, 'S3', 'LH0');
SELECT points FROM loyalty.redeem(:'b', 1, 'S3', 'L00');
SELECT points FROM loyalty.authorize(:'b', 1, 'S3', 'LH00');
SELECT count(*) AS locks FROM pg_locks WHERE pid = pg_backend_pid() \gset
SELECT count(*) FROM generate_series(1, 40) i, loyalty.redeem(:'b', 1, 'S3', 'L' || i);
SELECT count(*) FROM generate_series(1, 40) i, loyalty.authorize(:'b', 1, 'S3', 'LH' || i);
SELECT count(*) - :locks AS more_locks FROM pg_locks WHERE pid = pg_backend_pid();
ROLLBACK;
