#!/usr/bin/env bash
# bench/concurrency/run.sh BUILD_DIR - `parley serve` against nginx over a slow model stand-in.
# Starts stub.js (the Anthropic Messages API shape, answering after BENCH_LATENCY_MS, default
# 2000), nginx reverse-proxying to it (the anchor: the event-driven limit for a request that waits
# on an upstream) and a release `parley serve` using the stand-in as its model
# (ANTHROPIC_BASE_URL), then drives each with wrk (new-session POST /chat, chat.lua) at every
# connection count of BENCH_CONNS (default "1000 4000 10000"), plain (json) and SSE, nginx and
# parley back to back. Per run it prints turns/s, p50, p99, socket errors and non-2xx answers, and
# for parley (a fresh server per run) the server's RSS at idle and at its peak during the run (sampled every 0.5 s) and
# the memory per in-flight turn, (peak - idle) / connections (wrk is closed-loop: every connection
# holds one turn), its CPU time (user + system) per completed turn, then the ratios to nginx of the
# same run.
# Settings: BENCH_CONNS, BENCH_SECONDS (default 15), BENCH_LATENCY_MS, BENCH_THREADS (wrk, 2),
# BENCH_MODES (default "json sse"), BENCH_PARLEY_ENV (extra VAR=value settings for parley),
# BENCH_UPSTREAM (plain, the default, or tls: the stand-in speaks HTTPS with HTTP/2 or HTTP/1.1
# by ALPN, as a model provider does; parley then calls it over HTTP/2, nginx over HTTP/1.1).
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
conns=${BENCH_CONNS:-1000 4000 10000}
seconds=${BENCH_SECONDS:-15}
latency=${BENCH_LATENCY_MS:-2000}
wthreads=${BENCH_THREADS:-2}
modes=${BENCH_MODES:-json sse}
"$here/../../scripts/install-test-deps.sh" # wrk, nginx-light, node, python3
# shellcheck source=bench/concurrency/lib.sh
. "$here/lib.sh" # bench_init, bench_cleanup, free_port, stub_start, parley_start
bench_init parley-bconc
# Stops nginx, then everything else this script started (bench_cleanup: under set +e, so a failed
# kill cannot end it early and leave parley holding the caller's output open).
cleanup() {
    set +e
    [ -f "$dir/nginx/nginx.pid" ] && kill "$(cat "$dir/nginx/nginx.pid")" 2>/dev/null
    bench_cleanup
}
trap cleanup EXIT
# The open-file limit nginx gets from worker_rlimit_nofile (65536), for parley too: raised when
# this runs as root with the right to, else whatever the hard limit is.
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# the stand-in
stub_start "$latency"

# the anchor
nport=$(free_port)
mkdir -p "$dir/nginx"
# Over TLS each upstream connection nginx does not keep costs it a handshake: it keeps them all.
scheme=http keepalive=1024
[ -n "$stub_cert" ] && scheme=https keepalive=32768
sed -e "s|@DIR@|$dir/nginx|g" -e "s|@PORT@|$nport|g" -e "s|@UPSTREAM@|$stub|g" \
    -e "s|@SCHEME@|$scheme|g" -e "s|@KEEPALIVE@|$keepalive|g" \
    "$here/nginx.conf.in" >"$dir/nginx.conf"
nginx -c "$dir/nginx.conf" -p "$dir/nginx" -e "$dir/nginx/error.log"

# parley: a fresh server (and data directory) for every run. A turn whose client went away still
# runs to its end (it is saved), so a run that leaves thousands of turns in flight would sit in
# front of the next one.
start_parley() {
    parley_start PARLEY_MAX_CONNECTIONS_PER_IP=0 PARLEY_MAX_CONNECTIONS=20000 PARLEY_SHUTDOWN_GRACE_MS=1000
}
# Stops parley and reports what its log says beyond the usual startup lines.
stop_parley() {
    kill "$ppid" 2>/dev/null || true
    wait "$ppid" 2>/dev/null || true
    ppid=
    if grep -q "Sanitizer\|ERROR" "$dir/parley.log"; then
        echo "parley logged errors:"
        grep "Sanitizer\|ERROR" "$dir/parley.log" | head -n 5
    fi
    local n
    n=$(grep " WARN " "$dir/parley.log" | grep -vc "demo mode\|readable by others" || true)
    if [ "${n:-0}" -gt 0 ]; then
        echo "parley logged $n more warnings, the most frequent:"
        grep " WARN " "$dir/parley.log" | cut -d' ' -f3- | sed "s/'[^']*'/'…'/g" | cut -c1-140 |
            sort | uniq -c | sort -rn | head -n 3
    fi
}
start_parley
grep -h "open-file limit" "$dir/parley.log" | sed 's/^[^ ]* [^ ]* /parley: /' || true
stop_parley

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { if [ -n "$1" ]; then awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; else echo 0; fi; }
hz=$(getconf CLK_TCK)

# drive NAME PORT CONNS SSE: runs wrk, sets tps p50 p99 errs non2xx (and rss_peak for parley)
drive() {
    local name=$1 port=$2 c=$3 sse=$4 out="$dir/wrk-$1-$3-$4.txt"
    WRK_SSE=$sse wrk -t"$wthreads" -c"$c" -d"${seconds}s" --timeout 30s --latency \
        -s "$here/chat.lua" "http://127.0.0.1:$port/chat" >"$out" 2>&1 &
    local w=$!
    rss_peak=0
    local c0
    c0=$(cpu_ticks "${ppid:-}")
    if [ "$name" = parley ]; then
        while kill -0 "$w" 2>/dev/null; do
            local r
            r=$(rss_kb "$ppid")
            [ "${r:-0}" -gt "$rss_peak" ] && rss_peak=$r
            sleep 0.5
        done
    fi
    wait "$w" || true
    cpu_ms=$(awk -v t="$(($(cpu_ticks "${ppid:-}") - c0))" -v hz="$hz" -v n="$(awk '/requests in/ {print $1}' "$out")" \
        'BEGIN {printf "%.2f", (n>0 ? t*1000/hz/n : 0)}')
    tps=$(awk '/^Requests\/sec/ {print $2}' "$out")
    tps=${tps:-0}
    p50=$(awk '$1=="50%" {print $2}' "$out")
    p99=$(awk '$1=="99%" {print $2}' "$out")
    errs=$(awk '/Socket errors/ {gsub(",", ""); print $4+$6+$8+$10}' "$out")
    errs=${errs:-0}
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
    non2xx=${non2xx:-0}
}

# seconds of a wrk latency figure (1.23s, 456.78ms, 12us, 1.02m)
to_s() { echo "$1" | awk '/ms$/ {sub("ms",""); print $1/1000; next} /us$/ {sub("us",""); print $1/1e6; next} /m$/ {sub("m",""); print $1*60; next} /s$/ {sub("s",""); print $1+0; next} {print 0}'; }

fmt='%-6s %-4s %6s %9s %8s %8s %8s %7s %8s %8s %8s %8s\n'
# shellcheck disable=SC2059
printf "$fmt" server mode conns turns/s p50 p99 sockerr non2xx idleMB peakMB KB/turn cpu_ms
for c in $conns; do
    for mode in $modes; do
        sse=$([ "$mode" = sse ] && echo 1 || echo 0)
        drive nginx "$nport" "$c" "$sse"
        n_tps=$tps n_p99=$p99
        # shellcheck disable=SC2059
        printf "$fmt" nginx "$mode" "$c" "$tps" "$p50" "$p99" "$errs" "$non2xx" - - - -
        start_parley
        sleep 1
        idle=$(rss_kb "$ppid")
        drive parley "$pport" "$c" "$sse"
        per=$(awk -v a="$rss_peak" -v b="$idle" -v c="$c" 'BEGIN {printf "%.1f", (a-b)/c}')
        # shellcheck disable=SC2059
        printf "$fmt" parley "$mode" "$c" "$tps" "$p50" "$p99" "$errs" "$non2xx" \
            "$((idle / 1024))" "$((rss_peak / 1024))" "$per" "$cpu_ms"
        awk -v a="$tps" -v b="$n_tps" -v p="$(to_s "$p99")" -v q="$(to_s "$n_p99")" -v c="$c" -v m="$mode" \
            'BEGIN {printf "ratio  %-4s %6s turns/s %.2fx nginx, p99 %.2fx nginx\n", m, c, (b>0?a/b:0), (q>0?p/q:0)}'
        stop_parley
        sleep 3
    done
done
