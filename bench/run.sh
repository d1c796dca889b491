#!/bin/bash
# Benchmarks GET /ping side by side: straight to the fixture backend's unix socket, and
# through a byte relay with no HTTP (the floor for any proxy), nginx (1 worker), a
# Node.js proxy and dext. Builds nothing.
#
#   bench/run.sh [BUILD_DIR]        (default: build)
#
# Environment: BENCH_ROUNDS (5), BENCH_SECONDS (2), BENCH_WARMUP (0.5),
# BENCH_CONNS ("32 1"), and FIXTURE_BACKEND, LOADGEN, BYTE_RELAY, DEXT_BIN, NGINX,
# NODE to override the programs used.
# Prints a markdown table and writes it to bench/out/results.md.
# wait_for evaluates its condition later, so single quotes are meant; the results'
# arrays are read through a nameref:
# shellcheck disable=SC2016,SC2034
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${1:-build}
if [ ! -d "$BUILD" ] && [ -d "$ROOT/$BUILD" ]; then
    BUILD=$ROOT/$BUILD
fi
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")

FIXTURE=${FIXTURE_BACKEND:-$BUILD/tests/fixtures/fixture-backend}
LOADGEN=${LOADGEN:-$BUILD/bench/loadgen}
RELAY=${BYTE_RELAY:-$BUILD/bench/byte-relay}
DEXT=${DEXT_BIN:-$BUILD/dext}
NGINX=${NGINX:-/usr/sbin/nginx}
NODE=${NODE:-node}
SECONDS_EACH=${BENCH_SECONDS:-2}
WARMUP=${BENCH_WARMUP:-0.5}
ROUNDS=${BENCH_ROUNDS:-5}
CONNS=${BENCH_CONNS:-32 1}
OUT_DIR=$HERE/out
CLK_TCK=$(getconf CLK_TCK)

for prog in "$FIXTURE" "$LOADGEN"; do
    if [ ! -x "$prog" ]; then
        echo "run.sh: $prog not found; build first (meson setup $BUILD && ninja -C $BUILD)" >&2
        exit 1
    fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/dext-bench.XXXXXX")
chmod 700 "$T"
PIDS=()
SAMPLER=

cleanup() {
    local pid i
    trap - EXIT INT TERM
    if [ -n "$SAMPLER" ]; then
        kill "$SAMPLER" 2>/dev/null || true
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

free_port() {
    "$NODE" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# The process's utime+stime in clock ticks (all threads).
cpu_ticks() {
    local total=0 pid s
    for pid in "$@"; do
        s=$(<"/proc/$pid/stat")
        s=${s##*) }
        # shellcheck disable=SC2086
        set -- $s
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}

# The summed VmRSS of the processes, in KiB, into RSS (no subshell, so sampling is cheap).
rss_kib() {
    local pid key value
    RSS=0
    for pid in "$@"; do
        while read -r key value _; do
            if [ "$key" = "VmRSS:" ]; then
                RSS=$((RSS + value))
            fi
        done <"/proc/$pid/status"
    done
}

# Samples the summed VmRSS every 50 ms and keeps the maximum in file $1. It never
# forks (a sleep(1) 20 times a second would take CPU from the proxy measured): it
# waits on a FIFO nobody writes to.
sample_rss() {
    local file=$1 max=0 tick
    shift
    # bash runs the trap between commands, so a kill never cuts the file short.
    trap 'exit 0' TERM
    [ -p "$T/tick" ] || mkfifo "$T/tick"
    exec {tick}<>"$T/tick"
    while :; do
        rss_kib "$@" 2>/dev/null || RSS=0
        if [ "$RSS" -gt "$max" ]; then
            max=$RSS
            echo "$max" >"$file"
        fi
        read -r -t 0.05 -u "$tick" _ || true
    done
}

# A worker's pid: the children of an nginx master, by parent pid.
children_of() {
    local f=/proc/$1/task/$1/children
    if [ -r "$f" ]; then
        cat "$f"
    else
        pgrep -P "$1" || true
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

mib() {
    awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

# ---- contenders -------------------------------------------------------------------

SOCK=$T/backend/backend.sock
mkdir -p "$T/backend"
"$FIXTURE" --socket "$SOCK" >"$T/backend.log" 2>&1 &
PIDS+=($!)
wait_for '[ -S "$SOCK" ]' 5 || {
    log "fixture backend did not start"
    exit 1
}

declare -A TARGET PROCS IDLE NOTE
ORDER=(direct)
TARGET[direct]="--unix $SOCK --path /ping"
PROCS[direct]=

if [ -x "$RELAY" ]; then
    "$RELAY" --socket "$SOCK" >"$T/relay.out" 2>"$T/relay.err" &
    RELAY_PID=$!
    PIDS+=("$RELAY_PID")
    if wait_for '[ -s "$T/relay.out" ]' 5; then
        ORDER+=(relay)
        TARGET[relay]="--url $(head -n 1 "$T/relay.out")ping"
        PROCS[relay]=$RELAY_PID
    else
        NOTE[relay]="byte-relay did not start: $(tail -n 3 "$T/relay.err")"
    fi
else
    NOTE[relay]="$RELAY not found"
fi

if [ -x "$NGINX" ]; then
    NGX=$T/nginx
    mkdir -p "$NGX"
    NGINX_PORT=$(free_port)
    sed -e "s#@DIR@#$NGX#g" -e "s#@PORT@#$NGINX_PORT#g" -e "s#@SOCKET@#$SOCK#g" \
        "$HERE/nginx.conf.in" >"$NGX/nginx.conf"
    "$NGINX" -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" >"$NGX/stdout.log" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    if wait_for 'curl -sf "http://127.0.0.1:$NGINX_PORT/ping" >/dev/null' 10; then
        ORDER+=(nginx)
        TARGET[nginx]="--url http://127.0.0.1:$NGINX_PORT/ping"
        PROCS[nginx]="$NGINX_PID $(children_of "$NGINX_PID")"
    else
        NOTE[nginx]="nginx did not start: $(tail -n 3 "$NGX/error.log" 2>/dev/null)"
    fi
else
    NOTE[nginx]="$NGINX not found"
fi

if command -v "$NODE" >/dev/null; then
    "$NODE" "$HERE/node-proxy.mjs" --socket "$SOCK" --port 0 >"$T/node.out" 2>"$T/node.err" &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    if wait_for '[ -s "$T/node.out" ]' 10; then
        NODE_URL=$(head -n 1 "$T/node.out")
        ORDER+=(node)
        TARGET[node]="--url ${NODE_URL}ping"
        PROCS[node]=$NODE_PID
    else
        NOTE[node]="node proxy did not start: $(tail -n 3 "$T/node.err")"
    fi
else
    NOTE[node]="node not found"
fi

# dext runs its own copy of the fixture backend, started with --backend-cmd.
start_dext() {
    local url secret port
    if [ ! -x "$DEXT" ]; then
        NOTE[dext]="$DEXT not found"
        return 1
    fi
    mkdir -p "$T/xdg-run" "$T/xdg-data"
    chmod 700 "$T/xdg-run" "$T/xdg-data"
    port=$(free_port)
    XDG_RUNTIME_DIR=$T/xdg-run XDG_DATA_HOME=$T/xdg-data DEXT_LOG_LEVEL=${DEXT_LOG_LEVEL:-warn} \
        "$DEXT" run "$HERE/ext" --port "$port" --backend-cmd "$FIXTURE" \
        >"$T/dext.out" 2>"$T/dext.err" &
    DEXT_PID=$!
    PIDS+=("$DEXT_PID")
    if ! wait_for '[ -n "$(head -n 1 "$T/dext.out")" ] || ! kill -0 $DEXT_PID 2>/dev/null' 15 ||
        ! kill -0 "$DEXT_PID" 2>/dev/null; then
        NOTE[dext]="dext did not start: $(tail -n 3 "$T/dext.err" | tr '\n' ' ')"
        return 1
    fi
    url=$(head -n 1 "$T/dext.out")
    secret=${url##*dext-secret=}
    secret=${secret%%&*}
    port=${url#http://127.0.0.1:}
    port=${port%%/*}
    DEXT_SECRET=$secret
    DEXT_PING="http://127.0.0.1:$port/__dext/vm/service/ping"
    if ! wait_for 'curl -sf -H "X-Dext-Secret: $DEXT_SECRET" "$DEXT_PING" >/dev/null' 15; then
        NOTE[dext]="dext started but $DEXT_PING did not answer: $(tail -n 3 "$T/dext.err" | tr '\n' ' ')"
        return 1
    fi
    # Its backend, so the trap can kill it too should dext leave it behind.
    local bpid
    bpid=$(curl -sf -H "X-Dext-Secret: $DEXT_SECRET" \
        "http://127.0.0.1:$port/__dext/vm/service/pid" | tr -dc 0-9 || true)
    if [ -n "$bpid" ]; then
        PIDS+=("$bpid")
    fi
    return 0
}
if start_dext; then
    ORDER+=(dext)
    TARGET[dext]="--url $DEXT_PING -H X-Dext-Secret:$DEXT_SECRET"
    PROCS[dext]=$DEXT_PID
else
    log "dext: skipped (${NOTE[dext]})"
fi

for name in "${ORDER[@]}"; do
    if [ -n "${PROCS[$name]}" ]; then
        # shellcheck disable=SC2086
        rss_kib ${PROCS[$name]}
        IDLE[$name]=$RSS
    fi
done

# ---- measurements -----------------------------------------------------------------

# How busy the machine is without us, in percent, over one second: other work skews
# every figure on 2 cores, so the report says so.
busy_pct() {
    local u0 n0 s0 i0 w0 q0 sq0 st0 u1 n1 s1 i1 w1 q1 sq1 st1 total idle
    read -r _ u0 n0 s0 i0 w0 q0 sq0 st0 _ </proc/stat
    sleep 1
    read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
    total=$(((u1 + n1 + s1 + i1 + w1 + q1 + sq1 + st1) - (u0 + n0 + s0 + i0 + w0 + q0 + sq0 + st0)))
    idle=$(((i1 + w1) - (i0 + w0)))
    echo $((total > 0 ? 100 * (total - idle) / total : 0))
}
BUSY=$(busy_pct)
if [ "$BUSY" -gt 10 ]; then
    log "warning: the CPUs are ${BUSY}% busy before the run; other work skews the figures"
fi

# Rounds: within each round every contender takes its turn at each connection count,
# starting from a different contender each round, so a slow spell of the machine
# lands on all of them rather than on whichever ran then. Each figure below is the
# median over the rounds; each ratio is taken within a round, then its median kept.
declare -A RPS P50 P99 ERR CPU PEAK
LIMIT=$(awk -v d="$SECONDS_EACH" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 30 }')
measure() {
    local name=$1 c=$2 round=$3 key=$1/$2/$3 procs=${PROCS[$1]} json total cpu0 cpu1
    # shellcheck disable=SC2206
    local target=(${TARGET[$name]})
    if [ -n "$procs" ]; then
        # shellcheck disable=SC2086
        cpu0=$(cpu_ticks $procs)
        echo 0 >"$T/peak"
        # shellcheck disable=SC2086
        sample_rss "$T/peak" $procs &
        SAMPLER=$!
    fi
    log "round $round: $name at $c connection(s): ${WARMUP}s warm-up + ${SECONDS_EACH}s"
    json=$(timeout "$LIMIT" "$LOADGEN" "${target[@]}" -c "$c" \
        -d "$SECONDS_EACH" --warmup "$WARMUP" || echo '{}')
    log "  $json"
    RPS[$key]=$(json_get "$json" rps)
    P50[$key]=$(json_get "$json" p50_us)
    P99[$key]=$(json_get "$json" p99_us)
    ERR[$key]=$(($(json_get "$json" errors) + $(json_get "$json" non2xx)))
    if [ -n "$procs" ]; then
        # shellcheck disable=SC2086
        cpu1=$(cpu_ticks $procs)
        kill "$SAMPLER" 2>/dev/null || true
        wait "$SAMPLER" 2>/dev/null || true
        SAMPLER=
        PEAK[$key]=$(<"$T/peak")
        total=$(($(json_get "$json" requests) + $(json_get "$json" warmup_requests)))
        CPU[$key]=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$total" \
            'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }')
    fi
}

N_ORDER=${#ORDER[@]}
for ((round = 1; round <= ROUNDS; round++)); do
    for c in $CONNS; do
        for ((i = 0; i < N_ORDER; i++)); do
            measure "${ORDER[(i + round - 1) % N_ORDER]}" "$c" "$round"
        done
    done
done

# ---- report -----------------------------------------------------------------------

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

# The median of the numbers given (the mean of the middle two for an even count).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2];
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The values of array $1 for contender $2 at $3 connections, one per round.
per_round() {
    local -n arr=$1
    local r
    for ((r = 1; r <= ROUNDS; r++)); do
        echo "${arr[$2/$3/$r]:-0}"
    done
}

# Median over the rounds of array $1 for contender $2 at $3 connections.
med() {
    # shellcheck disable=SC2046
    median $(per_round "$@")
}

maxof() {
    printf '%s\n' "$@" | sort -g | tail -n 1
}

# "median (lowest–highest)" of the round-by-round ratios of req/s, $1 over $2 at $3.
ratio_rounds() {
    local r vals=()
    for ((r = 1; r <= ROUNDS; r++)); do
        vals+=("$(ratio "${RPS[$1/$3/$r]:-0}" "${RPS[$2/$3/$r]:-0}")")
    done
    printf '%s (rounds: %s)' "$(median "${vals[@]}")" "${vals[*]}"
}

report() {
    local name c errs r diffs
    echo "## GET /ping: direct vs byte relay vs nginx vs Node vs dext"
    echo
    echo "$(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))," \
        "$ROUNDS rounds of ${WARMUP}s warm-up + ${SECONDS_EACH}s per row," \
        "CPUs ${BUSY}% busy just before the run, $(date -u +%Y-%m-%dT%H:%MZ)."
    echo
    echo "| contender | conns | req/s | p50 µs | p99 µs | errors | CPU µs/req | idle RSS MiB | peak RSS MiB |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for name in "${ORDER[@]}"; do
        for c in $CONNS; do
            # shellcheck disable=SC2046
            errs=$(($(per_round ERR "$name" "$c" | paste -sd+)))
            if [ -n "${PROCS[$name]}" ]; then
                # shellcheck disable=SC2046
                printf '| %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n' "$name" "$c" \
                    "$(med RPS "$name" "$c")" "$(med P50 "$name" "$c")" \
                    "$(med P99 "$name" "$c")" "$errs" "$(med CPU "$name" "$c")" \
                    "$(mib "${IDLE[$name]}")" "$(mib "$(maxof $(per_round PEAK "$name" "$c"))")"
            else
                printf '| %s | %s | %.0f | %s | %s | %s | - | - | - |\n' "$name" "$c" \
                    "$(med RPS "$name" "$c")" "$(med P50 "$name" "$c")" \
                    "$(med P99 "$name" "$c")" "$errs"
            fi
        done
    done
    echo
    echo "Each figure is the median over the rounds (errors: the sum). CPU is utime+stime" \
        "of the proxy process(es) (nginx: master + worker) per request, warm-up included;" \
        "peak RSS is the largest summed VmRSS sampled every 50 ms under load, over all rounds."
    for name in relay nginx node dext; do
        if [ -n "${NOTE[$name]:-}" ]; then
            echo
            echo "$name: skipped (${NOTE[$name]})"
        fi
    done
    echo
    echo "### Ratios"
    echo
    if [ -z "${PROCS[dext]:-}" ]; then
        echo "n/a: dext was not measured."
        return
    fi
    echo "Taken within each round; the median first, then each round's."
    echo
    for c in $CONNS; do
        if [ -n "${PROCS[nginx]:-}" ]; then
            echo "- dext/nginx req/s at $c conn: $(ratio_rounds dext nginx "$c")"
        fi
        if [ -n "${PROCS[node]:-}" ]; then
            echo "- dext/node req/s at $c conn: $(ratio_rounds dext node "$c")"
        fi
        if [ -n "${PROCS[relay]:-}" ]; then
            echo "- dext/byte relay req/s at $c conn: $(ratio_rounds dext relay "$c")"
            echo "- byte relay/nginx req/s at $c conn: $(ratio_rounds relay nginx "$c")"
        fi
    done
    for c in $CONNS; do
        if [ "$c" = 1 ]; then
            diffs=()
            for ((r = 1; r <= ROUNDS; r++)); do
                diffs+=($((${P50[dext/1/$r]%.*} - ${P50[direct/1/$r]%.*})))
            done
            echo "- dext p50 − direct p50 at 1 conn: $(median "${diffs[@]}") µs" \
                "(rounds: ${diffs[*]})"
        fi
    done
}

mkdir -p "$OUT_DIR"
report | tee "$OUT_DIR/results.md"
