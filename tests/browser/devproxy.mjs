// devproxy.mjs - a development stand-in for parley's static file routes: serves web/ the way
// `parley serve` does (GET / -> index.html, /console -> console.html, /static/<file> -> web/<file>,
// with the production Content-Security-Policy) and forwards every other request to a running
// parley. Used by test_browser.sh only when PARLEY_WEB_PROXY=1 (before the server serves web/).
//   node devproxy.mjs UPSTREAM_URL   -> prints "listening on http://127.0.0.1:PORT"
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const upstream = new URL(process.argv[2] || 'http://127.0.0.1:8080');
const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

function staticFile(urlPath) {
    if (urlPath === '/') return 'index.html';
    if (urlPath === '/console') return 'console.html';
    const m = /^\/static\/([A-Za-z0-9_.-]+)$/.exec(urlPath);
    return m && !m[1].startsWith('.') ? m[1] : null;
}

const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const file = req.method === 'GET' ? staticFile(url.pathname) : null;
    if (file) {
        try {
            const body = await fs.readFile(path.join(webDir, file));
            res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
                'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' });
            res.end(body);
        } catch {
            res.writeHead(404, { 'Content-Type': 'application/json' });
            res.end('{"error":{"code":"NotFound","message":"no such file"}}');
        }
        return;
    }
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method,
        path: req.url, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode, ur.headers);
        ur.pipe(res);
    });
    up.on('error', (e) => {
        res.writeHead(502, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'BadGateway', message: e.message } }));
    });
    req.pipe(up);
});
server.listen(0, '127.0.0.1', () => {
    console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
