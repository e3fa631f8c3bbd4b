// fixtures.test.mjs - the console's drawings and tables from fixed answers: the endpoints the
// console reads for executions, traces, tickets, queues, metrics and analytics are answered by
// Playwright with documents of the agreed shapes, so the state-machine graph, the trace
// waterfall, the tables, the redrive button and the live charts are checked whether or not the
// server offers those endpoints yet (live.test.mjs checks them against the real server).
import { BASE, ok, newPage, shot, noSidewaysScroll } from './harness.mjs';
import { signIn } from './handoff.test.mjs';
import { say } from './chat.test.mjs';

const json = (route, body, status = 200) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });

const TRACE_ID = '1-674ee0c1-0123456789abcdef01234567';

function executions() {
    const t0 = Date.now() - 60000;
    const step = (state, type, dt, extra = {}) => ({ state, type, enteredAt: t0, durationMs: dt, retries: 0, ...extra });
    return { executions: [
        { turn: 1, executionId: 'exec-1', traceId: TRACE_ID, status: 'SUCCEEDED', startedAt: t0, durationMs: 41,
            path: [step('LoadContext', 'Task', 2.5), step('CheckHandoff', 'Choice', 0.1, { choice: 'CallBedrock' }),
                step('CallBedrock', 'Task', 30, { retries: 2 }), step('CheckForActions', 'Choice', 0.1, { choice: 'ExecuteAction' }),
                step('ExecuteAction', 'Task', 6), step('CheckIterations', 'Choice', 0.1, { choice: 'CallBedrock' }),
                step('CallBedrock', 'Task', 1.2), step('CheckForActions', 'Choice', 0.1, { choice: 'SaveAndReturn' }),
                step('SaveAndReturn', 'Task', 1.4)] },
        { turn: 2, executionId: 'exec-2', traceId: null, status: 'FAILED', startedAt: t0 + 5000, durationMs: 12,
            path: [step('LoadContext', 'Task', 1), step('CallBedrock', 'Task', 9, { error: 'States.Timeout' }), step('HandleError', 'Task', 1)] },
    ] };
}

function trace() {
    const s = 1732170000.0;
    return { trace_id: TRACE_ID, id: 'a1b2c3d4e5f60718', name: 'parley', start_time: s, end_time: s + 0.041,
        subsegments: [
            { id: '1111111111111111', name: 'LoadContext', start_time: s + 0.001, end_time: s + 0.0035,
                subsegments: [{ id: '2222222222222222', name: 'store.transcript', start_time: s + 0.0015, end_time: s + 0.003 }] },
            { id: '3333333333333333', name: 'CallBedrock', start_time: s + 0.004, end_time: s + 0.034, error: true,
                subsegments: [{ id: '4444444444444444', name: 'model.offline', start_time: s + 0.005, end_time: s + 0.033, fault: true }] },
            { id: '5555555555555555', name: 'SaveAndReturn', start_time: s + 0.035, end_time: s + 0.040 },
        ] };
}

// A Prometheus document whose counters grow with each scrape.
function metrics(n) {
    const turns = 10 + 6 * n;
    const b = [[0.005, 2 + 3 * n], [0.01, 6 + 4 * n], [0.05, 9 + 5 * n], [0.25, turns], ['+Inf', turns]];
    return [
        '# HELP parley_turns_total Conversation turns completed.', '# TYPE parley_turns_total counter',
        `parley_turns_total ${turns}`,
        '# TYPE parley_turn_duration_seconds histogram',
        ...b.map(([le, c]) => `parley_turn_duration_seconds_bucket{le="${le}"} ${c}`),
        `parley_turn_duration_seconds_sum ${0.02 * turns}`, `parley_turn_duration_seconds_count ${turns}`,
        '# TYPE parley_errors_total counter', `parley_errors_total{code="ModelTimeout"} ${n}`,
        '# TYPE parley_tokens_total counter', `parley_tokens_total{direction="in"} ${1000 + 400 * n}`,
        `parley_tokens_total{direction="out"} ${300 + 120 * n}`,
        '# TYPE parley_actions_total counter', `parley_actions_total{tool="create_support_ticket",status="succeeded"} ${3 + 2 * n}`,
        `parley_actions_total{tool="lookup_order",status="failed"} ${n}`, '',
    ].join('\n');
}

function analytics() {
    const h0 = Date.UTC(2026, 10, 25, 8);
    return { hours: [0, 1, 2].map((i) => ({ hour: new Date(h0 + i * 3600e3).toISOString(), conversations: 3 + i, turns: 10 + 4 * i,
        actions: { create_support_ticket: 2 + i, lookup_order: 1 }, errors: i, handoffs: i === 2 ? 1 : 0 })) };
}

export const tests = [
    ['console (fixtures): path graph, trace, tickets, queues, charts', async () => {
        const op = await newPage({ allow: [/status of 404/, /status of 401/] });
        let scrapes = 0;
        let redriven = 0;
        await op.route('**/sessions/*/executions', (r) => json(r, executions()));
        await op.route(`**/traces/${TRACE_ID}`, (r) => json(r, trace()));
        await op.route('**/tickets', (r) => json(r, { tickets: [
            { id: 'TKT-000777', title: 'Unable to log in <b>now</b>', description: 'locked out', priority: 'high', email: 'jane.doe@example.com',
                status: 'open', sessionId: 'fixtureSession000000001', createdAt: new Date().toISOString() },
            { id: 'TKT-000778', title: 'Refund', description: '', priority: 'low', email: 'sam@example.com', status: 'open', sessionId: null,
                createdAt: new Date().toISOString() }] }));
        await op.route('**/queue/stats', (r) => json(r, { queues: [
            { name: 'AgentActions', visible: 1, inFlight: 0, delayed: 0 },
            { name: 'AgentActions-DLQ', visible: redriven ? 0 : 2, inFlight: 0, delayed: 0 }] }));
        await op.route('**/queue/dlq/redrive', (r) => { redriven++; return json(r, { moved: 2 }); });
        await op.route('**/metrics', (r) => r.fulfill({ status: 200, contentType: 'text/plain; version=0.0.4', body: metrics(scrapes++) }));
        await op.route('**/analytics', (r) => json(r, analytics()));

        // A real session to open (its executions come from the fixture).
        const customer = await newPage();
        await customer.goto(`${BASE}/`);
        await customer.waitForSelector('body[data-ready="true"]');
        await say(customer, 'Where is my order 1042?');
        const sid = await customer.evaluate(() => localStorage.getItem('parley.sessionId'));

        await signIn(op);
        await op.locator(`#session-list li[data-session-id="${sid}"] button`).click();
        await op.waitForSelector('.execution svg.path-graph');
        const graphs = op.locator('.execution svg.path-graph');
        ok(await graphs.count() === 2, 'one path graph per turn', await graphs.count());
        const first = graphs.first();
        ok(await first.locator('g.node').count() === 9, 'every state visited is drawn (the loop twice)');
        ok(await first.locator('g.type-choice').count() === 4, 'Choice states are drawn as choices');
        const texts = (await first.locator('text').allTextContents()).join(' | ');
        ok(texts.includes('→ ExecuteAction') && texts.includes('→ SaveAndReturn'), 'the branch each Choice took is labelled', texts);
        ok(texts.includes('30 ms') && texts.includes('2.5 ms'), 'durations are shown', texts);
        ok(/↻ 2 retries/.test(texts), 'retries are shown', texts);
        ok(await first.locator('path.edge').count() === 8, 'states are joined by arrows in order');
        ok(/Turn 1 path: LoadContext → CheckHandoff \(chose CallBedrock\)/.test(await first.getAttribute('aria-label')),
            'the graph has a text alternative');
        ok(await graphs.nth(1).locator('g.node.failed').count() === 1, 'a failed state is marked');
        ok(await op.locator('.execution').nth(1).getByRole('button', { name: 'Show trace' }).isDisabled(), 'no trace button without a trace id');

        await op.locator('.execution').first().getByRole('button', { name: 'Show trace' }).click();
        const wf = op.locator('svg.waterfall');
        await wf.waitFor();
        ok(await wf.locator('g.span').count() === 6, 'the waterfall has a row per segment and subsegment');
        ok(await wf.locator('g.span.fault').count() === 1 && await wf.locator('g.span.error').count() === 1, 'errors and faults are marked');
        const widths = await wf.locator('g.span rect').evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('width'))));
        ok(widths[0] > widths[3] && widths[3] > widths[1], 'bar lengths follow the durations', widths.join(','));
        await shot(op, 'console-fixture-graph-and-trace');

        await op.getByRole('tab', { name: 'Tickets' }).click();
        const rows = op.locator('#tickets-body tbody tr');
        await rows.first().waitFor();
        ok(await rows.count() === 2, 'the tickets table lists every ticket');
        ok((await rows.first().textContent()).includes('Unable to log in <b>now</b>'), 'ticket text is shown as text, never as HTML');
        ok(await op.locator('#tickets-body b').count() === 0, 'no markup from data is rendered');
        await shot(op, 'console-fixture-tickets');

        await op.getByRole('tab', { name: 'Queues' }).click();
        const dlq = op.locator('#queues-body tr[data-queue="AgentActions-DLQ"]');
        await dlq.waitFor();
        ok(/2/.test(await dlq.locator('td').first().textContent()) && await dlq.evaluate((el) => el.classList.contains('dlq-alert')),
            'the DLQ depth is shown and flagged');
        await op.getByRole('button', { name: 'Redrive the dead-letter queue' }).click();
        await op.waitForFunction(() => /Moved 2 messages/.test(document.querySelector('#redrive-result').textContent));
        ok(redriven === 1, 'redrive posts to /queue/dlq/redrive once', redriven);
        await op.waitForFunction(() => /^0$/.test(document.querySelector('#queues-body tr[data-queue="AgentActions-DLQ"] td').textContent));
        ok(true, 'the queue table refreshes after the redrive');
        await shot(op, 'console-fixture-queues');

        // Keyboard: arrow keys move between tabs.
        await op.getByRole('tab', { name: 'Queues' }).focus();
        await op.keyboard.press('ArrowRight');
        ok(await op.getByRole('tab', { name: 'Metrics' }).getAttribute('aria-selected') === 'true', 'arrow keys move between tabs');
        await op.waitForFunction(() => document.querySelectorAll('#chart-latency svg path.series').length === 2, null, { timeout: 15000 });
        ok(scrapes >= 2, 'metrics are scraped repeatedly', scrapes);
        ok(await op.locator('#chart-tokens svg path.series').count() === 2, 'the tokens chart draws in and out');
        ok(await op.locator('#chart-actions svg circle').count() >= 2, 'the actions chart has points');
        const label = await op.locator('#chart-latency svg').getAttribute('aria-label');
        ok(/p50 [0-9.]+ s, p99 [0-9.]+ s/.test(label), 'the latency chart states p50 and p99', label);
        ok(/^3\.0k \/ 1\.0k$|^[0-9.]+k? \/ [0-9.]+k?$/.test(await op.locator('[data-metric="tokens"] .tile-value').textContent()),
            'the tokens tile shows in / out');
        const bars = op.locator('#analytics-body svg rect.bar');
        await bars.first().waitFor();
        ok(await bars.count() === 15, 'the per-hour chart has five bars for each of three hours', await bars.count());
        ok(await op.locator('#analytics-body tbody tr').count() === 3, 'the per-hour table has three rows');
        await shot(op, 'console-fixture-metrics');

        // Phone width: wide drawings scroll inside their own boxes, never the page.
        await op.setViewportSize({ width: 375, height: 740 });
        for (const tab of ['Metrics', 'Queues', 'Tickets', 'Sessions']) {
            await op.getByRole('tab', { name: tab }).click();
            ok(await noSidewaysScroll(op), `the ${tab} tab has no horizontal scroll at 375 px`);
        }
        await shot(op, 'console-phone');
    }],
];
