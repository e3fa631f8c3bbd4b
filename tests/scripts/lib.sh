# tests/scripts/lib.sh - sourced by the shell tests in tests/scripts: where the sources and the
# binary are (PARLEY_SRC, PARLEY_BIN as tests/run.sh sets them), and the harness's checks.
# `check NAME COMMAND...` runs COMMAND and prints "ok - NAME" or "not ok - NAME"; `check_summary`
# prints "# N passed, M failed" and returns non-zero when a check failed. Not a test itself
# (tests/run.sh runs test_*.sh only).
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
