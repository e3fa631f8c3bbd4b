// crosscheck.js - parses Parley's Prometheus text (stdin) with parse-prometheus-text-format, an
// independent parser, and checks families, types, escaping and the values prom_dump.c recorded.
// Prints `ok - name` / `not ok - name` lines. (That parser keeps only unlabelled histograms
// whole, so labelled histograms are checked by the strict parser in tests/unit/test_metrics.c.)
'use strict';
const parse = require('parse-prometheus-text-format');
const text = require('fs').readFileSync(0, 'utf8');
let fams;
const results = [];
const check = (name, ok) => results.push([name, !!ok]);
try {
  fams = parse(text);
  check('independent parser accepts the whole text', true);
} catch (e) {
  check('independent parser accepts the whole text: ' + e.message, false);
  fams = [];
}
const fam = (n) => fams.find((f) => f.name === n);
const sample = (n, labels) => {
  const f = fam(n);
  if (!f) return undefined;
  return f.metrics.find((m) => JSON.stringify(m.labels || {}) === JSON.stringify(labels || {}));
};
const types = {
  parley_turns_total: 'COUNTER', parley_turn_duration_seconds: 'HISTOGRAM',
  parley_model_latency_seconds: 'HISTOGRAM', parley_tool_duration_seconds: 'HISTOGRAM',
  parley_actions_total: 'COUNTER', parley_errors_total: 'COUNTER', parley_tokens_total: 'COUNTER',
  parley_conversation_duration_seconds: 'HISTOGRAM', parley_queue_depth: 'GAUGE',
  parley_dlq_depth: 'GAUGE', parley_http_requests_total: 'COUNTER', parley_error_rate: 'GAUGE',
};
for (const [n, t] of Object.entries(types)) {
  const f = fam(n);
  check(`${n} is a ${t} with help`, f && f.type === t && f.help.length > 0);
}
check('turns = 3', Number(sample('parley_turns_total').value) === 3);
check('error rate = 1/3', Math.abs(Number(sample('parley_error_rate').value) - 1 / 3) < 1e-12);
check('tokens in = 120', Number(sample('parley_tokens_total', { direction: 'in' }).value) === 120);
check('tokens out = 45', Number(sample('parley_tokens_total', { direction: 'out' }).value) === 45);
check('queue depth = 3', Number(sample('parley_queue_depth').value) === 3);
check('http /chat 200 = 2',
  Number(sample('parley_http_requests_total', { route: '/chat', status: '200' }).value) === 2);
check('actions ok = 1', Number(sample('parley_actions_total',
  { tool: 'create_support_ticket', status: 'ok' }).value) === 1);
const turn = fam('parley_turn_duration_seconds').metrics[0];
check('turn histogram count = 3', Number(turn.count) === 3);
check('turn histogram sum = 13', Number(turn.sum) === 13);
check('turn buckets cumulative: le 0.5 -> 1, le 1 -> 2, le 10 -> 2, le 30 -> 3, +Inf -> 3',
  Number(turn.buckets['0.5']) === 1 && Number(turn.buckets['1']) === 2 &&
  Number(turn.buckets['10']) === 2 && Number(turn.buckets['30']) === 3 &&
  Number(turn.buckets['+Inf']) === 3);
const conv = fam('parley_conversation_duration_seconds').metrics[0];
check('conversation 95 s lands in le 120', Number(conv.buckets['60']) === 0 &&
  Number(conv.buckets['120']) === 1);
const esc = fam('parley_test_escapes_total');
check('help unescapes to the original', esc && esc.help === 'Help with a back\\slash and a\nnew line.');
check('label value unescapes to the original',
  esc && esc.metrics[0].labels.v === 'quote" slash\\ newline\n end' &&
  Number(esc.metrics[0].value) === 7);
let failed = 0;
for (const [n, ok] of results) {
  console.log(`${ok ? 'ok' : 'not ok'} - ${n}`);
  if (!ok) failed++;
}
process.exit(failed ? 1 : 0);
