#!/usr/bin/env bash
# bench/concurrency/install-deps.sh - installs what the concurrency benchmarks need beyond the
# build, from Debian packages and only those missing: wrk (the load generator), nginx-light (the
# anchor), Node.js (the model stand-in) and Python 3 (free ports, the slow clients).
# Idempotent; runs as root or through sudo; says what it installs.
set -eu
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if [ -z "$missing" ]; then
    exit 0
fi
echo "bench/concurrency: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
