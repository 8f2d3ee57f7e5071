--
-- NULL arguments: every function of schema loyalty (but the trigger
-- functions, which cannot be called), called with NULL in each argument in
-- turn and a usable value in every other.  A required argument
-- must be refused (LY013, or the code the README documents for it: LY012 for
-- points, LY031 for lines); an optional one behaves as documented; a STRICT
-- function gives NULL (a set-returning one, no rows); an
-- aggregate skips a row with a NULL (called over that one row, it gives
-- NULL); the analytics models are STRICT (NULL in, NULL out); nothing
-- may act on card 00000000, which a NULL card once became.  The calls are
-- generated from pg_catalog, so a new function or argument shows up here
-- (and in the diff) without anyone having to remember it.  All in one
-- transaction that is rolled back: expire_points() and grant_access() act on
-- the whole database.
--
SET client_min_messages = warning;
BEGIN;
INSERT INTO loyalty.program (code) VALUES ('nul');
-- the card a NULL card used to become: all zeros is a valid Luhn number
SELECT loyalty.enroll('00000000', 'nul') AS zero_member \gset
SELECT (loyalty.earn('00000000', 100, 'nul-zero')).points AS zero_card_points;
SELECT loyalty.enroll(loyalty.card_issue('66', 1), 'nul') AS nul_member \gset
SELECT (loyalty.earn(loyalty.card_issue('66', 1), 1000, 'nul-base')).entry_id AS nul_entry \gset
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S-NUL', 'T-NUL', loyalty.card_issue('66', 1), 10, '[{"sku":"A","qty":1,"amount":10}]')
RETURNING sale_id AS nul_sale \gset
CREATE ROLE regress_nul_role;
INSERT INTO loyalty.tier (program_id, code, rank) SELECT program_id, 'nul-base', 0 FROM loyalty.program WHERE code = 'nul';
INSERT INTO loyalty.benefit (program_id, code) SELECT program_id, 'nul' FROM loyalty.program WHERE code = 'nul';
INSERT INTO loyalty.voucher_type (program_id, code, kind, value, max_uses) SELECT program_id, 'nul', 'amount', 1, 1000 FROM loyalty.program WHERE code = 'nul';
SELECT loyalty.issue_voucher('nul', loyalty.card_issue('66', 1)) AS nul_code \gset
INSERT INTO loyalty.audience (program_id, code, opt_in) SELECT program_id, 'nul', true FROM loyalty.program WHERE code = 'nul';
SELECT added FROM loyalty.audience_add('nul', ARRAY[loyalty.card_issue('66', 1)]);
SELECT (loyalty.authorize(loyalty.card_issue('66', 1), 10, 'S-NUL', 'T-NUL-HOLD')).hold_id AS nul_hold \gset

-- A usable value for each argument, by name (unnamed ones: by type).  Keys
-- and POS transaction ids are made unique per call by the driver below.
CREATE TEMP TABLE nul_value (arg text PRIMARY KEY, value text NOT NULL);
INSERT INTO nul_value VALUES
	('card',         format('%L', loyalty.card_issue('66', 1))),
	('old_card',     format('%L', loyalty.card_issue('66', 1))),
	('new_card',     format('%L', loyalty.card_issue('66', 2))),
	('program',      '''nul'''),
	('birth_date',   '''1990-01-01'''),
	('gender',       '''f'''),
	('region',       '''north'''),
	('income_band',  '''b'''),
	('home_store',   '''S-NUL'''),
	('channel',      '''web'''),
	('attributes',   '''{}'''),
	('enrolled_at',  'now() - interval ''1 day'''),
	('status',       '''suspended'''),
	('reason',       '''null test'''),
	('reads',        '''null test reads the sales up to as_of.'''),
	('points',       '1'),
	('store',        '''S-NUL'''),
	('effective_at', 'now() - interval ''1 hour'''),
	('pending_until', 'now() - interval ''1 hour'''),
	('entry_id',     :'nul_entry'),
	('as_of',        'now() - interval ''1 hour'''),
	('member_id',    :'nul_member'),
	('at',           'now()'),
	('as_posted_by', 'now()'),
	('from_at',      '''-infinity'''),
	('to_at',        '''infinity'''),
	('lines',        '''[{"sku":"A","qty":1,"amount":10}]'''),
	('total',        '10'),
	('sale_id',      :'nul_sale'),
	('role',         '''regress_nul_role'''),
	('access',       '''analyst'''),
	('prefix',       '''4000'''),
	('serial',       '1'),
	('length',       '16'),
	('number',       '''4000000000000002'''),
	('time_zone',    '''UTC'''),
	('tier_window',  '''rolling'''),
	('tier_window_days', '365'),
	('anchor',       '''2020-01-01'''),
	('day',          '''2026-01-01'''),
	('threshold',    '10'),
	('figure',       '5'),
	('tier_code',    '''nul-base'''),
	('until',        'now() + interval ''1 day'''),
	('member_ids',   format('%L', ARRAY[:'nul_member']::bigint[])),
	('from_tiers',   '''{nul-base}'''),
	('to_tiers',     '''{nul-base}'''),
	('ups',          '''{true}'''),
	('causes',       '''{review}'''),
	('changed_ats',  'ARRAY[now()]'),
	('members',      format('%L', ARRAY[:'nul_member']::bigint[])),
	('benefit',      '''nul'''),
	('stores',       '''{S-NUL}'''),
	('pos_txns',     '''{T-NUL}'''),
	-- tender holds
	('hold_id',      :'nul_hold'),
	('open_holds',   '1'),
	-- analytics (a model's parameter row named p: by name and type)
	('occurred_at',  'now() - interval ''1 day'''),
	('amount',       '10'),
	('unit',         '''7 days'''),
	('x',            '1'),
	('t_x',          '1'),
	('t',            '2'),
	('m',            '10'),
	('n',            '1'),
	('horizon',      '1'),
	('discount_rate', '0.01'),
	('bg',           '''(0.243,4.414,0.793,2.426,,)'''),
	('gg',           '''(6.25,3.74,15.44,,)'''),
	('p loyalty.bgnbd_params', '''(0.243,4.414,0.793,2.426,,)'''),
	('p loyalty.gg_params', '''(6.25,3.74,15.44,,)'''),
	-- unnamed arguments (the card type's support functions), by type
	('loyalty.card', format('%L', loyalty.card_issue('66', 1))),
	('cstring',      '''4000000000000002'''),
	('bigint',       '1'),
	-- the analytics lists
	('r',            '3'),
	('f',            '3'),
	('within_days',  '90'),
	('by',           '''store'''),
	('days_after',   '3'),
	('skus',         '''{A}'''),
	('categories',   '''{c}'''),
	('since',        '''-infinity'''),
	('half_life',    '''180 days'''),
	-- segments
	('predicate',    '''true'''),
	('features',     '''pg_class'''),
	('segment_id',   '1'),
	('from_on',      '''2026-01-01'''),
	('to_on',        '''2026-01-02'''),
	-- audiences
	('audience',     '''nul'''),
	('cards',        format('%L', ARRAY[loyalty.card_issue('66', 1)])),
	-- the member value lists
	('horizon_weeks', '52'),
	('given_bg',     '''(0.243,4.414,0.793,2.426,,)'''),
	('given_gg',     '''(6.25,3.74,15.44,,)'''),
	('max_p_alive',  '0.5'),
	('min_value_rank', '0.5'),
	('min_purchase_days', '3'),
	('max_regularity', '0.5'),
	('overdue_days', '0'),
	-- vouchers
	('voucher_type', '''nul'''),
	('code',         format('%L', :'nul_code')),
	('value',        '1'),
	('valid_from',   'now()'),
	('program bigint', '(SELECT program_id FROM loyalty.program WHERE code = ''nul'')');

CREATE TEMP TABLE nul_result (fn text, argno int, arg text, strict boolean, outcome text);
DO $$
DECLARE
	f record;
	i int;
	j int;
	args text[];
	v text;
	call text;
	state text;
	result_null boolean;
BEGIN
	FOR f IN
		SELECT p.oid, p.proname, p.proisstrict, p.proretset, p.prokind,
			   (p.proargtypes::oid[])[0:p.pronargs] AS types,
			   COALESCE(p.proargnames, '{}') AS names
		  FROM pg_proc p
		  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
		 WHERE p.pronamespace = 'loyalty'::regnamespace
		   AND p.prorettype <> 'trigger'::regtype AND p.pronargs > 0
		 ORDER BY p.proname, p.oid
	LOOP
		FOR i IN 1 .. array_length(f.types, 1) LOOP
			-- a function with an internal argument (an aggregate's support
			-- function, a type's recv) cannot be called from SQL at all
			IF 'internal'::regtype = ANY (f.types) THEN
				INSERT INTO nul_result VALUES (f.proname, i, COALESCE(NULLIF(f.names[i], ''), f.types[i]::regtype::text),
											   f.proisstrict, 'not callable from SQL');
				CONTINUE;
			END IF;
			args := '{}';
			FOR j IN 1 .. array_length(f.types, 1) LOOP
				IF j = i THEN
					v := format('NULL::%s', f.types[j]::regtype);
				ELSIF COALESCE(f.names[j], '') IN ('idem_key', 'pos_txn') THEN
					v := format('%L', format('nul-%s-%s', f.proname, i));
				ELSE
					SELECT format('(%s)::%s', n.value, f.types[j]::regtype) INTO v
					  FROM nul_value n
					 WHERE n.arg IN (COALESCE(NULLIF(f.names[j], ''), f.types[j]::regtype::text),
									 format('%s %s', f.names[j], f.types[j]::regtype))
					 ORDER BY length(n.arg) DESC LIMIT 1;
				END IF;
				IF v IS NULL THEN
					RAISE EXCEPTION 'no usable value for argument % of %', COALESCE(f.names[j], j::text), f.oid::regprocedure;
				END IF;
				args := args || v;
			END LOOP;
			call := format('SELECT %s FROM %s(%s)', CASE WHEN f.proretset THEN 'count(*)' ELSE '1' END,
						   f.oid::regproc, array_to_string(args, ', '));
			IF f.prokind = 'a' THEN
				-- an aggregate, over one row
				call := format('SELECT %s(%s)', f.oid::regproc, array_to_string(args, ', '));
			END IF;
			BEGIN
				IF f.prokind = 'a' THEN
					-- an aggregate over one row: the row with a NULL is skipped
					EXECUTE format('SELECT %s(%s) IS NULL', f.oid::regproc, array_to_string(args, ', '))
						INTO result_null;
					state := CASE WHEN result_null THEN 'NULL' ELSE 'not NULL' END;
				ELSIF f.proisstrict AND f.proretset THEN
					-- a STRICT set-returning function is not even called: no rows
					EXECUTE format('SELECT count(*) = 0 FROM %s(%s)', f.oid::regproc, array_to_string(args, ', '))
						INTO result_null;
					state := CASE WHEN result_null THEN 'no rows' ELSE 'rows' END;
				ELSIF f.proisstrict THEN
					-- a STRICT function is not even called: its result is NULL
					EXECUTE format('SELECT %s(%s) IS NULL', f.oid::regproc, array_to_string(args, ', '))
						INTO result_null;
					state := CASE WHEN result_null THEN 'NULL' ELSE 'not NULL' END;
				ELSE
					EXECUTE call;
					state := 'ok';
				END IF;
			EXCEPTION WHEN OTHERS THEN
				GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
			END;
			INSERT INTO nul_result VALUES (f.proname, i, COALESCE(NULLIF(f.names[i], ''), f.types[i]::regtype::text),
										   f.proisstrict, state);
		END LOOP;
	END LOOP;
END
$$;
SELECT fn, argno, arg, CASE WHEN strict THEN 'strict' ELSE '' END AS strict, outcome
  FROM nul_result ORDER BY fn, argno;
-- card 00000000 was not touched: still active, only its own entry (a NULL
-- card given to set_member_status above would have suspended it)
SELECT m.status, b.net, (SELECT count(*) FROM loyalty.ledger e WHERE e.member_id = m.member_id) AS entries
  FROM loyalty.member m JOIN loyalty.member_balance b USING (member_id)
 WHERE m.member_id = :zero_member;
SELECT count(*) AS members_of_card_zero FROM loyalty.member_card WHERE card = '00000000';
ROLLBACK;
