#!/usr/bin/env bash
# scripts/install-test-deps.sh - what `make test` needs beyond the build: Node.js and npm for the
# test peers (AWS emulators, asl-validator, signers, MCP servers), Debian's Chromium for the browser
# tests, Python 3 for the small stdlib-only test servers, clang-format for `make format-check` and
# clang (libFuzzer) for `make fuzz`, wrk and nginx-light for bench/concurrency (the load
# generator and the anchor), and the openssl tool for the test certificates of HTTPS peers.
# Idempotent; installs only what is missing and says what it installs.
set -eu
missing=""
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
command -v clang-format >/dev/null 2>&1 || missing="$missing clang-format"
command -v clang >/dev/null 2>&1 || missing="$missing clang"
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
if [ -z "$missing" ]; then
    exit 0
fi
echo "install-test-deps: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
