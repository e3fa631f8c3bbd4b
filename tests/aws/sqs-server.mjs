// sqs-server.mjs - fauxqs (SQS emulator, npm) on 127.0.0.1 with a random port; prints "PORT <n>".
// With --trace a small proxy stands in front of fauxqs and prints its port instead: it adds the
// AWSTraceHeader system attribute fauxqs ignores (kept from SendMessage's MessageSystemAttributes
// by MessageId, answered in ReceiveMessage's Attributes when AttributeNames or
// MessageSystemAttributeNames ask for it or for All, as SQS does) and answers GET /__calls with
// the JSON bodies of the calls so far ([{"op":"SendMessage","body":{...}}]).
// fauxqs listens on every interface by itself, so net.Server#listen is pinned to 127.0.0.1
// before it starts: the tests never open a port beyond the loopback. Stops on SIGTERM/SIGINT or
// when its parent process is gone.
import net from 'node:net';
import http from 'node:http';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args[0] && typeof args[0] === 'object' && !Array.isArray(args[0])) {
    args[0] = Object.assign({}, args[0], { host: '127.0.0.1' });
  } else if (typeof args[0] === 'number' || typeof args[0] === 'string') {
    if (typeof args[1] === 'string') args[1] = '127.0.0.1';
    else args.splice(1, 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};

const { startFauxqs } = await import('fauxqs');
const server = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
let port = server.port;
if (process.argv.includes('--trace')) port = await traceProxy(server.port);
process.stdout.write('PORT ' + port + '\n');

function traceProxy(backend) {
  const calls = [];
  const traces = new Map();
  const proxy = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/__calls') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(calls));
        return;
      }
      const body = Buffer.concat(chunks);
      const op = String(req.headers['x-amz-target'] || '').replace(/^AmazonSQS\./, '');
      let doc = null;
      try { doc = JSON.parse(body.toString() || '{}'); } catch (e) { doc = null; }
      calls.push({ op, body: doc });
      const headers = Object.assign({}, req.headers, { 'content-length': body.length });
      const up = http.request({ host: '127.0.0.1', port: backend, method: req.method,
        path: req.url, headers }, (r) => {
        const out = [];
        r.on('data', (c) => out.push(c));
        r.on('end', () => {
          let answer = Buffer.concat(out);
          try {
            const a = JSON.parse(answer.toString() || '{}');
            const th = doc && doc.MessageSystemAttributes && doc.MessageSystemAttributes.AWSTraceHeader;
            if (op === 'SendMessage' && r.statusCode === 200 && th) traces.set(a.MessageId, th.StringValue);
            const names = [].concat((doc && doc.AttributeNames) || [],
              (doc && doc.MessageSystemAttributeNames) || []);
            const wanted = names.includes('All') || names.includes('AWSTraceHeader');
            if (op === 'ReceiveMessage' && wanted && Array.isArray(a.Messages)) {
              for (const m of a.Messages) {
                if (!traces.has(m.MessageId)) continue;
                m.Attributes = Object.assign({}, m.Attributes, { AWSTraceHeader: traces.get(m.MessageId) });
              }
              answer = Buffer.from(JSON.stringify(a));
            }
          } catch (e) { /* not JSON: passed through as it is */ }
          const h = Object.assign({}, r.headers, { 'content-length': answer.length });
          res.writeHead(r.statusCode, h);
          res.end(answer);
        });
      });
      up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
      up.end(body);
    });
  });
  return new Promise((resolve) => proxy.listen(0, '127.0.0.1', () => resolve(proxy.address().port)));
}

async function stop() {
  try { await server.stop(); } finally { process.exit(0); }
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
const parent = process.ppid;
setInterval(() => {
  try { process.kill(parent, 0); } catch (e) { stop(); }
}, 1000);
