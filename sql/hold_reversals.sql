-- A reversal (a return, reverse, or a negative adjustment) while the
-- member's points are held takes the lots it would take without the hold,
-- the held points included (hold.taken).  Voided or expired, the hold gives
-- back only what it still keeps: the member ends exactly as without the
-- hold, lot by lot.  Captured, the hold's points the reversal took come
-- from the member's other points, as a debit that cannot be refused
-- (under 'truncate' what is missing is the redemption's shortfall, under
-- 'allow' the member's debt).  Every expected figure is worked out by hand
-- in the comments; members told "without the hold" get the same history
-- but no hold, and must end the same.
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;

CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
-- available / held / debt / net / the member's shortfall of a card
CREATE FUNCTION pg_temp.st(c loyalty.card) RETURNS text
LANGUAGE sql AS $$
	SELECT format('available %s, held %s, debt %s, net %s, shortfall %s',
				  x.available, x.held, x.debt, b.net, b.shortfall)
	  FROM loyalty.balance(c) x JOIN loyalty.member_balance b ON b.member_id = x.member_id
$$;
-- the member's ledger, oldest first: kind points/shortfall [lots taken or opened]
CREATE FUNCTION pg_temp.led(c loyalty.card) RETURNS text
LANGUAGE sql AS $$
	SELECT string_agg(format('%s %s/%s %s', kind, points, shortfall,
							 (SELECT string_agg(l.i || ':' || l.p, ',' ORDER BY l.i)
								FROM unnest(lot_ids, lot_points) l(i, p)
							   WHERE lot_ids IS DISTINCT FROM ARRAY[entry_id])), ', ' ORDER BY entry_id)
	  FROM loyalty.ledger WHERE member_id = loyalty.member_id(c)
$$;
-- the member's lots: lot:remaining, in lot order (the ids are the earn entries')
CREATE FUNCTION pg_temp.lots(c loyalty.card) RETURNS text
LANGUAGE sql AS $$
	SELECT string_agg(lot_id || ':' || remaining, ' ' ORDER BY lot_id)
	  FROM loyalty.lot WHERE member_id = loyalty.member_id(c)
$$;
CREATE FUNCTION pg_temp.card(n int) RETURNS loyalty.card
LANGUAGE sql AS $$ SELECT loyalty.card_issue('42', n) $$;

INSERT INTO loyalty.program (code) VALUES ('tr');			-- negative_balance 'truncate'
INSERT INTO loyalty.program (code, negative_balance, expiry_after) VALUES ('al', 'allow', '1 day');
INSERT INTO loyalty.program (code, expiry_after) VALUES ('te', '1 day');	-- 'truncate', with expiry
SELECT count(loyalty.enroll(pg_temp.card(n), 'tr')) FROM generate_series(1, 10) n;
SELECT count(loyalty.enroll(pg_temp.card(n), 'al')) FROM generate_series(11, 15) n;
SELECT count(loyalty.enroll(pg_temp.card(n), 'te')) FROM generate_series(21, 26) n;

-- 1. truncate: a sale of 100 earns 100, the till holds all of it, the sale
--    comes back, the till voids.  The return takes the sale's lot, held:
--    the hold has nothing left to give back.
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'R1', pg_temp.card(1), 100, '[{"sku":"A1","category":"x","qty":1,"amount":100}]')
RETURNING sale_id AS s1, points_earned \gset
SELECT hold_id AS h1 FROM loyalty.authorize(pg_temp.card(1), 100, 'S01', 'H1') \gset
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of)
VALUES ('S01', 'R2', pg_temp.card(1), 100, '[{"sku":"A1","category":"x","qty":1,"amount":100}]', :s1);
SELECT pg_temp.st(pg_temp.card(1)) AS "1 after the return";	-- available 0, held 0, debt 0, net 0
SELECT points, taken, lot_points FROM loyalty.hold WHERE hold_id = :h1;	-- 100, taken 100, {}
SELECT status, taken FROM loyalty.void(:h1);					-- voided, 100
SELECT pg_temp.st(pg_temp.card(1)) AS "1 after the void";		-- 0, 0, 0, net 0, shortfall 0
SELECT pg_temp.lots(pg_temp.card(1)) AS "1 lots";				-- the sale's lot: 0

-- 2. truncate: the same with reverse(), and the till captures all 100.
--    The capture finds no other points: all 100 are its shortfall.
SELECT entry_id AS e2 FROM loyalty.earn(pg_temp.card(2), 100, 'e2') \gset
SELECT hold_id AS h2 FROM loyalty.authorize(pg_temp.card(2), 100, 'S01', 'H2') \gset
SELECT points, shortfall FROM loyalty.reverse(pg_temp.card(2), :e2, 100, 'r2');	-- -100, 0
SELECT status, captured, taken FROM loyalty.capture(:h2);		-- captured 100, taken 100
SELECT pg_temp.st(pg_temp.card(2)) AS "2 after the capture";	-- available 0, held 0, debt 0, net 0, shortfall 100
SELECT pg_temp.led(pg_temp.card(2)) AS "2 ledger";				-- earn 100/0, reverse -100/0 e2:100, redeem 0/100

-- 3. truncate: capture 30 of 100 after a reversal of 100: 30 short.
SELECT entry_id AS e3 FROM loyalty.earn(pg_temp.card(3), 100, 'e3') \gset
SELECT hold_id AS h3 FROM loyalty.authorize(pg_temp.card(3), 100, 'S01', 'H3') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(3), :e3, 100, 'r3');	-- -100
SELECT status, captured, taken FROM loyalty.capture(:h3, 30);	-- captured 30, taken 100
SELECT pg_temp.st(pg_temp.card(3)) AS "3 after the capture";	-- 0, 0, 0, net 0, shortfall 30

-- 4. truncate: an earn of 50 between the reversal and the void: 50, as
--    without the hold (100 - 100 + 50).
SELECT entry_id AS e4 FROM loyalty.earn(pg_temp.card(4), 100, 'e4') \gset
SELECT hold_id AS h4 FROM loyalty.authorize(pg_temp.card(4), 100, 'S01', 'H4') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(4), :e4, 100, 'r4');	-- -100
SELECT points FROM loyalty.earn(pg_temp.card(4), 50, 'e4b');			-- 50
SELECT pg_temp.st(pg_temp.card(4)) AS "4 before the void";		-- available 50, held 0, debt 0, net 50
SELECT status, taken FROM loyalty.void(:h4);					-- voided, 100
SELECT pg_temp.st(pg_temp.card(4)) AS "4 after the void";		-- available 50, held 0, debt 0, net 50
--    and with a capture: the 100 the reversal took come from the earn's
--    50, the rest short: redeem -50/50, net 0.
SELECT entry_id AS e5 FROM loyalty.earn(pg_temp.card(5), 100, 'e5') \gset
SELECT hold_id AS h5 FROM loyalty.authorize(pg_temp.card(5), 100, 'S01', 'H5') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(5), :e5, 100, 'r5');	-- -100
SELECT entry_id AS e5b FROM loyalty.earn(pg_temp.card(5), 50, 'e5b') \gset
SELECT status, captured, taken FROM loyalty.capture(:h5);		-- captured 100, taken 100
SELECT pg_temp.st(pg_temp.card(5)) AS "5 after the capture";	-- 0, 0, 0, net 0, shortfall 50
SELECT pg_temp.led(pg_temp.card(5)) AS "5 ledger";				-- earn 100/0, reverse -100/0 e5:100, earn 50/0, redeem -50/50 e5b:50

-- 6. truncate, two holds of 50 of one lot, a reversal of 50: it takes the
--    older hold's points.  That hold's capture takes the other hold's;
--    the other is then voided with nothing left.  Net 0, as 100 - 50 - 50.
SELECT entry_id AS e6 FROM loyalty.earn(pg_temp.card(6), 100, 'e6') \gset
SELECT hold_id AS h6a FROM loyalty.authorize(pg_temp.card(6), 50, 'S01', 'H6a') \gset
SELECT hold_id AS h6b FROM loyalty.authorize(pg_temp.card(6), 50, 'S01', 'H6b') \gset
SELECT points, shortfall FROM loyalty.reverse(pg_temp.card(6), :e6, 50, 'r6');	-- -50, 0
SELECT pos_txn, taken FROM loyalty.hold WHERE hold_id IN (:h6a, :h6b) ORDER BY pos_txn;	-- H6a 50 (the older), H6b 0
SELECT status, captured FROM loyalty.capture(:h6a);		-- captured 50
SELECT pg_temp.st(pg_temp.card(6)) AS "6 after the capture";	-- available 0, held 0, debt 0, net 0, shortfall 0
SELECT status, taken FROM loyalty.void(:h6b);				-- voided, 50
SELECT pg_temp.led(pg_temp.card(6)) AS "6 ledger";				-- earn 100/0, reverse -50/0 e6:50, redeem -50/0 e6:50

-- 7. truncate: a negative adjustment beyond free and held points: 40 free
--    and 60 held taken, 50 short.  The hold keeps nothing: lapsed, it has
--    nothing to release, and sweep_holds closes it as expired all the same
--    (its event says 0 points); its capture is refused (LY103) and its void
--    answers expired.
SELECT points FROM loyalty.earn(pg_temp.card(7), 100, 'e7');
SELECT hold_id AS h7 FROM loyalty.authorize(pg_temp.card(7), 60, 'S01', 'H7') \gset
SELECT points, shortfall FROM loyalty.adjust(pg_temp.card(7), -150, 'a7', 'correction');	-- -100, 50
SELECT pg_temp.st(pg_temp.card(7)) AS "7 after the adjustment";	-- available 0, held 0, debt 0, net 0, shortfall 50
UPDATE loyalty.hold SET expires_at = now() - interval '1 minute' WHERE hold_id = :h7;
SELECT holds, points FROM loyalty.sweep_holds();				-- 1, 0
SELECT status, taken FROM loyalty.hold WHERE hold_id = :h7;	-- expired, 60
SELECT left(pg_temp.outcome(format('SELECT loyalty.capture(%s)', :h7)), 5) AS capture;	-- LY103
SELECT status, taken FROM loyalty.void(:h7);					-- expired, 60
SELECT payload->'points' AS came_back FROM loyalty.outbox
 WHERE kind = 'hold_expired' AND (payload->>'hold_id')::bigint = :h7;	-- 0: the event says what came back
SELECT pg_temp.st(pg_temp.card(7)) AS "7 after the sweep";		-- 0, 0, 0, net 0, shortfall 50

-- 8. truncate: a capture of 60 of 100 when the reversal took 30 of them:
--    60 of the 70 left captured, 10 back.
SELECT entry_id AS e8 FROM loyalty.earn(pg_temp.card(8), 100, 'e8') \gset
SELECT hold_id AS h8 FROM loyalty.authorize(pg_temp.card(8), 100, 'S01', 'H8') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(8), :e8, 30, 'r8');	-- -30
SELECT status, captured, taken FROM loyalty.capture(:h8, 60);	-- captured 60, taken 30
SELECT pg_temp.st(pg_temp.card(8)) AS "8 after the capture";	-- available 10, held 0, debt 0, net 10, shortfall 0

-- 8b. boundaries, each member with lot A of 100 (held, all of it) and lot B
--     of 10 (free): a reversal of 30 of A's earn leaves the hold 70.  A
--     capture of exactly 70 takes nothing else (B stays 10); of 71, one
--     point from B.  Then each holds 5 of B: a negative adjustment of 5,
--     exactly the free points of 9, takes no held point; of 10, whose free
--     points are 4, one.
SELECT n, (loyalty.earn(pg_temp.card(n), 100, 'ba' || n)).points AS a,
       (loyalty.earn(pg_temp.card(n), 10, 'bb' || n)).points AS b FROM generate_series(9, 10) n;
SELECT hold_id AS h9 FROM loyalty.authorize(pg_temp.card(9), 100, 'S01', 'H9') \gset
SELECT hold_id AS h10 FROM loyalty.authorize(pg_temp.card(10), 100, 'S01', 'H10') \gset
SELECT n, (SELECT points FROM loyalty.reverse(pg_temp.card(n),
               (SELECT entry_id FROM loyalty.ledger WHERE idem_key = 'ba' || n), 30, 'br' || n)) AS reversed
  FROM generate_series(9, 10) n;								-- -30 each, from the holds
SELECT captured, taken FROM loyalty.capture(:h9, 70);			-- 70, 30
SELECT captured, taken FROM loyalty.capture(:h10, 71);			-- 71, 30
SELECT n, pg_temp.st(pg_temp.card(n)) FROM generate_series(9, 10) n;	-- 9: available 10, net 10; 10: available 9, net 9
SELECT n, pg_temp.led(pg_temp.card(n)) FROM generate_series(9, 10) n;
	-- the captures: 9: redeem -70/0 A:70; 10: redeem -71/0 A:70,B:1
SELECT hold_id AS h9b FROM loyalty.authorize(pg_temp.card(9), 5, 'S01', 'H9b') \gset
SELECT hold_id AS h10b FROM loyalty.authorize(pg_temp.card(10), 5, 'S01', 'H10b') \gset
--     now 9 has 5 free and 5 held, 10 has 4 free and 5 held
SELECT points, shortfall FROM loyalty.adjust(pg_temp.card(9), -5, 'bx9', 'correction');	-- -5, 0
SELECT points, shortfall FROM loyalty.adjust(pg_temp.card(10), -5, 'bx10', 'correction');	-- -5, 0 (4 free, 1 held)
SELECT pos_txn, taken FROM loyalty.hold WHERE hold_id IN (:h9b, :h10b) ORDER BY pos_txn;	-- H10b 1, H9b 0
SELECT n, pg_temp.st(pg_temp.card(n)) FROM generate_series(9, 10) n;	-- 9: available 0, held 5, net 5; 10: available 0, held 4, net 4

-- 9. allow: a capture after a reversal took 60 of its 100: the 40 left
--    and 60 owed: net -60, debt 60 (as a redemption after the reversal).
SELECT entry_id AS e13 FROM loyalty.earn(pg_temp.card(13), 100, 'e13') \gset
SELECT hold_id AS h13 FROM loyalty.authorize(pg_temp.card(13), 100, 'S01', 'H13') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(13), :e13, 60, 'r13');	-- -60
SELECT status, captured, taken FROM loyalty.capture(:h13);		-- captured 100, taken 60
SELECT pg_temp.st(pg_temp.card(13)) AS "13 after the capture";	-- available -60, held 0, debt 60, net -60

-- 10. a back-dated negative adjustment that takes held points is dated no
--     earlier than the lot it takes (README "Lots"): no balance below 0 at
--     a past moment.
SELECT points FROM loyalty.earn(pg_temp.card(14), 100, 'e14');
SELECT hold_id AS h14 FROM loyalty.authorize(pg_temp.card(14), 100, 'S01', 'H14') \gset
SELECT a.points, a.effective_at = e.effective_at AS dated_at_the_earn
  FROM loyalty.adjust(pg_temp.card(14), -100, 'a14', 'correction', now() - interval '1 day') a,
       loyalty.ledger e WHERE e.idem_key = 'e14';				-- -100, t
SELECT count(*) FILTER (WHERE balance_after < 0) AS negative
  FROM loyalty.statement(pg_temp.card(14), '-infinity', 'infinity');	-- 0
SELECT available, net FROM loyalty.balance_at(pg_temp.card(14), now() - interval '1 hour');	-- 0, 0

-- 11. lots that lapse: every pair below has the same history but for the
--     hold (and its void), and must end with the same lots and figures.
--     Lots A expire 4 seconds from now, lots B tomorrow.
--   11a (allow) 11 without, 12 with a hold of 100: reverse 60 while held.
SELECT entry_id AS e11 FROM loyalty.earn(pg_temp.card(11), 100, 'e11', 'x', now() - interval '1 day' + interval '4 seconds') \gset
SELECT entry_id AS e12 FROM loyalty.earn(pg_temp.card(12), 100, 'e12', 'x', now() - interval '1 day' + interval '4 seconds') \gset
SELECT hold_id AS h12 FROM loyalty.authorize(pg_temp.card(12), 100, 'S01', 'H12') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(11), :e11, 60, 'r11');	-- -60
SELECT points FROM loyalty.reverse(pg_temp.card(12), :e12, 60, 'r12');	-- -60, from the hold
SELECT status, taken FROM loyalty.void(:h12);					-- voided, 60
--   11b (truncate) 21 without, 22 with a hold of 200 (A and B): reverse B's earn.
--   11c (truncate) 23 without, 24 with a hold of 100 (A): reverse A's earn.
SELECT n, (loyalty.earn(pg_temp.card(n), 100, 'a' || n, 'x', now() - interval '1 day' + interval '4 seconds')).points AS a,
       (loyalty.earn(pg_temp.card(n), 100, 'b' || n)).points AS b
  FROM generate_series(21, 24) n;
SELECT hold_id AS h22 FROM loyalty.authorize(pg_temp.card(22), 200, 'S01', 'H22') \gset
SELECT hold_id AS h24 FROM loyalty.authorize(pg_temp.card(24), 100, 'S01', 'H24') \gset
SELECT n, (SELECT points FROM loyalty.reverse(pg_temp.card(n),
               (SELECT entry_id FROM loyalty.ledger WHERE idem_key = k || n), 100, 'r' || n)) AS reversed
  FROM (VALUES (21, 'b'), (22, 'b'), (23, 'a'), (24, 'a')) v(n, k);	-- -100 each
SELECT status, taken FROM loyalty.void(:h22);					-- voided, 100 (B)
SELECT status, taken FROM loyalty.void(:h24);					-- voided, 100 (A)
--   11d (truncate) 25 holds 100 (A) and reverses 60 of it; its hold lapses
--   unreleased, A with it: balance() counts the 40 left as expired at once.
SELECT entry_id AS e25 FROM loyalty.earn(pg_temp.card(25), 100, 'e25', 'x', now() - interval '1 day' + interval '4 seconds') \gset
SELECT hold_id AS h25 FROM loyalty.authorize(pg_temp.card(25), 100, 'S01', 'H25') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(25), :e25, 60, 'r25');	-- -60
UPDATE loyalty.hold SET expires_at = now() - interval '1 minute' WHERE hold_id = :h25;
--   11e (allow) 15 holds 100 (A); A lapses; then a reversal of 100 cannot
--   take the lapsed lot: owed, and A expires after the void, as without
--   the hold (owed 100, A expired: net -100, debt 100).
SELECT entry_id AS e15 FROM loyalty.earn(pg_temp.card(15), 100, 'e15', 'x', now() - interval '1 day' + interval '4 seconds') \gset
SELECT hold_id AS h15 FROM loyalty.authorize(pg_temp.card(15), 100, 'S01', 'H15') \gset
SELECT pg_sleep(4.5);
SELECT points, shortfall FROM loyalty.reverse(pg_temp.card(15), :e15, 100, 'r15');	-- -100, 0 (debt 100)
SELECT status, taken FROM loyalty.void(:h15);					-- voided, 0
SELECT available, held, debt, expired FROM loyalty.balance(pg_temp.card(25));	-- 0, 0, 0, 40
SELECT entries, points FROM loyalty.expire_points();			-- 5 entries, 380: A of 11 (40), 12 (40), 21 (100), 22 (100), 15 (100); 25's A is held
SELECT n, pg_temp.st(pg_temp.card(n)) FROM unnest(ARRAY[11, 12, 21, 22, 23, 24, 15]) n;
	-- 11, 12: net 0; 21, 22: net 0; 23, 24: available 100 (B), net 100; 15: available -100, debt 100, net -100
SELECT n, pg_temp.lots(pg_temp.card(n)) FROM unnest(ARRAY[21, 22, 23, 24]) n;	-- A:0 B:0 / A:0 B:0 / A:0 B:100 / A:0 B:100
SELECT holds, points FROM loyalty.sweep_holds();				-- 1, 40 (25's)
SELECT entries, points FROM loyalty.expire_points();			-- 1, 40
SELECT pg_temp.st(pg_temp.card(25)) AS "25";					-- 0, 0, 0, net 0, shortfall 0
-- lots rebuilt from the ledger alone agree with the lots
SELECT n, (SELECT COALESCE(sum(points), 0) FROM loyalty.lots_at(loyalty.member_id(pg_temp.card(n)), now())) AS lots_at,
       (SELECT COALESCE(sum(remaining), 0) FROM loyalty.lot WHERE member_id = loyalty.member_id(pg_temp.card(n))
          AND (expires_at IS NULL OR expires_at > now())) AS lots
  FROM unnest(ARRAY[1, 2, 12, 22, 24, 25]) n;

-- 12. A lapsed hold whose points reversals took in full (taken = points)
-- keeps nothing, and is released all the same: by the member's next posting
-- (31, 32) or by sweep_holds (33), as a hold that keeps points is (34: a
-- reversal of 60 of the 100).  Each: earn 100 (A), hold it, earn 100 (B),
-- reverse A, the hold lapses.  member_balance.open_holds counts the open
-- holds; held counts only what they keep.
SELECT count(loyalty.enroll(pg_temp.card(n), 'tr')) FROM generate_series(31, 34) n;	-- 4
SELECT n, (loyalty.earn(pg_temp.card(n), 100, 'a' || n)).points AS a,
       (loyalty.authorize(pg_temp.card(n), 100, 'S01', 'H' || n)).points AS h,
       (loyalty.earn(pg_temp.card(n), 100, 'b' || n)).points AS b
  FROM generate_series(31, 34) n;							-- 100, 100, 100 each
SELECT n, (SELECT points FROM loyalty.reverse(pg_temp.card(n),
			 (SELECT entry_id FROM loyalty.ledger WHERE idem_key = 'a' || n), CASE n WHEN 34 THEN 60 ELSE 100 END, 'r' || n)) AS reversed
  FROM generate_series(31, 34) n;							-- -100, -100, -100, -60
SELECT n, b.held, b.open_holds FROM generate_series(31, 34) n
  JOIN loyalty.member_balance b ON b.member_id = loyalty.member_id(pg_temp.card(n));	-- 0 1, 0 1, 0 1, 40 1
UPDATE loyalty.hold SET expires_at = now() - interval '1 minute' WHERE pos_txn IN ('H31', 'H32', 'H33', 'H34');
SELECT points FROM loyalty.redeem(pg_temp.card(31), 10, 'S01', 'R31');	-- -10: 31's hold released first
SELECT points FROM loyalty.adjust(pg_temp.card(32), -10, 'j32', 'correction');	-- -10: so is 32's
SELECT holds, points FROM loyalty.sweep_holds();				-- 2, 40: 33's (0 points) and 34's (40)
SELECT h.pos_txn, h.status, h.taken, b.held, b.open_holds,
       (SELECT count(*) FROM loyalty.outbox o WHERE o.member_id = h.member_id AND o.kind = 'hold_expired') AS events,
       (SELECT o.payload->>'points' FROM loyalty.outbox o WHERE o.member_id = h.member_id AND o.kind = 'hold_expired') AS event_points
  FROM loyalty.hold h JOIN loyalty.member_balance b USING (member_id)
 WHERE h.pos_txn IN ('H31', 'H32', 'H33', 'H34') ORDER BY h.pos_txn;	-- each expired, held 0, open 0, one event: 0, 0, 0, 40 points
SELECT n, pg_temp.st(pg_temp.card(n)) FROM generate_series(31, 34) n;	-- 90, 90, 100, 140 available

-- 13. A capture that takes more than its hold still keeps lists each lot
-- once in its redeem entry, the hold's part and the part taken now added
-- together: A 100 and B 100, a hold of 150 (A 100, B 50), 50 of A reversed
-- from the hold (taken 50: the hold keeps A 50, B 50), the capture of 150
-- takes the 50 more from B (its last 50).
SELECT count(loyalty.enroll(pg_temp.card(41), 'tr'));			-- 1
SELECT (loyalty.earn(pg_temp.card(41), 100, 'a41')).points AS a,
       (loyalty.earn(pg_temp.card(41), 100, 'b41')).points AS b;	-- 100, 100
SELECT hold_id AS h41 FROM loyalty.authorize(pg_temp.card(41), 150, 'S01', 'H41') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(41),
	(SELECT entry_id FROM loyalty.ledger WHERE idem_key = 'a41'), 50, 'r41');	-- -50
SELECT taken, cardinality(lot_ids) AS lots FROM loyalty.hold WHERE hold_id = :h41;	-- 50, 2
SELECT status, captured, taken FROM loyalty.capture(:h41);		-- captured 150, taken 50
SELECT (SELECT count(*) FROM unnest(lot_ids)) AS listed, (SELECT count(DISTINCT i) FROM unnest(lot_ids) i) AS lots,
       (SELECT sum(p) FROM unnest(lot_points) p) AS points
  FROM loyalty.ledger WHERE entry_id = (SELECT redemption_id FROM loyalty.hold WHERE hold_id = :h41);	-- 2 listed, 2 lots, 150
SELECT pg_temp.led(pg_temp.card(41));	-- earn A, earn B, reverse 50 of A, redeem 150: A 50, B 100
SELECT pg_temp.lots(pg_temp.card(41));	-- A 0, B 0

SELECT member_id, invariant, detail FROM loyalty.check_invariants();	-- none
