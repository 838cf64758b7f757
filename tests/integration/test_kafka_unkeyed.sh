#!/bin/bash
# 1,000,000 unkeyed events over 16 partitions -> pipeline keyed by user:
# the source repartitions through the internal topic "<name>-repartition"
# (2 consumer threads per stage, 2 workers) -> result topic, read back with
# kcat and compared with the brute-force oracle.
source "$(dirname "$0")/kafka_lib.sh"

N=${SL_KAFKA_EVENTS:-1000000}
# The embedded broker has no CreateTopics: the internal topic is made here.
start_mock --topic clicks:16 --topic unkeyed-repartition:16 --topic results:8

say "generating $N events"
$ORACLE gen --count "$N" --keys 1000 --seed 12 --disorder-ms 50 > "$WORK/events.jsonl"
say "producing (no key)"
"$SLUICE_BIN" produce --bootstrap "$B" --topic clicks --file "$WORK/events.jsonl" --no-key \
    --quiet 2> "$WORK/produce.log" || fail "sluice produce failed"
grep -q "delivered $N, delivery errors 0" "$WORK/produce.log" || fail "not all events delivered"

# Re-keying interleaves partitions read at different speeds; the
# downstream tasks' watermark is the minimum of the upstream tasks'
# published watermarks, so an out-of-orderness covering the producer's
# disorder (50 ms) is enough: no event is late, and the oracle needs no
# lateness model.
write_pipeline "$WORK/p.json" unkeyed clicks results '' 100ms
"$SLUICE_BIN" explain "$WORK/p.json" > "$WORK/explain.txt" 2>&1 || true
say "running the pipeline"
start=$(date +%s.%N)
"$SLUICE_BIN" run "$WORK/p.json" 2> "$WORK/run.log" || fail "sluice run exited with $?"
say "pipeline done in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}') s"
[ "$(summary_field "$WORK/run.log" events_in)" = "$N" ] || fail "events_in is not $N"
[ "$(summary_field "$WORK/run.log" late_dropped)" = "0" ] || fail "events were dropped as late"

# All of it went through the internal topic, keyed by the grouping key,
# beside the upstream tasks' watermark records (header sluice-wm, no key).
kcat -C -b "$B" -t unkeyed-repartition -e -q -f '%h|%k %s\n' > "$WORK/rep.txt"
rep=$(grep -c '^sluice-src=' "$WORK/rep.txt" || true)
[ "$rep" = "$N" ] || fail "repartition topic holds $rep data records, expected $N"
grep -q '^sluice-wm=[0-9]*:16:' "$WORK/rep.txt" || fail "no watermark records in the repartition topic"
grep -m 3 '^sluice-src=' "$WORK/rep.txt" | cut -d'|' -f2 > "$WORK/rep-sample.txt"
grep -q '^"user":"u[0-9]*" {' "$WORK/rep-sample.txt" || fail "repartition records: $(head -n 1 "$WORK/rep-sample.txt")"

read_values results > "$WORK/results.jsonl"
$ORACLE check --events "$WORK/events.jsonl" --results "$WORK/results.jsonl" --window-ms 10000 ||
    fail "results differ from the oracle"
stop_mock
say "PASS"
