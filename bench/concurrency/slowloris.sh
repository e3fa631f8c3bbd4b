#!/usr/bin/env bash
# bench/concurrency/slowloris.sh BUILD_DIR - other clients' latency while one address holds
# BENCH_SLOW (600) slow connections open (issue 13: p99 <= 2x idle).
# Starts stub.js (BENCH_LATENCY_MS, default 2000) and a release `parley serve` with its default
# connection settings (per-address cap, connection limit, request deadline), then measures with
# wrk from 127.0.0.1 - GET /health (BENCH_HEALTH_CONNS, 50) and new-session POST /chat
# (BENCH_CHAT_CONNS, 50), BENCH_SECONDS (10) each (both under the default per-address cap of 64:
# they come from one address too) - first idle, then while slow_clients.py holds
# BENCH_SLOW connections from 127.0.0.2 (re-opening every one the server closes), and prints both
# p99s and their ratio. BENCH_PARLEY_ENV adds VAR=value settings for parley.
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
slow=${BENCH_SLOW:-600}
seconds=${BENCH_SECONDS:-10}
latency=${BENCH_LATENCY_MS:-2000}
hconns=${BENCH_HEALTH_CONNS:-50}
cconns=${BENCH_CHAT_CONNS:-50}
"$here/../../scripts/install-test-deps.sh" # wrk, nginx-light, node, python3
# shellcheck source=bench/concurrency/lib.sh
. "$here/lib.sh"
bench_init parley-bslow
stub_start "$latency"
parley_start

# measure NAME PATH CONNS: wrk from 127.0.0.1; sets p99 (seconds), tps and errs
measure() {
    local out="$dir/wrk-$1.txt" script=()
    [ "$2" = /chat ] && script=(-s "$here/chat.lua")
    wrk -t2 -c"$3" -d"${seconds}s" --timeout 30s --latency "${script[@]}" \
        "http://127.0.0.1:$pport$2" >"$out" 2>&1 || true
    p99=$(awk '$1=="99%" {v=$2; if (v ~ /ms$/) {sub("ms","",v); v/=1000} else if (v ~ /us$/) {sub("us","",v); v/=1e6} else {sub("s","",v)}; print v+0}' "$out")
    p99=${p99:-0}
    tps=$(awk '/^Requests\/sec/ {print $2}' "$out")
    errs=$(awk '/Socket errors/ {gsub(",", ""); print $4+$6+$8+$10}' "$out")
    errs=${errs:-0}
}

printf '%-7s %-7s %9s %10s %8s\n' path phase req/s p99_ms sockerr
for path in /health /chat; do
    c=$([ "$path" = /chat ] && echo "$cconns" || echo "$hconns")
    measure "idle$(basename $path)" "$path" "$c"
    i_p99=$p99
    printf '%-7s %-7s %9s %10.1f %8s\n' "$path" idle "$tps" "$(awk -v v="$p99" 'BEGIN {print v*1000}')" "$errs"
    python3 "$here/slow_clients.py" 127.0.0.1 "$pport" "$slow" $((seconds + 8)) >"$dir/slow.log" 2>&1 &
    sp=$!
    sleep 4 # let them connect and start their requests
    measure "slow$(basename $path)" "$path" "$c"
    held=$(awk '/^open/ {v=$2} END {print v+0}' "$dir/slow.log")
    wait "$sp" || true
    printf '%-7s %-7s %9s %10.1f %8s   (%s slow connections open at the end: %s)\n' "$path" slow "$tps" \
        "$(awk -v v="$p99" 'BEGIN {print v*1000}')" "$errs" "$held" "$(tail -n 1 "$dir/slow.log")"
    awk -v a="$p99" -v b="$i_p99" -v p="$path" 'BEGIN {printf "ratio   %-7s p99 with slow clients %.2fx idle\n", p, (b>0?a/b:0)}'
    sleep 2
done
