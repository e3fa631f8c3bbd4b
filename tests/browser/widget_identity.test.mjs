// widget_identity.test.mjs - the widget for verified customers and for operator replies. Against
// the second server (PARLEY_JWT_URL, started with PARLEY_USER_JWT_SECRET): a host page with
// data-user-token sees its own order and gets it back after a reload; Parley.identify() switches
// customers (another customer cannot see the order) and a bad token shows the server's error.
// Against the main server: an operator's reply sent through the operator API appears in the
// widget without the customer typing (the widget polls during a handoff), once.
import crypto from 'node:crypto';
import http from 'node:http';
import { BASE, TOKEN, ok, newPage, shot, apiCall } from './harness.mjs';
import { widget, say } from './widget.test.mjs';

const PORT = Number(process.env.PARLEY_WIDGET_PORT);
const JWT_URL = process.env.PARLEY_JWT_URL;
const SECRET = process.env.PARLEY_JWT_SECRET;

// An HS256 customer token for sub, valid for ten minutes (what the site's backend would mint).
function mint(sub, secret = SECRET) {
    const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const input = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub, iat: now, exp: now + 600 })}`;
    return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// The host site: /verified embeds the widget of the JWT server with data-user-token (the token of
// ?sub=), /anonymous the same without it, /main the widget of the main server.
function startHost() {
    const page = (src, attrs) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Our shop</h1><script src="${src}/widget.js" ${attrs} defer></script></body></html>`;
    const server = http.createServer((req, res) => {
        const url = new URL(req.url, `http://127.0.0.1:${PORT}`);
        let html = null;
        if (url.pathname === '/verified') html = page(JWT_URL, `data-user-token="${mint(url.searchParams.get('sub'))}"`);
        else if (url.pathname === '/anonymous') html = page(JWT_URL, '');
        else if (url.pathname === '/main') html = page(BASE, '');
        // Anything else (the browser's /favicon.ico) is an empty answer, not an error to report.
        res.writeHead(html ? 200 : 204, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(html || '');
    });
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(PORT, '127.0.0.1', () => resolve(server));
    });
}

async function withHost(fn) {
    if (!PORT || !JWT_URL || !SECRET) throw new Error('PARLEY_WIDGET_PORT, PARLEY_JWT_URL or PARLEY_JWT_SECRET is not set');
    const host = await startHost();
    try {
        await fn();
    } finally {
        host.closeAllConnections();
        await new Promise((resolve) => host.close(resolve));
    }
}

// Opens a host page and the widget's panel once the widget is ready.
async function openWidget(page, path) {
    await page.goto(`http://127.0.0.1:${PORT}${path}`);
    await page.waitForSelector('#parley-widget[data-state="ready"]', { state: 'attached', timeout: 30000 });
    await widget(page).locator('.launcher').click();
}

const texts = (page) => widget(page).locator('li .bubble').allTextContents();

export const tests = [
    ['widget: data-user-token makes a verified customer who sees their own order', async () => {
        await withHost(async () => {
            const page = await newPage();
            await openWidget(page, '/verified?sub=demo');
            const sent = page.waitForRequest((r) => r.url() === `${JWT_URL}/chat` && r.method() === 'POST');
            const reply = await say(page, 'Where is my order 1042?');
            const auth = (await sent).headers().authorization || '';
            ok(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/.test(auth), 'the widget sends the token as Authorization: Bearer', auth.slice(0, 20));
            ok(/1042/.test(reply) && /shipped/i.test(reply), "the demo customer's order 1042 is found", reply);
            // The session belongs to the token's sub: after a reload the widget gets it back.
            await page.reload();
            await page.waitForSelector('#parley-widget[data-state="ready"]', { state: 'attached', timeout: 30000 });
            await widget(page).locator('.launcher').click();
            ok((await texts(page)).some((t) => /shipped/i.test(t)), 'after a reload the verified conversation is back', (await texts(page)).length);
            // Without the token the same session is not given out.
            const sid = await page.evaluate((k) => localStorage.getItem(k), `parley.widget.session:${JWT_URL}`);
            const anon = await fetch(`${JWT_URL}/sessions/${sid}`);
            ok(anon.status === 404, 'the session is not served without its token', anon.status);
            await shot(page, 'widget-verified');
        });
    }],

    ['widget: Parley.identify() switches customers and a bad token shows the error', async () => {
        await withHost(async () => {
            // A stale stored session of another customer is dropped (404) on load, and the bad
            // token's 401 is reported by the browser too.
            const page = await newPage({ allow: [/status of 40[14]/] });
            await openWidget(page, '/anonymous');
            await page.evaluate((t) => window.Parley.identify(t), mint('mallory'));
            const other = await say(page, 'Where is my order 1042?');
            ok(/couldn't find order 1042/i.test(other), "another customer does not see demo's order", other);
            await page.evaluate((t) => window.Parley.identify(t), mint('demo'));
            ok((await texts(page)).length === 0, 'a new customer starts a new conversation');
            const mine = await say(page, 'Where is my order 1042?');
            ok(/shipped/i.test(mine), 'after identify(demo) the order is found', mine);
            await shot(page, 'widget-identify');

            // A token the server does not accept (signed with another secret).
            await page.evaluate((t) => window.Parley.identify(t), mint('demo', 'not-the-secret'));
            await widget(page).getByLabel('Your message').fill('Where is my order 1042?');
            await widget(page).getByLabel('Your message').press('Enter');
            const alert = widget(page).getByRole('alert');
            await alert.waitFor({ timeout: 30000 });
            const said = (await alert.textContent()) || '';
            ok(/unavailable/i.test(said) && /signature/i.test(said), "the alert shows the server's reason", said);
            ok(await widget(page).locator('li.assistant').count() === 0, 'no reply is shown for a bad token');
            await shot(page, 'widget-bad-token');
        });
    }],

    ['widget: an operator reply reaches the widget during a handoff', async () => {
        await withHost(async () => {
            const page = await newPage();
            await openWidget(page, '/main');
            await say(page, 'I want to talk to a human');
            const sid = await page.evaluate((k) => localStorage.getItem(k), `parley.widget.session:${BASE}`);
            ok(/^[A-Za-z0-9_-]{10,64}$/.test(sid || ''), 'the widget kept the session id', sid);
            const sent = await apiCall(`/sessions/${sid}/messages`, { method: 'POST', token: TOKEN,
                body: { role: 'operator', content: 'Dana here, I have your conversation.', name: 'Dana' } });
            ok(sent.status === 201, 'the operator API stores the message', sent.status);
            const op = widget(page).locator('li.operator').filter({ hasText: 'Dana here' });
            await op.waitFor({ timeout: 30000 });
            ok(((await op.locator('.who').textContent()) || '') === 'Dana', 'the operator reply shows who answered');
            ok(await widget(page).locator('li.operator').count() === 1, 'it is shown once');
            // A second operator message arrives too, and a reload shows both once.
            await apiCall(`/sessions/${sid}/messages`, { method: 'POST', token: TOKEN,
                body: { role: 'operator', content: 'Your order is on its way.', name: 'Dana' } });
            await widget(page).locator('li.operator').nth(1).waitFor({ timeout: 30000 });
            await page.waitForTimeout(2500); // one more poll: nothing is added twice
            ok(await widget(page).locator('li.operator').count() === 2, 'polling adds each operator message once',
                await widget(page).locator('li.operator').count());
            await page.reload();
            await page.waitForSelector('#parley-widget[data-state="ready"]', { state: 'attached', timeout: 30000 });
            ok(await widget(page).locator('li.operator').count() === 2, 'after a reload both operator messages are back once');
            await shot(page, 'widget-operator-reply');
        });
    }],
];
