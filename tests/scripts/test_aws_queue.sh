#!/usr/bin/env bash
# test_aws_queue.sh - the queue suite (tests/unit/test_aws_queue.c) against the SQS adapter, with
# fauxqs (npm) on 127.0.0.1 (tests/aws/sqs-server.mjs --trace: behind the proxy that records the
# calls and keeps the AWSTraceHeader system attribute fauxqs ignores).
set -u
. "$(dirname "$0")/../aws/lib.sh"
trap aws_stop_all EXIT
bin="$(aws_build_dir)/tests/test_aws_queue"
[ -x "$bin" ] || aws_fail "$bin is not built (make tests)"
aws_npm_ready
aws_start port sqs-server.mjs --trace
PARLEY_TEST_SQS="http://127.0.0.1:$port" PARLEY_TEST_SQS_TRACE=1 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test \
    AWS_SECRET_ACCESS_KEY=test "$bin"
