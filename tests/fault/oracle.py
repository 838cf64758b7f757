#!/usr/bin/env python3
"""oracle.py - brute-force reference for the fault tests' pipeline.

Reads the input topic back (kcat output, one line per message:
PARTITION<TAB>OFFSET<TAB>PAYLOAD, see read_input) and computes the results
the pipeline of tests/fault/pipeline.json must produce: per user, tumbling
event-time windows of `window` ms with count, sum, min, max and avg of
"amount", allowed lateness 0.

Semantics are those of operators/window.h (and the C reference
tests/lib/oracle.c), per task:
  * the watermark starts at -inf; each event is judged against the
    watermark before it: an event whose window has already fired
    (window_end <= watermark) is late and dropped;
  * after the event, watermark = max(watermark, ts - max_out_of_orderness);
  * windows fire in canonical order: window end, then key bytes (the key
    members text, e.g. "user":"u17", compared bytewise, shorter first);
  * end of input fires every remaining window.

Keyed input ("keyed"): the input partition is the task and its order is the
offset order, so the simulation is exact: the oracle gives each task's
result sequence, and the late events it would drop.

Unkeyed input ("unkeyed"): events reach their task through the repartition
topic, in an order that depends on timing, so the oracle aggregates
(user, window) over all partitions. That equals the engine's output exactly
when no event is late, which the harness ensures by a max_out_of_orderness
far larger than any delay an event can suffer (disorder of the producer plus
the longest stall of a partition during a failover); the oracle checks the
part of that it can see (per input partition, no event is late).

The window results are plain dicts; expected_text() renders them exactly as
the engine does (aggregates in definition order, avg as %.17g).
"""

import argparse
import heapq
import json
import sys
from collections import defaultdict

AGGS = ("orders", "total", "smallest", "biggest", "mean")


class InputError(Exception):
    pass


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


def window_start(ts, size):
    return ts - (ts % size)  # Python's % floors: right for negative ts too


def key_text(user):
    """The key members as the engine writes them ("user":"u17")."""
    return '"user":' + json.dumps(user, ensure_ascii=False, separators=(",", ":"))


class Acc:
    __slots__ = ("n", "sum", "mn", "mx")

    def __init__(self):
        self.n = 0
        self.sum = 0
        self.mn = None
        self.mx = None

    def add(self, amount):
        self.n += 1
        self.sum += amount
        self.mn = amount if self.mn is None or amount < self.mn else self.mn
        self.mx = amount if self.mx is None or amount > self.mx else self.mx


def result_of(user, start, size, acc):
    """One window result as an ordered list of (name, value)."""
    return [("user", user), ("window_start", start), ("window_end", start + size),
            ("orders", acc.n), ("total", acc.sum), ("smallest", acc.mn),
            ("biggest", acc.mx), ("mean", float(acc.sum) / float(acc.n))]


def expected_text(result):
    """The result JSON exactly as the engine renders it."""
    out = []
    for name, v in result:
        if isinstance(v, float):
            s = "%.17g" % v
        else:
            s = json.dumps(v, ensure_ascii=False)
        out.append("%s:%s" % (json.dumps(name), s))
    return "{" + ",".join(out) + "}"


def simulate_task(events, size, ooo, close=True):
    """Exact per-task semantics over events in input order. Returns
    (results in emission order, late events list). With close=False the
    windows the watermark has not passed at the end stay open (no idle
    timeout, input not ended)."""
    by_end = {}  # window end -> {user: Acc}
    ends = []    # heap of the ends in by_end
    wm = None
    maxts = None
    out = []
    late = []

    def fire(end):
        users = by_end.pop(end)
        for user in sorted(users, key=lambda u: key_text(u).encode("utf-8")):
            out.append(result_of(user, end - size, size, users[user]))

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
        acc.add(amount)
        maxts = ts if maxts is None or ts > maxts else maxts
        new_wm = maxts - ooo
        if wm is None or new_wm > wm:
            wm = new_wm
            while ends and ends[0] <= wm:
                fire(heapq.heappop(ends))
    while ends and close:
        fire(heapq.heappop(ends))
    return out, late


def aggregate_all(parts, size):
    """Order-free aggregation over every partition: {(user, start): Acc}."""
    accs = {}
    for evs in parts.values():
        for _, ts, user, amount in evs:
            k = (user, window_start(ts, size))
            acc = accs.get(k)
            if acc is None:
                acc = accs[k] = Acc()
            acc.add(amount)
    return accs


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
        for (user, start), acc in aggregate_all(parts, size).items():
            results[(user, start)] = (None, result_of(user, start, size, acc))
    return {"results": results, "sequences": sequences, "late": late, "events": total,
            "max_ts": max_ts}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True,
                    help="kcat output: -f '%%p\\t%%o\\t%%s\\n' of the input topic")
    ap.add_argument("--mode", choices=("keyed", "unkeyed"), default="keyed")
    ap.add_argument("--window-ms", type=int, required=True)
    ap.add_argument("--ooo-ms", type=int, required=True, help="max_out_of_orderness")
    ap.add_argument("--no-close", action="store_true",
                    help="no idle timeout: windows still open at the end of input do not fire "
                         "(keyed only)")
    ap.add_argument("--out", help="write the expected results here, one JSON line each")
    a = ap.parse_args()
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


if __name__ == "__main__":
    sys.exit(main())
