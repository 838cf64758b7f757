#!/bin/bash
# /metrics as Prometheus sees it, on a running node with Kafka input that
# goes through repartitioning:
#  - `promtool check metrics` (Debian's prometheus package) accepts it;
#  - sluice_events_in_total counts the input topic's partitions (label
#    topic), never the repartition topic's, and adds up to the events
#    produced;
#  - sluice_watermark_lag_seconds is in seconds (close to the wall clock
#    minus the newest event time);
#  - a real Prometheus server (own loopback port and data dir, stopped by
#    PID) scrapes the node: its query API shows up == 1 and the same
#    events_in total.
source "$(dirname "$0")/kafka_lib.sh"

if ! command -v promtool > /dev/null || ! command -v prometheus > /dev/null; then
    fail "promtool/prometheus are not installed (deploy/install-deps.sh test)"
fi
free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
start_mock --topic orders:4 --topic metrics-repartition:4 --topic results:4

N=$((20000 + RANDOM % 5000))
PORT=$(free_port)
write_pipeline "$WORK/p.json" metrics orders results '' 10s \
    "\"checkpoint\": {\"interval\": \"500ms\", \"dir\": \"$WORK/ckpt\", \"replicas\": 0}, \"http\": {\"addr\": \"127.0.0.1:$PORT\"},"
sed -i 's/"stop_at_eof": true,//' "$WORK/p.json"
# Unkeyed events land where the producer's sticky partitioner puts them,
# which can leave an input partition empty: without an idle timeout that
# partition would hold every downstream watermark (and so the lag series)
# back for good.
sed -i 's/"max_out_of_orderness": "10s"}/"max_out_of_orderness": "10s", "idle_timeout": "1s"}/' "$WORK/p.json"
grep -q '"idle_timeout": "1s"' "$WORK/p.json" || fail "could not set the idle timeout"
"$SLUICE_BIN" explain "$WORK/p.json" 2>&1 | grep -qi repartition || fail "the pipeline does not repartition"
SLUICE_HTTP_ADDR="127.0.0.1:$PORT" "$SLUICE_BIN" run "$WORK/p.json" 2> "$WORK/run.log" &
NODE=$!
PIDS+=("$NODE")
for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null && break
    kill -0 "$NODE" 2> /dev/null || fail "the node exited early"
    sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null ||
    fail "the node did not become ready in 60 s: $(curl -s "http://127.0.0.1:$PORT/readyz" | head -c 300)"

say "producing $N unkeyed events (timestamps ending near the wall clock)"
now=$(date +%s%3N)
"$SLUICE_BIN" produce --bootstrap "$B" --topic orders --count "$N" --no-key --keys 50 \
    --start-ts $((now - N)) --quiet || fail "produce failed"

# events_in METRICS_FILE: "TOPIC SUM" lines of sluice_events_in_total.
events_in() {
    $PY - "$1" << 'PYEOF'
import collections, re, sys
tot = collections.Counter()
for line in open(sys.argv[1]):
    m = re.match(r'^sluice_events_in_total\{(.*)\} (\S+)$', line)
    if m:
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        assert set(labels) == {"source", "topic", "partition"}, labels
        tot[labels["topic"]] += float(m.group(2))
for t, v in sorted(tot.items()):
    print("%s %d" % (t, v))
PYEOF
}
say "waiting until sluice_events_in_total adds up to $N"
ok=0
for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:$PORT/metrics" > "$WORK/metrics.txt" || fail "/metrics failed"
    # Every event counted, and the tasks that read the repartition topic
    # assigned (their watermark lag is a series only once they run).
    if [ "$(events_in "$WORK/metrics.txt")" = "orders $N" ] &&
        grep -q '^sluice_watermark_lag_seconds{' "$WORK/metrics.txt"; then
        ok=1
        break
    fi
    sleep 0.5
done
events_in "$WORK/metrics.txt"
[ $ok = 1 ] || fail "after 60 s sluice_events_in_total is not {topic=orders} = $N ($(events_in "$WORK/metrics.txt" | tr '\n' ' ')) or there is no sluice_watermark_lag_seconds series"
grep -q '^sluice_events_in_total{.*topic="metrics-repartition"' "$WORK/metrics.txt" &&
    fail "sluice_events_in_total counts the repartition topic"

say "promtool check metrics"
promtool check metrics < "$WORK/metrics.txt" > "$WORK/promtool.out" 2>&1 ||
    fail "promtool rejects /metrics: $(cat "$WORK/promtool.out")"
cat "$WORK/promtool.out"
$PY - "$WORK/metrics.txt" "$now" << 'PYEOF' || fail "sluice_watermark_lag_seconds is not in seconds"
import re, sys, time
lags = [float(l.split()[-1]) for l in open(sys.argv[1]) if l.startswith("sluice_watermark_lag_seconds{")]
assert lags, "no sluice_watermark_lag_seconds series"
# The newest event time is about the produce start; the watermark trails it
# by max_out_of_orderness (10 s) at most a few seconds more.
age = time.time() - int(sys.argv[2]) / 1000.0
print("watermark lag %s s, produce started %.1f s ago" % (lags, age))
assert all(0 < x < age + 10 + 60 for x in lags), lags
PYEOF

say "a Prometheus server scrapes the node"
PPORT=$(free_port)
cat > "$WORK/prometheus.yml" << EOF
global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}
scrape_configs:
  - job_name: sluice
    static_configs: [{targets: ["127.0.0.1:$PORT"]}]
EOF
promtool check config "$WORK/prometheus.yml" > /dev/null || fail "bad prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PPORT" > "$WORK/prometheus.log" 2>&1 &
PROM=$!
PIDS+=("$PROM")
query() { # EXPR -> the first sample's value, or nothing
    curl -sf --get "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
        $PY -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' \
            2> /dev/null || true
}
up="" total=""
for _ in $(seq 120); do
    kill -0 "$PROM" 2> /dev/null || fail "prometheus exited: $(tail -n 5 "$WORK/prometheus.log")"
    up=$(query 'up{job="sluice"}')
    total=$(query 'sum(sluice_events_in_total{job="sluice",topic="orders"})')
    [ "$up" = 1 ] && [ "$total" = "$N" ] && break
    sleep 0.5
done
say "prometheus: up=$up, sum(sluice_events_in_total{topic=\"orders\"})=$total"
[ "$up" = 1 ] || fail "prometheus does not see the node up: $(tail -n 5 "$WORK/prometheus.log")"
[ "$total" = "$N" ] || fail "prometheus sees sluice_events_in_total = '$total', expected $N"
lag=$(query 'max(sluice_watermark_lag_seconds{job="sluice"})')
[ -n "$lag" ] || fail "prometheus has no sluice_watermark_lag_seconds"
kill -TERM "$PROM"
wait "$PROM" || true
kill -TERM "$NODE"
rc=0
wait "$NODE" || rc=$?
[ $rc = 0 ] || fail "the node exited with $rc on SIGTERM"
say "PASS"
