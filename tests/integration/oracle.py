#!/usr/bin/env python3
"""Brute-force oracle for the Kafka integration tests.

  oracle.py gen   --count N [--keys K] [--seed S] [--start-ts MS] [--step-ms S]
                  [--disorder-ms D] [--bad N] > events.jsonl
      Synthetic order events {"user","amount","ts"}, one JSON object per
      line. With --bad N, N extra lines of each bad kind are mixed in
      (non-JSON, missing user, missing ts, non-numeric amount, one huge
      event of 2 MB); their counts are printed on stderr as JSON.

  oracle.py check --events events.jsonl --results results.jsonl
                  --window-ms W [--key user] [--aggs name:fn:field,...]
      Computes tumbling-window aggregates per key over the good events
      (every event is on time: the tests set max_out_of_orderness wide
      enough) and compares them with the results read back from the
      result topic (one JSON value per line). Exit 0 when equal as
      multisets; otherwise prints missing, unexpected and duplicated
      results and exits 1.

Good event: a JSON object whose key field is a string, "ts" an integer and
"amount" a number. Anything else counts as bad and contributes nothing.
"""
import argparse
import json
import random
import sys
from collections import Counter, defaultdict


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


def expected(a):
    aggs = []
    for spec in a.aggs.split(","):
        name, fn, field = (spec.split(":") + [""])[:3]
        aggs.append((name, fn, field or None))
    win = defaultdict(list)
    with open(a.events, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line:
                continue
            e = good_event(line, a.key)
            if e is None:
                continue
            start = e["ts"] - e["ts"] % a.window_ms
            win[(e[a.key], start)].append(e)
    res = {}
    for (k, start), evs in win.items():
        r = {a.key: k, "window_start": start, "window_end": start + a.window_ms}
        for name, fn, field in aggs:
            vals = [ev[field] for ev in evs] if field else None
            if fn == "count":
                r[name] = len(evs)
            elif fn == "sum":
                r[name] = sum(vals)
            elif fn == "min":
                r[name] = min(vals)
            elif fn == "max":
                r[name] = max(vals)
            elif fn == "avg":
                r[name] = sum(vals) / len(vals)
        res[(k, start)] = r
    return res


def same(exp, got):
    if set(exp) != set(got):
        return False
    for name, v in exp.items():
        g = got[name]
        if isinstance(v, float) or isinstance(g, float):
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


def main():
    p = argparse.ArgumentParser()
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
    a = p.parse_args()
    if a.cmd == "gen":
        gen(a)
        return 0
    return check(a)


if __name__ == "__main__":
    sys.exit(main())
