# shellcheck shell=bash
# tests/fault/lib.sh - shell helpers for the fault tests (sourced).
#
# Every process is started with fl_start NAME CMD... and remembered by PID;
# the EXIT trap set by fl_init stops all of them (SIGTERM, then SIGKILL
# after a grace period) and only them, even when the test fails or is
# interrupted. Nothing is ever killed by name. Only 127.0.0.1 is used.
#
#   fl_init PREFIX           temp dir in $FL_TMP, trap installed
#   fl_start NAME CMD...     background process, stdout/stderr in
#                            $FL_TMP/NAME.out / NAME.err; PID in FL_PID[NAME]
#   fl_stop NAME [SECS]      SIGTERM, wait up to SECS (default 20), then KILL
#   fl_kill9 NAME            SIGKILL and reap
#   fl_alive NAME            0 when it still runs
#   fl_wait_exit NAME SECS   waits for it to exit by itself; rc in FL_RC[NAME]
#   fl_free_port             prints a TCP port free on 127.0.0.1 right now
#   fl_wait_port PORT SECS   waits until 127.0.0.1:PORT accepts connections
#   fl_wait_grep FILE RE SECS  waits until FILE has a line matching RE
#   fl_now_ms                wall clock in ms
#   fl_log MSG / fl_die MSG  progress line on stderr / failure
#
# Set FL_KEEP=1 to keep the temp dir after success (it is always kept after
# a failure, and its path printed).

declare -gA FL_PID=()
declare -gA FL_RC=()
declare -ga FL_ORDER=()
FL_TMP=""
FL_FAILED=0
FL_T0=$(date +%s)

fl_log() {
    printf '[fault %4ds] %s\n' "$(($(date +%s) - FL_T0))" "$*" >&2
}

fl_die() {
    FL_FAILED=1
    printf '[fault %4ds] FAIL: %s\n' "$(($(date +%s) - FL_T0))" "$*" >&2
    exit 1
}

fl_now_ms() {
    date +%s%3N
}

# Finds a python3 with the kafka module when one exists (Debian's
# /usr/bin/python3 has python3-kafka; a pyenv shim may not). The harness
# itself needs only the standard library.
fl_python() {
    local p
    for p in /usr/bin/python3 python3; do
        if command -v "$p" >/dev/null 2>&1; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

fl_alive() {
    local pid=${FL_PID[$1]:-}
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

fl_start() {
    local name=$1
    shift
    if fl_alive "$name"; then
        fl_die "fl_start: $name is already running (pid ${FL_PID[$name]})"
    fi
    "$@" >>"$FL_TMP/$name.out" 2>>"$FL_TMP/$name.err" </dev/null &
    FL_PID[$name]=$!
    unset 'FL_RC[$name]'
    FL_ORDER+=("$name")
}

# Reaps NAME if it has exited; records its status. Returns 0 if it exited.
fl__reap() {
    local name=$1 pid=${FL_PID[$name]:-} rc
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        return 1
    fi
    wait "$pid" 2>/dev/null
    rc=$?
    FL_RC[$name]=$rc
    FL_PID[$name]=""
    return 0
}

fl_wait_exit() {
    local name=$1 secs=$2 deadline
    deadline=$(($(date +%s) + secs))
    while ! fl__reap "$name"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
    return 0
}

fl_stop() {
    local name=$1 secs=${2:-20} pid=${FL_PID[$name]:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    if ! fl_wait_exit "$name" "$secs"; then
        fl_log "$name (pid $pid) ignored SIGTERM for ${secs}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        fl_wait_exit "$name" 5 || true
    fi
}

fl_kill9() {
    local name=$1 pid=${FL_PID[$1]:-}
    [ -n "$pid" ] || return 0
    kill -KILL "$pid" 2>/dev/null || true
    fl_wait_exit "$name" 10 || true
}

fl__cleanup() {
    local rc=$? name pid i
    trap - EXIT INT TERM
    # Newest first: the producer and nodes before the broker.
    for ((i = ${#FL_ORDER[@]} - 1; i >= 0; i--)); do
        name=${FL_ORDER[$i]}
        pid=${FL_PID[$name]:-}
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    done
    for ((i = ${#FL_ORDER[@]} - 1; i >= 0; i--)); do
        name=${FL_ORDER[$i]}
        pid=${FL_PID[$name]:-}
        [ -n "$pid" ] || continue
        fl_wait_exit "$name" 10 || {
            kill -KILL "$pid" 2>/dev/null
            fl_wait_exit "$name" 5
        }
    done
    if [ -n "$FL_TMP" ] && [ -d "$FL_TMP" ]; then
        if [ "$rc" -ne 0 ] || [ "$FL_FAILED" -ne 0 ] || [ "${FL_KEEP:-0}" = 1 ]; then
            echo "fault: logs and data kept in $FL_TMP" >&2
        else
            rm -rf "$FL_TMP"
        fi
    fi
    exit "$rc"
}

fl_init() {
    FL_TMP=$(mktemp -d "${TMPDIR:-/tmp}/${1:-sluice-fault}.XXXXXX")
    trap fl__cleanup EXIT
    trap 'FL_FAILED=1; exit 130' INT
    trap 'FL_FAILED=1; exit 143' TERM
}

fl_free_port() {
    "$(fl_python)" - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

fl_wait_port() {
    local port=$1 secs=$2 deadline
    deadline=$(($(date +%s) + secs))
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
    return 0
}

fl_wait_grep() {
    local file=$1 re=$2 secs=$3 deadline
    deadline=$(($(date +%s) + secs))
    until [ -f "$file" ] && grep -Eq -- "$re" "$file"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
    return 0
}
