#!/usr/bin/env bash
# tests/run.sh BUILD_DIR - runs every test binary in BUILD_DIR/tests (unit first, then e2e) and
# every script in tests/scripts/, adds up their `# N passed, M failed` lines and closes with the total.
# Only checks of Parley's behaviour are in that total. A suite's `# peer: N validated` line (a peer
# tool such as asl-validator checking our fixtures, no Parley code involved) is summed separately
# and printed just before the total. A suite that reports no check at all fails. A binary that a
# script names in a `# drives: test_name` line needs what the script starts (emulators) and is run
# by that script only.
set -u
build=${1:-build/san}
export PARLEY_BIN="$PWD/$build/parley"
export PARLEY_SRC="$PWD"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0 failed=0 peer=0
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
    local v
    v=$(sed -nE 's/^# peer: ([0-9]+) validated.*/\1/p' "$log" | tail -n 1)
    v=${v:-0}
    if [ $((p + f + v)) -eq 0 ]; then
        echo "not ok - $name ran no checks" >>"$log"; f=1
    fi
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f)); peer=$((peer + v))
    if [ "$f" -ne 0 ] || [ $rc -ne 0 ]; then
        echo "FAIL $name ($p passed, $f failed, exit $rc, $((SECONDS - start))s) — log follows"
        grep -vE '^ok - ' "$log" | tail -n 60
    else
        echo "PASS $name ($p passed$([ "$v" -gt 0 ] && echo ", $v peer validations"), $((SECONDS - start))s)"
    fi
}
driven=" $(sed -nE 's/^# drives: *//p' tests/scripts/test_*.sh | tr '\n' ' ') "
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    # A binary left in the build directory by a test that no longer exists is not run.
    [ -f "tests/unit/$(basename "$t").c" ] || [ -f "tests/e2e/$(basename "$t").c" ] || continue
    case "$driven" in *" $(basename "$t") "*) continue ;; esac
    run_one "$(basename "$t")" "$t"
done
for s in tests/scripts/test_*.sh; do
    [ -x "$s" ] || continue
    run_one "$(basename "$s" .sh)" "$s"
done
echo "peer validations (not Parley checks, not in the total below): $peer"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
