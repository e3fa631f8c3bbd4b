#!/usr/bin/env bash
# bench/concurrency/memory.sh BUILD_DIR - where `parley serve`'s memory per in-flight turn goes.
# Starts the model stand-in (stub.js) with a long latency (BENCH_HOLD_MS, default 20000) so every
# turn stays parked on its model call, a release `parley serve` pointed at it, and wrk holding
# BENCH_CONNS (default 1000) connections of new-session POST /chat (BENCH_MODE json or sse). Once
# the turns are in flight it reads /proc/PID/smaps and prints, at idle and with the turns held,
# the resident memory of each kind of mapping, and the difference per held turn:
#   fiber stacks      anonymous read-write mappings of the fiber stack size right above a
#                     PROT_NONE guard page (base/sched.c)
#   malloc main       [heap]
#   malloc arenas     glibc's per-thread arenas (64 MiB-aligned anonymous mappings)
#   other anon        everything else anonymous (large malloc blocks, thread stacks)
#   files             the binary, libraries and other file mappings
# Settings: BENCH_CONNS, BENCH_MODE, BENCH_HOLD_MS, BENCH_SETTLE_S (seconds from wrk's start to
# the snapshot, default 8), BENCH_PARLEY_ENV (extra VAR=value settings), BENCH_STACK_KB (the fiber
# stack size to recognise, default 256).
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
conns=${BENCH_CONNS:-1000}
mode=${BENCH_MODE:-json}
hold=${BENCH_HOLD_MS:-20000}
settle=${BENCH_SETTLE_S:-8}
stack_kb=${BENCH_STACK_KB:-256}
"$here/../../scripts/install-test-deps.sh" # wrk, node, python3
# shellcheck source=bench/concurrency/lib.sh
. "$here/lib.sh"
bench_init parley-bmem
stub_start "$hold"
parley_start PARLEY_MAX_CONNECTIONS_PER_IP=0 PARLEY_MAX_CONNECTIONS=20000 PARLEY_SHUTDOWN_GRACE_MS=1000

# classify SMAPS: prints "kind kB" lines for each kind of mapping (see the top of this file)
classify() {
    awk -v skb="$stack_kb" '
        function flush() {
            if (start == "") return
            kind = "other_anon"
            if (path ~ /^\[heap\]/) kind = "malloc_main"
            else if (path ~ /^\[/) kind = "other_anon"
            else if (path != "") kind = "files"
            else if (perms ~ /^rw/ && size == skb && prev_guard_end == start) kind = "fiber_stacks"
            else if (perms ~ /^rw/ && aligned) kind = "malloc_arenas"
            rss[kind] += r
        }
        /^[0-9a-f]+-[0-9a-f]+ / {
            flush()
            split($1, a, "-")
            if (perms ~ /^---p/ && gsize == 4) prev_guard_end = gend; else prev_guard_end = "x"
            start = a[1]; perms = $2; path = $6; r = 0; size = 0
            gend = a[2]
            # 64 MiB alignment: the low 26 bits are zero (7 hex digits, the last 6 and a half)
            aligned = (substr(start, length(start) - 5) == "000000" &&
                       index("048c", substr(start, length(start) - 6, 1)) > 0)
            next
        }
        /^Size:/ { size = $2; gsize = $2 }
        /^Rss:/ { r = $2 }
        END {
            flush()
            split("fiber_stacks malloc_main malloc_arenas other_anon files", k, " ")
            for (i = 1; i <= 5; i++) printf "%s %d\n", k[i], rss[k[i]]
        }' "$1"
}

sleep 1
cp "/proc/$ppid/smaps" "$dir/idle.smaps"
WRK_SSE=$([ "$mode" = sse ] && echo 1 || echo 0) wrk -t2 -c"$conns" -d"$((settle + 5))s" \
    --timeout 60s -s "$here/chat.lua" "http://127.0.0.1:$pport/chat" >"$dir/wrk.txt" 2>&1 &
pids+=($!)
sleep "$settle"
cp "/proc/$ppid/smaps" "$dir/held.smaps"
fibers=$(awk -v skb="$stack_kb" \
    '/^[0-9a-f]+-/ {p=$2} /^Size:/ && $2 == skb && p ~ /^rw/ {n++} END {print n+0}' "$dir/held.smaps")
threads=$(awk '/^Threads/ {print $2}' "/proc/$ppid/status")
echo "parley serve, $conns connections ($mode), turns parked on a ${hold} ms model call," \
    "snapshot ${settle} s in: $fibers stack-sized mappings, $threads threads"
printf '%-14s %10s %10s %12s\n' kind idle_kB held_kB KB/turn
paste -d' ' <(classify "$dir/idle.smaps") <(classify "$dir/held.smaps") |
    awk -v c="$conns" '{printf "%-14s %10d %10d %12.1f\n", $1, $2, $4, ($4-$2)/c; ti+=$2; th+=$4}
        END {printf "%-14s %10d %10d %12.1f\n", "total", ti, th, (th-ti)/c}'
