// check-template.js - checks deploy/template.yaml offline and prints one "ok"/"not ok" line per
// check plus the "# N passed, M failed" summary:
//   - it parses as YAML with the CloudFormation short-form tags (!Ref, !GetAtt, !Sub, ...);
//   - every Ref / GetAtt / Sub variable / Condition names a parameter, resource, condition or
//     pseudo parameter, and every GetAtt attribute exists on the resource type;
//   - every resource type and property (recursively, with required properties) validates against
//     the CloudFormation + SAM resource specification of @aws-cdk/aws-service-spec;
//   - every function's Handler is in the bootstrap's handler table (src/runtime/lambda_handlers.c);
//   - the state machine's DefinitionSubstitutions cover exactly the ASL's ${...} placeholders,
//     each pointing at a function's Arn, and the substituted ASL passes asl-validator.
// Usage: node check-template.js [template] (paths default to the repository's).
'use strict';
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const { loadAwsServiceSpecSync } = require('@aws-cdk/aws-service-spec');

const root = path.resolve(__dirname, '..', '..');
const templatePath = process.argv[2] || path.join(root, 'deploy', 'template.yaml');
let passed = 0;
let failed = 0;
function record(name, problems) {
  if (problems.length === 0) {
    passed++;
    console.log('ok - ' + name);
  } else {
    failed++;
    console.log('not ok - ' + name);
    for (const p of problems.slice(0, 40)) console.log('#   ' + p);
  }
}

// ---------------------------------------------------------------- YAML with CloudFormation tags

function fnTag(tag, fn, kind, transform) {
  return {
    tag: '!' + tag,
    collection: kind === 'scalar' ? undefined : kind,
    resolve(value) {
      const v = value && typeof value.toJSON === 'function' ? value.toJSON() : value;
      return { [fn]: transform ? transform(v) : v };
    },
  };
}
const tags = [];
for (const [tag, fn] of [['Ref', 'Ref'], ['Condition', 'Condition'], ['GetAtt', 'Fn::GetAtt'],
  ['Sub', 'Fn::Sub'], ['Join', 'Fn::Join'], ['Select', 'Fn::Select'], ['Split', 'Fn::Split'],
  ['If', 'Fn::If'], ['Not', 'Fn::Not'], ['Equals', 'Fn::Equals'], ['And', 'Fn::And'],
  ['Or', 'Fn::Or'], ['FindInMap', 'Fn::FindInMap'], ['GetAZs', 'Fn::GetAZs'],
  ['ImportValue', 'Fn::ImportValue'], ['Base64', 'Fn::Base64'], ['Cidr', 'Fn::Cidr']]) {
  const split = tag === 'GetAtt' ? (v) => (typeof v === 'string' ? v.split(/\.(.*)/s).slice(0, 2) : v)
    : undefined;
  tags.push(fnTag(tag, fn, 'scalar', split));
  tags.push(fnTag(tag, fn, 'seq'));
  tags.push(fnTag(tag, fn, 'map'));
}

let doc;
try {
  const text = fs.readFileSync(templatePath, 'utf8');
  const parsed = YAML.parseDocument(text, { customTags: tags, prettyErrors: true });
  if (parsed.errors.length) throw new Error(parsed.errors.map((e) => e.message).join('; '));
  doc = parsed.toJS({ maxAliasCount: 100 });
  record('template parses (YAML with CloudFormation tags)',
    doc && doc.Resources ? [] : ['no Resources section']);
} catch (e) {
  record('template parses (YAML with CloudFormation tags)', [String(e.message || e)]);
  console.log(`# ${passed} passed, ${failed} failed`);
  process.exit(1);
}

const resources = doc.Resources || {};
const parameters = doc.Parameters || {};
const conditions = doc.Conditions || {};
const pseudo = new Set(['AWS::AccountId', 'AWS::NotificationARNs', 'AWS::NoValue', 'AWS::Partition',
  'AWS::Region', 'AWS::StackId', 'AWS::StackName', 'AWS::URLSuffix']);

// ---------------------------------------------------------------- the specification

const db = loadAwsServiceSpecSync();
function resourceSpec(type) {
  const r = db.lookup('resource', 'cloudFormationType', 'equals', type);
  return r.length === 1 ? r.only() : null;
}
// SAM resources expose the attributes of what they generate.
const samGenerates = {
  'AWS::Serverless::Function': 'AWS::Lambda::Function',
  'AWS::Serverless::StateMachine': 'AWS::StepFunctions::StateMachine',
  'AWS::Serverless::Api': 'AWS::ApiGateway::RestApi',
  'AWS::Serverless::SimpleTable': 'AWS::DynamoDB::Table',
};
function hasAttribute(type, attr) {
  const spec = resourceSpec(samGenerates[type] || type);
  if (!spec) return false;
  if (type === 'AWS::Serverless::Api' && attr === 'RootResourceId') return true;
  return Object.prototype.hasOwnProperty.call(spec.attributes || {}, attr);
}

// ---------------------------------------------------------------- references

function walk(node, visit, where) {
  if (Array.isArray(node)) node.forEach((x, i) => walk(x, visit, `${where}[${i}]`));
  else if (node && typeof node === 'object') {
    visit(node, where);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${where}.${k}`);
  }
}

function subVariables(str) {
  const out = [];
  const re = /\$\{([^}]*)\}/g;
  let m;
  while ((m = re.exec(str))) if (!m[1].startsWith('!')) out.push(m[1].trim());
  return out;
}

{
  const problems = [];
  // SAM's generated resources of an API are referenced as <Api>.Stage and <Api>.Deployment.
  const samRef = (name) => /^(.+)\.(Stage|Deployment)$/.test(name) &&
    (resources[name.replace(/\.(Stage|Deployment)$/, '')] || {}).Type === 'AWS::Serverless::Api';
  const known = (name) => pseudo.has(name) || name in parameters || name in resources || samRef(name);
  walk(doc, (node, where) => {
    if ('Ref' in node && Object.keys(node).length === 1) {
      if (typeof node.Ref !== 'string' || !known(node.Ref))
        problems.push(`${where}: !Ref ${JSON.stringify(node.Ref)} names nothing defined`);
    }
    if ('Fn::GetAtt' in node) {
      const [res, attr] = Array.isArray(node['Fn::GetAtt']) ? node['Fn::GetAtt'] : [];
      if (!(res in resources)) problems.push(`${where}: !GetAtt names unknown resource ${res}`);
      else if (!hasAttribute(resources[res].Type, attr))
        problems.push(`${where}: ${resources[res].Type} has no attribute ${attr}`);
    }
    if ('Fn::Sub' in node) {
      const v = node['Fn::Sub'];
      const str = Array.isArray(v) ? v[0] : v;
      const locals = Array.isArray(v) && v[1] ? Object.keys(v[1]) : [];
      if (typeof str !== 'string') problems.push(`${where}: !Sub needs a string`);
      else for (const name of subVariables(str)) {
        if (locals.includes(name)) continue;
        const [res, attr] = name.split(/\.(.*)/s);
        if (attr !== undefined && name.indexOf('::') < 0) {
          if (!(res in resources)) problems.push(`${where}: \${${name}} names unknown resource`);
          else if (!hasAttribute(resources[res].Type, attr))
            problems.push(`${where}: ${resources[res].Type} has no attribute ${attr}`);
        } else if (!known(name)) problems.push(`${where}: \${${name}} names nothing defined`);
      }
    }
    if ('Condition' in node && typeof node.Condition === 'string' && Object.keys(node).length === 1 &&
      !(node.Condition in conditions))
      problems.push(`${where}: condition ${node.Condition} is not defined`);
  }, 'template');
  for (const [name, r] of Object.entries(resources)) {
    if (r.Condition && !(r.Condition in conditions))
      problems.push(`${name}: condition ${r.Condition} is not defined`);
    for (const dep of [].concat(r.DependsOn || []))
      if (!(dep in resources)) problems.push(`${name}: DependsOn unknown ${dep}`);
  }
  record('every !Ref, !GetAtt, !Sub variable and Condition names something defined', problems);
}

// ---------------------------------------------------------------- specification check

function isIntrinsic(v) {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::') || keys[0] === 'Condition');
}

// Returns a list of problems of value against spec type t.
function check(value, t, where, depth) {
  if (depth > 30) return [];
  if (isIntrinsic(value)) return [];
  switch (t.type) {
    case 'json': return [];
    case 'string': case 'date-time':
      return ['string', 'number', 'boolean'].includes(typeof value) ? [] : [`${where}: expected a string`];
    case 'number': case 'integer':
      return typeof value === 'number' || (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) ? []
        : [`${where}: expected a number`];
    case 'boolean':
      return typeof value === 'boolean' || value === 'true' || value === 'false' ? []
        : [`${where}: expected a boolean`];
    case 'array':
      if (!Array.isArray(value)) return [`${where}: expected a list`];
      return value.flatMap((x, i) => check(x, t.element, `${where}[${i}]`, depth + 1));
    case 'map':
      if (!value || typeof value !== 'object' || Array.isArray(value)) return [`${where}: expected a map`];
      return Object.entries(value).flatMap(([k, x]) => check(x, t.element, `${where}.${k}`, depth + 1));
    case 'tag':
      return value && typeof value === 'object' && 'Key' in value ? [] : [`${where}: expected a tag`];
    case 'union': {
      const results = t.types.map((alt) => check(value, alt, where, depth + 1));
      if (results.some((r) => r.length === 0)) return [];
      // Report the alternative of the value's own shape (a list for a list, ...), else the closest.
      const shape = (alt) => (alt.type === 'array' ? Array.isArray(value)
        : alt.type === 'ref' || alt.type === 'map' ? value && typeof value === 'object' && !Array.isArray(value)
          : typeof value !== 'object');
      const same = t.types.map((alt, i) => (shape(alt) ? results[i] : null)).filter((r) => r);
      const pool = same.length ? same : results;
      return pool.reduce((a, b) => (b.length < a.length ? b : a));
    }
    case 'ref': {
      const def = db.get('typeDefinition', t.reference.$ref);
      return checkObject(value, def.properties, where, depth + 1, def.name);
    }
    case 'null': return value === null ? [] : [`${where}: expected null`];
    default: return [];
  }
}

// Properties SAM documents that the package's (older) SAM specification lacks, by definition name.
// Each entry is checked by hand against the AWS SAM documentation of the event source.
const samSpecGaps = {
  SQSEvent: { FunctionResponseTypes: { type: { type: 'array', element: { type: 'string' } } } },
};

function checkObject(value, props, where, depth, defName) {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [`${where}: expected an object`];
  const problems = [];
  const extra = samSpecGaps[defName] || {};
  for (const [k, v] of Object.entries(value)) {
    if (!props[k] && extra[k]) problems.push(...check(v, extra[k].type, `${where}.${k}`, depth));
    else if (!props[k]) problems.push(`${where}: unknown property ${k}`);
    else problems.push(...check(v, props[k].type, `${where}.${k}`, depth));
  }
  for (const [k, p] of Object.entries(props))
    if (p.required && !(k in value)) problems.push(`${where}: missing required property ${k}`);
  return problems;
}

{
  const problems = [];
  const globals = (doc.Globals && doc.Globals.Function) || {};
  for (const [name, r] of Object.entries(resources)) {
    const spec = resourceSpec(r.Type);
    if (!spec) { problems.push(`${name}: unknown resource type ${r.Type}`); continue; }
    let props = r.Properties || {};
    if (r.Type === 'AWS::Serverless::Function') props = Object.assign({}, globals, props);
    problems.push(...checkObject(props, spec.properties, name, 0));
    for (const k of Object.keys(r))
      if (!['Type', 'Properties', 'Metadata', 'DependsOn', 'Condition', 'DeletionPolicy',
        'UpdateReplacePolicy', 'UpdatePolicy', 'CreationPolicy'].includes(k))
        problems.push(`${name}: unknown resource attribute ${k}`);
  }
  record(`${Object.keys(resources).length} resources validate against the CloudFormation/SAM specification`,
    problems);
}

// ---------------------------------------------------------------- functions and handlers

const functions = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Serverless::Function');
{
  const table = fs.readFileSync(path.join(root, 'src', 'runtime', 'lambda_handlers.c'), 'utf8');
  const start = table.indexOf('lambda_parley_handlers[] = {');
  const names = new Set();
  const re = /\{"([A-Za-z]+)",\s*h_[a-z_]+\}/g;
  let m;
  const body = start >= 0 ? table.slice(start, table.indexOf('};', start)) : '';
  while ((m = re.exec(body))) names.add(m[1]);
  const problems = [];
  if (names.size === 0) problems.push('no handler table found in src/runtime/lambda_handlers.c');
  for (const [name, r] of functions) {
    const p = r.Properties || {};
    if (!names.has(p.Handler)) problems.push(`${name}: handler ${p.Handler} is not in the bootstrap's table`);
    if (!r.Metadata || r.Metadata.BuildMethod !== 'makefile') problems.push(`${name}: BuildMethod is not makefile`);
  }
  const runtime = (doc.Globals.Function || {}).Runtime;
  if (runtime !== 'provided.al2023') problems.push(`runtime is ${runtime}, not provided.al2023`);
  if ((doc.Globals.Function || {}).Tracing !== 'Active') problems.push('tracing is not Active');
  for (const seed of ['RequestHandler', 'LoadContext', 'BedrockInference', 'ActionExecutor',
    'ActionWorker', 'SaveConversation', 'Analytics'])
    if (!functions.some(([, r]) => (r.Properties || {}).Handler === seed))
      problems.push(`no function runs the seed's ${seed}`);
  record(`${functions.length} functions: handlers exist in the build, makefile builds, provided.al2023, tracing`,
    problems);
}

// ---------------------------------------------------------------- the state machine

{
  const problems = [];
  const machines = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Serverless::StateMachine');
  if (machines.length !== 1) problems.push(`expected one state machine, found ${machines.length}`);
  for (const [name, r] of machines) {
    const p = r.Properties || {};
    if (p.Type !== 'EXPRESS') problems.push(`${name}: Type is not EXPRESS`);
    if (!p.Logging || !p.Logging.Destinations) problems.push(`${name}: no logging`);
    const aslPath = path.resolve(path.dirname(templatePath), p.DefinitionUri || '');
    let asl;
    try { asl = fs.readFileSync(aslPath, 'utf8'); } catch (e) { problems.push(`${name}: cannot read ${aslPath}`); continue; }
    const placeholders = new Set(subVariables(asl));
    const subs = p.DefinitionSubstitutions || {};
    for (const ph of placeholders) if (!(ph in subs)) problems.push(`${name}: placeholder \${${ph}} has no substitution`);
    for (const [k, v] of Object.entries(subs)) {
      if (!placeholders.has(k)) problems.push(`${name}: substitution ${k} is not used by the ASL`);
      const ga = v && v['Fn::GetAtt'];
      if (!ga || ga[1] !== 'Arn' || !resources[ga[0]] || resources[ga[0]].Type !== 'AWS::Serverless::Function')
        problems.push(`${name}: ${k} is not a function's Arn`);
      const fn = ga && resources[ga[0]];
      const want = k.replace(/FunctionArn$/, '');
      if (fn && (fn.Properties || {}).Handler !== want)
        problems.push(`${name}: ${k} points at a function whose handler is ${(fn.Properties || {}).Handler}`);
      const invoke = (p.Policies || []).some((x) => x.LambdaInvokePolicy &&
        x.LambdaInvokePolicy.FunctionName && x.LambdaInvokePolicy.FunctionName.Ref === (ga && ga[0]));
      if (!invoke) problems.push(`${name}: no LambdaInvokePolicy for ${ga && ga[0]}`);
    }
    // Substitute placeholders with well-formed ARNs and run asl-validator.
    const filled = asl.replace(/\$\{([^}]*)\}/g, (_, n) =>
      `arn:aws:lambda:us-east-1:123456789012:function:${n.replace(/Arn$/, '')}`);
    try {
      const validator = require('asl-validator');
      const fn = validator.default || validator;
      const res = fn(JSON.parse(filled));
      const out = res && typeof res.then === 'function' ? null : res;
      if (out && !out.isValid) problems.push(...out.errors.map((e) => `asl-validator: ${e.message || JSON.stringify(e)}`));
      if (!out) problems.push('asl-validator returned a promise; update this check');
    } catch (e) {
      problems.push(`asl-validator failed: ${e.message}`);
    }
  }
  record('state machine: EXPRESS, logging, substitutions cover every placeholder, ASL passes asl-validator',
    problems);
}

// ---------------------------------------------------------------- issue 6's production shape

{
  const problems = [];
  const byType = (t) => Object.entries(resources).filter(([, r]) => r.Type === t);
  for (const [name, r] of byType('AWS::DynamoDB::Table')) {
    const p = r.Properties;
    if (p.BillingMode !== 'PAY_PER_REQUEST') problems.push(`${name}: not on demand`);
    if (!p.TimeToLiveSpecification || !p.TimeToLiveSpecification.Enabled) problems.push(`${name}: no TTL`);
    if (!p.PointInTimeRecoverySpecification || !p.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled)
      problems.push(`${name}: no point-in-time recovery`);
  }
  const conv = byType('AWS::DynamoDB::Table').find(([, r]) =>
    JSON.stringify(r.Properties.KeySchema) === JSON.stringify([{ AttributeName: 'sessionId', KeyType: 'HASH' },
      { AttributeName: 'timestamp', KeyType: 'RANGE' }]));
  if (!conv) problems.push('no Conversations table keyed sessionId + timestamp');
  const queues = byType('AWS::SQS::Queue');
  const main = queues.find(([, r]) => r.Properties.RedrivePolicy);
  if (!main || main[1].Properties.RedrivePolicy.maxReceiveCount !== 3) problems.push('AgentActions queue has no DLQ with maxReceiveCount 3');
  const worker = functions.find(([, r]) => r.Properties.Handler === 'ActionWorker');
  const sqsEvent = worker && Object.values(worker[1].Properties.Events || {}).find((e) => e.Type === 'SQS');
  if (!sqsEvent || !(sqsEvent.Properties.FunctionResponseTypes || []).includes('ReportBatchItemFailures'))
    problems.push('ActionWorker has no SQS event source with ReportBatchItemFailures');
  const bucket = byType('AWS::S3::Bucket')[0];
  const bp = bucket && bucket[1].Properties;
  if (!bp || !bp.BucketName || !JSON.stringify(bp.BucketName).includes('conversation-logs-${AWS::AccountId}'))
    problems.push('logs bucket is not conversation-logs-{account-id}');
  if (!bp || !bp.BucketEncryption) problems.push('logs bucket is not encrypted');
  const pab = bp && bp.PublicAccessBlockConfiguration;
  if (!pab || !pab.BlockPublicAcls || !pab.BlockPublicPolicy || !pab.IgnorePublicAcls || !pab.RestrictPublicBuckets)
    problems.push('logs bucket does not block public access');
  const glacier = bp && (bp.LifecycleConfiguration || {}).Rules || [];
  if (!glacier.some((r) => (r.Transitions || []).some((t) => t.StorageClass === 'GLACIER' && t.TransitionInDays === 90)))
    problems.push('logs bucket has no GLACIER transition at 90 days');
  if (byType('AWS::Events::EventBus').length !== 1) problems.push('no custom event bus');
  const rules = byType('AWS::Events::Rule');
  const targetsOf = (pred) => rules.some(([, r]) => (r.Properties.Targets || []).some(pred));
  if (!targetsOf((t) => t.Arn && t.Arn['Fn::GetAtt'] && resources[t.Arn['Fn::GetAtt'][0]].Type === 'AWS::Logs::LogGroup'))
    problems.push('no rule targets a CloudWatch log group');
  if (!targetsOf((t) => t.Arn && t.Arn['Fn::GetAtt'] && resources[t.Arn['Fn::GetAtt'][0]].Properties.Handler === 'Analytics'))
    problems.push('no rule targets the Analytics function');
  const snsRule = rules.find(([, r]) => (r.Properties.Targets || []).some((t) => t.Arn && t.Arn.Ref &&
    resources[t.Arn.Ref].Type === 'AWS::SNS::Topic'));
  if (!snsRule || !JSON.stringify(snsRule[1].Properties.EventPattern).includes('error_occurred'))
    problems.push('no rule sends error_occurred to an SNS topic');
  if (byType('AWS::CloudWatch::Dashboard').length < 1) problems.push('no dashboard');
  const alarms = byType('AWS::CloudWatch::Alarm').map(([, r]) => JSON.stringify(r.Properties));
  if (!alarms.some((a) => a.includes('5XXError') || a.includes('ExecutionsFailed'))) problems.push('no error-rate alarm');
  if (!alarms.some((a) => a.includes('ApproximateNumberOfMessagesVisible'))) problems.push('no DLQ depth alarm');
  if (!alarms.some((a) => a.includes('"ExtendedStatistic":"p99"'))) problems.push('no p99 latency alarm');
  const api = byType('AWS::Serverless::Api')[0];
  const ap = api && api[1].Properties;
  if (!ap || !(ap.MethodSettings || []).some((m) => m.ThrottlingRateLimit !== undefined))
    problems.push('API has no stage throttling');
  const usage = byType('AWS::ApiGateway::UsagePlan')[0];
  if (!usage || !usage[1].Properties.Throttle || usage[1].Properties.Throttle.RateLimit === undefined)
    problems.push('no usage plan with throttling');
  // The request model is in the inline OpenAPI document, validated by API Gateway.
  const doc = ap && ap.DefinitionBody;
  const post = doc && doc.paths && doc.paths['/chat'] && doc.paths['/chat'].post;
  const validator = post && doc['x-amazon-apigateway-request-validators'] &&
    doc['x-amazon-apigateway-request-validators'][post['x-amazon-apigateway-request-validator']];
  const ref = post && post.requestBody && post.requestBody.content &&
    post.requestBody.content['application/json'] && post.requestBody.content['application/json'].schema &&
    post.requestBody.content['application/json'].schema.$ref;
  const schema = ref && doc.components && doc.components.schemas &&
    doc.components.schemas[ref.replace('#/components/schemas/', '')];
  if (!validator || !validator.validateRequestBody || !schema || !(schema.required || []).includes('message'))
    problems.push('POST /chat has no validated request model in the DefinitionBody');
  const rh = functions.find(([, r]) => r.Properties.Handler === 'RequestHandler');
  const chat = rh && Object.values(rh[1].Properties.Events || {}).find((e) => e.Type === 'Api');
  if (!chat || chat.Properties.Path !== '/chat' || chat.Properties.Method.toLowerCase() !== 'post')
    problems.push('RequestHandler is not POST /chat');
  record('production shape: tables, queue + DLQ, bucket, bus and rules, API validation, alarms, dashboard', problems);
}

console.log(`# ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
