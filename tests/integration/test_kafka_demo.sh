#!/bin/bash
# `sluice demo --seconds N`: in-process embedded Kafka, producer, pipeline
# and result reader; it must print windowed results read back from the
# result topic and a live status line, then stop cleanly with exit 0.
source "$(dirname "$0")/kafka_lib.sh"

"$SLUICE_BIN" demo --seconds 7 --rate 5000 > "$WORK/demo.out" 2> "$WORK/demo.log" ||
    fail "sluice demo exited with $?"
n=$(grep -c '"window_start":' "$WORK/demo.out" || true)
say "demo printed $n results"
[ "$n" -gt 0 ] || fail "no results printed"
head -n 1 "$WORK/demo.out" | $PY -c 'import json,sys; r=json.loads(sys.stdin.read()); assert {"user","window_start","window_end","orders","total","biggest","mean"} <= set(r), r' ||
    fail "result line is not a complete result: $(head -n 1 "$WORK/demo.out")"
grep -q 'events/s\|ev/s' "$WORK/demo.log" || fail "no status line"
grep -q 'consumer lag' "$WORK/demo.log" || fail "status line lacks the consumer lag"
grep -q "results read back" "$WORK/demo.log" || fail "no closing line"
say "PASS"
