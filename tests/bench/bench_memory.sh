#!/usr/bin/env bash
# Benchmark: memory of window state. N distinct keys (one JSON event each,
# all in one 1 h tumbling window, so every key is open at once) on stdin ->
# key_by -> count/sum/max -> null sink, through `sluice run` with 1 and 2
# workers. Prints the summary's window_state_bytes per (key, window), the
# peak RSS of the run (ru_maxrss of the child) minus that of a baseline run
# over the same number of events on 10 keys, as bytes per key and MiB per
# million keys, and what `sluice explain` estimates for the same pipeline.
# Usage: bench_memory.sh [keys]   (default 1,000,000)
set -euo pipefail
SLUICE=${SLUICE_BIN:-build/sluice}
N=${1:-1000000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# events.jsonl: N events, key u<i> for each i; base.jsonl: N events on 10
# keys. Same line lengths, same event times (all inside one hour).
python3 - "$N" "$dir" << 'PY'
import sys
n, d = int(sys.argv[1]), sys.argv[2]
base = 1700000000000
for name, nkeys in (("events", n), ("base", 10)):
    with open("%s/%s.jsonl" % (d, name), "w") as f:
        for i in range(n):
            f.write('{"user":"u%07d","amount":%d,"ts":%d}\n'
                    % (i % nkeys, i % 1000, base + i * 3000 // n))
PY

# pipeline FILE WORKERS: the definition, reading stdin.
pipeline() {
  cat > "$1" << JSON
{"name":"bench-memory","source":{"type":"file","path":"-",
  "event_time":{"field":"ts","unit":"ms"},"watermark":{"max_out_of_orderness":"100ms"}},
 "pipeline":[{"key_by":["user"]},{"window":{"type":"tumbling","size":"1h"},
   "aggregates":{"n":{"fn":"count"},"total":{"fn":"sum","field":"amount"},"top":{"fn":"max","field":"amount"}}}],
 "sink":{"type":"null"},"runtime":{"workers":$2,"batch_size":1024},"http":{"addr":"off"}}
JSON
}

# measure PIPELINE INPUT: prints "<window_state_bytes> <peak RSS KiB>
# <windows_fired> <events_in>" of one `sluice run` reading INPUT on stdin.
# The pipe stays open after the input, so no end of stream closes the
# windows; once the run is quiet, SIGTERM stops the run with every window still open (a
# stop fires nothing) and the summary reports the state held. A fresh
# python per run, so RUSAGE_CHILDREN's ru_maxrss is that run's peak RSS.
measure() {
  python3 - "$SLUICE" "$1" "$2" << 'PY'
import json, resource, signal, subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "run", "--no-status", sys.argv[2]], stdin=subprocess.PIPE,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
with open(sys.argv[3], "rb") as f:
    while True:
        block = f.read(1 << 20)
        if not block:
            break
        p.stdin.write(block)
p.stdin.flush()
# Wait until the run is quiet (its CPU time stops growing), at most 60 s.
def cpu():
    with open("/proc/%d/stat" % p.pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return int(v[11]) + int(v[12])
last, t0 = cpu(), time.time()
while time.time() - t0 < 60:
    time.sleep(0.5)
    now = cpu()
    if now - last <= 1:
        break
    last = now
p.send_signal(signal.SIGTERM)
err = p.stderr.read().decode()
p.wait()
p.stdin.close()
s = None
for line in err.splitlines():
    if line.startswith('{"summary"'):
        s = json.loads(line)["summary"]
if s is None:
    sys.exit("sluice run failed (%d): %s" % (p.returncode, err[-2000:]))
print(s["window_state_bytes"], resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
      s["windows_fired"], s["events_in"])
PY
}

echo "bench_memory: $N distinct keys x 1 event on stdin, one tumbling 1h window (all open when the run is stopped), count/sum/max, null sink"
echo "  baseline: $N events on 10 keys; per key = (figure - baseline figure) / keys"
for w in 1 2; do
  pipeline "$dir/p.json" "$w"
  explain=$("$SLUICE" explain "$dir/p.json" | grep '^window state:')
  est=$(echo "$explain" | sed -n 's/^window state: ~\([0-9]*\) B per key = \([0-9]*\) open.*/\1 \2/p')
  read -r state rss fired nin < <(measure "$dir/p.json" "$dir/events.jsonl")
  read -r bstate brss _ _ < <(measure "$dir/p.json" "$dir/base.jsonl")
  python3 - "$N" "$w" "$state" "$rss" "$brss" "$bstate" "$est" "$fired" "$nin" << 'PY'
import sys
n, w, state, rss, brss, bstate, est, fired, nin = sys.argv[1:]
n, state, rss, brss, bstate = int(n), int(state), int(rss), int(brss), int(bstate)
est = est.split() or ["?", "?"]
print("  %s worker(s): window_state_bytes %d (baseline %d): %.1f B per key-window; "
      "sluice explain estimates ~%s B per key for %s open windows (~%.0f B per key-window)"
      % (w, state, bstate, (state - bstate) / n, est[0], est[1],
         float(est[0]) / float(est[1]) if est[1] != "?" else 0))
print("              peak RSS %.1f MiB (baseline %.1f MiB): %.1f B per key = %.1f MiB per million keys"
      "  [events_in %s, windows fired %s]" % (rss / 1024, brss / 1024, (rss - brss) * 1024 / n,
                                            (rss - brss) / 1024 * 1e6 / n, nin, fired))
PY
done
