#!/usr/bin/env bash
# scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...] - runs each libFuzzer target built by `make fuzz`
# (BUILD_DIR/fuzz/fuzz_<target>) for SECONDS seconds, starting from the seed corpus in
# fuzz/corpus/<target>/ plus what earlier runs found (BUILD_DIR/fuzz/corpus/<target>/, not in the
# repository). Prints one line per target with its executions and exits 1 when any target reports
# a finding (crash, leak, UB, timeout > 10 s, out of memory); the input is saved as
# BUILD_DIR/fuzz/findings/<target>-*. Set FUZZ_NICE=19 to run at low priority.
set -u
build=${1:?usage: scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]}
secs=${2:?usage: scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/*.c; do
        t=$(basename "$f" .c)
        [ "$t" = replay ] || targets+=("$t")
    done
fi
mkdir -p "$build/fuzz/findings" "$build/fuzz/logs"
bad=0 total=0
for t in "${targets[@]}"; do
    bin="$build/fuzz/fuzz_$t"
    work="$build/fuzz/corpus/$t"
    log="$build/fuzz/logs/$t.log"
    mkdir -p "$work"
    if [ ! -x "$bin" ] || [ ! -d "fuzz/corpus/$t" ]; then
        echo "FAIL $t: no binary $bin or no seed corpus fuzz/corpus/$t"
        bad=1
        continue
    fi
    nice -n "${FUZZ_NICE:-0}" "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/fuzz/findings/$t-" "$work" "fuzz/corpus/$t" \
        >"$log" 2>&1
    rc=$?
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    execs=${execs:-0}
    total=$((total + execs))
    if [ $rc -ne 0 ]; then
        echo "FAIL $t: exit $rc after $execs executions; log $log, input in $build/fuzz/findings/"
        grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -n 5
        bad=1
    else
        echo "ok   $t: $execs executions in ${secs}s, 0 findings"
    fi
done
echo "fuzz: $total executions over ${#targets[@]} targets"
exit $bad
