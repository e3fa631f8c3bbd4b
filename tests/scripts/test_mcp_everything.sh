#!/usr/bin/env bash
# test_mcp_everything.sh - Parley's MCP client against the reference server
# @modelcontextprotocol/server-everything (npm, installed into tests/mcp by `npm ci`):
# `parley mcp tools|call` over stdio and Streamable HTTP, exit codes, the list_changed the server
# sends after initialize, and build/.../tests/test_mcp_everything (the C API on both transports
# and a SIGKILLed stdio server restarted on the next call). Ends with "# N passed, M failed".
# drives: test_mcp_everything
set -u
. "$(dirname "$0")/../mcp/lib.sh"
mcp_npm_ready
command -v node >/dev/null 2>&1 || mcp_bail "node is needed"
everything="$mcp_dir/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
unit="$(dirname "$mcp_bin")/tests/test_mcp_everything"
[ -x "$unit" ] || mcp_bail "$unit is not built (make tests)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/parley-mcp-every.XXXXXX")
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# ---- stdio through the command line ----
"$mcp_bin" mcp tools -- node "$everything" stdio >"$tmp/tools.json" 2>"$tmp/tools.err"
rc=$?
mcp_check "stdio: parley mcp tools exits 0" [ $rc -eq 0 ]
mcp_check "stdio: tool list has echo and get-sum with input schemas" node -e '
    const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const by = Object.fromEntries(t.map(x => [x.name, x]));
    if (!by["echo"] || !by["get-sum"]) process.exit(1);
    if (by["get-sum"].inputSchema.properties.a.type !== "number") process.exit(1);' "$tmp/tools.json"
mcp_check "stdio: the list_changed sent after initialize was received" \
    grep -q "changed its tool list" "$tmp/tools.err"
out=$("$mcp_bin" mcp call get-sum '{"a":40,"b":2}' -- node "$everything" stdio 2>/dev/null)
rc=$?
ok=0; [ $rc -eq 0 ] && echo "$out" | grep -q 'The sum of 40 and 2 is 42' && ok=1
mcp_check "stdio: parley mcp call get-sum prints the sum" [ $ok -eq 1 ]
"$mcp_bin" mcp call no-such-tool '{}' -- node "$everything" stdio >/dev/null 2>"$tmp/bad.err"
rc=$?
ok=0; [ $rc -eq 1 ] && grep -q 'no-such-tool' "$tmp/bad.err" && ok=1
mcp_check "stdio: an unknown tool exits 1 with the reason on stderr" [ $ok -eq 1 ]
"$mcp_bin" mcp call 2>/dev/null
mcp_check "usage error exits 2" [ $? -eq 2 ]
"$mcp_bin" mcp call echo '[1]' -- node "$everything" stdio >/dev/null 2>&1
mcp_check "ARGS_JSON that is not an object exits 2" [ $? -eq 2 ]
"$mcp_bin" mcp --help | grep -q 'parley mcp tools'
mcp_check "--help prints the usage" [ $? -eq 0 ]

# ---- Streamable HTTP ----
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
PORT=$port node "$everything" streamableHttp >"$tmp/http.log" 2>&1 &
server_pid=$!
up=0
for _ in $(seq 1 200); do
    grep -q "listening on port $port" "$tmp/http.log" && { up=1; break; }
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
done
[ $up -eq 1 ] || { tail -n 20 "$tmp/http.log"; mcp_bail "server-everything did not start on port $port"; }
url="http://127.0.0.1:$port/mcp"
out=$("$mcp_bin" mcp call "$url" echo '{"message":"over http"}' 2>"$tmp/http-call.err")
rc=$?
ok=0; [ $rc -eq 0 ] && echo "$out" | grep -q 'Echo: over http' && ok=1
mcp_check "http: parley mcp call echo" [ $ok -eq 1 ]
[ $rc -eq 0 ] || tail -n 5 "$tmp/http-call.err"
"$mcp_bin" mcp tools "$url" >"$tmp/http-tools.json" 2>/dev/null
mcp_check "http: parley mcp tools lists get-sum" grep -q '"get-sum"' "$tmp/http-tools.json"

# ---- the C API on both transports, and the crash ----
PARLEY_MCP_EVERYTHING="$everything" PARLEY_MCP_EVERYTHING_URL="$url" "$unit" >"$tmp/unit.log" 2>&1
rc=$?
grep -E '^(ok|not ok) - ' "$tmp/unit.log" | sed 's/^/api: /' | sed 's/^api: ok - /ok - api: /; s/^api: not ok - /not ok - api: /'
line=$(grep -E '^# [0-9]+ passed' "$tmp/unit.log" | tail -n 1)
p=$(echo "$line" | sed -E 's/^# ([0-9]+) passed, ([0-9]+) failed.*/\1/')
f=$(echo "$line" | sed -E 's/^# ([0-9]+) passed, ([0-9]+) failed.*/\2/')
mcp_passed=$((mcp_passed + ${p:-0}))
mcp_failed=$((mcp_failed + ${f:-1}))
if [ $rc -ne 0 ]; then
    grep -vE '^ok - ' "$tmp/unit.log" | tail -n 30
    [ "${f:-1}" -gt 0 ] || mcp_failed=$((mcp_failed + 1))
fi
mcp_summary
