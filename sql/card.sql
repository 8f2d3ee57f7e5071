--
-- card: membership card numbers, 8 to 19 digits ending in a Luhn check digit
--
SET search_path = loyalty, public;

-- the type is an 8-byte pass-by-value type, like int8
SELECT typlen, typbyval, typalign, typstorage
FROM pg_type WHERE oid = 'loyalty.card'::regtype;

--
-- valid input; output is the plain digits
--
SELECT input, input::card AS card
FROM (VALUES ('4000000000000002'),		-- 16 digits
			 ('79927398713'),			-- 11 digits
			 ('12345674'),				-- 8 digits, the minimum
			 ('00000000'),				-- all zeros is Luhn-valid
			 ('1234567890123456785'),	-- 19 digits, the maximum
			 ('9999999999999999998'),	-- the largest card number
			 ('0012345674'),			-- leading zeros are kept
			 ('4000 0000 0000 0002'),	-- single spaces between groups
			 ('4000-0000-0000-0002'),	-- single hyphens between groups
			 ('4000 0000-0000 0002'),	-- mixed separators
			 ('4-0-0-0-0-0-0-0-0-0-0-0-0-0-0-2'),
			 ('   4000000000000002   ')) AS v(input);

-- other surrounding whitespace is allowed too, as for int8
SELECT E'\t 4000 0000 0000 0002\n'::card = '4000000000000002'::card AS same;

-- leading zeros are significant: a different card, of a different length
SELECT '0012345674'::card = '12345674'::card AS equal,
	   '0012345674'::card::text AS with_zeros,
	   '12345674'::card::text AS without_zeros;

--
-- invalid input: each error and its detail
--
SELECT '12a4'::card;
SELECT '   4000x'::card;
SELECT '+4000000000000002'::card;
SELECT '4000_0000_0000_0002'::card;
SELECT '4000.0000.0000.0002'::card;
SELECT '-4000000000000002'::card;
SELECT '4000000000000002-'::card;
SELECT '4000 0000 0000 0002 -'::card;
SELECT '4000--0000-0000-0002'::card;
SELECT '4000  0000 0000 0002'::card;
SELECT '4000 -0000 0000 0002'::card;
SELECT '1234567'::card;
SELECT '1'::card;
SELECT ''::card;
SELECT '   '::card;
SELECT '12345678901234567894'::card;
SELECT '1234 5678 9012 3456 7894'::card;
-- a wrong check digit says what it should be
SELECT '4000000000000003'::card;
SELECT '79927398710'::card;
SELECT '0012-3456-70'::card;

-- the SQLSTATE of every kind of bad input is 22P02
DO $$
DECLARE
	input text;
	state text;
	msg text;
	detail text;
BEGIN
	FOREACH input IN ARRAY ARRAY['12a4', '-12345674', '12345674-',
								 '1234--5674', '1234567',
								 '12345678901234567894', '12345670']
	LOOP
		BEGIN
			PERFORM input::loyalty.card;
			RAISE NOTICE '%: accepted', input;
		EXCEPTION WHEN others THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE,
				msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
			RAISE NOTICE '% | % | %', state, msg, detail;
		END;
	END LOOP;
END
$$;

--
-- card_is_valid: true exactly when card input accepts the text
--
SELECT input, card_is_valid(input)
FROM (VALUES ('4000000000000002'),
			 ('4000 0000-0000 0002'),
			 (' 79927398713 '),
			 ('0012345674'),
			 ('4000000000000003'),
			 ('12a4'),
			 ('-12345674'),
			 ('12345674-'),
			 ('1234--5674'),
			 ('1234567'),
			 ('12345678901234567894'),
			 (''),
			 (NULL)) AS v(input);

--
-- card_issue(prefix, serial, length = 16)
--
SELECT card_issue('4000', 1) AS default_length,
	   card_issue('4000', 50, 16) AS sixteen,
	   card_issue('4000', 50, 15) AS fifteen,
	   card_issue('', 0, 8) AS smallest,
	   card_issue('', 9999999, 8) AS largest_8,
	   card_issue('', 999999999999999999, 19) AS largest,
	   card_issue('123456789012345678', 0, 19) AS full_prefix,
	   card_issue('00', 1234567, 10) AS zero_prefix;
-- the serial may fill all the digits left
SELECT card_issue('4000', 99999999999) AS last_serial;
-- strict: NULL in, NULL out
SELECT card_issue(NULL, 1) IS NULL AS n1, card_issue('4000', NULL) IS NULL AS n2,
	   card_issue('4000', 1, NULL) IS NULL AS n3;

-- issued cards are valid card numbers of the requested length
SELECT count(*) AS issued,
	   count(*) FILTER (WHERE card_is_valid(c::text)) AS valid,
	   count(*) FILTER (WHERE c::text::card = c) AS round_trip,
	   count(*) FILTER (WHERE length(c::text) = len) AS right_length,
	   count(*) FILTER (WHERE c::text LIKE '42%') AS right_prefix
FROM (SELECT card_issue('42', s * 997, len) AS c, len
	  FROM generate_series(8, 19) AS len,
		   generate_series(0, 99) AS s) AS issued;

-- bad arguments
SELECT card_issue('40a0', 1);
SELECT card_issue('4000', 1, 7);
SELECT card_issue('4000', 1, 20);
SELECT card_issue('12345678', 1, 8);
SELECT card_issue('4000', -1);
SELECT card_issue('4000', 100000000000);
SELECT card_issue('123456', 10, 8);
SELECT card_issue('1234567', 1, 8);

DO $$
DECLARE
	state text;
	msg text;
BEGIN
	BEGIN
		PERFORM loyalty.card_issue('4 0', 1);
	EXCEPTION WHEN others THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		RAISE NOTICE '% | %', state, msg;
	END;
	BEGIN
		PERFORM loyalty.card_issue('4000', 1, 20);
	EXCEPTION WHEN others THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		RAISE NOTICE '% | %', state, msg;
	END;
	BEGIN
		PERFORM loyalty.card_issue('12345678', 1, 8);
	EXCEPTION WHEN others THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		RAISE NOTICE '% | %', state, msg;
	END;
	BEGIN
		PERFORM loyalty.card_issue('4000', -1);
	EXCEPTION WHEN others THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		RAISE NOTICE '% | %', state, msg;
	END;
	BEGIN
		PERFORM loyalty.card_issue('4000', 100000000000);
	EXCEPTION WHEN others THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		RAISE NOTICE '% | %', state, msg;
	END;
END
$$;

--
-- ordering: shorter card numbers first, then numerically
--
SELECT c
FROM (VALUES ('4000000000000002'::card), ('12345674'), ('0012345674'),
			 ('99999997'), ('00000000'), ('79927398713'), ('100000009'),
			 ('9999999999999999998'), ('1234567890123456785'),
			 ('400000000000501'), ('4000000000000507')) AS v(c)
ORDER BY c;

-- comparison operators
SELECT a, b, a = b AS eq, a <> b AS ne, a < b AS lt, a <= b AS le,
	   a > b AS gt, a >= b AS ge, card_cmp(a, b) AS cmp
FROM (VALUES ('12345674'::card, '12345674'::card),
			 ('12345674', '99999997'),
			 ('99999997', '12345674'),
			 ('99999997', '100000009'),
			 ('0012345674', '12345674'),
			 ('4000000000000002', '4000 0000 0000 0002')) AS v(a, b);

--
-- btree index
--
CREATE TABLE card_pk (c card PRIMARY KEY, n integer NOT NULL);
INSERT INTO card_pk SELECT card_issue('4000', g), g FROM generate_series(1, 1000) AS g;
ANALYZE card_pk;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT c FROM card_pk WHERE c = '4000000000005001';
SELECT c, n FROM card_pk WHERE c = '4000000000005001';
EXPLAIN (COSTS OFF) SELECT n FROM card_pk WHERE c = card_issue('4000', 500);
SELECT n FROM card_pk WHERE c = card_issue('4000', 500);
SELECT n FROM card_pk WHERE c = '4000000000005003';	-- wrong check digit
SELECT n FROM card_pk WHERE c = '4000000000020000';	-- valid, not issued
EXPLAIN (COSTS OFF) SELECT c FROM card_pk WHERE c BETWEEN card_issue('4000', 10) AND card_issue('4000', 14);
SELECT c, n FROM card_pk WHERE c BETWEEN card_issue('4000', 10) AND card_issue('4000', 14);
-- duplicates are rejected, whatever their spelling
INSERT INTO card_pk VALUES ('4000 0000 0000 5001', 0);

--
-- hash index
--
CREATE TABLE card_h (c card NOT NULL, n integer NOT NULL);
INSERT INTO card_h SELECT card_issue('4000', g), g FROM generate_series(1, 1000) AS g;
CREATE INDEX card_h_c_idx ON card_h USING hash (c);
ANALYZE card_h;
EXPLAIN (COSTS OFF) SELECT n FROM card_h WHERE c = '4000000000005001';
SELECT n FROM card_h WHERE c = '4000000000005001';
RESET enable_seqscan;

--
-- joins: hash join and merge join give the same, right answer
--
CREATE TABLE card_a (c card);
CREATE TABLE card_b (c card);
INSERT INTO card_a SELECT card_issue('7', g, 12) FROM generate_series(1, 1000) AS g;
INSERT INTO card_b SELECT card_issue('7', g, 12) FROM generate_series(501, 1500) AS g;
ANALYZE card_a, card_b;
SET enable_nestloop = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM card_a JOIN card_b USING (c);
SELECT count(*) FROM card_a JOIN card_b USING (c);
SET enable_mergejoin = on;
SET enable_hashjoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM card_a JOIN card_b USING (c);
SELECT count(*) FROM card_a JOIN card_b USING (c);
RESET enable_nestloop;
RESET enable_mergejoin;
RESET enable_hashjoin;
-- hashed aggregation and DISTINCT use the hash opclass as well
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM (SELECT DISTINCT c FROM (SELECT c FROM card_a UNION ALL SELECT c FROM card_b) AS u) AS d;
SELECT count(*) FROM (SELECT DISTINCT c FROM (SELECT c FROM card_a UNION ALL SELECT c FROM card_b) AS u) AS d;
RESET enable_sort;

--
-- hash partitioning
--
CREATE TABLE card_part (c card NOT NULL, n integer NOT NULL) PARTITION BY HASH (c);
CREATE TABLE card_part_0 PARTITION OF card_part FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE card_part_1 PARTITION OF card_part FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO card_part SELECT card_issue('4000', g), g FROM generate_series(1, 1000) AS g;
-- both partitions get a fair share, and every row is where its hash says
SELECT tableoid::regclass AS partition, count(*) BETWEEN 400 AND 600 AS fair_share,
	   bool_and(satisfies_hash_partition('card_part'::regclass, 2,
										 CASE WHEN tableoid = 'card_part_0'::regclass
											  THEN 0 ELSE 1 END, c)) AS right_partition
FROM card_part GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM card_part;
EXPLAIN (COSTS OFF) SELECT tableoid::regclass AS partition, n FROM card_part WHERE c = '4000000000005001';
SELECT tableoid::regclass AS partition, n FROM card_part WHERE c = '4000000000005001';

--
-- binary COPY round trip
--
CREATE TABLE card_copy_src (c card);
INSERT INTO card_copy_src
VALUES ('00000000'), ('12345674'), ('0012345674'), ('99999997'),
	   ('100000009'), ('79927398713'), ('4000000000000002'),
	   ('1234567890123456785'), ('9999999999999999998'), (NULL);
INSERT INTO card_copy_src SELECT card_issue('', g * 1234567, 19) FROM generate_series(1, 100) AS g;
CREATE TABLE card_copy_dst (c card);
SELECT '/tmp/loyalty_card_regress_' || pg_backend_pid() || '.bin' AS cardfile \gset
SET loyalty_test.cardfile = :'cardfile';
COPY card_copy_src TO :'cardfile' (FORMAT binary);
COPY card_copy_dst FROM :'cardfile' (FORMAT binary);
SELECT (SELECT count(*) FROM card_copy_src) AS src,
	   (SELECT count(*) FROM card_copy_dst) AS dst,
	   (SELECT count(*) FROM (SELECT c FROM card_copy_src EXCEPT ALL SELECT c FROM card_copy_dst) AS x) AS missing,
	   (SELECT count(*) FROM (SELECT c FROM card_copy_dst EXCEPT ALL SELECT c FROM card_copy_src) AS x) AS extra,
	   (SELECT count(*) FROM card_copy_dst WHERE c IS NULL) AS nulls;
SELECT c FROM card_copy_dst WHERE c::text !~ '^.{19}$' ORDER BY c;

-- binary input rejects values outside the encoding's range
CREATE TABLE card_bin (c card);
COPY (SELECT 1111111111109999999::bigint) TO :'cardfile' (FORMAT binary);
COPY card_bin FROM :'cardfile' (FORMAT binary);
SELECT c FROM card_bin;
COPY (SELECT 1111111111110000000::bigint) TO :'cardfile' (FORMAT binary);
COPY card_bin FROM :'cardfile' (FORMAT binary);
COPY (SELECT (-1)::bigint) TO :'cardfile' (FORMAT binary);
COPY card_bin FROM :'cardfile' (FORMAT binary);
DO $$
DECLARE
	state text;
BEGIN
	EXECUTE format('COPY card_bin FROM %L (FORMAT binary)',
				   current_setting('loyalty_test.cardfile'));
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
	RAISE NOTICE 'SQLSTATE %', state;
END
$$;
-- the server wrote the file on this machine: remove it
\setenv LOYALTY_CARDFILE :cardfile
\! rm -f "$LOYALTY_CARDFILE"

--
-- casts
--
SELECT '4000 0000 0000 0002'::text::card AS from_text,
	   '4000000000000002'::card::text AS to_text,
	   pg_typeof('4000000000000002'::card::text) AS type;
SELECT CAST(varchar '0012-3456-74' AS card) AS from_varchar;
-- assignment casts in both directions
CREATE TABLE card_assign (c card, t text);
INSERT INTO card_assign (c) VALUES ('4000 0000 0000 0002'::text);
UPDATE card_assign SET t = c;
SELECT c, t, pg_typeof(c), pg_typeof(t) FROM card_assign;
INSERT INTO card_assign (c) VALUES ('4000000000000003'::text);
-- but not implicit ones
SELECT '4000000000000002'::card = '4000000000000002'::text;
-- and no cast to the integer representation
SELECT '4000000000000002'::card::bigint;

DROP TABLE card_pk, card_h, card_a, card_b, card_part, card_copy_src,
	card_copy_dst, card_bin, card_assign;
