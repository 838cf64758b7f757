#!/bin/bash
# Bad input on the topic: non-JSON, a missing key, a missing event time, a
# non-numeric aggregate field, and a 2 MB event. Each is counted per reason
# and dead-lettered to a Kafka topic with the reason in the "sluice-reason"
# header; the run goes on and the good events give the oracle's results.
source "$(dirname "$0")/kafka_lib.sh"

start_mock --topic dirty:8 --topic results:4 --topic dead:2
$ORACLE gen --count 50000 --keys 300 --seed 31 --disorder-ms 20 --bad 25 \
    > "$WORK/events.jsonl" 2> "$WORK/bad-counts.json"
say "bad lines mixed in: $(cat "$WORK/bad-counts.json")"
"$SLUICE_BIN" produce --bootstrap "$B" --topic dirty --file "$WORK/events.jsonl" \
    --key-field user -X message.max.bytes=4000000 --quiet 2> "$WORK/produce.log" ||
    fail "sluice produce failed: $(cat "$WORK/produce.log")"

write_pipeline "$WORK/p.json" dirty dirty results '"partitioned_by": ["user"],' 1h \
    "\"dead_letter\": {\"type\": \"kafka\", \"topic\": \"dead\", \"properties\": {\"bootstrap.servers\": \"$B\", \"message.max.bytes\": 4000000}},"
say "running the pipeline"
"$SLUICE_BIN" run "$WORK/p.json" 2> "$WORK/run.log" || fail "sluice run exited with $?"

bad() { grep -o "\"$1\":[0-9]*" "$WORK/run.log" | tail -n 1 | cut -d: -f2; }
[ "$(bad malformed_json)" = 25 ] || fail "malformed_json: $(bad malformed_json), expected 25"
[ "$(bad missing_key)" = 25 ] || fail "missing_key: $(bad missing_key), expected 25"
[ "$(bad missing_time)" = 25 ] || fail "missing_time: $(bad missing_time), expected 25"
[ "$(bad wrong_type)" = 25 ] || fail "wrong_type: $(bad wrong_type), expected 25"
[ "$(bad too_large)" = 1 ] || fail "too_large: $(bad too_large), expected 1"
[ "$(summary_field "$WORK/run.log" dead_lettered)" = 101 ] || fail "dead_lettered is not 101"

# The dead-letter topic holds each with its reason in a header.
kcat -C -b "$B" -t dead -e -q -f '%h\n' | sed -n 's/.*sluice-reason=\([a-z_]*\).*/\1/p' |
    sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ' > "$WORK/dead-reasons.txt"
say "dead-letter topic: $(cat "$WORK/dead-reasons.txt")"
for want in malformed_json=25 missing_key=25 missing_time=25 wrong_type=25 too_large=1; do
    grep -qw "$want" "$WORK/dead-reasons.txt" || fail "dead-letter topic lacks $want"
done
kcat -C -b "$B" -t dead -e -q -c 1 -f '%s\n' | grep -q '"reason":"' || fail "dead-letter record lacks its reason"

read_values results > "$WORK/results.jsonl"
$ORACLE check --events "$WORK/events.jsonl" --results "$WORK/results.jsonl" --window-ms 10000 ||
    fail "results differ from the oracle"
stop_mock
say "PASS"
