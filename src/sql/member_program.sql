
--
-- The member's program on the balance row (0.3.0).  A posting locks the
-- member_balance row anyway; with the program there, finding a card's member
-- takes two index look-ups (member_card, member_balance) instead of three.
-- enroll() writes it; member_status_guard copies a changed program_id as it
-- copies the status (both in program.sql; the upgrade script replaces them).
--
ALTER TABLE loyalty.member_balance ADD COLUMN program_id integer;
UPDATE loyalty.member_balance b SET program_id = m.program_id
  FROM loyalty.member m WHERE m.member_id = b.member_id;
ALTER TABLE loyalty.member_balance ALTER COLUMN program_id SET NOT NULL;
COMMENT ON COLUMN loyalty.member_balance.program_id IS 'The member''s program (a copy of member.program_id, kept by enroll() and the member_status_guard trigger).';
