# shellcheck shell=bash
# cli_lib.sh - the common start of the CLI shell tests, sourced (not run)
# right after their header: checks that $SLUICE_BIN is built (BIN), makes a
# temporary directory TMP and works in it, clears the SLUICE_* overrides of
# the caller's environment, and on exit kills every process listed in PIDS
# and removes TMP. Defines:
#   fail MSG       - reports a failed check and counts it (the test goes on)
#   free_port      - prints a free loopback port (bound, then released)
#   finish WHAT [NOTE] - ends the test: exit 1 if a check failed (with the
#                    count and NOTE), else prints "PASS: WHAT"

BIN="${SLUICE_BIN:-}"
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
    echo "sluice binary not built (SLUICE_BIN='${BIN}')"
    exit 1
fi

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2> /dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP" || exit 1
unset SLUICE_NODE_ID SLUICE_LISTEN SLUICE_PEERS SLUICE_CHECKPOINT_DIR SLUICE_BOOTSTRAP \
    SLUICE_HTTP_ADDR SLUICE_HTTP_TOKEN

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures failure(s)${2:+ ($2)}"
        exit 1
    fi
    echo "PASS: $1"
}
