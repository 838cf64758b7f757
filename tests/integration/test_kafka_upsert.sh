#!/bin/bash
# "emit": "upsert" on the kafka sink: session windows with allowed
# lateness, events out of order (some late within the lateness, some
# beyond), one input partition (one task, so the oracle replays its order
# exactly) -> a result topic of 4 partitions. Read back with kcat -Z:
#  - every message key is {"user","window_start"} of its value; a session
#    replaced by a merge has a tombstone: its key with a NULL value;
#  - tombstones carry sluice-task/sluice-seq like results, no sequence
#    number twice;
#  - applying the changelog (latest value per key, tombstones delete)
#    gives exactly the oracle's final sessions (oracle.py changelog);
#  - the same after a crash (kill -9) mid-stream and a restart (from the
#    last durable checkpoint, or from the start with the output scan): the
#    replay neither loses nor duplicates a result or a tombstone.
source "$(dirname "$0")/kafka_lib.sh"

N=${SL_KAFKA_EVENTS:-40000}
start_mock --topic orders:1 --topic results:4 --topic crash:4

say "generating $N events"
$ORACLE gen --count "$N" --keys 40 --seed 7 --step-ms 2 --disorder-ms 1500 > "$WORK/events.jsonl"
"$SLUICE_BIN" produce --bootstrap "$B" --topic orders --file "$WORK/events.jsonl" \
    --key-field user --quiet 2> "$WORK/produce.log" || fail "sluice produce failed"
grep -q "delivered $N, delivery errors 0" "$WORK/produce.log" || fail "not all events delivered"

# pipeline FILE NAME TOPIC EXTRA_TOP_LEVEL [EXTRA_SINK_PROPERTIES]
pipeline() {
    cat > "$1" << EOF
{"name": "$2",
 "source": {"type": "kafka", "topics": ["orders"], "group_id": "$2-group", "start": "earliest",
            "stop_at_eof": true, "partitioned_by": ["user"], "commit_interval": "200ms",
            "properties": {"bootstrap.servers": "$B", "session.timeout.ms": 6000},
            "event_time": {"field": "ts", "unit": "ms"},
            "watermark": {"max_out_of_orderness": "100ms"}},
 "pipeline": [
   {"key_by": ["user"]},
   {"window": {"type": "session", "gap": "60ms", "allowed_lateness": "1s"},
    "aggregates": {"n": {"fn": "count"}, "total": {"fn": "sum", "field": "amount"}}}
 ],
 "sink": {"type": "kafka", "topic": "$3", "emit": "upsert",
          "properties": {"bootstrap.servers": "$B" ${5:-}}},
 "runtime": {"workers": 2} $4
}
EOF
}
changelog() { # TOPIC FILE
    kcat -C -b "$B" -t "$1" -e -q -Z -f '%k\t%s\t%h\n' > "$2"
}

say "run"
pipeline "$WORK/p.json" upsert results ', "checkpoint": "off"'
"$SLUICE_BIN" run "$WORK/p.json" 2> "$WORK/run.log" || fail "sluice run exited with $?"
tomb=$(summary_field "$WORK/run.log" tombstones)
[ "${tomb:-0}" -gt 0 ] || fail "no tombstones written (summary: $(tail -n 1 "$WORK/run.log"))"
[ "$(summary_field "$WORK/run.log" late_dropped)" -gt 0 ] || fail "no event was late beyond the lateness"
[ "$(summary_field "$WORK/run.log" late_updates)" -gt 0 ] || fail "no late update"
changelog results "$WORK/changelog.tsv"
$ORACLE changelog --events "$WORK/events.jsonl" --changelog "$WORK/changelog.tsv" \
    --gap-ms 60 --lateness-ms 1000 --ooo-ms 100 > "$WORK/check.txt" ||
    fail "the changelog differs from the oracle: $(cat "$WORK/check.txt")"
say "changelog = oracle: $(head -n 1 "$WORK/check.txt")"
$PY - "$WORK/changelog.tsv" "$tomb" << 'PY' || fail "tombstones are not NULL-valued messages with a key"
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    key, value, headers = line.rstrip("\n").split("\t", 2)
    if value != "NULL":
        continue
    n += 1
    k = json.loads(key)
    assert sorted(k) == ["user", "window_start"] and isinstance(k["window_start"], int), key
    assert "sluice-seq=" in headers and "sluice-deployment=upsert/upsert-group" in headers, headers
assert n == int(sys.argv[2]), (n, sys.argv[2])
PY
# A tombstone is a NULL value, not an empty one: kcat without -Z prints
# both alike, so count what the broker holds with and without values.
nulls=$(kcat -C -b "$B" -t results -e -q -Z -f '%S\n' | grep -c '^-1$' || true)
[ "$nulls" = "$tomb" ] || fail "$nulls NULL values in the topic, $tomb tombstones in the summary"

say "crash mid-stream (kill -9), restart from the checkpoint"
# A producer that delivers slowly (small queue, 100 ms linger) keeps the
# run going for seconds, so the kill lands mid-stream, with results in
# flight (lost: the restart must send them) and results delivered after
# the last checkpoint (the replay must not send them again).
pipeline "$WORK/c.json" upsert-crash crash \
    ", \"checkpoint\": {\"dir\": \"$WORK/ckpt\", \"interval\": \"100ms\"}" \
    ', "linger.ms": "100", "queue.buffering.max.messages": "500"'
"$SLUICE_BIN" run "$WORK/c.json" 2> "$WORK/crash1.log" &
pid=$!
PIDS+=("$pid")
for _ in $(seq 600); do
    got=$(kcat -C -b "$B" -t crash -e -q -f 'x\n' 2> /dev/null | wc -l)
    [ "$got" -ge 15000 ] && break
    kill -0 "$pid" 2> /dev/null || fail "the run ended before the kill: $(tail -n 1 "$WORK/crash1.log")"
    sleep 0.1
done
kill -9 "$pid" 2> /dev/null || fail "the run ended before the kill"
wait "$pid" 2> /dev/null || true
before=$(kcat -C -b "$B" -t crash -e -q -f 'x\n' | wc -l)
say "killed with $before records out"
[ "$before" -lt "$(wc -l < "$WORK/changelog.tsv")" ] || fail "every record was out before the kill"
"$SLUICE_BIN" run "$WORK/c.json" 2> "$WORK/crash2.log" || fail "restart exited with $?"
# From the last durable checkpoint, or (none durable yet: the slow
# producer holds up the barrier's flush) from the start; either way the
# output scan finds what the task already wrote.
grep -q "restored from checkpoint\|were already written" "$WORK/crash2.log" ||
    fail "the restart neither restored a checkpoint nor found its output"
say "restart: $(grep -o "restored from checkpoint [0-9]*\|results up to sequence [0-9]* were already written" "$WORK/crash2.log" | head -n 2 | tr '\n' ' ')"
changelog crash "$WORK/crash.tsv"
$ORACLE changelog --events "$WORK/events.jsonl" --changelog "$WORK/crash.tsv" \
    --gap-ms 60 --lateness-ms 1000 --ooo-ms 100 > "$WORK/check_crash.txt" ||
    fail "after the crash the changelog differs from the oracle: $(cat "$WORK/check_crash.txt")"
# nothing lost or doubled: the same records (key, value) as the clean run
cut -f1,2 "$WORK/changelog.tsv" | sort > "$WORK/a.txt"
cut -f1,2 "$WORK/crash.tsv" | sort > "$WORK/b.txt"
cmp -s "$WORK/a.txt" "$WORK/b.txt" ||
    fail "crash run: $(diff "$WORK/a.txt" "$WORK/b.txt" | grep -c '^[<>]') records differ from the clean run"
say "after the crash: $(head -n 1 "$WORK/check_crash.txt")"
stop_mock
say "PASS"
