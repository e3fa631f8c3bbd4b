#!/usr/bin/env bash
# test_aws_seed.sh - the seed's sample conversation through the Lambda functions
# (tests/unit/test_aws_seed.c) with DynamoDB on dynalite and S3 on s3rver, both on 127.0.0.1.
# drives: test_aws_seed
set -u
. "$(dirname "$0")/../aws/lib.sh"
trap aws_stop_all EXIT
bin="$(aws_build_dir)/tests/test_aws_seed"
[ -x "$bin" ] || aws_fail "$bin is not built (make tests)"
aws_npm_ready
aws_start ddb ddb-proxy.js
aws_start s3 --openssl-legacy-provider s3-server.js conversation-logs-000000000000
PARLEY_TEST_DYNAMODB="http://127.0.0.1:$ddb" PARLEY_TEST_S3="http://127.0.0.1:$s3" \
    PARLEY_KB_DIR="$PARLEY_SRC/kb" "$bin"
