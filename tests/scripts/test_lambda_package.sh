#!/usr/bin/env bash
# test_lambda_package.sh - the Lambda package starts with its own defaults and its functions
# write the per-turn metrics `parley serve` records, as CloudWatch EMF lines on stdout.
# deploy/package.sh lays out a package around $PARLEY_BIN; its launcher is started the way
# Lambda starts it (cwd /, an environment holding only PATH, AWS_LAMBDA_RUNTIME_API, _HANDLER and
# LAMBDA_TASK_ROOT) against a Runtime API stand-in (tests/fakes/lambda_runtime_api.mjs). The data
# directory is a nested one that does not exist yet, as the launcher's /tmp/parley is on a fresh
# Lambda (the real /tmp/parley is shared by everything on this machine, so it is not used). A chat
# turn is then run function by function as the state machine would (LoadContext,
# BedrockInference, ActionExecutor, BedrockInference, SaveConversation) and each function's
# stdout is checked: EMF documents only, with the model call's, the tool run's and the saved
# turn's lines and their dimensions; Analytics writes its Events line.
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/parley-lambda-pkg.XXXXXX")
api_pid=""
cleanup() {
    [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
[ -x "$bin" ] || { echo "not ok - no parley binary at $bin"; echo "# 0 passed, 1 failed"; exit 1; }
command -v node >/dev/null && command -v jq >/dev/null ||
    { echo "not ok - node and jq are needed"; echo "# 0 passed, 1 failed"; exit 1; }

out=$("$src/deploy/package.sh" "$bin" "$tmp/pkg" 2>&1)
check "package.sh lays out the package" test -x "$tmp/pkg/bootstrap"
[ -x "$tmp/pkg/bootstrap" ] || echo "#   $out"
check "the launcher defaults PARLEY_DATA to /tmp/parley" grep -q 'PARLEY_DATA:-/tmp/parley}' "$tmp/pkg/bootstrap"

node "$src/tests/fakes/lambda_runtime_api.mjs" "$tmp/event.json" "$tmp/posts.jsonl" >"$tmp/api.out" 2>&1 &
api_pid=$!
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$tmp/api.out")
    [ -n "$port" ] && break
    sleep 0.1 # waits for the stand-in's port line
done
check "the Runtime API stand-in listens" test -n "$port"
data="$tmp/lambda-tmp/parley" # does not exist yet

# invoke HANDLER EVENT_JSON: one invocation through the launcher; sets rc, result (the posted
# body), path (where it was posted) and emf (the function's stdout).
k=0
invoke() {
    k=$((k + 1))
    printf '%s' "$2" >"$tmp/event.json"
    : >"$tmp/posts.jsonl"
    (cd / && exec env -i PATH="$PATH" AWS_LAMBDA_RUNTIME_API="127.0.0.1:$port" _HANDLER="$1" \
        LAMBDA_TASK_ROOT="$tmp/pkg" PARLEY_DATA="$data" "$tmp/pkg/bootstrap" lambda --once \
        >"$tmp/$k.out" 2>"$tmp/$k.err")
    rc=$?
    path=$(jq -r '.path' "$tmp/posts.jsonl" 2>/dev/null | tail -n 1)
    result=$(jq -r '.body' "$tmp/posts.jsonl" 2>/dev/null | tail -n 1)
    emf="$tmp/$k.out"
    if [ $rc -ne 0 ] || [ "${path##*/}" != response ]; then
        echo "#   $1 exited $rc, posted to '$path': $result"
        tail -n 5 "$tmp/$k.err" | sed 's/^/#   /'
    fi
}
# ok_invocation NAME: the last invocation succeeded and its stdout holds EMF documents only.
ok_invocation() {
    test $rc -eq 0 && test "${path##*/}" = response &&
        jq -e -s 'all(.[]; has("_aws") and (._aws.CloudWatchMetrics[0].Namespace == "Parley"))' \
            "$emf" >/dev/null
}
# emf_has FILTER: some EMF line of the last invocation satisfies the jq FILTER.
emf_has() {
    jq -e -s "any(.[]; $1)" "$emf" >/dev/null
}

now=$(($(date +%s) * 1000))
invoke LoadContext "{\"sessionId\":\"Pkg1\",\"userId\":\"demo\",\"message\":\"where is order 1042?\",\"isNew\":true,\"status\":\"active\",\"context\":{},\"turns\":0,\"createdAt\":$((now - 5000))}"
check "LoadContext answers with the package's defaults" ok_invocation
check "the missing data directory was created" test -d "$data"

invoke BedrockInference "$result"
check "BedrockInference answers" ok_invocation
check "the model asks for lookup_order" test "$(jq -r '.requiresAction' <<<"$result")" = true
check "a model-call line: ModelCalls=1 by Service and Provider=offline" \
    emf_has '.ModelCalls == 1 and .Provider == "offline" and .Service == "parley" and
             ._aws.CloudWatchMetrics[0].Dimensions == [["Service","Provider"]] and
             (.ModelCallLatency | type) == "number"'
check "the invocation's sums: tokens of the call" emf_has '.TokensIn > 0 and (has("TurnLatency") | not)'

invoke ActionExecutor "$result"
check "ActionExecutor answers" ok_invocation
check "a tool line: ToolCalls=1 by Tool=lookup_order and Status=succeeded" \
    emf_has '.ToolCalls == 1 and .Tool == "lookup_order" and .Status == "succeeded" and
             ._aws.CloudWatchMetrics[0].Dimensions == [["Service","Tool","Status"]]'

invoke BedrockInference "$result"
check "the second model call answers" ok_invocation
check "its own model-call line" emf_has '.ModelCalls == 1'

invoke SaveConversation "$result"
check "SaveConversation answers turn 1" test "$(jq -r '.turn' <<<"$result" 2>/dev/null)" = 1
check "SaveConversation writes EMF lines only" ok_invocation
check "a saved-turn line: ConversationDuration of at least 5 s" emf_has '.ConversationDuration >= 5'
check "the reply names the order" bash -c 'jq -r .reply <<<"$1" | grep -q 1042' _ "$result"

invoke Analytics '{"version":"0","id":"e1","detail-type":"handoff_requested","source":"parley.agent","detail":{"sessionId":"Pkg1"}}'
check "Analytics answers" ok_invocation
check "an Events line by EventType" emf_has '.Events == 1 and .EventType == "handoff_requested"'

check_summary
