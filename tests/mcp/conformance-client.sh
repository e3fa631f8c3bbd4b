#!/usr/bin/env bash
# conformance-client.sh - the adapter the official MCP client conformance suite runs
# (`conformance client --command tests/mcp/conformance-client.sh --scenario NAME`): it maps the
# scenario named in MCP_CONFORMANCE_SCENARIO to `parley mcp ...` against the server URL the suite
# appends as the last argument. PARLEY_BIN names the binary (default build/san/parley).
set -u
url=${!#}
here=$(cd "$(dirname "$0")" && pwd)
bin=${PARLEY_BIN:-$here/../../build/san/parley}
case "${MCP_CONFORMANCE_SCENARIO:-}" in
    initialize) exec "$bin" mcp tools --timeout 20000 "$url" ;;
    tools_call) exec "$bin" mcp call --timeout 20000 "$url" add_numbers '{"a":5,"b":3}' ;;
    sse-retry) exec "$bin" mcp call --timeout 20000 "$url" test_reconnection '{}' ;;
    *)
        echo "conformance-client.sh: no mapping for scenario '${MCP_CONFORMANCE_SCENARIO:-}'" >&2
        exit 2
        ;;
esac
