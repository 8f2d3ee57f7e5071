-- Two redemptions in a row, two transactions (as redeem.sql, twice): what
-- any two-step payment costs at least -- the yardstick of hold_pair.sql.
\set m random(1, :members)
\set k random(1, 1000000000000)
SELECT redemption_id FROM loyalty.redeem(loyalty.card_issue('40', :m), 5, 'bench', 'a-' || :m || '-' || :client_id || '-' || :k);
SELECT redemption_id FROM loyalty.redeem(loyalty.card_issue('40', :m), 5, 'bench', 'b-' || :m || '-' || :client_id || '-' || :k);
