#!/bin/bash
# Several input topics in one source: two co-partitioned topics (same
# partition count, keyed by user with the same partitioner), so partition p
# of both is task p; the results over both equal the oracle's on the union.
# The topics hold different spans of event time ("web" the first 25,000
# events, "app" the last 15,000), read side by side: a task's watermark is
# the minimum of its two inputs' (an input that ended holds nobody back),
# so 100 ms of out-of-orderness loses nothing.
# Checkpoints are on (the default for Kafka input): a task's checkpoint
# records the position of each of its two partitions, and one commit
# covers both.
#  1. one run to the end: results equal the oracle;
#  2. a run stopped by SIGTERM while it reads (part of the input produced
#     before it starts, the rest while it runs), then a restart to the end:
#     the restart restores the checkpoint, and the results of both runs
#     together equal the oracle: nothing lost, nothing twice;
#  3. the same with SIGKILL (no final checkpoint: the restart restores the
#     last one the killed run committed and replays the rest; results held
#     until durable keep it exactly-once although the replay interleaves
#     the topics differently).
source "$(dirname "$0")/kafka_lib.sh"

start_mock --topic web:4 --topic app:4 --topic results:4 --topic web2:4 --topic app2:4 \
    --topic results2:4 --topic web3:4 --topic app3:4 --topic results3:4
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUN_ID="$$-$RANDOM"
DIRS=()
$ORACLE gen --count 40000 --keys 300 --seed 61 --disorder-ms 20 > "$WORK/events.jsonl"
head -n 25000 "$WORK/events.jsonl" > "$WORK/web.jsonl"
tail -n +25001 "$WORK/events.jsonl" > "$WORK/app.jsonl"
produce() { # TOPIC FILE [ARGS]
    "$SLUICE_BIN" produce --bootstrap "$B" --topic "$1" --file "$2" --key-field user \
        --quiet "${@:3}" 2> "$WORK/produce-$1.log" || fail "sluice produce to $1 failed"
}
# pipeline FILE NAME RESULTS STOP_AT_EOF: both topics, default checkpoints.
pipeline() {
    write_pipeline "$1" "$2" web "$3" '"partitioned_by": ["user"],' 100ms
    sed -i 's|"topics": \["web"\]|"topics": ["web", "app"]|' "$1"
    sed -i "s|\"stop_at_eof\": true|\"stop_at_eof\": $4|" "$1"
    # (a restart joins the group at once: the mock broker does not end the
    # stopped member's session before it times out)
    sed -i 's|"properties": {"bootstrap.servers": "\([^"]*\)"},|"properties": {"bootstrap.servers": "\1", "session.timeout.ms": 6000},|' "$1"
    grep -q '"session.timeout.ms": 6000' "$1" || fail "could not set the session timeout"
    grep -q '"topics": \["web", "app"\]' "$1" || fail "could not set the topics"
    grep -q "\"stop_at_eof\": $4" "$1" || fail "could not set stop_at_eof"
    ! grep -q '"checkpoint"' "$1" || fail "the pipeline must use the default checkpoints"
    "$SLUICE_BIN" validate "$1" > /dev/null || fail "co-partitioned topics with default checkpoints do not validate"
    local d
    d=$("$SLUICE_BIN" explain "$1" | sed -n 's/^checkpoint: every [^ ]* to \(.*\) (default.*/\1/p')
    [ -n "$d" ] || fail "explain names no default checkpoint directory"
    DIRS+=("$d")
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
finish() {
    for d in "${DIRS[@]}"; do
        case "$d" in */topics*-"$RUN_ID") rm -rf "$d" ;; esac
    done
}

say "one run to the end, default checkpoints"
for t in web app; do produce $t "$WORK/$t.jsonl"; done
pipeline "$WORK/p.json" "topics-$RUN_ID" results true
"$SLUICE_BIN" run "$WORK/p.json" 2> "$WORK/run.log" || fail "sluice run exited with $?"
[ "$(summary_field "$WORK/run.log" events_in)" = 40000 ] || fail "events_in is not 40000"
[ "$(summary_field "$WORK/run.log" tasks)" = 4 ] || fail "expected 4 tasks (co-partitioned)"
[ "$(summary_field "$WORK/run.log" late_dropped)" = 0 ] || fail "events were dropped as late"
read_values results > "$WORK/results.jsonl"
$ORACLE check --events "$WORK/events.jsonl" --results "$WORK/results.jsonl" --window-ms 10000 ||
    fail "results differ from the oracle"

# stop_restart SIGNAL N: the same events in webN/appN: 15,000 of web's
# and 5,000 of app's before the start, the rest while the first run
# reads; SIGNAL mid-stream; a restart to the end writes the rest to
# resultsN. TERM: a final checkpoint first; KILL: nothing, the restart
# restores the last checkpoint the killed run committed.
stop_restart() {
    local sig=$1 n=$2 pid rc p1 p2 first_in first_out second_in
    say "SIG$sig while reading, then a restart"
    produce web$n "$WORK/web-a.jsonl"
    produce app$n "$WORK/app-a.jsonl"
    pipeline "$WORK/s$n-1.json" "topics$n-$RUN_ID" results$n false
    sed -i "s|\"topics\": \\[\"web\", \"app\"\\]|\"topics\": [\"web$n\", \"app$n\"]|" "$WORK/s$n-1.json"
    grep -q "\"web$n\", \"app$n\"" "$WORK/s$n-1.json" || fail "could not set the topics"
    "$SLUICE_BIN" run "$WORK/s$n-1.json" 2> "$WORK/s$n-1.log" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 600); do
        [ "$(metric_sum sluice_events_in_total)" -ge 20000 ] && break
        kill -0 "$pid" 2> /dev/null || fail "run exited early: $(tail -n 3 "$WORK/s$n-1.log")"
        sleep 0.1
    done
    [ "$(metric_sum sluice_events_in_total)" -ge 20000 ] || fail "the first 20000 events were not read"
    sleep 1.5 # a checkpoint or more
    produce web$n "$WORK/web-b.jsonl" --rate 4000 &
    p1=$!
    produce app$n "$WORK/app-b.jsonl" --rate 4000 &
    p2=$!
    for _ in $(seq 600); do
        first_in=$(metric_sum sluice_events_in_total)
        [ "$first_in" -gt 24000 ] && break
        sleep 0.05
    done
    # KILL: between two checkpoints (interval 1 s), with input read since
    # the last one and results held for the next.
    if [ "$sig" = KILL ]; then
        sleep 0.6
        first_in=$(metric_sum sluice_events_in_total)
    fi
    kill -$sig "$pid"
    rc=0
    wait "$pid" || rc=$?
    forget_pid "$pid"
    wait $p1 || fail "produce to web$n failed"
    wait $p2 || fail "produce to app$n failed"
    if [ "$sig" = TERM ]; then
        [ $rc -eq 0 ] || fail "SIGTERM: exit $rc"
        grep -q '"final":"durable"' "$WORK/s$n-1.log" || fail "no durable final checkpoint at SIGTERM"
        first_in=$(summary_field "$WORK/s$n-1.log" events_in)
    fi
    first_out=$(read_values results$n | wc -l)
    say "first run: $first_in events read, $first_out results written before SIG$sig"
    [ "$first_in" -gt 20000 ] && [ "$first_in" -lt 40000 ] ||
        fail "SIG$sig was not mid-stream: $first_in events read"
    [ "$first_out" -gt 0 ] || fail "the first run wrote no results (window 0 closes within its input)"
    pipeline "$WORK/s$n-2.json" "topics$n-$RUN_ID" results$n true
    sed -i "s|\"topics\": \\[\"web\", \"app\"\\]|\"topics\": [\"web$n\", \"app$n\"]|" "$WORK/s$n-2.json"
    "$SLUICE_BIN" run "$WORK/s$n-2.json" 2> "$WORK/s$n-2.log" || fail "restart exited with $?"
    grep -q "restored from checkpoint" "$WORK/s$n-2.log" || fail "the restart did not restore the checkpoint"
    second_in=$(summary_field "$WORK/s$n-2.log" events_in)
    # where the restart resumed: the committed positions of the 8 partitions
    resumed=$(grep -o 'assigned [a-z0-9]* \[[0-9]*\] start [0-9]* (committed)' "$WORK/s$n-2.log" |
        awk '{s += $5; n++} END {print (n == 8 ? s : -1)}')
    say "restart: resumed at $resumed events, read $second_in"
    [ "$resumed" -gt 20000 ] || fail "the restart did not resume every partition past the first input: $resumed"
    [ "$second_in" = $((40000 - resumed)) ] || fail "the restart read $second_in events, not the $((40000 - resumed)) after its positions"
    if [ "$sig" = TERM ]; then
        [ "$resumed" -le "$first_in" ] || fail "committed $resumed events, more than the $first_in read"
    fi
    [ "$(summary_field "$WORK/s$n-2.log" late_dropped)" = 0 ] || fail "events were dropped as late after the restore"
    read_values results$n > "$WORK/results$n.jsonl"
    $ORACLE check --events "$WORK/events.jsonl" --results "$WORK/results$n.jsonl" --window-ms 10000 ||
        fail "SIG$sig and restart: results differ from the oracle (lost or duplicated)"
}
head -n 15000 "$WORK/web.jsonl" > "$WORK/web-a.jsonl"
tail -n +15001 "$WORK/web.jsonl" > "$WORK/web-b.jsonl"
head -n 5000 "$WORK/app.jsonl" > "$WORK/app-a.jsonl"
tail -n +5001 "$WORK/app.jsonl" > "$WORK/app-b.jsonl"
export SLUICE_HTTP_ADDR="127.0.0.1:$port"
stop_restart TERM 2
stop_restart KILL 3

say "partitions of a task committed at different checkpoints: a clear error"
# (Only something else can commit so: Sluice commits a task's partitions
# in one request.) app2 [0] now names another checkpoint than web2 [0].
$PY - "$B" "topics2-$RUN_ID-group" << 'PY' || fail "could not commit with python3-kafka"
import sys, time
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
c = KafkaConsumer(bootstrap_servers=sys.argv[1], group_id=sys.argv[2], enable_auto_commit=False,
                  session_timeout_ms=6000)
tp = TopicPartition("app2", 0)
c.subscribe(["web2", "app2"]) # a member of the group: its commits carry the generation
deadline = time.time() + 60
while tp not in c.assignment() and time.time() < deadline:
    c.poll(timeout_ms=200, max_records=1)
assert tp in c.assignment(), c.assignment()
off = c.committed(tp)
assert off is not None and off > 0, off
c.commit({tp: OffsetAndMetadata(off, "sluice:checkpoint=7;origin=elsewhere")})
c.close()
PY
rc=0
"$SLUICE_BIN" run "$WORK/s2-2.json" 2> "$WORK/disagree.log" || rc=$?
[ $rc -ne 0 ] || fail "a task whose partitions name different checkpoints ran"
grep -q "task 0: .* is committed at checkpoint .* at checkpoint 7; co-partitioned topics restore from one checkpoint" "$WORK/disagree.log" ||
    fail "no clear error for partitions committed at different checkpoints: $(grep -m1 '"error"' "$WORK/disagree.log")"
finish
stop_mock
say "PASS"
