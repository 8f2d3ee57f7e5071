-- A reversal (a return, or a negative adjustment) while the member's points
-- are held: the release of the hold (void, expiry, the rest of a capture)
-- repays what the reversal could not take, before the points go back to
-- their lots.  So a hold shields nothing: voided, the member ends as if the
-- hold had never been; captured, as if the redemption were posted after the
-- reversal (under 'truncate' what is missing is the redemption's shortfall).
-- Every expected figure is worked out by hand in the comments.
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;

-- available / held / debt / net / the member's shortfall of a card
CREATE FUNCTION pg_temp.st(c loyalty.card) RETURNS text
LANGUAGE sql AS $$
	SELECT format('available %s, held %s, debt %s, net %s, shortfall %s',
				  x.available, x.held, x.debt, b.net, b.shortfall)
	  FROM loyalty.balance(c) x JOIN loyalty.member_balance b ON b.member_id = x.member_id
$$;
-- the member's ledger, oldest first: kind points/shortfall
CREATE FUNCTION pg_temp.led(c loyalty.card) RETURNS text
LANGUAGE sql AS $$
	SELECT string_agg(format('%s %s/%s', kind, points, shortfall), ', ' ORDER BY entry_id)
	  FROM loyalty.ledger WHERE member_id = loyalty.member_id(c)
$$;
CREATE FUNCTION pg_temp.card(n int) RETURNS loyalty.card
LANGUAGE sql AS $$ SELECT loyalty.card_issue('42', n) $$;

INSERT INTO loyalty.program (code) VALUES ('tr');			-- negative_balance 'truncate'
INSERT INTO loyalty.program (code, negative_balance, expiry_after) VALUES ('al', 'allow', '1 day');
INSERT INTO loyalty.program (code, expiry_after) VALUES ('te', '1 day');	-- 'truncate', with expiry
SELECT count(loyalty.enroll(pg_temp.card(n), 'tr')) FROM generate_series(1, 8) n;
SELECT count(loyalty.enroll(pg_temp.card(n), 'al')) FROM generate_series(11, 13) n;
SELECT loyalty.enroll(pg_temp.card(21), 'te') IS NOT NULL AS te;

-- 1. truncate: a sale of 100 earns 100, the till holds all of it, the sale
--    comes back, the till voids.  The return takes 100 (owed from the
--    hold, not a shortfall); the void repays it: nothing kept.
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S01', 'R1', pg_temp.card(1), 100, '[{"sku":"A1","category":"x","qty":1,"amount":100}]')
RETURNING sale_id AS s1, points_earned \gset
SELECT hold_id AS h1 FROM loyalty.authorize(pg_temp.card(1), 100, 'S01', 'H1') \gset
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of)
VALUES ('S01', 'R2', pg_temp.card(1), 100, '[{"sku":"A1","category":"x","qty":1,"amount":100}]', :s1);
SELECT pg_temp.st(pg_temp.card(1)) AS "1 after the return";	-- available 0 (not -100), held 100, debt 100, net 0
SELECT status, repaid FROM loyalty.void(:h1);					-- voided, repaid 100
SELECT pg_temp.st(pg_temp.card(1)) AS "1 after the void";		-- available 0, held 0, debt 0, net 0
SELECT pg_temp.led(pg_temp.card(1)) AS "1 ledger";				-- earn 100/0, reverse -100/0

-- 2. truncate: the same, but the till captures all 100.  The redemption
--    comes after the return took the points: all 100 are its shortfall.
SELECT entry_id AS e2 FROM loyalty.earn(pg_temp.card(2), 100, 'e2') \gset
SELECT hold_id AS h2 FROM loyalty.authorize(pg_temp.card(2), 100, 'S01', 'H2') \gset
SELECT points, shortfall FROM loyalty.reverse(pg_temp.card(2), :e2, 100, 'r2');	-- -100, 0
SELECT status, captured, repaid FROM loyalty.capture(:h2);	-- captured 100, repaid 0
SELECT pg_temp.st(pg_temp.card(2)) AS "2 after the capture";	-- available 0, held 0, debt 0, net 0, shortfall 100
SELECT pg_temp.led(pg_temp.card(2)) AS "2 ledger";				-- earn 100/0, reverse -100/0, redeem 0/100

-- 3. truncate: capture 30 of 100 after the reversal of 100: the 70 not
--    captured repay 70; 30 are still owed with no other hold: the
--    redemption's shortfall.
SELECT entry_id AS e3 FROM loyalty.earn(pg_temp.card(3), 100, 'e3') \gset
SELECT hold_id AS h3 FROM loyalty.authorize(pg_temp.card(3), 100, 'S01', 'H3') \gset
SELECT points, shortfall FROM loyalty.reverse(pg_temp.card(3), :e3, 100, 'r3');	-- -100, 0
SELECT status, captured, repaid FROM loyalty.capture(:h3, 30);	-- captured 30, repaid 70
SELECT pg_temp.st(pg_temp.card(3)) AS "3 after the capture";	-- 0, 0, 0, net 0, shortfall 30
SELECT pg_temp.led(pg_temp.card(3)) AS "3 ledger";				-- earn 100/0, reverse -100/0, redeem 0/30

-- 4. truncate: an earn of 50 comes between the reversal and the void: it
--    repays 50 of the 100 owed; the void repays the other 50 and puts 50
--    back: 50, as without the hold (100 - 100 + 50).
SELECT entry_id AS e4 FROM loyalty.earn(pg_temp.card(4), 100, 'e4') \gset
SELECT hold_id AS h4 FROM loyalty.authorize(pg_temp.card(4), 100, 'S01', 'H4') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(4), :e4, 100, 'r4');	-- -100
SELECT points FROM loyalty.earn(pg_temp.card(4), 50, 'e4b');			-- 50
SELECT pg_temp.st(pg_temp.card(4)) AS "4 before the void";		-- available 0, held 100, debt 50, net 50
SELECT status, repaid FROM loyalty.void(:h4);					-- voided, repaid 50
SELECT pg_temp.st(pg_temp.card(4)) AS "4 after the void";		-- available 50, held 0, debt 0, net 50
--    and the same with a capture: the redemption of 100 finds 50 (the
--    earn's, which repaid the debt): 50 redeemed, 50 short; net 0.
SELECT entry_id AS e5 FROM loyalty.earn(pg_temp.card(5), 100, 'e5') \gset
SELECT hold_id AS h5 FROM loyalty.authorize(pg_temp.card(5), 100, 'S01', 'H5') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(5), :e5, 100, 'r5');	-- -100
SELECT points FROM loyalty.earn(pg_temp.card(5), 50, 'e5b');			-- 50
SELECT status, captured, repaid FROM loyalty.capture(:h5);		-- captured 100, repaid 0
SELECT pg_temp.st(pg_temp.card(5)) AS "5 after the capture";	-- 0, 0, 0, net 0, shortfall 50
SELECT pg_temp.led(pg_temp.card(5)) AS "5 ledger";				-- earn 100/0, reverse -100/0, earn 50/0, redeem -50/50

-- 6. truncate, two holds of 50, a reversal of 50 owed from them.  The
--    capture of the first leaves 50 owed, covered by the other hold: no
--    shortfall; its void repays it.  Net 0, as 100 - 50 - 50.
SELECT entry_id AS e6 FROM loyalty.earn(pg_temp.card(6), 100, 'e6') \gset
SELECT hold_id AS h6a FROM loyalty.authorize(pg_temp.card(6), 50, 'S01', 'H6a') \gset
SELECT hold_id AS h6b FROM loyalty.authorize(pg_temp.card(6), 50, 'S01', 'H6b') \gset
SELECT points, shortfall FROM loyalty.reverse(pg_temp.card(6), :e6, 50, 'r6');	-- -50, 0
SELECT status, captured, repaid FROM loyalty.capture(:h6a);	-- captured 50, repaid 0
SELECT pg_temp.st(pg_temp.card(6)) AS "6 after the capture";	-- available 0, held 50, debt 50, net 0, shortfall 0
SELECT status, repaid FROM loyalty.void(:h6b);					-- voided, repaid 50
SELECT pg_temp.st(pg_temp.card(6)) AS "6 after the void";		-- 0, 0, 0, net 0, shortfall 0
SELECT pg_temp.led(pg_temp.card(6)) AS "6 ledger";				-- earn 100/0, reverse -50/0, redeem -50/0

-- 7. truncate: a negative adjustment beyond free and held points: 40 free
--    taken, 60 owed from the hold, 50 short.  The hold lapses: balance()
--    counts it as released at once, its points repaying the debt.  An earn
--    of 5 repays 5 of it itself (a credit does not release holds); the
--    sweep then releases the hold: 55 repay the rest, 5 go back.
SELECT points FROM loyalty.earn(pg_temp.card(7), 100, 'e7');
SELECT hold_id AS h7 FROM loyalty.authorize(pg_temp.card(7), 60, 'S01', 'H7') \gset
SELECT points, shortfall FROM loyalty.adjust(pg_temp.card(7), -150, 'a7', 'correction');	-- -100, 50
SELECT pg_temp.st(pg_temp.card(7)) AS "7 after the adjustment";	-- available 0, held 60, debt 60, net 0, shortfall 50
UPDATE loyalty.hold SET expires_at = now() - interval '1 minute' WHERE hold_id = :h7;
SELECT pg_temp.st(pg_temp.card(7)) AS "7 lapsed";				-- available 0, held 0, debt 0 (as released), net 0
SELECT points FROM loyalty.earn(pg_temp.card(7), 5, 'e7b');		-- 5, repaying 5 of the 60 owed
SELECT debt FROM loyalty.member_balance WHERE member_id = loyalty.member_id(pg_temp.card(7));	-- 55
SELECT pg_temp.st(pg_temp.card(7)) AS "7 after the earn";		-- available 5, held 0, debt 0 (as released), net 5, shortfall 50
SELECT holds, points FROM loyalty.sweep_holds();				-- 1, 60
SELECT status, repaid FROM loyalty.hold WHERE hold_id = :h7;	-- expired, repaid 55
SELECT pg_temp.st(pg_temp.card(7)) AS "7 after the sweep";		-- available 5, held 0, debt 0, net 5, shortfall 50

-- 8. truncate: a capture of 60 of 100 when the reversal took only 30 of
--    them: the 40 not captured repay the 30 owed and 10 go back.
SELECT entry_id AS e8 FROM loyalty.earn(pg_temp.card(8), 100, 'e8') \gset
SELECT hold_id AS h8 FROM loyalty.authorize(pg_temp.card(8), 100, 'S01', 'H8') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(8), :e8, 30, 'r8');	-- -30
SELECT status, captured, repaid FROM loyalty.capture(:h8, 60);	-- captured 60, repaid 30
SELECT pg_temp.st(pg_temp.card(8)) AS "8 after the capture";	-- available 10, held 0, debt 0, net 10, shortfall 0

-- 9. allow: the same history for two members, the second holds its points
--    during a reversal of 60, then voids.  Both lots lapse; expire_points
--    must leave both at net 0 and debt 0 (the void repaid the 60 owed, so
--    only 40 went back to the lot).
SELECT entry_id AS e11 FROM loyalty.earn(pg_temp.card(11), 100, 'e11', 'x', now() - interval '1 day' + interval '4 seconds') \gset
SELECT entry_id AS e12 FROM loyalty.earn(pg_temp.card(12), 100, 'e12', 'x', now() - interval '1 day' + interval '4 seconds') \gset
SELECT hold_id AS h12 FROM loyalty.authorize(pg_temp.card(12), 100, 'S01', 'H12') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(11), :e11, 60, 'r11');	-- -60
SELECT points FROM loyalty.reverse(pg_temp.card(12), :e12, 60, 'r12');	-- -60 (owed)
SELECT status, repaid FROM loyalty.void(:h12);					-- voided, repaid 60
SELECT pg_temp.st(pg_temp.card(11)) AS "11", pg_temp.st(pg_temp.card(12)) AS "12";	-- both available 40, debt 0, net 40
--    and under 'truncate', a hold that lapses with its lot: 60 owed from
--    it; as released, 60 repay the debt and 40 go back to the lapsed lot.
SELECT entry_id AS e21 FROM loyalty.earn(pg_temp.card(21), 100, 'e21', 'x', now() - interval '1 day' + interval '4 seconds') \gset
SELECT hold_id AS h21 FROM loyalty.authorize(pg_temp.card(21), 100, 'S01', 'H21') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(21), :e21, 60, 'r21');	-- -60 (owed)
UPDATE loyalty.hold SET expires_at = now() - interval '1 minute' WHERE hold_id = :h21;
SELECT pg_sleep(4.5);
SELECT entries, points FROM loyalty.expire_points();			-- 2 entries, 80 points (21's lot is held: 0 in it)
SELECT pg_temp.st(pg_temp.card(11)) AS "11", pg_temp.st(pg_temp.card(12)) AS "12";	-- both 0/0/0/net 0
SELECT available, held, debt, expired FROM loyalty.balance(pg_temp.card(21));	-- 0, 0, 0, 40 (as released and expired)
SELECT holds, points FROM loyalty.sweep_holds();				-- 1, 100
SELECT status, repaid FROM loyalty.hold WHERE hold_id = :h21;	-- expired, 60
SELECT entries, points FROM loyalty.expire_points();			-- 1 entry, 40 points
SELECT pg_temp.st(pg_temp.card(21)) AS "21";					-- available 0, held 0, debt 0, net 0, shortfall 0
--    allow: capture after a reversal owes what the capture spent (as a
--    redemption before the reversal would): net -60, debt 60.
SELECT entry_id AS e13 FROM loyalty.earn(pg_temp.card(13), 100, 'e13') \gset
SELECT hold_id AS h13 FROM loyalty.authorize(pg_temp.card(13), 100, 'S01', 'H13') \gset
SELECT points FROM loyalty.reverse(pg_temp.card(13), :e13, 60, 'r13');	-- -60
SELECT status, captured, repaid FROM loyalty.capture(:h13);	-- captured 100, repaid 0
SELECT pg_temp.st(pg_temp.card(13)) AS "13 after the capture";	-- available -60, held 0, debt 60, net -60

SELECT member_id, invariant, detail FROM loyalty.check_invariants();	-- none
