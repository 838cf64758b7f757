#!/bin/bash
# Several input topics in one source: two co-partitioned topics (same
# partition count, keyed by user with the same partitioner), so partition p
# of both is task p; the results over both equal the oracle's on the union.
# The topics hold different spans of event time ("web" the first 25,000
# events, "app" the last 15,000), read side by side: a task's watermark is
# the minimum of its two inputs' (an input that ended holds nobody back),
# so 100 ms of out-of-orderness loses nothing.
source "$(dirname "$0")/kafka_lib.sh"

start_mock --topic web:4 --topic app:4 --topic results:4
$ORACLE gen --count 40000 --keys 300 --seed 61 --disorder-ms 20 > "$WORK/events.jsonl"
head -n 25000 "$WORK/events.jsonl" > "$WORK/web.jsonl"
tail -n +25001 "$WORK/events.jsonl" > "$WORK/app.jsonl"
for t in web app; do
    "$SLUICE_BIN" produce --bootstrap "$B" --topic $t --file "$WORK/$t.jsonl" --key-field user \
        --quiet 2> "$WORK/produce-$t.log" || fail "sluice produce to $t failed"
done
write_pipeline "$WORK/p.json" topics web results '"partitioned_by": ["user"],' 100ms
sed -i 's|"topics": \["web"\]|"topics": ["web", "app"]|' "$WORK/p.json"
grep -q '"topics": \["web", "app"\]' "$WORK/p.json" || fail "could not set the topics"
# A task's checkpoint records one input offset, so co-partitioned topics
# need "checkpoint": "off" (checkpoints are on by default for Kafka input).
"$SLUICE_BIN" validate "$WORK/p.json" > /dev/null 2>&1 && fail "co-partitioned topics with checkpoints validated"
sed -i 's|^ "runtime"| "checkpoint": "off",\n "runtime"|' "$WORK/p.json"
grep -q '"checkpoint": "off"' "$WORK/p.json" || fail "could not turn checkpoints off"
"$SLUICE_BIN" run "$WORK/p.json" 2> "$WORK/run.log" || fail "sluice run exited with $?"
[ "$(summary_field "$WORK/run.log" events_in)" = 40000 ] || fail "events_in is not 40000"
[ "$(summary_field "$WORK/run.log" tasks)" = 4 ] || fail "expected 4 tasks (co-partitioned)"
[ "$(summary_field "$WORK/run.log" late_dropped)" = 0 ] || fail "events were dropped as late"
read_values results > "$WORK/results.jsonl"
$ORACLE check --events "$WORK/events.jsonl" --results "$WORK/results.jsonl" --window-ms 10000 ||
    fail "results differ from the oracle"
stop_mock
say "PASS"
