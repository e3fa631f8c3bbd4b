#!/usr/bin/env bash
# bench/run.sh BUILD_DIR - the load benchmark: starts a release `parley serve` on a free port with
# a fresh data directory, then measures, in one run:
#   chat_turn      turns/s and latency of the seed's sample conversation (CLIENTS concurrent)
#   http_health    a trivial HTTP 200 from the same server (the HTTP ceiling)
#   sqlite_commit  a bare SQLite commit loop (the storage ceiling)
#   new_turn       new-session turns only (TURN_CLIENTS concurrent)
#   cont_turn      continuing-session turns only (knowledge-base questions on open sessions)
#   newkb_turn     new-session turns asking cont_turn's questions (its work without the history)
# and prints the ratios (issue 13's targets: new_turn >= 0.3x sqlite_commit, cont_turn >= 0.8x
# new_turn, p99 <= 5 ms at 32 connections), and cont_turn against newkb_turn: what continuing a
# session costs beyond what is asked (new_turn's question needs no tool call). Then it measures what archiving, events and EMF lines cost: the same
# conversation against a second server with them switched off, alternating the two servers over
# ROUNDS rounds and comparing the medians, so that a burst of load elsewhere on the machine
# does not decide the figure.
# Settings: BENCH_CLIENTS (default 8), BENCH_TURN_CLIENTS (default 32), BENCH_SECONDS (default 10),
# BENCH_ROUNDS (default 3).
set -eu
build=${1:-build}
clients=${BENCH_CLIENTS:-8}
turn_clients=${BENCH_TURN_CLIENTS:-32}
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
dir=$(mktemp -d /tmp/parley-bench-XXXXXX)
dir2=$(mktemp -d /tmp/parley-bench-XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$dir" "$dir2"' EXIT

# start DIR [ENV=VALUE...]: starts a server on a free port; sets $port.
start() {
    local d=$1; shift
    # A load benchmark is one client firing many requests: rate limits off.
    env PARLEY_RATE_LIMIT_PER_MIN=0 PARLEY_SESSION_RATE_LIMIT_PER_MIN=0 "$@" \
        "$build/parley" serve --port 0 --data "$d" 2>"$d/server.log" &
    pids+=($!)
    port=
    for _ in $(seq 200); do
        port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$d/server.log" 2>/dev/null | grep -o '[0-9]*$' || true)
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    echo "bench: server did not start" >&2
    cat "$d/server.log" >&2
    exit 1
}

start "$dir"
url="http://127.0.0.1:$port"
start "$dir2" PARLEY_ARCHIVE=0 PARLEY_EVENTS=0 PARLEY_EMF=0
url_bare="http://127.0.0.1:$port"

echo "parley load benchmark: $clients clients, ${seconds}s each, $(nproc) cores"
printf '%-14s %12s %10s %10s %10s %7s\n' name ops/s p50_ms p99_ms ops errors
chat=$("$build/bench/loadgen" chat "$url" "$clients" "$seconds")
health=$("$build/bench/loadgen" health "$url" "$clients" "$seconds")
commit=$("$build/bench/loadgen" sqlite "$dir" "$seconds")
new=$("$build/bench/loadgen" new "$url" "$turn_clients" "$seconds")
cont=$("$build/bench/loadgen" cont "$url" "$turn_clients" "$seconds")
newkb=$("$build/bench/loadgen" newkb "$url" "$turn_clients" "$seconds")
for line in "$chat" "$health" "$commit" "$new" "$cont" "$newkb"; do
    # shellcheck disable=SC2086
    printf '%-14s %12s %10s %10s %10s %7s\n' $line
done
rate() { echo "$1" | awk '{print $2}'; }
awk -v c="$(rate "$chat")" -v h="$(rate "$health")" -v s="$(rate "$commit")" 'BEGIN {
    printf "chat turns/s vs trivial HTTP 200: %.3f   vs bare SQLite commits: %.3f\n", c / h, c / s }'
awk -v n="$(rate "$new")" -v k="$(rate "$cont")" -v s="$(rate "$commit")" -v c="$turn_clients" 'BEGIN {
    printf "new-session turns vs bare SQLite commits: %.3f (target >= 0.3)   continuing vs new: %.3f (target >= 0.8), %d clients\n", n / s, k / n, c }'
awk -v k="$(rate "$cont")" -v q="$(rate "$newkb")" 'BEGIN {
    printf "continuing vs new-session turns asking the same questions: %.3f\n", k / q }'

# What archive + events + EMF cost: alternate the two servers, compare the medians.
on=() off=()
half=$(( seconds / 2 > 0 ? seconds / 2 : 1 ))
for _ in $(seq "$rounds"); do
    on+=("$(rate "$("$build/bench/loadgen" chat "$url" "$clients" "$half")")")
    off+=("$(rate "$("$build/bench/loadgen" chat "$url_bare" "$clients" "$half")")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
m_on=$(median "${on[@]}")
m_off=$(median "${off[@]}")
echo "with archive+events+EMF (turns/s per round): ${on[*]}"
echo "without them            (turns/s per round): ${off[*]}"
awk -v c="$m_on" -v b="$m_off" 'BEGIN {
    printf "archive+events+EMF on: %.1f turns/s, off: %.1f turns/s (medians), cost %.1f%% of throughput\n", c, b, (b - c) * 100 / b }'
