#!/usr/bin/env bash
# sluice run as a service: /healthz, /readyz, /metrics (valid Prometheus
# text), /api/status, ${VAR} substitution, and SIGTERM (exit 0 within a
# bounded time, a final checkpoint on disk); a second SIGTERM exits at once.
set -euo pipefail
SLUICE=${SLUICE_BIN:?}
dir=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat > "$dir/p.json" <<'JSON'
{"name":"${PIPE_NAME:-svc-test}",
 "source":{"type":"generator","keys":20,"count":0,"rate":${RATE:-5000},
   "event_time":{"field":"ts","unit":"ms"},"watermark":{"max_out_of_orderness":"50ms"}},
 "pipeline":[{"key_by":["user"]},{"window":{"type":"tumbling","size":"100ms"},
   "aggregates":{"n":{"fn":"count"},"total":{"fn":"sum","field":"amount"}}}],
 "sink":{"type":"file","path":"${OUT}"},
 "checkpoint":{"interval":"200ms","dir":"/nonexistent-overridden","keep":2},
 "runtime":{"workers":2}}
JSON
export OUT="$dir/out.jsonl" SLUICE_CHECKPOINT_DIR="$dir/ckpt" SLUICE_HTTP_ADDR="127.0.0.1:$port"

# validate checks the result of substitution
[ "$("$SLUICE" validate "$dir/p.json")" = ok ] || fail "validate"
RATE=abc "$SLUICE" validate "$dir/p.json" 2>/dev/null && fail "substituted garbage accepted"

"$SLUICE" run --no-status "$dir/p.json" 2>"$dir/log" &
pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1
done
[ "$(curl -s "http://127.0.0.1:$port/healthz")" = ok ] || fail "/healthz"
for _ in $(seq 1 50); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break; sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] || fail "/readyz"
sleep 1
curl -s "http://127.0.0.1:$port/metrics" > "$dir/metrics"
python3 - "$dir/metrics" <<'PY' || fail "/metrics"
import re, sys
text = open(sys.argv[1]).read()
sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+]?([0-9.]+([eE][-+]?[0-9]+)?|NaN|\+Inf|-Inf)$')
names = set()
for line in text.splitlines():
    if line.startswith("#"):
        assert re.match(r'^# (HELP|TYPE) ', line), line
        continue
    assert sample.match(line), "bad line: " + line
    names.add(line.split("{")[0].split(" ")[0])
need = ["sluice_events_in_total", "sluice_events_out_total", "sluice_bad_events_total",
        "sluice_late_events_total", "sluice_watermark_lag_seconds", "sluice_checkpoint_duration_seconds_bucket",
        "sluice_checkpoint_size_bytes", "sluice_checkpoint_failures_total", "sluice_ring_occupancy",
        "sluice_window_state_bytes", "sluice_results_emitted_total", "sluice_process_resident_memory_bytes"]
missing = [n for n in need if n not in names]
assert not missing, "missing metrics: %s" % missing
ckpt = [l for l in text.splitlines() if l.startswith("sluice_checkpoints_total")]
assert ckpt and float(ckpt[0].split()[-1]) > 0, "no checkpoint completed: %s" % ckpt
PY
curl -s "http://127.0.0.1:$port/api/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["pipeline"] == "svc-test" and s["ready"] is True, s
assert len(s["tasks"]) > 0 and s["checkpoint"]["last_durable"] > 0, s
' || fail "/api/status"

# SIGTERM: final checkpoint, exit 0, bounded time
t0=$(date +%s%N)
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" = 0 ] || { cat "$dir/log"; fail "exit code $rc after SIGTERM"; }
[ "$ms" -lt 10000 ] || fail "SIGTERM took ${ms} ms"
grep -q "final checkpoint before stopping is durable" "$dir/log" || { cat "$dir/log"; fail "no final checkpoint"; }
ls "$dir/ckpt" | grep -q . || fail "checkpoint directory empty"
[ -s "$dir/out.jsonl" ] || fail "no results written"
echo "SIGTERM -> exit 0 in ${ms} ms with a final checkpoint"

# A second SIGTERM exits at once: with a replica peer that never answers,
# the final checkpoint waits (replica timeout 30 s); the second signal must
# not wait for it.
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
listen=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed 's/"keep":2}/"keep":2,"replicas":1,"replica_timeout":"30s"}/' "$dir/p.json" > "$dir/p2.json"
SLUICE_LISTEN="tcp://127.0.0.1:$listen" SLUICE_PEERS="tcp://127.0.0.1:$dead" SLUICE_HTTP_ADDR=off \
  "$SLUICE" run --no-status "$dir/p2.json" 2>"$dir/log2" &
pid=$!
sleep 1
kill -TERM "$pid"
sleep 0.5
kill -0 "$pid" 2>/dev/null || { cat "$dir/log2"; fail "first SIGTERM did not wait for the replica"; }
t0=$(date +%s%N)
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 2000 ] || fail "second SIGTERM took ${ms} ms"
[ "$rc" != 0 ] || fail "second SIGTERM exit code 0"
echo "second SIGTERM -> exit $rc in ${ms} ms"
echo "1 passed, 0 failed"
