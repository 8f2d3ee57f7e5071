#!/usr/bin/python3
"""POS clients for the crash test (crash.sh), through psycopg2 as a till would.

Each client thread plays a till: sales, returns of its own sales, earns and
redemptions, each one transaction in autocommit with a key of its own
(store, pos_txn or idem_key).  It keeps a journal of what it saw: "sent"
before an operation goes out, "ack" with the ids and points the server
returned once the commit came back, "refused" for a documented refusal
(LY010).  When the connection breaks (a backend killed, the server stopped)
the operation in flight is in doubt: the client reconnects and sends exactly
the same operation again, as the README tells a POS to do, until it gets an
answer.  A till also drops 2% of the answers it gets (a network that loses
the reply after the commit) and sends those operations again.  Serialization failures and deadlocks (40001, 40P01) are retried the
same way.

    crash_pos.py run DSN JOURNAL_DIR CLIENTS SECONDS MEMBERS
    crash_pos.py replay DSN JOURNAL_DIR

"replay" sends every acknowledged operation once more after the crashes and
writes what the server answered (replay.csv): a retry must get the first
answer back and post nothing.
"""
import csv
import json
import os
import random
import sys
import threading
import time

import psycopg2
import psycopg2.errors

RETRYABLE = {'40001', '40P01'}
LOST_REPLY = 0.02		# share of answers the till "loses" (as a dropped network would)
REFUSED = {'LY010'}		# insufficient points: a documented answer, not a failure


def connect(dsn, give_up):
	"""A connection, waiting while the server restarts (until give_up)."""
	while True:
		try:
			conn = psycopg2.connect(dsn)
			conn.autocommit = True
			return conn
		except psycopg2.OperationalError:
			if time.time() > give_up:
				raise
			time.sleep(0.2)


def perform(cur, op):
	"""Sends one operation; returns (result_id, points) as the server answered."""
	kind = op['op']
	if kind in ('sale', 'return'):
		cur.execute(
			"INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines, return_of) "
			"VALUES (%s, %s, loyalty.card_issue('84', %s), now(), %s, %s::jsonb, %s) "
			"ON CONFLICT (store, pos_txn) DO NOTHING RETURNING sale_id, points_earned",
			(op['store'], op['key'], op['serial'], op['total'], json.dumps(op['lines']),
			 op.get('return_of')))
		row = cur.fetchone()
		if row is None:		# a retry: the first attempt committed; read it back
			cur.execute("SELECT sale_id, points_earned FROM loyalty.sale WHERE store = %s AND pos_txn = %s",
						(op['store'], op['key']))
			row = cur.fetchone()
		return row
	if kind == 'earn':
		cur.execute("SELECT entry_id, points FROM loyalty.earn(loyalty.card_issue('84', %s), %s, %s)",
					(op['serial'], op['points'], op['key']))
		return cur.fetchone()
	if kind == 'redeem':
		cur.execute("SELECT redemption_id, points FROM loyalty.redeem(loyalty.card_issue('84', %s), %s, %s, %s)",
					(op['serial'], op['points'], op['store'], op['key']))
		return cur.fetchone()
	raise ValueError(kind)


class Till(threading.Thread):
	"""One POS client: runs operations until `stop_at`, journalling each."""

	def __init__(self, client, dsn, journal_dir, stop_at, members):
		super().__init__()
		self.client, self.dsn, self.stop_at, self.members = client, dsn, stop_at, members
		self.rng = random.Random(client)
		self.journal = open(os.path.join(journal_dir, 'client%d.jsonl' % client), 'w', buffering=1)
		self.sales = []		# own acknowledged sales that can still be returned
		self.broken = 0		# operations whose connection broke under them
		self.lost = 0		# committed operations whose answer the till dropped
		self.failed = None

	def log(self, what, op, **kw):
		self.journal.write(json.dumps(dict(what=what, client=self.client, **op, **kw)) + '\n')

	def next_op(self, n):
		rng = self.rng
		key = 'c%d-%d' % (self.client, n)
		serial = rng.randint(1, self.members)
		store = 'S%d' % (self.client % 3)
		roll = rng.random()
		if roll < 0.2 and self.sales:
			sale = self.sales.pop(rng.randrange(len(self.sales)))
			line = sale['lines'][0]
			return dict(op='return', key=key, store=store, serial=sale['serial'], total=line['amount'],
						lines=[line], return_of=sale['sale_id'])
		if roll < 0.6:
			lines = [dict(sku='K%d' % rng.randint(1, 5), category='cat%d' % rng.randint(1, 2), qty=1,
						  amount=rng.randint(1, 80) + 0.25) for _ in range(rng.randint(1, 3))]
			return dict(op='sale', key=key, store=store, serial=serial,
						total=round(sum(l['amount'] for l in lines), 2), lines=lines)
		if roll < 0.8:
			return dict(op='earn', key=key, serial=serial, points=rng.randint(1, 30))
		return dict(op='redeem', key=key, store=store, serial=serial, points=rng.randint(1, 400))

	def until_answered(self, conn, op):
		"""Sends op until the server answers; returns (conn, outcome, row)."""
		give_up = time.time() + 120
		while True:
			try:
				with conn.cursor() as cur:
					answer = perform(cur, op)
				if self.rng.random() >= LOST_REPLY:
					return conn, 'ack', answer
				# committed, but the till never hears of it: in doubt
				self.lost += 1
				self.log('reply_lost', op)
				conn.close()
				conn = connect(self.dsn, give_up)
			except psycopg2.OperationalError:
				# the answer never came: in doubt; send the same again
				self.broken += 1
				self.log('in_doubt', op)
				try:
					conn.close()
				except psycopg2.Error:
					pass
				conn = connect(self.dsn, give_up)
			except psycopg2.Error as e:
				if e.pgcode in RETRYABLE:
					time.sleep(0.01)
					continue
				if e.pgcode in REFUSED:
					return conn, 'refused', (None, None)
				raise

	def run(self):
		try:
			conn = connect(self.dsn, time.time() + 60)
			n = 0
			while time.time() < self.stop_at:
				n += 1
				op = self.next_op(n)
				self.log('sent', op)
				conn, outcome, (rid, pts) = self.until_answered(conn, op)
				self.log(outcome, op, result_id=rid, got_points=pts)
				if outcome == 'ack' and op['op'] == 'sale':
					self.sales.append(dict(op, sale_id=rid))
			conn.close()
		except Exception as e:		# reported by main; the journal says how far it got
			self.failed = repr(e)


def run(dsn, journal_dir, clients, seconds, members):
	stop_at = time.time() + seconds
	tills = [Till(c, dsn, journal_dir, stop_at, members) for c in range(1, clients + 1)]
	for t in tills:
		t.start()
	for t in tills:
		t.join()
	print('# clients: %d, operations whose connection broke: %d, answers dropped by the till: %d'
		  % (clients, sum(t.broken for t in tills), sum(t.lost for t in tills)))
	bad = [(t.client, t.failed) for t in tills if t.failed]
	for client, failure in bad:
		print('# client %d failed: %s' % (client, failure))
	return 1 if bad else 0


def replay(dsn, journal_dir):
	"""Sends every acknowledged operation again; writes replay.csv."""
	acks = []
	for name in sorted(os.listdir(journal_dir)):
		if name.endswith('.jsonl'):
			with open(os.path.join(journal_dir, name)) as f:
				acks += [r for r in map(json.loads, f) if r['what'] == 'ack']
	conn = connect(dsn, time.time() + 60)
	with open(os.path.join(journal_dir, 'replay.csv'), 'w', newline='') as out:
		w = csv.writer(out)
		for op in acks:
			with conn.cursor() as cur:
				rid, pts = perform(cur, op)
			w.writerow([op['op'], op['key'], rid, pts])
	print('# replayed %d acknowledged operations' % len(acks))
	return 0


if __name__ == '__main__':
	if sys.argv[1] == 'run':
		sys.exit(run(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])))
	sys.exit(replay(sys.argv[2], sys.argv[3]))
