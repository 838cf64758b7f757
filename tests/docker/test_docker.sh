#!/usr/bin/env bash
# Docker test (ctest label `docker`): the image and the compose deployment,
# for real.
#
#   1. start a private dockerd (tests/docker/lib.sh; stopped by PID at the
#      end), make the base image with debootstrap if the data-root has none
#   2. build deploy/Dockerfile; check size < 100 MB, non-root user,
#      HEALTHCHECK, volume, entrypoint, `sluice --version`
#   3. bring up deploy/docker-compose.test.yml: `sluice kafka-mock` as the
#      broker and three nodes running deploy/pipelines/orders-per-user.json,
#      replicating with CurveZMQ keys made at start (`sluice keygen`)
#   4. /healthz, /readyz and /metrics (valid Prometheus text) of each node,
#      and Docker's own health status
#   5. run the producer; `docker kill` one node while events flow
#   6. read back the input and result topics (kcat) and compare with the
#      oracle (tests/docker/check.py, then the fault tests' stricter
#      tests/fault/check_results.py): nothing missing, duplicated or wrong
#   7. tear everything down
#
# Environment: SL_SOURCE_DIR (default: the repo of this script),
# SL_DOCKER_ROOT (default /var/tmp/sluice-docker: keep it between runs),
# SL_EVENTS (200000), SL_RATE (20000 events/s), SL_KILL=0 kills no node
# (to tell a failover bug from a plain one), SL_KEEP=1 leaves the cluster
# up for inspection. Needs root (dockerd), apt for missing packages.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${SL_SOURCE_DIR:-$(cd "$HERE/../.." && pwd)}
# shellcheck source=tests/docker/lib.sh
source "$HERE/lib.sh"

IMAGE=${SLUICE_IMAGE:-sluice:test}
EVENTS=${SL_EVENTS:-200000}
RATE=${SL_RATE:-20000}
PARTITIONS=8
PROJECT=sluicedt$$
COMPOSE_FILE=$SRC/deploy/docker-compose.test.yml
WORK=$(mktemp -d /tmp/sluice-docker-test.XXXXXX)
T_START=$SECONDS
export SLUICE_IMAGE=$IMAGE SL_EVENTS=$EVENTS SL_RATE=$RATE SL_PARTITIONS=$PARTITIONS
export SL_SHARED_DIR=$WORK/shared SL_KEYS=${SL_KEYS:-500} SL_SEED=${SL_SEED:-$((RANDOM + 1))}
export SL_START_TS=1700000000000
export COMPOSE_PROJECT_NAME=$PROJECT

fail() {
    sl_log "FAIL: $*"
    exit 1
}

compose() { docker-compose -f "$COMPOSE_FILE" -p "$PROJECT" "$@"; }

cleanup() {
    local rc=$?
    set +e
    if [ "$rc" != 0 ] && docker info >/dev/null 2>&1; then
        sl_log "logs of the failed run (last lines per service):"
        compose logs --no-color --tail=30 >&2 2>/dev/null
    fi
    if [ "${SL_KEEP:-0}" = 1 ]; then
        sl_log "SL_KEEP=1: leaving project $PROJECT and dockerd up (DOCKER_HOST=$DOCKER_HOST)"
        return
    fi
    if docker info >/dev/null 2>&1; then
        compose down -v --remove-orphans -t 5 >/dev/null 2>&1
    fi
    sl_docker_stop
    rm -rf "$WORK"
    sl_log "total $((SECONDS - T_START)) s, exit $rc"
}
trap cleanup EXIT

# Free loopback TCP ports for HTTP and replication (the kernel picks them).
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# http_get ADDR PATH -> prints "STATUS" on line 1 and the body after it.
http_get() {
    local host=${1%:*} port=${1##*:} status
    exec 3<>"/dev/tcp/$host/$port" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$host" >&3
    IFS=' ' read -r -t 5 _ status _ <&3 || { exec 3<&-; return 1; }
    echo "$status"
    sed -e '1,/^\r$/d' <&3
    exec 3<&-
}

# wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND every 0.5 s.
wait_for() {
    local limit=$1 what=$2 deadline=$((SECONDS + $1))
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "$what: not within ${limit}s"
        sleep 0.5
    done
}

status_is() { [ "$(http_get "$1" "$2" | head -1)" = "$3" ]; }

command -v kcat >/dev/null || {
    sl_log "installing kcat"
    apt-get install -y -qq kcat >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq kcat >/dev/null; }
}

# ---- 1. daemon and base image ---------------------------------------------
t=$SECONDS
sl_docker_start || fail "dockerd"
sl_docker_base_image || fail "base image"
sl_log "dockerd + base image: $((SECONDS - t)) s"

# ---- 2. the image -----------------------------------------------------------
t=$SECONDS
docker build --network host -t "$IMAGE" -f "$SRC/deploy/Dockerfile" "$SRC" >"$WORK/build.log" 2>&1 || {
    tail -40 "$WORK/build.log" >&2
    fail "docker build"
}
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
sl_log "image built in $((SECONDS - t)) s, size $((size / 1000000)) MB ($size bytes)"
[ "$size" -lt 100000000 ] || fail "image is $size bytes, limit 100 MB"
[ "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")" = sluice ] || fail "image user is not sluice"
[ "$(docker image inspect -f '{{json .Config.Entrypoint}}' "$IMAGE")" = '["sluice"]' ] || fail "entrypoint"
docker image inspect -f '{{json .Config.Healthcheck.Test}}' "$IMAGE" | grep -q healthcheck || fail "no HEALTHCHECK"
docker image inspect -f '{{json .Config.Volumes}}' "$IMAGE" | grep -q '/var/lib/sluice' || fail "no volume"
[ "$(docker run --rm --network host --entrypoint id "$IMAGE" -u)" != 0 ] || fail "runs as root"
docker run --rm --network host "$IMAGE" --version | grep -q '^sluice ' || fail "sluice --version"
docker run --rm --network host -e SLUICE_BOOTSTRAP=127.0.0.1:1 "$IMAGE" validate /etc/sluice/pipeline.json |
    grep -q '^ok' || fail "the example pipeline does not validate in the image"

# ---- 3. the cluster -----------------------------------------------------------
read -r H1 H2 H3 R1 R2 R3 <<<"$(free_ports 6)"
export SL_N1_HTTP=$H1 SL_N2_HTTP=$H2 SL_N3_HTTP=$H3 SL_N1_REPL=$R1 SL_N2_REPL=$R2 SL_N3_REPL=$R3
mkdir -p "$SL_SHARED_DIR"
chmod 777 "$SL_SHARED_DIR"
t=$SECONDS
compose up -d --no-build kafka node1 node2 node3 >"$WORK/up.log" 2>&1 || {
    cat "$WORK/up.log" >&2
    fail "compose up"
}
wait_for 60 "broker bootstrap file" test -s "$SL_SHARED_DIR/bootstrap"
BOOTSTRAP=$(head -1 "$SL_SHARED_DIR/bootstrap")
sl_log "broker at $BOOTSTRAP"

# ---- 4. endpoints -------------------------------------------------------------
NODES=(node1 node2 node3)
ADDRS=("127.0.0.1:$H1" "127.0.0.1:$H2" "127.0.0.1:$H3")
for i in 0 1 2; do
    a=${ADDRS[$i]}
    wait_for 60 "${NODES[$i]} /healthz" status_is "$a" /healthz 200
    [ "$(http_get "$a" /healthz | tail -n +2)" = ok ] || fail "${NODES[$i]} /healthz body"
done
for i in 0 1 2; do
    wait_for 90 "${NODES[$i]} /readyz" status_is "${ADDRS[$i]}" /readyz 200
done
sl_log "3 nodes healthy and ready after $((SECONDS - t)) s"
# Replication is keyed: the keys service made one pair per node, and no
# node logs that it replicates unauthenticated.
for n in n1 n2 n3; do
    [ -s "$SL_SHARED_DIR/keys/$n.json" ] || fail "no key pair for $n in $SL_SHARED_DIR/keys"
done
compose logs --no-color node1 node2 node3 >"$WORK/nodes-start.log" 2>&1
grep -q UNAUTHENTICATED "$WORK/nodes-start.log" && fail "a node replicates without keys"
sl_log "replication keyed (CurveZMQ) on every node"
for i in 0 1 2; do
    a=${ADDRS[$i]}
    http_get "$a" /metrics >"$WORK/metrics.$i"
    [ "$(head -1 "$WORK/metrics.$i")" = 200 ] || fail "${NODES[$i]} /metrics status"
    tail -n +2 "$WORK/metrics.$i" >"$WORK/metrics.$i.txt"
    n=$(python3 "$HERE/check.py" metrics "$WORK/metrics.$i.txt") || fail "${NODES[$i]} /metrics invalid"
    status_is "$a" /api/status 200 || fail "${NODES[$i]} /api/status"
    http_get "$a" /api/status | tail -n +2 | python3 -c 'import json,sys; json.load(sys.stdin)' ||
        fail "${NODES[$i]} /api/status is not JSON"
    sl_log "${NODES[$i]}: /healthz /readyz /metrics ($n samples) /api/status ok"
done
healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$(compose ps -q "$1")")" = healthy ]; }
for n in "${NODES[@]}"; do
    wait_for 40 "$n Docker health status" healthy "$n"
done
sl_log "Docker HEALTHCHECK reports healthy for all nodes"

# ---- 5. produce, and kill a node mid-stream ----------------------------------
victim=node2
victim_id=$(compose ps -q $victim) # docker-compose v1 takes seconds per call: ask now
t=$SECONDS
compose up -d --no-build --no-deps producer >/dev/null 2>&1 || fail "producer up"
prod=$(compose ps -q producer)
# the producer prints "produce: N events ..." every second: kill at ~40 %
produced() {
    local n
    n=$(docker logs "$prod" 2>&1 | sed -n 's/^produce: \([0-9]*\) events.*/\1/p' | tail -1)
    [ "${n:-0}" -ge $((EVENTS * 2 / 5)) ]
}
wait_for 120 "40 % of the input produced" produced
if [ "${SL_KILL:-1}" = 1 ]; then
    docker kill "$victim_id" >/dev/null || fail "docker kill $victim"
    sl_log "killed $victim $((SECONDS - t)) s after starting the producer (SIGKILL)"
else
    victim=none
    sl_log "SL_KILL=0: no node is killed"
fi
rc=$(docker wait "$prod")
[ "$rc" = 0 ] || {
    docker logs --tail 20 "$prod" >&2
    fail "producer exited $rc"
}
sl_log "producer done: $EVENTS events in $((SECONDS - t)) s"

# ---- 6. results against the oracle ------------------------------------------
kcat -C -b "$BOOTSTRAP" -t orders -e -q -f '%p\t%o\t%s\n' >"$WORK/input.txt" || fail "reading the input topic"
[ "$(wc -l <"$WORK/input.txt")" -eq "$EVENTS" ] || fail "input topic holds $(wc -l <"$WORK/input.txt") events, not $EVENTS"
expected=$(python3 "$HERE/check.py" expected "$WORK/input.txt")
sl_log "oracle expects $expected results"
deadline=$((SECONDS + 90)) # all windows close ~2 s (idle timeout) after the input ends
last=-1
stable=0
while :; do
    kcat -C -b "$BOOTSTRAP" -t orders-per-user -e -q -f '%p\t%o\t%s\n' >"$WORK/output.txt" || true
    got=$(wc -l <"$WORK/output.txt")
    if [ "$got" -ge "$expected" ]; then
        # enough results: give stragglers (duplicates) a few seconds to show
        [ "$got" = "$last" ] && stable=$((stable + 1)) || stable=0
        [ "$stable" -ge 3 ] && break
    fi
    [ "$SECONDS" -lt "$deadline" ] || break
    last=$got
    sleep 2
done
sl_log "result topic: $got records $((SECONDS - t)) s after the producer started"
ok=1
python3 "$HERE/check.py" oracle "$WORK/input.txt" "$WORK/output.txt" || ok=0
# The fault tests' checker is stricter (sluice-task/sluice-seq headers, one
# result per (task, seq), canonical firing order, values byte for byte); run
# it either way, its diagnosis names tasks and sequence numbers.
FAULT_CHECK=$SRC/tests/fault/check_results.py
if [ -f "$FAULT_CHECK" ]; then
    python3 "$FAULT_CHECK" check --bootstrap "$BOOTSTRAP" --topic orders-per-user \
        --input "$WORK/input.txt" --mode keyed --window-ms 1000 --ooo-ms 100 || ok=0
fi
[ "$ok" = 1 ] || fail "the result topic is not exactly the oracle's results (victim: $victim)"

# the survivors' metrics account for the work
for i in 0 2; do
    http_get "${ADDRS[$i]}" /metrics | tail -n +2 >"$WORK/final.$i.txt"
    python3 "$HERE/check.py" metrics "$WORK/final.$i.txt" >/dev/null || fail "${NODES[$i]} final /metrics invalid"
    grep -q '^sluice_events_in_total{' "$WORK/final.$i.txt" || fail "${NODES[$i]} counted no input"
done
sl_log "PASS: exact results after killing $victim; docker test took $((SECONDS - T_START)) s"
