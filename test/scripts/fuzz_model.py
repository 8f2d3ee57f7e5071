#!/usr/bin/python3
"""Model-based fuzzer of the points ledger, sales, returns and tender holds
(issue 12 §2; holds: issue 10).

A random sequence of operations is applied to the extension (through
psycopg2, as a till and an admin would call it) and to a small reference
model written here from the README alone (not from src/): after every step
the answer (or the SQLSTATE of the refusal), and the touched members'
balance(), lots (loyalty.lot), statement() rows, holds (loyalty.hold: status,
captured, taken, lots), member_balance's held and debt, hold_expired events and
ledger points, shortfalls and lots must agree.  At the end check_invariants() must
be empty.

    fuzz_model.py DSN --seed N --steps N [--verbose]

Exit status 0 when everything agreed; 1 at the first disagreement, after
printing the seed, the step, the member's operations (the sequence shrunk to
the member concerned) and the last operations of the run.

Operations: enrol (enrolled_at back-dated, re-enrol, a card of another
program); sales with random baskets (by the pos role, dated within or
beyond the back-dating limit, and by the superuser, a back-fill dated on the
model's clock, also before the enrolment); partial and repeated returns
(over-returns, returns of returns, of unknown sales, with another member's
or a replaced card, outside the return window, before the sale); earn (with
an explicit pending_until, back-dated, in the future); redeem; adjust
(positive and negative, back-dated); reverse of manual earns (beyond what
was earned, of an entry that is no earn); expire_points(as_of) on the
model's clock; replace_card; set_member_status; retries of sales, earns,
redeems, adjusts and reversals with identical and with altered content;
tender holds: authorize (within and beyond the available points, all of
them, with the key of a redemption, retried identical and altered), capture
(all, fewer, more than held, retried, after a void or the hold's expiry),
void (retried, after a capture, of a lapsed hold), the lapse of a hold (its
expires_at set into the past as superuser, as sql/holds.sql does), and
sweep_holds(); postings are steered to members with open holds, and negative
adjustments into their held points.

Time.  The model's clock T runs from 420 days before the start of the run
(R0, the server's now() when it starts) to a day before it; back-fill sales,
enrolments, earns, adjusts and expiry runs are dated on it, pos sales and
returns within the last day.  Every moment the model makes (and so every
expiry and pending end, whole days after them) lies 3 to 21 hours off a
whole number of days before R0, so no lot lapses or stops pending while a
run (of less than 3 hours) is going on: "now" is the same moment for the
model and for the server.

The rules the model encodes (README "Sales", "Earning rules", "Concepts"):

  sale    base = round(points_per_unit x the earning lines' amounts), each
          multiplier rule on its categories adds round((m - 1) x
          points_per_unit x their amounts), a bonus its points when its
          lines (its categories, else all) are there and reach its
          min_basket, first_purchase its points when the member has no
          other sale; exclude rules take their category's lines out of
          everything.  round is the program's rounding.  The award is one
          earn entry dated at occurred_at (source sale).
  return  kept = per-line parts (base, multipliers): round(part x amount
          left of its lines / amount bought of its lines); fixed parts
          (bonus, first purchase): the part unless none of its lines is
          left; any part with a min_basket: 0 when what is left of its
          lines is below it.
          due = award - kept - what earlier returns took.  The sale's points
          that are gone (its lot's expire entries, and its remainder past
          its expiry) are not taken again: a return takes min(due, award -
          gone - what earlier returns took), from the sale's lot (pending or
          not), then as a redemption; points_earned is minus what it took.
          Nothing to take: no entry.  A closed member's return takes nothing.
  credit  earn, a positive adjust, a sale's award: a lot of the points
          (less what repays a debt first), expiring expiry_after days after
          its effective time, pending pending_days after it (or until
          pending_until).
  debit   redeem (never more than available: LY010), a negative adjust, a
          reversal: lots earliest expiry first (never-expiring last, ties
          by age), open now (not lapsed; not pending, except a reversal's
          own lot, taken first and whole, whatever the debt); from the
          other lots only what exceeds the member's debt; what is missing
          is the entry's shortfall (truncate) or the member's debt (allow,
          the entry takes it all).  A back-dated
          debit is dated no earlier than the newest lot it takes from.
  expiry  expire_points(as_of): one expire entry per lot past its expiry
          by as_of with points left, dated at the expiry; a closed
          member's lots are left alone (a closed balance is final).
  balance available = open lots - debt, pending = pending lots, expired =
          expire entries + lapsed lots' remainders, lifetime figures from
          the entries by kind.
  holds   (README "Tender holds") authorize takes its points out of the open
          lots as a redemption would (earliest expiry first, only what exceeds
          the debt; LY010 beyond balance().available); the hold records its
          lots.  A debit that cannot be refused (reverse, negative adjust, a
          return; truncate and allow alike) selects lots as without holds
          (its own lot first, then earliest expiry NULLS LAST, then lot id,
          the debt a prior claim on the others) from each lot's own points
          plus what open holds keep in it: within a lot its own points first,
          then the held ones, oldest hold first (hold.taken grows, its
          lot_points shrink, an emptied lot leaves the arrays); the entry's
          lots name every lot taken.  A redeem takes only the lots' own points.
          held = sum(points - taken) of open holds.  A release (void, expiry)
          gives back what the hold still keeps in its lots; debt never changes
          at release.  A capture of c spends the hold's first lots up to
          min(c, points - taken) and gives back the rest; what is missing
          (c beyond points - taken) is a debit that cannot be refused from
          the other lots and other open holds (never its own), in the same
          order: under truncate what is not there is the redeem entry's
          shortfall (the entry may be 0 points), under allow debt; the entry's
          lots are the hold's spent lots, then those taken now.  No debt under
          truncate ever.  A hold past expires_at counts as released: balance()
          shows it so (held, available, debt, expired), capture is LY103; a
          redeem, authorize, reversal or negative adjustment releases it for
          real first (status expired, one hold_expired event), and so does a
          capture beyond what reversals left of its hold (a debit too: the
          README does not list it, but the lapsed points count as released),
          as do void (answering expired) and sweep_holds (in hold order);
          credits, retries, other captures and expire_points do not.  Retries: authorize by
          (store, pos_txn) answers the hold as it is now (other card or points,
          or a redemption's key: LY011; and a redeem with a hold's key);
          capture retried with NULL or the same points answers the capture
          (other points LY105); void retried answers the same.  Refusals:
          LY100 unknown hold, LY101 capture after void, LY102 void after
          capture, LY104 more than held, LY012 points not positive; capture and
          void whatever the member's status.
  keys    earn/adjust/reverse keys per member: the same request (kind,
          points, reason, reversed entry) answers the first posting and
          posts nothing, another request LY011; a redemption's (store,
          pos_txn): same card and points the first answer, else LY011; a
          sale's (store, pos_txn): same card, total, lines, return_of is
          refused by the unique index (23505; ON CONFLICT DO NOTHING: no
          row), other content LY035; retries are recognised before the
          member's status or card is looked at.
  status  suspended: no sales or postings (LY003), returns take back;
          closed: LY004 for sales, postings and card replacement; a closed
          member is never reopened (LY007).
  cards   a replaced card is LY002 everywhere, a card in use LY006, an
          unknown card LY001, a return with another member's card LY039.
  dates   a pos sale or return at most backdate_limit (1 day) back
          (LY041), no member's sale before its enrolment (LY042), no time
          in the future (LY016); a return before its sale or after
          return_days (judged by the server's clock for a pos, by its own
          date for a back-fill) LY040.

Not modelled: nth_visit rules, stores, day/hour windows, valid_from/to,
member caps and budgets, stackable = false, tiers, benefits, anonymous
sales, enroll_with_sale, expiry_rounding, quotes, and the `award` jsonb
(only the points are compared); of holds: a lot passing its expiry while
held (the model's time stands still, so a lot open at authorize never
lapses in a run), hold_minutes passing by itself, and concurrency.  Where an
answer is ambiguous (several errors at once) the model accepts each of the
documented SQLSTATEs.
"""
import argparse
import datetime as dt
import json
import random
import sys
from decimal import Decimal, ROUND_FLOOR, ROUND_CEILING, ROUND_HALF_UP

import psycopg2
import psycopg2.extras

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
# Findings: where the extension does otherwise than the README says, the model
# follows the extension (so that the fuzzer goes on to look for others) and a
# switch names the finding (test/findings/); set it to False to see it.  None
# is open (F1, F2 and F4 are fixed, F3 no longer applies).


class Mismatch(Exception):
	pass


def luhn_card(n):
	"""A 16-digit card number with a Luhn check digit (prefix 77)."""
	body = '77' + str(n).zfill(13)
	total = 0
	for i, ch in enumerate(reversed(body)):
		d = int(ch)
		if i % 2 == 0:
			d *= 2
			if d > 9:
				d -= 9
		total += d
	return body + str((10 - total % 10) % 10)


def rnd(x, mode):
	q = {'floor': ROUND_FLOOR, 'ceil': ROUND_CEILING, 'half_up': ROUND_HALF_UP}[mode]
	return int(Decimal(x).quantize(Decimal(1), rounding=q))


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------

class Program:
	def __init__(self, code, ppu, rounding, negative, expiry_days, pending_days, return_days, point_value):
		self.code, self.ppu, self.rounding, self.negative = code, Decimal(ppu), rounding, negative
		self.expiry_days, self.pending_days, self.return_days = expiry_days, pending_days, return_days
		self.point_value = Decimal(point_value)
		self.rules = []			# in rule_id order


class Rule:
	def __init__(self, code, kind, categories=None, multiplier=None, points=None, min_basket=None):
		self.code, self.kind, self.categories = code, kind, categories
		self.multiplier = Decimal(multiplier) if multiplier is not None else None
		self.points, self.min_basket = points, (Decimal(min_basket) if min_basket is not None else None)

	def about(self, line):
		return self.categories is None or line.get('category') in self.categories


class Entry:
	def __init__(self, kind, points, eff, source, reason=None, idem_key=None, store=None, pos_txn=None,
				 pending_until=None, expires_at=None, shortfall=0):
		self.kind, self.points, self.eff, self.source = kind, points, eff, source
		self.reason, self.idem_key, self.store, self.pos_txn = reason, idem_key, store, pos_txn
		self.pending_until, self.expires_at, self.shortfall = pending_until, expires_at, shortfall
		self.db_id = None
		self.seq = None
		self.now_dated = False	# dated by the server at the posting (times compared within 3 hours)
		self.anchor = None		# for a time the server took from its clock: the entry whose moment it is
		self.reversed_req = 0		# points requested by reverse() so far (LY015)
		self.lot = None
		self.lots = None		# [(lot, points)]: the entry's lot_ids, lot_points (NULL: None)


class Lot:
	def __init__(self, entry, points, available_from, expires_at):
		self.entry, self.points, self.remaining = entry, points, points
		self.available_from, self.expires_at = available_from, expires_at
		self.expired = 0		# taken by expire entries
		self.excused = 0		# of that, what returns did not take again


class Member:
	def __init__(self, program, card, enrolled_at):
		self.program, self.card, self.enrolled_at = program, card, enrolled_at
		self.old_cards = []
		self.status = 'active'
		self.db_id = None
		self.entries = []
		self.lots = []
		self.debt = 0
		self.keys = {}			# idem_key -> (request, entry)
		self.holds = []			# its holds, oldest first
		self.expired_events = 0	# hold_expired events its releases wrote
		self.sales = []			# its sales (not returns)
		self.ops = []			# step numbers of the operations touching it


class Hold:
	def __init__(self, member, store, pos_txn, card, points, portions):
		self.member, self.store, self.pos_txn, self.card = member, store, pos_txn, card
		self.points = points
		self.portions = portions	# [[lot, points]] it keeps in lots, in the order taken at authorize
		self.status = 'open'
		self.lapsed = False		# expires_at set into the past (by the fuzzer, as superuser)
		self.captured = None
		self.taken = 0			# its points reversals took out of its lots while open
		self.entry = None
		self.db_id = None


class Sale:
	def __init__(self, member, store, pos_txn, card, occurred_at, total, lines, return_of):
		self.member, self.store, self.pos_txn, self.card = member, store, pos_txn, card
		self.occurred_at, self.total, self.lines, self.return_of = occurred_at, total, lines, return_of
		self.db_id = None
		self.points = 0
		self.entry = None
		self.parts = []			# (kind, rule, points, lines) of the award
		self.returned = {}		# sku -> [qty, amount] over its returns
		self.due_so_far = 0

	def content(self):
		return (self.card, str(self.total), json.dumps(self.lines, sort_keys=True), self.return_of)


class Model:
	def __init__(self, now):
		self.now = now			# R0 (lots never change state between R0 and the server's now)
		self.programs = {}
		self.members = []
		self.cards = {}			# card -> member (current or old)
		self.sales = {}			# (store, pos_txn) -> Sale (only stored ones)
		self.redemptions = {}	# (store, pos_txn) -> (member, points, entry)
		self.holds = {}			# (store, pos_txn) -> Hold
		self.seq = 0
		self.cases = {}			# how often each hold rule came into play (printed at the end)

	def case(self, name, n=1):
		if n:
			self.cases[name] = self.cases.get(name, 0) + 1

	# -- lots and postings -------------------------------------------------
	def lapsed(self, lot):
		return lot.expires_at is not None and lot.expires_at <= self.now

	def pending(self, lot):
		return lot.available_from > self.now

	def open_lots(self, m):
		"""Lots a debit may take from now, in the order it takes them."""
		lots = [l for l in m.lots if l.remaining > 0 and not self.lapsed(l) and not self.pending(l)]
		far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
		return sorted(lots, key=lambda l: (l.expires_at is None, l.expires_at or far, l.entry.seq))

	def available(self, m):
		"""balance().available: lapsed holds as released."""
		lots = self.preview(m)
		return sum(lots[id(l)] for l in m.lots if not self.lapsed(l) and not self.pending(l)) - m.debt

	# -- holds -----------------------------------------------------------------
	def held(self, m, lapsed=True):
		"""Points open holds keep in lots, sum(points - taken) (with lapsed=False: of
		those not past their expiry)."""
		return sum(h.points - h.taken for h in m.holds if h.status == 'open' and (lapsed or not h.lapsed))

	def give_back(self, portions, skip, lots=None):
		"""Puts a hold's portions after its first `skip` points back in their lots
		(on `lots`, lot -> remaining, when given, else for real).  Returns the first
		`skip` points' portions [(lot, points)]."""
		spent = []
		for lot, pts in portions:
			t = min(skip, pts)
			skip -= t
			if t:
				spent.append((lot, t))
			if lots is None:
				lot.remaining += pts - t
			else:
				lots[id(lot)] += pts - t
		return spent

	def preview(self, m):
		"""lot -> remaining as if the member's lapsed holds were released."""
		lots = {id(l): l.remaining for l in m.lots}
		for h in m.holds:
			if h.status == 'open' and h.lapsed:
				self.give_back(h.portions, 0, lots)
		return lots

	def release(self, h, status):
		"""Closes an open hold as voided or expired, giving back what it keeps in lots."""
		self.give_back(h.portions, 0)
		h.status = status
		self.case('release of a hold a reversal took from', h.taken)
		self.case('release of a hold reversals emptied', h.taken == h.points)
		if status == 'expired':
			h.member.expired_events += 1

	def release_lapsed(self, m):
		"""What a redeem, authorize, reversal or negative adjustment does first."""
		for h in m.holds:
			if h.status == 'open' and h.lapsed:
				self.release(h, 'expired')
				self.case('lapsed hold released by a posting')

	def take(self, m, amount):
		"""Takes `amount` points out of the open lots for a hold (as a redemption
		would: only what exceeds the debt); [[lot, points]] in the order taken."""
		rest = self.open_lots(m)
		room = max(0, sum(l.remaining for l in rest) - m.debt)
		out = []
		for lot in rest:
			t = min(amount, lot.remaining, room)
			if t:
				lot.remaining -= t
				amount -= t
				room -= t
				out.append([lot, t])
		assert amount == 0, 'a hold beyond the available points'
		return out

	def kept_in(self, m, lot, but=None):
		"""The member's open holds (but `but`) that keep points in `lot`, in hold order,
		with their portion: [(hold, portion)]."""
		return [(h, pt) for h in m.holds if h.status == 'open' and h is not but for pt in h.portions if pt[0] is lot]

	def take_from_lot(self, m, lot, want, holds, but):
		"""Up to `want` points of one lot: its own points first, then (holds) what open
		holds but `but` keep in it, in hold order (hold.taken grows, its portion shrinks,
		an emptied one is dropped).  Returns the points taken."""
		t = min(want, lot.remaining)
		lot.remaining -= t
		if holds:
			for h, pt in self.kept_in(m, lot, but):
				u = min(want - t, pt[1])
				if u:
					pt[1] -= u
					h.taken += u
					t += u
					self.case('debit took held points' if but is None else "capture took another hold's points")
					if pt[1] == 0:
						h.portions.remove(pt)
		return t

	def select(self, m, need, own_lot=None, holds=False, but=None):
		"""Takes up to `need` points from the lots: `own_lot` first (all it has,
		whatever the debt), then earliest expiry (NULLS LAST), then lot id, the debt
		a prior claim on those; with holds (a debit that cannot be refused) a lot's
		points include what open holds but `but` keep in it.  Returns ([(lot,
		points)], what is missing)."""
		def has(lot):
			return lot.remaining + (sum(pt[1] for _, pt in self.kept_in(m, lot, but)) if holds else 0)
		taken = []
		if own_lot is not None and not self.lapsed(own_lot):
			t = self.take_from_lot(m, own_lot, need, holds, but)
			need -= t
			if t:
				taken.append((own_lot, t))
		far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
		rest = sorted((l for l in m.lots if l is not own_lot and has(l) > 0 and not self.lapsed(l) and not self.pending(l)),
					  key=lambda l: (l.expires_at is None, l.expires_at or far, l.entry.seq))
		room = max(0, sum(has(l) for l in rest) - m.debt)	# the debt is a prior claim on them
		for lot in rest:
			if need == 0 or room == 0:
				break
			t = self.take_from_lot(m, lot, min(need, room), holds, but)
			need -= t
			room -= t
			if t:
				taken.append((lot, t))
		return taken, need

	def capture(self, h, want):
		"""Spends `want` of an open hold: its first lots up to points - taken, the rest
		back; what is missing beyond them a debit that cannot be refused from the other
		lots and holds (shortfall under truncate, debt under allow).  One redeem entry."""
		m = h.member
		c = min(want, h.points - h.taken)
		if want > c:		# a debit: the member's lapsed holds count as released, so they are first
			lapsed = [x for x in m.holds if x.status == 'open' and x.lapsed]
			self.release_lapsed(m)
			self.case('capture released a lapsed hold first', any(x.status == 'expired' for x in lapsed))
		spent = self.give_back(h.portions, c)
		h.status, h.captured = 'captured', want
		taken, need = self.select(m, want - c, holds=True, but=h)
		self.case('capture beyond what reversals left', want > c)
		self.case('capture beyond what reversals left, taken from the other lots', bool(taken))
		short = 0
		if need and m.program.negative == 'allow':
			m.debt += need
			self.case('capture owed (debt)')
		else:
			short = need
			self.case('capture with a shortfall', short)
			self.case('capture of 0 points with a shortfall', short == want)
		e = Entry('redeem', -(want - short), None, 'hold', store=h.store, pos_txn=h.pos_txn, shortfall=short)
		e.lots = list(spent)	# a lot of the hold's taken again now is listed once, with both parts
		for lot, pts in taken:
			i = next((i for i, (l, _) in enumerate(e.lots) if l == lot), None)
			if i is None:
				e.lots.append((lot, pts))
			else:
				e.lots[i] = (lot, e.lots[i][1] + pts)
				self.case('capture took more of a lot its hold kept')
		self.post(m, e)
		h.entry = e
		return e

	def post(self, m, e):
		self.seq += 1
		e.seq = self.seq
		if (e.eff is None or e.now_dated) and e.anchor is None:
			e.anchor = e.seq		# dated by the server's clock: in posting order, after every back-dated entry
		m.entries.append(e)
		return e

	def credit(self, m, e):
		p = m.program
		if e.eff is None:		# dated now: pending and expiry from R0, compared within 3 hours
			e.now_dated = True
			e.eff = self.now
		if e.pending_until is None and p.pending_days:
			e.pending_until = e.eff + p.pending_days * DAY
		if p.expiry_days is not None:
			e.expires_at = e.eff + p.expiry_days * DAY
		self.post(m, e)
		pts = e.points
		repay = min(m.debt, pts)
		m.debt -= repay
		if pts - repay > 0:
			lot = Lot(e, pts - repay, e.pending_until or e.eff, e.expires_at)
			m.lots.append(lot)
			e.lot = lot
		e.lots = [(lot, pts - repay)] if e.lot else []
		return e

	def debit(self, m, e, amount, own_lot=None, refusable=False):
		"""Takes `amount` points; e.points, e.shortfall and e.lots set here.  A debit
		that cannot be refused (not refusable: reverse, negative adjust, a return)
		takes held points as well."""
		held = self.held(m)
		taken, need = self.select(m, amount, own_lot, holds=not refusable)
		if need and m.program.negative == 'allow':
			m.debt += need
			e.points, e.shortfall = -amount, 0
		else:
			e.points, e.shortfall = -(amount - need), need
		if need and held:
			self.case('debit beyond the lots while points are held')
		e.lots = taken
		taken_from = [l for l, _ in taken]
		if e.eff is not None and taken_from:
			if any(l.entry.now_dated for l in taken_from):
				e.eff = None	# dated at the newest lot's moment, which the server took from its clock
				e.anchor = max(l.entry.anchor for l in taken_from if l.entry.now_dated)
			else:
				e.eff = max([e.eff] + [l.entry.eff for l in taken_from])
		self.post(m, e)
		return e

	# -- sales ---------------------------------------------------------------
	def evaluate(self, p, lines, first):
		excl = [r for r in p.rules if r.kind == 'exclude']
		earning = [l for l in lines if not any(r.about(l) for r in excl)]
		amt = sum((Decimal(str(l['amount'])) for l in earning), Decimal(0))
		parts = [('base', None, rnd(p.ppu * amt, p.rounding), [l['sku'] for l in earning])]
		for r in p.rules:
			if r.kind == 'exclude':
				continue
			mine = [l for l in earning if r.about(l)]
			mamt = sum((Decimal(str(l['amount'])) for l in mine), Decimal(0))
			if r.min_basket is not None and mamt < r.min_basket:
				continue
			if r.kind == 'multiplier':
				if mine:
					parts.append(('multiplier', r, rnd((r.multiplier - 1) * p.ppu * mamt, p.rounding), [l['sku'] for l in mine]))
			elif r.kind == 'bonus':
				if mine:
					parts.append(('bonus', r, r.points, [l['sku'] for l in mine]))
			elif r.kind == 'first_purchase':
				if first and mine:
					parts.append(('first_purchase', r, r.points, [l['sku'] for l in mine]))
		return parts

	def kept(self, sale, returned):
		p = sale.member.program
		bought = {l['sku']: (Decimal(str(l['qty'])), Decimal(str(l['amount']))) for l in sale.lines}
		left = {s: (q - returned.get(s, [0, 0])[0], a - returned.get(s, [0, 0])[1]) for s, (q, a) in bought.items()}
		total = 0
		for kind, rule, pts, skus in sale.parts:
			orig = sum((bought[s][1] for s in skus), Decimal(0))
			rest = sum((left[s][1] for s in skus), Decimal(0))
			if rule is not None and rule.min_basket is not None and rest < rule.min_basket:
				continue
			if kind in ('base', 'multiplier'):
				total += rnd(Decimal(pts) * rest / orig, p.rounding) if orig > 0 else 0
			else:
				if any(left[s][0] > 0 or left[s][1] > 0 for s in skus):
					total += pts
		return total


# ---------------------------------------------------------------------------
# The driver: one operation at a time against both
# ---------------------------------------------------------------------------

CATALOG = [('A1', 'baby'), ('A2', 'baby'), ('F1', 'food'), ('F2', 'food'), ('T1', 'tobacco'),
		   ('E1', 'electronics'), ('X1', None)]


class Fuzzer:
	def __init__(self, dsn, seed, steps, verbose=False):
		self.rng = random.Random(seed)
		self.seed, self.steps, self.verbose = seed, steps, verbose
		self.conn = psycopg2.connect(dsn)
		self.conn.autocommit = True
		self.cur = self.conn.cursor()
		self.cur.execute("SELECT now()")
		r0 = self.cur.fetchone()[0]
		self.m = Model(r0)
		self.r0 = r0
		self.log = []			# (step, text)
		self.step = 0
		self.card_serial = 0
		self.txn = 0
		self.stats = {}

	# -- time ------------------------------------------------------------------
	def snap(self, t):
		"""t moved to 3..21 h off a whole number of days before R0 (whole seconds)."""
		off = int((self.r0 - t).total_seconds())
		k, r = divmod(off, 86400)
		r = min(max(r, 3 * 3600), 21 * 3600)
		return self.r0 - dt.timedelta(seconds=k * 86400 + r)

	def clock(self):
		"""The model's clock T at this step: 420 days back to 2 days back."""
		frac = self.step / max(self.steps, 1)
		t = self.r0 - dt.timedelta(days=420) + dt.timedelta(days=418 * frac)
		return self.snap(t)

	def pos_time(self):
		return self.snap(self.r0 - dt.timedelta(seconds=self.rng.randint(4 * 3600, 20 * 3600)))

	# -- plumbing --------------------------------------------------------------
	def note(self, text, *members):
		self.log.append((self.step, text))
		for mem in members:
			if mem is not None:
				mem.ops.append(len(self.log) - 1)
		if self.verbose:
			print('%6d %s' % (self.step, text))

	def run_sql(self, sql, args=(), role=None):
		"""(rows, sqlstate): the statement's rows, or the SQLSTATE of its error."""
		try:
			if role:
				self.cur.execute("SET ROLE " + role)
			self.cur.execute(sql, args)
			rows = self.cur.fetchall() if self.cur.description else []
			return rows, None
		except psycopg2.Error as err:
			if err.pgcode is None:
				raise
			return None, err.pgcode
		finally:
			if role:
				self.cur.execute("RESET ROLE")

	def fail(self, what, member=None):
		raise Mismatch(what if member is None else '%s (member %s, card %s)' % (what, member.db_id, member.card))

	def expect_state(self, have, allowed, what, member=None):
		"""Compares a SQLSTATE (None: success) with the set the model allows."""
		key = have or 'ok'
		self.stats[key] = self.stats.get(key, 0) + 1
		if self.log:
			self.log[-1] = (self.log[-1][0], self.log[-1][1] + ' -> ' + key)
		if have not in allowed:
			self.fail('%s: the extension answered %s, the model expects %s'
					  % (what, have or 'success', ' or '.join(sorted(a or 'success' for a in allowed))), member)

	def new_card(self):
		self.card_serial += 1
		return luhn_card(self.seed * 100000 + self.card_serial)

	def new_txn(self):
		self.txn += 1
		return 'T%d' % self.txn

	# -- setup ----------------------------------------------------------------
	def setup(self):
		rng = self.rng
		c = self.cur
		c.execute("DO $$ BEGIN CREATE ROLE fuzz_pos; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
		c.execute("SELECT loyalty.grant_access('fuzz_pos', 'pos')")
		specs = [
			Program('fz_a', '1', 'floor', 'truncate', 60, 0, 365, '0.01'),
			Program('fz_b', '2.5', 'half_up', 'allow', 30, 7, 90, '0.02'),
			Program('fz_c', '0.5', 'ceil', 'truncate', None, 3, 120, '0.01'),
		]
		for p, minutes in zip(specs, [30, 5, 10080]):
			p.hold_minutes = minutes
			c.execute("INSERT INTO loyalty.program (code, points_per_unit, rounding, negative_balance, expiry_after, "
					  "pending_days, return_days, point_value, hold_minutes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
					  (p.code, p.ppu, p.rounding, p.negative,
					   None if p.expiry_days is None else '%d days' % p.expiry_days,
					   p.pending_days, p.return_days, p.point_value, p.hold_minutes))
			pool = [Rule('x-tob', 'exclude', categories=['tobacco']),
					Rule('baby-x%d' % rng.choice([2, 3]), 'multiplier', categories=['baby'], multiplier=rng.choice([2, 3])),
					Rule('food-x1.5', 'multiplier', categories=['food'], multiplier='1.5', min_basket=rng.choice([None, 20])),
					Rule('bonus-big', 'bonus', points=rng.choice([10, 50]), min_basket=rng.choice([60, 100])),
					Rule('bonus-elec', 'bonus', categories=['electronics'], points=25),
					Rule('first', 'first_purchase', points=rng.choice([5, 30]))]
			for r in pool:
				if rng.random() < 0.7:
					c.execute("INSERT INTO loyalty.rule (program_id, code, kind, categories, multiplier, points, min_basket) "
							  "SELECT program_id, %s, %s, %s, %s, %s, %s FROM loyalty.program WHERE code = %s",
							  (r.code, r.kind, r.categories, r.multiplier, r.points, r.min_basket, p.code))
					p.rules.append(r)
			self.m.programs[p.code] = p
			self.note('program %s: ppu %s %s %s expiry %s pending %s return_days %s rules %s' % (
				p.code, p.ppu, p.rounding, p.negative, p.expiry_days, p.pending_days, p.return_days,
				', '.join('%s(%s%s%s%s)' % (r.kind, r.categories or '', ' x%s' % r.multiplier if r.multiplier else '',
												' %s pts' % r.points if r.points else '',
												' min %s' % r.min_basket if r.min_basket else '') for r in p.rules)))
		for _ in range(6):
			self.op_enroll(fresh=True)

	# -- choosing ---------------------------------------------------------------
	def pick_member(self, status=None, holding=False):
		"""A member (of a status); with holding, half the time one with an open hold,
		so that postings meet held points."""
		ms = [x for x in self.m.members if status is None or x.status in status]
		if holding and self.rng.random() < 0.7:
			ms = [x for x in ms if any(h.status == 'open' for h in x.holds)] or ms
		return self.rng.choice(ms) if ms else None

	def basket(self):
		rng = self.rng
		items = rng.sample(CATALOG, rng.randint(1, 4))
		lines = []
		for sku, cat in items:
			qty = rng.randint(1, 3)
			amount = Decimal(rng.randint(0, 8000)) / 100 * (1 if rng.random() < 0.9 else 0)
			line = {'sku': sku, 'qty': qty, 'amount': float(amount)}
			if cat:
				line['category'] = cat
			lines.append(line)
		total = sum((Decimal(str(l['amount'])) for l in lines), Decimal(0))
		return lines, total

	# -- operations --------------------------------------------------------------
	def op_enroll(self, fresh=None):
		rng = self.rng
		m = self.m
		if fresh is None:
			fresh = rng.random() < 0.6 or not m.members
		if fresh:
			p = rng.choice(list(m.programs.values()))
			card = self.new_card()
			at = self.clock() - rng.randint(0, 30) * DAY
			rows, st = self.run_sql("SELECT loyalty.enroll(%s, %s, enrolled_at => %s)", (card, p.code, at))
			self.note('enroll %s in %s at %s' % (card, p.code, at))
			self.expect_state(st, {None}, 'enroll of a new card')
			mem = Member(p, card, at)
			mem.db_id = rows[0][0]
			m.members.append(mem)
			m.cards[card] = mem
			mem.ops.append(len(self.log) - 1)
			return [mem]
		mem = self.pick_member()
		if rng.random() < 0.5:
			rows, st = self.run_sql("SELECT loyalty.enroll(%s, %s)", (mem.card, mem.program.code))
			self.note('enroll %s in %s again' % (mem.card, mem.program.code), mem)
			self.expect_state(st, {None}, 're-enrolment of an enrolled card', mem)
			if rows[0][0] != mem.db_id:
				self.fail('re-enrolment gave member %s' % rows[0][0], mem)
		else:
			other = rng.choice([p for p in m.programs.values() if p is not mem.program])
			rows, st = self.run_sql("SELECT loyalty.enroll(%s, %s)", (mem.card, other.code))
			self.note('enroll %s (of %s) in %s' % (mem.card, mem.program.code, other.code), mem)
			self.expect_state(st, {'LY006'}, 'enrolment in another program', mem)
		return [mem]

	def card_for(self, mem, allowed):
		"""A card to use for mem: mostly its current one; sometimes a replaced one or an unknown one."""
		rng = self.rng
		x = rng.random()
		if x < 0.04 and mem.old_cards:
			allowed.clear()
			allowed.add('LY002')
			return rng.choice(mem.old_cards)
		if x < 0.06:
			allowed.clear()
			allowed.add('LY001')
			return self.new_card()
		return mem.card

	def status_refusal(self, mem, allowed):
		if mem.status == 'suspended':
			allowed.add('LY003')
		elif mem.status == 'closed':
			allowed.add('LY004')

	def op_sale(self):
		rng = self.rng
		m = self.m
		mem = self.pick_member()
		p = mem.program
		lines, total = self.basket()
		pos = rng.random() < 0.4
		role = 'fuzz_pos' if pos else None
		errs = set()
		card = self.card_for(mem, errs)
		if pos:
			r = rng.random()
			at = self.pos_time() if r < 0.9 else self.snap(self.r0 - DAY - rng.randint(3, 20) * HOUR)
			if r >= 0.9:
				errs.add('LY041')
		else:
			at = self.clock() - rng.randint(0, 3) * DAY
			if rng.random() < 0.03:
				at = self.r0 + DAY
				errs.add('LY016')
		if at < mem.enrolled_at:
			errs.add('LY042')
		if rng.random() < 0.03:
			total += Decimal('0.50')
			errs.add('LY033')
		if card == mem.card:
			self.status_refusal(mem, errs)
		store = rng.choice(['S1', 'S2'])
		txn = self.new_txn()
		rows, st = self.run_sql(
			"INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) VALUES (%s, %s, %s, %s, %s, %s) "
			"RETURNING sale_id, member_id, points_earned, entry_id",
			(store, txn, card, at, total, json.dumps(lines)), role)
		self.note('sale %s/%s card %s at %s%s total %s lines %s' % (store, txn, card, at, ' (pos)' if pos else '',
																	total, json.dumps(lines)), mem)
		self.expect_state(st, errs if errs else {None}, 'sale %s/%s' % (store, txn), mem)
		if st:
			return [mem]
		if errs:
			self.fail('sale accepted; the model expects one of %s' % errs, mem)
		sale = Sale(mem, store, txn, card, at, total, lines, None)
		first = not mem.sales
		sale.parts = m.evaluate(p, lines, first)
		award = max(0, sum(x[2] for x in sale.parts))
		sale.points = award
		sale.db_id = rows[0][0]
		if award > 0:
			e = m.credit(mem, Entry('earn', award, at, 'sale', store=store, pos_txn=txn))
			e.db_id = rows[0][3]
			sale.entry = e
		mem.sales.append(sale)
		m.sales[(store, txn)] = sale
		if rows[0][2] != award:
			self.fail('sale %s/%s earned %s, the model %s (parts %s)' % (store, txn, rows[0][2], award,
																	 [(k, pt) for k, r, pt, s in sale.parts]), mem)
		return [mem]

	def op_return(self):
		rng = self.rng
		m = self.m
		cands = [s for mem in m.members for s in mem.sales]
		if rng.random() < 0.5:		# a return while points are held
			cands = [s for s in cands if any(h.status == 'open' for h in s.member.holds)] or cands
		if not cands:
			return self.op_sale()
		sale = rng.choice(cands)
		mem = sale.member
		p = mem.program
		errs = set()
		return_of = sale.db_id
		x = rng.random()
		lines = []
		bought = {l['sku']: l for l in sale.lines}
		left = {s: (Decimal(str(l['qty'])) - sale.returned.get(s, [0, 0])[0],
					Decimal(str(l['amount'])) - sale.returned.get(s, [0, 0])[1]) for s, l in bought.items()}
		for sku, (q, a) in left.items():
			if q > 0 and rng.random() < 0.6:
				rq = rng.randint(1, int(q)) if q >= 1 else q
				ra = a if rq == q else (a * rq / q).quantize(Decimal('0.01'), rounding=ROUND_FLOOR)
				lines.append({'sku': sku, 'qty': rq, 'amount': float(ra)})
		if x < 0.05 or not lines:
			# over-return: more than is left of a line, or a sku not bought
			if rng.random() < 0.5:
				sku = rng.choice(list(bought))
				lines = [{'sku': sku, 'qty': float(left[sku][0] + 1), 'amount': float(max(left[sku][1], Decimal(0)))}]
			else:
				lines = [{'sku': 'ZZ', 'qty': 1, 'amount': 1.0}]
			errs.add('LY038')
		total = sum((Decimal(str(l['amount'])) for l in lines), Decimal(0))
		card = mem.card if rng.random() < 0.7 else None
		y = rng.random()
		if y < 0.04:
			return_of = 10 ** 9
			errs = {'LY036'}
		elif y < 0.07:
			rets = [s for s in m.sales.values() if s.return_of is not None]
			if rets:
				return_of = rng.choice(rets).db_id
				errs = {'LY037', 'LY038'}
		elif y < 0.10:
			other = self.pick_member()
			if other is not mem:
				card = other.card
				errs.add('LY039')
		elif y < 0.12 and mem.old_cards:
			card = rng.choice(mem.old_cards)
			errs.add('LY002')
		pos = rng.random() < 0.4
		role = 'fuzz_pos' if pos else None
		if pos:
			at = self.pos_time()
			if rng.random() < 0.05:
				at = self.snap(self.r0 - DAY - rng.randint(3, 20) * HOUR)
				errs.add('LY041')
			if return_of == sale.db_id and (self.r0 - sale.occurred_at > p.return_days * DAY or at < sale.occurred_at):
				errs.add('LY040')
		else:
			at = max(sale.occurred_at, self.clock()) + rng.randint(0, 5) * DAY
			at = self.snap(min(at, self.r0 - DAY))
			if rng.random() < 0.05:
				at = self.snap(sale.occurred_at - rng.randint(1, 5) * DAY)
			if return_of == sale.db_id and (at < sale.occurred_at or at - sale.occurred_at > p.return_days * DAY):
				errs.add('LY040')
		if at < mem.enrolled_at:
			errs.add('LY042')
		store = rng.choice(['S1', 'S2'])
		txn = self.new_txn()
		rows, st = self.run_sql(
			"INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines, return_of) "
			"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING sale_id, member_id, points_earned, entry_id",
			(store, txn, card, at, total, json.dumps(lines, default=float), return_of), role)
		self.note('return %s/%s of sale %s (%s/%s) card %s at %s%s total %s lines %s' % (
			store, txn, return_of, sale.store, sale.pos_txn, card, at, ' (pos)' if pos else '', total,
			json.dumps(lines, default=float)), mem)
		self.expect_state(st, errs if errs else {None}, 'return %s/%s' % (store, txn), mem)
		if st:
			return [mem]
		if errs:
			self.fail('return accepted; the model expects one of %s' % errs, mem)
		ret = Sale(mem, store, txn, card, at, total, lines, return_of)
		ret.db_id = rows[0][0]
		m.sales[(store, txn)] = ret
		for l in lines:
			r = sale.returned.setdefault(l['sku'], [Decimal(0), Decimal(0)])
			r[0] += Decimal(str(l['qty']))
			r[1] += Decimal(str(l['amount']))
		kept = m.kept(sale, sale.returned)
		due = sale.points - kept - sale.due_so_far
		took = 0
		if mem.status != 'closed' and due > 0:
			lot = sale.entry.lot if sale.entry is not None else None
			gone = 0
			if lot is not None:
				gone = lot.expired + (lot.remaining if m.lapsed(lot) else 0)
			take = min(due, max(0, sale.points - gone - sale.due_so_far))
			if self.verbose:
				print('#   return: award %s parts %s kept %s taken before %s gone %s: due %s, takes %s' % (
					sale.points, [(k, pt, s) for k, r, pt, s in sale.parts], kept, sale.due_so_far, gone, due, take))
			if take > 0:
				sale.due_so_far += take
				m.release_lapsed(mem)
				e = m.debit(mem, Entry('reverse', 0, at, 'return', store=store, pos_txn=txn), take, lot)
				e.db_id = rows[0][3]
				took = e.points
		if rows[0][2] != took:
			self.fail('return %s/%s: points_earned %s, the model %s' % (store, txn, rows[0][2], took), mem)
		ret.points = took
		return [mem]

	def op_earn(self):
		rng = self.rng
		m = self.m
		mem = self.pick_member(holding=True)
		errs = set()
		if mem.keys and rng.random() < 0.2:
			return self.retry_posting(mem)
		card = self.card_for(mem, errs)
		pts = rng.choice([1, 5, 10, 40, 100, 250]) if rng.random() > 0.03 else rng.choice([0, -5])
		if pts <= 0:
			errs.add('LY012')
		at = self.clock() - rng.randint(0, 40) * DAY
		if mem.program.expiry_days and rng.random() < (0.7 if mem.program.negative == 'allow' else 0.3):
			# open now (past pending, before expiry), so that short-lived programs hold points too
			at = self.snap(self.r0 - rng.randint(mem.program.pending_days + 1, mem.program.expiry_days - 2) * DAY)
		at = max(at, mem.enrolled_at)
		if rng.random() < 0.03:
			at = self.r0 + DAY
			errs.add('LY016')
		pend = None
		if rng.random() < 0.15:
			pend = at + rng.randint(1, 20) * DAY
		reason = rng.choice([None, 'goodwill', 'promo'])
		key = 'k%d' % self.new_serial()
		if card == mem.card:
			self.status_refusal(mem, errs)
		rows, st = self.run_sql("SELECT entry_id, points, shortfall, effective_at, pending_until, expires_at "
								"FROM loyalty.earn(%s, %s, %s, %s, %s, %s)", (card, pts, key, reason, at, pend))
		self.note('earn %s %s key %s reason %s at %s pending_until %s' % (card, pts, key, reason, at, pend), mem)
		self.expect_state(st, errs or {None}, 'earn %s' % key, mem)
		if st:
			return [mem]
		e = m.credit(mem, Entry('earn', pts, at, 'api', reason=reason, idem_key=key, pending_until=pend))
		e.db_id = rows[0][0]
		mem.keys[key] = (('earn', pts, reason, None), e)
		self.check_posting(rows[0], e, mem)
		return [mem]

	def new_serial(self):
		self.txn += 1
		return self.txn

	def check_posting(self, row, e, mem):
		if row[1] != e.points or row[2] != e.shortfall:
			self.fail('posting %s: points/shortfall %s/%s, the model %s/%s' % (e.idem_key, row[1], row[2], e.points, e.shortfall), mem)

	def op_adjust(self):
		rng = self.rng
		m = self.m
		mem = self.pick_member(holding=True)
		if mem.keys and rng.random() < 0.2:
			return self.retry_posting(mem)
		errs = set()
		card = self.card_for(mem, errs)
		pts = rng.choice([-300, -100, -40, -10, -1, 1, 10, 60])
		held = m.held(mem, lapsed=False)
		if held and rng.random() < 0.5:		# into the held points
			pts = -(max(m.available(mem), 0) + rng.randint(1, held + 30))
		if rng.random() < 0.03:
			pts = 0
			errs.add('LY012')
		at = None
		if rng.random() < 0.5:
			at = max(self.clock() - rng.randint(0, 60) * DAY, mem.enrolled_at)
		reason = rng.choice(['damaged', 'goodwill', 'correction'])
		if rng.random() < 0.03:
			reason = None
			errs.add('LY013')
		key = 'k%d' % self.new_serial()
		if card == mem.card:
			self.status_refusal(mem, errs)
		rows, st = self.run_sql("SELECT entry_id, points, shortfall, effective_at FROM loyalty.adjust(%s, %s, %s, %s, %s)",
								(card, pts, key, reason, at))
		self.note('adjust %s %s key %s reason %s at %s' % (card, pts, key, reason, at), mem)
		self.expect_state(st, errs or {None}, 'adjust %s' % key, mem)
		if st:
			return [mem]
		if pts > 0:
			e = m.credit(mem, Entry('adjust', pts, at, 'manual', reason=reason, idem_key=key))
		else:
			m.release_lapsed(mem)
			e = m.debit(mem, Entry('adjust', 0, at, 'manual', reason=reason, idem_key=key), -pts)
		e.db_id = rows[0][0]
		mem.keys[key] = (('adjust', pts, reason, None), e)
		self.check_posting(rows[0], e, mem)
		return [mem]

	def op_reverse(self):
		rng = self.rng
		m = self.m
		mem = self.pick_member(holding=True)
		if mem.keys and rng.random() < 0.2:
			return self.retry_posting(mem)
		errs = set()
		earns = [e for e in mem.entries if e.kind == 'earn' and e.source == 'api']
		x = rng.random()
		if x < 0.1 or not earns:
			others = [e for e in mem.entries if e.kind not in ('earn',) and e.db_id is not None]
			if not others:
				return self.op_earn()
			target = rng.choice(others)
			errs.add('LY014')
			pts = 1
		else:
			target = rng.choice(earns)
			left = target.points - target.reversed_req
			if rng.random() < 0.15 or left <= 0:
				pts = left + rng.randint(1, 5)
				errs.add('LY015')
			else:
				pts = rng.randint(1, left)
		card = self.card_for(mem, errs)
		if card == mem.card:
			self.status_refusal(mem, errs)
		key = 'k%d' % self.new_serial()
		reason = rng.choice([None, 'return'])
		rows, st = self.run_sql("SELECT entry_id, points, shortfall FROM loyalty.reverse(%s, %s, %s, %s, %s)",
								(card, target.db_id, pts, key, reason))
		self.note('reverse %s entry %s points %s key %s reason %s' % (card, target.db_id, pts, key, reason), mem)
		self.expect_state(st, errs or {None}, 'reverse %s' % key, mem)
		if st:
			return [mem]
		target.reversed_req += pts
		m.release_lapsed(mem)
		e = m.debit(mem, Entry('reverse', 0, None, 'api', reason=reason, idem_key=key), pts, target.lot)
		e.db_id = rows[0][0]
		mem.keys[key] = (('reverse', pts, reason, target.db_id), e)
		self.check_posting(rows[0], e, mem)
		return [mem]

	def retry_posting(self, mem):
		"""A key sent again: identical (the first answer) or altered (LY011)."""
		rng = self.rng
		key = rng.choice(list(mem.keys))
		(kind, pts, reason, target), e = mem.keys[key]
		altered = rng.random() < 0.4
		errs = {None}
		if altered:
			what = rng.choice(['points', 'reason'])
			if what == 'points':
				pts = pts + 1 if pts != -1 else -2
			else:
				reason = (reason or '') + '!'
			errs = {'LY011'}
		if mem.status == 'closed':
			errs.add('LY004')		# the README promises the first answer after a suspension, says nothing of closure
		if kind == 'earn':
			rows, st = self.run_sql("SELECT entry_id, points, shortfall FROM loyalty.earn(%s, %s, %s, %s, %s)",
									(mem.card, pts, key, reason, self.clock()))
		elif kind == 'adjust':
			if reason is None:
				reason = 'x'
			rows, st = self.run_sql("SELECT entry_id, points, shortfall FROM loyalty.adjust(%s, %s, %s, %s)",
									(mem.card, pts, key, reason))
		else:
			if pts <= 0:
				pts = 1
			rows, st = self.run_sql("SELECT entry_id, points, shortfall FROM loyalty.reverse(%s, %s, %s, %s, %s)",
									(mem.card, target, pts, key, reason))
		self.note('%s %s again with key %s (%s): points %s reason %s' % (
			kind, mem.card, key, 'altered' if altered else 'identical', pts, reason), mem)
		self.expect_state(st, errs, '%s retried with key %s (%s)' % (kind, key, 'altered' if altered else 'identical'), mem)
		if st is None:
			if rows[0][0] != e.db_id or rows[0][1] != e.points or rows[0][2] != e.shortfall:
				self.fail('retry of %s answered %s, first answer (%s, %s, %s)' % (key, rows[0], e.db_id, e.points, e.shortfall), mem)
		return [mem]

	def pos_retry(self, mem, pts):
		"""A redemption's or a hold's (store, pos_txn) sent again: identical, with other
		points or with another card (LY011).  (card, points, what, allowed SQLSTATEs)."""
		rng = self.rng
		card = mem.card
		errs = {None}
		what = 'identical'
		if rng.random() < 0.4:
			if rng.random() < 0.5:
				pts += 1
				what = 'other points'
			else:
				other = self.pick_member()
				if other is not mem:
					card = other.card
					what = 'another card'
			if what != 'identical':
				errs = {'LY011'}
			if what == 'another card':
				self.status_refusal(other, errs)	# that member's status may be checked first
		if mem.status == 'closed' and card == mem.card:
			errs.add('LY004')
		return card, pts, what, errs

	def spend_key(self, mem, card, pts, avail, errs, taken):
		"""The (store, pos_txn) of a new redemption or hold: a new one, or now and then
		one of `taken` (holds and redemptions share the key: LY011, checked once the
		request's own row is written, so after what the member's status and available
		points refuse, which this adds to errs)."""
		rng = self.rng
		store, txn = rng.choice(['S1', 'S2']), self.new_txn()
		shared = taken and rng.random() < 0.04
		if shared:
			store, txn = rng.choice(list(taken))
		if card == mem.card:
			self.status_refusal(mem, errs)
			if not errs and pts > max(avail, 0):
				errs.add('LY010')
		if shared and not errs:
			errs.add('LY011')
		return store, txn

	def op_redeem(self):
		rng = self.rng
		m = self.m
		if m.redemptions and rng.random() < 0.2:
			(store, txn), (mem, pts, e) = rng.choice(list(m.redemptions.items()))
			card, pts, what, errs = self.pos_retry(mem, pts)
			rows, st = self.run_sql("SELECT redemption_id, points FROM loyalty.redeem(%s, %s, %s, %s)",
									(card, pts, store, txn), 'fuzz_pos')
			self.note('redeem %s %s at %s/%s again (%s)' % (card, pts, store, txn, what), mem)
			self.expect_state(st, errs, 'redemption %s/%s retried (%s)' % (store, txn, what), mem)
			if st is None and (rows[0][0] != e.db_id or rows[0][1] != -e.points):
				self.fail('retried redemption answered %s, first (%s, %s)' % (rows[0], e.db_id, -e.points), mem)
			return [mem]
		mem = self.pick_member(holding=True)
		errs = set()
		card = self.card_for(mem, errs)
		avail = m.available(mem)
		pts = rng.randint(1, max(1, avail)) if rng.random() < 0.8 else max(1, avail) + rng.randint(0, 30)
		# a captured hold's key is a redemption's too (its capture's entry), which a
		# redemption looks up first: only keys of holds not captured are shared here
		store, txn = self.spend_key(mem, card, pts, avail, errs,
									[k for k, h in m.holds.items() if h.status != 'captured'])
		rows, st = self.run_sql("SELECT redemption_id, points, value FROM loyalty.redeem(%s, %s, %s, %s)",
								(card, pts, store, txn), 'fuzz_pos')
		self.note('redeem %s %s at %s/%s (available %s)' % (card, pts, store, txn, avail), mem)
		self.expect_state(st, errs or {None}, 'redemption %s/%s' % (store, txn), mem)
		if st:
			return [mem]
		m.release_lapsed(mem)
		e = m.debit(mem, Entry('redeem', 0, None, 'redemption', store=store, pos_txn=txn), pts, refusable=True)
		e.db_id = rows[0][0]
		m.redemptions[(store, txn)] = (mem, pts, e)
		if rows[0][1] != pts or Decimal(rows[0][2]) != pts * mem.program.point_value:
			self.fail('redemption answered %s' % (rows[0],), mem)
		return [mem]

	HOLD_COLS = "hold_id, status, points, value, captured, taken, lot_ids, lot_points, redemption_id, " \
		"extract(epoch FROM expires_at - authorized_at)::int / 60"

	def check_hold(self, row, h, what):
		"""An answer of authorize, capture or void (HOLD_COLS) against the model's hold."""
		want = (h.db_id, h.status, h.points, h.points * h.member.program.point_value, h.captured, h.taken,
				[l.entry.db_id for l, _ in h.portions], [p for _, p in h.portions],
				h.entry.db_id if h.entry else None, h.member.program.hold_minutes)
		have = tuple(row[:3]) + (Decimal(row[3]),) + tuple(row[4:])
		if h.lapsed:			# its expires_at was moved
			want = want[:-1] + have[-1:]
		if have != want:
			self.fail('%s answered %s, the model %s' % (what, have, want), h.member)

	def op_authorize(self):
		"""A hold: new (within or beyond the available points, with the key of a
		redemption), or a retry of an earlier one (identical, other points, another card)."""
		rng = self.rng
		m = self.m
		if m.holds and rng.random() < 0.2:
			return self.retry_authorize()
		mem = self.pick_member(holding=True)
		if rng.random() < 0.6:		# mostly a member with points, of any program (allow's are rarer)
			mem = rng.choice([x for x in m.members if m.available(x) > 0 and x.status == 'active'] or [mem])
		errs = set()
		card = self.card_for(mem, errs)
		avail = m.available(mem)
		x = rng.random()
		pts = max(1, avail) if x < 0.4 else rng.randint(1, max(1, avail)) if x < 0.85 else \
			max(1, avail) + rng.randint(0, 30) if x < 0.97 else 0
		if pts == 0:
			errs.add('LY012')
		store, txn = self.spend_key(mem, card, pts, avail, errs, m.redemptions)
		rows, st = self.run_sql("SELECT %s FROM loyalty.authorize(%%s, %%s, %%s, %%s)" % self.HOLD_COLS,
								(card, pts, store, txn), 'fuzz_pos')
		self.note('authorize %s %s at %s/%s (available %s)' % (card, pts, store, txn, avail), mem)
		self.expect_state(st, errs or {None}, 'authorize %s/%s' % (store, txn), mem)
		if st:
			return [mem]
		m.release_lapsed(mem)
		h = Hold(mem, store, txn, card, pts, m.take(mem, pts))
		h.db_id = rows[0][0]
		mem.holds.append(h)
		m.holds[(store, txn)] = h
		self.check_hold(rows[0], h, 'authorize %s/%s' % (store, txn))
		return [mem]

	def retry_authorize(self):
		rng = self.rng
		m = self.m
		h = rng.choice(list(m.holds.values()))
		mem = h.member
		card, pts, what, errs = self.pos_retry(mem, h.points)
		rows, st = self.run_sql("SELECT %s FROM loyalty.authorize(%%s, %%s, %%s, %%s)" % self.HOLD_COLS,
								(card, pts, h.store, h.pos_txn), 'fuzz_pos')
		self.note('authorize %s %s at %s/%s again (%s; hold %s %s%s)' % (
			card, pts, h.store, h.pos_txn, what, h.db_id, h.status, ', lapsed' if h.lapsed and h.status == 'open' else ''), mem)
		self.expect_state(st, errs, 'authorize %s/%s retried (%s)' % (h.store, h.pos_txn, what), mem)
		if st is None:
			self.check_hold(rows[0], h, 'retried authorize %s/%s' % (h.store, h.pos_txn))
			self.m.case('retried authorize of a lapsed hold', h.status == 'open' and h.lapsed)
		return [mem]

	def pick_hold(self):
		"""A hold to capture or void: mostly an open one (half the time one a reversal
		took from, when there is one); else any, or an unknown id."""
		rng = self.rng
		hs = list(self.m.holds.values())
		open_ = [h for h in hs if h.status == 'open' and not h.lapsed]
		if rng.random() < 0.03 or not hs:
			return None
		taken = [h for h in open_ if h.taken]
		if taken and rng.random() < 0.6:
			return rng.choice(taken)
		if open_ and rng.random() < 0.7:
			return rng.choice(open_)
		return rng.choice(hs)

	def op_capture(self):
		rng = self.rng
		m = self.m
		h = self.pick_hold()
		hid = h.db_id if h else 10 ** 9
		x = rng.random()
		pts = None if x < 0.4 or h is None else rng.randint(1, h.points) if x < 0.9 else \
			h.points + rng.randint(1, 10) if x < 0.97 else 0
		if h is not None and h.status == 'open' and h.taken and x < 0.9 and rng.random() < 0.7:
			pts = rng.randint(h.points - h.taken + 1, h.points)	# beyond what reversals left
		if h is not None and h.status == 'captured' and rng.random() < 0.5:
			pts = rng.choice([None, h.captured])
		errs = set()
		if h is None:
			errs.add('LY100')
		else:
			if pts is not None and pts <= 0:
				errs.add('LY012')
			elif pts is not None and pts > h.points:
				errs.add('LY104')
			if h.status == 'voided':
				errs.add('LY101')
			elif h.status == 'expired' or (h.status == 'open' and h.lapsed):
				errs.add('LY103')
			elif h.status == 'captured' and pts is not None and pts != h.captured:
				errs.add('LY105')
		rows, st = self.run_sql("SELECT %s FROM loyalty.capture(%%s, %%s)" % self.HOLD_COLS, (hid, pts), 'fuzz_pos')
		mem = h.member if h else None
		self.note('capture hold %s %s (%s%s)' % (hid, pts, h.status if h else 'unknown',
												', lapsed' if h and h.lapsed and h.status == 'open' else ''), mem)
		self.expect_state(st, errs or {None}, 'capture of hold %s' % hid, mem)
		if st:
			return [mem] if mem else []
		if h.status == 'open':
			m.case('capture beside a lapsed hold while owing',
				   mem.debt > 0 and any(x.status == 'open' and x.lapsed for x in mem.holds))
			m.capture(h, h.points if pts is None else pts).db_id = rows[0][8]
		self.check_hold(rows[0], h, 'capture of hold %s' % hid)
		return [mem]

	def op_void(self):
		m = self.m
		h = self.pick_hold()
		hid = h.db_id if h else 10 ** 9
		errs = set()
		if h is None:
			errs.add('LY100')
		elif h.status == 'captured':
			errs.add('LY102')
		rows, st = self.run_sql("SELECT %s FROM loyalty.void(%%s)" % self.HOLD_COLS, (hid,), 'fuzz_pos')
		mem = h.member if h else None
		self.note('void hold %s (%s%s)' % (hid, h.status if h else 'unknown',
										   ', lapsed' if h and h.lapsed and h.status == 'open' else ''), mem)
		self.expect_state(st, errs or {None}, 'void of hold %s' % hid, mem)
		if st:
			return [mem] if mem else []
		if h.status == 'open':
			m.release(h, 'expired' if h.lapsed else 'voided')
		self.check_hold(rows[0], h, 'void of hold %s' % hid)
		return [mem]

	def op_lapse(self):
		"""The passage of hold_minutes: an open hold's expires_at set into the past
		(as superuser, as sql/holds.sql does); half the time one beside another open
		hold a reversal took from (whose capture then releases it first)."""
		hs = [h for h in self.m.holds.values() if h.status == 'open' and not h.lapsed]
		if not hs:
			return self.op_authorize()
		beside = [h for h in hs if h.points > h.taken and any(
			x is not h and x.status == 'open' and not x.lapsed and x.taken for x in h.member.holds)]
		h = self.rng.choice(beside if beside and self.rng.random() < 0.5 else hs)
		self.run_sql("UPDATE loyalty.hold SET expires_at = now() - interval '1 minute' WHERE hold_id = %s", (h.db_id,))
		h.lapsed = True
		self.note('hold %s lapses (%s points)' % (h.db_id, h.points), h.member)
		return [h.member]

	def op_sweep(self):
		m = self.m
		rows, st = self.run_sql("SELECT holds, points FROM loyalty.sweep_holds()")
		self.note('sweep_holds()')
		self.expect_state(st, {None}, 'sweep_holds')
		n = pts = 0
		touched = []
		# every lapsed hold, emptied by reversals or not (README "Tender holds")
		for h in m.holds.values():
			if h.status == 'open' and h.lapsed:
				m.release(h, 'expired')
				n += 1
				pts += h.points - h.taken
				if h.member not in touched:
					touched.append(h.member)
					h.member.ops.append(len(self.log) - 1)
		if tuple(rows[0]) != (n, pts):
			self.fail('sweep_holds() released %s holds of %s points, the model %s of %s' % (rows[0][0], rows[0][1], n, pts))
		return touched

	def op_retry_sale(self):
		"""A sale or return sent again: identical (refused by the unique index, or no row with
		ON CONFLICT DO NOTHING) or with other content (LY035); also after a card replacement."""
		rng = self.rng
		m = self.m
		if not m.sales:
			return self.op_sale()
		s = rng.choice(list(m.sales.values()))
		lines, total, card = s.lines, s.total, s.card
		altered = rng.random() < 0.4
		if altered:
			lines = json.loads(json.dumps(lines))
			lines[0]['amount'] = float(Decimal(str(lines[0]['amount'])) + 1)
			total = total + 1
		onc = rng.random() < 0.5
		at = s.occurred_at if rng.random() < 0.5 else self.pos_time()
		rows, st = self.run_sql(
			"INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines, return_of) "
			"VALUES (%s, %s, %s, %s, %s, %s, %s) %s RETURNING sale_id, points_earned" % (
				'%s', '%s', '%s', '%s', '%s', '%s', '%s', 'ON CONFLICT (store, pos_txn) DO NOTHING' if onc else ''),
			(s.store, s.pos_txn, card, at, total, json.dumps(lines, default=float), s.return_of), 'fuzz_pos')
		self.note('%s %s/%s sent again (%s%s) at %s' % ('return' if s.return_of else 'sale', s.store, s.pos_txn,
														 'altered' if altered else 'identical',
														 ', ON CONFLICT DO NOTHING' if onc else '', at), s.member)
		if altered:
			self.expect_state(st, {'LY035'}, 'altered resend of %s/%s' % (s.store, s.pos_txn), s.member)
		elif onc:
			self.expect_state(st, {None}, 'identical resend of %s/%s with ON CONFLICT' % (s.store, s.pos_txn), s.member)
			if rows:
				self.fail('identical resend with ON CONFLICT DO NOTHING returned a row %s' % (rows,), s.member)
		else:
			self.expect_state(st, {'23505'}, 'identical resend of %s/%s' % (s.store, s.pos_txn), s.member)
		return [s.member]

	def op_expire(self):
		m = self.m
		as_of = self.clock()
		future = self.rng.random() < 0.05
		if future:
			as_of = self.r0 + DAY
		rows, st = self.run_sql("SELECT entries, points FROM loyalty.expire_points(%s)", (as_of,))
		self.note('expire_points(%s)' % as_of)
		self.expect_state(st, {'LY016'} if future else {None}, 'expire_points')
		if st:
			return []
		n = pts = 0
		touched = []
		for mem in m.members:
			if mem.status == 'closed':
				continue
			for lot in sorted(mem.lots, key=lambda l: l.entry.seq):
				if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= as_of:
					e = Entry('expire', -lot.remaining, lot.expires_at, 'expiry')
					e.lots = [(lot, lot.remaining)]
					m.post(mem, e)
					lot.expired += lot.remaining
					n += 1
					pts += lot.remaining
					lot.remaining = 0
					if mem not in touched:
						touched.append(mem)
		for mem in touched:
			mem.ops.append(len(self.log) - 1)
		if (rows[0][0], rows[0][1]) != (n, pts):
			self.fail('expire_points(%s) posted %s entries of %s points, the model %s of %s' % (as_of, rows[0][0], rows[0][1], n, pts))
		return list(m.members)

	def op_replace(self):
		rng = self.rng
		m = self.m
		mem = self.pick_member()
		x = rng.random()
		errs = set()
		if x < 0.1 and mem.old_cards:
			old, new = mem.old_cards[-1], mem.card
			what = 'again'		# a retry: harmless
			errs.add(None)
			if mem.status == 'closed':
				errs.add('LY004')
		elif x < 0.2:
			other = self.pick_member()
			old, new = mem.card, other.card
			what = 'to a card in use'
			errs = {'LY006'} if mem.status != 'closed' else {'LY006', 'LY004'}
		else:
			old, new = mem.card, self.new_card()
			what = 'new'
			if mem.status == 'closed':
				errs.add('LY004')
		rows, st = self.run_sql("SELECT loyalty.replace_card(%s, %s)", (old, new))
		self.note('replace_card %s -> %s (%s)' % (old, new, what), mem)
		self.expect_state(st, errs or {None}, 'replace_card %s' % what, mem)
		if st is None and what == 'new':
			mem.old_cards.append(old)
			mem.card = new
			m.cards[new] = mem
			if rows[0][0] != mem.db_id:
				self.fail('replace_card returned %s' % rows[0][0], mem)
		return [mem]

	def op_status(self):
		rng = self.rng
		mem = self.pick_member()
		x = rng.random()
		new = 'active' if x < 0.6 else 'suspended' if x < 0.9 else 'closed' if x < 0.97 else 'frozen'
		errs = set()
		if new == 'frozen':
			errs.add('LY007')
		elif mem.status == 'closed':
			errs.update({'LY007'} if new != 'closed' else {'LY007', None})
		rows, st = self.run_sql("SELECT loyalty.set_member_status(%s, %s, %s)", (mem.card, new, 'fuzz'))
		self.note('set_member_status %s %s (was %s)' % (mem.card, new, mem.status), mem)
		self.expect_state(st, errs or {None}, 'set_member_status %s -> %s' % (mem.status, new), mem)
		if st is None:
			mem.status = new
		return [mem]

	# -- comparing -------------------------------------------------------------
	def compare(self, mem):
		m = self.m
		c = self.cur
		lots = mem.lots
		# one round trip: the lots, the balance and the statement, as JSON
		c.execute("SELECT (SELECT json_agg(json_build_array(lot_id, points, remaining, available_from, expires_at) ORDER BY lot_id) "
				  "          FROM loyalty.lot WHERE member_id = %s), "
				  "       (SELECT json_build_array(available, pending, lifetime_earned, lifetime_redeemed, expired, reversed, "
				  "                                adjusted, debt, held) FROM loyalty.balance(%s)), "
				  "       (SELECT json_agg(json_build_array(kind, points, balance_after, effective_at, pending_until, expires_at, "
				  "                                         store, pos_txn, reason, idem_key) ORDER BY n) "
				  "          FROM loyalty.statement(%s, '-infinity', 'infinity') WITH ORDINALITY s(entry_id, kind, points, "
				  "               balance_after, effective_at, posted_at, pending_until, expires_at, source, store, pos_txn, "
				  "               reason, actor, idem_key, n))",
				  (mem.db_id, mem.card, mem.card))
		lots_j, bal_j, stmt_j = c.fetchone()
		self.compare_holds(mem)
		ts = lambda v: None if v is None else dt.datetime.fromisoformat(v)
		have = [[r[0], r[1], r[2], ts(r[3]), ts(r[4])] for r in (lots_j or [])]
		want = sorted((l.entry.db_id, l.points, l.remaining, l.available_from, l.expires_at, l.entry.now_dated) for l in lots)
		for h, w in zip(have, want):
			if w[5]:
				h[3], h[4] = self.approx(h[3], w[3]), self.approx(h[4], w[4])
		have = [tuple(h) for h in have]
		want = [w[:5] for w in want]
		if have != want:
			self.fail('lots differ:\n  extension %s\n  model     %s' % (have, want), mem)
		have = bal_j
		rem = m.preview(mem)		# a lapsed hold counts as released
		want = (m.available(mem),
				sum(rem[id(l)] for l in lots if m.pending(l) and not m.lapsed(l)),
				sum(e.points for e in mem.entries if e.kind == 'earn'),
				-sum(e.points for e in mem.entries if e.kind == 'redeem'),
				-sum(e.points for e in mem.entries if e.kind == 'expire') + sum(rem[id(l)] for l in lots if m.lapsed(l)),
				-sum(e.points for e in mem.entries if e.kind == 'reverse'),
				sum(e.points for e in mem.entries if e.kind == 'adjust'),
				mem.debt, m.held(mem, lapsed=False))
		if tuple(have) != want:
			names = 'available pending lifetime_earned lifetime_redeemed expired reversed adjusted debt held'.split()
			self.fail('balance differs: %s' % ', '.join('%s %s (model %s)' % (n, h, w) for n, h, w in zip(names, have, want) if h != w), mem)
		have = [(r[0], r[1], r[2], ts(r[3]), ts(r[4]), ts(r[5]), r[6], r[7], r[8], r[9]) for r in (stmt_j or [])]
		far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
		ents = sorted(mem.entries, key=lambda e: (1, far, e.anchor, e.seq) if e.anchor is not None else (0, e.eff, 0, e.seq))
		bal = 0
		want = []
		for e in ents:
			bal += e.points
			want.append((e.kind, e.points, bal, None if e.now_dated else e.eff, e.pending_until, e.expires_at, e.store,
						 e.pos_txn, e.reason, e.idem_key))
		nowd = [e.now_dated for e in ents]
		if len(have) != len(want):
			self.fail('statement has %d rows, the model %d:\n  %s' % (len(have), len(want), self.diff_rows(have, want)), mem)
		for h, w, nd in zip(have, want, nowd):
			h2 = list(h)
			if w[3] is None:		# dated now by the server
				if h2[3] < self.r0:
					self.fail('statement row %s dated %s, before the run started' % (h, self.r0), mem)
				h2[3] = None
			if nd:
				h2[4], h2[5] = self.approx(h2[4], w[4]), self.approx(h2[5], w[5])
			if tuple(h2) != w:
				self.fail('statement differs:\n  %s' % self.diff_rows(have, want), mem)

	def compare_holds(self, mem):
		"""The member's holds, member_balance's held, open_holds and debt, its hold_expired
		events and its ledger's points and shortfalls, against the model."""
		m = self.m
		c = self.cur
		c.execute("SELECT (SELECT json_agg(json_build_array(hold_id, status, points, captured, taken, lot_ids, lot_points, "
				  "                                         redemption_id) ORDER BY authorized_at, hold_id) FROM loyalty.hold WHERE member_id = %s), "
				  "       (SELECT json_build_array(held, open_holds, debt) FROM loyalty.member_balance WHERE member_id = %s), "
				  "       (SELECT count(*) FROM loyalty.outbox WHERE member_id = %s AND kind = 'hold_expired'), "
				  "       (SELECT json_agg(json_build_array(kind, points, shortfall, lot_ids, lot_points) ORDER BY entry_id) "
				  "          FROM loyalty.ledger WHERE member_id = %s)",
				  (mem.db_id, mem.db_id, mem.db_id, mem.db_id))
		holds_j, mb_j, events, ledger_j = c.fetchone()
		have = [tuple(r) for r in (holds_j or [])]
		want = [(h.db_id, h.status, h.points, h.captured, h.taken, [l.entry.db_id for l, _ in h.portions],
				 [p for _, p in h.portions], h.entry.db_id if h.entry else None) for h in mem.holds]
		if have != want:
			self.fail('holds differ (hold_id, status, points, captured, taken, lot_ids, lot_points, redemption_id):\n  %s'
					  % self.diff_rows(have, want), mem)
		open_holds = sum(1 for h in mem.holds if h.status == 'open')
		if tuple(mb_j) != (m.held(mem), open_holds, mem.debt):
			self.fail('member_balance held, open_holds, debt %s, the model %s'
					  % (tuple(mb_j), (m.held(mem), open_holds, mem.debt)), mem)
		if events != mem.expired_events:
			self.fail('%s hold_expired events, the model %s' % (events, mem.expired_events), mem)
		have = [tuple(r) for r in (ledger_j or [])]
		want = [(e.kind, e.points, e.shortfall) + ((None, None) if e.lots is None else
												   ([l.entry.db_id for l, _ in e.lots], [p for _, p in e.lots]))
				for e in sorted(mem.entries, key=lambda e: e.seq)]
		if have != want:
			self.fail('ledger (kind, points, shortfall, lot_ids, lot_points) differs:\n  %s' % self.diff_rows(have, want), mem)

	def approx(self, have, want):
		"""A time the server derived from its now: want (derived from R0) when within 3 hours after it."""
		if have is not None and want is not None and want <= have <= want + 3 * HOUR:
			return want
		return have

	def diff_rows(self, have, want):
		out = []
		for i in range(max(len(have), len(want))):
			h = have[i] if i < len(have) else None
			w = want[i] if i < len(want) else None
			out.append('%s %s\n     model     %s' % ('  ' if h == w else '!!', h, w))
		return '\n  '.join(out)

	# -- the run -----------------------------------------------------------------
	OPS = [('sale', 24), ('return', 14), ('earn', 10), ('redeem', 10), ('adjust', 7), ('reverse', 6),
		   ('retry_sale', 8), ('expire', 3), ('replace', 3), ('status', 4), ('enroll', 3),
		   ('authorize', 9), ('capture', 6), ('void', 4), ('lapse', 3), ('sweep', 1)]

	def run(self):
		self.setup()
		names = [o for o, w in self.OPS for _ in range(w)]
		for self.step in range(1, self.steps + 1):
			op = self.rng.choice(names)
			touched = getattr(self, 'op_' + op)()
			for mem in touched or []:
				self.compare(mem)
			if self.step % 200 == 0:
				for mem in self.m.members:
					self.compare(mem)
		for mem in self.m.members:
			self.compare(mem)
		self.cur.execute("SELECT member_id, invariant, detail FROM loyalty.check_invariants()")
		bad = self.cur.fetchall()
		if bad:
			self.fail('check_invariants(): %s' % bad)

	def report(self, err):
		print('# MISMATCH: seed %d, step %d: %s' % (self.seed, self.step, err))
		mem = None
		for x in self.m.members:
			if '(member %s,' % x.db_id in str(err):
				mem = x
		if mem is not None:
			print('# the operations of that member (the sequence shrunk to it):')
			for i in mem.ops:
				print('#   step %d: %s' % self.log[i])
			try:
				self.cur.execute("SELECT entry_id, kind, points, shortfall, effective_at, source, store, pos_txn, idem_key, reverses, "
								 "lot_ids, lot_points FROM loyalty.ledger WHERE member_id = %s ORDER BY entry_id", (mem.db_id,))
				print('# its ledger in the extension:')
				for r in self.cur.fetchall():
					print('#   %s' % (r,))
				self.cur.execute("SELECT sale_id, store, pos_txn, return_of, points_earned, entry_id, award FROM loyalty.sale "
								 "WHERE member_id = %s ORDER BY sale_id", (mem.db_id,))
				print('# its sales in the extension:')
				for r in self.cur.fetchall():
					print('#   %s' % (r,))
			except psycopg2.Error:
				pass
		print('# the last operations of the run:')
		for s, t in self.log[-12:]:
			print('#   step %d: %s' % (s, t))
		print('# rerun: tools/fuzz --seed %d --steps %d --verbose (it stops at step %d)' % (self.seed, self.steps, self.step))


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument('dsn')
	ap.add_argument('--seed', type=int, default=1)
	ap.add_argument('--steps', type=int, default=1000)
	ap.add_argument('--verbose', action='store_true')
	a = ap.parse_args()
	f = Fuzzer(a.dsn, a.seed, a.steps, a.verbose)
	try:
		f.run()
	except Mismatch as err:
		f.report(err)
		return 1
	counts = ', '.join('%s %d' % kv for kv in sorted(f.stats.items()))
	cases = ', '.join('%s %d' % kv for kv in sorted(f.m.cases.items()))
	print('# seed %d: %d steps agree (answers: %s; holds: %s)' % (a.seed, a.steps, counts, cases))
	return 0


if __name__ == '__main__':
	sys.exit(main())
