#!/usr/bin/env bash
# test_aws_cli_ports.sh - `parley queue`, `parley archive` and `parley worker` against SQS and S3
# through the one wiring (tests/unit/test_cli_ports.c), with fauxqs (tests/aws/sqs-server.mjs) and
# s3rver (tests/aws/s3-server.js) on 127.0.0.1.
set -u
. "$(dirname "$0")/../aws/lib.sh"
trap aws_stop_all EXIT
bin="$(aws_build_dir)/tests/test_cli_ports"
[ -x "$bin" ] || aws_fail "$bin is not built (make tests)"
aws_npm_ready
aws_start sqs_port sqs-server.mjs
aws_start s3_port --openssl-legacy-provider s3-server.js conversation-logs-000000000000
PARLEY_TEST_SQS="http://127.0.0.1:$sqs_port" PARLEY_TEST_S3="http://127.0.0.1:$s3_port" "$bin"
