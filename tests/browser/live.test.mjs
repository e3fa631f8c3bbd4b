// live.test.mjs - the console against the server's own endpoints that were still coming when the
// pages were written (tickets list, queue stats and redrive, metrics, analytics, executions,
// traces). Each check runs only when its endpoint answers something other than 404; otherwise
// it is reported as skipped, and fixtures.test.mjs covers the drawing with fixed documents.
import { BASE, TOKEN, ok, skip, newPage, shot, apiCall, shared } from './harness.mjs';
import { signIn } from './handoff.test.mjs';

async function present(path, method = 'GET') {
    if (method !== 'GET') return true;
    const r = await apiCall(path, { token: TOKEN });
    return r.status !== 404 ? r : null;
}

export const tests = [
    ['console (live endpoints): whatever the server offers', async () => {
        const op = await newPage({ allow: [/status of 404/, /status of 401/] });
        await signIn(op);

        // A turn through plain (not streamed) POST /chat, so its execution carries a trace id.
        const turn = await apiCall('/chat', { method: 'POST', body: { message: "I can't log into my account" } });
        const sid = turn.json && turn.json.sessionId;
        ok(turn.status === 200 && sid, 'a plain POST /chat turn for the checks below', turn.status);
        const ex = sid ? await present(`/sessions/${sid}/executions`) : null;
        if (!ex) skip('executions are drawn as path graphs', 'GET /sessions/{id}/executions answers 404');
        else {
            ok(ex.status === 200 && Array.isArray(ex.json && ex.json.executions), 'GET /sessions/{id}/executions answers a list', ex.status);
            const execs = (ex.json && ex.json.executions) || [];
            await op.getByLabel('Search').fill(sid);
            await op.locator(`#session-list li[data-session-id="${sid}"] button`).click();
            await op.waitForSelector('#executions article, #executions p');
            // The graphs are drawn after the list arrives: wait for them rather than race them.
            await op.waitForFunction((n) => document.querySelectorAll('#executions svg.path-graph').length >= n,
                execs.length, { timeout: 10000 }).catch(() => {});
            const graphs = op.locator('#executions svg.path-graph');
            ok(await graphs.count() === execs.length && execs.length > 0, 'one path graph per execution', `${await graphs.count()} vs ${execs.length}`);
            if (execs.length) {
                const states = await graphs.first().locator('g.node').evaluateAll((gs) => gs.map((g) => g.dataset.state));
                ok(JSON.stringify(states) === JSON.stringify(execs[0].path.map((p) => p.state)), 'the graph shows the states of the path in order', states.join(','));
                const tid = execs.find((e) => e.traceId);
                const tr = tid ? await present(`/traces/${encodeURIComponent(tid.traceId)}`) : null;
                if (!tr) skip('the trace waterfall', tid ? 'GET /traces/{id} answers 404' : 'no execution has a trace id');
                else {
                    const art = op.locator(`#executions article[data-turn="${tid.turn}"]`);
                    await art.getByRole('button', { name: 'Show trace' }).click();
                    await art.locator('svg.waterfall').waitFor();
                    const names = await art.locator('svg.waterfall .span-name').allTextContents();
                    const segs = Array.isArray(tr.json.segments) ? tr.json.segments : [tr.json];
                    const count = (x) => 1 + (x.subsegments || []).reduce((a, y) => a + count(y), 0);
                    const expected = segs.reduce((a, x) => a + count(x), 0) + (segs.length > 1 ? 1 : 0);
                    ok(names.length === expected, 'the waterfall has a row per segment and subsegment', `${names.length} vs ${expected}`);
                    ok(segs.length > 1 || names[0] === String(segs[0].name).slice(0, names[0].length), 'the waterfall starts with the segment', names.join(','));
                }
            }
            await shot(op, 'console-live-executions');
        }

        const tickets = await present('/tickets');
        if (!tickets) skip('the tickets table', 'GET /tickets answers 404');
        else {
            await op.getByRole('tab', { name: 'Tickets' }).click();
            const row = op.locator(`#tickets-body tr[data-ticket-id="${shared.ticketId}"]`);
            await row.waitFor();
            ok(await row.count() === 1, 'the ticket made in the chat test is listed', shared.ticketId);
            await shot(op, 'console-live-tickets');
        }

        const queues = await present('/queue/stats');
        if (!queues) skip('queue depths and redrive', 'GET /queue/stats answers 404');
        else {
            await op.getByRole('tab', { name: 'Queues' }).click();
            await op.locator('#queues-body tr[data-queue]').first().waitFor();
            const names = await op.locator('#queues-body tr[data-queue]').evaluateAll((rs) => rs.map((r) => r.dataset.queue));
            ok(names.includes('AgentActions') && names.includes('AgentActions-DLQ'), 'the action queue and its DLQ are listed', names.join(','));
            await op.getByRole('button', { name: 'Redrive the dead-letter queue' }).click();
            await op.waitForFunction(() => /Moved \d+ message|Redrive failed/.test(document.querySelector('#redrive-result').textContent));
            ok(/Moved \d+ message/.test(await op.locator('#redrive-result').textContent()), 'redrive reports how many messages moved',
                await op.locator('#redrive-result').textContent());
            await shot(op, 'console-live-queues');
        }

        const metrics = await present('/metrics');
        if (!metrics) skip('metrics tiles and charts', 'GET /metrics answers 404');
        else {
            const m = /^parley_turns_total(?:\{\})?\s+(\d+)/m.exec(metrics.text);
            ok(m && Number(m[1]) > 0, 'the server counts turns', m && m[1]);
            await op.getByRole('tab', { name: 'Metrics' }).click();
            // The console scrapes every 5 s: wait for a scrape made after the server's count above.
            await op.waitForFunction((n) => Number((document.querySelector('[data-metric="turns"] .tile-value') || {}).textContent) >= n,
                m ? Number(m[1]) : 1, { timeout: 12000 }).catch(() => {});
            const shown = Number(await op.locator('[data-metric="turns"] .tile-value').textContent());
            ok(m && shown >= Number(m[1]), 'the turns tile shows the server count', `${shown} vs ${m && m[1]}`);
            await shot(op, 'console-live-metrics');
        }

        const analytics = await present('/analytics');
        if (!analytics) skip('the per-hour analytics', 'GET /analytics answers 404');
        else {
            await op.getByRole('tab', { name: 'Metrics' }).click();
            await op.waitForFunction(() => document.querySelector('#analytics-body svg, #analytics-body p'));
            ok(await op.locator('#analytics-body svg rect.bar').count() > 0, 'the per-hour chart has bars',
                await op.locator('#analytics-body').textContent());
        }
    }],
];
