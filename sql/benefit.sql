-- Member benefits (0.6.0): loyalty.benefit and loyalty.use_benefit.  The
-- IKEA Family perks: free coffee Monday to Friday once a day, a design
-- consultation Monday to Thursday, a gift in the birthday month; caps per
-- day, week and month across local midnight; tier benefits; validity dates;
-- retries; and every refusal with its SQLSTATE.  Uses at fixed moments go
-- through use_benefit_at (the same code as use_benefit, at a given time);
-- use_benefit itself (now) only where the day does not matter.  Stockholm is
-- UTC+1 in November and December; New York UTC-5.
\pset null '(null)'
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO';

-- A statement's SQLSTATE and message, with the detail of the extension's
-- own errors (or 'ok').
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	-- now() in a message (it has microseconds) is <now>
	RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM ||
		   CASE WHEN SQLSTATE LIKE 'LY%' AND detail <> '' THEN ' / ' || detail ELSE '' END,
						  '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+[+-]\d\d', '<now>', 'g');
END
$$;
-- One use by card 70..n at a moment: what is left of each cap, or the refusal.
CREATE FUNCTION pg_temp.use(n int, benefit text, store text, txn text, at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r record;
	detail text;
BEGIN
	SELECT * INTO r FROM loyalty.use_benefit_at(loyalty.card_issue('70', n), benefit, store, txn, at);
	RETURN format('granted #%s, left day/week/month %s/%s/%s', r.use_id, COALESCE(r.left_today::text, '-'),
				  COALESCE(r.left_this_week::text, '-'), COALESCE(r.left_this_month::text, '-'));
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM ||
		   CASE WHEN SQLSTATE LIKE 'LY%' AND detail <> '' THEN ' / ' || detail ELSE '' END;
END
$$;

INSERT INTO loyalty.program (code, time_zone) VALUES ('ikea', 'Europe/Stockholm'), ('other', 'UTC');
INSERT INTO loyalty.store (store, time_zone) VALUES ('STO', 'Europe/Stockholm'), ('NYC', 'America/New_York');
-- the ladder: family (base), gold, platinum; and a tier of another program
INSERT INTO loyalty.tier (program_id, code, rank, min_spend) VALUES
	(1, 'family', 0, NULL), (1, 'gold', 1, 1000), (1, 'platinum', 2, 5000), (2, 'x', 0, NULL);
-- members: 1 (base tier, born in November), 2 (gold, no birth date),
-- 3 (platinum), 4 (enrolled now), 5 (to be closed), 6 (to be replaced by 7)
SELECT loyalty.enroll(loyalty.card_issue('70', 1), 'ikea', birth_date => '1990-11-15', enrolled_at => '2000-01-01 00:00+00');
SELECT loyalty.enroll(loyalty.card_issue('70', n), 'ikea', enrolled_at => '2000-01-01 00:00+00')
  FROM generate_series(2, 3) AS n;
SELECT loyalty.enroll(loyalty.card_issue('70', 4), 'ikea');
SELECT loyalty.enroll(loyalty.card_issue('70', n), 'ikea', enrolled_at => '2000-01-01 00:00+00')
  FROM generate_series(5, 6) AS n;
-- members 2 and 3 in their tiers (an override; no member_tier row: the base tier)
SELECT loyalty.set_tier(loyalty.card_issue('70', 2), 'gold', 'benefit test') > 0 AS gold,
       loyalty.set_tier(loyalty.card_issue('70', 3), 'platinum', 'benefit test') > 0 AS platinum;
SELECT n, loyalty.tier_of(loyalty.card_issue('70', n)) FROM generate_series(1, 3) AS n;

-- ===== configuration: plain rows; bad ones refused with a documented SQLSTATE
INSERT INTO loyalty.benefit (program_id, code, name, days_of_week, per_day)
VALUES (1, 'coffee', 'free coffee', '{1,2,3,4,5}', 1);
INSERT INTO loyalty.benefit (program_id, code, name, days_of_week, hour_from, hour_to, per_week)
VALUES (1, 'consult', 'design consultation', '{1,2,3,4}', 10, 18, 1);
INSERT INTO loyalty.benefit (program_id, code, name, birthday_month, per_month)
VALUES (1, 'gift', 'birthday gift', true, 1);
INSERT INTO loyalty.benefit (program_id, code, name, tier_id)
VALUES (1, 'lounge', 'members'' lounge', 2);
INSERT INTO loyalty.benefit (program_id, code, per_week) VALUES (1, 'weekly', 1);
INSERT INTO loyalty.benefit (program_id, code, per_month) VALUES (1, 'monthly', 1);
INSERT INTO loyalty.benefit (program_id, code, per_day, per_week, per_month) VALUES (1, 'snack', 2, 3, 5);
INSERT INTO loyalty.benefit (program_id, code, valid_from, valid_to)
VALUES (1, 'spring', '2025-03-01 00:00+00', '2025-06-01 00:00+00');
INSERT INTO loyalty.benefit (program_id, code) VALUES (1, 'water');
SELECT benefit_id, code, tier_id, days_of_week, hour_from, hour_to, per_day, per_week, per_month, birthday_month
  FROM loyalty.benefit ORDER BY benefit_id;
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('a cap of 0 a day',        $$INSERT INTO loyalty.benefit (program_id, code, per_day) VALUES (1, 'b1', 0)$$),
  ('a cap of 0 a week',       $$INSERT INTO loyalty.benefit (program_id, code, per_week) VALUES (1, 'b2', 0)$$),
  ('a cap of 0 a month',      $$INSERT INTO loyalty.benefit (program_id, code, per_month) VALUES (1, 'b3', 0)$$),
  ('a cap of 0 set later',    $$UPDATE loyalty.benefit SET per_day = 0 WHERE code = 'coffee'$$),
  ('empty hour window',       $$INSERT INTO loyalty.benefit (program_id, code, hour_from, hour_to) VALUES (1, 'b4', 12, 12)$$),
  ('hours the wrong way',     $$INSERT INTO loyalty.benefit (program_id, code, hour_from, hour_to) VALUES (1, 'b5', 18, 10)$$),
  ('hour_from alone',         $$INSERT INTO loyalty.benefit (program_id, code, hour_from) VALUES (1, 'b6', 10)$$),
  ('day 0',                   $$INSERT INTO loyalty.benefit (program_id, code, days_of_week) VALUES (1, 'b7', '{0,1}')$$),
  ('no days',                 $$INSERT INTO loyalty.benefit (program_id, code, days_of_week) VALUES (1, 'b8', '{}')$$),
  ('validity the wrong way',  $$INSERT INTO loyalty.benefit (program_id, code, valid_from, valid_to) VALUES (1, 'b9', '2025-06-01', '2025-03-01')$$),
  ('empty code',              $$INSERT INTO loyalty.benefit (program_id, code) VALUES (1, '')$$),
  ('code taken',              $$INSERT INTO loyalty.benefit (program_id, code) VALUES (1, 'coffee')$$),
  ('same code, other program', $$INSERT INTO loyalty.benefit (program_id, code) VALUES (2, 'coffee')$$),
  ('tier of another program', $$INSERT INTO loyalty.benefit (program_id, code, tier_id) VALUES (1, 'b10', 4)$$),
  ('moved to another program', $$UPDATE loyalty.benefit SET program_id = 2 WHERE code = 'lounge'$$),
  ('unknown tier',            $$INSERT INTO loyalty.benefit (program_id, code, tier_id) VALUES (1, 'b11', 99)$$)
) AS t(what, statement);
DELETE FROM loyalty.benefit WHERE program_id = 2;

-- ===== the IKEA coffee: Monday to Friday, once a day (member 1, store STO)
SELECT what, pg_temp.use(1, 'coffee', 'STO', txn, at) FROM (VALUES
  ('Saturday 10:00',              'C1', '2025-11-29 10:00+01'::timestamptz),  -- LY084
  ('Monday 09:00',                'C2', '2025-12-01 09:00+01'),               -- granted, 0 left today
  ('Monday 15:00, second cup',    'C3', '2025-12-01 15:00+01'),               -- LY086: again on Tuesday
  ('Tuesday 09:00',               'C4', '2025-12-02 09:00+01'),               -- granted again
  ('Tuesday 00:30 (Monday UTC)',  'C5', '2025-12-01 23:30+00')                -- Tuesday locally: the cup of C4 counts
) AS t(what, txn, at);
-- the store's zone decides the day: Friday 20:00 in New York is Saturday
-- 02:00 in Stockholm (member 2)
SELECT what, pg_temp.use(2, 'coffee', store, txn, at) FROM (VALUES
  ('Friday 20:00 at NYC',         'NYC', 'N1', '2025-11-28 20:00-05'::timestamptz),  -- granted: Friday there
  ('the same moment at STO',      'STO', 'N2', '2025-11-28 20:00-05')                -- LY084: Saturday there
) AS t(what, store, txn, at);

-- ===== the design consultation: Monday to Thursday, 10:00-18:00, once a week
SELECT what, pg_temp.use(1, 'consult', 'STO', txn, at) FROM (VALUES
  ('Thursday 09:30',              'D1', '2025-12-04 09:30+01'::timestamptz),  -- LY085
  ('Thursday 11:00',              'D2', '2025-12-04 11:00+01'),               -- granted, 0 left this week
  ('Thursday 17:59',              'D3', '2025-12-04 17:59+01'),               -- LY086 (week)
  ('Thursday 18:00',              'D4', '2025-12-04 18:00+01'),               -- LY085: [10, 18)
  ('Friday 11:00',                'D5', '2025-12-05 11:00+01'),               -- LY084
  ('Wednesday before, 11:00',     'D6', '2025-12-03 11:00+01'),               -- LY086: same week as D2
  ('Monday after, 10:00',         'D7', '2025-12-08 10:00+01')                -- granted: a new week
) AS t(what, txn, at);

-- ===== the birthday-month gift: member 1 was born in November; 2 has no birth date
SELECT what, pg_temp.use(n, 'gift', 'STO', txn, at) FROM (VALUES
  ('member 1 in November',        1, 'G1', '2025-11-14 12:00+01'::timestamptz),  -- granted
  ('member 1 again in November',  1, 'G2', '2025-11-28 12:00+01'),               -- LY086 (month)
  ('member 1 in December',        1, 'G3', '2025-12-02 12:00+01'),               -- LY083
  ('member 1, 1 Dec 00:30 local', 1, 'G4', '2025-11-30 23:30+00'),               -- LY083: December locally
  ('member 2, no birth date',     2, 'G5', '2025-11-14 12:00+01')                -- LY083
) AS t(what, n, txn, at);

-- ===== caps across the week's and the month's boundary in the store's zone:
-- 23:59 and 00:01 local are two days (and weeks, and months) apart, though
-- both moments are Sunday 30 November in UTC
SELECT what, pg_temp.use(3, 'weekly', 'STO', txn, at) FROM (VALUES
  ('Sunday 30 Nov 23:59',         'W1', '2025-11-30 23:59+01'::timestamptz),  -- granted, week of 24 Nov
  ('Monday 1 Dec 00:01',          'W2', '2025-12-01 00:01+01'),               -- granted, week of 1 Dec
  ('Monday 1 Dec 00:02',          'W3', '2025-12-01 00:02+01'),               -- LY086: again from 8 Dec
  ('Sunday 7 Dec 23:59',          'W4', '2025-12-07 23:59+01'),               -- LY086: same week
  ('Monday 8 Dec 00:00',          'W5', '2025-12-08 00:00+01')                -- granted
) AS t(what, txn, at);
SELECT what, pg_temp.use(3, 'monthly', 'STO', txn, at) FROM (VALUES
  ('Sunday 30 Nov 23:59',         'M1', '2025-11-30 23:59+01'::timestamptz),  -- granted (November)
  ('Monday 1 Dec 00:01',          'M2', '2025-12-01 00:01+01'),               -- granted (December)
  ('Wednesday 31 Dec 23:59',      'M3', '2025-12-31 23:59+01'),               -- LY086: again from 1 Jan
  ('Thursday 1 Jan 00:00',        'M4', '2026-01-01 00:00+01')                -- granted
) AS t(what, txn, at);
-- the days, weeks and months the uses were counted in
SELECT pos_txn, used_at, time_zone, day, week, month FROM loyalty.benefit_use
 WHERE pos_txn IN ('W1', 'W2', 'W5', 'M1', 'M2', 'M4') ORDER BY use_id;
-- three caps at once: 2 a day, 3 a week, 5 a month; when several are
-- reached the one that frees up last is named (member 2)
SELECT what, pg_temp.use(2, 'snack', 'STO', txn, at) FROM (VALUES
  ('Mon 1 Dec 10:00',             'S1', '2025-12-01 10:00+01'::timestamptz),  -- 1/2/4
  ('Mon 1 Dec 11:00',             'S2', '2025-12-01 11:00+01'),               -- 0/1/3
  ('Mon 1 Dec 12:00',             'S3', '2025-12-01 12:00+01'),               -- LY086 day
  ('Tue 2 Dec 10:00',             'S4', '2025-12-02 10:00+01'),               -- 1/0/2
  ('Wed 3 Dec 10:00',             'S5', '2025-12-03 10:00+01'),               -- LY086 week, from 8 Dec
  ('Mon 8 Dec 10:00',             'S6', '2025-12-08 10:00+01'),               -- 1/2/1
  ('Mon 8 Dec 11:00',             'S7', '2025-12-08 11:00+01'),               -- 0/1/0
  ('Mon 8 Dec 12:00',             'S8', '2025-12-08 12:00+01')                -- LY086 month (day too), from 1 Jan
) AS t(what, txn, at);

-- ===== a tier benefit goes to the tier and every higher rank
SELECT what, pg_temp.use(n, 'lounge', 'STO', txn, '2025-12-01 12:00+01') FROM (VALUES
  ('member 1, base tier family',  1, 'L1'),   -- LY082
  ('member 2, gold',              2, 'L2'),   -- granted, no caps
  ('member 3, platinum',          3, 'L3')    -- granted: a higher rank
) AS t(what, n, txn);

-- ===== validity dates: [valid_from, valid_to)
SELECT what, pg_temp.use(1, 'spring', 'STO', txn, at) FROM (VALUES
  ('before valid_from',           'V1', '2025-02-28 23:59+00'::timestamptz),  -- LY081
  ('at valid_from',               'V2', '2025-03-01 00:00+00'),               -- granted
  ('just before valid_to',        'V3', '2025-05-31 23:59+00'),               -- granted
  ('at valid_to',                 'V4', '2025-06-01 00:00+00')                -- LY081
) AS t(what, txn, at);

-- ===== retries: (store, pos_txn) names one use
SELECT count(*) AS uses_before FROM loyalty.benefit_use \gset
SELECT what, pg_temp.use(n, benefit, 'STO', txn, at) FROM (VALUES
  ('the second cup of C2 again',  1, 'coffee', 'C2', '2025-12-01 09:00+01'::timestamptz),  -- the same answer
  ('C2 again, other card',        2, 'coffee', 'C2', '2025-12-01 09:00+01'),               -- LY011
  ('C2 again, other benefit',     1, 'water',  'C2', '2025-12-01 09:00+01'),               -- LY011
  ('C2 again, other moment',      1, 'coffee', 'C2', '2025-12-01 09:01+01'),               -- LY011
  ('a refused use, retried',      1, 'coffee', 'C3', '2025-12-01 15:00+01')                -- LY086 again: nothing was recorded
) AS t(what, n, benefit, txn, at);
SELECT count(*) - :uses_before AS uses_added_by_retries FROM loyalty.benefit_use;
-- use_benefit itself (now): water has no conditions and no caps
SELECT member_id, left_today, left_this_week, left_this_month, used_at > now() - interval '1 minute' AS used_now
  FROM loyalty.use_benefit(loyalty.card_issue('70', 2), 'water', 'STO', 'WATER-1');
SELECT use_id AS water_use FROM loyalty.benefit_use WHERE pos_txn = 'WATER-1' \gset
SELECT use_id = :water_use AS same_use, member_id, used_at = (SELECT used_at FROM loyalty.benefit_use WHERE use_id = :water_use) AS same_moment
  FROM loyalty.use_benefit(loyalty.card_issue('70', 2), 'water', 'STO', 'WATER-1');
SELECT count(*) AS water_uses FROM loyalty.benefit_use WHERE pos_txn LIKE 'WATER-%';
-- a suspended member's retry is answered; a new use is refused
SELECT loyalty.set_member_status(loyalty.card_issue('70', 2), 'suspended');
SELECT use_id = :water_use AS retry_answered
  FROM loyalty.use_benefit(loyalty.card_issue('70', 2), 'water', 'STO', 'WATER-1');
SELECT loyalty.set_member_status(loyalty.card_issue('70', 5), 'closed');
SELECT loyalty.replace_card(loyalty.card_issue('70', 6), loyalty.card_issue('70', 7));

-- ===== every refusal, and nothing written by any of them
SELECT count(*) AS uses_before FROM loyalty.benefit_use \gset
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('suspended member',        $$SELECT loyalty.use_benefit(loyalty.card_issue('70', 2), 'water', 'STO', 'X1')$$),
  ('closed member',           $$SELECT loyalty.use_benefit(loyalty.card_issue('70', 5), 'water', 'STO', 'X2')$$),
  ('unknown card',            $$SELECT loyalty.use_benefit(loyalty.card_issue('70', 99), 'water', 'STO', 'X3')$$),
  ('replaced card',           $$SELECT loyalty.use_benefit(loyalty.card_issue('70', 6), 'water', 'STO', 'X4')$$),
  ('unknown benefit',         $$SELECT loyalty.use_benefit(loyalty.card_issue('70', 1), 'tea', 'STO', 'X5')$$),
  ('benefit of another program', $$SELECT loyalty.use_benefit(loyalty.card_issue('70', 1), 'b10', 'STO', 'X6')$$),
  ('no benefit',              $$SELECT loyalty.use_benefit(loyalty.card_issue('70', 1), NULL, 'STO', 'X7')$$),
  ('empty store',             $$SELECT loyalty.use_benefit(loyalty.card_issue('70', 1), 'water', '', 'X8')$$),
  ('no pos_txn',              $$SELECT loyalty.use_benefit(loyalty.card_issue('70', 1), 'water', 'STO', NULL)$$),
  ('a use in the future',     $$SELECT loyalty.use_benefit_at(loyalty.card_issue('70', 1), 'water', 'STO', 'X9', now() + interval '1 hour')$$),
  ('a use at infinity',       $$SELECT loyalty.use_benefit_at(loyalty.card_issue('70', 1), 'water', 'STO', 'X10', 'infinity')$$),
  ('no time',                 $$SELECT loyalty.use_benefit_at(loyalty.card_issue('70', 1), 'water', 'STO', 'X11', NULL)$$),
  ('before the enrolment',    $$SELECT loyalty.use_benefit_at(loyalty.card_issue('70', 4), 'water', 'STO', 'X12', '2025-01-01 12:00+00')$$)
) AS t(what, statement);
SELECT count(*) - :uses_before AS uses_added_by_refusals FROM loyalty.benefit_use;
SELECT loyalty.set_member_status(loyalty.card_issue('70', 2), 'active');

-- a used benefit cannot be deleted (its uses keep it); end its validity instead
SELECT pg_temp.outcome($$DELETE FROM loyalty.benefit WHERE code = 'coffee'$$) AS delete_used_benefit;
SELECT pg_temp.outcome($$UPDATE loyalty.benefit SET valid_to = '2025-12-03 00:00+00' WHERE code = 'coffee'$$) AS end_it;
SELECT pg_temp.use(1, 'coffee', 'STO', 'C6', '2025-12-03 09:00+01') AS coffee_after_its_end;

-- the uses by benefit and member, and the balances untouched (benefits are
-- not points); the invariants hold
SELECT b.code, u.member_id, count(*) AS uses
  FROM loyalty.benefit_use u JOIN loyalty.benefit b USING (benefit_id)
 GROUP BY b.code, u.member_id ORDER BY b.code, u.member_id;
SELECT count(*) AS ledger_entries FROM loyalty.ledger;
SELECT * FROM loyalty.check_invariants();
