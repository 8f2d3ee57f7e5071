-- Fuzzer finding F1 (issue 12 §2; seed 1, step 577 of 1,000 before the model
-- was told): expire_points posts expire entries to a closed member.
-- README, "Sales" (returns): "a closed membership's balance is final, can
-- never be redeemed and is never posted to again".  Either expire_points
-- should skip closed members, or the README should say that expiry still
-- runs on a closed balance.  test/scripts/fuzz_model.py follows the
-- extension (CLOSED_EXPIRE = True) until the lead decides.
-- Run: psql -X -d <scratch db> -f test/findings/fuzz_f1_expire_closed.sql
CREATE EXTENSION IF NOT EXISTS loyalty;
INSERT INTO loyalty.program (code, expiry_after) VALUES ('f1', '30 days');
SELECT loyalty.enroll('4000000000000101', 'f1', enrolled_at => now() - interval '100 days');
SELECT points FROM loyalty.earn('4000000000000101', 100, 'f1-e1', NULL, now() - interval '90 days');
SELECT loyalty.set_member_status('4000000000000101', 'closed', 'left the program');
SELECT * FROM loyalty.expire_points();
-- the README says a closed balance is never posted to again; the extension posts:
SELECT kind, points, effective_at < now() AS back_dated
  FROM loyalty.ledger WHERE member_id = loyalty.member_id('4000000000000101') ORDER BY entry_id;
--  kind   | points
--  earn   |    100
--  expire |   -100      <- a posting to a closed member
