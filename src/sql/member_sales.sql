
--
-- The member's sales count on the balance row (0.3.0): the sale trigger adds
-- one per sale (returns do not count) under the member's lock, in the update
-- of the row it makes anyway, and the first-purchase test reads it instead
-- of looking for an earlier sale.  It is also the F of RFM.
--
ALTER TABLE loyalty.member_balance ADD COLUMN sales bigint NOT NULL DEFAULT 0;
UPDATE loyalty.member_balance b SET sales = s.n
  FROM (SELECT member_id, count(*) AS n FROM loyalty.sale
         WHERE member_id IS NOT NULL AND return_of IS NULL GROUP BY member_id) s
 WHERE s.member_id = b.member_id;
COMMENT ON COLUMN loyalty.member_balance.sales IS 'The member''s sales (returns not counted), counted by the sale trigger.';
