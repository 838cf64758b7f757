#!/usr/bin/env bash
# test_failover.sh - kill -9 one of three nodes, restart it: every result
# reaches the result topic exactly once (ctest label "fault", the CI's short
# version; tests/fault/soak.sh is the long one).
#
#   SLUICE_BIN=build/sluice bash tests/fault/test_failover.sh
#
# Scenarios (see fl_scenario in lib.sh):
#   1. keyed input (partitioned_by = key_by), kill right after a checkpoint
#   2. unkeyed input (repartition path), kill in the middle of an interval
# then the throughput of one node on the same kind of input with checkpoints
# every 1 s versus without checkpoints (target ratio >= 0.9).
# FAULT_SEED (default: random, printed) picks the victim and the kill
# moments; rerun with the printed value to reproduce a failure.
# Needs kcat and python3 (standard library only). Only 127.0.0.1 is used.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/fault/lib.sh
source "$HERE/lib.sh"

: "${SLUICE_BIN:=${SL_BUILD_DIR:-$HERE/../../build}/sluice}"
[ -x "$SLUICE_BIN" ] || { echo "FAIL: no sluice binary at $SLUICE_BIN (set SLUICE_BIN)"; exit 1; }
command -v kcat >/dev/null || { echo "FAIL: kcat is not installed (deploy/install-deps.sh test)"; exit 1; }
fl_python >/dev/null || { echo "FAIL: python3 is not installed"; exit 1; }

fl_init sluice-failover
SEED=${FAULT_SEED:-$((RANDOM % 1000))}
fl_log "seed $SEED (reproduce with FAULT_SEED=$SEED)"

# CI size: ~20 s of stream per scenario, 2 cores shared by the broker, three
# nodes, the producer and the checker.
export FL_EVENTS=${FL_EVENTS:-300000} FL_RATE=${FL_RATE:-15000} FL_PARTS=${FL_PARTS:-16}

pass=0 fail=0
run() {
    if fl_isolated "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
}
run fl_scenario keyed-after-ckpt keyed after_checkpoint "$SEED"
run fl_scenario unkeyed-mid-interval unkeyed mid_interval "$((SEED + 1))"
run fl_throughput throughput "${FL_TP_EVENTS:-2000000}"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
