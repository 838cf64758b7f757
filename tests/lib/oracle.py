#!/usr/bin/env python3
"""oracle.py - the brute-force window oracle of the Python test scripts
(Kafka integration, fault and Docker tests), the counterpart of
tests/lib/oracle.c. Standard library only.

Semantics are those of operators/window.h, per task, for the tumbling
windows (allowed lateness 0) these pipelines use:
  * the watermark starts at -inf; each event is judged against the
    watermark before it: an event whose window has already fired
    (window_end <= watermark) is late and dropped;
  * after the event, watermark = max(watermark, ts - max_out_of_orderness);
  * windows fire in canonical order: window end, then key bytes (the key
    members text, e.g. "user":"u17", compared bytewise, shorter first);
  * end of input fires every remaining window.
Results are ordered lists of (name, value); expected_text() renders them
exactly as the engine does (aggregates in definition order; a double, e.g.
avg, as the shortest text that reads back as it, always with a '.' or an
exponent: Python's repr, e.g. 3.0, 148.6, 1e+300; non-finite as null).
Acc also knows count_distinct, top_k=K, median and approx_percentile=Q
(exact values; see Acc.value), as tests/lib/oracle.c does.

Command line:

  oracle.py gen   --count N [--keys K] [--seed S] [--start-ts MS] [--step-ms S]
                  [--disorder-ms D] [--bad N] > events.jsonl
      Synthetic order events {"user","amount","ts"}, one JSON object per
      line. With --bad N, N extra lines of each bad kind are mixed in
      (non-JSON, missing user, missing ts, non-numeric amount, one huge
      event of 2 MB); their counts are printed on stderr as JSON.

  oracle.py check --events events.jsonl --results results.jsonl
                  --window-ms W [--key user] [--aggs name:fn:field,...]
      (Kafka integration tests) Aggregates tumbling windows per key over
      the good events, order-free (every event is on time: the tests set
      max_out_of_orderness wide enough), and compares them with the results
      read back from the result topic (one JSON value per line). Exit 0
      when equal as multisets; otherwise prints missing, unexpected and
      duplicated results and exits 1. Good event: a JSON object whose key
      field is a string, "ts" an integer and "amount" a number (and the
      line at most 1 MB); anything else is bad and contributes nothing.

  oracle.py expect --input IN.tsv --mode keyed|unkeyed --window-ms W
                   --ooo-ms O [--no-close] [--out FILE]
      (fault tests) Reads the input topic back (kcat output, one line per
      message: PARTITION<TAB>OFFSET<TAB>PAYLOAD, see read_input) and
      computes the results the pipeline of tests/fault/pipeline.json must
      produce (per user, count, sum, min, max and avg of "amount"; see
      compute()). Prints {"events","partitions","results","late"}.

  oracle.py changelog --events events.jsonl --changelog FILE
                      (--gap-ms G | --window-ms W) --lateness-ms L --ooo-ms O
      ("emit": "upsert" tests) Simulates one task reading the events in
      file order (session windows of gap G, or tumbling windows of W, with
      allowed lateness L; count "n" and sum "total" of "amount" per user),
      and gives the final result of every window -- or session -- that is
      never replaced by a merge: what a consumer of the upsert changelog
      must end with. FILE is the result topic read with kcat -Z -f
      '%k\t%s\t%h\n' (key, value or NULL for a tombstone, headers), in
      partition order. Applies it (a value replaces the record of its key,
      NULL deletes it, which must exist) and compares with the finals;
      checks keys are {"user","window_start"} of their value and that
      every record carries a sluice-seq header, none twice per task.
      Prints {"records","tombstones","finals","late"}; exit 1 on a
      difference.

Keyed input ("keyed"): the input partition is the task and its order is the
offset order, so the simulation is exact: the oracle gives each task's
result sequence, and the late events it would drop.

Unkeyed input ("unkeyed"): events reach their task through the repartition
topic, in an order that depends on timing, so the oracle aggregates
(user, window) over all partitions. That equals the engine's output exactly
when no event is late, which the harnesses ensure by a max_out_of_orderness
far larger than any delay an event can suffer; the oracle checks the part
of that it can see (per input partition, no event is late).
"""

import argparse
import heapq
import json
import math
import random
import sys
from collections import Counter, defaultdict

# The aggregates of tests/fault/pipeline.json and
# deploy/pipelines/orders-per-user.json: (name, fn, field).
PIPELINE_AGGS = (("orders", "count", None), ("total", "sum", "amount"),
                 ("smallest", "min", "amount"), ("biggest", "max", "amount"),
                 ("mean", "avg", "amount"))


class InputError(Exception):
    pass


# ---- window semantics -------------------------------------------------------

def window_start(ts, size):
    return ts - (ts % size)  # Python's % floors: right for negative ts too


def key_text(value, key="user"):
    """The key members as the engine writes them ("user":"u17")."""
    return json.dumps(key) + ":" + json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def value_text(v):
    """The canonical JSON text of a value, as count_distinct and top_k see
    it: numbers by value (an integral double as the integer), strings with
    minimal escapes (json.dumps(ensure_ascii=False) escapes the same)."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2.0 ** 63:
        v = int(v)
    if isinstance(v, float):
        return repr(v)
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


class Acc:
    """One window's aggregates: the count and, per field, sum, min, max,
    and every value (for count_distinct, top_k and the percentiles)."""
    __slots__ = ("n", "fields", "seen")

    def __init__(self):
        self.n = 0
        self.fields = {}
        self.seen = {}

    def add(self, values):
        """values: {field: number} of one event (None: missing or null, only
        for the functions that skip it)."""
        self.n += 1
        for name, v in values.items():
            if v is not None:
                self.seen.setdefault(name, []).append(v)
            if v is None or not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            s = self.fields.get(name)
            if s is None:
                self.fields[name] = [v, v, v]
            else:
                s[0] += v
                s[1] = v if v < s[1] else s[1]
                s[2] = v if v > s[2] else s[2]
                if isinstance(s[0], float):  # a double was seen: min/max are doubles too
                    s[1], s[2] = float(s[1]), float(s[2])

    def value(self, fn, field):
        """fn: count, sum, min, max, avg, count_distinct,
        approx_count_distinct, median, approx_percentile=Q (one quantile)
        or top_k=K; the approximate ones exactly (the engine's are within
        their bounds: equal for approx_count_distinct below 769 distinct
        values and for top_k while at most K)."""
        if fn == "count":
            return self.n
        seen = self.seen.get(field, [])
        if fn in ("count_distinct", "approx_count_distinct"):
            return len(set(value_text(v) for v in seen))
        if fn == "median" or fn.startswith("approx_percentile="):
            q = 0.5 if fn == "median" else float(fn.split("=", 1)[1])
            if not seen:
                return None
            return float(sorted(seen)[int(math.floor(q * (len(seen) - 1)))])
        if fn.startswith("top_k="):
            counts = Counter(value_text(v) for v in seen)
            top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode()))
            return RawJSON("[" + ",".join('{"value":%s,"count":%d}' % kv
                                          for kv in top[:int(fn.split("=", 1)[1])]) + "]")
        s = self.fields[field]
        if fn == "sum":
            return s[0]
        if fn == "min":
            return s[1]
        if fn == "max":
            return s[2]
        if fn == "avg":
            return float(s[0]) / float(self.n)
        raise ValueError("unknown aggregate %r" % fn)


def result_of(user, start, size, acc, aggs=PIPELINE_AGGS, key="user"):
    """One window result as an ordered list of (name, value)."""
    return ([(key, user), ("window_start", start), ("window_end", start + size)] +
            [(name, acc.value(fn, field)) for name, fn, field in aggs])


class RawJSON(str):
    """A value already rendered as JSON (top_k's array)."""


def expected_text(result):
    """The result JSON exactly as the engine renders it."""
    out = []
    for name, v in result:
        if isinstance(v, RawJSON):
            s = str(v)
        elif isinstance(v, float):
            s = repr(v) if math.isfinite(v) else "null"
        else:
            s = json.dumps(v, ensure_ascii=False)
        out.append("%s:%s" % (json.dumps(name), s))
    return "{" + ",".join(out) + "}"


def _values(amount):
    return amount if isinstance(amount, dict) else {"amount": amount}


def simulate_task(events, size, ooo, close=True, aggs=PIPELINE_AGGS, key="user"):
    """Exact per-task semantics over events (offset, ts, key value, amount or
    {field: number}) in input order. Returns (results in emission order,
    late events list). With close=False the windows the watermark has not
    passed at the end stay open (no idle timeout, input not ended)."""
    by_end = {}  # window end -> {key value: Acc}
    ends = []    # heap of the ends in by_end
    wm = None
    out = []
    late = []

    def fire(end):
        users = by_end.pop(end)
        for user in sorted(users, key=lambda u: key_text(u, key).encode("utf-8")):
            out.append(result_of(user, end - size, size, users[user], aggs, key))

    for ev in events:
        _, ts, user, amount = ev
        end = window_start(ts, size) + size
        if wm is not None and end <= wm:
            late.append(ev)
            continue
        users = by_end.get(end)
        if users is None:
            users = by_end[end] = {}
            heapq.heappush(ends, end)
        acc = users.get(user)
        if acc is None:
            acc = users[user] = Acc()
        acc.add(_values(amount))
        if wm is None or ts - ooo > wm:
            wm = ts - ooo
            while ends and ends[0] <= wm:
                fire(heapq.heappop(ends))
    while ends and close:
        fire(heapq.heappop(ends))
    return out, late


def aggregate_all(events, size):
    """Order-free aggregation (no event late) over events (offset, ts, key
    value, amount or {field: number}): {(key value, window start): Acc}."""
    accs = {}
    for _, ts, user, amount in events:
        k = (user, window_start(ts, size))
        acc = accs.get(k)
        if acc is None:
            acc = accs[k] = Acc()
        acc.add(_values(amount))
    return accs


# ---- fault tests: the input topic read back ---------------------------------

def read_input(path):
    """Returns {partition: [(offset, ts, user, amount), ...]} in offset
    order. Raises InputError when a partition does not start at offset 0 or
    has a gap (the embedded broker dropped old data: the test is invalid),
    or a line is not an event."""
    parts = defaultdict(list)
    with open(path, "r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            try:
                p, o, payload = line.split("\t", 2)
                ev = json.loads(payload)
                parts[int(p)].append((int(o), int(ev["ts"]), str(ev["user"]), int(ev["amount"])))
            except (ValueError, KeyError, TypeError) as e:
                raise InputError("%s:%d: not an input event (%s): %.120s" % (path, lineno, e, line))
    for p, evs in parts.items():
        evs.sort()
        for i, e in enumerate(evs):
            if e[0] != i:
                raise InputError(
                    "input partition %d: expected offset %d, found %d (the broker dropped or "
                    "lost data: keep every input partition under the embedded broker's ~5 MB)"
                    % (p, i, e[0]))
    return dict(parts)


def compute(parts, mode, size, ooo, close=True):
    """Returns a dict:
         results: {(user, window_start): (task or None, result)}
         sequences: {task: [result, ...]} (keyed: exact emission order)
         late: events the engine must drop (keyed), or that one input
               partition alone would make late (unkeyed; must be 0)
         events: input events
         max_ts: {user: highest event time} (for close=False, unkeyed)
    With close=False (event-time closing only: no idle timeout), keyed
    results are only the windows each task's final watermark passed;
    unkeyed results are every (user, window), and the caller keeps those
    whose end <= max event time of the user's task - ooo (the task is only
    known from the results' headers).
    """
    total = sum(len(e) for e in parts.values())
    results = {}
    sequences = {}
    late = 0
    max_ts = {}
    for evs in parts.values():
        for _, ts, user, _ in evs:
            if ts > max_ts.get(user, ts - 1):
                max_ts[user] = ts
    if mode == "keyed":
        for p in sorted(parts):
            seq, lt = simulate_task(parts[p], size, ooo, close)
            late += len(lt)
            sequences[p] = seq
            for r in seq:
                k = (r[0][1], r[1][1])
                if k in results:
                    raise InputError("user %s appears in input partitions %s and %s: the input "
                                     "is not keyed by user" % (k[0], results[k][0], p))
                results[k] = (p, r)
    else:
        for p in sorted(parts):
            _, lt = simulate_task(parts[p], size, ooo)
            late += len(lt)
        everything = [e for p in sorted(parts) for e in parts[p]]
        for (user, start), acc in aggregate_all(everything, size).items():
            results[(user, start)] = (None, result_of(user, start, size, acc))
    return {"results": results, "sequences": sequences, "late": late, "events": total,
            "max_ts": max_ts}


def expect_main(a):
    try:
        parts = read_input(a.input)
    except InputError as e:
        print("oracle: %s" % e, file=sys.stderr)
        return 1
    if a.no_close and a.mode != "keyed":
        print("oracle: --no-close needs --mode keyed (unkeyed tasks are known only from the "
              "results; check_results.py handles that)", file=sys.stderr)
        return 2
    res = compute(parts, a.mode, a.window_ms, a.ooo_ms, not a.no_close)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            for k in sorted(res["results"], key=lambda k: (k[1], key_text(k[0]).encode())):
                task, r = res["results"][k]
                f.write(json.dumps({"task": task, "key": "{%s}" % key_text(k[0]),
                                    "value": expected_text(r)}) + "\n")
    print(json.dumps({"events": res["events"], "partitions": len(parts),
                      "results": len(res["results"]), "late": res["late"]}))
    return 0


# ---- Kafka integration tests: generated events, results read back -----------

def gen(a):
    rnd = random.Random(a.seed)
    out = sys.stdout
    bad_kinds = ["malformed", "no_user", "no_ts", "amount_text", "huge"]
    bad_at = {}
    if a.bad:
        for kind in bad_kinds:
            n = 1 if kind == "huge" else a.bad
            for _ in range(n):
                bad_at.setdefault(rnd.randrange(a.count), []).append(kind)
    counts = Counter()
    w = out.write
    for i in range(a.count):
        ts = a.start_ts + i * a.step_ms
        if a.disorder_ms:
            ts -= rnd.randint(0, a.disorder_ms)
        user = rnd.randrange(a.keys)
        amount = rnd.randrange(1000)
        w('{"user":"u%d","amount":%d,"ts":%d}\n' % (user, amount, ts))
        for kind in bad_at.get(i, ()):
            counts[kind] += 1
            if kind == "malformed":
                w('{"user":"u%d","amount":%d,"ts":\n' % (user, amount))
            elif kind == "no_user":
                w('{"amount":%d,"ts":%d}\n' % (amount, ts))
            elif kind == "no_ts":
                w('{"user":"u%d","amount":%d}\n' % (user, amount))
            elif kind == "amount_text":
                w('{"user":"u%d","amount":"lots","ts":%d}\n' % (user, ts))
            elif kind == "huge":
                w('{"user":"u%d","amount":1,"ts":%d,"pad":"%s"}\n' % (user, ts, "x" * (2 << 20)))
    if a.bad:
        sys.stderr.write(json.dumps(dict(counts)) + "\n")


def good_event(line, key):
    try:
        e = json.loads(line)
    except ValueError:
        return None
    if not isinstance(e, dict):
        return None
    k, ts, amount = e.get(key), e.get("ts"), e.get("amount")
    if not isinstance(k, str) or isinstance(ts, bool) or not isinstance(ts, int):
        return None
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        return None
    if len(line) > (1 << 20):
        return None
    return e


def parse_aggs(spec):
    """"name:fn:field,..." -> [(name, fn, field or None)]."""
    aggs = []
    for one in spec.split(","):
        name, fn, field = (one.split(":") + [""])[:3]
        aggs.append((name, fn, field or None))
    return aggs


def expected(a):
    """{(key value, window start): result dict} over the good events."""
    aggs = parse_aggs(a.aggs)
    fields = sorted({field for _, _, field in aggs if field})
    events = []
    with open(a.events, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line:
                continue
            e = good_event(line, a.key)
            if e is None:
                continue
            events.append((None, e["ts"], e[a.key], {fl: e[fl] for fl in fields}))
    return {k: dict(result_of(k[0], k[1], a.window_ms, acc, aggs, a.key))
            for k, acc in aggregate_all(events, a.window_ms).items()}


def same(exp, got):
    if set(exp) != set(got):
        return False
    for name, v in exp.items():
        g = got[name]
        if isinstance(v, float) != isinstance(g, float):
            return False  # a double prints with '.' or an exponent: types are stable
        if isinstance(v, float):
            if abs(float(v) - float(g)) > 1e-9 * max(1.0, abs(float(v))):
                return False
        elif v != g:
            return False
    return True


def check(a):
    exp = expected(a)
    seen = Counter()
    wrong, unexpected = [], []
    n = 0
    with open(a.results, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            n += 1
            try:
                r = json.loads(line)
            except ValueError:
                unexpected.append(line)
                continue
            ident = (r.get(a.key), r.get("window_start"))
            seen[ident] += 1
            if ident not in exp:
                unexpected.append(line)
            elif not same(exp[ident], r):
                wrong.append((exp[ident], r))
    missing = [exp[k] for k in exp if k not in seen]
    dups = [k for k, c in seen.items() if c > 1]
    ok = not (missing or unexpected or wrong or dups)
    print("oracle: %d expected results, %d read back: %s" % (len(exp), n, "EQUAL" if ok else "DIFFERENT"))
    for what, items in (("missing", missing), ("unexpected", unexpected), ("wrong", wrong),
                        ("duplicated", dups)):
        if items:
            print("  %d %s, e.g. %s" % (len(items), what, items[:3]))
    return 0 if ok else 1


def changelog_finals(events, gap, size, lateness, ooo):
    """Final results of one task (see the changelog command): a port of
    the session and tumbling parts of tests/lib/oracle.c, with lateness."""
    wm = -math.inf
    live = []      # [user, start, end, n, total, fired]
    finals = {}
    late = 0

    def final(w):
        finals[(w[0], w[1])] = {"user": w[0], "window_start": w[1], "window_end": w[2],
                                "n": w[3], "total": w[4]}

    for user, ts, amount in events:
        if gap:
            if ts + gap + lateness <= wm:
                late += 1
            else:
                m = [user, ts, ts + gap, 1, amount, False]
                again = True
                while again:
                    again = False
                    for w in list(live):
                        if w[0] == user and w[1] <= m[2] and m[1] <= w[2]:
                            m[1], m[2] = min(m[1], w[1]), max(m[2], w[2])
                            m[3] += w[3]
                            m[4] += w[4]
                            live.remove(w)
                            again = True
                m[5] = m[2] <= wm
                live.append(m)
        else:
            start = ts // size * size
            end = start + size
            if end + lateness <= wm:
                late += 1
            else:
                for w in live:
                    if w[0] == user and w[1] == start:
                        w[3] += 1
                        w[4] += amount
                        break
                else:
                    live.append([user, start, end, 1, amount, end <= wm])
        if ts - ooo > wm:
            wm = ts - ooo
            for w in live:
                if w[2] <= wm:
                    w[5] = True
            for w in [w for w in live if w[5] and w[2] + lateness <= wm]:
                final(w)
                live.remove(w)
    for w in live:
        final(w)
    return finals, late


def changelog_main(a):
    events = []
    with open(a.events, encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            events.append((e["user"], e["ts"], e["amount"]))
    finals, late = changelog_finals(events, a.gap_ms, a.window_ms, a.lateness_ms, a.ooo_ms)
    view, seqs, problems = {}, set(), []
    records = tombstones = 0
    with open(a.changelog, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            key_text, value, headers = line.split("\t", 2)
            records += 1
            key = json.loads(key_text)
            k = (key.get("user"), key.get("window_start"))
            if sorted(key) != ["user", "window_start"]:
                problems.append("bad key %s" % key_text)
            h = dict(x.split("=", 1) for x in headers.split(",") if "=" in x)
            seq = (h.get("sluice-task"), h.get("sluice-seq"))
            if seq[1] is None or seq in seqs:
                problems.append("sequence header missing or repeated: %s" % line)
            seqs.add(seq)
            if value == "NULL":
                tombstones += 1
                if k not in view:
                    problems.append("tombstone for %s, which is not in the view" % key_text)
                view.pop(k, None)
                continue
            v = json.loads(value)
            if (v.get("user"), v.get("window_start")) != k:
                problems.append("key %s does not match value %s" % (key_text, value))
            view[k] = v
    for k in sorted(set(finals) | set(view), key=str):
        if finals.get(k) != view.get(k):
            problems.append("%s: want %s, got %s" % (k, finals.get(k), view.get(k)))
    print(json.dumps({"records": records, "tombstones": tombstones, "finals": len(finals),
                      "late": late}))
    for p in problems[:10]:
        print("  " + p)
    if problems:
        print("  %d problems" % len(problems))
    return 1 if problems else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--count", type=int, required=True)
    g.add_argument("--keys", type=int, default=1000)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--start-ts", type=int, default=1700000000000)
    g.add_argument("--step-ms", type=int, default=1)
    g.add_argument("--disorder-ms", type=int, default=0)
    g.add_argument("--bad", type=int, default=0)
    c = sub.add_parser("check")
    c.add_argument("--events", required=True)
    c.add_argument("--results", required=True)
    c.add_argument("--window-ms", type=int, required=True)
    c.add_argument("--key", default="user")
    c.add_argument("--aggs", default="n:count,total:sum:amount,lo:min:amount,hi:max:amount,"
                                     "mean:avg:amount")
    x = sub.add_parser("expect")
    x.add_argument("--input", required=True,
                   help="kcat output: -f '%%p\\t%%o\\t%%s\\n' of the input topic")
    x.add_argument("--mode", choices=("keyed", "unkeyed"), default="keyed")
    x.add_argument("--window-ms", type=int, required=True)
    x.add_argument("--ooo-ms", type=int, required=True, help="max_out_of_orderness")
    x.add_argument("--no-close", action="store_true",
                   help="no idle timeout: windows still open at the end of input do not fire "
                        "(keyed only)")
    x.add_argument("--out", help="write the expected results here, one JSON line each")
    cl = sub.add_parser("changelog")
    cl.add_argument("--events", required=True)
    cl.add_argument("--changelog", required=True,
                    help="kcat -Z -f '%%k\\t%%s\\t%%h\\n' of the result topic")
    cl.add_argument("--gap-ms", type=int, default=0)
    cl.add_argument("--window-ms", type=int, default=0)
    cl.add_argument("--lateness-ms", type=int, default=0)
    cl.add_argument("--ooo-ms", type=int, required=True)
    a = p.parse_args()
    if a.cmd == "changelog":
        if bool(a.gap_ms) == bool(a.window_ms):
            p.error("changelog: give one of --gap-ms and --window-ms")
        return changelog_main(a)
    if a.cmd == "gen":
        gen(a)
        return 0
    if a.cmd == "check":
        return check(a)
    return expect_main(a)


if __name__ == "__main__":
    sys.exit(main())
