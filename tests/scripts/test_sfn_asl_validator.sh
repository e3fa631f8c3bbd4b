#!/usr/bin/env bash
# test_sfn_asl_validator.sh - every conformance definition that AWS accepts must also pass the
# asl-validator npm package. Installs it with `npm ci` into tests/sfn/npm (lock file committed).
# These runs exercise no Parley code, so they are reported as `# peer: N validated` (tests/run.sh
# sums them apart from Parley's checks); a rejected definition still fails the suite.
set -u
here=$(cd "$(dirname "$0")/../sfn/npm" && pwd)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "not ok - node and npm are needed for asl-validator (apt-get install nodejs npm)"
    echo "# 0 passed, 1 failed"
    exit 1
fi
cd "$here" || exit 1
if ! npm ci --no-audit --no-fund >"${TMPDIR:-/tmp}/parley-sfn-npm-ci.log" 2>&1; then
    tail -n 20 "${TMPDIR:-/tmp}/parley-sfn-npm-ci.log"
    echo "not ok - npm ci failed in tests/sfn/npm"
    echo "# 0 passed, 1 failed"
    exit 1
fi
out=$(node check.js)
rc=$?
echo "$out" | grep -v '^# [0-9]* passed'
summary=$(echo "$out" | grep '^# [0-9]* passed' | tail -n 1)
p=$(echo "$summary" | sed -nE 's/^# ([0-9]+) passed, ([0-9]+) failed.*/\1/p')
f=$(echo "$summary" | sed -nE 's/^# ([0-9]+) passed, ([0-9]+) failed.*/\2/p')
if [ -z "$p" ]; then p=0; f=1; echo "not ok - check.js printed no summary"; fi
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
echo "# peer: $p validated"
echo "# 0 passed, $f failed"
[ "$f" -eq 0 ]
