#!/usr/bin/env bash
# soak.sh - the long fault test (ctest label "soak", outside CI's budget;
# tests/fault/test_soak_ci.sh is its CI-sized variant in label "fault").
#
#   SLUICE_BIN=build/sluice bash tests/fault/soak.sh [--seeds "11 12"] \
#       [--events 2400000] [--rate 10000] [--partitions 16] [--rounds 2] \
#       [--keyed-only | --unkeyed-only] [--no-throughput] [--keep]
#
# For each seed, two streams of three `sluice run` nodes each (see fl_soak
# in lib_soak.sh), keyed input and unkeyed input (the repartition path),
# with ROUNDS x 6 kill -9s each at chosen moments: right after a checkpoint
# completes, mid-interval, while another node is recovering (two kills),
# during a rebalance (two kills). Every stream is checked against the
# oracle (no result missing, duplicated, unexpected or wrong). Then the
# checkpoint-vs-none throughput comparison, best of two runs each. Prints
# per run and in total: runs, kills, results checked, lost, duplicated,
# recovery times; the last line is "N passed, M failed". Each stream is
# EVENTS events at RATE events/s (defaults: 2.4 M over 240 s). Other
# knobs: the FL_* variables of lib.sh (FL_OOO_MS, FL_WINDOW_MS, FL_IDLE_MS,
# FL_RESTART_S, FL_KEYS, ...).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/fault/lib.sh
source "$HERE/lib.sh"

# shellcheck source=tests/fault/lib_soak.sh
source "$HERE/lib_soak.sh"

SEEDS="11 12"
EVENTS=2400000
RATE=10000
PARTS=16
ROUNDS=2
MODES="keyed unkeyed"
THROUGHPUT=1
while [ $# -gt 0 ]; do
    case "$1" in
        --seeds) SEEDS=$2; shift 2 ;;
        --events) EVENTS=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --partitions) PARTS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --keyed-only) MODES=keyed; shift ;;
        --unkeyed-only) MODES=unkeyed; shift ;;
        --no-throughput) THROUGHPUT=0; shift ;;
        --keep) export FL_KEEP=1; shift ;;
        -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ "$EVENTS" -lt 2000000 ] || [ $((EVENTS / RATE)) -lt 30 ]; then
    echo "soak.sh: note: below the documented soak size (>= 2,000,000 events over >= 30 s)" >&2
fi

: "${SLUICE_BIN:=${SL_BUILD_DIR:-$HERE/../../build}/sluice}"
[ -x "$SLUICE_BIN" ] || { echo "FAIL: no sluice binary at $SLUICE_BIN (set SLUICE_BIN)"; exit 1; }
command -v kcat >/dev/null || { echo "FAIL: kcat is not installed (deploy/install-deps.sh test)"; exit 1; }
fl_python >/dev/null || { echo "FAIL: python3 is not installed"; exit 1; }

fl_init sluice-soak
export FL_EVENTS=$EVENTS FL_RATE=$RATE FL_PARTS=$PARTS FL_KEYS=${FL_KEYS:-1000}

pass=0 fail=0
run() {
    if fl_isolated "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
}
KINDS=()
for _ in $(seq "$ROUNDS"); do
    KINDS+=(after_checkpoint mid_interval during_recovery during_rebalance)
done
for seed in $SEEDS; do
    for mode in $MODES; do
        run fl_soak "s$seed-$mode" "$mode" "$seed" "${KINDS[@]}"
    done
done
[ "$THROUGHPUT" = 1 ] && FL_TP_ROUNDS=2 run fl_throughput throughput "$EVENTS"
fl_soak_report

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
