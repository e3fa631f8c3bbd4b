#!/usr/bin/env bash
# test_aws_dynamo_plain.sh - the DynamoDB adapter on plain dynalite, which has no
# TransactWriteItems and no UpdateTimeToLive (tests/aws/ddb-proxy.js --plain passes every call
# through): the adapter's own suite (tests/unit/test_store_dynamo.c: the ordered-write fallback),
# the store contract suite, and full /chat turns of `parley serve` (tests/e2e/test_e2e_aws_serve.c)
# with fauxqs and s3rver.
# drives: test_store_dynamo test_e2e_aws_serve
set -u
. "$(dirname "$0")/../aws/lib.sh"
trap aws_stop_all EXIT
dir="$(aws_build_dir)/tests"
for t in test_store_dynamo test_store_contract test_e2e_aws_serve; do
    [ -x "$dir/$t" ] || aws_fail "$dir/$t is not built (make tests)"
done
aws_npm_ready
aws_start ddb ddb-proxy.js --plain
aws_start sqs sqs-server.mjs
aws_start s3 --openssl-legacy-provider s3-server.js conversation-logs-000000000000
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
rc=0
PARLEY_TEST_DYNAMODB="http://127.0.0.1:$ddb" PARLEY_TEST_DYNAMODB_PLAIN=1 "$dir/test_store_dynamo" || rc=1
PARLEY_TEST_DYNAMODB="http://127.0.0.1:$ddb" "$dir/test_store_contract" || rc=1
PARLEY_TEST_DYNAMODB="http://127.0.0.1:$ddb" PARLEY_TEST_SQS="http://127.0.0.1:$sqs" \
    PARLEY_TEST_S3="http://127.0.0.1:$s3" "$dir/test_e2e_aws_serve" || rc=1
exit $rc
