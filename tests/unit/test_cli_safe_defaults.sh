#!/usr/bin/env bash
# test_cli_safe_defaults.sh - safe defaults through `sluice run` on files,
# each checked against a brute-force oracle on randomized input:
#  - watermark.max_future: events at year 9999 or hours ahead are bad
#    (too_far_ahead) and never become the watermark; "off" lets them
#    poison the task (the oracle predicts both);
#  - dead letters are valid JSON whatever the payload (invalid UTF-8 is
#    base64 and says so), late ones carry the event so it can be replayed;
#  - runtime.max_state_bytes fails loudly (keys, bytes), or with
#    on_state_full "drop" refuses new keys and counts them; the figures
#    agree with explain's estimate;
#  - warnings (log and summary) for a misspelled field and a filter that
#    compares a string with numbers, and none for a correct pipeline.
set -u

# shellcheck source=tests/unit/cli_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
SEED="${SL_TEST_SEED:-$RANDOM}"
echo "seed $SEED"

# summary LOG: the summary object of the last stderr line, as JSON (fails
# the test if it does not parse).
summary() {
    python3 -c '
import json, sys
lines = [l for l in open(sys.argv[1], encoding="utf-8").read().splitlines() if l.strip()]
print(json.dumps(json.loads(lines[-1])["summary"]))' "$1" || fail "summary of $1 is not JSON: $(tail -n 1 "$1")"
}

# ---- 1. max_future ---------------------------------------------------------
python3 - "$SEED" << 'PY'
import json, random, sys, time
rnd = random.Random(int(sys.argv[1]))
now = int(time.time() * 1000)
base = 1700000000000
wild = []
with open("mf.jsonl", "w") as f:
    t = base
    for i in range(5000):
        t += rnd.randint(0, 20)
        ts = t - rnd.randint(0, 50)               # disorder within 100 ms
        if rnd.random() < 0.002 or i in (1000, 3000):
            ts = rnd.choice([253402300799000, now + 2 * 3600000, now + 30 * 86400000])
            wild.append(i)
        f.write(json.dumps({"user": "u%d" % rnd.randint(0, 30), "amount": i, "ts": ts}) + "\n")
json.dump({"wild": len(wild)}, open("mf.meta", "w"))
PY
oracle_mf() { # FILE OFF -> expected results (sorted JSON lines)
    python3 - "$1" "$2" << 'PY'
import json, sys, time
off = sys.argv[2] == "1"
limit = time.time() * 1000 + 3600000
wm, late, bad = None, 0, 0
counts = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    ts = e["ts"]
    if not off and ts > limit:
        bad += 1
        continue
    end = ts // 1000 * 1000 + 1000
    if wm is not None and end <= wm:
        late += 1
    else:
        counts[(e["user"], end)] = counts.get((e["user"], end), 0) + 1
    w = ts - 100
    wm = w if wm is None or w > wm else wm
res = sorted(json.dumps({"user": u, "window_start": end - 1000, "window_end": end, "n": n},
                        separators=(",", ":")) for (u, end), n in counts.items())
open("expected.jsonl", "w").write("".join(r + "\n" for r in res))
print(json.dumps({"late": late, "bad": bad}))
PY
}
for off in 0 1; do
    wm='"max_out_of_orderness": "100ms"'
    [ "$off" = 1 ] && wm="$wm, \"max_future\": \"off\""
    cat > mf.json << EOF
{"name": "mf", "source": {"type": "file", "path": "mf.jsonl", "event_time": {"field": "ts"},
                          "watermark": {$wm}},
 "pipeline": [{"key_by": "user"},
              {"window": {"type": "tumbling", "size": "1s"}, "aggregates": {"n": {"fn": "count"}}}],
 "sink": {"type": "file", "path": "mf.out"}, "http": {"addr": "off"}, "runtime": {"tasks": 1}}
EOF
    "$BIN" run mf.json 2> mf.log || fail "max_future off=$off: exit $?"
    want="$(oracle_mf mf.jsonl "$off")"
    sort mf.out > got.jsonl
    cmp -s got.jsonl expected.jsonl || fail "max_future off=$off: results differ from the oracle ($(diff got.jsonl expected.jsonl | head -n 4))"
    s="$(summary mf.log)"
    python3 - "$s" "$want" "$off" << 'PY' || fail "max_future off=$off: counters"
import json, sys
s, w, off = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3] == "1"
assert s["late_dropped"] == w["late"], (s["late_dropped"], w)
assert s["bad"]["too_far_ahead"] == w["bad"], (s["bad"], w)
if off:
    assert w["late"] > 1000, w        # one wild event poisons the task
else:
    assert w["bad"] >= 2 and w["late"] == 0, w
PY
done
echo "max_future: wild timestamps bad, not the watermark"

# ---- 2. dead letters: valid JSON, replayable -------------------------------
python3 - "$SEED" << 'PY'
import json, random, sys
rnd = random.Random(int(sys.argv[1]) + 1)
lines = []
t = 1700000000000
for i in range(3000):
    t += 5
    kind = rnd.random()
    if kind < 0.05:                           # invalid UTF-8, sometimes inside a string
        raw = bytes(rnd.choice([0x80, 0xc3, 0xff, 0xed, 0xf5]) for _ in range(rnd.randint(1, 4)))
        line = b'{"user":"' + raw + b'","ts":%d}' % t
    elif kind < 0.08:                         # valid UTF-8, missing the key
        line = json.dumps({"ts": t, "note": "caf\u00e9 \u2603 \"q\" \\"},
                          ensure_ascii=False).encode()
    elif kind < 0.12:                         # late: 5 s behind
        line = json.dumps({"user": "u%d" % rnd.randint(0, 9), "ts": t - 5000,
                           "txt": "\u00fc\u00df"}, ensure_ascii=False).encode()
    else:
        line = json.dumps({"user": "u%d" % rnd.randint(0, 9), "ts": t}).encode()
    lines.append(line)
open("dl.jsonl", "wb").write(b"\n".join(lines) + b"\n")
PY
cat > dl.json << 'EOF'
{"name": "dl", "source": {"type": "file", "path": "dl.jsonl", "event_time": {"field": "ts"}},
 "pipeline": [{"key_by": "user"},
              {"window": {"type": "tumbling", "size": "1s"}, "aggregates": {"n": {"fn": "count"}}}],
 "sink": {"type": "file", "path": "dl.out"}, "dead_letter": {"type": "file", "path": "dead.jsonl"},
 "http": {"addr": "off"}, "runtime": {"tasks": 3}}
EOF
"$BIN" run dl.json 2> dl.log || fail "dead letters: exit $?"
python3 - "$(summary dl.log)" << 'PY' || fail "dead letters"
import base64, json, sys
s = json.loads(sys.argv[1])
raw = open("dl.jsonl", "rb").read().split(b"\n")[:-1]
recs = []
for n, line in enumerate(open("dead.jsonl", "rb")):
    recs.append(json.loads(line.decode("utf-8")))          # strict: valid UTF-8 and JSON
assert len(recs) == s["bad_total"] + s["late_dropped"], (len(recs), s)
assert s["bad_total"] > 0 and s["late_dropped"] > 0, s
seen = {"late": 0, "base64": 0}
for r in recs:
    assert "payload" in r, r
    if r.get("payload_encoding") == "base64":
        payload = base64.b64decode(r["payload"], validate=True)
        seen["base64"] += 1
    else:
        payload = r["payload"].encode("utf-8")
    assert payload in raw, (r, payload)                     # replayable: the event itself
    if r["reason"] == "late":
        seen["late"] += 1
        assert json.loads(payload)["ts"] == r["event_time"], r
assert seen["late"] == s["late_dropped"] and seen["base64"] > 0, seen
PY
echo "dead letters: valid JSON, base64 for invalid UTF-8, late ones replayable"

# ---- 3. state budget --------------------------------------------------------
python3 - "$SEED" << 'PY'
import json, random, sys
rnd = random.Random(int(sys.argv[1]) + 2)
with open("st.jsonl", "w") as f:
    for i in range(60000):                     # one 1 h window, 60000 events over 20000 keys
        f.write('{"user":"k%d","amount":%d,"ts":%d}\n' % (rnd.randint(0, 19999), i,
                                                           1700000000000 + i))
PY
st_def() { # EXTRA-RUNTIME
    cat << EOF
{"name": "st", "source": {"type": "file", "path": "st.jsonl", "event_time": {"field": "ts"}},
 "pipeline": [{"key_by": "user"},
              {"window": {"type": "tumbling", "size": "1h"},
               "aggregates": {"n": {"fn": "count"}, "s": {"fn": "sum", "field": "amount"}}}],
 "sink": {"type": "file", "path": "st.out"}, "http": {"addr": "off"},
 "runtime": {"tasks": 1, "workers": 1, "max_state_bytes": 500000$1}}
EOF
}
st_def "" > st.json
"$BIN" run st.json 2> st.log
rc=$?
[ "$rc" -eq 1 ] || fail "state budget: exit $rc, want 1"
msg="$(grep 'exceeds runtime.max_state_bytes' st.log | head -n 1)"
[ -n "$msg" ] || fail "state budget: no loud error: $(tail -n 3 st.log)"
per_key="$("$BIN" explain st.json | sed -n 's/^window state: ~\([0-9]*\) B per key.*/\1/p')"
python3 - "$msg" "$per_key" "$(summary st.log)" << 'PY' || fail "state budget figures: $msg"
import json, re, sys
m = re.search(r"window state (\d+) bytes exceeds runtime.max_state_bytes 500000: task 0 holds (\d+) keys in (\d+) bytes", sys.argv[1])
assert m, sys.argv[1]
total, keys, nbytes = map(int, m.groups())
assert total > 500000 and nbytes == total and keys > 0, m.groups()
per_key = int(sys.argv[2])
ratio = nbytes / keys / per_key
assert 0.5 <= ratio <= 2.0, ("explain estimates %d B per key, the accounting %.0f" % (per_key, nbytes / keys))
s = json.loads(sys.argv[3])
assert s["exit_code"] == 1 and any(w["code"] == "state_budget_exceeded" for w in s["warnings"]), s
PY
st_def ', "on_state_full": "drop"' > st2.json
"$BIN" run st2.json 2> st2.log || fail "state budget drop: exit $?"
python3 - "$(summary st2.log)" << 'PY' || fail "state budget drop: results"
import json, sys
s = json.loads(sys.argv[1])
count, total = {}, {}
for line in open("st.jsonl"):
    e = json.loads(line)
    count[e["user"]] = count.get(e["user"], 0) + 1
    total[e["user"]] = total.get(e["user"], 0) + e["amount"]
res = [json.loads(l) for l in open("st.out")]
assert 0 < len(res) < len(count), (len(res), len(count))
# A key admitted before the budget was reached keeps every event; all the
# others are refused and counted.
for r in res:
    assert r["n"] == count[r["user"]] and r["s"] == total[r["user"]], r
assert s["state_full"] == 60000 - sum(r["n"] for r in res), (s["state_full"], len(res))
assert s["events_in"] == 60000 and s["late_dropped"] == 0, s
PY
echo "state budget: fails loudly, or refuses new keys exactly"

# ---- 4. warnings for mistakes that pass validate --------------------------
python3 -c "
for i in range(3000): print('{\"user\":\"u%d\",\"amount\":%d,\"ts\":%d}' % (i % 5, i, 1700000000000 + i))" > w.jsonl
warn_def() { # FILTER KEY
    cat << EOF
{"name": "w", "source": {"type": "file", "path": "w.jsonl", "event_time": {"field": "ts"}},
 "pipeline": [{"filter": $1}, {"key_by": "$2"},
              {"window": {"type": "tumbling", "size": "1s"}, "aggregates": {"n": {"fn": "count"}}}],
 "sink": {"type": "file", "path": "w.out"}, "http": {"addr": "off"}}
EOF
}
check_warnings() { # LOG CODES...
    local log="$1"
    shift
    python3 - "$(summary "$log")" "$@" << 'PY' || fail "warnings in $log: $(grep -c '"level":"warn"' "$log") warn lines"
import json, sys
s = json.loads(sys.argv[1])
got = sorted(w["code"] for w in s["warnings"])
assert got == sorted(sys.argv[2:]), (got, sys.argv[2:], s["warnings"])
PY
}
warn_def '{"field": "amount", "op": ">=", "value": "10"}' usr > w1.json
"$BIN" validate w1.json > /dev/null || fail "the mistaken pipeline should pass validate"
"$BIN" run w1.json 2> w1.log || fail "warnings: exit $?"
check_warnings w1.log field_not_seen filter_type_mismatch
grep -q '"field \\"usr\\" (pipeline\[1\].key_by) was in none of the first 1000 events' w1.log ||
    fail "no log line for the unseen field"
warn_def '{"field": "amount", "op": ">=", "value": 10}' user > w2.json
"$BIN" run w2.json 2> w2.log || fail "warnings: exit $?"
check_warnings w2.log
warn_def '{"field": "user", "op": "=", "value": "u1"}' user > w3.json
"$BIN" run w3.json 2> w3.log || fail "warnings: exit $?"
check_warnings w3.log # mostly filtered, but by a well-typed comparison
echo "warnings: a typo and a mismatched comparison, no false alarm"

finish "safe defaults" "seed $SEED"
