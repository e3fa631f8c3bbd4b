#!/usr/bin/env bash
# deploy/package.sh BINARY DIR [ZIP] - lays out a provided.al2023 deployment package in DIR:
#   bootstrap          a /bin/sh launcher (the file Lambda runs)
#   bin/parley-lambda  the binary
#   lib/               every shared library ldd lists, the C library and its loader included
#   kb/                the knowledge base
#   examples/demo-store/  the default agent file (issue 11; its knowledge dir is ../../kb)
#   agent/             with AGENT=path/to/agent.yaml: that agent file and the files it names by
#                      relative path (knowledge.dirs, tools.openapi[].spec), laid out as beside
#                      the original; the launcher then defaults PARLEY_AGENT to it
# The launcher starts the binary through the bundled loader, so the package runs on Amazon Linux
# 2023 whatever glibc it has (the build machine's may be newer). With ZIP, also zips DIR.
set -eu
bin=$1 dir=$2 zip=${3:-}
# The full `parley` binary reads the agent file (`parley agent files`); the bootstrap cannot.
parley_cli=${PARLEY_CLI:-$bin}
agent=${AGENT:-}
root=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$bin" ] || { echo "package.sh: '$bin' is not an executable" >&2; exit 1; }
[ -z "$agent" ] || [ -r "$agent" ] || { echo "package.sh: cannot read agent file '$agent'" >&2; exit 1; }

# The paths an agent file names relative to itself (knowledge.dirs, tools.openapi[].spec), one a
# line. Absolute paths and paths that climb out of the file's directory ("..") are refused: the
# package must hold everything the agent reads.
agent_paths() {
    "$parley_cli" agent files "$1" || return 1
}
if [ -n "$agent" ]; then
    agent_rel=$(agent_paths "$agent") || exit 1
    while IFS= read -r rel; do
        case "$rel" in
        /* | .. | ../* | */.. | */../*)
            echo "package.sh: '$rel' in $agent must be a path inside the agent file's directory" >&2
            exit 1 ;;
        esac
    done <<<"$agent_rel"
fi
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
agent_default=""
if [ -n "$agent" ]; then
    adir=$(dirname "$agent")
    mkdir -p "$dir/agent"
    cp "$agent" "$dir/agent/"
    while IFS= read -r rel; do
        [ -n "$rel" ] || continue
        [ -e "$adir/$rel" ] || { echo "package.sh: '$rel' named by $agent does not exist" >&2; exit 1; }
        mkdir -p "$dir/agent/$(dirname "$rel")"
        cp -r "$adir/$rel" "$dir/agent/$(dirname "$rel")/"
    done <<<"$agent_rel"
    agent_default="agent/$(basename "$agent")"
fi
cat >"$dir/bootstrap" <<EOS
#!/bin/sh
# Lambda runs this file: start parley-lambda with the libraries packaged beside it.
here=\${LAMBDA_TASK_ROOT:-\$(dirname "\$0")}
export PARLEY_KB_DIR="\${PARLEY_KB_DIR:-\$here/kb}"
export PARLEY_DATA="\${PARLEY_DATA:-/tmp/parley}"
# The agent file: PARLEY_AGENT from the template (relative paths are inside the package), else
# the one \`make lambda AGENT=...\` packaged, else the shipped demo agent.
agent="\${PARLEY_AGENT:-$agent_default}"
case "\$agent" in
    ""|/*) ;;
    *) agent="\$here/\$agent" ;;
esac
export PARLEY_AGENT="\$agent"
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
