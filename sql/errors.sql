-- Every documented SQLSTATE, provoked at least once, and nothing written by
-- a refused call.
SET client_min_messages = warning;
DROP EXTENSION loyalty CASCADE;
CREATE EXTENSION loyalty;
RESET client_min_messages;

-- Runs a statement and shows its SQLSTATE and message (or that it worked).
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

INSERT INTO loyalty.program (code) VALUES ('p'), ('q');
SELECT loyalty.enroll('4000000000000002', 'p', enrolled_at => '2000-01-01 00:00+00') AS m1 \gset
SELECT loyalty.enroll(loyalty.card_issue('40', 3), 'p', enrolled_at => '2000-01-01 00:00+00') AS m_susp \gset
SELECT loyalty.enroll(loyalty.card_issue('40', 4), 'p', enrolled_at => '2000-01-01 00:00+00') AS m_closed \gset
SELECT loyalty.set_member_status(loyalty.card_issue('40', 3), 'suspended');
SELECT loyalty.set_member_status(loyalty.card_issue('40', 4), 'closed');
SELECT loyalty.enroll(loyalty.card_issue('40', 5), 'p', enrolled_at => '2000-01-01 00:00+00') AS m_repl \gset
SELECT loyalty.replace_card(loyalty.card_issue('40', 5), loyalty.card_issue('40', 6));
SELECT entry_id AS e1 FROM loyalty.earn('4000000000000002', 100, 'k1') \gset
SELECT redemption_id AS r1 FROM loyalty.redeem('4000000000000002', 10, 'S1', 'T1') \gset
SELECT count(*) AS entries_before FROM loyalty.ledger \gset

SELECT what, pg_temp.outcome(statement) FROM (VALUES
  -- 22P02 / 22003 / 22023: card input and card_issue
  ('malformed card',            $$SELECT '4000-0000-x000-0002'::loyalty.card$$),
  ('wrong check digit',         $$SELECT '4000000000000003'::loyalty.card$$),
  ('card too short',            $$SELECT '1234567'::loyalty.card$$),
  ('serial does not fit',       $$SELECT loyalty.card_issue('40', 10000000000000)$$),
  ('card length out of range',  $$SELECT loyalty.card_issue('40', 1, 25)$$),
  -- LY001: unknown card
  ('unknown card: balance',     $$SELECT loyalty.balance(loyalty.card_issue('40', 99))$$),
  ('unknown card: earn',        $$SELECT loyalty.earn(loyalty.card_issue('40', 99), 1, 'x')$$),
  ('unknown card: redeem',      $$SELECT loyalty.redeem(loyalty.card_issue('40', 99), 1, 'S1', 'T9')$$),
  ('unknown card: replace',     $$SELECT loyalty.replace_card(loyalty.card_issue('40', 99), loyalty.card_issue('40', 98))$$),
  -- LY002: replaced card
  ('replaced card: redeem',     $$SELECT loyalty.redeem(loyalty.card_issue('40', 5), 1, 'S1', 'T9')$$),
  ('replaced card: statement',  $$SELECT loyalty.statement(loyalty.card_issue('40', 5), '-infinity', 'infinity')$$),
  -- LY003 / LY004: member status
  ('suspended: earn',           $$SELECT loyalty.earn(loyalty.card_issue('40', 3), 1, 'x')$$),
  ('suspended: redeem',         $$SELECT loyalty.redeem(loyalty.card_issue('40', 3), 1, 'S1', 'T9')$$),
  ('closed: adjust',            $$SELECT loyalty.adjust(loyalty.card_issue('40', 4), 1, 'x', 'why')$$),
  ('closed: replace card',      $$SELECT loyalty.replace_card(loyalty.card_issue('40', 4), loyalty.card_issue('40', 97))$$),
  -- LY005: unknown program
  ('unknown program',           $$SELECT loyalty.enroll(loyalty.card_issue('40', 96), 'nope')$$),
  -- LY006: card in use
  ('card in another program',   $$SELECT loyalty.enroll('4000000000000002', 'q')$$),
  ('new card already in use',   $$SELECT loyalty.replace_card(loyalty.card_issue('40', 6), '4000000000000002')$$),
  -- LY007: status change
  ('reopen closed member',      $$SELECT loyalty.set_member_status(loyalty.card_issue('40', 4), 'active')$$),
  ('unknown status',            $$SELECT loyalty.set_member_status('4000000000000002', 'frozen')$$),
  -- LY008: access level
  ('unknown access level',      $$SELECT loyalty.grant_access('pg_monitor', 'superpos')$$),
  -- LY010: insufficient points
  ('redeem more than available', $$SELECT loyalty.redeem('4000000000000002', 91, 'S1', 'T2')$$),
  -- LY011: idempotency conflict
  ('earn key reused',           $$SELECT loyalty.earn('4000000000000002', 99, 'k1')$$),
  ('pos_txn reused',            $$SELECT loyalty.redeem('4000000000000002', 11, 'S1', 'T1')$$),
  ('pos_txn of another card',   $$SELECT loyalty.redeem(loyalty.card_issue('40', 6), 10, 'S1', 'T1')$$),
  -- LY012: points
  ('earn zero',                 $$SELECT loyalty.earn('4000000000000002', 0, 'k2')$$),
  ('earn negative',             $$SELECT loyalty.earn('4000000000000002', -5, 'k2')$$),
  ('earn NULL points',          $$SELECT loyalty.earn('4000000000000002', NULL, 'k2')$$),
  ('redeem zero',               $$SELECT loyalty.redeem('4000000000000002', 0, 'S1', 'T3')$$),
  ('adjust zero',               $$SELECT loyalty.adjust('4000000000000002', 0, 'k2', 'why')$$),
  ('reverse negative',          $$SELECT loyalty.reverse('4000000000000002', 1, -1, 'k2')$$),
  ('earn beyond the limit',     $$SELECT loyalty.earn('4000000000000002', 1000000000000001, 'k2')$$),
  ('adjust by the least bigint', $$SELECT loyalty.adjust('4000000000000002', -9223372036854775808, 'k2', 'why')$$),
  -- LY013: missing required argument
  ('NULL card',                 $$SELECT loyalty.earn(NULL, 1, 'k2')$$),
  ('NULL card: enroll',         $$SELECT loyalty.enroll(NULL, 'p')$$),
  ('NULL idempotency key',      $$SELECT loyalty.earn('4000000000000002', 1, NULL)$$),
  ('empty idempotency key',     $$SELECT loyalty.earn('4000000000000002', 1, '')$$),
  ('NULL store',                $$SELECT loyalty.redeem('4000000000000002', 1, NULL, 'T4')$$),
  ('empty pos_txn',             $$SELECT loyalty.redeem('4000000000000002', 1, 'S1', '')$$),
  ('adjust without reason',     $$SELECT loyalty.adjust('4000000000000002', 5, 'k2', NULL)$$),
  ('reverse without entry',     $$SELECT loyalty.reverse('4000000000000002', NULL, 5, 'k2')$$),
  ('key too long',              format('SELECT loyalty.earn(%L, 1, %L)', '4000000000000002', repeat('k', 201))),
  ('pos_txn too long',          format('SELECT loyalty.redeem(%L, 1, %L, %L)', '4000000000000002', 'S1', repeat('t', 201))),
  -- LY014 / LY015: reversals
  ('reverse a redemption',      format('SELECT loyalty.reverse(%L, %s, 1, %L)', '4000000000000002', :r1, 'k3')),
  ('reverse another member''s entry', format('SELECT loyalty.reverse(%L, %s, 1, %L)', loyalty.card_issue('40', 6), :e1, 'k3')),
  ('reverse more than earned',  format('SELECT loyalty.reverse(%L, %s, 101, %L)', '4000000000000002', :e1, 'k3')),
  -- LY016: time in the future
  ('earn dated ahead',          $$SELECT loyalty.earn('4000000000000002', 1, 'k4', NULL, '2999-01-01')$$),
  ('adjust dated ahead',        $$SELECT loyalty.adjust('4000000000000002', 1, 'k4', 'why', '2999-01-01')$$),
  ('expire ahead of time',      $$SELECT loyalty.expire_points('2999-01-01')$$),
  -- LY017: time not finite
  ('earn at -infinity',         $$SELECT loyalty.earn('4000000000000002', 1, 'k5', NULL, '-infinity')$$),
  ('pending until infinity',    $$SELECT loyalty.earn('4000000000000002', 1, 'k5', NULL, NULL, 'infinity')$$),
  ('expire as of -infinity',    $$SELECT loyalty.expire_points('-infinity')$$),
  -- LY020: the ledger is append-only
  ('update ledger',             $$UPDATE loyalty.ledger SET points = 0$$),
  ('delete ledger',             $$DELETE FROM loyalty.ledger$$),
  ('truncate ledger',           $$TRUNCATE loyalty.ledger CASCADE$$)
) AS t(what, statement);

-- Sales and returns: each bad input has its own SQLSTATE and writes nothing.
SELECT count(*) AS sales_before FROM loyalty.sale \gset
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines)
VALUES ('S1', 'SALE-1', '4000000000000002', 30, '[{"sku":"A","qty":2,"amount":30}]');
SELECT sale_id AS s1 FROM loyalty.sale WHERE pos_txn = 'SALE-1' \gset
INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of)
VALUES ('S1', 'RET-1', 10, '[{"sku":"A","qty":1,"amount":10}]', :s1);
SELECT sale_id AS r1s FROM loyalty.sale WHERE pos_txn = 'RET-1' \gset
INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, occurred_at)
VALUES ('S1', 'SALE-OLD', '4000000000000002', 5, '[{"sku":"A","qty":1,"amount":5}]', '2020-01-01');
SELECT sale_id AS s_old FROM loyalty.sale WHERE pos_txn = 'SALE-OLD' \gset
SELECT count(*) AS sales_before FROM loyalty.sale \gset
SELECT count(*) AS entries_before FROM loyalty.ledger \gset
SELECT what, pg_temp.outcome(statement) FROM (VALUES
  ('unknown card',              $$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES ('S1', 'X1', loyalty.card_issue('40', 99), 1, '[{"sku":"A","qty":1,"amount":1}]')$$),
  ('replaced card',             $$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES ('S1', 'X1', loyalty.card_issue('40', 5), 1, '[{"sku":"A","qty":1,"amount":1}]')$$),
  ('suspended member',          $$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES ('S1', 'X1', loyalty.card_issue('40', 3), 1, '[{"sku":"A","qty":1,"amount":1}]')$$),
  ('closed member',             $$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES ('S1', 'X1', loyalty.card_issue('40', 4), 1, '[{"sku":"A","qty":1,"amount":1}]')$$),
  ('empty store',               $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('', 'X1', 1, '[{"sku":"A","qty":1,"amount":1}]')$$),
  ('lines not an array',        $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', 1, '{"sku":"A"}')$$),
  ('no lines',                  $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', 0, '[]')$$),
  ('line not an object',        $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', 1, '[1]')$$),
  ('line without sku',          $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', 1, '[{"qty":1,"amount":1}]')$$),
  ('line without amount',       $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', 1, '[{"sku":"A","qty":1}]')$$),
  ('non-numeric qty',           $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', 1, '[{"sku":"A","qty":"one","amount":1}]')$$),
  ('amount as NaN text',        $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', 1, '[{"sku":"A","qty":1,"amount":"NaN"}]')$$),
  ('negative qty on a sale',    $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', 1, '[{"sku":"A","qty":-1,"amount":1}]')$$),
  ('negative amount',           $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', 0, '[{"sku":"A","qty":1,"amount":-1}]')$$),
  ('NaN total',                 $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', 'NaN', '[{"sku":"A","qty":1,"amount":1}]')$$),
  ('infinite total',            $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', 'Infinity', '[{"sku":"A","qty":1,"amount":1}]')$$),
  ('lines off the total',       $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', 12, '[{"sku":"A","qty":1,"amount":10}]')$$),
  ('sale in the future',        $$INSERT INTO loyalty.sale (store, pos_txn, total, lines, occurred_at) VALUES ('S1', 'X1', 1, '[{"sku":"A","qty":1,"amount":1}]', '2999-01-01')$$),
  ('sale at infinity',          $$INSERT INTO loyalty.sale (store, pos_txn, total, lines, occurred_at) VALUES ('S1', 'X1', 1, '[{"sku":"A","qty":1,"amount":1}]', '-infinity')$$),
  ('same pos_txn, new content', $$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES ('S1', 'SALE-1', '4000000000000002', 31, '[{"sku":"A","qty":2,"amount":31}]')$$),
  ('return of unknown sale',    $$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of) VALUES ('S1', 'X1', 1, '[{"sku":"A","qty":1,"amount":1}]', 999999)$$),
  ('return of a return',        format($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of) VALUES ('S1', 'X1', 1, '[{"sku":"A","qty":1,"amount":1}]', %s)$$, :r1s)),
  ('return of a sku not bought', format($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of) VALUES ('S1', 'X1', 1, '[{"sku":"Z","qty":1,"amount":1}]', %s)$$, :s1)),
  ('return of more than bought', format($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of) VALUES ('S1', 'X1', 20, '[{"sku":"A","qty":2,"amount":20}]', %s)$$, :s1)),
  ('return with another card',  format($$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines, return_of) VALUES ('S1', 'X1', loyalty.card_issue('40', 6), 1, '[{"sku":"A","qty":1,"amount":1}]', %s)$$, :s1)),
  ('return too late',           format($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of) VALUES ('S1', 'X1', 1, '[{"sku":"A","qty":1,"amount":1}]', %s)$$, :s_old)),
  ('NULL lines',                $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', 1, NULL)$$),
  ('NULL total',                $$INSERT INTO loyalty.sale (store, pos_txn, total, lines) VALUES ('S1', 'X1', NULL, '[{"sku":"A","qty":1,"amount":1}]')$$),
  ('NULL total, pos_txn taken', $$INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES ('S1', 'SALE-1', '4000000000000002', NULL, '[{"sku":"A","qty":2,"amount":30}]')$$),
  ('points beyond the limit',   $$UPDATE loyalty.program SET points_per_unit = 10000 WHERE code = 'p'; INSERT INTO loyalty.sale (store, pos_txn, card, total, lines) VALUES ('S1', 'X1', '4000000000000002', 999999999999, '[{"sku":"A","qty":1,"amount":999999999999}]')$$),
  ('return before its sale',    format($$INSERT INTO loyalty.sale (store, pos_txn, total, lines, return_of, occurred_at) VALUES ('S1', 'X1', 1, '[{"sku":"A","qty":1,"amount":1}]', %s, '2019-01-01')$$, :s1)),
  ('update a sale',             $$UPDATE loyalty.sale SET total = 0$$),
  ('delete a sale',             $$DELETE FROM loyalty.sale$$)
) AS t(what, statement);
SELECT count(*) - :sales_before AS new_sales, (SELECT count(*) FROM loyalty.ledger) - :entries_before AS new_entries
  FROM loyalty.sale;

-- nothing of the above was written
SELECT count(*) - :entries_before AS new_entries FROM loyalty.ledger;
SELECT available, lifetime_earned, lifetime_redeemed FROM loyalty.balance('4000000000000002');
SELECT count(*) AS members FROM loyalty.member;
SELECT * FROM loyalty.check_invariants();
