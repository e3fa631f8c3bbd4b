// crosscheck.js - signs every case of cases.jsonl with an independent SigV4 implementation
// from npm (@smithy/signature-v4, the signer of the AWS SDK for JavaScript v3, and aws4) and
// prints one line per case: name, signer, Authorization. Used by
// tests/scripts/test_sigv4_crosscheck.sh; never by the product.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const mods = path.join(__dirname, 'npm', 'node_modules');
const { SignatureV4 } = require(path.join(mods, '@smithy/signature-v4'));
const aws4 = require(path.join(mods, 'aws4'));

class Sha256 {
  constructor(secret) {
    this.h = secret ? crypto.createHmac('sha256', Buffer.from(secret)) : crypto.createHash('sha256');
  }
  update(d) { this.h.update(typeof d === 'string' ? Buffer.from(d) : Buffer.from(d)); }
  digest() { return Promise.resolve(new Uint8Array(this.h.digest())); }
}

function parseQuery(q) {
  const out = {};
  if (!q) return out;
  for (const kv of q.split('&')) {
    if (!kv) continue;
    const i = kv.indexOf('=');
    const k = decodeURIComponent(i < 0 ? kv : kv.slice(0, i));
    const v = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1));
    out[k] = v;
  }
  return out;
}

async function main() {
  const lines = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean);
  for (const line of lines) {
    const c = JSON.parse(line);
    const creds = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
    if (c.token) creds.sessionToken = c.token;
    const s3 = c.service === 's3';
    const headers = { host: c.host };
    for (const [n, v] of c.headers) headers[n] = v;
    if (s3) headers['x-amz-content-sha256'] = crypto.createHash('sha256').update(c.body).digest('hex');
    const signer = new SignatureV4({ credentials: creds, region: c.region, service: c.service, sha256: Sha256, uriEscapePath: !s3, applyChecksum: false });
    const [hostname, port] = c.host.split(':');
    const req = { method: c.method, protocol: 'https:', hostname, port: port ? Number(port) : undefined,
                  path: c.path, query: parseQuery(c.query), headers, body: c.body };
    const signed = await signer.sign(req, { signingDate: new Date(c.time) });
    console.log(`${c.name}\tsmithy\t${signed.headers.authorization}`);

    const amzDate = c.time.replace(/[-:]/g, '').replace(/\.\d+/, '');
    const h2 = { 'X-Amz-Date': amzDate };
    for (const [n, v] of c.headers) h2[n] = v;
    if (s3) h2['X-Amz-Content-Sha256'] = headers['x-amz-content-sha256'];
    const opts = { host: c.host, path: c.path + (c.query ? '?' + c.query : ''), method: c.method,
                   service: c.service, region: c.region, headers: h2, body: c.body };
    if (!s3) opts.doNotEncodePath = false;
    aws4.sign(opts, creds);
    console.log(`${c.name}\taws4\t${opts.headers.Authorization}`);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
