// savetest.test.mjs - "Save as test" (issue 12): an operator opens a session in the console and
// downloads a `parley test` scenario built from its transcript: the customer's messages as turns,
// the tools that ran in each turn, the final status.
import fs from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, ok, newPage, shot, apiCall } from './harness.mjs';
import { signIn } from './handoff.test.mjs';

export const tests = [
    ['save as test: the console downloads a scenario of the session', async () => {
        const user = `savetest-${Date.now()}`;
        const first = await apiCall('/chat', { method: 'POST', body: { message: "I can't log into my account", userId: user } });
        ok(first.status === 200, 'the first turn is answered', first.text);
        const sid = first.json.sessionId;
        const second = await apiCall('/chat', { method: 'POST', body: { message: "It's sam@example.com", sessionId: sid, userId: user } });
        ok(second.status === 200 && second.json.actions.length === 1, 'the second turn opens a ticket', second.text);

        const anon = await apiCall(`/sessions/${sid}/scenario`);
        ok(anon.status === 401, 'the scenario endpoint needs the operator token', String(anon.status));

        // signing in starts from a 401 (no token yet), which the console answers with its sign-in form
        const op = await newPage({ allow: [/status of 401/] });
        await signIn(op);
        const row = op.locator(`#session-list li[data-session-id="${sid}"]`);
        await row.waitFor();
        await row.locator('button').click();
        await op.waitForSelector(`#session-view[data-session-id="${sid}"] #transcript li`);
        const button = op.getByRole('button', { name: 'Save as test' });
        ok(await button.count() === 1, 'the session view has a "Save as test" button');
        const [download] = await Promise.all([op.waitForEvent('download'), button.click()]);
        ok(download.suggestedFilename() === `session-${sid}.json`, 'the file is named after the session', download.suggestedFilename());
        const file = path.join(ARTIFACTS, download.suggestedFilename());
        await download.saveAs(file);
        const scenario = JSON.parse(fs.readFileSync(file, 'utf8'));
        ok(Array.isArray(scenario.turns) && scenario.turns.length === 2, 'one turn per customer message', JSON.stringify(scenario.turns));
        ok(scenario.user === user, 'the customer is the session\'s user', scenario.user);
        ok(scenario.turns[0].user === "I can't log into my account" && scenario.turns[0].expect.no_tools === true,
            'turn 1: the message, and no tool ran', JSON.stringify(scenario.turns[0]));
        ok(scenario.turns[1].user === "It's sam@example.com" &&
            JSON.stringify(scenario.turns[1].expect.tools) === '["create_support_ticket"]' &&
            scenario.turns[1].expect.tool_args.create_support_ticket.email === 'sam@example.com',
        'turn 2: the message and the ticket tool with its input', JSON.stringify(scenario.turns[1]));
        ok(scenario.turns[1].expect.status === 'active', 'the last turn expects the final status');
        await op.waitForFunction(() => /Saved session-/.test(document.querySelector('#reply-note').textContent));
        ok(true, 'the console says where the file went');
        await shot(op, 'save-as-test');
    }],
];
