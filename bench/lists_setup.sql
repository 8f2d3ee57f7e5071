-- Analytics lists benchmark data (bench/lists.sh): one program (time zone
-- Europe/Paris), twenty stores in four regions, :members members and
-- :members * :per_member sales over the two years before now, about 3% of
-- them returned in full a few days later.
--
-- The fastest honest load: members and cards are INSERTed directly as the
-- extension's owner (enroll() would take minutes per 100,000), and the sales
-- in one INSERT ... SELECT with the sale triggers disabled for the load
-- (ALTER TABLE ... DISABLE TRIGGER, owner only; enabled again at the end):
-- the rows carry the member_id the trigger would fill in, and earn nothing.
-- Every index of loyalty.sale (the two GIN indexes on the lines included) is
-- kept up to date by the load.  The lists read only member, member_card,
-- program, store and sale, so points, ledger and balances are not needed.
\set ON_ERROR_STOP 1
CREATE EXTENSION loyalty;
INSERT INTO loyalty.program (code, time_zone) VALUES ('bench', 'Europe/Paris');
INSERT INTO loyalty.store (store, region, time_zone)
SELECT 'S' || s, 'R' || (s % 4), 'Europe/Paris' FROM generate_series(1, 20) s;
INSERT INTO loyalty.member (member_id, program_id, home_store, enrolled_at)
SELECT m, (SELECT program_id FROM loyalty.program), 'S' || (1 + m % 20), now() - interval '3 years'
  FROM generate_series(1, :members) m;
INSERT INTO loyalty.member_card (member_id, card)
SELECT m, loyalty.card_issue('40', m) FROM generate_series(1, :members) m;

ALTER TABLE loyalty.sale DISABLE TRIGGER sale_award;
ALTER TABLE loyalty.sale DISABLE TRIGGER sale_statement_end;
SELECT setseed(0.42) \gset
-- a sale: a random member, a store near the member's (its own 70% of the
-- time), a time in the last two years, one or two lines.  With :lapse 1
-- (BENCH_LAPSE) member m stops buying a fraction lf = 0.9 * ((m * 7919) %
-- 1009) / 1009 of the two years before now (members lapse, as the
-- customer-base models assume); with 0 (the default), lf = 0: any time of the two years.
INSERT INTO loyalty.sale (sale_id, store, pos_txn, card, occurred_at, total, lines, member_id)
SELECT i, st, 'B' || i, loyalty.card_issue('40', m), t, a1 + a2,
	   CASE WHEN a2 = 0 THEN jsonb_build_array(jsonb_build_object('sku', 'K' || k1, 'category', 'c' || (k1 % 12), 'qty', 1, 'amount', a1))
			ELSE jsonb_build_array(jsonb_build_object('sku', 'K' || k1, 'category', 'c' || (k1 % 12), 'qty', 1, 'amount', a1),
								   jsonb_build_object('sku', 'K' || k2, 'category', 'c' || (k2 % 12), 'qty', 1, 'amount', a2)) END,
	   m
  FROM (SELECT i, m,
			   'S' || CASE WHEN random() < 0.7 THEN 1 + m % 20 ELSE 1 + (random() * 19)::int END AS st,
			   now() - interval '730 days' * (lf + (1 - lf) * random()) - interval '1 hour' AS t,
			   round((5 + random() * 95)::numeric, 2) AS a1,
			   CASE WHEN random() < 0.5 THEN 0 ELSE round((1 + random() * 40)::numeric, 2) END AS a2,
			   (random() * 2000)::int AS k1, (random() * 2000)::int AS k2
		  FROM (SELECT i, m, CASE WHEN :lapse = 1 THEN 0.9 * ((m * 7919) % 1009) / 1009.0 ELSE 0 END AS lf
				  FROM (SELECT i, 1 + (CASE WHEN :lapse = 1 THEN random() ^ 2 ELSE random() END * (:members - 1))::bigint AS m
						  FROM generate_series(1, :members * :per_member) i) g0) g) x;
-- returns: 3% of the sales, in full, up to 10 days later (not after now)
INSERT INTO loyalty.sale (sale_id, store, pos_txn, card, occurred_at, total, lines, return_of, member_id)
SELECT :members * :per_member + row_number() OVER (ORDER BY s.sale_id), s.store, 'R' || s.sale_id, s.card,
	   least(s.occurred_at + interval '10 days' * random(), now() - interval '1 minute'),
	   s.total, s.lines, s.sale_id, s.member_id
  FROM loyalty.sale s
 WHERE random() < 0.03;
ALTER TABLE loyalty.sale ENABLE ALWAYS TRIGGER sale_award;
ALTER TABLE loyalty.sale ENABLE ALWAYS TRIGGER sale_statement_end;
SELECT setval('loyalty.sale_id_seq', (SELECT max(sale_id) FROM loyalty.sale)) \gset
VACUUM ANALYZE loyalty.sale;
VACUUM ANALYZE loyalty.member;
VACUUM ANALYZE loyalty.member_card;
SELECT (SELECT count(*) FROM loyalty.member) AS members,
	   (SELECT count(*) FROM loyalty.sale WHERE return_of IS NULL) AS sales,
	   (SELECT count(*) FROM loyalty.sale WHERE return_of IS NOT NULL) AS returns,
	   pg_size_pretty(pg_total_relation_size('loyalty.sale')) AS sale_table_with_indexes,
	   (SELECT string_agg(tgname || '=' || tgenabled::text, ' ' ORDER BY tgname) FROM pg_trigger
		 WHERE tgrelid = 'loyalty.sale'::regclass AND NOT tgisinternal) AS triggers_after_load;

-- The timer: milliseconds one statement takes, its rows consumed server-side.
CREATE FUNCTION bench_ms(q text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE q;
	RETURN round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000, 1);
END
$$;
