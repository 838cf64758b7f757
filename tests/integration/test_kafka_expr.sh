#!/bin/bash
# Expressions through the Kafka repartition path: unkeyed events (nested
# objects, strings with escapes, nulls, missing fields, a few bad events)
# go through a SQL filter, a computed field, computed and nested keys,
# expression and sketch aggregates (count_distinct, top_k, count_if) and a
# HAVING + computed field after the window. The keys are computed on the
# first stage and travel in the repartition records, with the aggregate
# inputs (numbers, value texts), to the second stage. The results read back
# with kcat must equal, as a multiset, the results of the same pipeline on
# the same events from a file (one process, no repartition), and both runs
# must count the same bad events per reason. No event is late in either
# run (disorder 40 ms, max_out_of_orderness 10 s), so they agree exactly.
source "$(dirname "$0")/kafka_lib.sh"

SEED=${SL_TEST_SEED:-$RANDOM}
say "seed $SEED (SL_TEST_SEED to repeat)"
$PY - "$SEED" "$WORK/events.jsonl" << 'PYEOF'
import json, random, sys
random.seed(int(sys.argv[1]))
pages = ["/a", "/b", "/caf\u00e9", "/q?x=\"1\"", None, 3, 3.0]
with open(sys.argv[2], "w") as f:
    for i in range(30000):
        e = {"user": "U%d" % random.randrange(60), "amount": random.randrange(-5, 100),
             "ts": 1700000000000 + i * 5 - random.randrange(40),
             "dev": {"id": "d%d" % random.randrange(25), "site": random.choice(["x", "y"])},
             "page": random.choice(pages)}
        r = random.random()
        if r < 0.05:
            del e["page"]
        elif r < 0.06:
            e["amount"] = "ten"          # expr_error: a string compared with a number
        elif r < 0.065:
            del e["dev"]                 # missing_key: dev.id is missing
        elif r < 0.07:
            f.write('{"user": "U1", "amount": \n')   # malformed_json
            continue
        f.write(json.dumps(e, ensure_ascii=random.random() < 0.5) + "\n")
PYEOF

start_mock --topic events:4 --topic expr-repartition:4 --topic results:4
"$SLUICE_BIN" produce --bootstrap "$B" --topic events --file "$WORK/events.jsonl" --no-key \
    --quiet 2> "$WORK/produce.log" || fail "sluice produce failed"

STAGES='"pipeline": [
  {"filter": "amount >= 0"},
  {"map": {"set": {"x": "amount * 2"}}},
  {"key_by": ["lower(user) AS u", "dev.id"]},
  {"window": {"type": "tumbling", "size": "10s"},
   "aggregates": {"n": {"fn": "count"}, "sx": {"fn": "sum", "field": "x"},
                  "pv": {"fn": "sum", "expr": "amount + 1"},
                  "pages": {"fn": "count_distinct", "field": "page"},
                  "top": {"fn": "top_k", "expr": "page", "k": 10},
                  "big": {"fn": "count_if", "if": "amount > 50 AND dev.site = '"'"'x'"'"'"}}},
  {"filter": "n > 1"},
  {"map": {"set": {"avg": "CAST(sx AS DOUBLE) / n"}}}]'
TIME='"event_time": {"field": "ts", "unit": "ms"}, "watermark": {"max_out_of_orderness": "10s"}'
cat > "$WORK/kafka.json" << EOF
{"name": "expr", "source": {"type": "kafka", "topics": ["events"], "group_id": "expr",
  "start": "earliest", "stop_at_eof": true, "consumer_threads": 2,
  "properties": {"bootstrap.servers": "$B"}, $TIME},
 $STAGES,
 "sink": {"type": "kafka", "topic": "results", "properties": {"bootstrap.servers": "$B"}},
 "runtime": {"workers": 2}}
EOF
cat > "$WORK/file.json" << EOF
{"name": "expr", "source": {"type": "file", "path": "$WORK/events.jsonl", $TIME},
 $STAGES,
 "sink": {"type": "file", "path": "$WORK/file.out"}, "runtime": {"workers": 2}}
EOF
"$SLUICE_BIN" explain "$WORK/kafka.json" | grep -q "repartition: yes" || fail "the Kafka run does not repartition"
say "running on Kafka"
timeout 300 "$SLUICE_BIN" run "$WORK/kafka.json" 2> "$WORK/kafka.log" || fail "Kafka run exited with $?"
say "running on the file"
timeout 300 "$SLUICE_BIN" run "$WORK/file.json" 2> "$WORK/file.log" || fail "file run exited with $?"
kcat -C -b "$B" -t results -e -q -f '%s\n' > "$WORK/kafka.out" || fail "kcat failed"

$PY - "$WORK" << 'PYEOF' || fail "the Kafka and file runs differ"
import collections, json, sys
w = sys.argv[1]
def rows(path):
    return collections.Counter(json.dumps(json.loads(l), sort_keys=True) for l in open(path) if l.strip())
def summary(path):
    for line in open(path):
        if line.startswith('{"summary"'):
            return json.loads(line)["summary"]
k, f = rows(w + "/kafka.out"), rows(w + "/file.out")
ks, fs = summary(w + "/kafka.log"), summary(w + "/file.log")
print("results: kafka %d, file %d; bad: kafka %s, file %s" % (sum(k.values()), sum(f.values()), ks["bad"], fs["bad"]))
assert sum(f.values()) > 500, "too few results to compare"
assert fs["late_dropped"] == 0 and ks["late_dropped"] == 0, (fs["late_dropped"], ks["late_dropped"])
for r in ("malformed_json", "missing_key", "expr_error"):
    assert fs["bad"][r] > 0, "the input has no %s event" % r
assert ks["bad"] == fs["bad"], "bad counts differ"
assert ks["events_filtered"] == fs["events_filtered"], (ks["events_filtered"], fs["events_filtered"])
missing, extra = f - k, k - f
for x in list(missing)[:3]:
    print("only in the file run:", x)
for x in list(extra)[:3]:
    print("only in the Kafka run:", x)
assert not missing and not extra
PYEOF
say "PASS"
