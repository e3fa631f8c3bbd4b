#!/usr/bin/env node
// tls_server.mjs CERT KEY h2|h1 DELAY_MS - an HTTPS server on 127.0.0.1 built on node's own
// http2 and https modules, for tests/unit/test_http_client_h2.c: with h2 it speaks HTTP/2 and
// HTTP/1.1 (ALPN chooses, as a model provider's endpoint does), with h1 HTTP/1.1 only. Every
// request is answered 200 "ok" after DELAY_MS. A second, plain HTTP listener answers GET /stats
// with what the TLS one saw since the last POST /reset: {"connections" (TLS connections
// accepted), "requests", "http1" (requests over HTTP/1.1), "maxOpen" (the most requests open at
// once)}. Prints "port N stats M" once both listen.
import { readFileSync } from 'node:fs';
import { createServer as createPlain } from 'node:http';
import { createServer as createH1 } from 'node:https';
import { createSecureServer } from 'node:http2';

const [certFile, keyFile, mode, delayArg] = process.argv.slice(2);
if (!certFile || !keyFile || (mode !== 'h2' && mode !== 'h1')) {
    console.error('usage: tls_server.mjs CERT KEY h2|h1 DELAY_MS');
    process.exit(2);
}
const delay = Number(delayArg || 0);
const tls = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
let stats = { connections: 0, requests: 0, http1: 0, maxOpen: 0 };
let open = 0;

function answer(req, res) {
    stats.requests += 1;
    if (req.httpVersionMajor === 1) stats.http1 += 1;
    open += 1;
    stats.maxOpen = Math.max(stats.maxOpen, open);
    req.resume();
    req.on('end', () => {
        setTimeout(() => {
            open -= 1;
            res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
            res.end('ok');
        }, delay);
    });
}

const server = mode === 'h2'
    ? createSecureServer({ ...tls, allowHTTP1: true }, answer)
    : createH1(tls, answer);
if (mode === 'h1') server.keepAliveTimeout = 60000;
server.on('secureConnection', () => { stats.connections += 1; });

const control = createPlain((req, res) => {
    if (req.method === 'POST' && req.url === '/reset') {
        stats = { connections: 0, requests: 0, http1: 0, maxOpen: 0 };
        res.writeHead(204);
        res.end();
    } else if (req.method === 'GET' && req.url === '/stats') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(stats));
    } else {
        res.writeHead(404);
        res.end();
    }
});

server.listen(0, '127.0.0.1', () => {
    control.listen(0, '127.0.0.1', () => {
        console.log(`port ${server.address().port} stats ${control.address().port}`);
    });
});
