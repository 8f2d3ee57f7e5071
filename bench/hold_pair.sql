-- A till paying with points through a hold: loyalty.authorize on a random
-- pre-funded member with a fresh (store, pos_txn), then loyalty.capture of
-- all of it -- two statements, two transactions, as a till sends them.
\set m random(1, :members)
\set k random(1, 1000000000000)
SELECT hold_id AS h FROM loyalty.authorize(loyalty.card_issue('40', :m), 5, 'bench', 'h-' || :m || '-' || :client_id || '-' || :k) \gset
SELECT status FROM loyalty.capture(:h);
