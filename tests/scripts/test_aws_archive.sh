#!/usr/bin/env bash
# test_aws_archive.sh - the archive suite (tests/unit/test_aws_archive.c) against the S3 adapter,
# with s3rver (npm) on 127.0.0.1 (tests/aws/s3-server.js). s3rver requires SigV4's
# x-amz-content-sha256 header and a known access key, and enciphers ListObjectsV2 continuation tokens with DES, which OpenSSL 3
# keeps in its legacy provider: node starts with it.
set -u
. "$(dirname "$0")/../aws/lib.sh"
trap aws_stop_all EXIT
bin="$(aws_build_dir)/tests/test_aws_archive"
[ -x "$bin" ] || aws_fail "$bin is not built (make tests)"
aws_npm_ready
aws_start port --openssl-legacy-provider s3-server.js conversation-logs-000000000000
PARLEY_TEST_S3="http://127.0.0.1:$port" AWS_REGION=us-east-1 "$bin"
