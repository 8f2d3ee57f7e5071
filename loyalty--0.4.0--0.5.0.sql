-- loyalty 0.4.0 -> 0.5.0: hardening (issue "Hardening I").
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.5.0'" to load this file. \quit

-- Back-dating policy (h-ret): how far back a POS may date a sale or a return.
ALTER TABLE loyalty.program ADD COLUMN backdate_limit interval NOT NULL DEFAULT interval '1 day'
	CHECK (backdate_limit >= interval '0' AND backdate_limit <= interval '366 days');
COMMENT ON COLUMN loyalty.program.backdate_limit IS 'How far back a POS may date a sale or a return (occurred_at): 1 day by default, at most 366 days, and never before the member''s enrolment. A caller who may change this column (the admin level) is bound by neither: a back-fill.';
