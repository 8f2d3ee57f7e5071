#!/usr/bin/env python3
"""Model-based randomized test of tiers (0.6.0): the database against a
reference model written here, independently of src/tier.c and
src/sql/tier.sql, in Python with its own calendar (zoneinfo, not
PostgreSQL's time zone code).  Run by tier_model.sh, which gives it a fresh
database; prints TAP.  Fixed seeds; TIER_MODEL_SEED=n runs other seeds,
TIER_MODEL_STEPS=n other lengths (160 steps of history per scenario by
default), TIER_MODEL_ONLY=3,5 only those scenarios.

What it does, per scenario (one program: a window kind and downgrade policy,
a time zone, grace days, a random 4-rung ladder; five members, one enrolled
on 29 February 2024):

  phase A, history (2023 .. a few days ago, a clock T that only moves on):
    sales of random amounts (0.00 included, one or two lines) on day T or
    back-dated up to 40 days (also before reviews already made), at random
    times and at the edges of the local day; returns of earlier sales,
    partial (one line, or part of a line's quantity) or full; reviews at
    the end of day T, each run twice (the second must change nothing); T
    moves forward by random days.
  phase B, overrides (now: set_tier has no other clock): set_tier to random
    tiers, for good or for one second; sales now; reviews now, before and
    after the overrides end; a last review run twice.

After every step the whole state is compared with the model: tier_of of
every member; member_tier's tier, since, held_until, override, window_start,
last_day and its running figures; every tier_day row; every tier_change row
(from, to, cause, sale, changed_at) and that the history is a chain (each
change starts where the one before ended, changed_at never goes back, the
last ends at tier_of); every tier_up/tier_down outbox row; tier_at at every
change, just before it, at random past moments and now; tier_progress's
figures; and each sale's tier and points, each return's points, each
review's counts.  The session runs with a hostile TimeZone, DateStyle and
IntervalStyle.

Rules the model encodes (issue 8 and what the code documents):

  days      a sale counts on its local date in the program's time zone; a
            return counts on the day of the sale it returns.
  figures   over a set of days: spend = sales' totals less the returns'
            totals; visits = days whose net spend is above zero (a 0.00 sale
            alone is no visit); points = points earned by the sales less what
            their returns unearn (no expiry here).
  windows   for a day D: lifetime = all days up to D; rolling = D - days
            .. D (days + 1 days: a sale days + 1 days old no longer counts);
            calendar_year = 1 January .. D; anniversary_year = the latest
            anniversary of the enrolment day not after D .. D (29 February:
            the 28th in other years).
  qualify   a member qualifies for the highest tier any one of whose
            thresholds its figures meet (rank 0 always).
  sale      earns at the tier held before it: floor(total) + floor(total x
            (earn_multiplier - 1)) at one point per unit.  Then its figures
            count, and the figures of the window of L (the latest sale day
            so far, this one included) decide: a higher tier is reached at
            once (cause qualified, tier_up), dated at the sale's time,
            held until hold(day of the sale); the same tier again (rank > 0)
            extends the hold to at least hold(day).  hold(d): lifetime d;
            rolling d + days + 1; years: the end of the period after d's.
  return    lowers its sale's day by its amount and by what the sale no
            longer earns: kept(before) - kept(after), kept = the sale's
            award for what is left of it, each part (base, tier) in
            proportion to the amount left, rounded down; the ledger takes
            back the award less kept less what earlier returns took; it never
            changes the tier (the return's row shows the tier held).
  review    as of A (today = A's local date), every member with a
            member_tier row: cur = figures of today's window (the days up to
            today); for calendar and anniversary years also prev = figures
            of the period before; entitled = the higher tier they qualify
            for.  An override has ended when its until <= A: the member goes
            to the tier it holds without the override (own = the tier of its
            latest change other than an override; base if none): the better
            of entitled and own while the hold (plus grace) runs or under
            never, one rung below own at best under one_step, else entitled
            (cause override_ended, dated at until, override cleared).  Else up to entitled when higher (held as a sale's
            upgrade on today); else, from held_until + grace days on and
            unless the policy is never, down to entitled (to_qualified) or
            one rung (one_step), not below a running override; a change
            other than up holds: lifetime today + 1, rolling today + days +
            1, years the end of today's period.  changed_at = A (or until).
  late sale a sale dated in an earlier calendar or anniversary year than
            the member's latest sale: that year's figures may earn a tier
            whose hold (the end of the year after) has not passed: the
            member moves up to it in the sale's statement.
  override  set_tier puts the member in the tier now (cause override, even
            when it is the tier held: from = to), records the floor until
            `until`; a first member_tier row starts with no figures, on
            today.
  history   a change is never dated before the member's latest change (a
            back-dated sale, a review of an override's end after a later
            upgrade): the history is a chain in order of time.

Where the model holds a rule the code broke, sql/tier_findings.sql shows it
(the history order, the hold of an upgrade under an override without end,
figures after a window change, returns after expiry or of pre-tier sales).
Rules the model takes from the code although issue 8 leaves them open are
in the README's Tiers section (an override's end, the hold after a
downgrade, a late sale of the previous year).
"""
import json
import os
import random
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, ROUND_FLOOR
from fractions import Fraction
from zoneinfo import ZoneInfo

UTC = timezone.utc
STEPS = int(os.environ.get('TIER_MODEL_STEPS', '160'))
SEED_BASE = int(os.environ.get('TIER_MODEL_SEED', '0'))
DB = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('PGDATABASE', 'postgres')

SCENARIOS = [
    # name, window, window_days, policy, grace, time zone, seed
    ('rolling 30, to_qualified, UTC', 'rolling', 30, 'to_qualified', 0, 'UTC', 11),
    ('rolling 365, one_step, grace 7, New York', 'rolling', 365, 'one_step', 7, 'America/New_York', 12),
    ('rolling 90, never, Lord Howe (30-minute DST)', 'rolling', 90, 'never', 0, 'Australia/Lord_Howe', 13),
    ('calendar_year, to_qualified, Kiritimati (+14)', 'calendar_year', 365, 'to_qualified', 0, 'Pacific/Kiritimati', 14),
    ('calendar_year, one_step, grace 30, Berlin', 'calendar_year', 365, 'one_step', 30, 'Europe/Berlin', 15),
    ('anniversary_year, to_qualified, Sao Paulo', 'anniversary_year', 365, 'to_qualified', 0, 'America/Sao_Paulo', 16),
    ('anniversary_year, one_step, Pago Pago (-11)', 'anniversary_year', 365, 'one_step', 3, 'Pacific/Pago_Pago', 17),
    ('lifetime, to_qualified, Kathmandu (+5:45)', 'lifetime', 365, 'to_qualified', 0, 'Asia/Kathmandu', 18),
    ('lifetime, one_step, New York', 'lifetime', 365, 'one_step', 0, 'America/New_York', 19),
]

# ---------------------------------------------------------------------------
# psql, one session per run
# ---------------------------------------------------------------------------


class SqlError(Exception):
    pass


class Psql:
    END = '@@tier-model-end@@'

    def __init__(self, db):
        self.p = subprocess.Popen(
            ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=terse', '-d', db],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)

    def run(self, sql):
        """Lines of output; SqlError with the message when it failed."""
        self.p.stdin.write(sql.strip().rstrip(';') + ';\n\\echo ' + self.END + '\n')
        self.p.stdin.flush()
        out = []
        while True:
            line = self.p.stdout.readline()
            if line == '':
                raise SqlError('psql ended')
            line = line.rstrip('\n')
            if line == self.END:
                break
            out.append(line)
        errors = [l for l in out if 'ERROR:' in l]
        if errors:
            raise SqlError(errors[0])
        return out

    def json(self, sql):
        out = self.run(sql)
        return json.loads(out[-1], parse_float=Decimal)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def lit(v):
    """A SQL literal."""
    if v is None:
        return 'NULL'
    if isinstance(v, datetime):
        return "'%s'::timestamptz" % v.astimezone(UTC).isoformat()
    if isinstance(v, (int, Decimal)):
        return str(v)
    return "'%s'" % str(v).replace("'", "''")


def ts(s):
    """A timestamptz of JSON (ISO 8601 with an offset) as an aware datetime."""
    return datetime.fromisoformat(s).astimezone(UTC)


def floor(x):
    if isinstance(x, Fraction):
        return x.numerator // x.denominator
    return int(Decimal(x).to_integral_value(rounding=ROUND_FLOOR))


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------

NOBEGIN = date.min
NOEND = date.max


def add_years(d, n):
    y = d.year + n
    try:
        return d.replace(year=y)
    except ValueError:          # 29 February in a year without it
        return date(y, 2, 28)


class Tier:
    def __init__(self, idx, code, rank, spend, visits, points, mult):
        self.idx, self.code, self.rank = idx, code, rank
        self.spend, self.visits, self.points, self.mult = spend, visits, points, mult


class Member:
    def __init__(self, serial, enrolled_at, anchor):
        self.serial = serial
        self.member_id = None
        self.enrolled_at = enrolled_at
        self.anchor = anchor
        self.has_row = False
        self.tier = 0
        self.since = None
        self.held_until = None
        self.override = None        # (tier index, until or None)
        self.last_day = None
        self.days = {}              # day -> [spend, points]
        self.changes = []           # (from, to, changed_at, cause, sale_id)


class Model:
    def __init__(self, window, wdays, policy, grace, tz, ladder):
        self.window, self.wdays, self.policy, self.grace = window, wdays, policy, grace
        self.tz = ZoneInfo(tz)
        self.ladder = ladder

    def day(self, at):
        return at.astimezone(self.tz).date()

    def period(self, m, d):
        """[start, end) of the window holding day d."""
        if self.window == 'lifetime':
            return NOBEGIN, NOEND
        if self.window == 'rolling':
            return d - timedelta(days=self.wdays), d + timedelta(days=1)
        if self.window == 'calendar_year':
            return date(d.year, 1, 1), date(d.year + 1, 1, 1)
        k = d.year - m.anchor.year
        if add_years(m.anchor, k) > d:
            k -= 1
        return add_years(m.anchor, k), add_years(m.anchor, k + 1)

    def hold(self, m, d):
        if self.window == 'lifetime':
            return d
        if self.window == 'rolling':
            return d + timedelta(days=self.wdays + 1)
        _, end = self.period(m, d)
        return self.period(m, end)[1]

    def figures(self, m, start, last):
        spend, visits, points = Decimal(0), 0, 0
        for d, (s, p) in m.days.items():
            if start <= d <= last:
                spend += s
                points += p
                visits += s > 0
        return spend, visits, points

    def qualify(self, fig):
        spend, visits, points = fig
        for t in reversed(self.ladder[1:]):
            if ((t.spend is not None and spend >= t.spend) or (t.visits is not None and visits >= t.visits)
                    or (t.points is not None and points >= t.points)):
                return t.idx
        return 0

    def change(self, m, to, at, cause, sale_id=None):
        # never dated before the member's latest change: the history is in
        # order of time (a back-dated sale, a review of an earlier moment)
        if m.changes:
            at = max(at, m.changes[-1][2])
        m.changes.append((m.tier, to, at, cause, sale_id))
        if to != m.tier:
            m.since = at
        m.tier = to

    def sale(self, m, at, total, sale_id):
        """The sale's points; updates the member."""
        t = self.ladder[m.tier]
        points = floor(total) + (floor(total * (t.mult - 1)) if t.mult != 1 else 0)
        d = self.day(at)
        day = m.days.setdefault(d, [Decimal(0), 0])
        day[0] += total
        day[1] += points
        if not m.has_row:
            m.has_row, m.held_until, m.since, m.last_day = True, d, at, d
        m.last_day = max(m.last_day, d)
        start = self.period(m, m.last_day)[0]
        q = self.qualify(self.figures(m, start, m.last_day))
        if d < start and self.hold(m, d) > m.last_day:
            # a late sale of an earlier year whose tier is still held
            s, e = self.period(m, d)
            q = max(q, self.qualify(self.figures(m, s, e - timedelta(days=1))))
        if q > m.tier:
            self.change(m, q, at, 'qualified', sale_id)
            m.held_until = self.hold(m, d)
        elif q == m.tier and q > 0:
            m.held_until = max(m.held_until, self.hold(m, d))
        return points

    def review(self, members, as_of):
        """The review's changes; updates the members.  Returns the counts."""
        today = self.day(as_of)
        up = down = ended_n = ended_up = ended_down = 0
        for m in members:
            if not m.has_row:
                continue
            start, end = self.period(m, today)
            if self.window == 'rolling':
                start = today - timedelta(days=self.wdays)
            entitled = self.qualify(self.figures(m, start, today))
            if self.window in ('calendar_year', 'anniversary_year'):
                pstart = self.period(m, start - timedelta(days=1))[0]
                entitled = max(entitled, self.qualify(self.figures(m, pstart, start - timedelta(days=1))))
            cur = m.tier
            ended = m.override is not None and m.override[1] is not None and m.override[1] <= as_of
            overridden = m.override is not None and not ended
            if ended:
                # the tier the member holds without the override: by its
                # figures' latest change, the hold and the policy
                own = next((c[1] for c in reversed(m.changes) if c[3] != 'override'), 0)
                if self.policy == 'never' or today < m.held_until + timedelta(days=self.grace):
                    new = max(entitled, own)
                elif self.policy == 'one_step':
                    new = max(entitled, own - 1, 0)
                else:
                    new = entitled
            elif entitled > cur:
                new = entitled
            elif (today >= m.held_until + timedelta(days=self.grace) and entitled < cur
                  and self.policy != 'never'):
                new = max(m.override[0] if overridden else 0,
                          cur - 1 if self.policy == 'one_step' else entitled)
            else:
                new = cur
            if new == cur and not ended:
                continue
            if new > cur and not ended:
                held = (today if self.window == 'lifetime'
                        else today + timedelta(days=self.wdays + 1) if self.window == 'rolling'
                        else self.period(m, end)[1])
            else:
                held = (today + timedelta(days=1) if self.window == 'lifetime'
                        else today + timedelta(days=self.wdays + 1) if self.window == 'rolling'
                        else end)
            at = m.override[1] if ended else as_of
            self.change(m, new, at, 'override_ended' if ended else 'review')
            m.held_until = held
            if ended:
                m.override = None
                ended_n += 1
                ended_up += new > cur
                ended_down += new < cur
            else:
                up += new > cur
                down += new < cur
        return up, down, ended_n, ended_up, ended_down

    def tier_at(self, m, at):
        code = None
        if m.enrolled_at <= at:
            code = self.ladder[0].code
        for (_, to, when, _, _) in m.changes:
            if when <= at:
                code = self.ladder[to].code
        return code


# ---------------------------------------------------------------------------
# one scenario
# ---------------------------------------------------------------------------

def money(rng, lo, hi):
    return Decimal(rng.randint(int(lo * 100), int(hi * 100))) / 100


class Scenario:
    def __init__(self, db, spec):
        self.name, window, wdays, policy, grace, tzname, seed = spec
        self.db = db
        self.rng = random.Random(seed + 1000 * SEED_BASE)
        self.tzname = tzname
        self.failures = []
        self.errors = []
        self.steps = 0
        self.checks = 0
        rng = self.rng
        # a ladder: thresholds rise with the rank, some left out
        rows = [('base', 0, None, None, None, Decimal(1))]
        spend, visits, points = Decimal(rng.choice([150, 250, 400])), rng.choice([3, 4, 5]), rng.choice([200, 300, 500])
        rank = 0
        for code in ('silver', 'gold', 'platinum'):
            keep = [k for k in range(3) if rng.random() < 0.6] or [rng.randrange(3)]
            rank += rng.choice([1, 2, 5])
            rows.append((code, rank,
                         spend if 0 in keep else None, visits if 1 in keep else None,
                         points if 2 in keep else None,
                         rng.choice([Decimal(1), Decimal('1.5'), Decimal(2), Decimal('1.25')])))
            spend, visits, points = spend * rng.choice([2, 3]), visits * 2, points * rng.choice([2, 3])
        rows.sort(key=lambda r: r[1])
        ladder = [Tier(i, *r) for i, r in enumerate(rows)]
        self.model = Model(window, wdays, policy, grace, tzname, ladder)
        self.members = []
        self.sales = {}             # sale_id -> dict

    # -- helpers ----------------------------------------------------------

    def fail(self, what):
        self.failures.append('step %d: %s' % (self.steps, what))

    def expect(self, have, want, what):
        if have != want:
            self.fail('%s: have %r, want %r' % (what, have, want))

    def sql(self, sql):
        try:
            return self.db.run(sql)
        except SqlError as e:
            self.errors.append('step %d: %s -- %s' % (self.steps, e, ' '.join(sql.split())[:300]))
            return None

    def local(self, d, hour, minute, second=0):
        """The moment of a local wall time on day d (a DST gap moves it on)."""
        tz = self.model.tz
        naive = datetime(d.year, d.month, d.day, hour, minute, second)
        at = naive.replace(tzinfo=tz).astimezone(UTC)
        return at

    # -- setup ------------------------------------------------------------

    def setup(self):
        m, rng = self.model, self.rng
        self.sql('DROP EXTENSION IF EXISTS loyalty CASCADE')
        self.sql('CREATE EXTENSION loyalty')
        self.sql("INSERT INTO loyalty.program (code, time_zone, tier_window, tier_window_days, tier_downgrade, tier_grace_days) "
                 "VALUES ('model', %s, %s, %d, %s, %d)" % (lit(self.tzname), lit(m.window), m.wdays, lit(m.policy), m.grace))
        values = ', '.join('(%s, %d, %s::numeric, %s::integer, %s::bigint, %s::numeric)' % (lit(t.code), t.rank, lit(t.spend), lit(t.visits), lit(t.points), lit(t.mult))
                           for t in m.ladder)
        self.sql('INSERT INTO loyalty.tier (program_id, code, rank, min_spend, min_visits, min_points, earn_multiplier) '
                 'SELECT p.program_id, v.* FROM loyalty.program p, (VALUES %s) AS v(code, rank, s, vi, po, mu) '
                 "WHERE p.code = 'model'" % values)
        # five members: enrolled in 2022, one on 29 February 2024 at noon (local)
        days = [date(2022, 1, 1) + timedelta(days=rng.randrange(360)) for _ in range(4)] + [date(2024, 2, 29)]
        for serial, d in enumerate(days, 1):
            at = self.local(d, 12, 0)
            mem = Member(serial, at, m.day(at))
            out = self.sql("SELECT loyalty.enroll(loyalty.card_issue('40', %d), 'model', enrolled_at => %s)" % (serial, lit(at)))
            mem.member_id = int(out[0]) if out else None
            self.members.append(mem)

    # -- operations -------------------------------------------------------

    def do_sale(self, mem, at):
        rng = self.rng
        kind = rng.random()
        if kind < 0.1:
            lines = [('Z', 1, Decimal('0.00'))]
        elif kind < 0.6:
            lines = [('A', rng.randint(1, 3), money(rng, 1, 90))]
        else:
            lines = [('A', rng.randint(1, 3), money(rng, 1, 120)), ('B', 2, money(rng, 50, 400))]
        total = sum(a for _, _, a in lines)
        txn = 'T%d' % (len(self.sales) + 1)
        js = ', '.join("jsonb_build_object('sku', %s, 'qty', %d, 'amount', %s)" % (lit(s), q, a) for s, q, a in lines)
        at_sql = lit(at) if at is not None else 'now()'
        out = self.sql("WITH r AS (INSERT INTO loyalty.sale (store, pos_txn, card, occurred_at, total, lines) "
                       "VALUES ('S1', %s, loyalty.card_issue('40', %d), %s, %s, jsonb_build_array(%s)) "
                       "RETURNING sale_id, occurred_at, points_earned, tier) SELECT row_to_json(r)::text FROM r" % (lit(txn), mem.serial, at_sql, total, js))
        if out is None:
            return
        r = json.loads(out[-1], parse_float=Decimal)
        at = ts(r['occurred_at'])
        mult = self.model.ladder[mem.tier].mult
        points = self.model.sale(mem, at, total, r['sale_id'])
        parts = [floor(total)] + ([floor(total * (mult - 1))] if mult != 1 else [])
        self.expect(r['points_earned'], points, 'sale %d points (earned at the tier held before it)' % r['sale_id'])
        self.expect(r['tier'], self.model.ladder[mem.tier].code, 'sale %d tier' % r['sale_id'])
        self.sales[r['sale_id']] = dict(member=mem, at=at, day=self.model.day(at), lines={s: [q, a] for s, q, a in lines},
                                        total=total, parts=parts, points=points, kept=points, already=0)

    def do_return(self, sale_id, at):
        s, rng = self.sales[sale_id], self.rng
        left = [(sku, q, a) for sku, (q, a) in s['lines'].items() if a > 0]
        if not left:
            return
        if rng.random() < 0.4:
            back = left                                        # all that is left
        else:
            sku, q, a = rng.choice(left)
            if q > 1 and rng.random() < 0.5:                   # part of a line
                back = [(sku, 1, (a / q).quantize(Decimal('0.01'), rounding=ROUND_FLOOR))]
            else:
                back = [(sku, q, a)]
        amount = sum(a for _, _, a in back)
        js = ', '.join("jsonb_build_object('sku', %s, 'qty', %d, 'amount', %s)" % (lit(k), q, a) for k, q, a in back)
        txn = 'R%d-%d' % (sale_id, rng.randrange(10 ** 9))
        out = self.sql("WITH r AS (INSERT INTO loyalty.sale (store, pos_txn, occurred_at, total, lines, return_of) "
                       "VALUES ('S1', %s, %s, %s, jsonb_build_array(%s), %d) RETURNING sale_id, points_earned, tier) "
                       "SELECT row_to_json(r)::text FROM r"
                       % (lit(txn), lit(at), amount, js, sale_id))
        if out is None:
            return
        r = json.loads(out[-1], parse_float=Decimal)
        for k, q, a in back:
            s['lines'][k][0] -= q
            s['lines'][k][1] -= a
        rem = sum(a for _, a in s['lines'].values())
        kept = 0 if s['total'] == 0 else sum(floor(Fraction(p) * Fraction(rem) / Fraction(s['total'])) for p in s['parts'])
        due = max(s['points'] - kept - s['already'], 0)
        unearned = max(s['kept'] - kept, 0)
        s['kept'], s['already'] = kept, s['already'] + due
        mem = s['member']
        mem.days[s['day']][0] -= amount
        mem.days[s['day']][1] -= unearned
        self.expect(r['points_earned'], -due, 'return %d of sale %d points' % (r['sale_id'], sale_id))
        self.expect(r['tier'], self.model.ladder[mem.tier].code, 'return %d tier (a return moves no one down)' % r['sale_id'])

    def do_review(self, as_of, twice=True):
        at_sql = lit(as_of) if as_of is not None else 'now()'
        out = self.sql('SELECT row_to_json(r)::text FROM (SELECT now() AS now, * FROM loyalty.review_tiers(%s)) r' % at_sql)
        if out is None:
            return
        r = json.loads(out[-1], parse_float=Decimal)
        as_of = as_of or ts(r['now'])
        up, down, ended, ended_up, ended_down = self.model.review(self.members, as_of)
        want = (sum(m.has_row for m in self.members), ended)
        self.expect((r['members_checked'], r['overrides_expired']), want, 'review %s members_checked, overrides_expired' % as_of)
        # whether an override's end that moves a member counts as an up- or
        # downgrade is not specified: either reading is accepted
        have = (r['upgraded'], r['downgraded'])
        if have not in ((up, down), (up + ended_up, down + ended_down)):
            self.fail('review %s upgraded, downgraded: have %r, want %r' % (as_of, have, (up, down)))
        if twice:
            out = self.sql('SELECT row_to_json(r)::text FROM loyalty.review_tiers(%s) r' % lit(as_of))
            if out is not None:
                r = json.loads(out[-1], parse_float=Decimal)
                self.expect((r['upgraded'], r['downgraded'], r['overrides_expired']), (0, 0, 0),
                            'review %s again (idempotent)' % as_of)
        return as_of

    def do_override(self, mem, idx, seconds):
        until = 'NULL' if seconds is None else "now() + interval '%d seconds'" % seconds
        out = self.sql("SELECT row_to_json(r)::text FROM (SELECT now() AS now, %s AS until, loyalty.set_tier(loyalty.card_issue('40', %d), %s, 'model', %s) AS c) r"
                       % (until, mem.serial, lit(self.model.ladder[idx].code), until))
        if out is None:
            return
        r = json.loads(out[-1], parse_float=Decimal)
        now = ts(r['now'])
        m = self.model
        if not mem.has_row:
            mem.has_row, mem.held_until, mem.last_day, mem.since = True, m.day(now), m.day(now), now
        m.change(mem, idx, now, 'override')
        mem.override = (idx, ts(r['until']) if r['until'] else None)

    # -- the check --------------------------------------------------------

    def check(self):
        self.checks += 1
        m = self.model
        probes = []
        for mem in self.members:
            for (_, _, at, _, _) in mem.changes:
                probes += [(mem.serial, at), (mem.serial, at - timedelta(microseconds=1))]
            probes.append((mem.serial, mem.enrolled_at + timedelta(days=self.rng.randrange(1500))))
        values = ', '.join('(%d, %s)' % (s, lit(a)) for s, a in probes)
        st = self.db.json("""
SELECT jsonb_build_object(
 'now', now(),
 'of', (SELECT jsonb_object_agg(s, loyalty.tier_of(loyalty.card_issue('40', s))) FROM generate_series(1, 5) s),
 'at_now', (SELECT jsonb_object_agg(s, loyalty.tier_at(loyalty.card_issue('40', s), now())) FROM generate_series(1, 5) s),
 'progress', (SELECT jsonb_object_agg(s, (SELECT jsonb_build_object('spend', p.spend, 'visits', p.visits, 'points', p.points, 'start', p.window_start)
                FROM loyalty.tier_progress(loyalty.card_issue('40', s)) p)) FROM generate_series(1, 5) s),
 'mt', (SELECT jsonb_object_agg(mt.member_id, jsonb_build_object('tier', t.code, 'since', mt.since, 'held_until', mt.held_until,
          'override', o.code, 'override_until', mt.override_until, 'window_start', mt.window_start, 'last_day', mt.last_day,
          'spend', mt.spend, 'visits', mt.visits, 'points', mt.points))
        FROM loyalty.member_tier mt JOIN loyalty.tier t ON t.tier_id = mt.tier_id LEFT JOIN loyalty.tier o ON o.tier_id = mt.override_tier_id),
 'days', (SELECT jsonb_agg(jsonb_build_array(d.member_id, d.day, d.spend, d.points) ORDER BY d.member_id, d.day) FROM loyalty.tier_day d),
 'changes', (SELECT jsonb_agg(jsonb_build_array(c.member_id, f.code, t.code, c.changed_at, c.cause, c.sale_id) ORDER BY c.member_id, c.change_id)
        FROM loyalty.tier_change c JOIN loyalty.tier f ON f.tier_id = c.from_tier_id JOIN loyalty.tier t ON t.tier_id = c.to_tier_id),
 'events', (SELECT jsonb_agg(jsonb_build_array(o.member_id, o.kind, o.payload->>'from', o.payload->>'to', o.payload->>'cause') ORDER BY o.member_id, o.event_id)
        FROM loyalty.outbox o WHERE o.kind IN ('tier_up', 'tier_down')),
 'at', (SELECT jsonb_agg(loyalty.tier_at(loyalty.card_issue('40', v.s), v.a) ORDER BY v.i)
        FROM (SELECT row_number() OVER () AS i, * FROM (VALUES %s) AS x(s, a)) v)
)::text""" % values)
        now = ts(st['now'])
        days = {}
        for member_id, d, spend, points in st['days'] or []:
            days.setdefault(member_id, {})[date.fromisoformat(d)] = (Decimal(str(spend)), points)
        changes, events = {}, {}
        for row in st['changes'] or []:
            changes.setdefault(row[0], []).append((row[1], row[2], ts(row[3]), row[4], row[5]))
        for row in st['events'] or []:
            events.setdefault(row[0], []).append(tuple(row[1:]))
        for mem in self.members:
            who = 'member %d' % mem.serial
            code = m.ladder[mem.tier].code
            self.expect(st['of'][str(mem.serial)], code, who + ' tier_of')
            self.expect(st['at_now'][str(mem.serial)], code, who + ' tier_at(now()) = tier_of')
            # day figures: exactly the sales net of returns
            want_days = {d: (s, p) for d, (s, p) in mem.days.items()}
            self.expect(days.get(mem.member_id, {}), want_days, who + ' tier_day rows')
            # history and events
            want = [(m.ladder[f].code, m.ladder[t].code, at, cause, sid) for (f, t, at, cause, sid) in mem.changes]
            have = changes.get(mem.member_id, [])
            self.expect(have, want, who + ' tier_change rows')
            prev = m.ladder[0].code
            last_at = None
            for (f, t, at, cause, sid) in have:
                if f != prev or (last_at is not None and at < last_at):
                    self.fail('%s: the history is not a chain in time: %r' % (who, have))
                    break
                prev, last_at = t, at
            if prev != st['of'][str(mem.serial)]:
                self.fail('%s: the history ends at %s, tier_of is %s' % (who, prev, st['of'][str(mem.serial)]))
            want_ev = [('tier_up' if m.ladder[t].rank > m.ladder[f].rank else 'tier_down', m.ladder[f].code, m.ladder[t].code, cause)
                       for (f, t, _, cause, _) in mem.changes if f != t]
            self.expect(events.get(mem.member_id, []), want_ev, who + ' tier events')
            # member_tier
            mt = st['mt'] and st['mt'].get(str(mem.member_id))
            self.expect(mt is not None, mem.has_row, who + ' has a member_tier row')
            if mt and mem.has_row:
                start = m.period(mem, mem.last_day)[0]
                spend, visits, points = m.figures(mem, start, mem.last_day)
                have = (mt['tier'], ts(mt['since']), mt['held_until'], mt['override'],
                        ts(mt['override_until']) if mt['override_until'] else None,
                        mt['window_start'], mt['last_day'], Decimal(str(mt['spend'])), mt['visits'], mt['points'])
                want = (code, mem.since, mem.held_until.isoformat(),
                        m.ladder[mem.override[0]].code if mem.override else None,
                        mem.override[1] if mem.override else None,
                        '-infinity' if start == NOBEGIN else start.isoformat(), mem.last_day.isoformat(),
                        spend, visits, points)
                self.expect(have, want, who + ' member_tier (tier, since, held_until, override, until, window_start, last_day, spend, visits, points)')
            # tier_progress: the figures of today's window
            today = m.day(now)
            start = m.period(mem, today)[0]
            p = st['progress'][str(mem.serial)]
            self.expect((Decimal(str(p['spend'])), p['visits'], p['points']), m.figures(mem, start, today),
                        who + ' tier_progress figures')
        for (s, a), have in zip(probes, st['at'] or []):
            mem = self.members[s - 1]
            self.expect(have, m.tier_at(mem, a), 'member %d tier_at(%s)' % (s, a.isoformat()))

    # -- the run ----------------------------------------------------------

    def run(self):
        rng, m = self.rng, self.model
        self.setup()
        self.sql("SET TimeZone = 'Asia/Kathmandu'")
        self.sql("SET DateStyle = 'SQL, DMY'")
        self.sql("SET IntervalStyle = 'sql_standard'")
        now = ts(self.db.json("SELECT to_jsonb(now())::text"))
        end = m.day(now) - timedelta(days=4)
        t = date(2023, 1, 2)
        span = m.wdays if m.window == 'rolling' else 120
        while self.steps < STEPS and t < end:
            self.steps += 1
            r = rng.random()
            if r < 0.52:
                mem = rng.choice(self.members)
                back = rng.randrange(min(span, 40)) if rng.random() < 0.3 else 0
                d = max(t - timedelta(days=back), mem.anchor)
                edge = rng.random()
                if edge < 0.15:
                    at = self.local(d, 23, rng.randrange(30, 60), rng.randrange(60))
                elif edge < 0.3:
                    at = self.local(d, 0, rng.randrange(0, 30), rng.randrange(60))
                else:
                    at = self.local(d, rng.randrange(6, 23), rng.randrange(60))
                if at < mem.enrolled_at:
                    continue
                if at >= now:
                    continue
                self.do_sale(mem, at)
            elif r < 0.66:
                open_sales = [sid for sid, s in self.sales.items()
                              if any(a > 0 for _, a in s['lines'].values()) and (t - s['day']).days < 360]
                if not open_sales:
                    continue
                sid = rng.choice(open_sales)
                at = max(self.local(t, rng.randrange(8, 20), rng.randrange(60)), self.sales[sid]['at'] + timedelta(seconds=1))
                if at >= now:
                    continue
                self.do_return(sid, at)
            elif r < 0.74:
                as_of = self.local(t, 23, 59, 59)
                # no sale of this day after the review's as_of in the model's history
                latest = max((s['at'] for s in self.sales.values()), default=None)
                if latest is not None and latest > as_of:
                    continue
                if as_of >= now:
                    continue
                self.do_review(as_of)
                t += timedelta(days=1)
            else:
                t += timedelta(days=rng.choice([1, 1, 2, 3, 7, 15, 30, 45]))
            self.check()
        # phase B: overrides, now
        self.steps += 1
        for mem in self.members:
            if rng.random() < 0.7:
                self.do_override(mem, rng.randrange(len(m.ladder)), rng.choice([None, 1, 1]))
        self.check()
        for _ in range(6):
            self.steps += 1
            r = rng.random()
            if r < 0.6:
                self.do_sale(rng.choice(self.members), None)
            elif r < 0.8:
                self.do_review(None)
            else:
                mem = rng.choice(self.members)
                self.do_override(mem, rng.randrange(len(m.ladder)), None)
            self.check()
        time.sleep(1.1)             # the one-second overrides end
        self.steps += 1
        self.do_review(None)
        self.check()
        self.steps += 1
        self.do_sale(rng.choice(self.members), None)
        self.do_review(None)
        self.check()


def main():
    db = Psql(DB)
    only = os.environ.get('TIER_MODEL_ONLY')
    chosen = [i for i in range(1, len(SCENARIOS) + 1) if not only or str(i) in only.split(',')]
    print('1..%d' % (2 * len(chosen)))
    n = 0
    started = time.time()
    ok_all = True
    for i, spec in enumerate(SCENARIOS, 1):
        if i not in chosen:
            continue
        s = Scenario(db, spec)
        try:
            s.run()
        except SqlError as e:
            s.errors.append('step %d: %s' % (s.steps, e))
        n += 1
        ok = not s.errors
        print('%s %d - %s: %d steps, no unexpected SQL errors' % ('ok' if ok else 'not ok', n, s.name, s.steps))
        for e in s.errors[:5]:
            print('#   ' + e)
        n += 1
        ok2 = not s.failures
        print('%s %d - %s: model and database agree after each of %d checks' % ('ok' if ok2 else 'not ok', n, s.name, s.checks))
        for f in s.failures[:8]:
            print('#   ' + f)
        if len(s.failures) > 8:
            print('#   ... %d more' % (len(s.failures) - 8))
        ok_all &= ok and ok2
        sys.stdout.flush()
    db.close()
    print('# the model test took %.1f s' % (time.time() - started))
    return 0 if ok_all else 1


if __name__ == '__main__':
    sys.exit(main())
