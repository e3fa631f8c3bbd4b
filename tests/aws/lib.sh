# tests/aws/lib.sh - sourced by tests/scripts/test_aws_*.sh: installs the npm test peers of
# tests/aws (npm ci, lock committed) and starts emulators on 127.0.0.1 with random ports.
# Every started process is remembered and stopped by aws_stop_all (install it as an EXIT trap).
aws_dir="${PARLEY_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/tests/aws"
aws_pids=()

# Prints a failed result in the harness's format and exits.
aws_fail() {
    echo "not ok - $1"
    echo "# 0 passed, 1 failed"
    exit 1
}

# Makes sure node, npm and the packages of tests/aws are there.
aws_npm_ready() {
    command -v node >/dev/null && command -v npm >/dev/null ||
        aws_fail "node and npm are needed (scripts/install-test-deps.sh installs them)"
    local log="${TMPDIR:-/tmp}/parley-aws-npm-ci.$$.log"
    if [ ! -f "$aws_dir/node_modules/.package-lock.json" ] ||
        [ "$aws_dir/package-lock.json" -nt "$aws_dir/node_modules/.package-lock.json" ]; then
        (cd "$aws_dir" && npm ci --no-audit --no-fund >"$log" 2>&1) ||
            { tail -n 20 "$log"; aws_fail "npm ci failed in tests/aws"; }
    fi
    rm -f "$log"
}

# aws_start VAR node-script [args...]: starts the script, waits for its "PORT n" line and sets
# VAR to the port.
aws_start() {
    local var=$1; shift
    local out="${TMPDIR:-/tmp}/parley-aws-port.$$.$RANDOM"
    (cd "$aws_dir" && exec node "$@" >"$out" 2>"$out.err") &
    aws_pids+=($!)
    local i got=""
    for i in $(seq 1 100); do
        got=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$out" 2>/dev/null | head -n 1)
        [ -n "$got" ] && break
        sleep 0.1
    done
    if [ -z "$got" ]; then
        cat "$out.err" >&2
        rm -f "$out" "$out.err"
        aws_fail "$* did not start"
    fi
    rm -f "$out" "$out.err"
    printf -v "$var" "%s" "$got"
}

aws_stop_all() {
    local p
    for p in "${aws_pids[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    aws_pids=()
}

# The build directory of the binaries under test (PARLEY_BIN is build/san/parley under make test).
aws_build_dir() {
    if [ -n "${PARLEY_BIN:-}" ]; then dirname "$PARLEY_BIN"; else echo "${PARLEY_SRC:-.}/build/san"; fi
}
