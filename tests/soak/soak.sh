#!/usr/bin/env bash
# tests/soak/soak.sh BUILD_DIR - the disk soak of issue 15 (not part of `make test`): drives a
# release `parley serve` (everything on: workflow, queue, archive, events, EMF) at full load with
# bench/loadgen for SOAK_MINUTES (default 10) per mode, once with the WAL checkpoint thread on
# (PARLEY_CHECKPOINT_MS=1000) and once off (0: SQLite's auto-checkpoint at commit only). Every
# SOAK_STEP seconds (default 30) it prints turns so far, the data directory's size and its parts
# (database + WAL, queue + WAL, logs, archive, and the archive's file count), and at the end the
# growth per 1,000 turns and the archive's files.
# Settings: SOAK_MINUTES, SOAK_STEP, SOAK_CLIENTS (default 8), SOAK_MODES (default "on off"),
# PARLEY_LOG_MAX_MB (passed through; default 100).
set -eu
build=${1:-build}
minutes=${SOAK_MINUTES:-10}
step=${SOAK_STEP:-30}
clients=${SOAK_CLIENTS:-8}
modes=${SOAK_MODES:-on off}
pid=
dir=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; [ -n "$dir" ] && rm -rf "$dir"' EXIT

size() { du -sb "$@" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
files() { find "$@" -type f 2>/dev/null | wc -l; }

for mode in $modes; do
    ck=1000
    [ "$mode" = off ] && ck=0
    dir=$(mktemp -d /tmp/parley-soak-XXXXXX)
    PARLEY_RATE_LIMIT_PER_MIN=0 PARLEY_SESSION_RATE_LIMIT_PER_MIN=0 PARLEY_CHECKPOINT_MS=$ck \
        "$build/parley" serve --port 0 --data "$dir" 2>"$dir/server.log" &
    pid=$!
    port=
    for _ in $(seq 200); do
        port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$dir/server.log" 2>/dev/null | grep -o '[0-9]*$' || true)
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { echo "soak: server did not start" >&2; cat "$dir/server.log" >&2; exit 1; }
    start=$(size "$dir")
    echo "# checkpoints $mode (PARLEY_CHECKPOINT_MS=$ck), $clients clients, ${minutes} min"
    printf '%8s %9s %12s %12s %12s %10s %10s %9s\n' elapsed turns data_bytes db+wal queue+wal logs \
        archive arch_files
    turns=0
    elapsed=0
    end=$((minutes * 60))
    while [ "$elapsed" -lt "$end" ]; do
        out=$("$build/bench/loadgen" chat "http://127.0.0.1:$port" "$clients" "$step")
        turns=$((turns + $(echo "$out" | awk '{print $5}')))
        elapsed=$((elapsed + step))
        printf '%8s %9s %12s %12s %12s %10s %10s %9s\n' "${elapsed}s" "$turns" "$(size "$dir")" \
            "$(size "$dir"/parley.db*)" "$(size "$dir"/queue.db*)" "$(size "$dir/logs")" \
            "$(size "$dir/archive")" "$(files "$dir/archive")"
    done
    sleep 3 # idle: the checkpoint thread truncates the WAL
    idle=$(size "$dir")
    awk -v s="$start" -v e="$idle" -v t="$turns" -v m="$mode" -v w="$(size "$dir"/parley.db-wal)" \
        -v a="$(size "$dir/archive")" -v f="$(files "$dir/archive")" 'BEGIN {
        printf "checkpoints %s: %d turns, data dir %+d bytes after 3 s idle (WAL %d bytes): %.0f bytes per 1,000 turns; archive %d bytes in %d files (%.0f bytes per 1,000 turns)\n",
            m, t, e - s, w, t ? (e - s) * 1000.0 / t : 0, a, f, t ? a * 1000.0 / t : 0 }'
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    rm -rf "$dir"
    dir=
done
