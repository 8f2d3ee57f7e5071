-- The demo's analytics part (demo.sql includes it): a second program with
-- two years of history, then the analyst's reports of README's "An
-- analyst's guide": RFM segments, cohort repurchase, activity, the CLV
-- top 10, the win-back list and the replenishment list.

\echo
\echo '== 12. Two years of history for the analytics: program home, 1,000 members'
\echo 'The baby program above has six months of a few visits each: too little for the customer-base'
\echo 'models.  So the demo writes a deterministic SYNTHETIC purchase history (md5 of the member and'
\echo 'visit numbers, no random()): each member starts in the first year, buys at his own rate and'
\echo 'drops out after a purchase with his own probability (the story BG/NBD tells); every third'
\echo 'member is a parent who buys formula every 14, 21, 28 or 30 days (+-15%) until the child'
\echo 'grows out of it.  Each sale is a plain INSERT (back-filled by an admin), as in part 3.'
INSERT INTO loyalty.program (code, name, currency, point_value, time_zone)
VALUES ('home', 'Home & Family Club', 'EUR', 0.01, 'Europe/Berlin');
SELECT count(*) AS enrolled
  FROM generate_series(1, 1000) AS n,
       LATERAL loyalty.enroll(loyalty.card_issue('6002', n), 'home',
                              region => (ARRAY['north', 'south', 'east', 'west'])[1 + n % 4],
                              home_store => 'S0' || (1 + n % 3),
                              enrolled_at => now() - interval '800 days') AS m;
-- a uniform number in [0, 1) from a text, the same on every run
CREATE FUNCTION pg_temp.u(key text) RETURNS double precision LANGUAGE sql IMMUTABLE
AS $$ SELECT ('x' || substr(md5(key), 1, 8))::bit(32)::bigint / 4294967296.0 $$;
INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines)
WITH RECURSIVE m AS (
	SELECT n, n % 3 = 0 AS parent, (ARRAY[14, 21, 28, 30])[1 + n % 4] AS cycle,
	       (0.1 + 1.2 * pg_temp.u(n || 'rate') ^ 2) / 7 AS rate_per_day,
	       CASE WHEN n % 3 = 0 THEN 0.02 + 0.06 * pg_temp.u(n || 'drop') ELSE 0.02 + 0.25 * pg_temp.u(n || 'drop') END AS p_drop,
	       15 + 60 * pg_temp.u(n || 'spend') AS mean_spend
	  FROM generate_series(1, 1000) n
), visit AS (
	-- day d (days since two years ago) of the member's k-th purchase
	SELECT m.n, 1 AS k, 365 * pg_temp.u(m.n || 'start') AS d FROM m
	UNION ALL
	SELECT v.n, v.k + 1, v.d + CASE WHEN m.parent THEN m.cycle * (0.85 + 0.3 * pg_temp.u(v.n || ':' || v.k || 'gap'))
	                                ELSE -ln(1 - pg_temp.u(v.n || ':' || v.k || 'gap')) / m.rate_per_day END
	  FROM visit v JOIN m ON m.n = v.n
	 WHERE v.d < 730 AND pg_temp.u(v.n || ':' || v.k || 'drop') >= m.p_drop AND v.k < 400
)
SELECT 'S0' || (1 + (v.n + (v.k % 5 = 0)::int) % 3), 'HOME-' || v.n || '-' || v.k, loyalty.card_issue('6002', v.n),
       now() - interval '730 days' + v.d * interval '1 day', a.main + a.extra,
       CASE WHEN a.extra = 0 THEN jsonb_build_array(jsonb_build_object('sku', a.sku, 'category', a.category, 'qty', 1, 'amount', a.main))
            ELSE jsonb_build_array(jsonb_build_object('sku', a.sku, 'category', a.category, 'qty', 1, 'amount', a.main),
                                   jsonb_build_object('sku', 'D1', 'category', 'food', 'qty', 1, 'amount', a.extra)) END
  FROM visit v JOIN m ON m.n = v.n,
       LATERAL (SELECT round((m.mean_spend * (0.6 + 0.8 * pg_temp.u(v.n || ':' || v.k || 'amount')))::numeric, 2) AS main,
                       CASE WHEN m.parent AND v.k % 2 = 0 THEN 9.90 ELSE 0 END AS extra,
                       CASE WHEN m.parent THEN 'formula'
                            ELSE (ARRAY['food', 'toys', 'clothes'])[1 + (pg_temp.u(v.n || ':' || v.k || 'cat') * 3)::int % 3] END AS category,
                       CASE WHEN m.parent THEN 'F' || (v.n % 4) ELSE 'K' || (v.k % 9) END AS sku) a
 WHERE v.d < 729.9;
SELECT count(*) AS sales, count(DISTINCT member_id) AS buyers, min(occurred_at)::date AS first_sale, max(occurred_at)::date AS last_sale
  FROM loyalty.sale WHERE member_id IN (SELECT member_id FROM loyalty.member WHERE program_id = (SELECT program_id FROM loyalty.program WHERE code = 'home'));

SET ROLE demo_analyst;
\echo
\echo '== 13. The analyst: RFM segments of program home as of now'
SELECT segment, count(*) AS members, round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS share_pct,
       round(avg(monetary), 2) AS avg_monetary
  FROM loyalty.rfm(now(), 'home') GROUP BY segment ORDER BY members DESC, segment;
\echo 'first-purchase cohorts: who came back within 90 days, and the repeat share of revenue (RN3)'
SELECT cohort, new_customers, repurchase_rate, repeat_revenue_share AS rn3, complete
  FROM loyalty.repurchase(now() - interval '2 years', now(), 90, program => 'home') ORDER BY cohort LIMIT 6;
SELECT * FROM loyalty.activity(now(), program => 'home');

\echo
\echo 'the customer-base models fitted to the summaries in weeks (days in the program''s zone):'
SET TimeZone = 'Europe/Berlin';
WITH s AS (
  SELECT member_id, loyalty.purchase_summary(occurred_at, CASE WHEN return_of IS NULL THEN total ELSE -total END, now()) AS ps
    FROM loyalty.sale
   WHERE member_id IN (SELECT member_id FROM loyalty.member JOIN loyalty.program USING (program_id) WHERE code = 'home')
   GROUP BY member_id
)
SELECT round((bg).r::numeric, 3) AS r, round((bg).alpha::numeric, 3) AS alpha, round((bg).a::numeric, 3) AS a,
       round((bg).b::numeric, 3) AS b, (bg).n AS customers, round((gg).p::numeric, 2) AS p, round((gg).q::numeric, 2) AS q,
       round((gg).gamma::numeric, 2) AS gamma, (gg).n AS repeat_buyers
  FROM (SELECT loyalty.bgnbd_fit((ps).x, (ps).t_x, (ps).t) AS bg, loyalty.gg_fit((ps).x, (ps).monetary) AS gg FROM s) f;
RESET TimeZone;

\echo
\echo '== 14. CLV top 10: the next 52 weeks, discounted 0.18% a week (about 10% a year)'
SELECT c.card, v.x + 1 AS purchase_days, v.total, round(v.p_alive::numeric, 3) AS p_alive,
       round(v.expected_purchases::numeric, 1) AS next_52_weeks, round(v.expected_spend::numeric, 2) AS spend_each,
       round(v.clv::numeric, 2) AS clv
  FROM loyalty.member_value(now(), 'home', 52, 0.0018) v
  JOIN loyalty.member_card c ON c.member_id = v.member_id AND c.replaced_at IS NULL
 ORDER BY v.clv DESC NULLS LAST, v.member_id LIMIT 10;

\echo
\echo '== 15. The win-back list: P(alive) at most 0.5, among the better-spending half, biggest first'
SELECT count(*) AS to_win_back FROM loyalty.winback(now(), 'home');
SELECT card, home_store, last_purchase_at::date AS last_purchase, purchase_days, total,
       round(value_rank::numeric, 2) AS value_rank, round(p_alive::numeric, 3) AS p_alive
  FROM loyalty.winback(now(), 'home') LIMIT 10;

\echo
\echo '== 16. Replenishment: a regular cadence per member and category, due in the next 7 days'
SELECT count(*) AS reminders, count(*) FILTER (WHERE category = 'formula') AS formula
  FROM loyalty.replenishment_due(now(), 7, 'home');
SELECT card, category, last_bought, expected, days_until, median_gap, round(regularity::numeric, 2) AS regularity
  FROM loyalty.replenishment_due(now(), 7, 'home') LIMIT 10;
RESET ROLE;
