-- loyalty.authorize alone on a random pre-funded member with a fresh
-- (store, pos_txn); hold_costs.sh captures the holds it leaves afterwards.
\set m random(1, :members)
\set k random(1, 1000000000000)
SELECT hold_id FROM loyalty.authorize(loyalty.card_issue('40', :m), 5, 'bench', 'h-' || :m || '-' || :client_id || '-' || :k);
