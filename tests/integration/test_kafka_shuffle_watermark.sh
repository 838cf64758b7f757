#!/bin/bash
# Watermarks across the shuffle, on a backlog read at uneven speeds.
#
# Unkeyed events for 8 input partitions (with producer disorder and bad
# lines) are ALL in the topic before the pipeline starts. Input partition
# 7 is the only one led by broker 2 of the embedded cluster, and broker 2
# answers the consumer's first Fetch requests seconds late (the mock's
# broker-errors with a delay): partition 7 is read long after the other
# seven. The pipeline repartitions by user with max_out_of_orderness 100 ms
# and an idle_timeout (1 s) much shorter than the hold-back: a downstream
# task's watermark is the minimum of its upstream tasks' published
# watermarks, so partition 7's events, read last, are still on time.
# Asserts: 0 late drops, results equal to the brute-force oracle, bad lines
# counted, and that the hold-back really happened (in the repartition
# topic, upstream 7's first record comes after most records of the others).
# The internal topic is left to the broker (no CreateTopics on the embedded
# one: it auto-creates 4 partitions, so 8 upstream tasks feed 4 downstream
# tasks).
source "$(dirname "$0")/kafka_lib.sh"

N=${SL_KAFKA_EVENTS:-200000}
HOLD_MS=2500 HOLD_FETCHES=3
start_mock --brokers 2 --topic clicks:8 --topic results:4

say "generating $N events (+ bad lines)"
$ORACLE gen --count "$N" --keys 500 --seed 81 --disorder-ms 80 --bad 10 \
    > "$WORK/events.jsonl" 2> "$WORK/bad-counts.json"
# Partitions 0..6 and the results on broker 1, partition 7 alone on broker 2.
for p in 0 1 2 3 4 5 6; do mock_cmd "leader clicks $p 1"; done
mock_cmd "leader clicks 7 2"
for p in 0 1 2 3; do mock_cmd "leader results $p 1"; done
sleep 0.5
say "producing (no key)"
"$SLUICE_BIN" produce --bootstrap "$B" --topic clicks --file "$WORK/events.jsonl" --no-key \
    -X message.max.bytes=4000000 -X sticky.partitioning.linger.ms=0 --quiet \
    2> "$WORK/produce.log" || fail "sluice produce failed"
total=$(wc -l < "$WORK/events.jsonl")
grep -q "delivered $total, delivery errors 0" "$WORK/produce.log" ||
    fail "not all events delivered: $(tail -n 2 "$WORK/produce.log")"
for p in 0 1 2 3 4 5 6 7; do
    c=$(kcat -C -b "$B" -t clicks -p "$p" -e -q -f 'x\n' | wc -l)
    [ "$c" -gt $((N / 16)) ] || fail "partition $p holds only $c events: the test needs all 8 filled"
done

cat > "$WORK/p.json" << EOF
{"name": "shufwm",
 "source": {"type": "kafka", "topics": ["clicks"], "group_id": "shufwm-group", "start": "earliest",
            "consumer_threads": 2, "stop_at_eof": true,
            "properties": {"bootstrap.servers": "$B"},
            "event_time": {"field": "ts", "unit": "ms"},
            "watermark": {"max_out_of_orderness": "100ms", "idle_timeout": "1s",
                          "emit_interval": "200ms"}},
 "pipeline": [
   {"key_by": ["user"]},
   {"window": {"type": "tumbling", "size": "2s"},
    "aggregates": {"n": {"fn": "count"}, "total": {"fn": "sum", "field": "amount"},
                   "lo": {"fn": "min", "field": "amount"}, "hi": {"fn": "max", "field": "amount"},
                   "mean": {"fn": "avg", "field": "amount"}}}
 ],
 "sink": {"type": "kafka", "topic": "results", "properties": {"bootstrap.servers": "$B"}},
 "runtime": {"workers": 2}
}
EOF
"$SLUICE_BIN" explain "$WORK/p.json" > "$WORK/explain.txt" 2>&1 || fail "explain failed"
grep -q "watermark across the shuffle" "$WORK/explain.txt" ||
    fail "explain does not describe the shuffle's watermark: $(cat "$WORK/explain.txt")"

# Broker 2 (partition 7 and whatever of the internal topic it leads)
# answers its next Fetch requests HOLD_MS late each.
errs=""
for _ in $(seq $HOLD_FETCHES); do errs+=" NO_ERROR:$HOLD_MS"; done
mock_cmd "broker-errors 2 Fetch$errs"
say "running the pipeline (broker 2 holds partition 7 back ${HOLD_FETCHES}x ${HOLD_MS} ms)"
t0=$(date +%s%N)
"$SLUICE_BIN" run "$WORK/p.json" 2> "$WORK/run.log" || fail "sluice run exited with $?"
took_ms=$((($(date +%s%N) - t0) / 1000000))
say "pipeline done in $took_ms ms"
[ "$took_ms" -ge "$HOLD_MS" ] || fail "the run took $took_ms ms: the hold-back did not happen"
grep -q "auto-created the topic with 4 partitions: 4 downstream tasks" "$WORK/run.log" ||
    fail "the internal topic was not auto-created with 4 partitions: $(grep -m 2 'internal topic' "$WORK/run.log")"

[ "$(summary_field "$WORK/run.log" events_in)" = "$total" ] || fail "events_in is not $total"
late=$(summary_field "$WORK/run.log" late_dropped)
say "late_dropped: $late"
[ "$late" = "0" ] || fail "$late events were dropped as late"
bad() { grep -o "\"$1\":[0-9]*" "$WORK/run.log" | tail -n 1 | cut -d: -f2; }
[ "$(bad malformed_json)" = 10 ] || fail "malformed_json: $(bad malformed_json), expected 10"
[ "$(bad missing_key)" = 10 ] || fail "missing_key: $(bad missing_key), expected 10"

# The hold-back, seen in the internal topic: per repartition partition, the
# share of other upstreams' data records before upstream 7's first one.
kcat -C -b "$B" -t shufwm-repartition -e -q -f '%p %h\n' > "$WORK/rep-headers.txt"
data=$(grep -c 'sluice-src=' "$WORK/rep-headers.txt" || true)
[ "$data" = "$N" ] || fail "repartition topic holds $data data records, expected $N"
grep -q 'sluice-wm=7:8:' "$WORK/rep-headers.txt" || fail "no watermark record of upstream 7"
held=$(awk '{ split($2, h, "sluice-src="); if (h[2] == "") next; split(h[2], u, ":");
              if (u[1] == "7") { if (!(($1) in first)) first[$1] = before[$1] }
              else { before[$1]++ } total[$1] += (u[1] != "7") }
            END { best = 0; for (p in first) { f = first[p] / total[p]; if (f > best) best = f }
                  printf "%d", best * 100 }' "$WORK/rep-headers.txt")
say "upstream 7's first record came after ${held}% of the others' (best partition)"
[ "$held" -ge 80 ] || fail "partition 7 was not held back (first record after only ${held}%)"

read_values results > "$WORK/results.jsonl"
$ORACLE check --events "$WORK/events.jsonl" --results "$WORK/results.jsonl" --window-ms 2000 ||
    fail "results differ from the oracle"
stop_mock
say "PASS"
