#!/usr/bin/env bash
# test_telemetry_prometheus.sh - renders Parley's metrics (tests/telemetry/prom_dump.c) and parses
# the Prometheus text with an independent parser from npm (parse-prometheus-text-format), checking
# families, types, escaping and values. Complements the strict parser in tests/unit/test_metrics.c.
set -u
cd "${PARLEY_SRC:-$(dirname "$0")/../..}"
build=$(dirname "${PARLEY_BIN:-build/san/parley}")
dir=tests/telemetry
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "not ok - node and npm are required for the Prometheus cross-check"
    echo "# 0 passed, 1 failed"; exit 1
fi
if [ ! -d "$dir/npm/node_modules/parse-prometheus-text-format" ]; then
    (cd "$dir/npm" && npm install --no-audit --no-fund --loglevel=error >/dev/null 2>&1)
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
san=""
case "$build" in *san*) san="-fsanitize=address,undefined";; esac
if ! cc -std=c11 -D_GNU_SOURCE -Isrc $san -o "$tmp/prom_dump" "$dir/prom_dump.c" "$build/libparley.a" \
        -ljansson -lssl -lcrypto -lcurl -lmicrohttpd -lsqlite3 -lz -lpthread -lm 2>"$tmp/cc.log"; then
    cat "$tmp/cc.log"; echo "not ok - build prom_dump"; echo "# 0 passed, 1 failed"; exit 1
fi
if ! "$tmp/prom_dump" >"$tmp/metrics.txt"; then
    echo "not ok - prom_dump failed"; echo "# 0 passed, 1 failed"; exit 1
fi
NODE_PATH="$dir/npm/node_modules" node "$dir/crosscheck.js" <"$tmp/metrics.txt" >"$tmp/out.txt"
rc=$?
cat "$tmp/out.txt"
passed=$(grep -c '^ok - ' "$tmp/out.txt")
failed=$(grep -c '^not ok - ' "$tmp/out.txt")
if [ $rc -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if [ "$passed" -eq 0 ]; then failed=$((failed + 1)); fi
echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
