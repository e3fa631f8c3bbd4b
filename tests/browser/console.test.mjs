// console.test.mjs - the operator console's protection: no token and a wrong token are refused
// with the server's 401 message and no console data; the right token opens it.
import { BASE, TOKEN, ok, newPage, shot, apiCall } from './harness.mjs';

// 401s are provoked on purpose; coming endpoints (metrics, ...) may answer 404 until they exist.
const AUTH_ERRORS = [/status of 401/, /status of 404/];

export const tests = [
    ['console: refuses a missing or wrong token', async () => {
        const page = await newPage({ allow: AUTH_ERRORS });
        await page.goto(`${BASE}/console`);
        await page.waitForSelector('body[data-auth="rejected"]');
        const noToken = await page.locator('#auth-error').textContent();
        const direct = await apiCall('/sessions');
        ok(direct.status === 401, 'GET /sessions without a token answers 401', direct.status);
        const serverMsg = direct.json && direct.json.error && direct.json.error.message;
        ok(serverMsg && noToken.includes(serverMsg), "without a token the page shows the server's 401 message", noToken);
        ok(await page.locator('#app').isHidden(), 'no console data is shown without a token');
        ok(await page.locator('#session-list li').count() === 0, 'no session is listed without a token');
        await shot(page, 'console-no-token');

        await page.getByLabel('Operator token').fill(`${TOKEN}-wrong`);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.waitForFunction(() => /not valid/i.test(document.querySelector('#auth-error-text').textContent));
        ok(await page.locator('#app').isHidden(), 'a wrong token shows no console data');
        ok(await page.evaluate(() => sessionStorage.getItem('parley.operatorToken')) === null, 'a rejected token is not kept');
        await shot(page, 'console-wrong-token');

        await page.getByLabel('Operator token').fill(TOKEN);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.waitForSelector('body[data-auth="ok"]');
        ok(await page.locator('#app').isVisible(), 'the right token opens the console');
        ok(await page.evaluate(() => sessionStorage.getItem('parley.operatorToken')) !== null, 'the token is kept in sessionStorage');
        await page.reload();
        await page.waitForSelector('body[data-auth="ok"]');
        ok(true, 'a reload stays signed in');
        await page.getByRole('button', { name: 'Sign out' }).click();
        ok(await page.locator('#app').isHidden(), 'signing out hides the console');
        ok(await page.evaluate(() => sessionStorage.getItem('parley.operatorToken')) === null, 'signing out forgets the token');
    }],
    ['console: a one-turn session says "1 turn"', async () => {
        const first = await apiCall('/chat', { method: 'POST', body: { message: 'hello' } });
        ok(first.status === 200 && first.json && first.json.sessionId, 'a one-turn session exists', first.status);
        const sid = first.json.sessionId;
        const page = await newPage({ allow: AUTH_ERRORS });
        await page.goto(`${BASE}/console`);
        await page.waitForSelector('body[data-auth]:not([data-auth="checking"])');
        if (await page.locator('body[data-auth="ok"]').count() === 0) {
            await page.getByLabel('Operator token').fill(TOKEN);
            await page.getByRole('button', { name: 'Sign in' }).click();
            await page.waitForSelector('body[data-auth="ok"]');
        }
        const row = page.locator(`#session-list li[data-session-id="${sid}"]`);
        await row.waitFor();
        ok(/\b1 turn\b(?!s)/.test(await row.textContent()), 'the list row says "1 turn"', await row.textContent());
        await row.locator('button').first().click();
        await page.waitForFunction(() => /· 1 turn/.test(document.querySelector('#session-head .head-meta')?.textContent || ''));
        const head = await page.locator('#session-head .head-meta').textContent();
        ok(/· 1 turn ·/.test(head) && !/1 turns/.test(head), 'the session head says "1 turn", not "1 turns"', head);
    }],
];
