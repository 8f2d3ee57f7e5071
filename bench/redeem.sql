-- loyalty.redeem on a random pre-funded member with a fresh (store, pos_txn):
-- card lookup and balance row lock, replay check, open lots, ledger row, lot
-- update, balance update.  Members hold far more than the run can spend, so
-- every redemption succeeds.
\set m random(1, :members)
\set k random(1, 1000000000000)
SELECT redemption_id FROM loyalty.redeem(loyalty.card_issue('40', :m), 5, 'bench', 'r-' || :m || '-' || :client_id || '-' || :k);
