# tests/scripts/lib.sh - sourced by the shell tests in tests/scripts: where the sources and the
# binary are (PARLEY_SRC, PARLEY_BIN as tests/run.sh sets them), and the harness's checks.
# `check NAME COMMAND...` runs COMMAND and prints "ok - NAME" or "not ok - NAME"; `check_summary`
# prints "# N passed, M failed" and returns non-zero when a check failed. `work_dir NAME` makes the
# script's scratch directory $tmp and, on exit, stops the server whose pid is in $server_pid (if
# any is still running) and removes $tmp. Not a test itself (tests/run.sh runs test_*.sh only).
src=${PARLEY_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
bin=${PARLEY_BIN:-$src/build/san/parley}
pass=0 fail=0
check() { # check NAME COMMAND...
    local name=$1; shift
    if "$@"; then echo "ok - $name"; pass=$((pass + 1)); else echo "not ok - $name"; fail=$((fail + 1)); fi
}
check_summary() {
    echo "# $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
work_dir() { # work_dir NAME: $tmp, $server_pid and the EXIT trap that cleans both up
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/parley-$1.XXXXXX")
    server_pid=""
    trap work_dir_cleanup EXIT
}
work_dir_cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
