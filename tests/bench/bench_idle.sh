#!/usr/bin/env bash
# Benchmark: CPU use of an idle pipeline. Starts `sluice kafka-mock` (one
# topic of 4 partitions, no traffic) and a node reading it (Kafka source ->
# key_by -> tumbling 10 s count -> null sink), once with the default
# checkpoints (every 1 s into a temporary dir, no replicas) and once with
# "checkpoint": "off". After SETTLE s it reads the node's utime+stime from
# /proc/PID/stat over MEASURE s and prints them as a percentage of one core
# (the mock's own CPU over the same time beside it). Every process is
# stopped by its PID.
# Usage: bench_idle.sh [measure_s] [settle_s]   (default 20 and 5)
set -euo pipefail
SLUICE=${SLUICE_BIN:-build/sluice}
MEASURE=${1:-20}
SETTLE=${2:-5}
HZ=$(getconf CLK_TCK)
dir=$(mktemp -d)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2> /dev/null || true
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2> /dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT

# cpu_ticks PID: utime + stime of PID (all its threads), in clock ticks.
cpu_ticks() {
  # Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
  sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# thread_ticks PID: "TID TICKS NAME" per thread of PID.
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    [ -r "$t/stat" ] || continue
    echo "${t##*/} $(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}') $(tr ' ' _ < "$t/comm")"
  done
}

"$SLUICE" kafka-mock --topic idle:4 --bootstrap-file "$dir/bootstrap" > "$dir/mock.out" 2> "$dir/mock.log" &
MOCK=$!
PIDS+=("$MOCK")
for _ in $(seq 100); do
  [ -s "$dir/bootstrap" ] && break
  sleep 0.05
done
[ -s "$dir/bootstrap" ] || { echo "kafka-mock did not start: $(tail -n 5 "$dir/mock.log")"; exit 1; }
B=$(cat "$dir/bootstrap")

echo "bench_idle: node with a Kafka source (kafka-mock, 4 partitions, no traffic) -> key_by -> tumbling 10s count -> null sink;"
echo "  settle ${SETTLE}s, then CPU time (utime+stime from /proc/PID/stat) over ${MEASURE}s, as % of one core"
for mode in on off; do
  if [ $mode = on ]; then
    ck="{\"interval\":\"1s\",\"dir\":\"$dir/ckpt\",\"replicas\":0}"
    label="checkpoints every 1s"
  else
    ck='"off"'
    label="checkpoints off     "
  fi
  cat > "$dir/p.json" << JSON
{"name":"bench-idle","source":{"type":"kafka","topics":["idle"],"group_id":"bench-idle-$mode",
  "start":"earliest","properties":{"bootstrap.servers":"$B"},
  "event_time":{"field":"ts","unit":"ms"},"watermark":{"max_out_of_orderness":"100ms"}},
 "pipeline":[{"key_by":["user"]},{"window":{"type":"tumbling","size":"10s"},
   "aggregates":{"n":{"fn":"count"}}}],
 "sink":{"type":"null"},"checkpoint":$ck,"http":{"addr":"off"}}
JSON
  "$SLUICE" run --no-status "$dir/p.json" > /dev/null 2> "$dir/node-$mode.log" &
  NODE=$!
  PIDS+=("$NODE")
  sleep "$SETTLE"
  kill -0 "$NODE" 2> /dev/null || { echo "the node exited: $(tail -n 5 "$dir/node-$mode.log")"; exit 1; }
  n0=$(cpu_ticks "$NODE") m0=$(cpu_ticks "$MOCK") t0=$(date +%s%N)
  thread_ticks "$NODE" > "$dir/threads0"
  sleep "$MEASURE"
  n1=$(cpu_ticks "$NODE") m1=$(cpu_ticks "$MOCK") t1=$(date +%s%N)
  thread_ticks "$NODE" > "$dir/threads1"
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$NODE/status")
  kill "$NODE"
  wait "$NODE" || true
  keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$NODE" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  python3 - "$label" "$HZ" "$n0" "$n1" "$m0" "$m1" "$t0" "$t1" "$threads" "$dir" "$NODE" << 'PY'
import collections, sys
label, hz, n0, n1, m0, m1, t0, t1, threads = sys.argv[1], *map(int, sys.argv[2:10])
secs = (t1 - t0) / 1e9
print("  %s: node %.2f%% of one core (%.2f s CPU in %.1f s, %d threads); kafka-mock %.2f%%"
      % (label, 100.0 * (n1 - n0) / hz / secs, (n1 - n0) / hz, secs, threads,
         100.0 * (m1 - m0) / hz / secs))
# The busiest threads (by thread id; the main thread's is the PID).
def load(path):
    return {tid: (int(ticks), name) for tid, ticks, name in (l.split() for l in open(path))}
a, b = load(sys.argv[10] + "/threads0"), load(sys.argv[10] + "/threads1")
by = collections.Counter()
for tid, (ticks, name) in b.items():
    by["%s %s" % (tid, "main" if tid == sys.argv[11] else name)] += ticks - a.get(tid, (0, name))[0]
top = ["%s %.2f%%" % (tid, 100.0 * t / hz / secs) for tid, t in by.most_common(8) if t > 0]
print("      busiest threads: %s" % (", ".join(top) or "none"))
PY
done
