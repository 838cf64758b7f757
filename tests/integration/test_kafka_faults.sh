#!/bin/bash
# Faults injected with the mock cluster's API during a run: failed Fetch
# and Produce requests, a dropped connection, extra latency, and a broker
# (of three) down for 2 s and back. No result is lost or duplicated (the
# result topic equals the oracle), and the logs say what happened.
source "$(dirname "$0")/kafka_lib.sh"

N=${SL_KAFKA_FAULT_EVENTS:-600000}
start_mock --brokers 3 --topic faulty:8 --topic results:8
# The results are led by brokers 1 and 3, never by broker 2, which goes
# down below: the embedded broker does not check idempotent producers'
# sequence numbers, so a produce request it appended just before going
# down, retried when it is back, would be stored twice (a real broker
# refuses the retry as a duplicate). Produce faults are still injected
# below (failed, timed-out and disconnected Produce requests).
for p in 0 1 2 3; do mock_cmd "leader results $p 1"; done
for p in 4 5 6 7; do mock_cmd "leader results $p 3"; done
$ORACLE gen --count "$N" --keys 500 --seed 41 --disorder-ms 30 > "$WORK/events.jsonl"
"$SLUICE_BIN" produce --bootstrap "$B" --topic faulty --file "$WORK/events.jsonl" \
    --key-field user --quiet 2> "$WORK/produce.log" || fail "sluice produce failed"

# Small fetches and some latency make the run last long enough to be hit.
write_pipeline "$WORK/p.json" faults faulty results '"partitioned_by": ["user"], "poll_batch": 256,' 100ms
sed -i 's|^\( *"properties": {"bootstrap.servers": "[^"]*"\)},$|\1, "fetch.max.bytes": 65536, "message.max.bytes": 65536, "max.partition.fetch.bytes": 8192, "reconnect.backoff.max.ms": 500},|' "$WORK/p.json"
grep -q '"max.partition.fetch.bytes"' "$WORK/p.json" || fail "could not set fetch sizes"

mock_cmd "rtt -1 20"
"$SLUICE_BIN" run "$WORK/p.json" 2> "$WORK/run.log" &
RUN_PID=$!
PIDS+=("$RUN_PID")
# Count-based faults hit the first requests of each kind.
mock_cmd "request-errors Fetch 6 NOT_LEADER_FOR_PARTITION"
mock_cmd "request-errors Produce 4 NOT_LEADER_FOR_PARTITION _TRANSPORT REQUEST_TIMED_OUT"
mock_cmd "request-errors OffsetCommit 2 REQUEST_TIMED_OUT"
for _ in $(seq 200); do
    grep -q '"assigned ' "$WORK/run.log" && break
    kill -0 "$RUN_PID" 2> /dev/null || break
    sleep 0.05
done
grep -q '"assigned ' "$WORK/run.log" || fail "pipeline never got its partitions"
sleep 0.3
kill -0 "$RUN_PID" 2> /dev/null || fail "pipeline ended before the broker fault (too fast to test)"
say "broker 2 down"
mock_cmd "broker-down 2"
sleep 2
kill -0 "$RUN_PID" 2> /dev/null || fail "pipeline ended while broker 2 was down"
say "broker 2 up"
mock_cmd "broker-up 2"
mock_cmd "rtt -1 0"
rc=0
wait "$RUN_PID" || rc=$?
say "pipeline exited with $rc"
[ $rc -eq 0 ] || fail "sluice run exited with $rc"
[ "$(summary_field "$WORK/run.log" events_in)" = "$N" ] || fail "events_in is not $N"

read_values results > "$WORK/results.jsonl"
$ORACLE check --events "$WORK/events.jsonl" --results "$WORK/results.jsonl" --window-ms 10000 ||
    fail "results differ from the oracle"

# The logs say what happened.
grep -q 'fault injection done: broker-down 2' "$WORK/mock.log" || fail "mock did not log the fault"
grep -E '"level":"(warn|error)"' "$WORK/run.log" > "$WORK/faults-seen.log" || true
say "pipeline logged $(wc -l < "$WORK/faults-seen.log") warnings/errors, e.g.:"
grep -m 3 -E 'NOT_LEADER|Disconnected|Connection refused|down|timed out|TRANSPORT' "$WORK/faults-seen.log" ||
    fail "no fault visible in the pipeline's log"
stop_mock
say "PASS"
