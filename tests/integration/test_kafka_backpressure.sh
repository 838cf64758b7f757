#!/bin/bash
# Backpressure: one worker, rings of 2 batches of 64 events and
# "pause_after": 0, so consumer threads hit full rings constantly and pause
# and resume their partitions (rd_kafka_pause_partitions) all along. No
# event may be lost or repeated: the results equal the oracle's, and the
# status reports the pauses.
source "$(dirname "$0")/kafka_lib.sh"

N=${SL_KAFKA_BP_EVENTS:-100000}
start_mock --topic slow:8 --topic results:4
$ORACLE gen --count "$N" --keys 500 --seed 51 --disorder-ms 30 > "$WORK/events.jsonl"
"$SLUICE_BIN" produce --bootstrap "$B" --topic slow --file "$WORK/events.jsonl" \
    --key-field user --quiet 2> "$WORK/produce.log" || fail "sluice produce failed"
write_pipeline "$WORK/p.json" bp slow results '"partitioned_by": ["user"], "pause_after": 0, "poll_batch": 4096,' 100ms
sed -i 's|"runtime": {"workers": 2}|"runtime": {"workers": 1, "ring_capacity": 2, "batch_size": 64}|' "$WORK/p.json"
grep -q '"ring_capacity": 2' "$WORK/p.json" || fail "could not set the runtime"
say "running the pipeline"
"$SLUICE_BIN" run "$WORK/p.json" 2> "$WORK/run.log" || fail "sluice run exited with $?"
[ "$(summary_field "$WORK/run.log" events_in)" = "$N" ] || fail "events_in is not $N"
pauses=$(summary_field "$WORK/run.log" backpressure_pauses)
say "backpressure pauses: $pauses"
[ "${pauses:-0}" -gt 0 ] || fail "the partitions were never paused"
read_values results > "$WORK/results.jsonl"
$ORACLE check --events "$WORK/events.jsonl" --results "$WORK/results.jsonl" --window-ms 10000 ||
    fail "results differ from the oracle"
stop_mock
say "PASS"
