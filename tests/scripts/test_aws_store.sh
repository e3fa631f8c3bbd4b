#!/usr/bin/env bash
# test_aws_store.sh - the store contract suite (tests/unit/test_store_contract.c) and the
# adapter's own suite (tests/unit/test_store_dynamo.c) against the DynamoDB adapter, with
# dynalite (npm) on 127.0.0.1 behind tests/aws/ddb-proxy.js.
# drives: test_store_dynamo
set -u
. "$(dirname "$0")/../aws/lib.sh"
trap aws_stop_all EXIT
bin="$(aws_build_dir)/tests/test_store_contract"
own="$(aws_build_dir)/tests/test_store_dynamo"
[ -x "$bin" ] && [ -x "$own" ] || aws_fail "$bin or $own is not built (make tests)"
aws_npm_ready
aws_start port ddb-proxy.js
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
rc=0
PARLEY_TEST_DYNAMODB="http://127.0.0.1:$port" "$own" || rc=1
PARLEY_TEST_DYNAMODB="http://127.0.0.1:$port" "$bin" || rc=1
exit $rc
