#!/bin/bash
# The example pipelines of deploy/pipelines/, run as shipped (only their
# ${VAR:-default} sources and sinks pointed at temporary files or topics)
# on random input, against the brute-force oracle tests/lib/examples_oracle.py:
#  * trading-vwap, card-fraud, iot-sensors, clickstream-sessions with their
#    file source and sink: every result (as a multiset, exact values and
#    JSON types; iot-sensors' percentiles within their 1% of the exact
#    rank's value), and the summary's bad counts per reason, late_dropped,
#    events_filtered and results_out; the oracle also fails when the input
#    could not tell a wrong percentile rank or top_k tie order apart;
#  * trading-vwap-kafka on `sluice kafka-mock`: the input produced keyed by
#    symbol, the result topic read back with kcat and checked the same way,
#    each result's message key being its symbol.
# The input is new each run: the seed is printed, and SLUICE_EXAMPLES_SEED
# fixes it (SLUICE_EXAMPLES_EVENTS sets the events per example, 40000).
source "$(dirname "$0")/kafka_lib.sh"

ROOT=$(cd "$HERE/../.." && pwd)
PIPELINES="$ROOT/deploy/pipelines"
EXORACLE="$PY $HERE/../lib/examples_oracle.py"
SEED=${SLUICE_EXAMPLES_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
EVENTS=${SLUICE_EXAMPLES_EVENTS:-40000}
say "seed $SEED (rerun with SLUICE_EXAMPLES_SEED=$SEED), $EVENTS events per example"

for f in "$PIPELINES"/*.json; do
    "$SLUICE_BIN" validate "$f" > /dev/null || fail "sluice validate $f failed"
done

n=0
for ex in trading-vwap card-fraud iot-sensors clickstream-sessions; do
    n=$((n + 1))
    $EXORACLE gen "$ex" --seed $((SEED + n)) --events "$EVENTS" > "$WORK/$ex.in.jsonl" ||
        fail "$ex: input generation failed"
    SLUICE_INPUT="$WORK/$ex.in.jsonl" SLUICE_OUTPUT="$WORK/$ex.out.jsonl" \
        "$SLUICE_BIN" run "$PIPELINES/$ex.json" 2> "$WORK/$ex.log" ||
        fail "$ex: sluice run exited with $? ($(tail -n 3 "$WORK/$ex.log"))"
    $EXORACLE check "$ex" --input "$WORK/$ex.in.jsonl" --results "$WORK/$ex.out.jsonl" \
        --summary "$WORK/$ex.log" || fail "$ex: results differ from the oracle (seed $SEED)"
done

# Kafka end to end: trading-vwap-kafka.json, input and results on topics.
start_mock --topic trades:4 --topic bars:3
$EXORACLE gen trading-vwap --seed $((SEED + 99)) --events "$EVENTS" > "$WORK/kafka.in.jsonl" ||
    fail "kafka: input generation failed"
"$SLUICE_BIN" produce --bootstrap "$B" --topic trades --file "$WORK/kafka.in.jsonl" \
    --key-field symbol --quiet 2> "$WORK/produce.log" ||
    fail "sluice produce failed: $(cat "$WORK/produce.log")"
SLUICE_BOOTSTRAP="$B" SLUICE_INPUT_TOPIC=trades SLUICE_OUTPUT_TOPIC=bars \
    SLUICE_GROUP_ID="examples-$SEED" SLUICE_STOP_AT_EOF=true SLUICE_CHECKPOINT_DIR="$WORK/ckpt" \
    "$SLUICE_BIN" run "$PIPELINES/trading-vwap-kafka.json" 2> "$WORK/kafka.log" ||
    fail "kafka: sluice run exited with $?"
read_values bars > "$WORK/kafka.out.jsonl"
$EXORACLE check trading-vwap --input "$WORK/kafka.in.jsonl" --results "$WORK/kafka.out.jsonl" \
    --summary "$WORK/kafka.log" || fail "kafka: results differ from the oracle (seed $SEED)"
# Message key: the key fields as a JSON object.
kcat -C -b "$B" -t bars -e -q -f '%k\t%s\n' |
    awk -F'\t' '{ if (index($1, "{\"symbol\":") != 1 || index($2, substr($1, 1, length($1) - 1) ",") != 1) bad++ }
                END { exit bad > 0 }' || fail "kafka: a result's message key is not its symbol"
stop_mock
say "PASS"
