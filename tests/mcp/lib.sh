# tests/mcp/lib.sh - shared by tests/scripts/test_mcp_*.sh: the TAP-ish counters and installing
# the npm packages of tests/mcp (the reference server, the conformance suite, Node 22) with
# `npm ci` from the committed lock file.
mcp_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mcp_src=${PARLEY_SRC:-$(cd "$mcp_dir/../.." && pwd)}
mcp_bin=${PARLEY_BIN:-$mcp_src/build/san/parley}
mcp_passed=0
mcp_failed=0

mcp_ok() { echo "ok - $1"; mcp_passed=$((mcp_passed + 1)); }
mcp_not_ok() { echo "not ok - $1"; mcp_failed=$((mcp_failed + 1)); }
mcp_check() { # mcp_check NAME COMMAND... : ok when the command succeeds
    local name=$1; shift
    if "$@"; then mcp_ok "$name"; else mcp_not_ok "$name"; fi
}
mcp_summary() {
    echo "# $mcp_passed passed, $mcp_failed failed"
    [ "$mcp_failed" -eq 0 ]
}
mcp_bail() {
    mcp_not_ok "$1"
    mcp_summary
    exit 1
}

# Installs tests/mcp/node_modules unless it is already newer than the lock file.
mcp_npm_ready() {
    command -v npm >/dev/null 2>&1 || mcp_bail "npm is needed (scripts/install-test-deps.sh)"
    [ -x "$mcp_bin" ] || mcp_bail "no parley binary at $mcp_bin"
    if [ -x "$mcp_dir/node_modules/.bin/node" ] &&
        [ "$mcp_dir/node_modules/.package-lock.json" -nt "$mcp_dir/package-lock.json" ]; then
        return 0
    fi
    local log="${TMPDIR:-/tmp}/parley-mcp-npm-ci.$$.log"
    if ! (cd "$mcp_dir" && npm ci --no-audit --no-fund >"$log" 2>&1); then
        tail -n 20 "$log"
        mcp_bail "npm ci failed in tests/mcp"
    fi
    rm -f "$log"
}
