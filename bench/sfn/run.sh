#!/usr/bin/env bash
# bench/sfn/run.sh [SECONDS] - executions per second of Parley's ASL engine against
# @wmfs/statebox and aws-local-stepfunctions on the same definitions (the seed workflow with
# mocked Lambda tasks, and a Map over 1,000 items), in one run; prints each rate and the ratios.
set -eu
secs=${1:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
make -s BUILD=build build/bench/sfn/sfn_bench >/dev/null
(cd "$here" && npm ci --no-audit --no-fund >/dev/null 2>&1) || { echo "npm ci failed in bench/sfn"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node -e 'const items=[];for(let i=0;i<1000;i++)items.push({id:i,sku:"SKU-"+i,qty:1+i%5});
  require("fs").writeFileSync(process.argv[1], JSON.stringify({items}))' "$tmp/map.input.json"
run() { # DEF INPUT
    build/bench/sfn/sfn_bench "$1" "$2" "$here/mocks.json" "$secs"
    node "$here/bench_node.mjs" "$1" "$2" "$here/mocks.json" "$secs" | grep '^{'
}
{
    run "$here/seed.asl.json" "$here/seed.input.json"
    run "$here/map1000.asl.json" "$tmp/map.input.json"
} >"$tmp/results.jsonl"
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const defs = [...new Set(rows.map((r) => r.definition))];
console.log(`cpu: ${require("os").cpus()[0].model}, node ${process.version}, ${process.argv[2]} s per measurement`);
for (const d of defs) {
  const here = rows.filter((r) => r.definition === d);
  const p = here.find((r) => r.engine === "parley");
  console.log(`\n${require("path").basename(d)}`);
  for (const r of here) {
    const ratio = r.engine === "parley" ? "" : `   parley is ${(p.executionsPerSecond / r.executionsPerSecond).toFixed(1)}x`;
    console.log(`  ${r.engine.padEnd(24)} ${String(r.executionsPerSecond).padStart(12)} executions/s  ${r.status}${ratio}`);
  }
}' "$tmp/results.jsonl" "$secs"
