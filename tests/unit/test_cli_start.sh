#!/usr/bin/env bash
# test_cli_start.sh - safe starts through the real binary:
#  - a run that fails to start (HTTP port taken, checkpoint directory not
#    creatable, input missing, sink not writable, Kafka broker unreachable)
#    exits 1, leaves the previous output file byte for byte as it was, and
#    still prints an exit summary that is valid JSON ("started": false and
#    the failed stage);
#  - a Kafka source whose broker never answers fails within its
#    connect_timeout, and obeys SIGTERM while it waits;
#  - a run that starts truncates the output and its summary is valid JSON.
set -u

# shellcheck source=tests/unit/cli_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

# check_summary LOG STARTED [STAGE]: the last line of LOG is a valid
# {"summary": ...} with "started" = STARTED and, if given, error.stage.
check_summary() {
    python3 - "$@" << 'PY' || fail "summary of $1: $(tail -n 1 "$1")"
import json, sys
log, started = sys.argv[1], sys.argv[2] == "true"
stage = sys.argv[3] if len(sys.argv) > 3 else None
lines = [l for l in open(log, encoding="utf-8", errors="strict").read().splitlines() if l.strip()]
assert lines, "empty stderr"
s = json.loads(lines[-1])["summary"]          # must parse: valid JSON
assert s["started"] is started, s
for k in ("events_in", "bad", "results_out", "checkpoints", "warnings"):
    assert k in s, (k, s)
if stage:
    assert s["error"]["stage"] == stage, s
    assert s["error"]["message"], s
PY
}

events() { # N -> JSON lines
    python3 -c "
import sys
for i in range(int(sys.argv[1])):
    print('{\"user\":\"u%d\",\"amount\":%d,\"ts\":%d}' % (i % 7, i, 1700000000000 + i * 10))" "$1"
}
events 2000 > in.jsonl
printf 'previous output line 1\nprevious output line 2\n' > out.jsonl
cp out.jsonl out.orig

# pipeline FILE EXTRA-TOP-LEVEL [SOURCE]
pipeline() {
    local src="${3:-\"type\": \"file\", \"path\": \"in.jsonl\"}"
    cat > "$1" << EOF
{"name": "start", "source": {$src, "event_time": {"field": "ts"}},
 "pipeline": [{"key_by": "user"},
              {"window": {"type": "tumbling", "size": "1s"}, "aggregates": {"n": {"fn": "count"}}}],
 "sink": {"type": "file", "path": "out.jsonl"}$2}
EOF
}

unchanged() { # WHAT
    cmp -s out.jsonl out.orig || fail "$1: out.jsonl was changed by a failed start"
}

# 1. HTTP port taken.
port="$(free_port)"
python3 -c "
import socket, time, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(1); time.sleep(120)" "$port" &
PIDS+=($!)
for _ in $(seq 50); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',int(sys.argv[1])),0.2)" "$port" 2> /dev/null && break
    sleep 0.1
done
pipeline http.json ", \"http\": {\"addr\": \"127.0.0.1:$port\"}"
"$BIN" run http.json 2> http.log
rc=$?
[ "$rc" -eq 1 ] || fail "HTTP port taken: exit $rc, want 1"
unchanged "HTTP port taken"
check_summary http.log false http
kill "${PIDS[0]}" 2> /dev/null

# 2. Checkpoint directory not creatable (a regular file is in the way).
echo x > blocker
pipeline ckpt.json ', "http": {"addr": "off"}, "checkpoint": {"dir": "blocker/ckpt"}'
"$BIN" run ckpt.json 2> ckpt.log
rc=$?
[ "$rc" -eq 1 ] || fail "checkpoint dir not creatable: exit $rc, want 1"
grep -q 'checkpoint' ckpt.log || fail "no message about the checkpoint directory: $(cat ckpt.log)"
unchanged "checkpoint dir not creatable"
check_summary ckpt.log false setup

# 3. Input missing.
pipeline missing.json ', "http": {"addr": "off"}' '"type": "file", "path": "no-such-input.jsonl"'
"$BIN" run missing.json 2> missing.log
rc=$?
[ "$rc" -eq 1 ] || fail "input missing: exit $rc, want 1"
unchanged "input missing"
check_summary missing.log false setup

# 4. Dead-letter sink not writable (its directory does not exist, or a
#    file is in the way): the results file stays as it was.
for bad in no-such-dir/bad.jsonl blocker/bad.jsonl; do
    pipeline dlq.json ", \"http\": {\"addr\": \"off\"}, \"dead_letter\": {\"type\": \"file\", \"path\": \"$bad\"}"
    "$BIN" run dlq.json 2> dlq.log
    rc=$?
    [ "$rc" -eq 1 ] || fail "dead letter $bad not writable: exit $rc, want 1"
    grep -q "dead_letter.path: cannot open" dlq.log || fail "dead letter $bad: $(head -n 2 dlq.log)"
    unchanged "dead letter $bad not writable"
    check_summary dlq.log false setup
done

# 5. Kafka broker that never answers: bounded by connect_timeout.
dead="$(free_port)"
ksrc="\"type\": \"kafka\", \"topics\": [\"in\"], \"connect_timeout\": \"2s\", \"properties\": {\"bootstrap.servers\": \"127.0.0.1:$dead\"}"
pipeline kafka.json ', "http": {"addr": "off"}, "checkpoint": "off"' "$ksrc"
t0=$(date +%s%N)
timeout 60 "$BIN" run kafka.json 2> kafka.log
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" -eq 1 ] || fail "unreachable broker: exit $rc, want 1"
[ "$ms" -lt 20000 ] || fail "unreachable broker: gave up after $ms ms, connect_timeout is 2s"
[ "$ms" -ge 1500 ] || fail "unreachable broker: gave up after $ms ms, before connect_timeout"
grep -q 'connect_timeout' kafka.log || fail "no connect_timeout message: $(tail -n 3 kafka.log)"
unchanged "unreachable broker"
check_summary kafka.log false source
echo "unreachable broker: exit 1 after $ms ms (connect_timeout 2s)"

# 6. ... and obeys SIGTERM while waiting (connect_timeout 5 minutes).
sed -e 's/"connect_timeout": "2s"/"connect_timeout": "5m"/' kafka.json > kafka_long.json
"$BIN" run kafka_long.json 2> kafka_long.log &
pid=$!
PIDS+=($pid)
sleep 1.5
t0=$(date +%s%N)
kill -TERM "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2> /dev/null || break; sleep 0.05; done
ms=$((($(date +%s%N) - t0) / 1000000))
if kill -0 "$pid" 2> /dev/null; then
    fail "SIGTERM while waiting for the broker: still running after $ms ms"
    kill -KILL "$pid"
fi
wait "$pid"
rc=$?
[ "$rc" -eq 1 ] || [ "$rc" -eq 0 ] || fail "SIGTERM while waiting for the broker: exit $rc"
unchanged "SIGTERM before start"
check_summary kafka_long.log false source
echo "SIGTERM while waiting for the broker: exited in $ms ms"

# 7. A start that succeeds truncates and writes the results.
pipeline ok.json ', "http": {"addr": "off"}'
"$BIN" run ok.json 2> ok.log
rc=$?
[ "$rc" -eq 0 ] || fail "good run: exit $rc ($(tail -n 3 ok.log))"
check_summary ok.log true
grep -q previous out.jsonl && fail "good run: out.jsonl still holds the previous output"
want="$(python3 -c "print(len({(i % 7, (1700000000000 + i * 10) // 1000) for i in range(2000)}))")"
got="$(wc -l < out.jsonl)"
[ "$got" = "$want" ] || fail "good run: $got results, want $want"

finish "failed starts destroy nothing and summarise themselves"
