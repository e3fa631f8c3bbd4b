// stub.js - a model stand-in for bench/concurrency: answers every POST in the shape of the
// Anthropic Messages API after STUB_LATENCY_MS (default 2000), as JSON or, when the request asks
// for "stream": true, as its SSE events. Listens on 127.0.0.1:STUB_PORT (0: a free port) and
// prints "port N" once listening. With STUB_TLS_CERT and STUB_TLS_KEY (PEM files) it speaks HTTPS
// instead, HTTP/2 or HTTP/1.1 as ALPN chooses (a model provider's endpoint does the same). Node's
// own http and http2 modules: no dependency.
'use strict';
const fs = require('fs');
const http = require('http');
const http2 = require('http2');
const latency = parseInt(process.env.STUB_LATENCY_MS || '2000', 10);
const text = 'Thanks for reaching out. I can help with that.';
const message = {
  id: 'msg_bench', type: 'message', role: 'assistant', model: 'stub',
  content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null,
  usage: { input_tokens: 50, output_tokens: 12 },
};
function sse(res) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const ev = (name, data) => res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  ev('message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null } });
  ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
  ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });
  ev('content_block_stop', { type: 'content_block_stop', index: 0 });
  ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 12 } });
  ev('message_stop', { type: 'message_stop' });
  res.end();
}
const tls = process.env.STUB_TLS_CERT && process.env.STUB_TLS_KEY;
function answer(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let stream = (req.headers.accept || '').includes('text/event-stream');
    try { stream = stream || JSON.parse(Buffer.concat(chunks).toString()).stream === true; } catch (e) { /* plain */ }
    setTimeout(() => {
      if (stream) return sse(res);
      const body = JSON.stringify(message);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }, latency);
  });
}
const server = tls
  ? http2.createSecureServer({
    cert: fs.readFileSync(process.env.STUB_TLS_CERT),
    key: fs.readFileSync(process.env.STUB_TLS_KEY),
    allowHTTP1: true,
  }, answer)
  : http.createServer(answer);
server.keepAliveTimeout = 60000;
server.maxConnections = 100000;
server.listen(parseInt(process.env.STUB_PORT || '0', 10), '127.0.0.1', () => {
  console.log(`port ${server.address().port}`);
});
