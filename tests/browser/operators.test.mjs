// operators.test.mjs - the console shows who answered (the operator's name on operator messages)
// and takes a session over: the status turns to handoff, "Take over" is disabled and "Release to
// the agent" enabled.
import { TOKEN, ok, newPage, shot, apiCall } from './harness.mjs';
import { signIn } from './handoff.test.mjs';

const EXPECTED = [/status of 404/, /status of 401/];

export const tests = [
    ['console: operator names and take over', async () => {
        const chat = await apiCall('/chat', { method: 'POST', body: { message: 'Hello' } });
        ok(chat.status === 200, 'a customer session exists', chat.status);
        const sid = chat.json && chat.json.sessionId;
        const sent = await apiCall(`/sessions/${sid}/messages`, { method: 'POST', token: TOKEN,
            body: { role: 'operator', content: 'Dana here, happy to help.', name: 'Dana' } });
        ok(sent.status === 201, 'an operator message with a name is stored', sent.status);

        const op = await newPage({ allow: EXPECTED });
        await signIn(op);
        const row = op.locator(`#session-list li[data-session-id="${sid}"]`);
        await row.waitFor();
        await row.locator('button').click();
        const entry = op.locator('#transcript .entry-operator').filter({ hasText: 'Dana here' });
        await entry.waitFor();
        const who = (await entry.locator('.role').textContent()) || '';
        ok(who === 'operator · Dana', 'the console shows who answered', who);

        ok(await op.locator('#takeover').isEnabled(), 'Take over is offered for an active session');
        ok(await op.locator('#release').isDisabled(), 'Release is not offered yet');
        await op.getByRole('button', { name: 'Take over' }).click();
        await op.waitForFunction(() => /human/i.test(document.querySelector('#session-head .status-badge').textContent));
        ok(await op.locator('#takeover').isDisabled(), 'after taking over, Take over is disabled');
        ok(await op.locator('#release').isEnabled(), 'and Release to the agent is enabled');
        const session = await apiCall(`/sessions/${sid}`, { token: TOKEN });
        ok(session.json && session.json.status === 'handoff', 'the server has the session in handoff', session.json && session.json.status);
        await shot(op, 'console-taken-over');
    }],
];
