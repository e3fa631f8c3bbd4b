#!/usr/bin/env bash
# test_fuzz_corpus.sh - replays every fuzz target over its seed corpus (fuzz/corpus/<target>/, the
# regression inputs of fixed findings included) with the replay binaries the SAN build makes
# (BUILD/fuzz/replay_<target>): any crash, leak or UB report fails the target. Also checks that
# every target has a corpus and every corpus a target. Seconds, no libFuzzer needed.
set -u
cd "${PARLEY_SRC:-$(dirname "$0")/../..}"
build=$(dirname "${PARLEY_BIN:-build/san/parley}")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0 failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
bad() { echo "not ok - $1"; failed=$((failed + 1)); }
for src in fuzz/*.c; do
    t=$(basename "$src" .c)
    [ "$t" = replay ] && continue
    bin="$build/fuzz/replay_$t"
    if [ ! -x "$bin" ]; then bad "$t: no replay binary $bin"; continue; fi
    n=$(find "fuzz/corpus/$t" -type f 2>/dev/null | wc -l)
    if [ "$n" -eq 0 ]; then bad "$t: empty or missing seed corpus fuzz/corpus/$t"; continue; fi
    out=$(timeout 300 "$bin" "fuzz/corpus/$t" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && echo "$out" | grep -q "^replayed $n inputs$"; then
        ok "$t: $n corpus inputs replayed cleanly"
    else
        bad "$t: replay exit $rc"
        echo "$out" | tail -n 30
    fi
done
for d in fuzz/corpus/*/; do
    t=$(basename "$d")
    [ -f "fuzz/$t.c" ] && ok "corpus $t has a target" || bad "corpus $t has no fuzz/$t.c"
done
echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
