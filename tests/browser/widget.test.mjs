// widget.test.mjs - the embeddable widget on another site: a tiny static server (started here on
// $PARLEY_WIDGET_PORT) serves a host page with hostile CSS and the one-line script tag. From
// http://127.0.0.1:PORT (in PARLEY_ALLOWED_ORIGINS) the widget completes the seed's sample
// conversation with a streamed reply, keeps its session across a reload, opens and closes with the
// keyboard and fits a phone; from http://localhost:PORT (the same page, another origin) it shows
// its error state.
import http from 'node:http';
import { BASE, ok, newPage, shot, noSidewaysScroll } from './harness.mjs';

const PORT = Number(process.env.PARLEY_WIDGET_PORT);

// The host page: its own styles try to restyle every button, list and paragraph.
const HOST_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<style>
  * { color: rgb(255, 0, 0) !important; font-family: monospace !important; }
  button { background: rgb(0, 255, 0) !important; }
  p.mine { margin: 7px; }
</style></head>
<body><h1>Our shop</h1><p class="mine">Welcome.</p>
<script src="${BASE}/widget.js" defer></script>
</body></html>`;

function startHost() {
    const server = http.createServer((req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(HOST_PAGE);
    });
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(PORT, '127.0.0.1', () => resolve(server));
    });
}

export const widget = (page) => page.locator('#parley-widget');

// Sends text through the widget and waits until the reply is complete; returns its text.
export async function say(page, text) {
    const replies = widget(page).locator('li.assistant');
    const before = await replies.count();
    await widget(page).getByLabel('Your message').fill(text);
    await widget(page).getByLabel('Your message').press('Enter');
    await page.waitForFunction((n) => {
        const root = document.querySelector('#parley-widget').shadowRoot;
        return root.querySelectorAll('li.assistant').length > n && !root.querySelector('li.streaming');
    }, before, { timeout: 60000 });
    return (await replies.last().locator('.bubble').textContent()) || '';
}

export const tests = [
    ['widget: another site embeds the chat and completes the sample conversation', async () => {
        if (!PORT) throw new Error('PARLEY_WIDGET_PORT is not set');
        const host = await startHost();
        try {
            const page = await newPage();
            await page.goto(`http://127.0.0.1:${PORT}/`);
            await page.waitForSelector('#parley-widget[data-state="ready"]', { state: 'attached', timeout: 30000 });
            const launcher = widget(page).getByRole('button', { name: 'Chat with Parley Demo Store' });
            ok(await launcher.count() === 1, 'a launcher named after the brand');
            ok(await launcher.getAttribute('aria-expanded') === 'false', 'the launcher says the panel is closed');
            const colours = await launcher.evaluate((b) => {
                const s = getComputedStyle(b);
                return `${s.backgroundColor} ${s.color}`;
            });
            ok(colours === 'rgb(36, 88, 211) rgb(255, 255, 255)', "the host page's CSS does not reach the widget; the brand colour does", colours);
            const mine = await page.locator('p.mine').evaluate((p) => getComputedStyle(p).margin);
            ok(mine === '7px', "the widget's CSS does not reach the host page", mine);

            // Keyboard: Tab to the launcher, Enter opens with focus in the message box.
            await launcher.focus();
            await page.keyboard.press('Enter');
            const dialog = widget(page).getByRole('dialog', { name: 'Parley Demo Store' });
            ok(await dialog.isVisible(), 'Enter opens a dialog labelled with the brand');
            ok(await page.evaluate(() => document.querySelector('#parley-widget').shadowRoot.activeElement?.id) === 'parley-input',
                'the message box has the focus');
            ok(await widget(page).locator('ol[aria-live="polite"]').count() === 1, 'the conversation is an aria-live region');
            await shot(page, 'widget-open');

            await page.evaluate(() => {
                window.__pieces = 0;
                const root = document.querySelector('#parley-widget').shadowRoot;
                new MutationObserver((records) => {
                    for (const r of records) {
                        const t = r.target.nodeType === 1 ? r.target : r.target.parentElement;
                        if (t && t.closest && t.closest('.streaming') && t.textContent) window.__pieces++;
                    }
                }).observe(root, { subtree: true, childList: true, characterData: true });
            });
            const streamed = page.waitForResponse((r) => r.url() === `${BASE}/chat` && r.request().method() === 'POST');
            const first = await say(page, "I can't log into my account");
            const resp = await streamed;
            ok(/text\/event-stream/.test(resp.headers()['content-type'] || ''), 'the reply came as Server-Sent Events',
                resp.headers()['content-type']);
            ok(/email/i.test(first), 'the agent asks for the email', first);
            ok(await page.evaluate(() => window.__pieces) > 3, 'the reply streamed in several pieces',
                await page.evaluate(() => window.__pieces));
            const second = await say(page, "It's jane.doe@example.com");
            const m = /TKT-\d{6}/.exec(second);
            ok(m, 'the reply names the ticket', second);
            const sid = await page.evaluate(() => Object.entries(localStorage).find(([k]) => k.startsWith('parley.widget.session:'))?.[1]);
            ok(/^[A-Za-z0-9_-]{10,64}$/.test(sid || ''), "the session id is kept in the site's localStorage", sid);
            await shot(page, 'widget-ticket');

            // Escape closes and gives the focus back to the launcher.
            await page.keyboard.press('Escape');
            ok(!(await dialog.isVisible()), 'Escape closes the panel');
            ok(await page.evaluate(() => document.querySelector('#parley-widget').shadowRoot.activeElement?.className) === 'launcher',
                'the focus returns to the launcher');

            // A reload brings the conversation back from the server.
            await page.reload();
            await page.waitForSelector('#parley-widget[data-state="ready"]', { state: 'attached', timeout: 30000 });
            await launcher.click();
            const texts = await widget(page).locator('li .bubble').allTextContents();
            ok(m && texts.some((t) => t.includes(m[0])), 'after a reload the conversation is back', texts.length);

            // Phone width: the panel fills the screen without sideways scrolling.
            await page.setViewportSize({ width: 375, height: 700 });
            const box = await dialog.boundingBox();
            ok(box && box.width <= 375 && box.width >= 370, 'at phone width the panel takes the width', box && box.width);
            ok(await noSidewaysScroll(page), 'no sideways scrolling at phone width');
            await shot(page, 'widget-phone');
            await page.setViewportSize({ width: 1280, height: 860 });
        } finally {
            host.closeAllConnections();
            await new Promise((resolve) => host.close(resolve));
        }
    }],

    ['widget: a site not in PARLEY_ALLOWED_ORIGINS gets the error state', async () => {
        const host = await startHost();
        try {
            // The browser reports the blocked cross-origin calls on the console: expected here.
            const page = await newPage({ allow: [/CORS|Failed to load resource|ERR_FAILED/i] });
            await page.goto(`http://localhost:${PORT}/`);
            await page.waitForSelector('#parley-widget[data-state="error"]', { state: 'attached', timeout: 30000 });
            await widget(page).locator('.launcher').click();
            const alert = widget(page).getByRole('alert');
            ok(await alert.isVisible(), 'the panel shows an alert', await alert.textContent());
            ok(/unavailable/i.test((await alert.textContent()) || ''), 'the alert says the chat is unavailable', await alert.textContent());
            await widget(page).getByLabel('Your message').fill('hello');
            await widget(page).getByLabel('Your message').press('Enter');
            await page.waitForFunction(() => !document.querySelector('#parley-widget').shadowRoot.querySelector('.send').disabled);
            ok(await widget(page).locator('li.assistant').count() === 0, 'no reply arrives');
            ok(await alert.isVisible(), 'sending fails with the alert shown');
            await shot(page, 'widget-refused');
        } finally {
            host.closeAllConnections();
            await new Promise((resolve) => host.close(resolve));
        }
    }],
];
