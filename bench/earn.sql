-- loyalty.earn on a random member with a fresh idempotency key: card lookup
-- and balance row lock, replay check, ledger row, lot, balance update.
\set m random(1, :members)
\set k random(1, 1000000000000)
SELECT entry_id FROM loyalty.earn(loyalty.card_issue('40', :m), 10, 'e-' || :m || '-' || :client_id || '-' || :k);
