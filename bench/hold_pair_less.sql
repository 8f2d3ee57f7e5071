-- As hold_pair.sql, but the capture takes 3 of the 5 points held and puts 2
-- back into their lot (one more UPDATE of loyalty.lot).
\set m random(1, :members)
\set k random(1, 1000000000000)
SELECT hold_id AS h FROM loyalty.authorize(loyalty.card_issue('40', :m), 5, 'bench', 'h-' || :m || '-' || :client_id || '-' || :k) \gset
SELECT status FROM loyalty.capture(:h, 3);
