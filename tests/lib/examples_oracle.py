#!/usr/bin/env python3
"""examples_oracle.py - input generator and brute-force oracle for the
example pipelines of deploy/pipelines/ (tests/integration/test_examples.sh).
Standard library only.

Command line:

  examples_oracle.py gen EXAMPLE --seed S [--events N] > input.jsonl
      Random input for EXAMPLE (trading-vwap, card-fraud, iot-sensors,
      clickstream-sessions): skewed keys, disorder below the pipeline's
      max_out_of_orderness, some very late events, events late by exactly
      0 ms (their window ends at their key's own watermark), events far
      behind the newest but in a window that is still open (its end just
      past the largest possible watermark), and some bad lines of each
      kind the example can reject.

  examples_oracle.py check EXAMPLE --input input.jsonl --results out.jsonl
                     --summary run.log
      Computes EXAMPLE's results from the input alone and compares them
      with the engine's (one JSON object per line, as multisets: each
      result is identified by its key fields and window, every member is
      compared with its JSON type and the members' order too), and the
      counts of the run's summary line (bad per reason, late_dropped,
      events_filtered, results_out). Exit 0 when all agree, else prints
      the differences and exits 1; exit 3 when the input is ambiguous
      (see below).

Semantics (README.md "Event time and watermarks", "Stages", "Results"):
events are classified in pipeline order (filter, key, event time,
aggregate inputs in the order the window first uses them); per task the
watermark is the maximum event time seen minus max_out_of_orderness, each
event is judged against the watermark before it, and an event whose
windows (hopping: every window holding it; session: [ts, ts + gap)) have
all ended at or before the watermark is late and dropped. The end of the
input closes every window.

The file source splits keys over tasks by a hash the oracle does not
model. It uses two bounds instead: a task has seen every earlier event of
the same key (a lower bound of its watermark) and no more than every
earlier event of the input (an upper bound). An event late under the
lower bound is late in any task; an event none of whose windows has ended
under the upper bound is on time in any task. Anything in between would
depend on the split, and the check exits 3 ("ambiguous input"): the
generator never makes such input. The same bounds hold for a Kafka topic
keyed by the key field (a key's events are in one partition, in order).

Doubles: prices and amounts are integers (cents), temperatures multiples
of 0.25, so sums, means, minima, maxima and VWAPs are exact and compared
exactly. Standard deviations are computed with the engine's Welford
update in the engine's order (a key's events in input order: a key is in
one task, which sees its events in input order), so they too are compared
exactly; SD_REL_TOL would allow a relative tolerance instead.

Sketches: percentiles and the median (DDSketch) are checked to be doubles
within REL_ACC (1%) of the exact value of rank floor(q * (n - 1)), and the
median equal to p50 (one sketch, one q). So that the check can fail, the
temperatures are on a grid whose neighbours are 2.5% apart, and the check
fails unless, in at least half the windows of 3 or more readings, the
ranks next to each q's hold values outside its band (an off-by-one rank,
or a wrong q, is seen). count_distinct, approx_count_distinct (exact up to
768 distinct values) and top_k (k above the generator's pages, so exact)
are compared exactly; top_k's ties go by the value's JSON text (raw UTF-8,
'"', '\\' and control characters escaped) bytewise, and the pages include
pairs that this order sorts unlike their decoded bytes or their
ASCII-escaped text; the check fails unless each pair ties in some sessions.
"/caf\u00e9" is written both escaped and as raw UTF-8 (one value).
"""

import argparse
import json
import math
import random
import sys
import time
from collections import Counter, defaultdict

T0 = 1767225600000  # 2026-01-01T00:00:00Z: in the past, so never too far ahead
DAY = 86400000
BAD_REASONS = ("malformed_json", "missing_time", "bad_time", "missing_key", "missing_field",
               "wrong_type", "too_large", "too_far_ahead", "expr_error")
SD_REL_TOL = 0.0  # exact: see the docstring
REL_ACC = 0.01   # approx_percentile / median: DDSketch relative accuracy
STATS = Counter()  # what the checks could tell apart (Example.check_stats)


class Bad(Exception):
    """An event the engine rejects, with its summary reason."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Filtered(Exception):
    """An event a filter drops."""


class ExprError(Exception):
    """A run-time expression error (becomes the bad reason expr_error)."""


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# ---- SQL pieces the examples use ------------------------------------------------


def sql_cmp(a, b, op):
    """a op b with SQL NULL rules; None is NULL; a type mismatch raises."""
    if a is None or b is None:
        return None
    if is_num(a) and is_num(b) or isinstance(a, str) and isinstance(b, str):
        if isinstance(a, str):
            a, b = a.encode(), b.encode()
        return {">": a > b, "<>": a != b, ">=": a >= b}[op]
    raise ExprError()


def sql_and(left, right_fn):
    """Left to right, stopping at FALSE (the engine's AND)."""
    if left is False:
        return False
    right = right_fn()
    if right is False:
        return False
    if left is None or right is None:
        return None
    return True


def sql_like_static(page):
    """page NOT LIKE '/static/%'."""
    if page is None:
        return None
    if not isinstance(page, str):
        raise ExprError()
    return not page.startswith("/static/")


def sql_mul(a, b):
    """BIGINT / DOUBLE multiplication; NULL for a NULL operand."""
    if a is None or b is None:
        return None
    if not (is_num(a) and is_num(b)):
        raise ExprError()
    r = a * b
    if isinstance(r, int) and not -(1 << 63) <= r < (1 << 63):
        raise ExprError()  # integer overflow
    return r


def field(obj, path):
    """A nested field ("device.id"), or None when missing."""
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def member(obj, name):
    return obj.get(name) if isinstance(obj, dict) else None


# ---- the examples -------------------------------------------------------------------


class Example:
    """One pipeline: its window, its classification of an input object
    (the aggregate inputs of a good event, or Bad / Filtered), its
    aggregates and its stages after the window."""
    name = ""
    window = ("tumbling", 0, 0)  # type, size (or gap), slide
    ooo = 0
    keys = ()

    def key_of(self, obj):
        vals = []
        for k in self.keys:
            v = field(obj, k)
            if v is None and not (isinstance(obj, dict) and "." not in k and k in obj):
                raise Bad("missing_key")
            vals.append(v)
        return tuple(vals)

    def time_of(self, obj, now):
        ts = member(obj, "ts")
        if ts is None and "ts" not in obj:
            raise Bad("missing_time")
        if not is_num(ts):
            raise Bad("bad_time")
        ts = math.floor(ts)
        if ts > now + 3600000:
            raise Bad("too_far_ahead")
        return ts

    def number(self, obj, name):
        v = member(obj, name)
        if v is None:
            raise Bad("missing_field" if name not in obj else "wrong_type")
        if not is_num(v):
            raise Bad("wrong_type")
        return v

    def classify(self, obj, now):
        """(key, ts, inputs) of a good event; raises Bad or Filtered."""
        self.filter(obj)
        key = self.key_of(obj)
        ts = self.time_of(obj, now)
        return key, ts, self.inputs(obj)

    def filter(self, obj):
        pass

    def after(self, row):
        """Stages after the window: the row, changed, or None if dropped."""
        return row

    def key_members(self, key):
        return list(zip(self.keys, key))

    def check_row(self, got):
        """A problem with a result row beyond its expected values, or None."""
        return None

    def check_stats(self):
        """Problems with what the run's checks could tell apart."""
        return []

    def encode(self, rng, e):
        """The input line of event e."""
        return compact(e)


class TradingVwap(Example):
    name = "trading-vwap"
    window = ("tumbling", 60000, 60000)
    ooo = 2000
    keys = ("symbol",)

    def inputs(self, obj):
        # Columns in first-use order: price, price * volume, volume.
        price = self.number(obj, "price")
        try:
            pv = sql_mul(price, member(obj, "volume"))
        except ExprError:
            raise Bad("expr_error")
        if pv is None:
            raise Bad("missing_field")
        volume = self.number(obj, "volume")
        return price, pv, volume

    def aggregate(self, evs):
        # evs: (ts, line, inputs) in input order
        first = min(evs, key=lambda e: (e[0], e[1]))
        last = max(evs, key=lambda e: (e[0], e[1]))
        return [("open", first[2][0]), ("high", max(e[2][0] for e in evs)),
                ("low", min(e[2][0] for e in evs)), ("close", last[2][0]),
                ("pv", sum(e[2][1] for e in evs)), ("v", sum(e[2][2] for e in evs)),
                ("trades", len(evs))]

    def after(self, row):
        d = dict(row)
        if not d["v"] > 0:
            return None
        row = [(k, v) for k, v in row if k != "pv"]
        row.append(("vwap", float(d["pv"]) / float(d["v"])))
        return row

    def generate(self, rng, n):
        symbols = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "AMD", "INTC", "ORCL",
                   "IBM", "SAP", "ASML", "NFLX", "ADBE", "CRM", "QCOM", "TXN", "AVGO", "CSCO"]
        weights = [1.0 / (i + 1) ** 1.2 for i in range(len(symbols))]
        mid = {s: rng.randint(2000, 90000) for s in symbols}
        events = []
        t = T0 + rng.randrange(0, 3600) * 1000
        for _ in range(n):
            t += rng.choice((0, 10, 10, 20, 50, 100, 300))
            s = rng.choices(symbols, weights)[0]
            mid[s] = max(100, mid[s] + rng.randint(-30, 30))
            vol = rng.choice((0, 1, 5, 10, 25, 100, 100, 500, 1000))
            events.append({"symbol": s, "price": mid[s], "volume": vol, "ts": t})
        # An illiquid symbol: quotes without volume only (results dropped by v > 0),
        # and now and then one real trade.
        for i in range(n // 200):
            at = rng.choice(events)["ts"]
            events.append({"symbol": "ILLQ", "price": 1234, "volume": 0 if i % 7 else 3, "ts": at})
        bad = [
            lambda e: json.dumps(e)[:-9],                           # malformed
            lambda e: "not json at all",
            lambda e: json.dumps({k: v for k, v in e.items() if k != "symbol"}),  # missing_key
            lambda e: json.dumps({k: v for k, v in e.items() if k != "ts"}),      # missing_time
            lambda e: json.dumps(dict(e, ts=str(e["ts"]))),                       # bad_time
            lambda e: json.dumps(dict(e, ts=int(time.time() * 1000) + 30 * DAY)),  # too_far_ahead
            lambda e: json.dumps({k: v for k, v in e.items() if k != "price"}),   # missing_field
            lambda e: json.dumps(dict(e, price="%d.00" % e["price"])),             # wrong_type
            lambda e: json.dumps(dict(e, volume="many")),                          # expr_error
            lambda e: json.dumps(dict(e, volume=1 << 62)),                         # expr_error (overflow)
            lambda e: json.dumps({k: v for k, v in e.items() if k != "volume"}),  # missing_field
        ]
        return events, bad


class CardFraud(Example):
    name = "card-fraud"
    window = ("hopping", 600000, 60000)
    ooo = 5000
    keys = ("card",)

    def filter(self, obj):
        try:
            ok = sql_and(sql_cmp(member(obj, "amount"), 1000, ">"),
                         lambda: sql_cmp(member(obj, "country"), member(obj, "home_country"), "<>"))
        except ExprError:
            raise Bad("expr_error")
        if ok is not True:
            raise Filtered()

    def inputs(self, obj):
        return (self.number(obj, "amount"),)

    def aggregate(self, evs):
        return [("n", len(evs)), ("total", sum(e[2][0] for e in evs))]

    def after(self, row):
        return row if dict(row)["n"] >= 3 else None

    def generate(self, rng, n):
        cards = ["card-%04d" % i for i in range(400)]
        weights = [1.0 / (i + 1) ** 1.1 for i in range(len(cards))]
        home = {c: rng.choice(("DE", "FR", "US", "GB", "IT", "ES")) for c in cards}
        events = []
        t = T0 + rng.randrange(0, 3600) * 1000
        for _ in range(n):
            t += rng.randint(0, 700)
            c = rng.choices(cards, weights)[0]
            abroad = rng.random() < 0.35
            country = rng.choice(("BR", "TH", "NG", "RU", "CN")) if abroad else home[c]
            amount = rng.choice((rng.randint(1, 999), 1000, 1001, rng.randint(1000, 500000)))
            events.append({"card": c, "amount": amount, "country": country,
                           "home_country": home[c], "ts": t})
        bad = [
            lambda e: json.dumps(e)[:-3],                                          # malformed
            lambda e: "{\"card\": ",
            lambda e: json.dumps({k: v for k, v in dict(e, amount=5000, country="BR",
                                                        home_country="DE").items()
                                  if k != "card"}),                                # missing_key
            lambda e: json.dumps({k: v for k, v in dict(e, amount=5000, country="BR",
                                                        home_country="DE").items()
                                  if k != "ts"}),                                  # missing_time
            lambda e: json.dumps(dict(e, amount=5000, country="BR", home_country="DE",
                                      ts="yesterday")),                            # bad_time
            lambda e: json.dumps(dict(e, amount="5000")),                          # expr_error
            lambda e: json.dumps(dict(e, amount=5000, country=76)),                # expr_error
            lambda e: json.dumps(dict(e, amount=10, country=76)),                  # filtered: AND stops
            lambda e: json.dumps({k: v for k, v in dict(e, amount=5000).items()
                                  if k != "country"}),                             # filtered: NULL
            lambda e: json.dumps({k: v for k, v in e.items() if k != "amount"}),  # filtered: NULL
        ]
        return events, bad


class Approx:
    """A sketch result the engine may return up to REL_ACC off: the exact
    value (or list of values) of the ranks it estimates."""

    def __init__(self, exact):
        self.exact = exact

    def __repr__(self):
        return "%r (within %g)" % (self.exact, REL_ACC)


def within(want, got):
    """got is a double within REL_ACC of want (relative; 0 exactly)."""
    return type(got) is float and abs(got - want) <= REL_ACC * abs(want) * (1 + 1e-12)


def rank_value(ordered, q):
    """The value of rank floor(q * (n - 1)) (0-based) of an ascending list."""
    return ordered[math.floor(q * (len(ordered) - 1))]


def discerns(ordered, q):
    """(down, up): whether the ranks just below and just above q's rank hold
    a value so far from the rank's that an estimate of theirs could not
    pass the check for q's (each side REL_ACC off: the bands are apart)."""
    r = math.floor(q * (len(ordered) - 1))
    v = ordered[r]

    def apart(i):
        return 0 <= i < len(ordered) and abs(ordered[i] - v) > REL_ACC * (abs(v) + abs(ordered[i]))

    return apart(r - 1), apart(r + 1)


class IotSensors(Example):
    name = "iot-sensors"
    window = ("tumbling", 10000, 10000)
    ooo = 1000
    keys = ("device.id", "device.site")
    hot = 30      # count_if threshold: SLUICE_HOT_TEMP's default
    qs = (0.5, 0.99)

    def inputs(self, obj):
        return (self.number(obj, "temp"),)

    def aggregate(self, evs):
        temps = [e[2][0] for e in evs]  # input order, as the engine adds them
        n = len(temps)
        total = 0.0
        for x in temps:
            total += x
        mean = m2 = 0.0
        for i, x in enumerate(temps, 1):
            if i == 1:
                mean, m2 = float(x), 0.0
            else:
                delta = x - mean
                mean += delta / i
                m2 += delta * (x - mean)
        sd = math.sqrt(max(m2, 0.0) / (n - 1)) if n > 1 else None
        ordered = sorted(float(x) for x in temps)
        if n >= 3:
            for q in self.qs:
                for side, ok in zip(("down", "up"), discerns(ordered, q)):
                    STATS["rank_%s_%g" % (side, q)] += ok
                STATS["ranked_%g" % q] += 1
        return [("readings", n), ("mean", total / n), ("lo", float(min(temps))),
                ("hi", float(max(temps))), ("sd", sd),
                ("p50_p99", Approx([rank_value(ordered, q) for q in self.qs])),
                ("median", Approx(rank_value(ordered, 0.5))),
                ("hot", sum(1 for x in temps if x > self.hot))]

    def check_row(self, got):
        """The median and p50 are one sketch's answer to one q: equal."""
        d = dict(got)
        p = d.get("p50_p99")
        if isinstance(p, list) and p and p[0] != d.get("median"):
            return "median %r is not p50 %r" % (d.get("median"), p[0])
        return None

    def check_stats(self):
        """The percentile check must be able to fail: for most windows, the
        value of the rank next to q's (an off-by-one rank, or a q off by a
        little) is outside the accepted band."""
        problems = []
        for q in self.qs:
            ranked = STATS["ranked_%g" % q]
            for side in ("down", "up"):
                hit = STATS["rank_%s_%g" % (side, q)]
                if ranked < 100 or hit < 0.5 * ranked:
                    problems.append("percentile check too weak: the rank %s q=%g is told apart "
                                    "in %d of %d windows" % ("below" if side == "down" else "above",
                                                             q, hit, ranked))
        return problems

    def generate(self, rng, n):
        # Temperatures on a grid of multiples of 0.25 (sums exact) whose
        # neighbours are at least 2.5 % apart, so that neighbouring ranks of
        # a window differ by more than the percentiles' 1 % (both bands
        # apart), with 0.0 and the count_if threshold 30.0 on it.
        grid = [0.25]
        while grid[-1] < 70:
            grid.append(max(grid[-1] + 0.25, math.ceil(grid[-1] * 1.025 * 4) / 4))
        assert self.hot in grid
        levels = [-g for g in reversed(grid)] + [0.0] + grid

        def level_of(temp):
            return min(range(len(levels)), key=lambda i: abs(levels[i] - temp))

        devices = [("sensor-%03d" % i, "site-%d" % (i % 5)) for i in range(120)]
        devices.append(("sensor-007", "site-9"))  # the same id at another site: another key
        weights = [1.0 / (i + 1) ** 0.9 for i in range(len(devices))]
        # Indoor sites around 12-40 degrees (across the threshold), outdoor
        # site-4 around 0 (negative values, 0.0 itself).
        base = {d: level_of(rng.uniform(-6, 6) if d[1] == "site-4" else rng.uniform(12, 40))
                for d in devices}
        events = []
        t = T0 + rng.randrange(0, 3600) * 1000
        for _ in range(n):
            t += rng.randint(0, 40)
            d = rng.choices(devices, weights)[0]
            lv = base[d] + rng.randint(-14, 14)
            if rng.random() < 0.02:
                lv += rng.choice((-1, 1)) * rng.randint(20, 40)  # a spike
            temp = levels[max(0, min(len(levels) - 1, lv))]
            events.append({"device": {"id": d[0], "site": d[1]}, "temp": temp, "ts": t})
        bad = [
            lambda e: json.dumps(e)[:-1] + ",}",                                   # malformed
            lambda e: "\x00\x01binary",
            lambda e: json.dumps({k: v for k, v in e.items() if k != "device"}),  # missing_key
            lambda e: json.dumps(dict(e, device="sensor-001")),                   # missing_key
            lambda e: json.dumps(dict(e, device={"id": e["device"]["id"]})),       # missing_key
            lambda e: json.dumps({k: v for k, v in e.items() if k != "ts"}),      # missing_time
            lambda e: json.dumps(dict(e, ts=int(time.time() * 1000) + 400 * DAY)),  # too_far_ahead
            lambda e: json.dumps({k: v for k, v in e.items() if k != "temp"}),    # missing_field
            lambda e: json.dumps(dict(e, temp="21.5C")),                          # wrong_type
        ]
        return events, bad


class ClickstreamSessions(Example):
    name = "clickstream-sessions"
    window = ("session", 30000, 0)
    ooo = 2000
    keys = ("user",)
    top_k = 64  # more than the generator's pages: top_k stays exact
    # Pages whose order as JSON text (raw UTF-8, '"' and '\\' escaped)
    # differs from the order of their decoded bytes, or of their text with
    # non-ASCII escaped: a tie of a pair checks top_k's tie rule.
    tie_pairs = (("/sale!", "/sale"), ("/caf\u00e9", "/cafe"), ('/search?q=TEA', '/search?q="tea"'))

    def filter(self, obj):
        try:
            ok = sql_like_static(member(obj, "page"))
        except ExprError:
            raise Bad("expr_error")
        if ok is not True:
            raise Filtered()

    def inputs(self, obj):
        # Columns in first-use order: page_id, ts, page (a string here: the
        # filter took the rest; the distinct counts and top_k take any value).
        page_id = self.number(obj, "page_id")
        return (page_id, self.number(obj, "ts"), obj["page"])

    def aggregate(self, evs):
        first = min(evs, key=lambda e: (e[0], e[1]))
        last = max(evs, key=lambda e: (e[0], e[1]))
        lo = min(e[2][1] for e in evs)
        hi = max(e[2][1] for e in evs)
        counts = Counter(e[2][2] for e in evs)
        if len(counts) > self.top_k:
            STATS["topk_inexact"] += 1
        for a, b in self.tie_pairs:
            if counts[a] and counts[a] == counts[b]:
                STATS["tie %s %s" % (a, b)] += 1
        # Highest count first, ties by the value's JSON text, bytewise (raw
        # UTF-8, only '"', '\\' and control characters escaped).
        top = sorted(counts.items(),
                     key=lambda kv: (-kv[1], json.dumps(kv[0], ensure_ascii=False).encode()))
        top = [[("value", v), ("count", c)] for v, c in top[:self.top_k]]  # as parsed
        return [("clicks", len(evs)), ("first_page", first[2][0]), ("last_page", last[2][0]),
                ("first_ts", lo), ("last_ts", hi), ("pages", len(counts)),
                ("top_pages", top), ("pages_approx", len(counts))]

    def check_stats(self):
        problems = []
        if STATS["topk_inexact"]:
            problems.append("%d sessions with more than %d distinct pages: the generator must "
                            "keep top_k exact" % (STATS["topk_inexact"], self.top_k))
        for a, b in self.tie_pairs:
            if STATS["tie %s %s" % (a, b)] < 10:
                problems.append("%d sessions tie %s with %s: top_k's tie order is not checked"
                                % (STATS["tie %s %s" % (a, b)], a, b))
        return problems

    def encode(self, rng, e):
        # "/café" both as raw UTF-8 and as "\u00e9": one value.
        return json.dumps(e, separators=(",", ":"), ensure_ascii=rng.random() < 0.5)

    def after(self, row):
        d = dict(row)
        row = [(k, v) for k, v in row if k != "first_ts"]
        row.append(("span_ms", d["last_ts"] - d["first_ts"]))
        return row

    def generate(self, rng, n):
        # The tie pairs early (often clicked); "/static" and "/static-info"
        # pass the filter.
        pages = ["/", "/search", "/cart", "/sale", "/sale!", "/cafe", "/caf\u00e9",
                 '/search?q="tea"', "/search?q=TEA", "/checkout", "/help", "/account", "/static",
                 "/static-info"] + \
                ["/product/%d" % i for i in range(40)]
        page_weights = [1.0 / (i + 1) ** 0.6 for i in range(len(pages))]
        users = ["user-%03d" % i for i in range(150)]
        weights = [1.0 / (i + 1) ** 1.0 for i in range(len(users))]
        per_user = Counter(rng.choices(users, weights, k=n))
        gap = self.window[1]
        start = T0 + rng.randrange(0, 3600) * 1000
        events = []
        for u, count in per_user.items():
            t = start + rng.randint(0, 600000)
            for _ in range(count):
                r = rng.random()
                if r < 0.04:
                    t += gap          # exactly the gap: still the same session
                elif r < 0.08:
                    t += gap + 1      # one ms more: a new session
                elif r < 0.20:
                    t += rng.randint(gap + 2, 10 * gap)
                else:
                    t += rng.choice((0, rng.randint(1, 20000)))
                p = rng.choices(range(len(pages)), page_weights)[0] if rng.random() < 0.9 else None
                page = pages[p] if p is not None else "/static/app-%d.js" % rng.randint(1, 9)
                events.append({"user": u, "page": page, "page_id": (p if p is not None else 999),
                               "ts": t})
        bad = [
            lambda e: json.dumps(e)[5:],                                           # malformed
            lambda e: "]",
            lambda e: json.dumps({k: v for k, v in dict(e, page="/").items()
                                  if k != "user"}),                                # missing_key
            lambda e: json.dumps({k: v for k, v in dict(e, page="/").items()
                                  if k != "ts"}),                                  # missing_time
            lambda e: json.dumps(dict(e, page="/", ts=[e["ts"]])),                 # bad_time
            lambda e: json.dumps({k: v for k, v in dict(e, page="/").items()
                                  if k != "page_id"}),                             # missing_field
            lambda e: json.dumps(dict(e, page="/", page_id="p7")),                 # wrong_type
            lambda e: json.dumps(dict(e, page=404)),                               # expr_error
            lambda e: json.dumps({k: v for k, v in e.items() if k != "page"}),    # filtered: NULL
        ]
        return events, bad


EXAMPLES = {c.name: c for c in (TradingVwap, CardFraud, IotSensors, ClickstreamSessions)}


# ---- windows ------------------------------------------------------------------------


def window_ends(ex, ts):
    """(first_end, last_end) of the windows holding ts (session: ts + gap)."""
    kind, size, slide = ex.window
    if kind == "session":
        return ts + size, ts + size
    if kind == "tumbling":
        end = (ts // size) * size + size
        return end, end
    first_end = (ts // slide) * slide + slide
    last_start = (ts // slide) * slide
    return first_end, last_start + size


def windows_of(ex, ts):
    kind, size, slide = ex.window
    if kind == "tumbling":
        s = (ts // size) * size
        return [(s, s + size)]
    s = (ts // slide) * slide
    out = []
    while s > ts - size:
        out.append((s, s + size))
        s -= slide
    return out


# ---- generator ----------------------------------------------------------------------


def compact(e):
    return json.dumps(e, separators=(",", ":"))


def generate(ex, seed, n):
    rng = random.Random(seed)
    events, bad = ex.generate(rng, n)
    kind, extent, slide = ex.window
    # Disorder below max_out_of_orderness: arrival order is event time plus
    # a jitter in [0, ooo - 1], so every event is at most ooo - 1 ms behind
    # the largest event time before it, and never late.
    jitter = ex.ooo - 1
    events.sort(key=lambda e: (e["ts"] + rng.randint(0, jitter)))
    now = int(time.time() * 1000)
    seen = {}        # per key: largest event time of its events that reach the window
    top = None       # largest event time so far, any event
    good = []        # events so far that reach the window
    boundary_ends = set()
    out = []
    for e in events:
        try:
            key, _, _ = ex.classify(e, now)
        except (Bad, Filtered):
            out.append(e)
            top = e["ts"] if top is None else max(top, e["ts"])
            continue  # never reaches the window: moves no watermark
        # Late exactly at the boundary: now and then an event is moved back
        # to E + ooo for a window end E (staying within the disorder), so
        # that its key's task has watermark >= E, and then an event of the
        # key whose last window ends at exactly E follows: late by 0 ms.
        exact_late = None
        if kind != "session" and rng.random() < 0.05:
            end = (e["ts"] - ex.ooo) // slide * slide
            moved = end + ex.ooo
            if (top is None or moved > top - ex.ooo) and moved > seen.get(key, moved - 1):
                e["ts"] = moved
                exact_late = dict(e, ts=(end - 1 if kind == "tumbling" else end - extent + slide - 1))
        out.append(e)
        seen[key] = max(seen.get(key, e["ts"]), e["ts"])
        top = e["ts"] if top is None else max(top, e["ts"])
        good.append(e)
        if exact_late is not None:
            out.append(exact_late)
        elif kind == "session" and rng.random() < 0.004:
            out.append(dict(e, ts=seen[key] - ex.ooo - extent))  # ends exactly at the watermark
        # Very late: far behind its key's own watermark, so behind every
        # window end its task has passed, in any task.
        if rng.random() < 0.004 and len(seen) > 3:
            out.append(dict(e, ts=seen[key] - ex.ooo - extent - rng.randint(1, 5 * extent)))
        # On time at the boundary: when the watermark (in any task: at most
        # top - ooo) is within 50 ms of a window end E, an event of an open
        # window ending at E, as far behind as that window allows.
        if kind != "session":
            upper = top - ex.ooo
            end = upper // slide * slide + slide
            if end - upper <= 50 and end not in boundary_ends:
                boundary_ends.add(end)
                out.append(dict(rng.choice(good[-50:]), ts=end - min(extent, slide)))
    # Bad lines: each kind a few times, at random places, made from the
    # event before (so their event times are no larger than those before).
    out = [(ex.encode(rng, e), e) for e in out]
    for make in bad:
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(1, len(out) + 1)
            out.insert(at, (make(out[at - 1][1]), out[at - 1][1]))
    return [line for line, _ in out]


# ---- oracle -------------------------------------------------------------------------


class Ambiguous(Exception):
    pass


def expected(ex, lines, now):
    """(results, counts) for the input lines."""
    counts = Counter()
    upper_max = None                 # largest event time so far, any key
    key_max = {}                     # largest event time so far, per key
    groups = defaultdict(list)       # (key, window) -> [(ts, line, inputs)]
    for i, line in enumerate(lines):
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            counts["malformed_json"] += 1
            continue
        ts_raw = obj.get("ts")
        try:
            key, ts, inputs = ex.classify(obj, now)
        except Bad as b:
            counts[b.reason] += 1
            if b.reason != "too_far_ahead" and is_num(ts_raw):
                upper_max = ts_raw if upper_max is None else max(upper_max, ts_raw)
            continue
        except Filtered:
            counts["filtered"] += 1
            if is_num(ts_raw):
                upper_max = ts_raw if upper_max is None else max(upper_max, ts_raw)
            continue
        first_end, last_end = window_ends(ex, ts)
        if ex.window[0] == "session":
            # On time for sure only at or after the watermark: an event
            # behind it could touch a session that has fired in its task.
            first_end = ts
        lower_wm = key_max[key] - ex.ooo if key in key_max else None
        upper_wm = upper_max - ex.ooo if upper_max is not None else None
        if lower_wm is not None and last_end <= lower_wm:
            counts["late"] += 1
        elif upper_wm is None or first_end > upper_wm:
            if ex.window[0] == "session":
                groups[key].append((ts, i, inputs))
            else:
                for w in windows_of(ex, ts):
                    groups[(key, w)].append((ts, i, inputs))
        else:
            raise Ambiguous("line %d: %s: late or not depends on the task split" % (i + 1, line))
        key_max[key] = max(key_max.get(key, ts), ts)
        upper_max = ts if upper_max is None else max(upper_max, ts)
    rows = []
    if ex.window[0] == "session":
        gap = ex.window[1]
        for key, evs in groups.items():
            evs.sort(key=lambda e: (e[0], e[1]))
            sessions = []
            for e in evs:
                if sessions and e[0] <= sessions[-1][-1][0] + gap:
                    sessions[-1].append(e)
                else:
                    sessions.append([e])
            for s in sessions:
                span = (s[0][0], s[-1][0] + gap)
                s.sort(key=lambda e: e[1])  # input order
                rows.append((key, span, s))
    else:
        for (key, w), evs in groups.items():
            rows.append((key, w, evs))
    results = []
    for key, (start, end), evs in rows:
        row = ex.key_members(key) + [("window_start", start), ("window_end", end)]
        row += ex.aggregate(evs)
        row = ex.after(row)
        if row is not None:
            results.append(row)
    return results, counts


def identity(ex, row):
    d = dict(row)
    return json.dumps([d.get(k) for k in ex.keys] + [d["window_start"], d["window_end"]])


def same_value(name, want, got):
    if isinstance(want, Approx):
        if isinstance(want.exact, list):
            return (type(got) is list and len(got) == len(want.exact) and
                    all(within(w, g) for w, g in zip(want.exact, got)))
        return within(want.exact, got)
    if type(want) is not type(got):
        return False
    if isinstance(want, float) and name == "sd" and SD_REL_TOL:
        return math.isclose(want, got, rel_tol=SD_REL_TOL, abs_tol=0.0)
    return want == got


def check(ex, args):
    with open(args.input, encoding="utf-8", errors="surrogateescape") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    # Too far ahead is judged against the clock when the event is read:
    # the generator puts such events 30 days or more ahead.
    now = int(time.time() * 1000)
    try:
        want, counts = expected(ex, lines, now)
    except Ambiguous as a:
        print("ambiguous input: %s" % a)
        return 3
    got = []
    with open(args.results, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                got.append(json.loads(line, object_pairs_hook=list))
    problems = []
    want_by = defaultdict(list)
    for row in want:
        want_by[identity(ex, row)].append(row)
    got_by = defaultdict(list)
    for row in got:
        got_by[identity(ex, row)].append(row)
    for ident in sorted(set(want_by) | set(got_by)):
        w, g = want_by.get(ident, []), got_by.get(ident, [])
        if len(w) != len(g):
            problems.append("%s: expected %d result(s), got %d: expected %s, got %s"
                            % (ident, len(w), len(g), w, g))
            continue
        for a, b in zip(w, g):
            if [k for k, _ in a] != [k for k, _ in b]:
                problems.append("%s: members %s, expected %s" % (ident, [k for k, _ in b],
                                                                 [k for k, _ in a]))
            elif not all(same_value(k, v, u) for (k, v), (_, u) in zip(a, b)):
                problems.append("%s: got %s, expected %s" % (ident, b, a))
            elif ex.check_row(b):
                problems.append("%s: %s" % (ident, ex.check_row(b)))
    problems += ex.check_stats()
    summary = None
    with open(args.summary, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith('{"summary"'):
                summary = json.loads(line)["summary"]
    if summary is None:
        problems.append("no summary line in %s" % args.summary)
    else:
        for reason in BAD_REASONS:
            if summary["bad"].get(reason, 0) != counts[reason]:
                problems.append("bad.%s: %s, expected %d" % (reason, summary["bad"].get(reason),
                                                             counts[reason]))
        for name, value in (("late_dropped", counts["late"]), ("events_filtered", counts["filtered"]),
                            ("results_out", len(want))):
            if summary.get(name) != value:
                problems.append("%s: %s, expected %d" % (name, summary.get(name), value))
    bad_total = sum(counts[r] for r in BAD_REASONS)
    print("%s: %d lines, %d results, bad %d (%s), late %d, filtered %d"
          % (ex.name, len(lines), len(want), bad_total,
             " ".join("%s=%d" % (r, counts[r]) for r in BAD_REASONS if counts[r]),
             counts["late"], counts["filtered"]))
    if STATS:
        print("  told apart: " + " ".join("%s=%d" % kv for kv in sorted(STATS.items())))
    if problems:
        for p in problems[:25]:
            print("  MISMATCH " + p)
        print("  %d problem(s)" % len(problems))
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("example", choices=sorted(EXAMPLES))
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--events", type=int, default=20000)
    c = sub.add_parser("check")
    c.add_argument("example", choices=sorted(EXAMPLES))
    c.add_argument("--input", required=True)
    c.add_argument("--results", required=True)
    c.add_argument("--summary", required=True)
    args = ap.parse_args()
    ex = EXAMPLES[args.example]()
    if args.cmd == "gen":
        out = generate(ex, args.seed, args.events)
        sys.stdout.write("\n".join(out) + "\n")
        return 0
    return check(ex, args)


if __name__ == "__main__":
    sys.exit(main())
