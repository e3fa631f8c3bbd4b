// bench_node.mjs - executions per second of @wmfs/statebox and aws-local-stepfunctions on the same
// definitions and mocked Lambda results as bench/sfn/sfn_bench.c (mocks.json; "Work" echoes).
// usage: node bench_node.mjs DEF.json INPUT.json MOCKS.json SECONDS
// Prints one JSON line per engine. Statebox resolves Task resources as "module:NAME", so for it
// each Lambda ARN is rewritten to module:<function name>; nothing else in the definition changes.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { StateMachine } from 'aws-local-stepfunctions';

// aws-local-stepfunctions 3 calls Promise.withResolvers (Node 22); Debian 12's Node 20 lacks it.
if (!Promise.withResolvers) {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}

const require = createRequire(import.meta.url);
const Statebox = require('@wmfs/statebox');

const [defPath, inPath, mocksPath, secsArg] = process.argv.slice(2);
const def = JSON.parse(fs.readFileSync(defPath, 'utf8'));
const input = JSON.parse(fs.readFileSync(inPath, 'utf8'));
const mocks = JSON.parse(fs.readFileSync(mocksPath, 'utf8'));
const secs = Number(secsArg || 3);
const fnName = (res) => res.split(':function:')[1];
const result = (name, event) => (name === 'Work' ? event : structuredClone(mocks[name]));

function walkTasks(states, f) {
  for (const [name, st] of Object.entries(states)) {
    if (st.Type === 'Task') f(name, st);
    for (const b of st.Branches || []) walkTasks(b.States, f);
    if (st.Iterator) walkTasks(st.Iterator.States, f);
    if (st.ItemProcessor) walkTasks(st.ItemProcessor.States, f);
  }
}

async function measure(engine, runOnce) {
  const first = await runOnce();
  const t0 = process.hrtime.bigint();
  let n = 0, t = 0;
  do {
    await runOnce();
    n++;
    t = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (t < secs);
  console.log(JSON.stringify({ engine, definition: defPath, status: first ? 'SUCCEEDED' : 'FAILED',
    executions: n, executionsPerSecond: Number((n / t).toFixed(1)) }));
}

// aws-local-stepfunctions: Task states overridden by local handlers, keyed by state name
const handlers = {};
walkTasks(def.States, (name, st) => {
  const fn = fnName(st.Resource);
  handlers[name] = async (event) => result(fn, event);
});
const alsm = new StateMachine(def, { validationOptions: { checkPaths: false, checkArn: false } });
await measure('aws-local-stepfunctions', async () => {
  const out = await alsm.run(input, { overrides: { taskResourceLocalHandlers: handlers } }).result;
  return out !== undefined;
});

// @wmfs/statebox: each Lambda becomes a module resource
const sbDef = structuredClone(def);
const modules = {};
walkTasks(sbDef.States, (name, st) => {
  const fn = fnName(st.Resource);
  st.Resource = `module:${fn}`;
  modules[fn] = class { run(event, context) { context.sendTaskSuccess(result(fn, event)); } };
});
const statebox = new Statebox({});
await statebox.ready;
await statebox.createModuleResources(modules);
await statebox.createStateMachines({ bench: sbDef }, {});
await measure('@wmfs/statebox', async () => {
  const d = await statebox.startExecution(structuredClone(input), 'bench', { sendResponse: 'COMPLETE' });
  return d.status === 'SUCCEEDED';
});
