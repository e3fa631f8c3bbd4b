#!/usr/bin/env bash
# test_sigv4_crosscheck.sh - signs the requests of tests/sigv4/cases.jsonl (Bedrock model ids with
# ':' and ARNs, DynamoDB, SQS with a query, S3 keys, session tokens, a local endpoint with a port)
# with Parley's sigv4.c and with two independent signers from npm (@smithy/signature-v4, the AWS
# SDK for JavaScript v3 signer, and aws4), and requires all three Authorization headers to match.
set -u
cd "${PARLEY_SRC:-$(dirname "$0")/../..}"
build=$(dirname "${PARLEY_BIN:-build/san/parley}")
dir=tests/sigv4
passed=0 failed=0
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "not ok - node and npm are required for the SigV4 cross-check"
    echo "# 0 passed, 1 failed"; exit 1
fi
if [ ! -d "$dir/npm/node_modules/@smithy/signature-v4" ] || [ ! -d "$dir/npm/node_modules/aws4" ]; then
    (cd "$dir/npm" && npm install --no-audit --no-fund --loglevel=error >/dev/null 2>&1)
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
san=""
case "$build" in *san*) san="-fsanitize=address,undefined";; esac
if ! cc -std=c11 -D_GNU_SOURCE -Isrc $san -o "$tmp/sign_cli" "$dir/sign_cli.c" "$build/libparley.a" \
        -ljansson -lssl -lcrypto -lcurl -lmicrohttpd -lsqlite3 -lpthread -lm 2>"$tmp/cc.log"; then
    cat "$tmp/cc.log"; echo "not ok - build sign_cli"; echo "# 0 passed, 1 failed"; exit 1
fi
"$tmp/sign_cli" "$dir/cases.jsonl" >"$tmp/parley.txt" || { echo "not ok - sign_cli failed"; failed=1; }
node "$dir/crosscheck.js" "$dir/cases.jsonl" >"$tmp/npm.txt" || { echo "not ok - crosscheck.js failed"; failed=$((failed+1)); }
while IFS=$'\t' read -r name _ ours; do
    for signer in smithy aws4; do
        theirs=$(awk -F'\t' -v n="$name" -v s="$signer" '$1==n && $2==s {print $3}' "$tmp/npm.txt")
        if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then
            echo "ok - $name matches $signer"; passed=$((passed+1))
        else
            echo "not ok - $name vs $signer"; echo "  parley: $ours"; echo "  $signer: $theirs"
            failed=$((failed+1))
        fi
    done
done <"$tmp/parley.txt"
n=$(grep -c . "$dir/cases.jsonl")
if [ "$passed" -ne $((2 * n)) ]; then failed=$((failed + 1)); fi
echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
