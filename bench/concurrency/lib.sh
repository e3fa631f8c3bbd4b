# bench/concurrency/lib.sh - what the scripts of this folder share, sourced by them (bash): a work
# directory whose processes are stopped and which is removed on exit, a free port, the model
# stand-in (stub.js) and a `parley serve` pointed at it. Sourcing it only defines functions;
# nothing runs until a script calls them.
#   bench_init PREFIX       makes the work directory $dir (/tmp/PREFIX-XXXXXX), empties $pids,
#                           sets the EXIT trap (bench_cleanup) and raises the open-file limit
#   bench_cleanup           stops every process in $pids and $ppid and removes $dir
#   free_port               prints a TCP port of 127.0.0.1 that is free now
#   stub_start LATENCY_MS   starts stub.js answering after LATENCY_MS; sets $stub to its port and
#                           $stub_url to its base URL. With BENCH_UPSTREAM=tls it speaks HTTPS
#                           (ALPN: HTTP/2 or HTTP/1.1, as a model provider's endpoint does) with a
#                           self-signed certificate made in $dir ($stub_cert), and parley_start
#                           trusts it (CURL_CA_BUNDLE)
#   parley_start [VAR=value ...]  starts BUILD_DIR's `parley serve` ($build) on a free port with
#                           a fresh $dir/data, the stand-in as its model, no rate limits, then the
#                           given settings and BENCH_PARLEY_ENV's; sets $ppid and $pport. Its log
#                           is $dir/parley.log.
# A failed start prints the process's log and exits 1 (the EXIT trap cleans up).

bench_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

bench_init() {
    dir=$(mktemp -d "/tmp/$1-XXXXXX")
    pids=()
    ppid=
    trap bench_cleanup EXIT
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

# Runs under set +e: a failed kill or a wait's non-zero status (a process ended by our signal)
# must not end the cleanup early and leave a process running.
bench_cleanup() {
    set +e
    [ -n "${ppid:-}" ] && kill "$ppid" 2>/dev/null
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "${ppid:-}" ] && wait "$ppid" 2>/dev/null
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$dir"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stub_start() {
    local tls_env=()
    stub_url=
    stub_cert=
    if [ "${BENCH_UPSTREAM:-plain}" = tls ]; then
        stub_cert="$dir/stub-cert.pem"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$dir/stub-key.pem" -out "$stub_cert" -days 2 -subj /CN=127.0.0.1 \
            -addext subjectAltName=IP:127.0.0.1 2>/dev/null
        tls_env=(STUB_TLS_CERT="$stub_cert" STUB_TLS_KEY="$dir/stub-key.pem")
    fi
    env STUB_LATENCY_MS="$1" "${tls_env[@]}" node "$bench_lib_dir/stub.js" >"$dir/stub.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do grep -q '^port ' "$dir/stub.log" && break; sleep 0.1; done
    stub=$(sed -n 's/^port //p' "$dir/stub.log")
    [ -n "$stub" ] || { echo "stub.js did not start; log:"; cat "$dir/stub.log"; exit 1; }
    stub_url="http${stub_cert:+s}://127.0.0.1:$stub"
}

parley_start() {
    rm -rf "$dir/data" "$dir/parley.log" && mkdir -p "$dir/data"
    # shellcheck disable=SC2086
    env PARLEY_MODEL=anthropic ANTHROPIC_API_KEY=bench ANTHROPIC_BASE_URL="$stub_url" \
        ${stub_cert:+CURL_CA_BUNDLE="$stub_cert"} \
        PARLEY_RATE_LIMIT_PER_MIN=0 PARLEY_SESSION_RATE_LIMIT_PER_MIN=0 "$@" \
        ${BENCH_PARLEY_ENV:-} "$build/parley" serve --port 0 --data "$dir/data" 2>"$dir/parley.log" &
    ppid=$!
    pport=
    for _ in $(seq 200); do
        pport=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$dir/parley.log" 2>/dev/null)
        [ -n "$pport" ] && break
        sleep 0.1
    done
    [ -n "$pport" ] || { echo "parley did not start; log:"; cat "$dir/parley.log"; exit 1; }
}
