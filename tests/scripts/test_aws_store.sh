#!/usr/bin/env bash
# test_aws_store.sh - the store contract suite (tests/unit/test_store_contract.c) against the
# DynamoDB adapter, with dynalite (npm) on 127.0.0.1 behind tests/aws/ddb-proxy.js.
set -u
. "$(dirname "$0")/../aws/lib.sh"
trap aws_stop_all EXIT
bin="$(aws_build_dir)/tests/test_store_contract"
[ -x "$bin" ] || aws_fail "$bin is not built (make tests)"
aws_npm_ready
aws_start port ddb-proxy.js
PARLEY_TEST_DYNAMODB="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test \
    AWS_SECRET_ACCESS_KEY=test "$bin"
