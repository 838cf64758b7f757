#!/usr/bin/env bash
# test_http_security.sh - `sluice run` with an HTTP token and secrets planted
# in the definition (kafka dead-letter properties: sasl.password,
# ssl.key.password, ssl.keystore.password; http.token from SLUICE_HTTP_TOKEN):
#   - explain, a validation error quoting a secret, the debug log of a run
#     (librdkafka failing to reach 127.0.0.1:1 with SASL) and /api/status
#     show none of the planted values;
#   - /metrics and /api/status: 401 without or with a wrong token, 200 with
#     it; /healthz and /readyz need none;
#   - 200 slow clients from 8 addresses (python, trickling bytes,
#     reconnecting when dropped) while /healthz is probed from 127.0.0.1:
#     every probe answers within 1 s.
# Runs the real binary on a free loopback port; stops it by PID.
set -euo pipefail
SLUICE=${SLUICE_BIN:?}
dir=$(mktemp -d)
pid=""
slow=""
cleanup() {
  [ -n "$slow" ] && kill "$slow" 2>/dev/null
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
unset SLUICE_NODE_ID SLUICE_LISTEN SLUICE_PEERS SLUICE_CHECKPOINT_DIR SLUICE_BOOTSTRAP

P_SASL=PLANT-sasl-8c1f P_KEY=PLANT-keypw-22ab P_MISC=PLANT-misc-93dd P_TOKEN=PLANT-token-5e0e
plants="$P_SASL $P_KEY $P_MISC $P_TOKEN"
no_plants() { # what file
  for p in $plants; do
    if grep -q -- "$p" "$2"; then echo "--- $1:"; cat "$2"; fail "$1 shows $p"; fi
  done
}

cat > "$dir/p.json" <<JSON
{"name":"secrets",
 "source":{"type":"generator","keys":5,"count":0,"rate":2000,
   "event_time":{"field":"ts","unit":"ms"}},
 "pipeline":[{"key_by":["user"]},{"window":{"type":"tumbling","size":"100ms"},
   "aggregates":{"n":{"fn":"count"}}}],
 "sink":{"type":"file","path":"$dir/out.jsonl"},
 "dead_letter":{"type":"kafka","topic":"dlq","properties":{
   "bootstrap.servers":"127.0.0.1:1","security.protocol":"sasl_plaintext","debug":"conf,security",
   "sasl.mechanisms":"PLAIN","sasl.username":"alice","sasl.password":"$P_SASL",
   "ssl.key.password":"$P_KEY","ssl.keystore.password":"$P_MISC"}},
 "runtime":{"workers":1},
 "http":{"addr":"127.0.0.1:$port"}}
JSON
export SLUICE_HTTP_TOKEN=$P_TOKEN

"$SLUICE" explain "$dir/p.json" > "$dir/explain" 2>&1 || { cat "$dir/explain"; fail "explain"; }
no_plants explain "$dir/explain"
grep -q '"sasl.password":"\*\*\*"' "$dir/explain" || { cat "$dir/explain"; fail "explain: no ***"; }
grep -q 'token \*\*\*' "$dir/explain" || fail "explain does not say a token is set"

# a validation message that would quote a secret
sed "s/\"workers\":1/\"workers\":\"$P_SASL\"/" "$dir/p.json" > "$dir/bad.json"
"$SLUICE" validate "$dir/bad.json" > "$dir/bad.out" 2>&1 && fail "bad definition accepted"
grep -q "runtime.workers" "$dir/bad.out" || { cat "$dir/bad.out"; fail "no error"; }
no_plants "validation error" "$dir/bad.out"

"$SLUICE" run --no-status --log-level debug "$dir/p.json" 2>"$dir/log" &
pid=$!
code() { curl -s -o "$dir/body" -w '%{http_code}' "$@"; }
for _ in $(seq 1 100); do
  [ "$(code "http://127.0.0.1:$port/healthz")" = 200 ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/log"; fail "sluice run exited"; }
  sleep 0.1
done
[ "$(code "http://127.0.0.1:$port/healthz")" = 200 ] || { cat "$dir/log"; fail "/healthz"; }
r=$(code "http://127.0.0.1:$port/readyz"); [ "$r" = 200 ] || [ "$r" = 503 ] || fail "/readyz $r"
for path in /metrics /api/status; do
  [ "$(code "http://127.0.0.1:$port$path")" = 401 ] || fail "$path without a token"
  [ "$(code -H "Authorization: Bearer ${P_TOKEN}x" "http://127.0.0.1:$port$path")" = 401 ] ||
    fail "$path with a wrong token"
  [ "$(code -H "Authorization: Bearer $P_TOKEN" "http://127.0.0.1:$port$path")" = 200 ] ||
    fail "$path with the token"
  cp "$dir/body" "$dir/body$(echo "$path" | tr / _)"
done
grep -q '"pipeline":"secrets"' "$dir/body_api_status" || fail "/api/status body"
no_plants /api/status "$dir/body_api_status"
no_plants /metrics "$dir/body_metrics"

# 200 slow clients
cat > "$dir/slow.py" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
naddrs = 8  # from 127.0.0.2 .. 127.0.0.9; the probes come from 127.0.0.1
head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
def conn(i):
    s = socket.socket(); s.bind(("127.0.0.%d" % (2 + i % naddrs), 0)); s.setblocking(False)
    try: s.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    return [s, 0]
socks = [conn(i) for i in range(n)]
while True:
    for i, c in enumerate(socks):
        s, sent = c
        try:
            s.send(head[sent:sent + 1] if sent < len(head) else b"a")
            c[1] += 1
            if s.recv(64, socket.MSG_DONTWAIT) == b"":
                raise ConnectionError
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            s.close(); c[:] = conn(i)
    time.sleep(0.05)
PY
python3 "$dir/slow.py" "$port" 200 &
slow=$!
sleep 2
worst=0
for i in $(seq 1 20); do
  t=$(curl -s -o /dev/null -m 5 -w '%{http_code} %{time_total}' "http://127.0.0.1:$port/healthz") ||
    fail "probe $i: no answer within 5 s"
  [ "${t%% *}" = 200 ] || fail "probe $i: status ${t%% *}"
  ms=$(python3 -c "print(int(float('${t#* }') * 1000))")
  [ "$ms" -gt "$worst" ] && worst=$ms
  [ "$ms" -lt 1000 ] || fail "probe $i took $ms ms with 200 slow clients"
  sleep 0.1
done
kill "$slow"; wait "$slow" 2>/dev/null || true; slow=""
echo "200 slow clients: worst /healthz probe $worst ms"

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
[ "$rc" = 0 ] || { tail -20 "$dir/log"; fail "exit code $rc"; }
grep -q 'Client configuration' "$dir/log" || fail "no librdkafka configuration dump in the log to search"
grep -q "bearer token required" "$dir/log" || fail "log does not say a token is required"
no_plants log "$dir/log"
echo "1 passed, 0 failed"
