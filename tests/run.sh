#!/usr/bin/env bash
# tests/run.sh BUILD_DIR - runs every test binary in BUILD_DIR/tests (unit first, then e2e) and
# every script in tests/scripts/, adds up their `# N passed, M failed` lines and closes with the total.
set -u
build=${1:-build/san}
export PARLEY_BIN="$PWD/$build/parley"
export PARLEY_SRC="$PWD"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0 failed=0
logdir="$build/test-logs"; mkdir -p "$logdir"
run_one() {
    local name=$1; shift
    local log="$logdir/$name.log"
    local start=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    local line p f
    line=$(grep -E '^# [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        p=$(echo "$line" | sed -E 's/^# ([0-9]+) passed, ([0-9]+) failed.*/\1/')
        f=$(echo "$line" | sed -E 's/^# ([0-9]+) passed, ([0-9]+) failed.*/\2/')
    else
        p=0; f=1
    fi
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -ne 0 ] || [ $rc -ne 0 ]; then
        echo "FAIL $name ($p passed, $f failed, exit $rc, $((SECONDS - start))s) — log follows"
        grep -vE '^ok - ' "$log" | tail -n 60
    else
        echo "PASS $name ($p passed, $((SECONDS - start))s)"
    fi
}
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for s in tests/scripts/test_*.sh; do
    [ -x "$s" ] || continue
    run_one "$(basename "$s" .sh)" "$s"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
