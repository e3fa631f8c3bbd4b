#!/usr/bin/env bash
# test_mcp_conformance.sh - the official MCP client conformance suite
# (@modelcontextprotocol/conformance, run on the Node 22 that tests/mcp installs) against
# `parley mcp` through tests/mcp/conformance-client.sh, for the scenarios initialize, tools_call
# and sse-retry. Ends with "# N passed, M failed".
set -u
. "$(dirname "$0")/../mcp/lib.sh"
mcp_npm_ready
node22="$mcp_dir/node_modules/.bin/node"
suite="$mcp_dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/parley-mcp-conf.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for scenario in initialize tools_call sse-retry; do
    log="$tmp/$scenario.log"
    PARLEY_BIN="$mcp_bin" timeout 180 "$node22" "$suite" client \
        --command "$mcp_dir/conformance-client.sh" --scenario "$scenario" \
        --output-dir "$tmp/results" >"$log" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && grep -q 'OVERALL: PASSED' "$log" && ! grep -q 'FAILURE' "$log"; then
        mcp_ok "conformance $scenario ($(grep -m1 -o 'Passed: [0-9]*/[0-9]*' "$log"))"
    else
        sed 's/\x1b\[[0-9;]*m//g' "$log" | tail -n 40
        mcp_not_ok "conformance $scenario (exit $rc)"
    fi
done
mcp_summary
