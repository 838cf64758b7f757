#!/bin/bash
# Interoperability with other Kafka clients:
#  A. events produced by kcat (librdkafka, gzip) and by python3-kafka (a
#     pure-Python client, gzip, its own murmur2 partitioner) into one topic
#     are processed correctly (repartition path, so the producers'
#     partitioners do not matter), and the results are read with kcat;
#  B. event time from the Kafka message timestamp (set by python3-kafka;
#     the payload's "ts" is deliberately one hour off).
source "$(dirname "$0")/kafka_lib.sh"

$PY -c 'import kafka' 2> /dev/null || fail "python3-kafka is not installed (apt-get install python3-kafka)"
start_mock --topic mixed:8 --topic interop-repartition:8 --topic results:4 \
    --topic stamped:4 --topic results2:4

$ORACLE gen --count 40000 --keys 200 --seed 21 --disorder-ms 20 > "$WORK/events.jsonl"
head -n 20000 "$WORK/events.jsonl" > "$WORK/kcat.jsonl"
tail -n +20001 "$WORK/events.jsonl" > "$WORK/python.jsonl"

say "producing 20000 events with kcat"
sed -E 's/^\{"user":"([^"]*)"(.*)$/\1\t{"user":"\1"\2/' "$WORK/kcat.jsonl" |
    kcat -P -b "$B" -t mixed -K $'\t' -z gzip || fail "kcat produce failed"

say "producing 20000 events with python3-kafka"
$PY - "$B" "$WORK/python.jsonl" << 'PYEOF' || fail "python3-kafka produce failed"
import json, sys
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers=sys.argv[1].split(","), compression_type="gzip",
                  linger_ms=5, acks="all")
futures = []
with open(sys.argv[2]) as f:
    for line in f:
        e = json.loads(line)
        futures.append(p.send("mixed", key=e["user"].encode(), value=line.rstrip("\n").encode()))
p.flush()
for fu in futures:
    fu.get(timeout=30)
PYEOF

write_pipeline "$WORK/a.json" interop mixed results '' 1h
say "pipeline A (payload event time)"
"$SLUICE_BIN" run "$WORK/a.json" 2> "$WORK/run-a.log" || fail "pipeline A exited with $?"
[ "$(summary_field "$WORK/run-a.log" events_in)" = "40000" ] || fail "A: events_in is not 40000"
read_values results > "$WORK/results-a.jsonl"
$ORACLE check --events "$WORK/events.jsonl" --results "$WORK/results-a.jsonl" --window-ms 10000 ||
    fail "A: results differ from the oracle"

say "producing 10000 time-stamped events with python3-kafka"
head -n 10000 "$WORK/events.jsonl" > "$WORK/stamped.jsonl"
$PY - "$B" "$WORK/stamped.jsonl" << 'PYEOF' || fail "python3-kafka produce failed"
import json, sys
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers=sys.argv[1].split(","), linger_ms=5, acks="all")
futures = []
with open(sys.argv[2]) as f:
    for line in f:
        e = json.loads(line)
        ts = e["ts"]
        e["ts"] = ts + 3600 * 1000  # wrong on purpose: the pipeline must use the Kafka timestamp
        futures.append(p.send("stamped", key=e["user"].encode(),
                              value=json.dumps(e, separators=(",", ":")).encode(), timestamp_ms=ts))
p.flush()
for fu in futures:
    fu.get(timeout=30)
PYEOF
cat > "$WORK/b.json" << JSON
{"name": "stamped",
 "source": {"type": "kafka", "topics": ["stamped"], "group_id": "stamped-group",
            "consumer_threads": 2, "stop_at_eof": true, "partitioned_by": ["user"],
            "properties": {"bootstrap.servers": "$B"},
            "event_time": {"unit": "kafka"},
            "watermark": {"max_out_of_orderness": "1h"}},
 "pipeline": [
   {"key_by": ["user"]},
   {"window": {"type": "tumbling", "size": "10s"},
    "aggregates": {"n": {"fn": "count"}, "total": {"fn": "sum", "field": "amount"},
                   "lo": {"fn": "min", "field": "amount"}, "hi": {"fn": "max", "field": "amount"},
                   "mean": {"fn": "avg", "field": "amount"}}}
 ],
 "sink": {"type": "kafka", "topic": "results2", "properties": {"bootstrap.servers": "$B"}},
 "runtime": {"workers": 2}
}
JSON
say "pipeline B (Kafka timestamp event time)"
"$SLUICE_BIN" run "$WORK/b.json" 2> "$WORK/run-b.log" || fail "pipeline B exited with $?"
read_values results2 > "$WORK/results-b.jsonl"
$ORACLE check --events "$WORK/stamped.jsonl" --results "$WORK/results-b.jsonl" --window-ms 10000 ||
    fail "B: results differ from the oracle"

# Results are plain JSON for any client: kcat shows key, value and headers.
kcat -C -b "$B" -t results2 -e -q -c 1 -f 'key=%k value=%s headers=%h\n'
stop_mock
say "PASS"
