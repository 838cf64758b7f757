#!/bin/bash
# What the Kafka sink delivers, and what the source commits at the end:
#  A. the results are readable by kafka-python as Debian ships it, without
#     any compression codec (the test hides lz4, zstd and snappy from it),
#     and equal the oracle; every result carries the sluice-deployment
#     header;
#  B. two deployments of one pipeline (different consumer groups, with
#     checkpoints) write to the same output topic: each writes all of its
#     results once; the second does not take the first one's sequence
#     numbers for its own (the output scan counts only its deployment's);
#  C. after a stop_at_eof run with checkpoints the committed offsets are
#     the partitions' end offsets (read with kafka-python), and a rerun of
#     the group reads nothing and writes nothing.
source "$(dirname "$0")/kafka_lib.sh"

$PY -c 'import kafka' 2> /dev/null || fail "python3-kafka is not installed (apt-get install python3-kafka)"
start_mock --topic orders:4 --topic results:4

SEED=${TEST_SEED:-$((RANDOM % 1000))}
say "seed $SEED (reproduce with TEST_SEED=$SEED)"
$ORACLE gen --count 30000 --keys 150 --seed "$SEED" --disorder-ms 50 > "$WORK/events.jsonl"
sed -E 's/^\{"user":"([^"]*)"(.*)$/\1\t{"user":"\1"\2/' "$WORK/events.jsonl" |
    kcat -P -b "$B" -t orders -K $'\t' || fail "kcat produce failed"

# deployment GROUP FILE: the pipeline with checkpoints in its own dir.
deployment() {
    write_pipeline "$2" delivery orders results '"partitioned_by": ["user"],' 1h \
        "\"checkpoint\": {\"interval\": \"300ms\", \"dir\": \"$WORK/ckpt-$1\", \"replicas\": 0},"
    sed -i "s|\"group_id\": \"delivery-group\"|\"group_id\": \"$1\"|" "$2"
    grep -q "\"group_id\": \"$1\"" "$2" || fail "could not set the group id"
}

# read_python TOPIC OUT.jsonl: every value with kafka-python, the codecs
# hidden; prints the sluice-deployment header values seen (with counts).
read_python() {
    $PY - "$B" "$1" "$2" << 'PYEOF'
import collections, sys
for codec in ("lz4", "lz4.frame", "zstandard", "zstd", "snappy", "xerial"):
    sys.modules[codec] = None  # import fails: as on a system without them
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers=sys.argv[1].split(","), enable_auto_commit=False,
                  consumer_timeout_ms=5000)
parts = [TopicPartition(sys.argv[2], p) for p in c.partitions_for_topic(sys.argv[2])]
c.assign(parts)
c.seek_to_beginning(*parts)
end = c.end_offsets(parts)
deps = collections.Counter()
n = 0
with open(sys.argv[3], "w") as out:
    while any(c.position(tp) < end[tp] for tp in parts):
        batch = c.poll(timeout_ms=2000)
        if not batch and all(c.position(tp) >= end[tp] for tp in parts):
            break
        for recs in batch.values():
            for r in recs:
                h = dict(r.headers)
                deps[h.get("sluice-deployment", b"(none)").decode()] += 1
                out.write(r.value.decode() + "\t" + h.get("sluice-deployment", b"").decode() + "\n")
                n += 1
for d, k in sorted(deps.items()):
    print("%s %d" % (d, k))
PYEOF
}

say "A+B: deployment g1 over the input"
deployment g1 "$WORK/g1.json"
"$SLUICE_BIN" run "$WORK/g1.json" 2> "$WORK/run-g1.log" || fail "deployment g1 exited with $?"
grep -q 'commit of checkpoint.*failed' "$WORK/run-g1.log" && fail "g1: an offset commit failed"
read_python results "$WORK/read1.tsv" > "$WORK/deps1.txt" || fail "kafka-python could not read the results"
cat "$WORK/deps1.txt"
if [ "$(wc -l < "$WORK/deps1.txt")" != 1 ] || ! grep -q '^delivery/g1 ' "$WORK/deps1.txt"; then
    fail "A: results do not all carry sluice-deployment delivery/g1"
fi
cut -f1 "$WORK/read1.tsv" > "$WORK/results-g1.jsonl"
$ORACLE check --events "$WORK/events.jsonl" --results "$WORK/results-g1.jsonl" --window-ms 10000 ||
    fail "A: results read by kafka-python differ from the oracle"

say "B: deployment g2 of the same pipeline, same output topic"
deployment g2 "$WORK/g2.json"
"$SLUICE_BIN" run "$WORK/g2.json" 2> "$WORK/run-g2.log" || fail "deployment g2 exited with $?"
grep -q 'suppressing their replay' "$WORK/run-g2.log" &&
    fail "B: g2 suppressed results because of g1's: $(grep -m 2 'suppressing' "$WORK/run-g2.log")"
read_python results "$WORK/read2.tsv" > "$WORK/deps2.txt" || fail "kafka-python could not read the results"
cat "$WORK/deps2.txt"
for g in g1 g2; do
    awk -F'\t' -v d="delivery/$g" '$2 == d {print $1}' "$WORK/read2.tsv" > "$WORK/results2-$g.jsonl"
    $ORACLE check --events "$WORK/events.jsonl" --results "$WORK/results2-$g.jsonl" --window-ms 10000 ||
        fail "B: deployment $g's results in the shared topic differ from the oracle"
done
[ "$(wc -l < "$WORK/read2.tsv")" = $(($(wc -l < "$WORK/results2-g1.jsonl") * 2)) ] ||
    fail "B: the topic holds records of neither deployment"

say "C: committed offsets of g1 and g2 are the end offsets"
for g in g1 g2; do
    grep -q 'final checkpoint at the end of the input is committed' "$WORK/run-$g.log" ||
        fail "C: $g did not commit a final checkpoint at the end of the input"
    $PY - "$B" orders "$g" << 'PYEOF' || fail "C: $g committed offsets are not the end offsets"
import sys
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers=sys.argv[1].split(","), group_id=sys.argv[3],
                  enable_auto_commit=False)
parts = [TopicPartition(sys.argv[2], p) for p in sorted(c.partitions_for_topic(sys.argv[2]))]
end = c.end_offsets(parts)
bad = 0
for tp in parts:
    got = c.committed(tp)
    print("%s [%d]: committed %s, end %d" % (sys.argv[3], tp.partition, got, end[tp]))
    bad += got != end[tp]
sys.exit(1 if bad else 0)
PYEOF
done
say "C: a rerun of g1 reads nothing and writes nothing"
before=$(kcat -C -b "$B" -t results -e -q -f '.' | wc -c)
"$SLUICE_BIN" run "$WORK/g1.json" 2> "$WORK/run-g1b.log" || fail "rerun of g1 exited with $?"
[ "$(summary_field "$WORK/run-g1b.log" events_in)" = 0 ] ||
    fail "C: the rerun read $(summary_field "$WORK/run-g1b.log" events_in) events"
after=$(kcat -C -b "$B" -t results -e -q -f '.' | wc -c)
[ "$before" = "$after" ] || fail "C: the rerun wrote $((after - before)) results"
grep -q 'commit of checkpoint.*failed' "$WORK/run-g1b.log" && fail "C: an offset commit failed in the rerun"
say "PASS"
