#!/usr/bin/env bash
# test_sfn_asl_validator.sh - every conformance definition that AWS accepts must also pass the
# asl-validator npm package. Installs it with `npm ci` into tests/sfn/npm (lock file committed).
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
node check.js
