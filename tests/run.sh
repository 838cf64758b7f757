#!/usr/bin/env bash
# Builds Sluice and runs the whole test suite (installing what it needs):
#   1. release build (-Werror): unit, integration, fault and docker tests
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build: unit tests and
#      the whole-engine C tests (label engine, in tests/integration; not the
#      Kafka shell tests)
#   3. ThreadSanitizer build: the lock-free ring and engine stress tests and
#      the engine oracle test's basic sweeps (SL_ORACLE_BASIC=1)
# Options: --quick (unit tests only, no sanitizers), --no-docker.
# Benchmarks are not run here: `ctest --test-dir build -L bench -V`.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0; DOCKER=1
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    --no-docker) DOCKER=0 ;;
    *) echo "usage: tests/run.sh [--quick] [--no-docker]" >&2; exit 2 ;;
  esac
done
bash deploy/install-deps.sh test
J=$(nproc)
t0=$(date +%s)
stage() { echo; echo "=== $* ($(( $(date +%s) - t0 ))s)"; }
# build DIR: builds everything, printing only warnings and errors; fails the
# script when the build fails.
build() {
  if ! cmake --build "$1" -j"$J" >"$1/build.log" 2>&1; then
    grep -E "error|warning|Error" "$1/build.log" | head -50
    echo "build in $1 failed" >&2
    exit 1
  fi
  grep -E "warning:" "$1/build.log" | head -20 || true
}

stage "build (release, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSL_WERROR=ON >/dev/null
build build

stage "unit tests"
ctest --test-dir build -L unit --output-on-failure -j"$J"
[ $QUICK = 1 ] && exit 0

stage "unit and engine tests under ASan+UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSL_SANITIZE=address,undefined -DSL_WERROR=ON >/dev/null
build build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L '^(unit|engine)$' -E 'stress' --output-on-failure -j"$J"

stage "lock-free stress tests under TSan"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSL_SANITIZE=thread -DSL_WERROR=ON >/dev/null
build build-tsan
TSAN_OPTIONS=halt_on_error=1 SL_RING_STRESS_ITEMS=${SL_RING_STRESS_ITEMS:-100000000} SL_ORACLE_BASIC=1 \
  ctest --test-dir build-tsan -R 'stress|engine_oracle' --output-on-failure

stage "integration tests"
ctest --test-dir build -L integration --output-on-failure

stage "fault tests"
ctest --test-dir build -L fault --output-on-failure

if [ $DOCKER = 1 ]; then
  stage "docker tests"
  ctest --test-dir build -L docker --output-on-failure
fi
stage "all tests passed"
