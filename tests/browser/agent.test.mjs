// agent.test.mjs - the chat page as a custom agent: its own `parley serve` (the binary of
// $PARLEY_BIN, the offline model) on an agent file with a `confirm: true` HTTP tool whose backend
// is a small Node server on 127.0.0.1. The page's title and greeting come from GET /agent; a held
// tool call shows what will be done with Yes / No buttons, reachable by keyboard and labelled for
// screen readers; a page reload shows the pending question again (GET /sessions/{id}
// "confirmation"); "No" cancels without a call, "Yes" makes exactly one call to the backend.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ok, newPage, shot } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.PARLEY_BIN || path.resolve(here, '../../build/san/parley');

// The repair backend: records every request and answers with a booking.
function startBackend() {
    const calls = [];
    const server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (c) => { body += c; });
        req.on('end', () => {
            calls.push({ method: req.method, url: req.url, body });
            res.writeHead(200, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify({ booking: 'RB-7', slot: 'Monday 09:00' }));
        });
    });
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, calls })));
}

const agentYaml = (backendUrl) => `name: Velo Bikes
instructions: You are the assistant of {{agent_name}}, a bicycle shop.
greeting: Hi! This is Velo Bikes. Ask about repairs and warranties.
tools:
  builtin: [create_support_ticket]
  http:
    - name: book_repair
      description: Book a workshop slot for a bike repair.
      input_schema:
        type: object
        properties:
          serial: {type: string, pattern: "^[A-Z]{2}[0-9]{6}$", description: the frame serial number}
        required: [serial]
      url: "${backendUrl}/repairs"
      method: POST
      confirm: true
      examples: [book a repair, please book a repair for my bike, I need a workshop slot for a repair,
                 can you schedule a repair of my bike, book my bike in for a repair]
`;

// Starts parley on its own data directory with the agent file; resolves to its base URL.
async function startParley(dir, agentPath) {
    const log = fs.openSync(path.join(dir, 'server.log'), 'w');
    const child = spawn(BIN, ['serve', '--port', '0', '--bind', '127.0.0.1', '--data', path.join(dir, 'data'),
        '--agent', agentPath], { stdio: ['ignore', log, log], env: { ...process.env, PARLEY_MODEL: 'offline' } });
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline) {
        const text = fs.readFileSync(path.join(dir, 'server.log'), 'utf8');
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
        if (m) return { child, url: m[1] };
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 50)); // polls the log for the port line
    }
    child.kill('SIGTERM');
    throw new Error(`parley with the agent file did not start: ${fs.readFileSync(path.join(dir, 'server.log'), 'utf8').slice(-400)}`);
}

function stopParley(child) {
    return new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
    });
}

// Sends text with Enter and waits until the reply is complete.
async function say(page, text) {
    const before = await page.locator('.msg-assistant').count();
    await page.getByLabel('Your message').fill(text);
    await page.getByLabel('Your message').press('Enter');
    await page.waitForFunction((n) => document.querySelectorAll('.msg-assistant').length > n &&
        !document.querySelector('.msg-assistant.streaming') && document.querySelector('#typing').hidden, before);
}

// Waits for the turn started by a click or key press to finish.
async function replyAfter(page, act) {
    const before = await page.locator('.msg-assistant').count();
    await act();
    await page.waitForFunction((n) => document.querySelectorAll('.msg-assistant').length > n &&
        !document.querySelector('.msg-assistant.streaming') && document.querySelector('#typing').hidden, before);
    return (await page.locator('.msg-assistant .bubble').last().textContent()) || '';
}

export const tests = [
    ['agent: name, greeting and a confirmation with Yes / No', async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-agent-browser-'));
        const backend = await startBackend();
        const agentPath = path.join(dir, 'velo.yaml');
        fs.writeFileSync(agentPath, agentYaml(`http://127.0.0.1:${backend.server.address().port}`));
        const parley = await startParley(dir, agentPath);
        try {
            const agent = await (await fetch(`${parley.url}/agent`)).json();
            ok(agent.name === 'Velo Bikes' && /Velo Bikes/.test(agent.greeting), 'GET /agent gives the name and greeting',
                JSON.stringify(agent));

            const page = await newPage();
            await page.goto(`${parley.url}/`);
            await page.waitForSelector('body[data-ready="true"]');
            ok(await page.locator('h1').textContent() === 'Velo Bikes', 'the heading is the agent\'s name');
            ok(/Velo Bikes/.test(await page.title()), 'the page title names the agent', await page.title());
            ok((await page.locator('#empty-hint').textContent()).includes('Ask about repairs and warranties'),
                'the greeting is the agent file\'s');

            // The customer asks; the tool needs a yes first, so nothing reaches the backend.
            await say(page, 'Please book a repair for my bike AB123456');
            const group = page.getByRole('group', { name: 'Confirm: book repair' });
            ok(await group.count() === 1, 'a confirmation group names the action in plain words');
            ok((await group.textContent()).includes('AB123456'), 'the group shows the arguments', await group.textContent());
            const described = await group.evaluate((g) => document.getElementById(g.getAttribute('aria-describedby'))?.textContent || '');
            ok(/please confirm/i.test(described) && described.includes('AB123456'),
                'the group is described by the question (confirmation.prompt)', described);
            ok(await page.evaluate(() => document.activeElement && document.activeElement.textContent) === 'Yes',
                'the Yes button has the focus');
            ok(backend.calls.length === 0, 'no backend call before the answer', backend.calls.length);
            const held = (await page.locator('.msg-assistant').last().locator('.chip').allTextContents()).join(' | ');
            ok(/waiting for your confirmation/.test(held) && !/done/.test(held), 'the held action\'s chip says it waits', held);
            await shot(page, 'agent-confirmation');

            // A reload (GET /sessions/{id} carries the pending confirmation) shows the buttons again.
            await page.reload();
            await page.waitForSelector('body[data-ready="true"]');
            await page.waitForFunction(() => document.querySelectorAll('.confirm').length === 1);
            const again = page.getByRole('group', { name: 'Confirm: book repair' });
            ok(await again.count() === 1 && (await again.textContent()).includes('AB123456'),
                'after a reload the confirmation is asked again with its arguments');
            ok(await page.evaluate(() => document.activeElement && document.activeElement.textContent) === 'Yes',
                'after a reload the Yes button has the focus again');
            ok(backend.calls.length === 0, 'a reload does not run the action', backend.calls.length);

            // "No" (keyboard: Tab to it, Enter) cancels: no call, the buttons go away.
            const cancelled = await replyAfter(page, async () => {
                await page.keyboard.press('Tab');
                ok(await page.evaluate(() => document.activeElement && document.activeElement.textContent) === 'No',
                    'Tab moves from Yes to No');
                await page.keyboard.press('Enter');
            });
            ok(await page.locator('.msg-user .bubble').last().textContent() === 'No', '"No" is sent as the customer\'s message');
            ok(await page.locator('.confirm').count() === 0, 'the buttons are gone after the answer');
            ok(backend.calls.length === 0, 'a declined action is not called', backend.calls.length);
            ok(cancelled.length > 0, 'the agent answers the no', cancelled);

            // Asked again, "Yes" (a click) runs the call exactly once.
            await say(page, 'Please book a repair for my bike AB123456');
            ok(await page.locator('.confirm').count() === 1, 'asked again, the buttons are back');
            await replyAfter(page, () => page.getByRole('button', { name: 'Yes' }).click());
            ok(await page.locator('.msg-user .bubble').last().textContent() === 'Yes', '"Yes" is sent as the customer\'s message');
            ok(backend.calls.length === 1 && backend.calls[0].method === 'POST' && backend.calls[0].url === '/repairs' &&
                JSON.parse(backend.calls[0].body || '{}').serial === 'AB123456',
            'the confirmed call reached the backend once with its arguments', JSON.stringify(backend.calls));
            ok(await page.locator('.confirm').count() === 0, 'no buttons after the action ran');
            await shot(page, 'agent-confirmed');
        } finally {
            const code = await stopParley(parley.child);
            ok(code === 0, 'the agent\'s server stops cleanly', code);
            const log = fs.readFileSync(path.join(dir, 'server.log'), 'utf8');
            ok(!/AddressSanitizer|LeakSanitizer|runtime error:/.test(log), 'no sanitizer report from the agent\'s server');
            backend.server.close();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }],
];
