-- Programs, members, statuses and card replacement.
\pset null '(null)'
-- start from a fresh extension so ids do not depend on earlier tests
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;

-- A program from its code alone gets the documented defaults.
INSERT INTO loyalty.program (code) VALUES ('basic');
SELECT code, currency, points_per_unit, point_value, expiry_after, expiry_rounding,
       pending_days, rounding, negative_balance
  FROM loyalty.program WHERE code = 'basic';

-- Configuration is checked by constraints (check_violation, 23514).
\set VERBOSITY terse
INSERT INTO loyalty.program (code, currency) VALUES ('bad', 'euro');
INSERT INTO loyalty.program (code, point_value) VALUES ('bad', -1);
INSERT INTO loyalty.program (code, rounding) VALUES ('bad', 'nearest');
INSERT INTO loyalty.program (code, negative_balance) VALUES ('bad', 'sometimes');
INSERT INTO loyalty.program (code, expiry_after) VALUES ('bad', '-1 day');
INSERT INTO loyalty.program (code) VALUES ('basic');
\set VERBOSITY default

-- Enrolment returns the member; attributes are kept.
SELECT loyalty.enroll('4000 0000 0000 0002', 'basic', birth_date => '1990-05-01',
                      gender => 'f', region => 'north', income_band => 'B',
                      home_store => 'S01', channel => 'store',
                      attributes => '{"kids": 2}') AS m1 \gset
SELECT status, birth_date, gender, region, income_band, home_store, channel, attributes
  FROM loyalty.member WHERE member_id = :m1;
SELECT loyalty.member_id('4000-0000-0000-0002') = :m1 AS same_member;
-- a retried enrolment of the same card returns the same member, creates nothing
SELECT loyalty.enroll('4000000000000002', 'basic') = :m1 AS retry_same_member;
SELECT count(*) AS members FROM loyalty.member;
-- a new member starts with an empty balance row
SELECT net, debt, lifetime_earned FROM loyalty.member_balance WHERE member_id = :m1;

-- The same card cannot join a second program.
INSERT INTO loyalty.program (code) VALUES ('other');
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT loyalty.enroll('4000000000000002', 'other');
SELECT loyalty.enroll(loyalty.card_issue('40', 77), 'nosuchprogram');

-- Status: active -> suspended -> active -> closed; closed is final.
SELECT loyalty.set_member_status('4000000000000002', 'suspended', 'fraud check');
SELECT status, status_reason, status_changed_at IS NOT NULL AS stamped FROM loyalty.member WHERE member_id = :m1;
SELECT loyalty.earn('4000000000000002', 10, 'while-suspended');
SELECT loyalty.set_member_status('4000000000000002', 'active');
SELECT (loyalty.earn('4000000000000002', 10, 'after-reactivation')).points;
SELECT loyalty.set_member_status('4000000000000002', 'dormant');

-- Card replacement: the member keeps balance and history on the new card.
SELECT loyalty.replace_card('4000000000000002', loyalty.card_issue('40', 5)) = :m1 AS kept_member;
SELECT (loyalty.balance(loyalty.card_issue('40', 5))).available AS available_on_new_card;
SELECT count(*) AS entries_on_new_card
  FROM loyalty.statement(loyalty.card_issue('40', 5), '-infinity', 'infinity');
-- a retried replacement is harmless
SELECT loyalty.replace_card('4000000000000002', loyalty.card_issue('40', 5)) = :m1 AS retry_kept_member;
-- the old card is refused everywhere, with its own SQLSTATE
\set VERBOSITY sqlstate
SELECT loyalty.balance('4000000000000002');
SELECT loyalty.earn('4000000000000002', 1, 'old-card');
SELECT loyalty.redeem('4000000000000002', 1, 'S01', 'T-old');
SELECT loyalty.enroll('4000000000000002', 'basic');
SELECT loyalty.replace_card('4000000000000002', loyalty.card_issue('40', 6));
\set VERBOSITY default
-- a card already in use cannot become someone's new card
SELECT loyalty.enroll(loyalty.card_issue('40', 8), 'basic') AS m2 \gset
SELECT loyalty.replace_card(loyalty.card_issue('40', 8), loyalty.card_issue('40', 5));
SELECT card, member_id = :m1 AS is_m1, replaced_at IS NOT NULL AS replaced, replaced_by
  FROM loyalty.member_card ORDER BY card;

-- Closing is final.
SELECT loyalty.set_member_status(loyalty.card_issue('40', 8), 'closed');
SELECT loyalty.set_member_status(loyalty.card_issue('40', 8), 'active');
UPDATE loyalty.member SET status = 'active' WHERE member_id = :m2;
SELECT loyalty.redeem(loyalty.card_issue('40', 8), 1, 'S01', 'T-closed');
SELECT loyalty.replace_card(loyalty.card_issue('40', 8), loyalty.card_issue('40', 9));
-- a closed member's balance can still be read
SELECT available FROM loyalty.balance(loyalty.card_issue('40', 8));

SELECT * FROM loyalty.check_invariants();
