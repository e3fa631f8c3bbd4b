// chat.test.mjs - the customer chat page: the seed's sample conversation streamed into the page,
// the transcript surviving a reload, a failed request with a kind message and a working retry,
// keyboard and screen-reader basics, and a phone-width layout without sideways scrolling.
import { BASE, ok, newPage, shot, noSidewaysScroll, shared } from './harness.mjs';

const lastAssistant = (page) => page.locator('.msg-assistant').last();

// Types text into the message box and sends it with Enter; waits for the reply to be complete.
export async function say(page, text) {
    const before = await page.locator('.msg-assistant').count();
    await page.getByLabel('Your message').fill(text);
    await page.getByLabel('Your message').press('Enter');
    await page.waitForFunction((n) => document.querySelectorAll('.msg-assistant').length > n &&
        !document.querySelector('.msg-assistant.streaming') && document.querySelector('#typing').hidden, before);
    return (await lastAssistant(page).locator('.bubble').textContent()) || '';
}

export const tests = [
    ['chat: sample conversation ends with the ticket number', async () => {
        const page = await newPage();
        await page.goto(`${BASE}/`);
        await page.waitForSelector('body[data-ready="true"]');
        ok(await page.locator('#messages[aria-live="polite"]').count() === 1, 'the message list is an aria-live region');
        ok(await page.getByLabel('Your message').count() === 1, 'the message box has a label');
        await shot(page, 'chat-empty');

        // Record every change of the reply bubble's text to prove it streams in pieces.
        await page.evaluate(() => {
            window.__updates = 0;
            window.__typingSeen = false;
            new MutationObserver((records) => {
                for (const r of records) {
                    const t = r.target.nodeType === 1 ? r.target : r.target.parentElement;
                    if (t && t.classList.contains('bubble') && t.closest('.streaming') && t.textContent) window.__updates++;
                }
                if (!document.querySelector('#typing').hidden) window.__typingSeen = true;
            }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
        });
        // Keyboard only: focus the box with Tab from the top of the page.
        await page.keyboard.press('Tab'); // skip link
        await page.keyboard.press('Tab'); // "New conversation"
        await page.keyboard.press('Tab'); // the message box
        ok(await page.evaluate(() => document.activeElement && document.activeElement.id) === 'composer-input',
            'Tab reaches the message box');
        const streamed = page.waitForResponse((r) => r.url().endsWith('/chat') && r.request().method() === 'POST');
        const first = await say(page, "I can't log into my account");
        const chatResp = await streamed;
        ok(/text\/event-stream/.test(chatResp.headers()['content-type'] || ''), 'the page asks for and gets a Server-Sent Events stream',
            chatResp.headers()['content-type']);
        ok(/email/i.test(first), 'the agent asks for the email', first);
        ok(await page.evaluate(() => window.__updates) > 3, 'the reply streamed in several pieces',
            await page.evaluate(() => window.__updates));
        ok(await page.evaluate(() => window.__typingSeen), 'the typing indicator showed while waiting');
        await shot(page, 'chat-asks-email');

        const second = await say(page, "It's jane.doe@example.com");
        const m = /TKT-\d{6}/.exec(second);
        ok(m, 'the reply names the ticket', second);
        const chip = await lastAssistant(page).locator('.chip').allTextContents();
        ok(m && chip.some((c) => c.includes(`Ticket ${m[0]} created`)), 'an action chip says the ticket was created', chip.join(' | '));
        ok(m && (await page.locator('#messages').textContent()).includes(m[0]), 'the ticket number is on screen');
        shared.ticketId = m && m[0];
        shared.chatSession = await page.evaluate(() => localStorage.getItem('parley.sessionId'));
        ok(/^[A-Za-z0-9_-]{10,64}$/.test(shared.chatSession || ''), 'the session id is kept in localStorage', shared.chatSession);
        await shot(page, 'chat-ticket-created');

        // Reload: the transcript comes back from GET /sessions/{id}.
        const before = await page.locator('.msg .bubble').allTextContents();
        await page.reload();
        await page.waitForSelector('body[data-ready="true"]');
        const after = await page.locator('.msg .bubble').allTextContents();
        ok(JSON.stringify(before) === JSON.stringify(after), 'a reload shows the same transcript',
            `${before.length} vs ${after.length} messages`);
        ok((await page.locator('.chip').allTextContents()).some((c) => m && c.includes(m[0])), 'the ticket chip survives the reload');
        await shot(page, 'chat-after-reload');

        // "New conversation" forgets the session.
        await page.getByRole('button', { name: 'New conversation' }).click();
        ok(await page.locator('.msg').count() === 0, 'New conversation clears the list');
        ok(await page.evaluate(() => localStorage.getItem('parley.sessionId')) === null, 'New conversation forgets the session id');
    }],

    ['chat: a failed request shows a kind message and retry works', async () => {
        const page = await newPage({ allow: [/status of 503/, /Failed to load resource: net::ERR_FAILED/] });
        await page.goto(`${BASE}/`);
        await page.waitForSelector('body[data-ready="true"]');
        let calls = 0;
        await page.route('**/chat', (route) => {
            calls++;
            if (calls === 1) {
                return route.fulfill({ status: 503, contentType: 'application/json',
                    body: JSON.stringify({ error: { code: 'ModelThrottled', message: 'the model is throttled' } }) });
            }
            return route.continue();
        });
        await page.getByLabel('Your message').fill('Where is my order?');
        await page.getByRole('button', { name: 'Send' }).click();
        const alert = page.getByRole('alert');
        await alert.waitFor();
        const text = await alert.textContent();
        ok(/busy|try again/i.test(text) && !/503|\{/.test(text), 'the error message is kind and readable', text);
        ok(await page.locator('.msg-user.failed').count() === 1, 'the unsent message is marked');
        await shot(page, 'chat-error');
        await page.getByRole('button', { name: 'Try again' }).click();
        await page.waitForFunction(() => document.querySelectorAll('.msg-assistant').length === 1 && !document.querySelector('.streaming'));
        ok(calls === 2, 'retry sends the message again', calls);
        ok(await page.locator('.msg-user').count() === 1, 'retry does not duplicate the message');
        ok(await page.locator('#error').isHidden(), 'the error goes away after a successful retry');
        ok(/order/i.test(await lastAssistant(page).textContent()), 'the retried message is answered');
        await shot(page, 'chat-retry-ok');
        await page.getByRole('button', { name: 'New conversation' }).click();
    }],

    ['chat: an order lookup chip for a signed-in customer', async () => {
        const page = await newPage();
        // ?user= makes the page send that userId; the demo store's order 1042 belongs to "demo".
        await page.goto(`${BASE}/?user=demo`);
        await page.waitForSelector('body[data-ready="true"]');
        const reply = await say(page, 'Where is my order 1042?');
        const chips = await page.locator('.msg-assistant .chip').allTextContents();
        ok(chips.includes('Order 1042: shipped'), 'the chip says "Order 1042: shipped"', chips.join(' | '));
        ok(/shipped/i.test(reply), 'the reply gives the order status', reply);
        await shot(page, 'chat-order-chip');
        await page.getByRole('button', { name: 'New conversation' }).click();
        await page.evaluate(() => localStorage.removeItem('parley.userId'));
    }],

    ['chat: asking for a human in the first message', async () => {
        const page = await newPage();
        await page.goto(`${BASE}/`);
        await page.waitForSelector('body[data-ready="true"]');
        await say(page, 'I want to talk to a human');
        ok(await page.locator('body.in-handoff').count() === 1, 'the page is in handoff after the first message');
        ok((await page.locator('.chip').allTextContents()).includes('Handed over to a human agent'), 'the escalation chip succeeded',
            (await page.locator('.chip').allTextContents()).join(' | '));
        ok(/support team/i.test(await page.locator('#status-line').textContent()), 'the header says a person will reply');
        await shot(page, 'chat-first-message-handoff');
        await page.getByRole('button', { name: 'New conversation' }).click();
        ok(await page.locator('body.in-handoff').count() === 0, 'a new conversation leaves the handoff state');
    }],

    ['chat: phone width has no sideways scroll', async () => {
        const page = await newPage();
        await page.setViewportSize({ width: 360, height: 740 });
        await page.goto(`${BASE}/`);
        await page.waitForSelector('body[data-ready="true"]');
        await say(page, 'Hi');
        // A long unbroken word must wrap, not widen the page.
        await say(page, `My reference is ${'X'.repeat(120)} and it does not work`);
        ok(await noSidewaysScroll(page, ['.chat-main']), 'no horizontal scroll at 360 px');
        const box = await page.locator('#composer').boundingBox();
        ok(box && box.x >= 0 && box.x + box.width <= 360, 'the message box fits the screen', JSON.stringify(box));
        await shot(page, 'chat-phone');
        await page.setViewportSize({ width: 320, height: 640 });
        ok(await noSidewaysScroll(page, ['.chat-main']), 'no horizontal scroll at 320 px');
        await page.getByRole('button', { name: 'New conversation' }).click();
    }],
];
