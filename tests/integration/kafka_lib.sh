# kafka_lib.sh - helpers for the Kafka integration tests (sourced, not run).
#
# Each test starts its own `sluice kafka-mock` as a separate process on
# loopback and stops it by PID on exit. Needs: SLUICE_BIN, kcat, and for
# the interop test the Debian python3-kafka (imported by /usr/bin/python3).
set -euo pipefail

: "${SLUICE_BIN:?SLUICE_BIN must name the sluice binary}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
ORACLE="$PY $HERE/../lib/oracle.py"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-kafka-XXXXXX")
PIDS=()
# No fixed HTTP port: tests may run beside other Sluice processes.
export SLUICE_HTTP_ADDR="${SLUICE_HTTP_ADDR:-off}"

command -v kcat > /dev/null || { echo "FAIL: kcat is not installed (apt-get install kcat)"; exit 1; }

# stop_pids SECONDS PID...: SIGTERM to each, then waits; one still running
# after SECONDS gets SIGKILL and is reported. Returns 1 if any had to be
# killed. (A process that ignores SIGTERM must fail the test, not hang it.)
stop_pids() {
    local limit=$1 p left=0 i
    shift
    for p in "$@"; do
        [ -n "$p" ] && kill "$p" 2> /dev/null || true
    done
    for ((i = 0; i < limit * 10; i++)); do
        left=0
        for p in "$@"; do
            [ -n "$p" ] && kill -0 "$p" 2> /dev/null && left=1
        done
        [ $left = 0 ] && break
        sleep 0.1
    done
    left=0
    for p in "$@"; do
        [ -n "$p" ] || continue
        if kill -0 "$p" 2> /dev/null; then
            echo "FAIL: pid $p ($(tr '\0' ' ' < "/proc/$p/cmdline" 2> /dev/null | cut -c1-120)) did not stop within ${limit}s of SIGTERM; killed"
            kill -KILL "$p" 2> /dev/null || true
            left=1
        fi
        wait "$p" 2> /dev/null || true
    done
    return $left
}

cleanup() {
    local rc=$?
    # 100 s: a node's SIGTERM takes a final checkpoint (60 s at most) and
    # flushes its sink.
    stop_pids 100 "${PIDS[@]}" || rc=1
    if [ $rc -ne 0 ] || [ -n "${KEEP_WORK:-}" ]; then
        echo "--- work directory kept: $WORK"
        for f in "$WORK"/*.log; do
            [ -f "$f" ] || continue
            echo "--- tail of $f"
            tail -n 25 "$f"
        done
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    exit 1
}

say() {
    echo "[$(date +%H:%M:%S)] $*"
}

# start_mock ARGS...: starts the mock cluster, sets B (bootstrap servers),
# MOCK_PID and CTL (the fault-injection FIFO).
start_mock() {
    CTL="$WORK/control"
    "$SLUICE_BIN" kafka-mock "$@" --bootstrap-file "$WORK/bootstrap" --control "$CTL" \
        > "$WORK/mock.out" 2> "$WORK/mock.log" &
    MOCK_PID=$!
    PIDS+=("$MOCK_PID")
    for _ in $(seq 100); do
        [ -s "$WORK/bootstrap" ] && break
        kill -0 "$MOCK_PID" 2> /dev/null || fail "kafka-mock exited early"
        sleep 0.05
    done
    [ -s "$WORK/bootstrap" ] || fail "kafka-mock did not start"
    B=$(cat "$WORK/bootstrap")
    say "kafka-mock pid $MOCK_PID at $B"
}

# forget_pid PID: drops exactly PID from PIDS (a pattern substitution
# would also cut it out of a longer PID that contains it).
forget_pid() {
    local p keep=()
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

# stop_mock: SIGTERM, and it must exit 0.
stop_mock() {
    kill -TERM "$MOCK_PID"
    local rc=0
    wait "$MOCK_PID" || rc=$?
    forget_pid "$MOCK_PID"
    [ $rc -eq 0 ] || fail "kafka-mock exited with $rc on SIGTERM"
}

mock_cmd() {
    echo "$*" > "$CTL"
}

# read_values TOPIC > FILE: every message value of TOPIC, one per line.
read_values() {
    kcat -C -b "$B" -t "$1" -e -q -f '%s\n'
}

# summary_field LOG NAME: a number from the run's exit summary.
summary_field() {
    grep -o "\"$2\":[0-9]*" "$1" | tail -n 1 | cut -d: -f2
}

# write_pipeline FILE NAME TOPIC RESULT EXTRA_SOURCE_JSON OOO: a tumbling
# 10 s window per user with count/sum/min/max/avg, read back by the oracle.
write_pipeline() {
    cat > "$1" << EOF
{"name": "$2",
 "source": {"type": "kafka", "topics": ["$3"], "group_id": "$2-group", "start": "earliest",
            "consumer_threads": 2, "stop_at_eof": true, $5
            "properties": {"bootstrap.servers": "$B"},
            "event_time": {"field": "ts", "unit": "ms"},
            "watermark": {"max_out_of_orderness": "$6"}},
 "pipeline": [
   {"key_by": ["user"]},
   {"window": {"type": "tumbling", "size": "10s"},
    "aggregates": {"n": {"fn": "count"}, "total": {"fn": "sum", "field": "amount"},
                   "lo": {"fn": "min", "field": "amount"}, "hi": {"fn": "max", "field": "amount"},
                   "mean": {"fn": "avg", "field": "amount"}}}
 ],
 "sink": {"type": "kafka", "topic": "$4", "properties": {"bootstrap.servers": "$B"}},
 ${7:-}
 "runtime": {"workers": 2}
}
EOF
}
