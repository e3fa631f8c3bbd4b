#!/usr/bin/env bash
# test_release_build.sh - the binary `make run` serves: the release build (build/parley, made by
# `make test` before the sanitizer build) with its own allocator (tcmalloc, Makefile MALLOC_LIB),
# which none of the sanitizer-built tests runs. Checks that malloc is tcmalloc's, that the
# offline-model conversation scenarios all pass in-process, and that `parley serve` answers 64
# concurrent new-session turns and 64 turns of 8 continuing sessions (every reply a 200 with the
# session's id and a reply text, every session's transcript holding its turns) and then stops on
# SIGTERM with exit status 0 and no error in its log.
set -u
. "$(dirname "$0")/lib.sh"
rel=${PARLEY_RELEASE_BIN:-$src/build/parley}
work_dir release
if [ ! -x "$rel" ]; then
    echo "not ok - no release binary at $rel (make all)"
    echo "# 0 passed, 1 failed"
    exit 1
fi
command -v curl >/dev/null && command -v jq >/dev/null ||
    { echo "not ok - curl and jq are needed"; echo "# 0 passed, 1 failed"; exit 1; }
export PARLEY_KB_DIR="$src/kb" PARLEY_STATEMACHINE="$src/statemachine/agent.asl.json"

bound_to_tcmalloc() {
    LD_DEBUG=bindings "$rel" --help 2>&1 >/dev/null |
        grep -q "to [^ ]*libtcmalloc_minimal[^ ]* .*normal symbol \`malloc'"
}
check "the release binary's malloc is tcmalloc's" bound_to_tcmalloc

(cd "$src" && "$rel" test tests/conversations --trials 1) >"$tmp/scenarios.log" 2>&1
rc=$?
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/scenarios.log" | tail -n 1)
scenarios_pass() { [ "$rc" -eq 0 ] && [ -n "$line" ] && [ "${line%% passed*}" -ge 50 ] && [ "${line##*, }" = "0 failed" ]; }
check "the conversation scenarios pass in-process ($line)" scenarios_pass
scenarios_pass || tail -n 30 "$tmp/scenarios.log" | sed 's/^/#   /'

mkdir -p "$tmp/data"
PARLEY_MODEL=offline PARLEY_RATE_LIMIT_PER_MIN=0 PARLEY_SESSION_RATE_LIMIT_PER_MIN=0 \
    "$rel" serve --port 0 --data "$tmp/data" 2>"$tmp/serve.log" &
server_pid=$!
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/serve.log")
    [ -n "$port" ] && break
    sleep 0.1 # waits for the listening line
done
check "parley serve (release) listens" test -n "$port"
url="http://127.0.0.1:${port:-1}"

# chat OUT BODY: one POST /chat; OUT gets the status line's code and the body
chat() {
    curl -s -o "$1.body" -w '%{http_code}' -H 'Content-Type: application/json' -d "$2" "$url/chat" >"$1.code"
}
good_reply() { # FILE [SESSION]: a 200 whose body has a reply and the session (when given)
    [ "$(cat "$1.code")" = 200 ] &&
        jq -e --arg s "${2:-}" '(.reply | type == "string" and length > 0) and
            (.sessionId | type == "string") and ($s == "" or .sessionId == $s)' "$1.body" >/dev/null
}

for i in $(seq 1 64); do chat "$tmp/new$i" '{"message":"Hello, where is my order 1042?"}' & done
wait_turns() { for p in $(jobs -p); do [ "$p" = "$server_pid" ] || wait "$p"; done; }
wait_turns
good=0
for i in $(seq 1 64); do good_reply "$tmp/new$i" && good=$((good + 1)); done
check "64 concurrent new-session turns answered ($good good)" test "$good" -eq 64

sessions=()
for i in $(seq 1 8); do sessions+=("$(jq -r '.sessionId // empty' "$tmp/new$i.body" 2>/dev/null)"); done
for round in 1 2 3 4 5 6 7 8; do
    for i in $(seq 1 8); do
        chat "$tmp/c$i-$round" "{\"sessionId\":\"${sessions[$((i - 1))]}\",\"message\":\"and my refund? ($round)\"}" &
    done
    wait_turns
done
good=0
for round in 1 2 3 4 5 6 7 8; do
    for i in $(seq 1 8); do good_reply "$tmp/c$i-$round" "${sessions[$((i - 1))]}" && good=$((good + 1)); done
done
check "64 continuing turns of 8 sessions answered ($good good)" test "$good" -eq 64
turns_of() { # SESSION: the user messages in its transcript
    curl -s "$url/sessions/$1" | jq '[.. | objects | select(.role? == "user")] | length'
}
full=0
for s in "${sessions[@]}"; do [ "$(turns_of "$s")" -ge 9 ] && full=$((full + 1)); done
check "each continued session's transcript holds its 9 turns ($full of 8)" test "$full" -eq 8

kill -TERM "$server_pid"
wait "$server_pid"
rc=$?
server_pid=""
check "parley serve stops on SIGTERM with status 0 (got $rc)" test "$rc" -eq 0
check "no error in the server's log" sh -c "! grep -q ' ERROR ' '$tmp/serve.log'"
grep ' ERROR ' "$tmp/serve.log" | head -n 5 | sed 's/^/#   /'
check_summary
