#!/bin/bash
# A clean restart loses nothing, with the default configuration and with
# "checkpoint": "off":
#  - default (no "checkpoint" key: local checkpoints for Kafka input):
#    1,000 events, SIGTERM, 1,000 more in the same window, restart -> the
#    window counts all 2,000 (count and sum per user equal the oracle's);
#  - "checkpoint": "off", windowed: the open window's input is never
#    committed, so the restart reads it again and the window still counts
#    2,000;
#  - "checkpoint": "off", no window: offsets are committed only for input
#    whose results were delivered; after the restart every event has a
#    result, and exactly the uncommitted ones have a second one;
#  - SIGTERM right after the source started (before or while partitions
#    are assigned) still prints a valid JSON summary.
source "$(dirname "$0")/kafka_lib.sh"

start_mock --topic in:4 --topic out:4 --topic outoff:4 --topic pt:4 --topic ptout:4
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SLUICE_HTTP_ADDR="127.0.0.1:$port" # (kafka_lib.sh turns HTTP off by default)
RUN_ID="$$-$RANDOM"
DIRS=()

gen() { # FILE SEED START
    $PY - "$@" << 'PY'
import json, random, sys
rnd = random.Random(int(sys.argv[2]))
with open(sys.argv[1], "w") as f:
    for i in range(1000):
        f.write(json.dumps({"user": "u%d" % rnd.randint(0, 9), "amount": rnd.randint(-50, 500),
                            "ts": int(sys.argv[3]) + i * 20 + rnd.randint(0, 10)}) + "\n")
PY
}
produce() { # TOPIC FILE
    "$SLUICE_BIN" produce --bootstrap "$B" --topic "$1" --file "$2" --key-field user --quiet \
        2> "$WORK/produce.log" || fail "produce to $1 failed"
}
# pipeline FILE NAME EXTRA_TOP_LEVEL EOF WINDOWED [OUT]
pipeline() {
    local stages='{"key_by": ["user"]}, {"window": {"type": "tumbling", "size": "1h"}, "aggregates": {"n": {"fn": "count"}, "total": {"fn": "sum", "field": "amount"}}}'
    local in=in out=${6:-out}
    if [ "$5" = 0 ]; then
        stages='{"key_by": ["user"]}'
        in=pt out=ptout
    fi
    cat > "$1" << EOF
{"name": "$2",
 "source": {"type": "kafka", "topics": ["$in"], "start": "earliest", "partitioned_by": ["user"],
            "stop_at_eof": $4,
            "properties": {"bootstrap.servers": "$B", "session.timeout.ms": 6000},
            "event_time": {"field": "ts"}},
 "pipeline": [$stages],
 "sink": {"type": "kafka", "topic": "$out", "properties": {"bootstrap.servers": "$B"}},
 "runtime": {"workers": 2} $3}
EOF
    local d
    d=$("$SLUICE_BIN" explain "$1" | sed -n 's/^checkpoint: every [^ ]* to \(.*\) (default.*/\1/p')
    [ -n "$d" ] && DIRS+=("$d")
    return 0
}
metric_sum() { # NAME: the sum of a metric's samples
    curl -s "http://127.0.0.1:$port/metrics" | $PY -c '
import sys
name, total = sys.argv[1], 0
for line in sys.stdin:
    if line.startswith(name + "{") or line.startswith(name + " "):
        total += float(line.split()[-1])
print(int(total))' "$1"
}
check_summary() { # LOG -> prints the summary JSON
    $PY -c '
import json, sys
lines = [l for l in open(sys.argv[1], encoding="utf-8").read().splitlines() if l.strip()]
print(json.dumps(json.loads(lines[-1])["summary"]))' "$1" || fail "summary of $1 is not valid JSON: $(tail -n 1 "$1")"
}
# first_run FILE LOG WANT_IN: runs until WANT_IN events are in, then SIGTERM.
first_run() {
    "$SLUICE_BIN" run "$1" 2> "$2" &
    local pid=$! i
    PIDS+=("$pid")
    for i in $(seq 600); do
        [ "$(metric_sum sluice_events_in_total)" = "$3" ] && break
        kill -0 "$pid" 2> /dev/null || fail "run exited early: $(tail -n 3 "$2")"
        sleep 0.1
    done
    [ "$(metric_sum sluice_events_in_total)" = "$3" ] || fail "not all $3 events were read"
    sleep 0.5
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    [ $rc -eq 0 ] || fail "SIGTERM: exit $rc"
}
# oracle EVENTS... -> sorted "user n total" lines
oracle() {
    cat "$@" | $PY -c '
import json, sys
agg = {}
for line in sys.stdin:
    e = json.loads(line)
    n, t = agg.get(e["user"], (0, 0))
    agg[e["user"]] = (n + 1, t + e["amount"])
for u in sorted(agg):
    print(u, agg[u][0], agg[u][1])'
}
results() { # TOPIC -> sorted "user n total" lines
    read_values "$1" | $PY -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
for r in sorted(rows, key=lambda r: r["user"]):
    print(r["user"], r["n"], r["total"])'
}

T0=1700000000000
gen "$WORK/a.jsonl" 1 $T0
gen "$WORK/b.jsonl" 2 $((T0 + 30000))

say "default configuration: 1000 events, SIGTERM, 1000 more, restart"
produce in "$WORK/a.jsonl"
pipeline "$WORK/d1.json" "restart-$RUN_ID" "" false 1
"$SLUICE_BIN" explain "$WORK/d1.json" | grep -q "on by default for kafka input" ||
    fail "explain does not say checkpoints are on by default"
first_run "$WORK/d1.json" "$WORK/d1.log" 1000
grep -q "checkpoints every 1000 ms in .* (default" "$WORK/d1.log" || fail "the log does not name the checkpoint directory"
s=$(check_summary "$WORK/d1.log")
$PY -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["checkpoints"]["final"] == "durable", s["checkpoints"]' "$s" ||
    fail "no durable final checkpoint"
[ -z "$(read_values out)" ] || fail "results before the window closed"
produce in "$WORK/b.jsonl"
pipeline "$WORK/d2.json" "restart-$RUN_ID" "" true 1
"$SLUICE_BIN" run "$WORK/d2.json" 2> "$WORK/d2.log" || fail "restart exited with $?"
check_summary "$WORK/d2.log" > /dev/null
grep -q "restored from checkpoint" "$WORK/d2.log" || fail "the restart did not restore the checkpoint"
oracle "$WORK/a.jsonl" "$WORK/b.jsonl" > "$WORK/want.txt"
results out > "$WORK/got.txt"
diff "$WORK/want.txt" "$WORK/got.txt" > /dev/null || fail "default config: results differ from the oracle: $(diff "$WORK/want.txt" "$WORK/got.txt" | head -n 6)"
[ "$(awk '{s += $2} END {print s}' "$WORK/got.txt")" = 2000 ] || fail "the window does not count 2000"
rm -rf "${DIRS[@]}" # the default directories this test made
say "default configuration: the window counts 2000"

say "checkpoint off, windowed: nothing committed for the open window"
pipeline "$WORK/o1.json" "restart-off-$RUN_ID" ', "checkpoint": "off"' false 1 outoff
first_run "$WORK/o1.json" "$WORK/o1.log" 2000
s=$(check_summary "$WORK/o1.log")
$PY -c '
import json, sys
s = json.loads(sys.argv[1])
assert all(p["committed"] == -1 for p in s["partitions"]), s["partitions"]
assert s["results_out"] == 0, s' "$s" || fail "checkpoint off committed input of an open window"
pipeline "$WORK/o2.json" "restart-off-$RUN_ID" ', "checkpoint": "off"' true 1 outoff
"$SLUICE_BIN" run "$WORK/o2.json" 2> "$WORK/o2.log" || fail "restart (off) exited with $?"
[ "$(summary_field "$WORK/o2.log" events_in)" = 2000 ] || fail "restart (off) did not read the open window's input again"
results outoff > "$WORK/got_off.txt"
diff "$WORK/want.txt" "$WORK/got_off.txt" > /dev/null || fail "checkpoint off: results differ from the oracle"
say "checkpoint off, windowed: the window counts 2000"

say "checkpoint off, no window: commits cover delivered results only"
produce pt "$WORK/a.jsonl"
pipeline "$WORK/p1.json" "restart-pt-$RUN_ID" ', "checkpoint": {"interval": "200ms"}' false 0
sed -i 's/"checkpoint": {"interval": "200ms"}/"checkpoint": "off"/' "$WORK/p1.json"
first_run "$WORK/p1.json" "$WORK/p1.log" 1000
s=$(check_summary "$WORK/p1.log")
committed=$($PY -c '
import json, sys
s = json.loads(sys.argv[1])
print(sum(p["committed"] for p in s["partitions"] if p["committed"] > 0))' "$s")
delivered=$(read_values ptout | wc -l)
say "first run: $delivered results delivered, $committed input offsets committed"
[ "$committed" -le "$delivered" ] || fail "committed $committed offsets for $delivered delivered results"
[ "$committed" -gt 0 ] || fail "checkpoint off, no window: nothing committed"
produce pt "$WORK/b.jsonl"
pipeline "$WORK/p2.json" "restart-pt-$RUN_ID" ', "checkpoint": "off"' true 0
"$SLUICE_BIN" run "$WORK/p2.json" 2> "$WORK/p2.log" || fail "restart (pt) exited with $?"
read_values ptout > "$WORK/pt.jsonl"
$PY - "$WORK/pt.jsonl" "$WORK/a.jsonl" "$WORK/b.jsonl" "$committed" << 'PY' || fail "checkpoint off, no window: lost or unexpected results"
import collections, json, sys
got = collections.Counter(json.dumps(json.loads(l), sort_keys=True) for l in open(sys.argv[1]))
want = [json.dumps(json.loads(l), sort_keys=True) for f in sys.argv[2:4] for l in open(f)]
missing = [e for e in set(want) if got[e] < want.count(e)]
assert not missing, "lost: %d events, e.g. %s" % (len(missing), missing[:2])
extra = sum(got.values()) - len(want)
assert extra == 1000 - int(sys.argv[4]), (extra, sys.argv[4])   # exactly the uncommitted, twice
PY
say "checkpoint off, no window: no result lost, $((1000 - committed)) read twice"

say "SIGTERM right after the start: the summary is valid JSON"
pipeline "$WORK/e.json" "restart-early-$RUN_ID" ', "checkpoint": "off"' false 1
"$SLUICE_BIN" run "$WORK/e.json" 2> "$WORK/e.log" &
pid=$!
PIDS+=("$pid")
for _ in $(seq 200); do
    grep -q '"consuming ' "$WORK/e.log" && break
    sleep 0.02
done
kill -TERM "$pid"
wait "$pid" || true
check_summary "$WORK/e.log" > /dev/null
for d in "${DIRS[@]}"; do
    case "$d" in */restart-*"$RUN_ID") rm -rf "$d" ;; esac
done
stop_mock
say "PASS"
