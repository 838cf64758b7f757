#!/usr/bin/env bash
# Builds Sluice (installing what it needs) and runs `sluice demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target sluice >/dev/null
exec ./build/sluice demo "$@"
