#!/usr/bin/env bash
# Benchmark: the cost of checkpoints. The pipeline of bench_file.sh (a
# JSON-lines file -> decode -> key_by -> tumbling 1 s count/sum/max -> null
# sink, through `sluice run`, 2 workers) without checkpoints and with
# "checkpoint": {"interval": "1s", "dir": <tmp>, "replicas": 0}, the two
# alternating, best of R each. Prints events/s of both, the ratio, and the
# checkpoints' count, size and p50/p99 duration from the summary.
#
# What the durations measure (engine/checkpoint/checkpoint.c): from the
# start of a checkpoint (barriers injected into the source lanes) until it
# is durable: every task has snapshotted at its barrier, the sink thread has
# collected the snapshots and the files are written and synced. That is
# the checkpoint's latency, not a pause: a worker stops only to serialize
# its tasks' window state when the barrier reaches it
# (engine/runtime/worker_checkpoint.c, sl__task_snapshot); the writing
# runs on the checkpoint coordinator thread while the workers go on. The
# engine exposes no per-worker pause, so the throughput ratio is the cost.
# Usage: bench_checkpoint.sh [events] [reps]   (default 16,000,000 and 5)
set -euo pipefail
SLUICE=${SLUICE_BIN:-build/sluice}
N=${1:-16000000}
R=${2:-5}
W=2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 "$(dirname "$0")/bench_events.py" "$N" "$dir/events.jsonl"

# pipeline FILE CHECKPOINT_MEMBER
pipeline() {
  cat > "$1" << JSON
{"name":"bench-checkpoint","source":{"type":"file","path":"$dir/events.jsonl",
  "event_time":{"field":"ts","unit":"ms"},"watermark":{"max_out_of_orderness":"100ms"}},
 "pipeline":[{"key_by":["user"]},{"window":{"type":"tumbling","size":"1s"},
   "aggregates":{"n":{"fn":"count"},"total":{"fn":"sum","field":"amount"},"top":{"fn":"max","field":"amount"}}}],
 "sink":{"type":"null"},"runtime":{"workers":$W,"batch_size":1024},"http":{"addr":"off"}$2}
JSON
}
pipeline "$dir/off.json" ""
pipeline "$dir/on.json" ",\"checkpoint\":{\"interval\":\"1s\",\"dir\":\"$dir/ckpt\",\"replicas\":0}"

# run PIPELINE: one line "<events/s> <elapsed s> <checkpoint stats...>".
run() {
  rm -rf "$dir/ckpt"
  "$SLUICE" run --no-status "$1" 2>&1 > /dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    if line.startswith("{\"summary\""):
        s = json.loads(line)["summary"]
        c = s["checkpoints"]
        if isinstance(c, dict):
            print(s["events_per_s"], s["elapsed_s"], c["completed"], c["failed"], "%.1f" % c["p50_ms"],
                  "%.1f" % c["p99_ms"], c["last_bytes"], c["final"], "%.2f" % c["worker_pause_max_ms"])
        else:
            print(s["events_per_s"], s["elapsed_s"], c)'
}

echo "bench_checkpoint: $N events, 10000 keys, tumbling 1s count/sum/max, null sink, $W workers, best of $R"
cat "$dir/events.jsonl" > /dev/null # warm the page cache
best_off=0 best_on=0 on_stats=""
for rep in $(seq "$R"); do
  read -r rate el _ < <(run "$dir/off.json")
  echo "  run $rep, checkpoints off:  $rate events/s (${el} s)"
  [ "$rate" -gt "$best_off" ] && best_off=$rate
  read -r rate el ndone failed p50 p99 bytes final pause < <(run "$dir/on.json")
  echo "  run $rep, checkpoints 1s:   $rate events/s (${el} s; $ndone completed, $failed failed," \
    "p50 ${p50} ms, p99 ${p99} ms, last $bytes bytes, final $final, longest worker pause $pause ms)"
  if [ "$rate" -gt "$best_on" ]; then
    best_on=$rate
    on_stats="$ndone completed, p50 ${p50} ms, p99 ${p99} ms start-to-durable, last checkpoint $bytes bytes, longest worker pause $pause ms"
  fi
done
echo "  checkpoints off: $best_off events/s (best of $R)"
echo "  checkpoints 1s:  $best_on events/s (best of $R; $on_stats)"
python3 -c "import sys; print('  ratio with/without: %.3f' % (int(sys.argv[2]) / int(sys.argv[1])))" \
  "$best_off" "$best_on"
