#!/usr/bin/env bash
# test_aws_template.sh - deploy/template.yaml checked offline by tests/aws/check-template.js:
# YAML with CloudFormation tags, references, the CloudFormation/SAM resource specification
# (@aws-cdk/aws-service-spec), handlers in the build, the ASL through asl-validator, and the
# production shape issue 6 asks for; then the same checker must reject a broken copy; then
# cfn-lint, when installed, must report nothing.
set -u
. "$(dirname "$0")/../aws/lib.sh"
aws_npm_ready
good=$(node "$aws_dir/check-template.js" "$PARLEY_SRC/deploy/template.yaml")
rc=$?
echo "$good" | grep -v '^# [0-9]* passed'
summary=$(echo "$good" | grep '^# [0-9]* passed' | tail -n 1)
p=$(echo "$summary" | sed -E 's/^# ([0-9]+) passed, ([0-9]+) failed.*/\1/')
f=$(echo "$summary" | sed -E 's/^# ([0-9]+) passed, ([0-9]+) failed.*/\2/')
[ -n "$summary" ] || { p=0; f=1; }
# The checker must catch mistakes, not only pass good templates.
tmp=$(mktemp -d)
mkdir -p "$tmp/deploy" "$tmp/statemachine"
cp "$PARLEY_SRC/statemachine/agent.asl.json" "$tmp/statemachine/"
sed -e 's/!GetAtt SaveConversationFunction.Arn/!GetAtt SaveConversationFunctio.Arn/' \
    -e 's/maxReceiveCount: 3/maxReceiveCount: 5/' \
    -e 's/Handler: LoadContext/Handler: LoadContxt/' \
    "$PARLEY_SRC/deploy/template.yaml" >"$tmp/deploy/template.yaml"
out=$(node "$aws_dir/check-template.js" "$tmp/deploy/template.yaml")
rm -rf "$tmp"
if echo "$out" | grep -q 'unknown resource SaveConversationFunctio' &&
    echo "$out" | grep -q 'maxReceiveCount 3' && echo "$out" | grep -q 'LoadContxt is not in'; then
    echo "ok - the checker rejects a template with a dangling GetAtt, a wrong DLQ and a bad handler"
    p=$((p + 1))
else
    echo "$out" | sed 's/^/#   /'
    echo "not ok - the checker accepted a broken template"
    f=$((f + 1))
fi
# cfn-lint (with the SAM translator) must find nothing at all, warnings included, when installed.
if command -v cfn-lint >/dev/null 2>&1; then
    if lint=$(cfn-lint "$PARLEY_SRC/deploy/template.yaml" 2>&1); then
        echo "ok - cfn-lint finds nothing in deploy/template.yaml"
        p=$((p + 1))
    else
        echo "$lint" | sed 's/^/#   /'
        echo "not ok - cfn-lint finds problems in deploy/template.yaml"
        f=$((f + 1))
    fi
else
    echo "# cfn-lint is not installed: its check is skipped"
fi
echo "# $p passed, $f failed"
[ "$f" -eq 0 ] && [ "$rc" -eq 0 ]
