// server.test.mjs - how parley serves the pages: the three page routes and the static files
// answer with the right Content-Type and the strict Content-Security-Policy, and nothing outside
// web/ is reachable through /static/.
import { ok, apiCall } from './harness.mjs';

const CSP = ["default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"];

export const tests = [
    ['server: pages and static files with the CSP', async () => {
        const cases = [['/', /^text\/html/], ['/console', /^text\/html/], ['/static/chat.js', /javascript/],
            ['/static/console.js', /javascript/], ['/static/chat.css', /^text\/css/], ['/static/icon.svg', /^image\/svg\+xml/]];
        for (const [p, type] of cases) {
            const r = await apiCall(p);
            ok(r.status === 200, `GET ${p} answers 200`, r.status);
            ok(type.test(r.headers.get('content-type') || ''), `GET ${p} has the right Content-Type`, r.headers.get('content-type'));
            const csp = (r.headers.get('content-security-policy') || '').split(';').map((x) => x.trim().replace(/\s+/g, ' '));
            const missing = CSP.filter((d) => !csp.includes(d));
            ok(missing.length === 0, `GET ${p} sends the strict CSP`, `missing: ${missing.join(', ')}`);
        }
        for (const p of ['/static/../Makefile', '/static/%2e%2e/Makefile', '/static/nope.js']) {
            const r = await apiCall(p);
            ok(r.status === 404 || r.status === 400, `GET ${p} is refused`, r.status);
        }
    }],
];
