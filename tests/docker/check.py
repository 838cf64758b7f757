#!/usr/bin/env python3
"""Checks for the Docker test (standard library only).

  check.py metrics FILE            FILE is a /metrics body: every line a
                                   comment or `name{labels} value`, TYPE
                                   before samples, the sluice_* families
                                   present. Prints the sample count.
  check.py oracle INPUT OUTPUT     INPUT:  kcat dump of the input topic,
                                           lines "PARTITION<TAB>OFFSET<TAB>JSON"
                                   OUTPUT: kcat dump of the result topic,
                                           lines "PARTITION<TAB>OFFSET<TAB>JSON"
                                   Recomputes the example pipeline
                                   (deploy/pipelines/orders-per-user.json:
                                   amount >= 0, key user, tumbling 1s,
                                   out-of-orderness 100ms, lateness 0,
                                   count/sum/min/max/avg) per input
                                   partition with tests/lib/oracle.py,
                                   and
                                   compares: nothing missing, duplicated or
                                   wrong. Exit 0 when exact.
  check.py expected INPUT          number of results the oracle expects.
  check.py count OUTPUT            number of result records in a dump.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import oracle as window_oracle  # noqa: E402

WINDOW_MS = 1000
OOO_MS = 100

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
VALUE = r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]Inf|NaN)"
SAMPLE = re.compile(rf"^({NAME})(\{{(?:{LABEL}(?:,{LABEL})*,?)?\}})? ({VALUE})(?: -?[0-9]+)?$")
TYPE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")
HELP = re.compile(rf"^# HELP ({NAME})(?: .*)?$")

REQUIRED = [
    "sluice_events_in_total", "sluice_events_out_total", "sluice_bad_events_total",
    "sluice_late_events_total", "sluice_consumer_lag", "sluice_watermark_lag_seconds",
    "sluice_checkpoint_duration_seconds", "sluice_checkpoint_size_bytes",
    "sluice_checkpoint_failures_total", "sluice_ring_occupancy",
    "sluice_window_state_bytes", "sluice_results_emitted_total",
    "sluice_process_resident_memory_bytes",
]


def check_metrics(path):
    text = open(path, encoding="utf-8").read()
    if text and not text.endswith("\n"):
        sys.exit("metrics: no final newline")
    types = {}
    samples = 0
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        if line.startswith("#"):
            m = TYPE.match(line)
            if m:
                if m.group(1) in types:
                    sys.exit(f"metrics line {n}: second TYPE for {m.group(1)}")
                types[m.group(1)] = m.group(2)
            elif line.startswith("# HELP") and not HELP.match(line):
                sys.exit(f"metrics line {n}: bad HELP: {line!r}")
            continue
        m = SAMPLE.match(line)
        if not m:
            sys.exit(f"metrics line {n}: not `name{{labels}} value`: {line!r}")
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in types and types.get(base) not in ("histogram", "summary"):
            sys.exit(f"metrics line {n}: {name} has no TYPE before it")
        samples += 1
    missing = [r for r in REQUIRED if r not in types]
    if missing:
        sys.exit(f"metrics: missing families {missing}")
    print(samples)


def read_dump(path):
    """Yields (partition, offset, payload) from a kcat dump."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            p, o, payload = line.split("\t", 2)
            yield int(p), int(o), payload


def oracle(input_path):
    """The example pipeline's results per input partition (the task), from
    tests/lib/oracle.py: {(user, window_start): {aggregate: value}}, the
    number of late events, the number of input events."""
    by_partition = {}
    for p, o, payload in read_dump(input_path):
        by_partition.setdefault(p, []).append((o, payload))
    expected = {}
    late = 0
    for p, events in by_partition.items():
        events.sort()
        evs = []
        for o, payload in events:
            ev = json.loads(payload)
            if not ev.get("amount", -1) >= 0:
                continue
            evs.append((o, int(ev["ts"]), ev["user"], ev["amount"]))
        results, lt = window_oracle.simulate_task(evs, WINDOW_MS, OOO_MS)
        late += len(lt)
        for r in results:
            r = dict(r)
            expected[(r["user"], r["window_start"])] = {
                k: r[k] for k in ("orders", "total", "smallest", "biggest")}
    return expected, late, sum(len(v) for v in by_partition.values())


def same(exp, res):
    """Compares the aggregates the result carries (mean within rounding)."""
    for name, v in exp.items():
        if name in res and (res[name] != v or isinstance(res[name], float) != isinstance(v, float)):
            return False  # a double prints with '.' or an exponent: same value, same type
    if "mean" in res and (not isinstance(res["mean"], float) or
                          abs(res["mean"] - exp["total"] / exp["orders"]) > 1e-9 * max(1, exp["total"])):
        return False
    return True


def check_oracle(input_path, output_path):
    expected, late, nin = oracle(input_path)
    got = {}
    dups = 0
    bad = 0
    for _, _, payload in read_dump(output_path):
        r = json.loads(payload)
        key = (r["user"], r["window_start"])
        if r["window_end"] != r["window_start"] + WINDOW_MS:
            bad += 1
        if key in got:
            dups += 1
        got[key] = r
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    wrong = [k for k in expected if k in got and not same(expected[k], got[k])]
    print(f"input events {nin}, late {late}, expected results {len(expected)}, "
          f"got {len(got)} distinct, duplicates {dups}, missing {len(missing)}, "
          f"extra {len(extra)}, wrong {len(wrong)}, bad windows {bad}")
    for k in (missing[:3] + extra[:3] + wrong[:3]):
        print("  e.g.", k, "expected", expected.get(k), "got", got.get(k))
    if nin == 0 or dups or missing or extra or wrong or bad:
        sys.exit(1)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "metrics":
        check_metrics(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "oracle":
        check_oracle(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "expected":
        print(len(oracle(sys.argv[2])[0]))
    elif len(sys.argv) == 3 and sys.argv[1] == "count":
        print(sum(1 for _ in read_dump(sys.argv[2])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
