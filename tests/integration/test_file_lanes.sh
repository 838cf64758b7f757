#!/bin/bash
# A regular file read by several lanes (one per worker, chunks aligned to
# line starts, taken in turn by the workers) gives the results of one
# lane: random input with disorder, skewed keys, late events, malformed,
# blank, CRLF and too-large lines (some longer than a chunk), and no
# newline at the end, in chunks of 64 KiB (so hundreds of chunks, some
# empty).
#  1. Without late events (the disorder within max_out_of_orderness):
#     every result of 1 and of 3 workers against a brute-force oracle
#     (count, sum, max, first, last per key and 1 s window).
#  2. With late events: 1, 2 and 3 workers give the same results, the
#     same dead letters (reason and line number of each) and the same
#     summary counters; the dead letters' line numbers are the lines of
#     the file that hold those events.
# The input is new each run: the seed is printed, SLUICE_LANES_SEED fixes it.
source "$(dirname "$0")/kafka_lib.sh"

SEED=${SLUICE_LANES_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
say "seed $SEED (rerun with SLUICE_LANES_SEED=$SEED)"

# gen LATE FILE: writes the input and, beside it, FILE.bad (line numbers
# and reasons of the lines the decoder must reject).
gen() {
    "$PY" - "$SEED" "$1" "$2" << 'PY'
import json, random, sys
seed, late, path = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
rnd = random.Random(seed)
base = 1700000000000
keys = ["k%d" % i for i in range(400)]
weights = [1.0 / (i + 1) for i in range(len(keys))]       # skewed
lines, bad = [], []
t = base
for i in range(60000):
    r = rnd.random()
    n = len(lines) + 1
    if r < 0.004:
        lines.append('{"user":"k1","amount":'); bad.append((n, "malformed_json")); continue
    if r < 0.008:
        lines.append(""); continue
    if r < 0.0085:
        big = "x" * rnd.choice([1100000, 70000, 200000])
        if len(big) > 1 << 20:
            bad.append((n, "too_large"))
            lines.append('{"user":"k2","amount":1,"ts":%d,"pad":"%s"}' % (t, big))
        else:
            lines.append('{"user":"k2","amount":1,"ts":%d,"pad":"%s"}' % (t, big))
            lines.append("")  # keeps the counting simple below
        continue
    t += rnd.choice([0, 0, 1, 2, 5])
    ts = t - rnd.randrange(40)
    if late and rnd.random() < 0.02:
        ts -= rnd.randrange(300, 3000)
    ev = '{"user":"%s","amount":%d,"ts":%d}' % (rnd.choices(keys, weights)[0], rnd.randrange(-50, 1000), ts)
    if rnd.random() < 0.05:
        ev += "\r"
    lines.append(ev)
with open(path, "w", newline="") as f:
    f.write("\n".join(lines))          # no newline after the last line
with open(path + ".bad", "w") as f:
    for n, why in bad:
        f.write("%d %s\n" % (n, why))
PY
}

# run WORKERS FILE OUTDIR: the pipeline over FILE with WORKERS workers.
run() {
    local w=$1 in=$2 out=$3
    mkdir -p "$out"
    cat > "$out/p.json" << JSON
{"name":"lanes","source":{"type":"file","path":"$in","chunk_bytes":65536,
  "event_time":{"field":"ts","unit":"ms"},"watermark":{"max_out_of_orderness":"100ms"}},
 "pipeline":[{"key_by":["user"]},{"window":{"type":"tumbling","size":"1s"},
   "aggregates":{"n":{"fn":"count"},"total":{"fn":"sum","field":"amount"},
     "top":{"fn":"max","field":"amount"},"f":{"fn":"first","field":"amount"},
     "l":{"fn":"last","field":"amount"}}}],
 "sink":{"type":"file","path":"$out/results.jsonl"},
 "dead_letter":{"type":"file","path":"$out/dead.jsonl"},
 "runtime":{"workers":$w,"tasks":8},"http":{"addr":"off"}}
JSON
    "$SLUICE_BIN" run --no-status "$out/p.json" > "$out/stdout" 2> "$out/log" ||
        fail "run with $w workers failed: $(tail -n 5 "$out/log")"
    grep '^{"summary"' "$out/log" > "$out/summary.json" || fail "no summary ($w workers)"
}

# The lanes a run used: the explain output names them.
lanes_of() {
    "$SLUICE_BIN" explain "$1/p.json" 2> /dev/null | grep -o '[0-9]* source lane' | head -n 1 | cut -d' ' -f1
}

# 1. No late events: against the oracle.
gen 0 "$WORK/in1.jsonl"
run 3 "$WORK/in1.jsonl" "$WORK/o1-3"
[ "$(lanes_of "$WORK/o1-3")" = 3 ] || fail "3 workers should read the file with 3 lanes: $("$SLUICE_BIN" explain "$WORK/o1-3/p.json" 2>&1 | grep lane)"
for w in 1 3; do
    run $w "$WORK/in1.jsonl" "$WORK/o1-$w"
    "$PY" - "$WORK/in1.jsonl" "$WORK/o1-$w" "$w" << 'PY' || fail "oracle mismatch ($w workers)"
import json, sys
path, out, w = sys.argv[1], sys.argv[2], sys.argv[3]
agg = {}
for no, line in enumerate(open(path, newline=""), 1):
    line = line.rstrip("\n").rstrip("\r")
    if not line:
        continue
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if len(line) > 1 << 20:
        continue
    ws = e["ts"] // 1000 * 1000
    k = (e["user"], ws)
    a = agg.get(k)
    # first / last: smallest / largest event time, ties by line (offset)
    if a is None:
        agg[k] = a = [1, e["amount"], e["amount"], e["amount"], e["amount"], (e["ts"], no), (e["ts"], no)]
    else:
        a[0] += 1; a[1] += e["amount"]; a[2] = max(a[2], e["amount"])
        if (e["ts"], no) < a[5]:
            a[5], a[3] = (e["ts"], no), e["amount"]
        if (e["ts"], no) > a[6]:
            a[6], a[4] = (e["ts"], no), e["amount"]
want = sorted(json.dumps({"user": k[0], "window_start": k[1], "window_end": k[1] + 1000,
                          "n": a[0], "total": a[1], "top": a[2], "f": a[3], "l": a[4]},
                         sort_keys=True) for k, a in agg.items())
got = sorted(json.dumps(json.loads(l), sort_keys=True) for l in open(out + "/results.jsonl"))
s = json.loads(open(out + "/summary.json").read())["summary"]
if s["late_dropped"] != 0:
    sys.exit("late_dropped %d, expected none" % s["late_dropped"])
if got != want:
    missing = set(want) - set(got); extra = set(got) - set(want)
    sys.exit("%d results, oracle %d; missing %s; extra %s" % (len(got), len(want), sorted(missing)[:3], sorted(extra)[:3]))
print("  %s worker(s): %d results equal the oracle's" % (w, len(got)))
PY
done

# 2. Late events: 1, 2 and 3 workers agree, dead letters included.
gen 1 "$WORK/in2.jsonl"
for w in 1 2 3; do
    run $w "$WORK/in2.jsonl" "$WORK/o2-$w"
done
"$PY" - "$WORK/in2.jsonl" "$WORK" << 'PY' || fail "runs with 1, 2 and 3 workers differ"
import json, sys
path, work = sys.argv[1], sys.argv[2]
def load(w):
    d = "%s/o2-%d" % (work, w)
    res = sorted(json.dumps(json.loads(l), sort_keys=True) for l in open(d + "/results.jsonl"))
    dead = sorted((json.loads(l)["offset"], json.loads(l)["reason"]) for l in open(d + "/dead.jsonl"))
    s = json.loads(open(d + "/summary.json").read())["summary"]
    keep = {k: s[k] for k in ("events_in", "bad", "late_dropped", "windows_fired", "results_out", "lines")}
    return res, dead, keep
base = load(1)
if base[2]["late_dropped"] == 0:
    sys.exit("the input has no late events: the test cannot tell")
lines = open(path, newline="").read().split("\n")
want_bad = sorted((int(n), why) for n, why in (l.split() for l in open(path + ".bad")))
bad = [(n, r) for n, r in base[1] if r != "late"]
if bad != want_bad:
    sys.exit("dead letters (not late) %s..., expected %s..." % (bad[:3], want_bad[:3]))
for n, r in base[1]:
    if r == "late" and '"ts":' not in lines[n - 1]:
        sys.exit("late dead letter at line %d, which holds no event" % n)
for w in (2, 3):
    got = load(w)
    for name, a, b in zip(("results", "dead letters", "summary"), base, got):
        if a != b:
            sys.exit("%d workers: %s differ from 1 worker's (%s vs %s)" % (w, name, str(b)[:200], str(a)[:200]))
print("  1, 2, 3 workers: %d results, %d dead letters (%d late) identical; line numbers right"
      % (len(base[0]), len(base[1]), base[2]["late_dropped"]))
PY
say "PASS"
