// check.js - runs asl-validator over every definition in ../cases that AWS accepts (every case
// without "invalid"). Cases AWS rejects are listed as skipped by name, never silently dropped.
// A case may set "asl_validator": "reason" when asl-validator itself is known to disagree with
// AWS; those are reported too. Prints TAP-like lines and "# N passed, M failed".
'use strict';
const fs = require('fs');
const path = require('path');
const mod = require('asl-validator');
const validate = mod.default || mod;

const dir = path.join(__dirname, '..', 'cases');
let passed = 0, failed = 0;
const skipped = [];
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const { cases } = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  for (const c of cases) {
    const label = `${file}: ${c.name}`;
    if (c.invalid || !c.definition) {
      skipped.push(`${c.name} (AWS rejects it by design)`);
      continue;
    }
    if (typeof c.asl_validator === 'string') {
      skipped.push(`${c.name} (asl-validator disagrees with AWS: ${c.asl_validator})`);
      continue;
    }
    const r = validate(c.definition);
    if (r.isValid) {
      passed++;
      console.log(`ok - ${label}`);
    } else {
      failed++;
      console.log(`not ok - ${label}: ${JSON.stringify(r.errors)}`);
    }
  }
}
// The product's own workflow, exactly as it is deployed.
const agentDef = path.join(__dirname, '..', '..', '..', 'statemachine', 'agent.asl.json');
const agent = validate(JSON.parse(fs.readFileSync(agentDef, 'utf8')));
if (agent.isValid) {
  passed++;
  console.log('ok - statemachine/agent.asl.json');
} else {
  failed++;
  console.log(`not ok - statemachine/agent.asl.json: ${JSON.stringify(agent.errors)}`);
}
console.log(`# skipped ${skipped.length} cases: ${skipped.join('; ')}`);
if (passed < 100) {
  failed++;
  console.log(`not ok - only ${passed} definitions were validated (expected at least 100)`);
}
console.log(`# ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
