#!/usr/bin/env bash
# test_aws_serve.sh - `parley serve` on the AWS adapters (tests/e2e/test_e2e_aws_serve.c): two
# servers sharing DynamoDB (dynalite), SQS (fauxqs) and S3 (s3rver), all on 127.0.0.1.
# drives: test_e2e_aws_serve
set -u
. "$(dirname "$0")/../aws/lib.sh"
trap aws_stop_all EXIT
bin="$(aws_build_dir)/tests/test_e2e_aws_serve"
[ -x "$bin" ] || aws_fail "$bin is not built (make tests)"
aws_npm_ready
aws_start ddb ddb-proxy.js
aws_start sqs sqs-server.mjs
aws_start s3 --openssl-legacy-provider s3-server.js conversation-logs-000000000000
PARLEY_TEST_DYNAMODB="http://127.0.0.1:$ddb" PARLEY_TEST_SQS="http://127.0.0.1:$sqs" \
    PARLEY_TEST_S3="http://127.0.0.1:$s3" "$bin"
