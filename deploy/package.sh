#!/usr/bin/env bash
# deploy/package.sh BINARY DIR [ZIP] - lays out a provided.al2023 deployment package in DIR:
#   bootstrap          a /bin/sh launcher (the file Lambda runs)
#   bin/parley-lambda  the binary
#   lib/               every shared library ldd lists, the C library and its loader included
#   kb/                the knowledge base
#   examples/demo-store/  the default agent file (issue 11; its knowledge dir is ../../kb)
# The launcher starts the binary through the bundled loader, so the package runs on Amazon Linux
# 2023 whatever glibc it has (the build machine's may be newer). With ZIP, also zips DIR.
set -eu
bin=$1 dir=$2 zip=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$bin" ] || { echo "package.sh: '$bin' is not an executable" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir/bin" "$dir/lib"
cp "$bin" "$dir/bin/parley-lambda"
loader=""
while read -r line; do
    # "libx.so.1 => /path/libx.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    path=$(printf '%s\n' "$line" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^\(\/[^ ]*\) (.*/\1/p')
    [ -n "$path" ] || continue
    cp -L "$path" "$dir/lib/"
    case "$(basename "$path")" in ld-linux*) loader=$(basename "$path") ;; esac
done < <(ldd "$bin")
[ -n "$loader" ] || { echo "package.sh: no dynamic loader found in ldd output" >&2; exit 1; }
cp -r "$root/kb" "$dir/kb"
mkdir -p "$dir/examples" && cp -r "$root/examples/demo-store" "$dir/examples/demo-store" # issue 11
cat >"$dir/bootstrap" <<EOS
#!/bin/sh
# Lambda runs this file: start parley-lambda with the libraries packaged beside it.
here=\${LAMBDA_TASK_ROOT:-\$(dirname "\$0")}
export PARLEY_KB_DIR="\${PARLEY_KB_DIR:-\$here/kb}"
export PARLEY_DATA="\${PARLEY_DATA:-/tmp/parley}"
for ca in /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/certs/ca-certificates.crt; do
    if [ -r "\$ca" ]; then
        export CURL_CA_BUNDLE="\${CURL_CA_BUNDLE:-\$ca}" SSL_CERT_FILE="\${SSL_CERT_FILE:-\$ca}"
        break
    fi
done
exec "\$here/lib/$loader" --library-path "\$here/lib" "\$here/bin/parley-lambda" "\$@"
EOS
chmod 755 "$dir/bootstrap"
if [ -n "$zip" ]; then
    rm -f "$zip"
    if command -v zip >/dev/null; then
        (cd "$dir" && zip -qr -X "$OLDPWD/$zip" .) 2>/dev/null || (cd "$dir" && zip -qr -X "$zip" .)
    else
        echo "package.sh: 'zip' is not installed; the package is the directory $dir" >&2
    fi
fi
echo "package.sh: $dir ($(du -sh "$dir" | cut -f1))"
