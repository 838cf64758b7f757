#!/usr/bin/env bash
# test_cli_readyz.sh - checkpoint failures seen from outside:
#  - /readyz answers 503 (with the reason) once SL_CHECKPOINT_UNREADY_AFTER
#    (3) checkpoints in a row failed, and 200 again after one succeeds;
#  - a final checkpoint (SIGTERM) that fails makes the exit code 1, and the
#    exit summary (valid JSON) says "final": "failed".
# The checkpoint directory is made unusable by putting a file in its place.
set -u

# shellcheck source=tests/unit/cli_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
# Stops at the first failed check, with the end of the run's log.
fail() {
    echo "FAIL: $*"
    [ -f run.log ] && tail -n 15 run.log
    exit 1
}
port=$(free_port)
cat > p.json << EOF
{"name": "ready", "source": {"type": "generator", "keys": 50, "count": 0, "rate": 2000,
   "event_time": {"field": "ts"}, "watermark": {"max_out_of_orderness": "50ms"}},
 "pipeline": [{"key_by": "user"},
              {"window": {"type": "tumbling", "size": "100ms"}, "aggregates": {"n": {"fn": "count"}}}],
 "sink": {"type": "file", "path": "out.jsonl"},
 "checkpoint": {"interval": "150ms", "dir": "$TMP/ckpt", "keep": 2},
 "http": {"addr": "127.0.0.1:$port"}, "runtime": {"workers": 2}}
EOF
code() { curl -s -o body.txt -w '%{http_code}' "http://127.0.0.1:$port/readyz"; }
# wait_code WANT SECONDS
wait_code() {
    local i
    for i in $(seq 1 $(($2 * 10))); do
        [ "$(code)" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
break_dir() { mv ckpt ckpt.away && echo "in the way" > ckpt; }
mend_dir() { rm -f ckpt && mv ckpt.away ckpt; }
# stop_run: SIGTERM to the run, then its exit code in rc.
stop_run() {
    kill -TERM "$pid"
    rc=0
    wait "$pid" || rc=$?
    PIDS=()
}

"$BIN" run --no-status p.json 2> run.log &
pid=$!
PIDS=("$pid")
wait_code 200 20 || fail "/readyz never 200: $(cat body.txt)"

break_dir
wait_code 503 20 || fail "/readyz still $(code) with checkpoints failing"
grep -q "checkpoints in a row failed" body.txt || fail "503 without the reason: $(cat body.txt)"
# (metrics are gathered twice a second: give them a moment)
for _ in $(seq 30); do
    failures=$(curl -s "http://127.0.0.1:$port/metrics" |
        awk '/^sluice_checkpoint_failures_total/ {print $2}')
    python3 -c "import sys; assert float(sys.argv[1]) >= 3" "${failures:-0}" 2> /dev/null && break
    sleep 0.1
done
python3 -c "import sys; assert float(sys.argv[1]) >= 3" "${failures:-0}" ||
    fail "503 after $failures failed checkpoints, want >= 3"
echo "/readyz 503 after $failures failed checkpoints: $(cat body.txt)"

mend_dir
wait_code 200 20 || fail "/readyz did not come back after a successful checkpoint: $(cat body.txt)"
echo "/readyz 200 again once a checkpoint succeeded"

# SIGTERM with the directory broken: the final checkpoint fails -> exit 1.
break_dir
wait_code 503 20 || fail "/readyz still $(code) (second break)"
stop_run
[ "$rc" -eq 1 ] || fail "a failed final checkpoint exited with $rc, want 1"
grep -q "final checkpoint before stopping failed" run.log || fail "no message for the final checkpoint"
python3 - run.log << 'PY' || fail "summary: $(tail -n 1 run.log)"
import json, sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
s = json.loads(lines[-1])["summary"]
assert s["exit_code"] == 1 and s["checkpoints"]["final"] == "failed", s["checkpoints"]
assert s["checkpoints"]["consecutive_failed"] >= 3, s["checkpoints"]
PY
mend_dir

# And with a working directory the same stop exits 0 with "final": "durable".
"$BIN" run --no-status p.json 2> run.log &
pid=$!
PIDS=("$pid")
wait_code 200 20 || fail "/readyz never 200 (second run)"
stop_run
[ "$rc" -eq 0 ] || fail "clean stop exited with $rc"
python3 - run.log << 'PY' || fail "summary: $(tail -n 1 run.log)"
import json, sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
s = json.loads(lines[-1])["summary"]
assert s["exit_code"] == 0 and s["checkpoints"]["final"] == "durable", s["checkpoints"]
PY
echo "PASS: readiness follows checkpoint health; a failed final checkpoint exits 1"
