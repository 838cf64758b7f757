#!/usr/bin/env python3
"""check_results.py - exactly-once checker of the fault tests.

  check_results.py check --bootstrap B --topic OUT --input IN.tsv \\
        --mode keyed|unkeyed --window-ms W --ooo-ms O [--results R.tsv]
      Reads the result topic fully (kcat) and checks it against the oracle
      (tests/lib/oracle.py) computed from the input topic as read back:
        * every result carries the headers sluice-task and sluice-seq;
        * every (sluice-task, sluice-seq) pair appears once;
        * every (user, window) appears once (no duplicate), none is
          missing, none is unexpected, none differs from the oracle (value
          and message key compared byte for byte);
        * per task, the sequence numbers are consecutive and, in sequence
          order, the results come in canonical firing order (window end,
          then key bytes); with keyed input each task's sequence is exactly
          the oracle's and the task is the input partition of the key.
      Prints a summary; on failure a diff summary (counts and the first
      examples of each kind). Exit status 0 when all checks pass.

  check_results.py follow --bootstrap B --topic OUT --out FILE
      Follows the result topic (kcat) and writes, for each result as it
      arrives, "WALL_MS<TAB>TASK<TAB>SEQ<TAB>WINDOW_END" to FILE. Stops on
      SIGTERM (and stops its kcat). Used to measure recovery time.

  check_results.py recovery [--results R.tsv] [--stamped FILE] --kill-ms T
        --tasks 1,5,9
      Recovery time: from the kill to the first result of a moved task
      produced after it (message timestamp) and received after it (follow
      output), and until every moved task produced again.

  check_results.py kills --results R.tsv --kills FILE
      Recovery time of each kill -9 of a soak run (see kills()).

  check_results.py ckpt-sample --out FILE DIR...
      Until SIGTERM, every 0.25 s, writes "WALL_MS DIR CHECKPOINT_ID BYTES"
      for each new complete checkpoint (manifest present) found in the
      checkpoint directories DIR: BYTES is the sum of its task snapshot
      files (the node's own; replica areas are subdirectories).
  check_results.py ckpt-sizes FILE
      Per directory, the median and largest checkpoint size sampled.

  check_results.py summaries FILE...
      Reads the JSON "summary" lines `sluice run` prints at exit and prints
      checkpoint counts, duration p50/p99 and size per node.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import oracle  # noqa: E402

MAX_EXAMPLES = 10


def kcat_read(bootstrap, topic, path):
    """Reads the whole topic into `path` (one TSV line per message)."""
    fmt = "%p\\t%o\\t%T\\t%h\\t%k\\t%s\\n"
    with open(path, "w", encoding="utf-8") as f:
        r = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning",
                            "-e", "-q", "-X", "fetch.message.max.bytes=4194304",
                            "-X", "fetch.max.bytes=52428800", "-X", "queued.min.messages=1000000",
                            "-X", "fetch.wait.max.ms=5", "-f", fmt], stdout=f, stderr=subprocess.PIPE,
                           timeout=300, check=False)
    if r.returncode != 0:
        raise RuntimeError("kcat could not read %s: %s" % (topic, r.stderr.decode(errors="replace")))


def parse_headers(h):
    out = {}
    if not h:
        return out
    for kv in h.split(","):
        k, _, v = kv.partition("=")
        out[k] = v
    return out


class Msg:
    __slots__ = ("part", "offset", "ts", "task", "seq", "key", "value", "user", "start", "end",
                 "bad")

    def __init__(self, line):
        self.bad = None
        p, o, ts, h, self.key, self.value = line.split("\t", 5)
        self.part, self.offset, self.ts = int(p), int(o), int(ts)
        hd = parse_headers(h)
        try:
            self.task = int(hd["sluice-task"])
            self.seq = int(hd["sluice-seq"])
        except (KeyError, ValueError):
            self.task = self.seq = None
            self.bad = "missing or malformed sluice-task/sluice-seq headers: %r" % h
        try:
            v = json.loads(self.value)
            self.user, self.start, self.end = v["user"], int(v["window_start"]), int(v["window_end"])
        except (ValueError, KeyError, TypeError) as e:
            self.user = self.start = self.end = None
            self.bad = "value is not a window result (%s)" % e

    def where(self):
        return "partition %d offset %d task %s seq %s" % (self.part, self.offset, self.task,
                                                          self.seq)


def read_results(path):
    msgs = []
    with open(path, "r", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                msgs.append(Msg(line))
    return msgs


class Report:
    def __init__(self):
        self.failures = []  # (title, count, [examples])

    def fail(self, title, examples):
        if examples:
            self.failures.append((title, len(examples), examples[:MAX_EXAMPLES]))

    def print(self, out):
        for title, n, ex in self.failures:
            print("FAIL %s: %d" % (title, n), file=out)
            for e in ex:
                print("    " + e, file=out)
            if n > len(ex):
                print("    ... and %d more" % (n - len(ex)), file=out)


def check(a):
    if a.results:
        rpath = a.results
    else:
        rpath = a.results_out or (a.input + ".results.tsv")
        kcat_read(a.bootstrap, a.topic, rpath)
    parts = oracle.read_input(a.input)
    exp = oracle.compute(parts, a.mode, a.window_ms, a.ooo_ms, not a.no_close)
    msgs = read_results(rpath)
    rep = Report()

    rep.fail("malformed results", ["%s: %s" % (m.where(), m.bad) for m in msgs if m.bad])
    good = [m for m in msgs if not m.bad]

    # Exactly once, by headers: every (task, seq) once.
    by_ts = defaultdict(list)
    for m in good:
        by_ts[(m.task, m.seq)].append(m)
    rep.fail("duplicated (sluice-task, sluice-seq) pairs",
             ["task %d seq %d written %d times: %s" % (k[0], k[1], len(v),
                                                        "; ".join(x.where() for x in v))
              for k, v in sorted(by_ts.items()) if len(v) > 1])

    # Exactly once, by content: every (user, window) once.
    by_win = defaultdict(list)
    for m in good:
        by_win[(m.user, m.start)].append(m)
    rep.fail("duplicated results (same user and window)",
             ["user %s window [%d,%d) %d times: %s" % (k[0], k[1], v[0].end, len(v),
                                                       "; ".join(x.where() for x in v))
              for k, v in sorted(by_win.items()) if len(v) > 1])

    # A key is always handled by one task.
    user_tasks = defaultdict(set)
    for m in good:
        user_tasks[m.user].add(m.task)
    rep.fail("keys whose results come from several tasks",
             ["user %s: tasks %s" % (u, sorted(t)) for u, t in sorted(user_tasks.items())
              if len(t) > 1])

    expected = exp["results"]
    if a.no_close and a.mode == "unkeyed":
        # Windows close by event time only: per task, those ending at or
        # before the task's highest event time - ooo. Tasks from headers.
        task_max = {}
        for u, ts in user_tasks.items():
            t = min(ts)
            if u in exp["max_ts"]:
                task_max[t] = max(task_max.get(t, exp["max_ts"][u]), exp["max_ts"][u])
        def closes(k):
            # An unknown user's task has seen at least that user's events.
            ts = user_tasks.get(k[0])
            top = task_max.get(min(ts)) if ts else None
            if top is None:
                top = exp["max_ts"].get(k[0])
            return top is not None and k[1] + a.window_ms <= top - a.ooo_ms
        expected = {k: v for k, v in expected.items() if closes(k)}
    missing = sorted(k for k in expected if k not in by_win)
    rep.fail("missing results (in the oracle, not in the topic)",
             ["user %s window_start %d (task %s): %s" % (k[0], k[1], expected[k][0],
                                                         oracle.expected_text(expected[k][1]))
              for k in missing])
    unexpected = sorted(k for k in by_win if k not in expected)
    rep.fail("unexpected results (in the topic, not in the oracle)",
             ["%s: %s" % (by_win[k][0].where(), by_win[k][0].value) for k in unexpected])
    wrong = []
    for k, ms in sorted(by_win.items()):
        if k not in expected:
            continue
        task, r = expected[k]
        want_v = oracle.expected_text(r)
        want_k = "{%s}" % oracle.key_text(k[0])
        for m in ms:
            if m.value != want_v or m.key != want_k:
                wrong.append("%s:\n      got      key %s value %s\n      expected key %s value %s"
                             % (m.where(), m.key, m.value, want_k, want_v))
            elif task is not None and m.task != task:
                wrong.append("%s: user %s belongs to input partition (task) %d" %
                             (m.where(), k[0], task))
    rep.fail("wrong results (differ from the oracle)", wrong)

    # Per task: consecutive sequence numbers, canonical order.
    tasks = defaultdict(list)
    for m in good:
        tasks[m.task].append(m)
    gaps, order = [], []
    for task, ms in sorted(tasks.items()):
        ms.sort(key=lambda m: m.seq)
        seqs = sorted(set(m.seq for m in ms))
        have = set(seqs)
        holes = [s for s in range(seqs[0], seqs[-1] + 1) if s not in have]
        if holes:
            gaps.append("task %d: seq %d..%d, %d missing (first: %s)" %
                        (task, seqs[0], seqs[-1], len(holes), holes[:5]))
        in_order = True
        prev = None
        for m in ms:
            cur = (m.end, oracle.key_text(m.user).encode("utf-8"))
            if prev is not None and cur < prev[0]:
                order.append("task %d: seq %d (window_end %d, %s) after seq %d (window_end %d, %s)"
                             % (task, m.seq, m.end, m.user, prev[1].seq, prev[1].end, prev[1].user))
                in_order = False
                break
            prev = (cur, m)
        if a.mode == "keyed" and task in exp["sequences"] and not holes and in_order:
            want = [oracle.expected_text(r) for r in exp["sequences"][task]]
            got = [m.value for m in ms]
            if got != want:
                first = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                             min(len(got), len(want)))
                order.append("task %d: result sequence differs from the oracle's at index %d "
                             "(got %d results, expected %d)" % (task, first, len(got), len(want)))
    rep.fail("gaps in per-task sequence numbers", gaps)
    rep.fail("results out of canonical order / sequence differs", order)

    if not expected:
        rep.fail("nothing to check: the oracle expects no result (is the stream shorter than "
                 "max_out_of_orderness?)", ["0 expected results"])
    ntasks = len(tasks)
    print("check: input %d events in %d partitions; oracle %d results (late %d); topic %d "
          "results from %d tasks; missing %d, unexpected %d, duplicated %d, wrong %d" %
          (exp["events"], len(parts), len(expected), exp["late"], len(msgs), ntasks,
           len(missing), len(unexpected), sum(len(v) - 1 for v in by_win.values() if len(v) > 1),
           len(wrong)))
    # One machine-readable line for the soak's totals.
    print("figures: expected=%d topic=%d missing=%d unexpected=%d duplicated=%d wrong=%d" %
          (len(expected), len(msgs), len(missing), len(unexpected),
           sum(len(v) - 1 for v in by_win.values() if len(v) > 1), len(wrong)))
    if exp["late"]:
        rep.fail("late events in the input (max_out_of_orderness of the test too small for the "
                 "producer's disorder: results would depend on timing)",
                 ["%d events late in input partition order" % exp["late"]])
    if rep.failures:
        rep.print(sys.stdout)
        print("check: FAILED (results in %s)" % rpath)
        return 1
    print("check: OK: every result exactly once and equal to the oracle")
    return 0


def follow(a):
    fmt = "%h\\t%s\\n"
    stop = {"now": False}

    def on_term(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    p = subprocess.Popen(["kcat", "-b", a.bootstrap, "-C", "-t", a.topic, "-o", "beginning",
                          "-u", "-q", "-f", fmt], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    os.set_blocking(p.stdout.fileno(), False)
    buf = b""
    with open(a.out, "w", encoding="utf-8") as out:
        while not stop["now"] and p.poll() is None:
            try:
                chunk = p.stdout.read()
            except (BlockingIOError, InterruptedError):
                chunk = None
            if not chunk:
                time.sleep(0.02)
                continue
            now = int(time.time() * 1000)
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                try:
                    h, v = line.decode("utf-8").split("\t", 1)
                    hd = parse_headers(h)
                    end = json.loads(v).get("window_end", -1)
                    out.write("%d\t%s\t%s\t%s\n" % (now, hd.get("sluice-task", "-"),
                                                    hd.get("sluice-seq", "-"), end))
                except ValueError:
                    out.write("%d\t-\t-\t-\n" % now)
            out.flush()
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return 0


def recovery(a):
    """Kill -> first result of a moved task, by the results' message
    timestamps (the sink's producer stamps CreateTime when it produces) and,
    when a follower ran, by arrival time there."""
    moved = set(int(t) for t in a.tasks.split(",") if t != "")
    if not moved:
        print("recovery: no moved tasks known")
        return 0

    def first_after(rows):
        first = {}
        for wall, task in rows:
            if task in moved and wall >= a.kill_ms and wall < first.get(task, wall + 1):
                first[task] = wall
        return first

    figures = []
    if a.results:
        rows = []
        for m in read_results(a.results):
            if not m.bad:
                rows.append((m.ts, m.task))
        figures.append(("produced", first_after(rows)))
    if a.stamped:
        rows = []
        with open(a.stamped, "r", encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 2 and parts[1] != "-":
                    rows.append((int(parts[0]), int(parts[1])))
        figures.append(("received by a follower", first_after(rows)))
    for how, first in figures:
        if not first:
            print("recovery: no result from the %d moved tasks after the kill (%s)%s" %
                  (len(moved), how, a.note))
            continue
        print("recovery (%s): kill -> first result of a moved task %d ms; %d/%d moved tasks "
              "producing again within %d ms%s"
              % (how, min(first.values()) - a.kill_ms, len(first), len(moved),
                 max(first.values()) - a.kill_ms, a.note))
    return 0


def kills(a):
    """Per kill -9 of a soak run (lines "KILL_MS<TAB>KIND<TAB>NODE<TAB>TASKS"
    in --kills): the time from the kill until the first result of a task
    the killed node owned, and until every such task produced again, by
    the results' produce timestamps. Prints one line per kill and
    "recovery-ms: first=.. all=.." lists for the totals."""
    rows = [(m.ts, m.task) for m in read_results(a.results) if not m.bad]
    firsts, alls = [], []
    with open(a.kills, "r", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                continue
            kill_ms, kind, node = int(parts[0]), parts[1], parts[2]
            moved = set(int(t) for t in parts[3].split(",") if t != "")
            first = {}
            for wall, task in rows:
                if task in moved and wall >= kill_ms and wall < first.get(task, wall + 1):
                    first[task] = wall
            if not moved:
                print("kill %s at %d (%s): it owned no task" % (node, kill_ms, kind))
                continue
            if not first:
                print("kill %s at %d (%s): no result from its %d tasks afterwards" %
                      (node, kill_ms, kind, len(moved)))
                continue
            f_ms = min(first.values()) - kill_ms
            a_ms = max(first.values()) - kill_ms
            firsts.append(f_ms)
            if len(first) == len(moved):
                alls.append(a_ms)
            print("kill %s at %d (%s): %d tasks moved; first result %d ms after the kill, "
                  "%d/%d tasks producing again within %d ms" %
                  (node, kill_ms, kind, len(moved), f_ms, len(first), len(moved), a_ms))
    print("recovery-ms: first=%s all=%s" % (",".join(map(str, firsts)) or "-",
                                           ",".join(map(str, alls)) or "-"))
    return 0


def summaries(a):
    agg = {"p50": [], "p99": [], "bytes": [], "completed": 0, "failed": 0}
    for path in a.files:
        found = None
        try:
            with open(path, "r", encoding="utf-8", errors="replace") as f:
                for line in f:
                    if '"summary"' not in line:
                        continue
                    try:
                        found = json.loads(line)["summary"]
                    except (ValueError, KeyError):
                        pass
        except OSError:
            pass
        name = os.path.basename(path)
        if not found:
            print("summary %s: none (the node did not exit cleanly)" % name)
            continue
        c = found.get("checkpoints") or {}
        print("summary %s: events_in %s, results_out %s, late_dropped %s, checkpoints "
              "completed %s failed %s, duration p50 %s ms p99 %s ms, last size %s bytes"
              % (name, found.get("events_in"), found.get("results_out"),
                 found.get("late_dropped"), c.get("completed"), c.get("failed"),
                 c.get("p50_ms"), c.get("p99_ms"), c.get("last_bytes")))
        if c:
            agg["completed"] += c.get("completed", 0)
            agg["failed"] += c.get("failed", 0)
            agg["p50"].append(c.get("p50_ms", 0))
            agg["p99"].append(c.get("p99_ms", 0))
            agg["bytes"].append(c.get("last_bytes", 0))
    if agg["p50"]:
        print("checkpoints: %d completed, %d failed; duration p50 %.1f ms (worst node), p99 "
              "%.1f ms (worst node); size of the last one %d bytes (largest node)"
              % (agg["completed"], agg["failed"], max(agg["p50"]), max(agg["p99"]),
                 max(agg["bytes"])))
    return 0


def ckpt_sample(a):
    stop = {"now": False}

    def on_term(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    seen = {d: set() for d in a.dirs}
    with open(a.out, "w", encoding="utf-8") as out:
        while not stop["now"]:
            for d in a.dirs:
                try:
                    names = os.listdir(d)
                except OSError:
                    continue
                ids = set()
                for n in names:
                    if n.startswith("manifest.ckpt-") and n.endswith(".slcm"):
                        try:
                            ids.add(int(n[len("manifest.ckpt-"):-len(".slcm")]))
                        except ValueError:
                            pass
                for cid in sorted(ids - seen[d]):
                    seen[d].add(cid)
                    suffix = ".ckpt-%d.slck" % cid
                    total = 0
                    for n in names:
                        if n.startswith("task-") and n.endswith(suffix):
                            try:
                                total += os.path.getsize(os.path.join(d, n))
                            except OSError:
                                pass
                    out.write("%d %s %d %d\n" % (int(time.time() * 1000), d, cid, total))
            out.flush()
            time.sleep(0.25)
    return 0


def ckpt_sizes(a):
    per = defaultdict(list)
    with open(a.file, "r", encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and int(parts[3]) > 0:
                per[parts[1]].append(int(parts[3]))
    allv = []
    for d in sorted(per):
        v = sorted(per[d])
        allv += v
        print("checkpoint size %s: %d checkpoints sampled, median %d bytes, largest %d bytes"
              % (os.path.basename(d), len(v), v[len(v) // 2], v[-1]))
    if allv:
        allv.sort()
        print("checkpoint size (all nodes): median %d bytes, largest %d bytes"
              % (allv[len(allv) // 2], allv[-1]))
    return 0


def main():
    ap = argparse.ArgumentParser(description="exactly-once checker of the fault tests")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--bootstrap")
    c.add_argument("--topic")
    c.add_argument("--results", help="already read result topic (TSV) instead of kcat")
    c.add_argument("--results-out", help="where to keep the result topic as read")
    c.add_argument("--input", required=True)
    c.add_argument("--mode", choices=("keyed", "unkeyed"), default="keyed")
    c.add_argument("--window-ms", type=int, required=True)
    c.add_argument("--ooo-ms", type=int, required=True)
    c.add_argument("--no-close", action="store_true",
                   help="the pipeline has no idle timeout: windows still open at the end of the "
                        "input are not expected")
    f = sub.add_parser("follow")
    f.add_argument("--bootstrap", required=True)
    f.add_argument("--topic", required=True)
    f.add_argument("--out", required=True)
    r = sub.add_parser("recovery")
    r.add_argument("--stamped", help="the follow output")
    r.add_argument("--results", help="the result topic as read by check")
    r.add_argument("--kill-ms", type=int, required=True)
    r.add_argument("--tasks", required=True)
    r.add_argument("--note", default="", help="appended to the figure")
    k = sub.add_parser("kills")
    k.add_argument("--results", required=True, help="the result topic as read by check")
    k.add_argument("--kills", required=True)
    cs = sub.add_parser("ckpt-sample")
    cs.add_argument("--out", required=True)
    cs.add_argument("dirs", nargs="+")
    cz = sub.add_parser("ckpt-sizes")
    cz.add_argument("file")
    s = sub.add_parser("summaries")
    s.add_argument("files", nargs="+")
    a = ap.parse_args()
    try:
        if a.cmd == "check":
            if not a.results and not (a.bootstrap and a.topic):
                ap.error("check needs --results or --bootstrap and --topic")
            return check(a)
        if a.cmd == "follow":
            return follow(a)
        if a.cmd == "recovery":
            return recovery(a)
        if a.cmd == "kills":
            return kills(a)
        if a.cmd == "ckpt-sample":
            return ckpt_sample(a)
        if a.cmd == "ckpt-sizes":
            return ckpt_sizes(a)
        return summaries(a)
    except (oracle.InputError, RuntimeError, OSError) as e:
        print("check_results: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
