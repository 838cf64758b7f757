#!/usr/bin/env bash
# test_soak_ci.sh - the CI-sized soak (ctest label "fault"; tests/fault/
# soak.sh is the long one, label "soak"): one keyed stream of three nodes
# with six kill -9s at chosen moments (see fl_soak in lib_soak.sh): right
# after a checkpoint, mid-interval, while another node is recovering, and
# during a rebalance. Every result exactly once and equal to the oracle;
# prints runs, kills, results checked, lost, duplicated and the recovery
# times. FAULT_SEED (default: random, printed) picks victims and moments;
# FAULT_SOAK_UNKEYED=1 adds the same run on unkeyed input (repartition
# path). Needs kcat and python3 (standard library only); 127.0.0.1 only.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/fault/lib.sh
source "$HERE/lib.sh"
# shellcheck source=tests/fault/lib_soak.sh
source "$HERE/lib_soak.sh"

: "${SLUICE_BIN:=${SL_BUILD_DIR:-$HERE/../../build}/sluice}"
[ -x "$SLUICE_BIN" ] || { echo "FAIL: no sluice binary at $SLUICE_BIN (set SLUICE_BIN)"; exit 1; }
command -v kcat >/dev/null || { echo "FAIL: kcat is not installed (deploy/install-deps.sh test)"; exit 1; }
fl_python >/dev/null || { echo "FAIL: python3 is not installed"; exit 1; }

fl_init sluice-soak-ci
SEED=${FAULT_SEED:-$((RANDOM % 1000))}
fl_log "seed $SEED (reproduce with FAULT_SEED=$SEED)"
# CI size: ~75 s of stream at a rate the shared 2-core machine sustains
# next to three nodes, the broker and the checker.
export FL_EVENTS=${FL_EVENTS:-375000} FL_RATE=${FL_RATE:-5000} FL_PARTS=${FL_PARTS:-12}

pass=0 fail=0
run() {
    if fl_isolated "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
}
KINDS=(after_checkpoint during_recovery mid_interval during_rebalance)
run fl_soak soak-keyed keyed "$SEED" "${KINDS[@]}"
[ "${FAULT_SOAK_UNKEYED:-0}" = 1 ] && run fl_soak soak-unkeyed unkeyed "$((SEED + 1))" "${KINDS[@]}"
fl_soak_report

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
