#!/usr/bin/env bash
# test_cli_definition.sh - `sluice validate` and `sluice explain` through the
# real binary: the canonical definition (the example under "Pipeline
# definitions" in README.md) prints exactly "ok" (exit 0); broken
# definitions exit 2 with a file-named message on stderr and nothing on
# stdout; ${VAR} substitution and SLUICE_* overrides apply; explain prints
# the plan.
set -u

# shellcheck source=tests/unit/cli_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

cat > canonical.json <<'EOF'
{
  "name": "orders-per-user",
  "source": {
    "type": "file", "path": "orders.jsonl", "format": "json",
    "event_time": {"field": "ts", "unit": "ms"},
    "watermark": {"max_out_of_orderness": "100ms", "idle_timeout": "2s"}
  },
  "pipeline": [
    {"filter": {"field": "amount", "op": ">=", "value": 0}},
    {"key_by": ["user"]},
    {"window": {"type": "tumbling", "size": "1s", "allowed_lateness": "0ms"},
     "aggregates": {
       "orders":  {"fn": "count"},
       "total":   {"fn": "sum", "field": "amount"},
       "biggest": {"fn": "max", "field": "amount"},
       "smallest":{"fn": "min", "field": "amount"},
       "mean":    {"fn": "avg", "field": "amount"}
     }}
  ],
  "sink": {"type": "file", "path": "out.jsonl"},
  "runtime": {"workers": 2}
}
EOF

# expect_ok FILE: validate prints exactly "ok", nothing on stderr, exit 0.
expect_ok() {
    local out err rc
    out="$("$BIN" validate "$1" 2> err.txt)"
    rc=$?
    err="$(cat err.txt)"
    [ "$rc" -eq 0 ] || fail "validate $1: exit $rc (stderr: $err)"
    [ "$out" = "ok" ] || fail "validate $1: stdout '$out', want 'ok'"
    [ -z "$err" ] || fail "validate $1: unexpected stderr: $err"
}

# expect_bad FILE MESSAGE: exit 2, MESSAGE on stderr, empty stdout.
expect_bad() {
    local out err rc
    out="$("$BIN" validate "$1" 2> err.txt)"
    rc=$?
    err="$(cat err.txt)"
    [ "$rc" -eq 2 ] || fail "validate $1: exit $rc, want 2 (stderr: $err)"
    [ -z "$out" ] || fail "validate $1: stdout should be empty, got '$out'"
    case "$err" in
    *"$2"*) ;;
    *) fail "validate $1: stderr lacks '$2': $err" ;;
    esac
}

expect_ok canonical.json

# Broken definitions: derived from the canonical one with sed.
mk() { # mk NAME SED-EXPR
    sed -e "$2" canonical.json > "$1"
}
mk neg_size.json 's/"size": "1s"/"size": "-1s"/'
expect_bad neg_size.json 'neg_size.json: pipeline[2].window.size: must be a positive duration, got "-1s"'
mk sise.json 's/"size": "1s"/"sise": "1s"/'
expect_bad sise.json 'sise.json: pipeline[2].window: unknown key "sise", did you mean "size"?'
mk syntax.json 's/"key_by": \["user"\]/"key_by": ["user",]/'
expect_bad syntax.json 'syntax.json:10:'
mk fn.json 's/"fn": "avg"/"fn": "average"/'
expect_bad fn.json 'fn.json: pipeline[2].aggregates.mean.fn: unknown aggregate function "average"'
mk sum.json 's/"fn": "sum", "field": "amount"/"fn": "sum"/'
expect_bad sum.json 'sum.json: pipeline[2].aggregates.total: "sum" needs a "field"'
mk src.json 's/"type": "file", "path": "orders.jsonl"/"type": "fiel", "path": "orders.jsonl"/'
expect_bad src.json 'src.json: source.type: unknown source type "fiel", did you mean "file"?'
mk hop.json 's/"tumbling"/"hopping"/'
expect_bad hop.json 'hop.json: pipeline[2].window: a hopping window needs "slide"'
mk hop2.json 's/"tumbling", "size": "1s"/"hopping", "size": "1s", "slide": "5s"/'
expect_bad hop2.json 'hop2.json: pipeline[2].window.slide: must not be larger than size (5s > 1s)'
mk sess.json 's/"tumbling"/"session"/'
expect_bad sess.json 'sess.json: pipeline[2].window.size: session windows have no size'
# key_by after the window (only stages on result rows may follow it).
cat > order.json <<'EOF'
{"name": "o", "source": {"type": "file", "path": "x", "event_time": {"field": "ts"}},
 "pipeline": [{"window": {"type": "tumbling", "size": "1s"}, "aggregates": {"n": {"fn": "count"}}},
              {"key_by": "user"}],
 "sink": {"type": "file", "path": "y"}}
EOF
expect_bad order.json 'order.json: pipeline[1].key_by: key_by cannot follow the window (at pipeline[0]); after a window come stages that work on its result rows (filter, map, ...)'
mk unit.json 's/"unit": "ms"/"unit": "seconds"/'
expect_bad unit.json 'unit.json: source.event_time.unit: unknown unit "seconds"'
mk wm.json 's/"max_out_of_orderness": "100ms"/"max_out_of_orderness": "soon"/'
expect_bad wm.json 'wm.json: source.watermark.max_out_of_orderness: must be a duration >= 0, got "soon"'
mk op.json 's/"key_by": \["user"\]/"keyby": ["user"]/'
expect_bad op.json 'op.json: pipeline[1]: unknown operator "keyby", did you mean "key_by"?'
mk workers.json 's/"workers": 2/"workers": "two"/'
expect_bad workers.json 'workers.json: runtime.workers: must be an integer, got "two"'

# What run would reject, validate rejects (exit 2, JSON path): ranges and
# allowed values from the option tables, a broker for kafka connectors.
cat > kafka.json <<'EOF'
{"name": "k", "source": {"type": "kafka", "topics": ["in"], "consumer_threads": 2,
   "properties": {"bootstrap.servers": "127.0.0.1:1"}, "event_time": {"field": "ts"}},
 "pipeline": [{"key_by": "user"},
              {"window": {"type": "tumbling", "size": "1s"}, "aggregates": {"n": {"fn": "count"}}}],
 "sink": {"type": "kafka", "topic": "out", "properties": {"bootstrap.servers": "127.0.0.1:1"}}}
EOF
expect_ok kafka.json
sed -e 's/"consumer_threads": 2/"consumer_threads": 0/' kafka.json > k_threads.json
expect_bad k_threads.json 'k_threads.json: source.consumer_threads: must be between 1 and 64, got 0'
sed -e 's/"consumer_threads": 2/"start": "erliest"/' kafka.json > k_start.json
expect_bad k_start.json 'k_start.json: source.start: unknown value "erliest", did you mean "earliest"?'
sed -e 's/"properties": {"bootstrap.servers": "127.0.0.1:1"}, "event_time"/"event_time"/' kafka.json > k_nobs.json
expect_bad k_nobs.json 'k_nobs.json: source.properties: "bootstrap.servers" is required (or set SLUICE_BOOTSTRAP)'
SLUICE_BOOTSTRAP=127.0.0.1:2 expect_ok k_nobs.json
sed -e 's/"topic": "out", "properties": {"bootstrap.servers": "127.0.0.1:1"}/"topic": "out"/' kafka.json > k_sinkbs.json
expect_bad k_sinkbs.json 'k_sinkbs.json: sink.properties: "bootstrap.servers" is required'
sed -e 's/"name": "k",/"name": "k", "runtime": {"ring_capacity": 1},/' kafka.json > k_ring.json
expect_bad k_ring.json 'k_ring.json: runtime.ring_capacity: must be between 2 and 65536, got 1'
sed -e 's/"name": "k",/"name": "k", "checkpoint": "no",/' kafka.json > k_ckpt.json
expect_bad k_ckpt.json 'k_ckpt.json: checkpoint: must be an object or "off", got "no"'

# Connector checks beyond the tables run in validate too.
cat > gen0.json <<'EOF'
{"name": "g", "source": {"type": "generator", "keys": 0}, "pipeline": [], "sink": {"type": "null"}}
EOF
expect_bad gen0.json 'gen0.json: source.keys: must be an integer >= 1'
cat > nopath.json <<'EOF'
{"name": "g", "source": {"type": "generator"}, "pipeline": [], "sink": {"type": "file", "path": ""}}
EOF
expect_bad nopath.json 'nopath.json: sink.path: must be a file name'

# Kafka input checkpoints by default, to a directory this user can write,
# named by explain; "off" is explicit.
out="$(HOME="$TMP" XDG_STATE_HOME='' "$BIN" explain kafka.json 2> err.txt)"
case "$out" in
*"checkpoint: every 1s to "*"on by default for kafka input"*) ;;
*) fail "explain of a kafka pipeline lacks the default checkpoint line: $out" ;;
esac
if [ ! -w /var/lib/sluice ] && [ ! -w /var/lib ]; then
    case "$out" in
    *"to $TMP/.local/state/sluice/k (default: /var/lib/sluice is not writable"*) ;;
    *) fail "default checkpoint dir for a non-root user is not ~/.local/state/sluice: $out" ;;
    esac
fi
case "$out" in
*"repartition: yes"*) ;;
*) fail "explain: a window keyed by an undeclared key must repartition: $out" ;;
esac
sed -e 's/"name": "k",/"name": "k", "checkpoint": "off",/' kafka.json > k_off.json
out="$("$BIN" explain k_off.json 2> err.txt)"
case "$out" in
*"checkpoint: off; input offsets are committed only for events whose results"*) ;;
*) fail "explain of checkpoint off: $out" ;;
esac
# explain and run decide repartitioning in one place: partitioned_by in
# another order matches key_by.
sed -e 's/"consumer_threads": 2/"partitioned_by": ["b", "a"]/; s/"key_by": "user"/"key_by": ["a", "b"]/' kafka.json > k_pb.json
out="$("$BIN" explain k_pb.json 2> err.txt)"
case "$out" in
*"repartition: no ("*) ;;
*) fail "explain: partitioned_by in another order must not repartition: $out" ;;
esac

# A missing file is a bad definition, too.
expect_bad does-not-exist.json 'does-not-exist.json'

# ${VAR} substitution and the result validated.
mk env.json 's/"size": "1s"/"size": "${SL_CLI_WINDOW:-1s}"/; s/"workers": 2/"workers": ${SL_CLI_WORKERS:-2}/'
expect_ok env.json
SL_CLI_WINDOW=-1s expect_bad env.json 'env.json: pipeline[2].window.size: must be a positive duration, got "-1s"'
mk env2.json 's/"out.jsonl"/"${SL_CLI_UNSET_VARIABLE}"/'
expect_bad env2.json 'environment variable SL_CLI_UNSET_VARIABLE is not set'
SL_CLI_UNSET_VARIABLE=x.jsonl expect_ok env2.json

# explain: the plan, after substitution and overrides.
out="$(SL_CLI_WORKERS=3 SLUICE_HTTP_ADDR=127.0.0.1:19999 SLUICE_NODE_ID=cli-node "$BIN" explain env.json 2> err.txt)"
rc=$?
[ "$rc" -eq 0 ] || fail "explain: exit $rc ($(cat err.txt))"
for want in 'pipeline: orders-per-user' 'source: file' 'event time: field "ts" (ms)' \
    'watermark: max event time - 100ms; idle advance 2s' \
    'reads from each event: amount, user, ts' 'filter: amount >= 0' 'key_by: user' \
    'window: tumbling size=1s allowed_lateness=0ms' 'total=sum(amount)' \
    'threads: 1 source lane, 3 workers, 1 sink' 'x 64 batches x 1024 events' \
    'window state: ~' 'sink: file' 'checkpoint: disabled' 'cluster: standalone (node cli-node)' \
    'http: 127.0.0.1:19999'; do
    case "$out" in
    *"$want"*) ;;
    *) fail "explain lacks '$want'" ;;
    esac
done
"$BIN" explain neg_size.json > out.txt 2> err.txt
rc=$?
[ "$rc" -eq 2 ] || fail "explain of a broken definition: exit $rc, want 2"
grep -q 'must be a positive duration' err.txt || fail "explain of a broken definition: $(cat err.txt)"

finish "validate/explain CLI"
