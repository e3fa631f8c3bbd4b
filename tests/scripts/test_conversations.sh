#!/usr/bin/env bash
# test_conversations.sh - the conversation scenarios of tests/conversations (issue 4's scripted
# conversations, in `parley test`'s format since issue 12) run through `parley test` itself:
#   1. in-process with the offline model and --trials 3: the model is deterministic, so pass^3 must
#      equal pass^1 and every scenario must pass all three trials;
#   2. with --record, then from that recording with --replay (no model call may miss it);
#   3. once more over HTTP (--url) against a `parley serve` child with an operator token, so the
#      HTTP layer (status codes, error bodies, GET /sessions and GET /tickets) is covered as well.
# Each scenario counts once per run; the closing line is "# N passed, M failed" (tests/run.sh).
set -u
. "$(dirname "$0")/lib.sh" # src, bin, work_dir
min_scenarios=50
passed=0 failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }

work_dir conversations
export PARLEY_KB_DIR="$src/kb" PARLEY_STATEMACHINE="$src/statemachine/agent.asl.json"

# Adds the scenario counts of one `parley test` output ("N passed, M failed") to the totals.
tally() {
    local name=$1 log=$2 rc=$3 line p f
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        not_ok "$name: no closing line (exit $rc)"
        tail -n 40 "$log" | sed 's/^/#   /'
        return
    fi
    p=${line%% passed*}
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
    passed=$((passed + p)); failed=$((failed + f))
    echo "# $name: $line (exit $rc)"
    grep -E '^FAIL ' "$log" | sed 's/^/not ok - /'
    sed -n '/^Failures:/,$p' "$log" | head -n 80 | sed 's/^/#   /'
    if [ "$p" -lt "$min_scenarios" ]; then not_ok "$name: at least $min_scenarios scenarios (ran $p passing)"; fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then not_ok "$name: exit status $rc with no failing scenario"; fi
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$log"; then
        not_ok "$name: sanitizer report"
        grep -E -A12 'AddressSanitizer|LeakSanitizer|runtime error:' "$log" | head -n 40 | sed 's/^/#   /'
    fi
}

# 1. in-process, three trials each
(cd "$src" && "$bin" test tests/conversations --trials 3 --json "$tmp/result.json") >"$tmp/inproc.log" 2>&1
rc=$?
tally "in-process --trials 3" "$tmp/inproc.log" "$rc"
if grep -qE '^pass\^1 = 1\.000 .*pass\^3 = 1\.000 ' "$tmp/inproc.log"; then
    ok "in-process: pass^3 equals pass^1 (the offline model is deterministic)"
else
    not_ok "in-process: pass^3 equals pass^1: $(grep -E '^pass\^1' "$tmp/inproc.log")"
fi

# 2. record the model traffic of the whole suite, then replay it: every turn is answered from the
#    recording (a miss would fail its turn), so the replayed run passes exactly like the live one
(cd "$src" && "$bin" test tests/conversations --record "$tmp/recording") >"$tmp/record.log" 2>&1
rc=$?
tally "--record" "$tmp/record.log" "$rc"
(cd "$src" && "$bin" test tests/conversations --replay "$tmp/recording") >"$tmp/replay.log" 2>&1
rc=$?
tally "--replay" "$tmp/replay.log" "$rc"
if grep -q 'model replay miss' "$tmp/replay.log"; then not_ok "--replay: a replay miss"; fi

# 3. over HTTP against parley serve
token="conversations-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$tmp/data"
# the scenarios send turns faster than a customer would: no rate limits on this server
PARLEY_RATE_LIMIT_PER_MIN=0 PARLEY_SESSION_RATE_LIMIT_PER_MIN=0 \
PARLEY_OPERATOR_TOKEN="$token" "$bin" serve --port 0 --bind 127.0.0.1 --data "$tmp/data" \
    >"$tmp/server.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 1 200); do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$tmp/server.log" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
done
if [ -z "$port" ]; then
    not_ok "parley serve did not report its port"
    tail -n 20 "$tmp/server.log" | sed 's/^/#   /'
else
    (cd "$src" && PARLEY_OPERATOR_TOKEN="$token" "$bin" test tests/conversations \
        --url "http://127.0.0.1:$port" --jobs 2) >"$tmp/http.log" 2>&1
    rc=$?
    tally "over HTTP (--url)" "$tmp/http.log" "$rc"
    kill -TERM "$server_pid"
    wait "$server_pid"
    code=$?
    server_pid=""
    if [ "$code" -eq 0 ]; then ok "server: exits 0 on SIGTERM"; else not_ok "server: exit status $code"; fi
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$tmp/server.log"; then
        not_ok "server: sanitizer report"
    fi
fi
echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
