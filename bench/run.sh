#!/usr/bin/env bash
# bench/run.sh BUILD_DIR - the load benchmark: starts a release `parley serve` on a free port with
# a fresh data directory, then measures, in one run:
#   chat_turn      turns/s and latency of the seed's sample conversation (CLIENTS concurrent)
#   http_health    a trivial HTTP 200 from the same server (the HTTP ceiling)
#   sqlite_commit  a bare SQLite commit loop (the storage ceiling)
# and prints the ratios; then the same conversation again on a second server with archiving,
# events and EMF lines switched off, to show what they cost.
# Settings: BENCH_CLIENTS (default 8), BENCH_SECONDS (default 10).
set -eu
build=${1:-build}
clients=${BENCH_CLIENTS:-8}
seconds=${BENCH_SECONDS:-10}
dir=$(mktemp -d /tmp/parley-bench-XXXXXX)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
"$build/parley" serve --port 0 --data "$dir" 2>"$dir/server.log" &
pid=$!
port=
for _ in $(seq 200); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$dir/server.log" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { echo "bench: server did not start" >&2; cat "$dir/server.log" >&2; exit 1; }
url="http://127.0.0.1:$port"
echo "parley load benchmark: $clients clients, ${seconds}s each, $(nproc) cores"
printf '%-14s %12s %10s %10s %10s %7s\n' name ops/s p50_ms p99_ms ops errors
chat=$("$build/bench/loadgen" chat "$url" "$clients" "$seconds")
health=$("$build/bench/loadgen" health "$url" "$clients" "$seconds")
commit=$("$build/bench/loadgen" sqlite "$dir" "$seconds")
for line in "$chat" "$health" "$commit"; do
    # shellcheck disable=SC2086
    printf '%-14s %12s %10s %10s %10s %7s\n' $line
done
rate() { echo "$1" | awk '{print $2}'; }
awk -v c="$(rate "$chat")" -v h="$(rate "$health")" -v s="$(rate "$commit")" 'BEGIN {
    printf "chat turns/s vs trivial HTTP 200: %.3f   vs bare SQLite commits: %.3f\n", c / h, c / s }'

# The same turns without archive, events and EMF: their cost is the difference.
kill $pid; wait $pid 2>/dev/null || true
dir2=$(mktemp -d /tmp/parley-bench-XXXXXX)
PARLEY_ARCHIVE=0 PARLEY_EVENTS=0 PARLEY_EMF=0 "$build/parley" serve --port 0 --data "$dir2" 2>"$dir2/server.log" &
pid=$!
port=
for _ in $(seq 200); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$dir2/server.log" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.05
done
bare=$("$build/bench/loadgen" chat "http://127.0.0.1:$port" "$clients" "$seconds")
# shellcheck disable=SC2086
printf '%-14s %12s %10s %10s %10s %7s\n' $(echo "$bare" | sed 's/^chat_turn/chat_bare/')
kill $pid; wait $pid 2>/dev/null || true
rm -rf "$dir2"
awk -v c="$(rate "$chat")" -v b="$(rate "$bare")" 'BEGIN {
    printf "archive+events+EMF on: %.1f turns/s, off: %.1f turns/s, cost %.1f%% of throughput\n", c, b, (b - c) * 100 / b }'
