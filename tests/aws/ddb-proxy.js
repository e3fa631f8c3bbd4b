// ddb-proxy.js - dynalite (the DynamoDB emulator) on 127.0.0.1, behind a small proxy that adds
// the TransactWriteItems and UpdateTimeToLive operations dynalite lacks.
//
// Usage: node ddb-proxy.js [--plain] -> prints "PORT <n>" once both listen; stops on
// SIGTERM/SIGINT or when its parent process is gone. With --plain every DynamoDB call goes to
// dynalite as it is (TransactWriteItems and UpdateTimeToLive answer UnknownOperationException
// without a message, as plain dynalite does).
// Test hooks (not DynamoDB): GET /__calls answers the operations called so far, in order, as
// [{"op":"PutItem","body":{...}}]; POST /__fail?op=X&type=Y makes the next call of X answer
// 400 {"__type":"...#Y"} with no message. Every request goes through one queue, so a transaction's writes are never seen
// half done. A transaction snapshots each item (GetItem), applies each write with its own
// condition through dynalite, and on the first failure restores the snapshots and answers
// TransactionCanceledException with CancellationReasons, one per item, as DynamoDB documents.
// ConditionCheck items are not supported (Parley does not use them).
'use strict';
const http = require('http');
const dynalite = require('dynalite');

const AUTH = {
  'Content-Type': 'application/x-amz-json-1.0',
  Authorization: 'AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/dynamodb/aws4_request, ' +
    'SignedHeaders=host, Signature=0',
  'X-Amz-Date': '20200101T000000Z',
};

let backendPort = 0;
const plain = process.argv.includes('--plain');
const calls = [];
const failNext = new Map();

function send(target, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: backendPort, method: 'POST', path: '/',
      headers: Object.assign({}, headers, { 'X-Amz-Target': target,
        'Content-Length': Buffer.byteLength(body) }) }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function call(op, payload) {
  const r = await send('DynamoDB_20120810.' + op, AUTH, JSON.stringify(payload));
  let doc = {};
  try { doc = JSON.parse(r.body.toString() || '{}'); } catch (e) { doc = {}; }
  return { status: r.status, doc };
}

const schemas = new Map();
async function keyNames(table) {
  if (!schemas.has(table)) {
    const r = await call('DescribeTable', { TableName: table });
    if (r.status !== 200) return null;
    schemas.set(table, r.doc.Table.KeySchema.map((k) => k.AttributeName));
  }
  return schemas.get(table);
}

function failure(status, type, message, extra) {
  return { status, doc: Object.assign({ __type: 'com.amazonaws.dynamodb.v20120810#' + type,
    message }, extra || {}) };
}

const OPS = { Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem' };

async function transact(body) {
  const items = body.TransactItems;
  if (!Array.isArray(items) || items.length < 1 || items.length > 100)
    return failure(400, 'ValidationException', 'TransactItems must hold 1 to 100 items');
  const ops = [];
  const seen = new Set();
  for (const it of items) {
    const kinds = Object.keys(it);
    if (kinds.length !== 1 || !OPS[kinds[0]])
      return failure(400, 'ValidationException', 'unsupported transaction item ' + kinds.join());
    const op = Object.assign({}, it[kinds[0]]);
    delete op.ReturnValuesOnConditionCheckFailure;
    const names = await keyNames(op.TableName);
    if (!names) return failure(400, 'ResourceNotFoundException', 'Requested resource not found');
    const src = kinds[0] === 'Put' ? op.Item : op.Key;
    const key = {};
    for (const n of names) {
      if (!src || !src[n]) return failure(400, 'ValidationException', 'missing key ' + n);
      key[n] = src[n];
    }
    const id = op.TableName + '\u0000' + JSON.stringify(key);
    if (seen.has(id))
      return failure(400, 'ValidationException',
        'Transaction request cannot include multiple operations on one item');
    seen.add(id);
    ops.push({ name: OPS[kinds[0]], op, key });
  }
  for (const o of ops) {
    const r = await call('GetItem', { TableName: o.op.TableName, Key: o.key, ConsistentRead: true });
    if (r.status !== 200) return r;
    o.before = r.doc.Item || null;
  }
  const reasons = ops.map(() => ({ Code: 'None' }));
  for (let i = 0; i < ops.length; i++) {
    const r = await call(ops[i].name, ops[i].op);
    if (r.status === 200) continue;
    for (let j = i - 1; j >= 0; j--) {
      const o = ops[j];
      if (o.before) await call('PutItem', { TableName: o.op.TableName, Item: o.before });
      else await call('DeleteItem', { TableName: o.op.TableName, Key: o.key });
    }
    if (!/ConditionalCheckFailed/.test(r.doc.__type || '')) return r;
    reasons[i] = { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed' };
    return failure(400, 'TransactionCanceledException', 'Transaction cancelled, please refer ' +
      'cancellation reasons for specific reasons [' + reasons.map((x) => x.Code).join(', ') + ']',
      { CancellationReasons: reasons });
  }
  return { status: 200, doc: {} };
}

let chain = Promise.resolve();
function serialize(fn) {
  const p = chain.then(fn, fn);
  chain = p.catch(() => {});
  return p;
}

const proxy = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => serialize(async () => {
    const body = Buffer.concat(chunks);
    const target = req.headers['x-amz-target'] || '';
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/__calls') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(calls));
      return;
    }
    if (url.pathname === '/__fail') {
      failNext.set(url.searchParams.get('op'), url.searchParams.get('type'));
      res.writeHead(204);
      res.end();
      return;
    }
    const op = target.replace(/^DynamoDB_20120810\./, '');
    let logged = null;
    try { logged = JSON.parse(body.toString() || '{}'); } catch (e) { logged = null; }
    calls.push({ op, body: logged });
    if (failNext.has(op)) {
      const type = failNext.get(op);
      failNext.delete(op);
      res.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#' + type }));
      return;
    }
    if (!plain && op === 'UpdateTimeToLive' && logged && logged.TimeToLiveSpecification) {
      res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify({ TimeToLiveSpecification: logged.TimeToLiveSpecification }));
      return;
    }
    if (!plain && target === 'DynamoDB_20120810.TransactWriteItems') {
      if (!req.headers.authorization) {
        res.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ __type: 'com.amazon.coral.service#MissingAuthenticationTokenException',
          message: 'Request is missing Authentication Token' }));
        return;
      }
      let doc;
      try { doc = JSON.parse(body.toString()); } catch (e) {
        res.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ __type: 'com.amazon.coral.service#SerializationException' }));
        return;
      }
      const r = await transact(doc);
      res.writeHead(r.status, { 'Content-Type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(r.doc));
      return;
    }
    const headers = {};
    for (const h of ['content-type', 'authorization', 'x-amz-date', 'x-amz-security-token'])
      if (req.headers[h]) headers[h] = req.headers[h];
    const r = await send(target, headers, body);
    const out = {};
    for (const h of ['content-type', 'x-amzn-requestid', 'x-amz-crc32'])
      if (r.headers[h]) out[h] = r.headers[h];
    res.writeHead(r.status, out);
    res.end(r.body);
  }).catch((e) => {
    res.writeHead(500, { 'Content-Type': 'application/x-amz-json-1.0' });
    res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
      message: String(e) }));
  }));
});

const backend = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
backend.listen(0, '127.0.0.1', () => {
  backendPort = backend.address().port;
  proxy.listen(0, '127.0.0.1', () => {
    process.stdout.write('PORT ' + proxy.address().port + '\n');
  });
});

function stop() {
  proxy.close();
  backend.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Never outlive the script that started us.
const parent = process.ppid;
setInterval(() => {
  try { process.kill(parent, 0); } catch (e) { stop(); }
}, 1000);
