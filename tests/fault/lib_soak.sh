# shellcheck shell=bash
# shellcheck disable=SC2030,SC2031,SC2034
# tests/fault/lib_soak.sh - the soak run: many kill -9s in one stream
# (sourced after lib.sh).
#
#   fl_soak NAME MODE SEED KIND...
#
# One embedded broker, three `sluice run` nodes of tests/fault/pipeline.json
# (as fl_scenario), a producer streaming FL_EVENTS events at FL_RATE/s, and
# one kill -9 (two for the kinds that need a second victim) per KIND, the
# KINDs spread over 15..80% of the stream:
#   after_checkpoint  the victim right after its checkpoint reached its disk
#   mid_interval      half a checkpoint interval after that
#   during_recovery   a victim as above, restarted; as soon as the restarted
#                     node has been assigned tasks (it is restoring them), a
#                     second node is killed
#   during_rebalance  a victim as above, restarted; when the rebalance that
#                     follows (its session expiring or its rejoin) makes a
#                     surviving node revoke partitions, that survivor is
#                     killed, mid-rebalance
# Every killed node is restarted FL_RESTART_S later. Victims come from the
# seed. At the end the whole result topic is checked against the oracle
# (check_results.py: nothing lost, duplicated, unexpected or wrong; per
# task, consecutive sequence numbers in canonical order) and the recovery
# time of every kill is measured (kill -> the first result of a task the
# killed node owned, and until all of them produced again).
#
# Appends one line to $FL_TMP/soak-figures.tsv:
#   NAME MODE PASS|FAIL KILLS EXPECTED TOPIC MISSING DUPLICATED UNEXPECTED
#   WRONG FIRST_MS_LIST ALL_MS_LIST
# fl_soak_report prints the totals of that file.

# Log of node i's current process.
fl__soak_log() { echo "$FL_TMP/${FL_SOAK_CUR[$1]}.err"; }

# Waits until every node owns tasks of TOPIC and together all FL_PARTS,
# reading the current processes' logs.
fl__soak_settled() { # TOPIC SECS
    local deadline=$(($(date +%s) + $2)) i owned all ok
    while [ "$(date +%s)" -lt "$deadline" ]; do
        all="" ok=1
        for i in 1 2 3; do
            owned=$(fl__owned_tasks "$(fl__soak_log "$i")" "$1")
            [ -n "$owned" ] || ok=0
            all+="${all:+,}$owned"
        done
        if [ $ok = 1 ] && [ "$(echo "$all" | tr , '\n' | sort -u | wc -l)" = "$FL_PARTS" ]; then
            return 0
        fi
        fl__soak_check_alive
        sleep 0.3
    done
    return 1
}

fl__soak_check_alive() {
    local i n
    fl_alive "$FL_SOAK_NAME-kafka" || fl_die "$FL_SOAK_NAME: the embedded broker died (not" \
        "Sluice; the test is void): $(tail -n 2 "$FL_TMP/$FL_SOAK_NAME-kafka.err")"
    for i in 1 2 3; do
        n=${FL_SOAK_CUR[$i]}
        [ -n "$n" ] || continue
        fl_alive "$n" || fl_die "$n exited by itself (status ${FL_RC[$n]:-?}):" \
            "$(grep -m 3 '"level":"error"' "$FL_TMP/$n.err")"
    done
}

# Waits for node i's next checkpoint to reach its disk. Generous: a node
# restoring several tasks takes none until their output scans are done
# (serial on a worker, seconds each on the embedded broker).
fl__soak_wait_ckpt() { # I
    local cdir="$FL_SOAK_DIR/ckpt-n$1" before now deadline
    before=$(fl__newest_manifest "$cdir")
    deadline=$(($(fl_now_ms) + 10 * FL_CKPT_MS + 120000))
    while :; do
        now=$(fl__newest_manifest "$cdir")
        [ -n "$now" ] && [ "$now" != "$before" ] && return 0
        [ "$(fl_now_ms)" -lt "$deadline" ] ||
            fl_die "$FL_SOAK_NAME: ${FL_SOAK_CUR[$1]} completed no checkpoint (newest: ${before:-none})"
        sleep 0.005
    done
}

# kill -9 of node i now; records the kill (time, kind, tasks it owned, or
# PRIOR when it owned none: a node killed mid-rebalance has revoked them).
fl__soak_kill() { # I KIND [PRIOR]
    local i=$1 kind=$2 n=${FL_SOAK_CUR[$1]} kill_ms moved
    kill_ms=$(fl_now_ms)
    fl_kill9 "$n"
    moved=$(fl__owned_tasks "$FL_TMP/$n.err" "$FL_SOAK_TASK_TOPIC")
    [ -n "$moved" ] || moved=${3:-}
    printf '%s\t%s\t%s\t%s\n' "$kill_ms" "$kind" "$n" "$moved" >>"$FL_SOAK_DIR/kills.tsv"
    FL_SOAK_KILLS=$((FL_SOAK_KILLS + 1))
    FL_SOAK_CUR[$i]=""
    fl_log "$FL_SOAK_NAME: kill -9 #$FL_SOAK_KILLS of $n ($kind) at $((kill_ms - FL_SOAK_T0)) ms" \
        "into the stream; it owned tasks [$moved]"
}

fl__soak_restart() { # I
    local i=$1
    FL_SOAK_GEN[$i]=$((FL_SOAK_GEN[$i] + 1))
    local n="$FL_SOAK_NAME-n$i-r${FL_SOAK_GEN[$i]}"
    fl__node_env "$FL_SOAK_NAME" "$i" "$FL_SOAK_DIR" "$FL_SOAK_DIR/pipeline.json" "$FL_SOAK_B"
    fl_start "$n" "${FL_NODE_CMD[@]}"
    FL_SOAK_CUR[$i]=$n
    fl_log "$FL_SOAK_NAME: restarted n$i as $n"
}

# Waits until FILE has more lines matching RE than COUNT (up to SECS).
fl__soak_wait_more() { # FILE RE COUNT SECS
    local deadline=$(($(date +%s) + $4))
    while [ "$(grep -c -E -- "$2" "$1" 2>/dev/null || true)" -le "$3" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        fl__soak_check_alive
        sleep 0.02
    done
    return 0
}

# One kill of the given kind (and its restarts).
fl__soak_one() { # KIND VICTIM OTHER
    local kind=$1 v=$2 o=$3
    case "$kind" in
    after_checkpoint | mid_interval)
        fl__soak_wait_ckpt "$v"
        [ "$kind" = mid_interval ] &&
            sleep "$(awk -v ms="$FL_CKPT_MS" 'BEGIN{printf "%.3f", ms/2000}')"
        fl__soak_kill "$v" "$kind"
        sleep "$FL_RESTART_S"
        fl__soak_restart "$v"
        ;;
    during_recovery)
        fl__soak_wait_ckpt "$v"
        fl__soak_kill "$v" "after_checkpoint (first of during_recovery)"
        sleep "$FL_RESTART_S"
        fl__soak_restart "$v"
        # The restarted node restores what it is given: kill another then.
        local owned_o
        owned_o=$(fl__owned_tasks "$(fl__soak_log "$o")" "$FL_SOAK_TASK_TOPIC")
        fl__soak_wait_more "$(fl__soak_log "$v")" '"msg":"assigned ' 0 120 ||
            fl_die "$FL_SOAK_NAME: ${FL_SOAK_CUR[$v]} was assigned nothing within 120 s"
        fl__soak_kill "$o" during_recovery "$owned_o"
        sleep "$FL_RESTART_S"
        fl__soak_restart "$o"
        ;;
    during_rebalance)
        fl__soak_wait_ckpt "$v"
        fl__soak_kill "$v" "after_checkpoint (first of during_rebalance)"
        # The survivor's revocations so far; the rebalance that follows
        # (the victim's session expiring, or its rejoin) adds more.
        local log before prior
        log=$(fl__soak_log "$o")
        sleep "$FL_RESTART_S"
        before=$(grep -c -E '"msg":"(revoked|lost) ' "$log" || true)
        prior=$(fl__owned_tasks "$log" "$FL_SOAK_TASK_TOPIC")
        fl__soak_restart "$v"
        # A survivor that owned nothing, or whose rebalance came and went
        # during the sleep, logs no revocation: then the kill still happens
        # (the results are checked all the same), said as such.
        local how=during_rebalance
        if ! fl__soak_wait_more "$log" '"msg":"(revoked|lost) ' "$before" 60; then
            fl_log "$FL_SOAK_NAME: no rebalance seen by ${FL_SOAK_CUR[$o]} within 60 s; killing it anyway"
            how="during_rebalance (none seen)"
        fi
        fl__soak_kill "$o" "$how" "$prior"
        sleep "$FL_RESTART_S"
        fl__soak_restart "$o"
        ;;
    *) fl_die "fl_soak: unknown kill kind $kind" ;;
    esac
}

fl_soak() {
    local name=$1 mode=$2 seed=$3
    shift 3
    local kinds=("$@")
    local dir="$FL_TMP/$name"
    mkdir -p "$dir"
    : "${FL_EVENTS:=600000}" "${FL_RATE:=10000}" "${FL_KEYS:=400}" "${FL_PARTS:=16}"
    : "${FL_WINDOW_MS:=1000}" "${FL_IDLE_MS:=8000}"
    FL__OOO=${FL_OOO_MS:-$([ "$mode" = keyed ] && echo 2000 || echo 30000)}
    : "${FL_DISORDER_MS:=300}" "${FL_RESTART_S:=3}" "${FL_CKPT_MS:=1000}" "${FL_SESSION_MS:=6000}"
    local py
    py=$(fl_python)
    FL_SOAK_NAME=$name FL_SOAK_DIR=$dir FL_SOAK_KILLS=0
    declare -gA FL_SOAK_CUR=() FL_SOAK_GEN=()
    : >"$dir/kills.tsv"
    fl_log "== $name: soak, $mode input, seed $seed, kills: ${kinds[*]}; $FL_EVENTS events at" \
        "$FL_RATE/s, $FL_PARTS partitions"

    fl__start_cluster "$name" "$dir" "$mode"
    FL_SOAK_B=$FL_BOOTSTRAP
    local i
    for i in 1 2 3; do
        FL_SOAK_GEN[$i]=0
        FL_SOAK_CUR[$i]="$name-n$i"
    done
    fl_start "$name-ckpt-sample" "$py" "$FL_HERE/check_results.py" ckpt-sample \
        --out "$dir/ckpt-sizes.txt" "$dir/ckpt-n1" "$dir/ckpt-n2" "$dir/ckpt-n3"
    # The input and the results are read as they are written: reading a
    # long topic back at the end is slow on the embedded broker.
    fl_start "$name-follow-in" kcat -b "$FL_SOAK_B" -C -t in -o beginning -q -u \
        "${FL_KCAT_READ[@]}" -f '%p\t%o\t%s\n'
    fl_start "$name-follow" "$py" "$FL_HERE/check_results.py" follow --bootstrap "$FL_SOAK_B" \
        --topic out --out "$dir/stamped.tsv"
    local keyarg=(--key-field user)
    [ "$mode" = unkeyed ] && keyarg=(--no-key)
    local duration_ms=$((FL_EVENTS * 1000 / FL_RATE))
    FL_SOAK_T0=$(fl_now_ms)
    fl_start "$name-producer" "$SLUICE_BIN" produce --bootstrap "$FL_SOAK_B" --topic in \
        --count "$FL_EVENTS" --rate "$FL_RATE" --keys "$FL_KEYS" "${keyarg[@]}" \
        --disorder-ms "$FL_DISORDER_MS" --seed "$seed"
    FL_SOAK_TASK_TOPIC=in
    [ "$mode" = unkeyed ] && FL_SOAK_TASK_TOPIC=rep
    fl__soak_settled "$FL_SOAK_TASK_TOPIC" 60 || fl_die "$name: the consumer group did not settle"

    local j nk=${#kinds[@]} target v o
    for ((j = 0; j < nk; j++)); do
        target=$((FL_SOAK_T0 + duration_ms * (15 + 65 * j / nk) / 100))
        while [ "$(fl_now_ms)" -lt "$target" ]; do
            fl__soak_check_alive
            sleep 0.1
        done
        # Start each kill from a settled group (the previous recovery done).
        fl__soak_settled "$FL_SOAK_TASK_TOPIC" 120 ||
            fl_die "$name: the group did not settle before kill $((j + 1))"
        v=$(((seed + j) % 3 + 1))
        o=$(((seed + j + 1 + (seed / 3 + j) % 2) % 3 + 1))
        [ "$o" = "$v" ] && o=$((v % 3 + 1))
        fl__soak_one "${kinds[$j]}" "$v" "$o"
    done

    fl_wait_exit "$name-producer" $((duration_ms * 3 / 1000 + 120)) ||
        fl_die "$name: the producer did not finish"
    [ "${FL_RC[$name-producer]}" = 0 ] ||
        fl_die "$name: producer failed: $(tail -n 3 "$FL_TMP/$name-producer.err")"
    local t_end
    t_end=$(fl_now_ms)
    fl_log "$name: producer done $((t_end - FL_SOAK_T0)) ms after its start" \
        "(planned $duration_ms ms): $(tail -n 1 "$FL_TMP/$name-producer.err")"
    [ $((t_end - FL_SOAK_T0)) -le $((duration_ms * 3 / 2 + 5000)) ] ||
        fl_log "$name: note: the producer ran late; the machine is overloaded"

    local n_in=0 t_in
    t_in=$(($(date +%s) + 300))
    while :; do
        n_in=$(wc -l <"$FL_TMP/$name-follow-in.out")
        [ "$n_in" -ge "$FL_EVENTS" ] && break
        [ "$(date +%s)" -lt "$t_in" ] || fl_die "$name: only $n_in input events read back"
        sleep 0.5
    done
    fl_stop "$name-follow-in" 10
    # In offset order per partition, as the oracle wants it.
    sort -t $'\t' -k1,1n -k2,2n -s "$FL_TMP/$name-follow-in.out" >"$dir/in.tsv" ||
        fl_die "$name: cannot sort the input read back"
    local expected
    fl__oracle "$name" "$dir" "$mode"
    expected=$FL_EXPECTED

    local deadline got last_report=0
    deadline=$(($(date +%s) + (FL__OOO + FL_WINDOW_MS + FL_IDLE_MS) / 1000 + 120))
    while :; do
        # distinct (task, seq): a duplicate must not count as a result
        got=$(cut -f2,3 "$dir/stamped.tsv" 2>/dev/null | sort -u | wc -l)
        [ "$got" -ge "$expected" ] && break
        if [ "$(date +%s)" -ge "$deadline" ]; then
            fl_log "$name: only $got of $expected results arrived in time"
            break
        fi
        if [ $(($(date +%s) - last_report)) -ge 10 ]; then
            fl_log "$name: $got/$expected results"
            last_report=$(date +%s)
        fi
        fl__soak_check_alive
        sleep 1
    done
    sleep 3 # room for a duplicate to show up

    local rc=0 nodes=() logs=() n
    for i in 1 2 3; do nodes+=("${FL_SOAK_CUR[$i]}"); done
    fl_stop_many 60 "${nodes[@]}"
    fl_stop "$name-follow" 10
    fl__stopped_ok "$name" "${nodes[@]}" || rc=1
    for n in "${nodes[@]}"; do logs+=("$FL_TMP/$n.err"); done
    "$py" "$FL_HERE/check_results.py" check --bootstrap "$FL_SOAK_B" --topic out \
        --input "$dir/in.tsv" --mode "$mode" --window-ms "$FL_WINDOW_MS" --ooo-ms "$FL__OOO" \
        --results-out "$dir/results.tsv" >"$dir/check.out" 2>&1 || rc=1
    sed "s/^/[$name] /" "$dir/check.out" >&2
    "$py" "$FL_HERE/check_results.py" kills --results "$dir/results.tsv" --kills "$dir/kills.tsv" \
        >"$dir/kills.out" 2>&1 || rc=1
    sed "s/^/[$name] /" "$dir/kills.out" >&2
    "$py" "$FL_HERE/check_results.py" summaries "${logs[@]}" | sed "s/^/[$name] /" >&2
    fl_stop "$name-ckpt-sample" 10
    "$py" "$FL_HERE/check_results.py" ckpt-sizes "$dir/ckpt-sizes.txt" | sed "s/^/[$name] /" >&2
    local all_logs=("$FL_TMP/$name"-n*.err)
    fl_log "$name: task restores: $(cat "${all_logs[@]}" | grep -c 'restored from checkpoint')," \
        "output scans that suppressed a replay: $(cat "${all_logs[@]}" | grep -c 'suppressing their replay')," \
        "errors logged: $(cat "${all_logs[@]}" | grep -c '"level":"error"')"
    fl_stop "$name-kafka" 10

    local fig rec verdict=PASS
    [ $rc = 0 ] || verdict=FAIL
    fig=$(sed -n 's/^figures: //p' "$dir/check.out" | tail -n 1)
    rec=$(sed -n 's/^recovery-ms: //p' "$dir/kills.out" | tail -n 1)
    "$py" - "$name" "$mode" "$verdict" "$FL_SOAK_KILLS" "$fig" "$rec" >>"$FL_TMP/soak-figures.tsv" <<'PYEOF'
import sys
name, mode, verdict, kills, fig, rec = sys.argv[1:7]
f = dict(kv.split("=") for kv in fig.split()) if fig else {}
r = dict(kv.split("=") for kv in rec.split()) if rec else {}
print("\t".join([name, mode, verdict, kills] +
                [f.get(k, "?") for k in ("expected", "topic", "missing", "duplicated",
                                         "unexpected", "wrong")] +
                [r.get("first", "-"), r.get("all", "-")]))
PYEOF
    if [ $rc = 0 ]; then
        fl_log "== $name: PASS"
    else
        fl_log "== $name: FAIL (logs in $FL_TMP)"
        FL_FAILED=1
    fi
    return $rc
}

# Totals of $FL_TMP/soak-figures.tsv: runs, kills, results checked, lost,
# duplicated, recovery times (min / median / max of the first result after
# a kill, and of all moved tasks producing again).
fl_soak_report() {
    [ -s "$FL_TMP/soak-figures.tsv" ] || {
        echo "soak: no run completed"
        return 0
    }
    "$(fl_python)" - "$FL_TMP/soak-figures.tsv" <<'PYEOF'
import sys
runs = kills = expected = lost = dup = unexp = wrong = passed = 0
first, alls = [], []
for line in open(sys.argv[1]):
    c = line.rstrip("\n").split("\t")
    runs += 1
    passed += c[2] == "PASS"
    kills += int(c[3])
    num = lambda s: int(s) if s.isdigit() else 0
    expected += num(c[4]); lost += num(c[6]); dup += num(c[7])
    unexp += num(c[8]); wrong += num(c[9])
    first += [int(x) for x in c[10].split(",") if x not in ("", "-")]
    alls += [int(x) for x in c[11].split(",") if x not in ("", "-")]
    print("soak run %s (%s): %s, %s kills, %s results expected, %s in the topic, lost %s, "
          "duplicated %s, unexpected %s, wrong %s; recovery ms first [%s] all [%s]" %
          (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]))
def stat(v):
    if not v:
        return "-"
    v = sorted(v)
    return "min %d / median %d / max %d ms (n=%d)" % (v[0], v[len(v) // 2], v[-1], len(v))
print("soak totals: %d runs (%d passed), %d kills, %d results checked, lost %d, duplicated %d, "
      "unexpected %d, wrong %d" % (runs, passed, kills, expected, lost, dup, unexp, wrong))
print("soak recovery: kill -> first result of a moved task: %s; -> every moved task producing "
      "again: %s" % (stat(first), stat(alls)))
PYEOF
}
