#!/usr/bin/env bash
# bench/compare.sh BUILD_A BUILD_B - chat turns/s of two builds of `parley` (each a directory
# holding parley and bench/loadgen, e.g. a release build of main and one of a branch), measured
# in one run: both servers start with fresh data directories and the same settings, then the
# conversation alternates between them over ROUNDS rounds, and the medians are compared, so that
# a burst of load elsewhere on the machine does not decide the figure. Beside turns/s it reports
# the servers' CPU time (user + system, from /proc) per turn, which other load on a shared
# machine disturbs far less than throughput.
# Settings: BENCH_CLIENTS (default 8), BENCH_SECONDS (default 5 a round), BENCH_ROUNDS (default 5),
# BENCH_MODE (a loadgen mode: chat, the default, new or cont), BENCH_ENV_A / BENCH_ENV_B (extra
# VAR=value settings for one server, e.g. the same build twice with BENCH_ENV_B="PARLEY_ARCHIVE=0
# PARLEY_EVENTS=0 PARLEY_EMF=0" to price observability).
set -eu
# Rate limits off: one client address sends every request here (as in bench/run.sh).
export PARLEY_RATE_LIMIT_PER_MIN=0 PARLEY_SESSION_RATE_LIMIT_PER_MIN=0
a=${1:?usage: bench/compare.sh BUILD_A BUILD_B}
b=${2:?usage: bench/compare.sh BUILD_A BUILD_B}
clients=${BENCH_CLIENTS:-8}
seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-5}
mode=${BENCH_MODE:-chat}
dir_a=$(mktemp -d /tmp/parley-cmp-XXXXXX)
dir_b=$(mktemp -d /tmp/parley-cmp-XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$dir_a" "$dir_b"' EXIT

# start BUILD DIR [VAR=value...]: starts that build's server on a free port; sets $port.
start() {
    env ${3:-} "$1/parley" serve --port 0 --data "$2" 2>"$2/server.log" &
    pids+=($!)
    port=
    for _ in $(seq 200); do
        port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$2/server.log" 2>/dev/null | grep -o '[0-9]*$' || true)
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    echo "compare: server of '$1' did not start" >&2
    cat "$2/server.log" >&2
    exit 1
}

start "$a" "$dir_a" "${BENCH_ENV_A:-}"
url_a="http://127.0.0.1:$port"
pid_a=${pids[-1]}
start "$b" "$dir_b" "${BENCH_ENV_B:-}"
url_b="http://127.0.0.1:$port"
pid_b=${pids[-1]}

rate() { echo "$1" | awk '{print $2}'; }
# cpu PID: the process's user + system time so far, in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# round BUILD URL PID: one round; prints "turns/s cpu_ms_per_turn".
round() {
    local c0 line c1
    c0=$(cpu "$3")
    line=$("$1/bench/loadgen" "$mode" "$2" "$clients" "$seconds")
    c1=$(cpu "$3")
    echo "$line" | awk -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" '{
        printf "%s %.3f\n", $2, ($5 > 0 ? d * 1000 / hz / $5 : 0) }'
}
ra=() rb=() ca=() cb=()
for _ in $(seq "$rounds"); do
    r=$(round "$a" "$url_a" "$pid_a"); ra+=("${r% *}"); ca+=("${r#* }")
    r=$(round "$b" "$url_b" "$pid_b"); rb+=("${r% *}"); cb+=("${r#* }")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
m_a=$(median "${ra[@]}")
m_b=$(median "${rb[@]}")
echo "$a (turns/s per round): ${ra[*]}   (server CPU ms per turn): ${ca[*]}"
echo "$b (turns/s per round): ${rb[*]}   (server CPU ms per turn): ${cb[*]}"
awk -v x="$m_a" -v y="$m_b" -v na="$a" -v nb="$b" 'BEGIN {
    printf "turns/s medians: %s %.1f, %s %.1f, change %+.1f%%\n", na, x, nb, y, (y - x) * 100 / x }'
c_a=$(median "${ca[@]}")
c_b=$(median "${cb[@]}")
awk -v x="$c_a" -v y="$c_b" -v na="$a" -v nb="$b" 'BEGIN {
    printf "server CPU ms per turn, medians: %s %.3f, %s %.3f, change %+.1f%%\n", na, x, nb, y, (y - x) * 100 / x }'
