#!/usr/bin/env bash
# test_idem_kill.sh - issue 15: kill -9 at random points under retrying clients. IDEM_KILL_CLIENTS
# (4) clients each send their share of IDEM_KILL_TURNS (default 60; the issue's run sets 1000)
# turns, two-turn conversations that open a ticket, every turn under its own Idempotency-Key and
# retried with the same key until it gets 200,
# while `parley serve` is killed with SIGKILL 0.2-0.8 s after each start (short enough
# that even a fast machine sees several kills during the run) and restarted on the same data
# directory. Then, after a last kill and restart:
#   - no acknowledged turn is lost: every acknowledged session answers GET /sessions/{id};
#   - no key is stuck: every key, retried once more, answers 200 with the same session;
#   - no ticket is duplicated: no session holds two tickets;
#   - the customer gets the ticket's number: the answer to every ticket-opening turn's key names
#     its session's ticket (the action's key survives the retry, so the ticket the killed run
#     created is found and its number reaches the reply).
set -u
src=${PARLEY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${PARLEY_BIN:-$src/build/san/parley}
turns=${IDEM_KILL_TURNS:-60}
clients=${IDEM_KILL_CLIENTS:-4}
passed=0 failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/parley-idem-kill.XXXXXX")
data=$tmp/data
pid=""
client_pids=()
cleanup() {
    for p in "${client_pids[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
export PARLEY_KB_DIR="$src/kb" PARLEY_STATEMACHINE="$src/statemachine/agent.asl.json"
export PARLEY_RATE_LIMIT_PER_MIN=0 PARLEY_SESSION_RATE_LIMIT_PER_MIN=0 PARLEY_ARCHIVE_DELAY_MS=0

# Starts the server; writes its URL to $tmp/url (the clients read it before every attempt).
start() {
    : >"$tmp/server.log"
    "$bin" serve --port 0 --data "$data" >>"$tmp/server.log" 2>&1 &
    pid=$!
    local port=""
    for _ in $(seq 600); do
        port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$tmp/server.log" | grep -o '[0-9]*$')
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$port" ]; then
        cat "$tmp/server.log" | tail -20 | sed 's/^/#   /'
        return 1
    fi
    echo "http://127.0.0.1:$port" >"$tmp/url.new"
    mv "$tmp/url.new" "$tmp/url"
}

# send N KEY BODY: posts BODY under KEY until it gets 200; appends "KEY|sessionId|BODY" to
# $tmp/acked.N and sets $sid.
send() {
    local n=$1 key=$2 body=$3 code
    while :; do
        code=$(curl -s -o "$tmp/resp.$n" -w '%{http_code}' --max-time 30 -X POST \
            -H 'Content-Type: application/json' -H "Idempotency-Key: $key" \
            --data "$body" "$(cat "$tmp/url")/chat" 2>/dev/null)
        if [ "$code" = 200 ]; then
            sid=$(grep -o '"sessionId":"[^"]*"' "$tmp/resp.$n" | head -1 | cut -d'"' -f4)
            echo "$key|$sid|$body" >>"$tmp/acked.$n"
            return
        fi
        sleep 0.05
    done
}

# client N FIRST COUNT: conversations FIRST..FIRST+COUNT-1, two turns each (the offline model
# asks what the problem is, then opens a ticket), every turn under its own key.
client() {
    local n=$1 first=$2 count=$3 i
    for ((i = first; i < first + count; i++)); do
        send "$n" "kill-key-$i-a" \
            "{\"message\":\"please open a ticket, I am c$i@example.com\"}"
        send "$n" "kill-key-$i-b" \
            "{\"sessionId\":\"$sid\",\"message\":\"My order 1042 never arrived and the box was damaged\"}"
    done
}

mkdir -p "$data"
start || { not_ok "server starts"; echo "# $passed passed, $((failed)) failed"; exit 1; }
per=$(((turns / 2 + clients - 1) / clients)) # conversations per client
for ((c = 0; c < clients; c++)); do
    client "$c" $((c * per)) "$per" &
    client_pids+=($!)
done
kills=0
running() { for p in "${client_pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while running; do
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.2 + (r % 60) / 100 }')"
    running || break
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    kills=$((kills + 1))
    start || { not_ok "restart after kill $kills"; break; }
done
wait "${client_pids[@]}" 2>/dev/null
client_pids=()
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
start || not_ok "final restart"
url=$(cat "$tmp/url")
cat "$tmp"/acked.* >"$tmp/acked" 2>/dev/null
acked=$(wc -l <"$tmp/acked")
echo "# $acked turns acknowledged over $kills kills"
[ "$acked" -ge "$turns" ] && [ "$kills" -ge 2 ] && ok "$acked turns acknowledged across $kills kills" ||
    not_ok "only $acked of $turns turns acknowledged ($kills kills)"

lost=0 stuck=0
while IFS='|' read -r key sid body; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$url/sessions/$sid")
    [ "$code" = 200 ] || lost=$((lost + 1))
    code=$(curl -s -o "$tmp/again" -w '%{http_code}' --max-time 30 -X POST \
        -H 'Content-Type: application/json' -H "Idempotency-Key: $key" --data "$body" "$url/chat")
    { [ "$code" = 200 ] && grep -q "\"sessionId\":\"$sid\"" "$tmp/again"; } || stuck=$((stuck + 1))
    case $key in *-b) cp "$tmp/again" "$tmp/answer.$sid" ;; esac
done <"$tmp/acked"
[ "$lost" = 0 ] && ok "no acknowledged turn lost" || not_ok "$lost acknowledged sessions lost"
[ "$stuck" = 0 ] && ok "no Idempotency-Key stuck after restart" || not_ok "$stuck keys stuck or changed"
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=""
dups=$(sqlite3 "$data/parley.db" \
    "SELECT count(*) FROM (SELECT session_id FROM tickets GROUP BY session_id HAVING count(*) > 1)")
tickets=$(sqlite3 "$data/parley.db" "SELECT count(*) FROM tickets")
echo "# $tickets tickets"
[ "$dups" = 0 ] && [ "$tickets" -gt 0 ] && ok "no duplicate ticket ($tickets tickets)" ||
    not_ok "$dups sessions with duplicate tickets ($tickets tickets)"
unnamed=0 opened=0
for f in "$tmp"/answer.*; do
    [ -e "$f" ] || continue
    sid=${f##*/answer.}
    seq=$(sqlite3 "$data/parley.db" "SELECT seq FROM tickets WHERE session_id = '$sid'")
    [ -n "$seq" ] || continue
    opened=$((opened + 1))
    grep -q "$(printf 'TKT-%06d' "$seq")" "$f" || unnamed=$((unnamed + 1))
done
[ "$unnamed" = 0 ] && [ "$opened" -gt 0 ] && ok "every answer names its ticket ($opened tickets)" ||
    not_ok "$unnamed of $opened answers do not name their session's ticket"
echo "# $passed passed, $failed failed"
[ "$failed" = 0 ]
