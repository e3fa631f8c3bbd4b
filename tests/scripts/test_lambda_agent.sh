#!/usr/bin/env bash
# test_lambda_agent.sh - the Lambda package carries the agent file named at build time:
# `AGENT=... deploy/package.sh` (what `make lambda AGENT=...` runs) copies the file and the files
# it names by relative path (a knowledge directory, an OpenAPI spec) into agent/, the packaged
# launcher points PARLEY_AGENT at it, and the package works with the original files gone: the
# agent validates from inside it, and the binary started through the launcher runs that agent
# (its name on GET /agent, its knowledge base loaded). A path that climbs out of the agent's
# directory is refused. deploy/template.yaml sets PARLEY_AGENT in its globals.
# The package is built around $PARLEY_BIN (the CLI binary, so the launcher can run `agent
# validate` and `serve`); the layout is the same as with the Lambda bootstrap binary.
set -u
. "$(dirname "$0")/lib.sh"
work_dir lambda-agent
[ -x "$bin" ] || { echo "not ok - no parley binary at $bin"; echo "# 0 passed, 1 failed"; exit 1; }

# An agent with a knowledge directory and an OpenAPI spec beside it.
mkdir -p "$tmp/shop/knowledge" "$tmp/shop/specs"
cp "$src/kb/account-access.md" "$tmp/shop/knowledge/"
cp "$src/tests/cases/openapi/shop.json" "$tmp/shop/specs/shop.json"
cat >"$tmp/shop/agent.yaml" <<'EOF'
name: Velo Lambda Shop
instructions: You are the assistant of {{agent_name}}.
greeting: Hello from the package.
knowledge:
  dirs: [knowledge]
tools:
  builtin: [create_support_ticket, search_knowledge_base]
  openapi:
    - spec: specs/shop.json
      base_url: https://api.velo.example
      operations: [getWarranty]
EOF

out=$(AGENT="$tmp/shop/agent.yaml" "$src/deploy/package.sh" "$bin" "$tmp/pkg" 2>&1)
check "package.sh with AGENT succeeds" test $? -eq 0
[ -f "$tmp/pkg/agent/agent.yaml" ] || echo "#   $out"
check "the package holds the agent file" cmp -s "$tmp/shop/agent.yaml" "$tmp/pkg/agent/agent.yaml"
check "the package holds its knowledge directory" cmp -s "$src/kb/account-access.md" "$tmp/pkg/agent/knowledge/account-access.md"
check "the package holds its OpenAPI spec" cmp -s "$src/tests/cases/openapi/shop.json" "$tmp/pkg/agent/specs/shop.json"
check "the launcher defaults PARLEY_AGENT to the packaged file" grep -q 'PARLEY_AGENT:-agent/agent.yaml' "$tmp/pkg/bootstrap"

# The package stands alone: the originals are gone.
rm -rf "$tmp/shop"
check "the packaged agent validates from inside the package" \
    env -u PARLEY_AGENT "$tmp/pkg/bootstrap" agent validate "$tmp/pkg/agent/agent.yaml"

# The binary started by the launcher runs the packaged agent (PARLEY_AGENT unset: the default;
# then a relative PARLEY_AGENT, as the template's AgentFile gives it, resolved in the package).
# serve runs the turn workflow locally, so it is given the repository's state machine; the Lambda
# functions use Step Functions and do not read it.
export PARLEY_STATEMACHINE="$src/statemachine/agent.asl.json"
start_through_launcher() { # start_through_launcher LOG [PARLEY_AGENT value]
    local log=$1
    if [ $# -ge 2 ]; then
        (cd / && exec env PARLEY_AGENT="$2" PARLEY_DATA="$tmp/data" "$tmp/pkg/bootstrap" serve --port 0 --bind 127.0.0.1 >"$log" 2>&1) &
    else
        (cd / && exec env -u PARLEY_AGENT PARLEY_DATA="$tmp/data" "$tmp/pkg/bootstrap" serve --port 0 --bind 127.0.0.1 >"$log" 2>&1) &
    fi
    server_pid=$!
    port=""
    for _ in $(seq 1 300); do
        port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)
        [ -n "$port" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1 # polls the log for the port line
    done
}
stop_server() {
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    local rc=$?
    server_pid=""
    return $rc
}
for how in default relative; do
    if [ "$how" = default ]; then start_through_launcher "$tmp/serve-$how.log"; else start_through_launcher "$tmp/serve-$how.log" agent/agent.yaml; fi
    check "serve through the launcher starts ($how PARLEY_AGENT)" test -n "$port"
    agent_json=$(curl -s "http://127.0.0.1:${port:-1}/agent")
    check "GET /agent names the packaged agent ($how PARLEY_AGENT)" \
        python3 -c 'import json, sys; a = json.loads(sys.argv[1]); sys.exit(not (a["name"] == "Velo Lambda Shop" and a["greeting"] == "Hello from the package."))' "$agent_json"
    [ -n "$port" ] || tail -n 20 "$tmp/serve-$how.log" | sed 's/^/#   /'
    check "its knowledge base loaded from the package ($how)" \
        bash -c "test -n '$port' && ! grep -q 'knowledge base unavailable' '$tmp/serve-$how.log'"
    stop_server
    check "it stops cleanly ($how)" test $? -eq 0
done

# A path outside the agent's directory cannot be packaged.
mkdir -p "$tmp/bad"
printf 'name: Bad\ninstructions: x\nknowledge:\n  dirs: [../elsewhere]\n' >"$tmp/bad/agent.yaml"
out=$(AGENT="$tmp/bad/agent.yaml" "$src/deploy/package.sh" "$bin" "$tmp/pkg2" 2>&1)
rc=$?
check "a path that climbs out of the agent's directory is refused" test $rc -ne 0
check "the refusal names the path" bash -c "grep -q \"'../elsewhere'\" <<<\"\$1\"" _ "$out"

# The template hands PARLEY_AGENT to every function.
check "template globals set PARLEY_AGENT from AgentFile" grep -q '^        PARLEY_AGENT: !Ref AgentFile$' "$src/deploy/template.yaml"

check_summary
