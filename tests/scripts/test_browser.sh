#!/usr/bin/env bash
# test_browser.sh - the chat page and the operator console in real headless Chromium: starts
# `$PARLEY_BIN serve` on a free port with an operator token and a fresh data directory, installs
# playwright-core with `npm ci` (lock file committed) and runs tests/browser/run.mjs against it.
# Screenshots of each step go to build/browser-artifacts/. Ends with "# N passed, M failed".
# A second server runs with PARLEY_USER_JWT_SECRET (verified customers) for the widget's
# data-user-token and Parley.identify() tests.
#   PARLEY_BROWSER_ONLY=chat,handoff   run only these test files
set -u
src=${PARLEY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${PARLEY_BIN:-$src/build/san/parley}
here="$src/tests/browser"
artifacts="$src/build/browser-artifacts"

fail() {
    echo "not ok - $1"
    echo "# 0 passed, 1 failed"
    exit 1
}

for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is needed (scripts/install-test-deps.sh installs it)"
done
chromium_bin=${PARLEY_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium_bin" ] || fail "$chromium_bin is needed (scripts/install-test-deps.sh installs Debian's chromium)"
[ -x "$bin" ] || fail "no parley binary at $bin"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/parley-browser.XXXXXX")
server_pid=""
jwt_pid=""
cleanup() {
    for pid in "$server_pid" "$jwt_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        fi
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

(cd "$here" && npm ci --no-audit --no-fund >"$tmp/npm-ci.log" 2>&1) || {
    tail -n 20 "$tmp/npm-ci.log"
    fail "npm ci failed in tests/browser"
}

# The widget test serves a host page on this port: as http://127.0.0.1:PORT it is an allowed origin,
# as http://localhost:PORT it is not.
widget_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token="browser-test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$tmp/data"
PARLEY_RATE_LIMIT_PER_MIN=0 PARLEY_SESSION_RATE_LIMIT_PER_MIN=0 \
PARLEY_ALLOWED_ORIGINS="http://127.0.0.1:$widget_port" \
PARLEY_OPERATOR_TOKEN="$token" PARLEY_LOG_LEVEL=info "$bin" serve --port 0 --bind 127.0.0.1 \
    --data "$tmp/data" >"$tmp/server.log" 2>&1 &
server_pid=$!

# The verified-customer server: identity only from Authorization: Bearer <HS256 JWT>.
jwt_secret="browser-jwt-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$tmp/jwt-data"
PARLEY_RATE_LIMIT_PER_MIN=0 PARLEY_SESSION_RATE_LIMIT_PER_MIN=0 PARLEY_USER_JWT_SECRET="$jwt_secret" \
PARLEY_ALLOWED_ORIGINS="http://127.0.0.1:$widget_port" \
PARLEY_OPERATOR_TOKEN="$token" PARLEY_LOG_LEVEL=info "$bin" serve --port 0 --bind 127.0.0.1 \
    --data "$tmp/jwt-data" >"$tmp/jwt-server.log" 2>&1 &
jwt_pid=$!

# Prints the port a server reported in its log, or nothing when it did not start.
server_port() {
    local log=$1 pid=$2 p=""
    for _ in $(seq 1 100); do
        p=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)
        [ -n "$p" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "$p"
}
port=$(server_port "$tmp/server.log" "$server_pid")
if [ -z "$port" ]; then
    tail -n 30 "$tmp/server.log"
    fail "parley serve did not report its port"
fi
url="http://127.0.0.1:$port"
jwt_port=$(server_port "$tmp/jwt-server.log" "$jwt_pid")
if [ -z "$jwt_port" ]; then
    tail -n 30 "$tmp/jwt-server.log"
    fail "parley serve (PARLEY_USER_JWT_SECRET) did not report its port"
fi

rm -rf "$artifacts"
mkdir -p "$artifacts"
(cd "$here" && PARLEY_URL="$url" PARLEY_OPERATOR_TOKEN="$token" PARLEY_ARTIFACTS="$artifacts" \
    PARLEY_WIDGET_PORT="$widget_port" PARLEY_JWT_URL="http://127.0.0.1:$jwt_port" \
    PARLEY_JWT_SECRET="$jwt_secret" \
    PARLEY_CHROMIUM="$chromium_bin" node run.mjs) | tee "$tmp/results.txt"
rc=${PIPESTATUS[0]}

# Each server must survive the suite and stop cleanly (sanitizer reports fail the run).
extra_pass=0 extra_fail=0
# check_server NAME PID LOG: stops the server with SIGTERM and counts its exit and its log.
check_server() {
    local name=$1 pid=$2 log=$3 code
    if kill -0 "$pid" 2>/dev/null; then
        echo "# precondition holds: the $name is still running after the suite"
        kill -TERM "$pid"
        wait "$pid"
        code=$?
        if [ "$code" -eq 0 ]; then
            echo "ok - $name: exits 0 on SIGTERM"; extra_pass=$((extra_pass + 1))
        else
            echo "not ok - $name: exit status $code on SIGTERM"; extra_fail=$((extra_fail + 1))
        fi
    else
        echo "not ok - $name: died during the suite"; extra_fail=$((extra_fail + 1))
    fi
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$log"; then
        echo "not ok - $name: sanitizer report in its log"
        grep -E -A12 'AddressSanitizer|LeakSanitizer|runtime error:' "$log" | head -n 40 | sed 's/^/#   /'
        extra_fail=$((extra_fail + 1))
    else
        echo "ok - $name: no sanitizer report"; extra_pass=$((extra_pass + 1))
    fi
    cp "$log" "$artifacts/" 2>/dev/null
}
check_server server "$server_pid" "$tmp/server.log"
server_pid=""
check_server "jwt server" "$jwt_pid" "$tmp/jwt-server.log"
jwt_pid=""

line=$(grep -E '^# [0-9]+ passed, [0-9]+ failed' "$tmp/results.txt" | tail -n 1)
p=$(echo "$line" | sed -E 's/^# ([0-9]+) passed.*/\1/')
f=$(echo "$line" | sed -E 's/^# [0-9]+ passed, ([0-9]+) failed.*/\1/')
[ -n "$p" ] || p=0
[ -n "$f" ] || f=1
p=$((p + extra_pass)); f=$((f + extra_fail))
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
echo "# screenshots in ${artifacts#"$src"/}/"
echo "# $p passed, $f failed"
[ "$f" -eq 0 ]
