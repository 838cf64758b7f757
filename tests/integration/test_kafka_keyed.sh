#!/bin/bash
# 1,000,000 events over 16 partitions, keyed by user, produced by
# `sluice produce` -> pipeline (2 consumer threads, 2 workers, input
# declared partitioned_by user, so no repartitioning) -> result topic, read
# back with kcat and compared with the brute-force oracle.
source "$(dirname "$0")/kafka_lib.sh"

N=${SL_KAFKA_EVENTS:-1000000}
start_mock --topic orders:16 --topic results:8

say "generating $N events"
$ORACLE gen --count "$N" --keys 1000 --seed 11 --disorder-ms 50 > "$WORK/events.jsonl"
say "producing"
"$SLUICE_BIN" produce --bootstrap "$B" --topic orders --file "$WORK/events.jsonl" \
    --key-field user --quiet 2> "$WORK/produce.log" || fail "sluice produce failed"
grep -q "delivered $N, delivery errors 0" "$WORK/produce.log" || fail "not all events delivered"

write_pipeline "$WORK/p.json" keyed orders results '"partitioned_by": ["user"],' 100ms
say "running the pipeline"
start=$(date +%s.%N)
"$SLUICE_BIN" run "$WORK/p.json" 2> "$WORK/run.log" || fail "sluice run exited with $?"
say "pipeline done in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}') s"
grep -q "repartition" "$WORK/run.log" && fail "keyed input was repartitioned"
[ "$(summary_field "$WORK/run.log" events_in)" = "$N" ] || fail "events_in is not $N"
[ "$(summary_field "$WORK/run.log" late_dropped)" = "0" ] || fail "events were dropped as late"

read_values results > "$WORK/results.jsonl"
$ORACLE check --events "$WORK/events.jsonl" --results "$WORK/results.jsonl" --window-ms 10000 ||
    fail "results differ from the oracle"

# Every result carries its task, per-task sequence number and deployment.
kcat -C -b "$B" -t results -e -q -c 5 -f '%k|%h\n' > "$WORK/headers.txt"
grep -q '^{"user":"u[0-9]*"}|sluice-task=[0-9]*,sluice-seq=[0-9]*,sluice-deployment=keyed/keyed-group$' "$WORK/headers.txt" ||
    fail "result key/headers wrong: $(head -n 1 "$WORK/headers.txt")"
# The consumer group committed the end of every partition.
grep -q '"consumer_lag":0' "$WORK/run.log" || fail "consumer lag not 0 at exit"
stop_mock
say "PASS"
