#!/usr/bin/python3
"""An outbox consumer for bench/events.sh, as the README describes one.

    events_consumer.py DSN MODE SECONDS OUT

MODE is how the consumer learns that there are events:
  listen      LISTEN loyalty_events; drain on each notification (and every
              second, in case one was missed)
  poll:MS     drain every MS milliseconds
  seq:MS      every MS milliseconds read the outbox sequence's last value (no
              table is read) and drain when it moved, and once a second in
              any case (for an event whose transaction was still open when
              the value moved)

Draining deletes up to 1000 events at a time (FOR UPDATE SKIP LOCKED) and
records each event's delay: its deletion time minus its created_at (the
sale's transaction start).  Writes one line to OUT: events, median and 95th
percentile delay in ms, queries sent per second.
"""
import select
import sys
import time

import psycopg2

DRAIN = """DELETE FROM loyalty.outbox
 WHERE event_id IN (SELECT event_id FROM loyalty.outbox ORDER BY event_id
                     LIMIT 1000 FOR UPDATE SKIP LOCKED)
RETURNING extract(epoch FROM clock_timestamp() - created_at) * 1000"""
SEQ = "SELECT pg_catalog.pg_sequence_last_value('loyalty.outbox_event_id_seq')"


def main(dsn, mode, seconds, out):
	conn = psycopg2.connect(dsn)
	conn.autocommit = True
	cur = conn.cursor()
	delays, queries = [], 0

	def drain():
		nonlocal queries
		while True:
			cur.execute(DRAIN)
			queries += 1
			rows = cur.fetchall()
			delays.extend(r[0] for r in rows)
			if len(rows) < 1000:
				return

	drain()		# events of an earlier run are not this run's
	delays.clear()
	queries = 0
	start = time.time()
	stop = start + seconds
	kind, _, ms = mode.partition(':')
	if kind == 'listen':
		cur.execute("LISTEN loyalty_events")
		while time.time() < stop:
			if select.select([conn], [], [], 1.0) != ([], [], []):
				conn.poll()
				conn.notifies.clear()
			drain()
	elif kind == 'poll':
		while time.time() < stop:
			drain()
			time.sleep(int(ms) / 1000)
	elif kind == 'seq':
		last, drained = None, time.time()
		while time.time() < stop:
			cur.execute(SEQ)
			queries += 1
			value = cur.fetchone()[0]
			if value != last or time.time() - drained >= 1.0:
				last, drained = value, time.time()
				drain()
			time.sleep(int(ms) / 1000)
	else:
		raise SystemExit('unknown mode ' + mode)
	elapsed = time.time() - start
	delays.sort()
	n = len(delays)
	median = delays[n // 2] if n else float('nan')
	p95 = delays[min(n - 1, int(n * 0.95))] if n else float('nan')
	with open(out, 'w') as f:
		f.write('%d %.1f %.1f %.1f\n' % (n, median, p95, queries / elapsed))


if __name__ == '__main__':
	main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4])
