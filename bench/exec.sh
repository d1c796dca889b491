#!/bin/bash
# Benchmarks exec side by side, in one run: a blocking exec of /bin/true through dext's
# API against posix_spawn+waitpid in C and Node's child_process.execFile; streaming
# `head -c 1G /dev/zero` through dext's event connection against a plain C relay of the
# same pipe to a loopback TCP client. Builds nothing.
#
#   bench/exec.sh [BUILD_DIR]        (default: build; or: ninja -C build bench-exec)
#
# Diagnostic rows help tell where dext's time goes: libuv's uv_spawn with two pipes (how
# dext spawned before it used clone(CLONE_VM|CLONE_VFORK)), dext's vm helper
# (`dext __guest-exec`, still the path where dext cannot open a mount namespace) started
# with posix_spawn, and a C relay from a socketpair (what libuv gives a child for
# UV_CREATE_PIPE) instead of a pipe.
#
# Environment: BENCH_EXEC_N (1000 round trips per contender and round),
# BENCH_EXEC_WARMUP (50), BENCH_ROUNDS (5), BENCH_STREAM_BYTES (1073741824),
# BENCH_STREAM_REPEAT (3 transfers per streaming contender and round; the best counts);
# SPAWN_TRUE, UV_SPAWN_TRUE, EXEC_CLIENT, PIPE_RELAY, FIXTURE_BACKEND, DEXT_BIN, NODE
# override the programs used, DEXT_REVISION names that dext in the report. The
# contenders take turns within each round, and the report gives the median over the
# rounds. Prints a markdown table and writes it to bench/out/exec-results.md.
# wait_for evaluates its condition later, so single quotes are meant; the per-round
# arrays are read through med's nameref:
# shellcheck disable=SC2016,SC2034
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${1:-build}
if [ ! -d "$BUILD" ] && [ -d "$ROOT/$BUILD" ]; then
    BUILD=$ROOT/$BUILD
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")

SPAWN_TRUE=${SPAWN_TRUE:-$BUILD/bench/spawn-true}
UV_SPAWN_TRUE=${UV_SPAWN_TRUE:-$BUILD/bench/uv-spawn-true}
EXEC_CLIENT=${EXEC_CLIENT:-$BUILD/bench/exec-client}
PIPE_RELAY=${PIPE_RELAY:-$BUILD/bench/pipe-relay}
FIXTURE=${FIXTURE_BACKEND:-$BUILD/tests/fixtures/fixture-backend}
DEXT=${DEXT_BIN:-$BUILD/dext}
NODE=${NODE:-node}
N=${BENCH_EXEC_N:-1000}
WARMUP=${BENCH_EXEC_WARMUP:-50}
ROUNDS=${BENCH_ROUNDS:-5}
BYTES=${BENCH_STREAM_BYTES:-1073741824}
REPEAT=${BENCH_STREAM_REPEAT:-3}
OUT_DIR=$HERE/out
CLK_TCK=$(getconf CLK_TCK)

for prog in "$SPAWN_TRUE" "$UV_SPAWN_TRUE" "$EXEC_CLIENT" "$PIPE_RELAY" "$FIXTURE" "$DEXT"; do
    if [ ! -x "$prog" ]; then
        echo "exec.sh: $prog not found; build first (meson setup $BUILD && ninja -C $BUILD)" >&2
        exit 1
    fi
done
HAS_NODE=
if command -v "$NODE" >/dev/null; then
    HAS_NODE=1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/dext-bench-exec.XXXXXX")
chmod 700 "$T"
PIDS=()
SAMPLER=
CHILD=

cleanup() {
    local pid i
    trap - EXIT INT TERM
    if [ -n "$SAMPLER" ]; then
        kill "$SAMPLER" 2>/dev/null || true
    fi
    if [ -n "$CHILD" ]; then
        kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for i in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() {
    echo "$*" >&2
}

# Waits up to $2 seconds for the command "$1" to succeed.
wait_for() {
    local cond=$1 limit=$(($2 * 10)) i
    for ((i = 0; i < limit; i++)); do
        if eval "$cond"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Runs a contender in the background, so the trap can end it by pid, and puts the JSON
# line it prints into OUT ("{}" when it fails).
run_bg() {
    local rc=0
    "$@" >"$T/run.out" 2>"$T/run.err" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=
    OUT=$(tail -n 1 "$T/run.out")
    if [ "$rc" -ne 0 ] || [ -z "$OUT" ]; then
        log "  $1 failed ($rc): $(tail -n 3 "$T/run.err" | tr '\n' ' ')"
        OUT='{}'
    fi
}

json_get() {
    local re="\"$2\":([0-9.]+)"
    if [[ $1 =~ $re ]]; then
        echo "${BASH_REMATCH[1]}"
    else
        echo 0
    fi
}

# utime+stime ($2 = own) or cutime+cstime ($2 = children) of process $1, in clock ticks.
cpu_ticks() {
    local s
    s=$(<"/proc/$1/stat")
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- "$2" $s
    if [ "$1" = own ]; then
        echo $((${13} + ${14}))
    else
        echo $((${15} + ${16}))
    fi
}

# VmRSS of process $1 in KiB, into RSS (no subshell, so sampling is cheap).
rss_kib() {
    local key value
    RSS=0
    while read -r key value _; do
        if [ "$key" = "VmRSS:" ]; then
            RSS=$value
        fi
    done <"/proc/$1/status"
}

# Samples the VmRSS of process $2 every 20 ms; keeps the maximum in file $1. It never
# forks: waiting on a FIFO nobody writes to replaces sleep(1), whose exec 50 times a
# second would take CPU from the contender being measured.
sample_rss() {
    local file=$1 pid=$2 max=0 tick
    # bash runs the trap between commands, so a kill never cuts the file short.
    trap 'exit 0' TERM
    exec {tick}<>"$T/tick"
    while :; do
        rss_kib "$pid" 2>/dev/null || RSS=0
        if [ "$RSS" -gt "$max" ]; then
            max=$RSS
            echo "$max" >"$file"
        fi
        read -r -t 0.02 -u "$tick" _ || true
    done
}

mib() {
    awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

# The median, minimum and maximum of the arguments: "MEDIAN MIN MAX".
summary() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) { print "0 0 0"; exit }
              m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.4g %.4g %.4g\n", m, v[1], v[NR] }'
}

# How busy the machine is without us, in percent, over one second.
busy_pct() {
    local u0 n0 s0 i0 w0 q0 sq0 st0 u1 n1 s1 i1 w1 q1 sq1 st1 total idle
    read -r _ u0 n0 s0 i0 w0 q0 sq0 st0 _ </proc/stat
    sleep 1
    read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
    total=$(((u1 + n1 + s1 + i1 + w1 + q1 + sq1 + st1) - (u0 + n0 + s0 + i0 + w0 + q0 + sq0 + st0)))
    idle=$(((i1 + w1) - (i0 + w0)))
    echo $((total > 0 ? 100 * (total - idle) / total : 0))
}

# ---- dext ---------------------------------------------------------------------------

# A copy of each binary, so a rebuild during the run cannot mix two versions.
mkdir -p "$T/bin"
cp "$DEXT" "$T/bin/dext"
cp "$FIXTURE" "$T/bin/fixture-backend"
DEXT=$T/bin/dext
FIXTURE=$T/bin/fixture-backend
# The commit, "-dirty" when dext's own sources differ from it (bench/ does not count).
REVISION=${DEXT_REVISION:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}
if [ -z "${DEXT_REVISION:-}" ] && ! git -C "$ROOT" diff --quiet HEAD -- src meson.build 2>/dev/null; then
    REVISION=$REVISION-dirty
fi

mkdir -p "$T/xdg-run" "$T/xdg-data"
chmod 700 "$T/xdg-run" "$T/xdg-data"
XDG_RUNTIME_DIR=$T/xdg-run XDG_DATA_HOME=$T/xdg-data DEXT_LOG_LEVEL=${DEXT_LOG_LEVEL:-warn} \
    "$DEXT" run "$HERE/ext" --backend-cmd "$FIXTURE" >"$T/dext.out" 2>"$T/dext.err" &
DEXT_PID=$!
PIDS+=("$DEXT_PID")
if ! wait_for '[ -n "$(head -n 1 "$T/dext.out")" ] || ! kill -0 $DEXT_PID 2>/dev/null' 15 ||
    ! kill -0 "$DEXT_PID" 2>/dev/null; then
    log "dext did not start: $(tail -n 3 "$T/dext.err" | tr '\n' ' ')"
    exit 1
fi
DEXT_URL=$(head -n 1 "$T/dext.out")
DEXT_SECRET=${DEXT_URL##*dext-secret=}
DEXT_SECRET=${DEXT_SECRET%%&*}
DEXT_BASE=${DEXT_URL%%/index.html*}
if ! wait_for 'curl -sf -H "X-Dext-Secret: $DEXT_SECRET" "$DEXT_BASE/__dext/vm/service/ping" >/dev/null' 15; then
    log "dext started but its backend did not answer: $(tail -n 3 "$T/dext.err" | tr '\n' ' ')"
    exit 1
fi
# Its backend, so the trap can kill it too should dext leave it behind.
BACKEND_PID=$(curl -sf -H "X-Dext-Secret: $DEXT_SECRET" "$DEXT_BASE/__dext/vm/service/pid" |
    tr -dc 0-9 || true)
if [ -n "$BACKEND_PID" ]; then
    PIDS+=("$BACKEND_PID")
fi

# ---- measurements -------------------------------------------------------------------

BUSY=$(busy_pct)
if [ "$BUSY" -gt 10 ]; then
    log "warning: the CPUs are ${BUSY}% busy before the run; other work skews the figures"
fi

declare -A MEAN P50 P99 GBPS
DEXT_OWN=0 DEXT_KIDS=0 DEXT_CALLS=0 STREAM_OWN=0 STREAM_BYTES=0 RELAY_CPU=0 RELAY_BYTES=0
IDLE_RSS=0 PEAK_RSS=0 AFTER_RSS=0
R_SPAWN=() R_NODE=() R_STREAM=()
# Keeps the larger of GBPS[$1/$r] and $2: noise on a shared machine only ever slows a
# transfer down, so the best of a round's repeats is its figure.
best() {
    if awk -v a="$2" -v b="${GBPS[$1/$r]:-0}" 'BEGIN { exit !(a > b) }'; then
        GBPS[$1/$r]=$2
    fi
}

mkdir -p "$T/guest"
mkfifo "$T/tick"
for ((r = 1; r <= ROUNDS; r++)); do
    log "round $r/$ROUNDS: blocking exec of /bin/true, $N round trips each after $WARMUP"
    for name in spawn node dext uv helper; do
        case $name in
        spawn) run_bg "$SPAWN_TRUE" -n "$N" --warmup "$WARMUP" ;;
        node)
            [ -n "$HAS_NODE" ] || continue
            run_bg "$NODE" "$HERE/node-execfile.mjs" -n "$N" --warmup "$WARMUP"
            ;;
        dext)
            own0=$(cpu_ticks "$DEXT_PID" own)
            kids0=$(cpu_ticks "$DEXT_PID" children)
            run_bg "$EXEC_CLIENT" --url "$DEXT_URL" --blocking "$N" --warmup "$WARMUP"
            DEXT_OWN=$((DEXT_OWN + $(cpu_ticks "$DEXT_PID" own) - own0))
            DEXT_KIDS=$((DEXT_KIDS + $(cpu_ticks "$DEXT_PID" children) - kids0))
            DEXT_CALLS=$((DEXT_CALLS + N + WARMUP))
            ;;
        uv) run_bg "$UV_SPAWN_TRUE" -n "$N" --warmup "$WARMUP" ;;
        helper)
            run_bg "$SPAWN_TRUE" -n "$N" --warmup "$WARMUP" -- \
                "$DEXT" __guest-exec "$T/guest" "$HERE/ext" -- /bin/true
            ;;
        esac
        log "  $name: $OUT"
        MEAN[$name/$r]=$(json_get "$OUT" mean_ms)
        P50[$name/$r]=$(json_get "$OUT" p50_ms)
        P99[$name/$r]=$(json_get "$OUT" p99_ms)
    done
    R_SPAWN+=("$(ratio "${MEAN[dext/$r]}" "${MEAN[spawn/$r]}")")
    if [ -n "$HAS_NODE" ]; then
        R_NODE+=("$(ratio "${MEAN[dext/$r]}" "${MEAN[node/$r]}")")
    fi

    log "round $r/$ROUNDS: streaming $BYTES bytes of head -c $BYTES /dev/zero, best of $REPEAT"
    rss_kib "$DEXT_PID"
    if [ "$r" -eq 1 ]; then
        IDLE_RSS=$RSS
    fi
    for ((k = 1; k <= REPEAT; k++)); do
        run_bg "$PIPE_RELAY" --bytes "$BYTES"
        log "  relay: $OUT"
        best relay "$(json_get "$OUT" gbps)"
        RELAY_CPU=$(awk -v a="$RELAY_CPU" -v b="$(json_get "$OUT" relay_cpu_s)" 'BEGIN { print a + b }')
        RELAY_BYTES=$((RELAY_BYTES + $(json_get "$OUT" bytes)))

        echo 0 >"$T/peak"
        sample_rss "$T/peak" "$DEXT_PID" &
        SAMPLER=$!
        own0=$(cpu_ticks "$DEXT_PID" own)
        run_bg "$EXEC_CLIENT" --url "$DEXT_URL" --stream "$BYTES"
        STREAM_OWN=$((STREAM_OWN + $(cpu_ticks "$DEXT_PID" own) - own0))
        kill "$SAMPLER" 2>/dev/null || true
        wait "$SAMPLER" 2>/dev/null || true
        SAMPLER=
        log "  dext: $OUT"
        best dext "$(json_get "$OUT" gbps)"
        STREAM_BYTES=$((STREAM_BYTES + $(json_get "$OUT" bytes)))
        peak=$(<"$T/peak")
        if [ "$peak" -gt "$PEAK_RSS" ]; then
            PEAK_RSS=$peak
        fi

        run_bg "$PIPE_RELAY" --bytes "$BYTES" --socketpair
        log "  relay from a socketpair: $OUT"
        best socketpair "$(json_get "$OUT" gbps)"
    done
    R_STREAM+=("$(ratio "${GBPS[dext/$r]}" "${GBPS[relay/$r]}")")
done
rss_kib "$DEXT_PID"
AFTER_RSS=$RSS

# ---- report -------------------------------------------------------------------------

# The median over the rounds of metric $1 (an array name) for contender $2.
med() {
    local -n arr=$1
    local v=() k
    for ((k = 1; k <= ROUNDS; k++)); do
        v+=("${arr[$2/$k]:-0}")
    done
    # shellcheck disable=SC2046
    set -- $(summary "${v[@]}")
    echo "$1"
}

# "median (min–max)" of the arguments.
spread() {
    # shellcheck disable=SC2046
    set -- $(summary "$@")
    if [ "$2" = "$3" ]; then
        echo "$1"
    else
        echo "$1 ($2–$3)"
    fi
}

report() {
    local name label r
    echo "## exec: blocking round trip and streaming"
    echo
    echo "$(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))," \
        "$ROUNDS rounds, CPUs ${BUSY}% busy just before the run, $(date -u +%Y-%m-%dT%H:%MZ)," \
        "dext from $REVISION."
    echo
    echo "Blocking exec of \`/bin/true\`, $N sequential round trips per contender and round" \
        "(after $WARMUP); the median of the rounds:"
    echo
    echo "| contender | mean ms | p50 ms | p99 ms |"
    echo "|---|---:|---:|---:|"
    for name in spawn node dext uv helper; do
        case $name in
        spawn) label="posix_spawn + waitpid (C)" ;;
        node)
            label="Node child_process.execFile"
            [ -n "$HAS_NODE" ] || continue
            ;;
        dext) label="**dext** POST /__dext/exec (scope vm)" ;;
        uv) label="diagnostic: libuv's uv_spawn, 2 pipes read, detached" ;;
        helper) label="diagnostic: posix_spawn of the vm helper \`dext __guest-exec … -- /bin/true\`" ;;
        esac
        echo "| $label | $(med MEAN "$name") | $(med P50 "$name") | $(med P99 "$name") |"
    done
    echo
    echo "dext's own CPU per blocking exec: $(awk -v t="$DEXT_OWN" -v hz="$CLK_TCK" \
        -v n="$DEXT_CALLS" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }') µs; its children's" \
        "(the \`__guest-exec\` helper and \`/bin/true\`): $(awk -v t="$DEXT_KIDS" \
            -v hz="$CLK_TCK" -v n="$DEXT_CALLS" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }') µs."
    echo
    echo "Streaming \`head -c $BYTES /dev/zero\` to a client on 127.0.0.1 (GB/s = 10⁹ bytes/s;" \
        "each round's figure is the best of $REPEAT transfers, taken in turns with the others):"
    echo
    echo "| contender | GB/s median of rounds | min | max |"
    echo "|---|---:|---:|---:|"
    for name in relay dext socketpair; do
        case $name in
        relay) label="C relay: pipe → TCP client process" ;;
        dext) label="**dext**: /__dext/events, stream 1" ;;
        socketpair) label="diagnostic: C relay from a socketpair (what libuv gives a child)" ;;
        esac
        local v=()
        for ((r = 1; r <= ROUNDS; r++)); do
            v+=("${GBPS[$name/$r]:-0}")
        done
        # shellcheck disable=SC2046
        set -- $(summary "${v[@]}")
        echo "| $label | $1 | $2 | $3 |"
    done
    echo
    echo "dext while streaming: idle RSS $(mib "$IDLE_RSS") MiB, peak $(mib "$PEAK_RSS") MiB" \
        "(sampled every 20 ms), $(mib "$AFTER_RSS") MiB after. CPU of the relaying process" \
        "per GB: dext $(awk -v t="$STREAM_OWN" -v hz="$CLK_TCK" -v b="$STREAM_BYTES" \
            'BEGIN { if (b > 0) printf "%.2f", t / hz / (b / 1e9); else print "-" }') s," \
        "the C relay $(awk -v t="$RELAY_CPU" -v b="$RELAY_BYTES" \
            'BEGIN { if (b > 0) printf "%.2f", t / (b / 1e9); else print "-" }') s."
    echo
    echo "Ratios, per round (median, min–max):"
    echo
    echo "- dext / posix_spawn, mean round trip: $(spread "${R_SPAWN[@]}") (goal ≤ 1.3)"
    if [ -n "$HAS_NODE" ]; then
        echo "- dext / Node execFile, mean round trip: $(spread "${R_NODE[@]}") (goal ≤ 0.5)"
    fi
    echo "- dext / C relay, streaming GB/s: $(spread "${R_STREAM[@]}") (goal ≥ 0.8)"
    echo "- dext peak − idle RSS while streaming: $(mib $((PEAK_RSS - IDLE_RSS))) MiB" \
        "(flat: bounded by the 1 MiB write-queue high mark plus buffers, not by the bytes sent)"
}

mkdir -p "$OUT_DIR"
report | tee "$OUT_DIR/exec-results.md"
