#!/usr/bin/env bash
# test_settings_table.sh - one settings table (src/base/config.c): every setting `parley --help`
# lists is in the README's settings table and the README lists none that --help does not (the
# AWS, Lambda and CA variables included, issue 16); and no source file reads a variable with
# getenv() outside config.c, except the ones named below with why.
set -u
. "$(dirname "$0")/lib.sh"
[ -x "$bin" ] || { echo "not ok - no parley binary at $bin"; echo "# 0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/parley-settings.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$bin" --help 2>&1 | sed -n '/^Settings/,$p' | awk 'NR > 1 && /^  [A-Z_]/ {print $1}' | sort -u >"$tmp/help"
# The first cell of each row of the README's settings table; a cell may name several variables.
sed -n '/^## Settings/,/^## [^S]/p' "$src/README.md" | grep '^| `' | cut -d'|' -f2 |
    grep -o '`[A-Z_][A-Z0-9_<>]*`' | tr -d '`' | sort -u >"$tmp/readme"
check "--help lists settings" test "$(wc -l <"$tmp/help")" -gt 50
for name in AWS_REGION AWS_DEFAULT_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
    AWS_ENDPOINT_URL 'AWS_ENDPOINT_URL_<SERVICE>' AWS_LAMBDA_RUNTIME_API _HANDLER PARLEY_ACCOUNT_ID \
    CURL_CA_BUNDLE SSL_CERT_FILE ANTHROPIC_API_KEY ANTHROPIC_BASE_URL OPENAI_API_KEY \
    OPENAI_BASE_URL PARLEY_MODEL_ID; do
    check "--help lists $name" grep -qxF "$name" "$tmp/help"
done
missing=$(comm -23 "$tmp/help" "$tmp/readme" | tr '\n' ' ')
check "the README lists every setting of --help${missing:+ (missing: $missing)}" test -z "$missing"
stale=$(comm -13 "$tmp/help" "$tmp/readme" | tr '\n' ' ')
check "the README lists no setting --help does not know${stale:+ (unknown: $stale)}" test -z "$stale"

# getenv() outside the table, each with its reason:
#   agent_file.c, tool_http.c  ${NAME} references in an agent file (the operator's own secrets)
#   _X_AMZN_TRACE_ID           not a setting: the trace id of the current Lambda invocation,
#                              which the runtime loop exports as the Lambda documentation requires
allowed='^src/agent/agent_file\.c:|^src/agent/tool_http\.c:|getenv\("_X_AMZN_TRACE_ID"\)'
stray=$(grep -rn --include='*.c' 'getenv(' "$src/src" | sed "s|^$src/||" | grep -v '^src/base/config\.c:' |
    grep -Ev "$allowed")
check "no getenv() outside the settings table" test -z "$stray"
[ -z "$stray" ] || printf '#   %s\n' "$stray"

check_summary
