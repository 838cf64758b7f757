#!/bin/bash
# Start positions and committed offsets:
#  - a second run of the same group resumes from what the first committed;
#  - "start": "latest" skips what is there; "committed" without a committed
#    offset refuses to start;
#  - a committed offset that fell out of the partition's retained range is
#    a loud error (exit 1), never a silent skip.
source "$(dirname "$0")/kafka_lib.sh"

start_mock --topic resume:4 --topic tiny:1 --topic results:4
# The embedded broker keeps an emptied group rebalancing for the session
# timeout minus 1 s before a new member may join: a short session timeout
# keeps reruns of a group quick.
run_group() { # FILE TOPIC GROUP START LOG -> exit status
    write_pipeline "$1" "$3" "$2" results "\"start\": \"$4\", \"partitioned_by\": [\"user\"]," 1h
    sed -i -e "s|\"group_id\": \"$3-group\", \"start\": \"earliest\",||" \
        -e 's|^\( *"properties": {"bootstrap.servers": "[^"]*"\)},$|\1, "session.timeout.ms": 6000},|' "$1"
    grep -q session.timeout "$1" || fail "could not set session.timeout.ms"
    "$SLUICE_BIN" run "$1" 2> "$5"
}

say "first run of group g1 over 5000 events"
"$SLUICE_BIN" produce --bootstrap "$B" --topic resume --count 5000 --start-ts 1700000000000 --quiet
run_group "$WORK/p1.json" resume g1 earliest "$WORK/run1.log" || fail "run 1 exited with $?"
[ "$(summary_field "$WORK/run1.log" events_in)" = 5000 ] || fail "run 1: events_in is not 5000"

say "second run of g1 after 3000 more: only the new ones"
"$SLUICE_BIN" produce --bootstrap "$B" --topic resume --count 3000 --start-ts 1700000100000 --seed 2 --quiet
run_group "$WORK/p2.json" resume g1 earliest "$WORK/run2.log" || fail "run 2 exited with $?"
[ "$(summary_field "$WORK/run2.log" events_in)" = 3000 ] || fail "run 2: events_in is not 3000"
grep -q '(committed)' "$WORK/run2.log" || fail "run 2 did not start from committed offsets"

say "a new group with start=latest reads nothing old"
run_group "$WORK/p3.json" resume g2 latest "$WORK/run3.log" || fail "run 3 exited with $?"
[ "$(summary_field "$WORK/run3.log" events_in)" = 0 ] || fail "run 3: events_in is not 0"

say "a new group with start=committed refuses"
rc=0
run_group "$WORK/p4.json" resume g3 committed "$WORK/run4.log" || rc=$?
[ $rc -eq 1 ] || fail "start=committed without offsets exited with $rc, expected 1"
grep -q 'no committed offset' "$WORK/run4.log" || fail "no clear message: $(tail -n 3 "$WORK/run4.log")"

say "committed offset out of range"
"$SLUICE_BIN" produce --bootstrap "$B" --topic tiny --count 2000 --start-ts 1700000000000 --quiet
run_group "$WORK/p5.json" tiny g4 earliest "$WORK/run5.log" || fail "run 5 exited with $?"
# The embedded broker keeps ~5 MB per partition: 7 MB more push the
# committed offset out of the retained range.
"$SLUICE_BIN" produce --bootstrap "$B" --topic tiny --count 3500 --payload-bytes 2000 \
    --start-ts 1700000200000 -X compression.type=none -X batch.size=100000 --quiet
rc=0
run_group "$WORK/p6.json" tiny g4 earliest "$WORK/run6.log" || rc=$?
[ $rc -eq 1 ] || fail "out-of-range committed offset: exit $rc, expected 1"
grep -q 'outside the partition' "$WORK/run6.log" || fail "no clear message: $(tail -n 3 "$WORK/run6.log")"
grep '"level":"error"' "$WORK/run6.log" | head -n 1
stop_mock
say "PASS"
