#!/usr/bin/env bash
# Installs the Debian packages Sluice needs to build and test, when missing.
# Usage: deploy/install-deps.sh [build|test|fuzz]   (test adds the outside
# clients, simdjson, which only tests/bench compare the scanner with, and
# SQLite, which test_expr_sqlite compares the expression language with;
# fuzz also clang, for the SL_FUZZ=ON libFuzzer build)
set -euo pipefail
pkgs=(build-essential cmake pkg-config librdkafka-dev libjansson-dev libzmq3-dev
      libcmocka-dev libmicrohttpd-dev)
if [ "${1:-build}" = test ] || [ "${1:-build}" = fuzz ]; then
  pkgs+=(libsimdjson-dev libsqlite3-dev kcat python3 python3-kafka curl prometheus)
fi
if [ "${1:-build}" = fuzz ]; then
  pkgs+=(clang libclang-rt-14-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
