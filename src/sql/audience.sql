
--
-- Targeted offers (audiences).  An audience is a list of members of one
-- program, loaded in bulk (INSERT ... SELECT into loyalty.audience_member,
-- or loyalty.audience_add), with an optional window and an optional opt-in:
-- an opt_in audience counts a member only once the member clipped the offer
-- (loyalty.clip_offer, from the POS or an app).  An earning rule names an
-- audience by code (rule.audience): it then fires only for the audience's
-- members, within the audience's window as well as its own, and with its
-- caps and budget as usual.  The sale trigger compiles the code into the
-- audience's id with the rules (a change to loyalty.audience recompiles
-- them) and reads membership by one probe of audience_member_pkey per rule
-- that names an audience (src/audience.c); membership changes need no
-- recompilation.  An audience a rule names cannot be deleted, renamed or
-- moved to another program (LY131): take it out of the rule first.
--

CREATE SEQUENCE loyalty.audience_id_seq;
COMMENT ON SEQUENCE loyalty.audience_id_seq IS 'Audience ids.';
CREATE TABLE loyalty.audience (
	audience_id		bigint NOT NULL DEFAULT pg_catalog.nextval('loyalty.audience_id_seq') PRIMARY KEY,
	program_id		integer NOT NULL REFERENCES loyalty.program,
	code			text NOT NULL CHECK (code <> ''),
	name			text,
	opt_in			boolean NOT NULL DEFAULT false,
	valid_from		timestamptz,
	valid_to		timestamptz,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	UNIQUE (program_id, code),
	CHECK (valid_to > valid_from)
);
COMMENT ON TABLE loyalty.audience IS 'Audiences of targeted offers: lists of members of a program (loyalty.audience_member) that earning rules can be limited to (rule.audience).';
COMMENT ON COLUMN loyalty.audience.code IS 'Name rules, audience_add and clip_offer use; unique per program.';
COMMENT ON COLUMN loyalty.audience.opt_in IS 'true: a member counts only once clipped (clip_offer sets audience_member.clipped_at); false: every member of the list counts.';
COMMENT ON COLUMN loyalty.audience.valid_from IS 'A rule naming the audience fires for sales from this moment on; NULL: no start.';
COMMENT ON COLUMN loyalty.audience.valid_to IS 'A rule naming the audience fires for sales before this moment, and the offer can be clipped until then; NULL: no end.';

CREATE TABLE loyalty.audience_member (
	member_id		bigint NOT NULL REFERENCES loyalty.member,
	audience_id		bigint NOT NULL REFERENCES loyalty.audience ON DELETE CASCADE,
	added_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	clipped_at		timestamptz,
	PRIMARY KEY (member_id, audience_id)
);
CREATE INDEX audience_member_audience_idx ON loyalty.audience_member (audience_id);
COMMENT ON TABLE loyalty.audience_member IS 'Members of audiences, one row per member and audience; the sale trigger probes the primary key (member_id, audience_id).  Load in bulk with INSERT ... SELECT or audience_add.';
COMMENT ON COLUMN loyalty.audience_member.clipped_at IS 'When the member clipped the offer (clip_offer; the first clip stays); counts only for an opt_in audience.';

-- A member of an audience is a member of the audience's program (LY132):
-- checked once per statement over the rows it wrote (one join, however
-- many rows a bulk load inserts).
CREATE FUNCTION loyalty.audience_member_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_member bigint;
	v_audience text;
BEGIN
	SELECT n.member_id, a.code INTO v_member, v_audience
	  FROM new_rows n
	  JOIN loyalty.audience a ON a.audience_id = n.audience_id
	  JOIN loyalty.member m ON m.member_id = n.member_id
	 WHERE m.program_id <> a.program_id
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'member % is not a member of the program of audience "%"', v_member, v_audience
			USING ERRCODE = 'LY132', DETAIL = 'An audience lists members of its own program.';
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION loyalty.audience_member_check() IS 'Trigger: refuses audience members of another program than the audience''s (LY132), once per statement.';
CREATE TRIGGER audience_member_insert AFTER INSERT ON loyalty.audience_member
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION loyalty.audience_member_check();
CREATE TRIGGER audience_member_update AFTER UPDATE ON loyalty.audience_member
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION loyalty.audience_member_check();
ALTER TABLE loyalty.audience_member ENABLE ALWAYS TRIGGER audience_member_insert;
ALTER TABLE loyalty.audience_member ENABLE ALWAYS TRIGGER audience_member_update;

-- An audience a rule names keeps its code and program (LY131).
CREATE FUNCTION loyalty.audience_in_use() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_rule text;
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.code = OLD.code AND NEW.program_id = OLD.program_id THEN
		RETURN NEW;
	END IF;
	SELECT r.code INTO v_rule FROM loyalty.rule r
	 WHERE r.program_id = OLD.program_id AND r.audience = OLD.code
	 ORDER BY r.code LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'audience "%" is named by rule "%"', OLD.code, v_rule USING ERRCODE = 'LY131',
			DETAIL = 'A rule''s audience names an audience of its program by code.',
			HINT = 'Set the rule''s audience to another audience or NULL (or delete the rule) first.';
	END IF;
	RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION loyalty.audience_in_use() IS 'Trigger: refuses to delete an audience, or change its code or program, while a rule of its program names it (LY131).';
CREATE TRIGGER audience_in_use BEFORE UPDATE OR DELETE ON loyalty.audience
	FOR EACH ROW EXECUTE FUNCTION loyalty.audience_in_use();
ALTER TABLE loyalty.audience ENABLE ALWAYS TRIGGER audience_in_use;
-- opt_in and the window are compiled into the rules; membership is not
CREATE TRIGGER rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.audience
	FOR EACH STATEMENT EXECUTE FUNCTION loyalty.rules_changed();

-- rule.audience: the code of an audience of the rule's program (LY130 otherwise).
ALTER TABLE loyalty.rule ADD COLUMN audience text CHECK (audience <> '');
COMMENT ON COLUMN loyalty.rule.audience IS 'Code of an audience of the rule''s program: the rule fires only for its members (clipped, if the audience is opt_in), within the audience''s window; NULL: every member.';

CREATE FUNCTION loyalty.rule_audience_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NEW.audience IS NULL THEN
		RETURN NEW;
	END IF;
	-- the audience stays until this commits (audience_in_use sees the rule after)
	PERFORM FROM loyalty.audience a WHERE a.program_id = NEW.program_id AND a.code = NEW.audience FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'rule "%" names audience "%", which its program does not have', NEW.code, NEW.audience
			USING ERRCODE = 'LY130', DETAIL = 'rule.audience names an audience of the rule''s program by code.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION loyalty.rule_audience_check() IS 'Trigger: refuses a rule whose audience is not an audience of its program (LY130).';
CREATE TRIGGER rule_audience_check BEFORE INSERT OR UPDATE OF audience, program_id ON loyalty.rule
	FOR EACH ROW EXECUTE FUNCTION loyalty.rule_audience_check();
ALTER TABLE loyalty.rule ENABLE ALWAYS TRIGGER rule_audience_check;

-- The cards of a list as members, each with the audience of its program
-- named audience.  Refuses a NULL or unknown audience name (LY013, LY130),
-- an unknown or replaced card (LY001, LY002) or a NULL card (LY013).
CREATE FUNCTION loyalty.audience_targets(audience text, cards loyalty.card[])
RETURNS TABLE (member_id bigint, audience_id bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_card loyalty.card;
BEGIN
	IF audience_targets.audience IS NULL THEN
		RAISE EXCEPTION 'audience is required' USING ERRCODE = 'LY013';
	END IF;
	IF cards IS NULL OR array_position(cards, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'cards are required, and none may be NULL' USING ERRCODE = 'LY013';
	END IF;
	-- the first card that is unknown or replaced: member_id says which and why
	SELECT c.card INTO v_card FROM unnest(cards) c(card)
	  LEFT JOIN loyalty.member_card mc ON mc.card = c.card
	 WHERE mc.card IS NULL OR mc.replaced_at IS NOT NULL
	 LIMIT 1;
	IF FOUND THEN
		PERFORM loyalty.member_id(v_card);
	END IF;
	SELECT c.card INTO v_card FROM unnest(cards) c(card)
	  JOIN loyalty.member_card mc ON mc.card = c.card
	  JOIN loyalty.member m ON m.member_id = mc.member_id
	 WHERE NOT EXISTS (SELECT FROM loyalty.audience a
						WHERE a.program_id = m.program_id AND a.code = audience_targets.audience)
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'the program of card % has no audience "%"', v_card, audience_targets.audience
			USING ERRCODE = 'LY130', DETAIL = 'A card is added to the audience of that code of its own program.';
	END IF;
	RETURN QUERY
	SELECT DISTINCT mc.member_id, a.audience_id FROM unnest(cards) c(card)
	  JOIN loyalty.member_card mc ON mc.card = c.card
	  JOIN loyalty.member m ON m.member_id = mc.member_id
	  JOIN loyalty.audience a ON a.program_id = m.program_id AND a.code = audience_targets.audience;
END
$$;
COMMENT ON FUNCTION loyalty.audience_targets(text, loyalty.card[]) IS
'Internal (audience_add, audience_remove): each card''s member and the audience of that code of its program; refuses NULLs (LY013), unknown or replaced cards (LY001, LY002) and programs without the audience (LY130).';

CREATE FUNCTION loyalty.audience_add(audience text, cards loyalty.card[],
	OUT added bigint, OUT already bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_targets bigint;
BEGIN
	WITH t AS MATERIALIZED (SELECT * FROM loyalty.audience_targets(audience_add.audience, cards)),
	i AS (INSERT INTO loyalty.audience_member (member_id, audience_id)
		  SELECT t.member_id, t.audience_id FROM t
		  ON CONFLICT ON CONSTRAINT audience_member_pkey DO NOTHING
		  RETURNING 1)
	SELECT (SELECT count(*) FROM i), (SELECT count(*) FROM t) INTO added, v_targets;
	already := v_targets - added;
END
$$;
COMMENT ON FUNCTION loyalty.audience_add(text, loyalty.card[]) IS
'Adds the members of cards to the audience of that code of each card''s program, in one statement: how many were added and how many were in it already (a repeated card counts once).';

CREATE FUNCTION loyalty.audience_remove(audience text, cards loyalty.card[],
	OUT removed bigint, OUT absent bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_targets bigint;
BEGIN
	WITH t AS MATERIALIZED (SELECT * FROM loyalty.audience_targets(audience_remove.audience, cards)),
	d AS (DELETE FROM loyalty.audience_member am USING t
		   WHERE am.member_id = t.member_id AND am.audience_id = t.audience_id
		  RETURNING 1)
	SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM t) INTO removed, v_targets;
	absent := v_targets - removed;
END
$$;
COMMENT ON FUNCTION loyalty.audience_remove(text, loyalty.card[]) IS
'Takes the members of cards out of the audience of that code of each card''s program, in one statement: how many were removed and how many were not in it.';

CREATE FUNCTION loyalty.clip_offer(audience text, card loyalty.card)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_member bigint;
	v_aud loyalty.audience;
	v_clipped timestamptz;
BEGIN
	IF clip_offer.audience IS NULL THEN
		RAISE EXCEPTION 'audience is required' USING ERRCODE = 'LY013';
	END IF;
	IF clip_offer.card IS NULL THEN
		RAISE EXCEPTION 'card is required' USING ERRCODE = 'LY013';
	END IF;
	v_member := loyalty.member_id(clip_offer.card);
	SELECT au.* INTO v_aud FROM loyalty.audience au JOIN loyalty.member m ON m.program_id = au.program_id
	 WHERE m.member_id = v_member AND au.code = clip_offer.audience;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the program of card % has no audience "%"', clip_offer.card, clip_offer.audience
			USING ERRCODE = 'LY130';
	END IF;
	IF NOT v_aud.opt_in THEN
		RAISE EXCEPTION 'audience "%" is not opt-in', v_aud.code USING ERRCODE = 'LY134',
			DETAIL = 'Its members get its offers without clipping them.';
	END IF;
	IF v_aud.valid_to IS NOT NULL AND now() >= v_aud.valid_to THEN
		RAISE EXCEPTION 'the offer of audience "%" ended %', v_aud.code, v_aud.valid_to USING ERRCODE = 'LY134';
	END IF;
	-- the first clip stays: a retry, or a second till, returns it
	UPDATE loyalty.audience_member am SET clipped_at = coalesce(am.clipped_at, now())
	 WHERE am.member_id = v_member AND am.audience_id = v_aud.audience_id
	RETURNING am.clipped_at INTO v_clipped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'card % is not in audience "%"', clip_offer.card, v_aud.code USING ERRCODE = 'LY133',
			DETAIL = 'Only the members of an audience can clip its offer.';
	END IF;
	RETURN v_clipped;
END
$$;
COMMENT ON FUNCTION loyalty.clip_offer(text, loyalty.card) IS
'The member of card clips the offer of the opt-in audience of that code of its program: from then on, rules naming the audience fire for it.  Idempotent: returns when it was first clipped.';

REVOKE EXECUTE ON FUNCTION
	loyalty.audience_member_check(),
	loyalty.audience_in_use(),
	loyalty.rule_audience_check(),
	loyalty.audience_targets(text, loyalty.card[]),
	loyalty.audience_add(text, loyalty.card[]),
	loyalty.audience_remove(text, loyalty.card[]),
	loyalty.clip_offer(text, loyalty.card)
FROM PUBLIC;
REVOKE ALL ON loyalty.audience, loyalty.audience_member FROM PUBLIC;
REVOKE ALL ON SEQUENCE loyalty.audience_id_seq FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('loyalty.audience', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.audience_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('loyalty.audience_member', '');
