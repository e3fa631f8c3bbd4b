// console.js - the operator console: token sign-in (kept in sessionStorage), the live session list,
// a session's transcript, state-machine paths and traces, replying and releasing, tickets, queue
// depths with DLQ redrive, and live charts from /metrics and /analytics. Endpoints the server does
// not offer (404) are shown as "not available" instead of breaking the page.

import { h, apiError, ApiError, clockTime } from './common.js';
import { parsePrometheus, sumOf, bucketsOf, bucketsDelta, histogramQuantile, lineChart, barChart, formatNumber } from './charts.js';
import { pathGraph, waterfall, ms } from './flow.js';

const TOKEN_KEY = 'parley.operatorToken';
const REFRESH_MS = 3000;
const METRICS_MS = 5000;
const WINDOW_MS = 60000;

const $ = (id) => document.getElementById(id);

const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    signedIn: false,
    tab: 'sessions',
    sessions: [],
    selected: null,       // session id shown in the view
    view: null,           // {id, turns, status} of what the view last rendered
    timers: [],
    busy: new Set(),      // loaders in flight
    samples: [],          // [{t, samples}] scrapes of /metrics
    metricsMissing: false,
};

/* ------------------------------------------------------------------ API */

class Unavailable extends Error {}

// Calls an operator API. Resolves with the parsed JSON body (null when empty); rejects with
// Unavailable on 404 when `optional`, with ApiError otherwise. A 401 signs the console out.
async function api(path, { method = 'GET', body, optional = false, text = false } = {}) {
    const headers = {};
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    if (resp.status === 404 && optional) throw new Unavailable(path);
    if (!resp.ok) {
        const err = await apiError(resp);
        if (resp.status === 401) showSignedOut(err.message);
        throw err;
    }
    if (text) return resp.text();
    const raw = await resp.text();
    return raw ? JSON.parse(raw) : null;
}

// Runs loader once at a time under name; errors other than 401 are reported through onError.
async function guarded(name, fn, onError) {
    if (state.busy.has(name)) return;
    state.busy.add(name);
    try {
        await fn();
    } catch (err) {
        if (!(err instanceof ApiError && err.status === 401) && onError) onError(err);
    } finally {
        state.busy.delete(name);
    }
}

function notAvailable(what) {
    return h('p', { class: 'not-available' }, `${what} not available on this server.`);
}

function errorNote(err) {
    return h('p', { class: 'load-error', role: 'alert' }, `Could not load: ${err.message}`);
}

/* ------------------------------------------------------------------ sign-in */

function showSignedOut(message) {
    state.signedIn = false;
    stopTimers();
    $('app').hidden = true;
    $('auth-error').hidden = false;
    $('auth-error-text').textContent = message;
    $('sign-out').hidden = !state.token;
    setTokenFormSignedIn(false);
    document.body.dataset.auth = 'rejected';
}

function showSignedIn() {
    const first = !state.signedIn;
    state.signedIn = true;
    $('auth-error').hidden = true;
    $('app').hidden = false;
    $('sign-out').hidden = false;
    setTokenFormSignedIn(true);
    document.body.dataset.auth = 'ok';
    if (first) startTimers();
}

// Signed in, the header shows only "Sign out"; signed out, the token field and "Sign in".
function setTokenFormSignedIn(signedIn) {
    for (const el of document.querySelectorAll('#token-form label, #token-input, #sign-in')) el.hidden = signedIn;
}

async function connect() {
    document.body.dataset.auth = 'checking';
    try {
        await loadSessions();
        showSignedIn();
        refreshTab();
    } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
            // A rejected token is not kept for the next visit.
            sessionStorage.removeItem(TOKEN_KEY);
        } else {
            showSignedOut(`The server could not be reached: ${err.message}`);
        }
    }
}

$('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.token = $('token-input').value.trim();
    $('token-input').value = '';
    if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token);
    else sessionStorage.removeItem(TOKEN_KEY);
    connect();
});

$('sign-out').addEventListener('click', () => {
    state.token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    state.selected = null;
    state.view = null;
    showSignedOut('You signed out.');
    $('sign-out').hidden = true;
    $('token-input').focus();
});

/* ------------------------------------------------------------------ timers and tabs */

function startTimers() {
    stopTimers();
    state.timers.push(setInterval(() => {
        guarded('sessions', loadSessions, (e) => { $('sessions-note').textContent = `Could not refresh: ${e.message}`; });
        if (state.selected) refreshSessionView();
        if (state.tab === 'tickets' || state.tab === 'queues') refreshTab();
    }, REFRESH_MS));
    state.timers.push(setInterval(() => {
        sampleMetrics();
        if (state.tab === 'metrics') guarded('analytics', loadAnalytics);
    }, METRICS_MS));
    sampleMetrics();
}

function stopTimers() {
    state.timers.forEach(clearInterval);
    state.timers = [];
}

const TABS = ['sessions', 'tickets', 'queues', 'metrics'];

function selectTab(name, focus = false) {
    state.tab = name;
    for (const t of TABS) {
        const tab = $(`tab-${t}`);
        tab.setAttribute('aria-selected', String(t === name));
        tab.tabIndex = t === name ? 0 : -1;
        $(`panel-${t}`).hidden = t !== name;
    }
    if (focus) $(`tab-${name}`).focus();
    refreshTab();
}

function refreshTab() {
    if (!state.signedIn) return;
    if (state.tab === 'tickets') guarded('tickets', loadTickets, (e) => $('tickets-body').replaceChildren(errorNote(e)));
    else if (state.tab === 'queues') guarded('queues', loadQueues, (e) => $('queues-body').replaceChildren(errorNote(e)));
    else if (state.tab === 'metrics') {
        renderMetrics();
        guarded('analytics', loadAnalytics, (e) => $('analytics-body').replaceChildren(errorNote(e)));
    }
}

for (const t of TABS) {
    const tab = $(`tab-${t}`);
    tab.addEventListener('click', () => selectTab(t));
    tab.addEventListener('keydown', (ev) => {
        const i = TABS.indexOf(t);
        let next = null;
        if (ev.key === 'ArrowRight') next = TABS[(i + 1) % TABS.length];
        else if (ev.key === 'ArrowLeft') next = TABS[(i + TABS.length - 1) % TABS.length];
        else if (ev.key === 'Home') next = TABS[0];
        else if (ev.key === 'End') next = TABS[TABS.length - 1];
        if (next) {
            ev.preventDefault();
            selectTab(next, true);
        }
    });
}

/* ------------------------------------------------------------------ session list */

async function loadSessions() {
    const status = $('status-filter').value;
    const body = await api(`/sessions${status ? `?status=${encodeURIComponent(status)}` : ''}`);
    state.sessions = (body && body.sessions) || [];
    renderSessionList();
}

function statusBadge(status) {
    return h('span', { class: `status-badge status-${status}` }, status === 'handoff' ? 'Needs a human' : status);
}

function renderSessionList() {
    const q = $('session-search').value.trim().toLowerCase();
    const shown = state.sessions
        .filter((x) => !q || `${x.sessionId} ${x.userId} ${x.status}`.toLowerCase().includes(q))
        .sort((a, b) => ((b.status === 'handoff') - (a.status === 'handoff')) ||
            String(b.lastActivity).localeCompare(String(a.lastActivity)));
    const handoffs = state.sessions.filter((x) => x.status === 'handoff').length;
    $('handoff-count').hidden = handoffs === 0;
    $('handoff-count').textContent = `${handoffs} waiting`;
    $('sessions-note').textContent = `${shown.length} of ${state.sessions.length} sessions` +
        (handoffs ? ` · ${handoffs} waiting for a human` : '');
    const list = $('session-list');
    const items = shown.map((x) => {
        const selected = x.sessionId === state.selected;
        return h('li', { class: `session-item status-${x.status}${x.status === 'handoff' ? ' handoff' : ''}${selected ? ' selected' : ''}`,
            dataset: { sessionId: x.sessionId, status: x.status } },
        h('button', { type: 'button', 'aria-current': selected ? 'true' : false, onclick: () => selectSession(x.sessionId) },
            h('span', { class: 'sid', text: x.sessionId }),
            statusBadge(x.status),
            h('span', { class: 'meta', text: `${x.userId} · ${x.turns} turn${x.turns === 1 ? '' : 's'} · ${clockTime(x.lastActivity)}` })));
    });
    list.replaceChildren(...items);
    if (!items.length) list.append(h('li', { class: 'muted empty' }, q ? 'No session matches.' : 'No sessions yet.'));
}

$('session-search').addEventListener('input', renderSessionList);
$('status-filter').addEventListener('change', () => guarded('sessions', loadSessions));

/* ------------------------------------------------------------------ session view */

function selectSession(id) {
    state.selected = id;
    state.view = null;
    renderSessionList();
    buildSessionView(id);
    refreshSessionView();
}

// Builds the parts of the view that survive refreshes (the reply box keeps what is typed).
function buildSessionView(id) {
    const view = $('session-view');
    view.dataset.sessionId = id;
    const replyInput = h('textarea', { id: 'reply-input', rows: 3, maxlength: 8000, required: true });
    const note = h('p', { id: 'reply-note', class: 'muted', role: 'status' });
    const form = h('form', { id: 'reply-form', class: 'reply-form', onsubmit: (ev) => { ev.preventDefault(); sendReply(id); } },
        h('label', { for: 'reply-input' }, 'Reply as operator'),
        replyInput,
        h('div', { class: 'reply-actions' },
            h('button', { type: 'submit', id: 'reply-send' }, 'Send reply'),
            h('button', { type: 'button', id: 'takeover', class: 'ghost', onclick: () => setStatus(id, 'takeover') }, 'Take over'),
            h('button', { type: 'button', id: 'release', class: 'ghost', onclick: () => setStatus(id, 'release') }, 'Release to the agent'),
            h('button', { type: 'button', id: 'save-test', class: 'ghost', title: 'Download a parley test scenario built from this transcript', onclick: () => saveAsTest(id) }, 'Save as test')),
        note);
    view.replaceChildren(
        h('div', { id: 'session-head', class: 'session-head' }),
        form,
        h('h3', {}, 'Transcript'),
        h('ol', { id: 'transcript', class: 'transcript' }),
        h('h3', {}, 'Turns: state-machine path and trace'),
        h('div', { id: 'executions', class: 'executions' }, h('p', { class: 'muted' }, 'Loading…')));
}

async function refreshSessionView() {
    const id = state.selected;
    await guarded('view', async () => {
        const session = await api(`/sessions/${encodeURIComponent(id)}`);
        if (id !== state.selected) return;
        renderSessionHead(session);
        renderTranscript(session);
        const changed = !state.view || state.view.turns !== session.turns;
        state.view = { id, turns: session.turns, status: session.status };
        if (changed) await loadExecutions(id);
    }, (err) => {
        const head = $('session-head');
        if (head) head.replaceChildren(errorNote(err));
    });
}

function renderSessionHead(x) {
    $('session-head').replaceChildren(
        h('h2', {}, 'Session ', h('code', { text: x.sessionId })),
        h('p', { class: 'head-meta' }, statusBadge(x.status),
            ` user ${x.userId} · ${x.turns} turn${x.turns === 1 ? '' : 's'} · started ${new Date(x.createdAt).toLocaleString()} · last activity ${clockTime(x.lastActivity)}`));
    $('session-view').classList.toggle('handoff', x.status === 'handoff');
    $('release').disabled = x.status !== 'handoff';
    $('release').title = x.status === 'handoff' ? '' : 'Only a session in handoff can be released';
    $('takeover').disabled = x.status === 'handoff';
    $('takeover').title = x.status === 'handoff' ? 'An operator has this session already' : '';
}

function jsonBlock(value) {
    let text = value;
    if (typeof value !== 'string') text = JSON.stringify(value, null, 2);
    else {
        try {
            text = JSON.stringify(JSON.parse(value), null, 2);
        } catch {
            // plain text
        }
    }
    return h('pre', { class: 'json', text });
}

function renderTranscript(x) {
    const calls = new Map();
    const items = [];
    for (const m of x.messages || []) {
        if (m.role === 'assistant' && m.toolUses && m.toolUses.length) {
            for (const u of m.toolUses) calls.set(u.id, u);
            if (!m.content) continue;
        }
        if (m.role === 'tool') {
            const call = calls.get(m.toolUseId) || {};
            items.push(h('li', { class: `entry entry-tool ${m.isError ? 'failed' : 'succeeded'}` },
                h('details', {},
                    h('summary', {}, h('span', { class: 'role' }, 'action'), ` ${call.tool || 'tool'} `,
                        h('span', { class: `action-status ${m.isError ? 'failed' : 'succeeded'}` }, m.isError ? 'failed' : 'succeeded'),
                        h('span', { class: 'when', text: clockTime(m.timestamp) })),
                    h('div', { class: 'action-io' },
                        h('div', {}, h('h4', {}, 'Input'), jsonBlock(call.input ?? {})),
                        h('div', {}, h('h4', {}, 'Result'), jsonBlock(m.content))))));
            continue;
        }
        items.push(h('li', { class: `entry entry-${m.role}` },
            h('span', { class: 'role', text: m.role === 'operator' && m.name ? `operator · ${m.name}` : m.role }),
            h('span', { class: 'when', text: clockTime(m.timestamp) }),
            h('div', { class: 'content', text: m.content })));
    }
    $('transcript').replaceChildren(...items);
}

async function loadExecutions(id) {
    const box = $('executions');
    let body;
    try {
        body = await api(`/sessions/${encodeURIComponent(id)}/executions`, { optional: true });
    } catch (err) {
        if (id !== state.selected) return;
        box.replaceChildren(err instanceof Unavailable ? notAvailable('Execution history') : errorNote(err));
        return;
    }
    if (id !== state.selected) return;
    const execs = (body && body.executions) || [];
    if (!execs.length) {
        box.replaceChildren(h('p', { class: 'muted' }, 'No executions recorded for this session.'));
        return;
    }
    box.replaceChildren(...execs.map((e) => {
        const traceBox = h('div', { class: 'trace-box' });
        const traceBtn = h('button', { type: 'button', class: 'ghost trace-button', disabled: !e.traceId,
            onclick: () => showTrace(e.traceId, traceBox, traceBtn) }, 'Show trace');
        return h('article', { class: `execution status-${String(e.status).toLowerCase()}`, dataset: { turn: e.turn } },
            h('h4', {}, `Turn ${e.turn} · ${e.status} · ${ms(e.durationMs)}`, e.traceId ? h('code', { class: 'trace-id', text: ` ${e.traceId}` }) : null),
            h('div', { class: 'graph-scroll' }, pathGraph(e)),
            traceBtn,
            traceBox);
    }));
}

async function showTrace(traceId, box, btn) {
    btn.disabled = true;
    try {
        const doc = await api(`/traces/${encodeURIComponent(traceId)}`, { optional: true });
        box.replaceChildren(h('div', { class: 'graph-scroll' }, waterfall(doc)));
        btn.hidden = true;
    } catch (err) {
        box.replaceChildren(err instanceof Unavailable ? notAvailable('This trace is') : errorNote(err));
        btn.disabled = false;
    }
}

async function sendReply(id) {
    const input = $('reply-input');
    const content = input.value.trim();
    if (!content) return;
    const note = $('reply-note');
    $('reply-send').disabled = true;
    try {
        await api(`/sessions/${encodeURIComponent(id)}/messages`, { method: 'POST', body: { role: 'operator', content } });
        input.value = '';
        note.textContent = 'Reply sent.';
        await refreshSessionView();
    } catch (err) {
        note.textContent = `Reply not sent: ${err.message}`;
    } finally {
        $('reply-send').disabled = false;
    }
}

// Take over (the agent stays silent, an operator answers) or release (the agent answers again).
async function setStatus(id, verb) {
    const note = $('reply-note');
    const button = $(verb);
    button.disabled = true;
    try {
        await api(`/sessions/${encodeURIComponent(id)}/${verb}`, { method: 'POST' });
        note.textContent = verb === 'release' ? 'Released: the agent answers this customer again.'
            : 'Taken over: the agent stays silent until you release the session.';
        await Promise.all([refreshSessionView(), guarded('sessions', loadSessions)]);
    } catch (err) {
        note.textContent = `${verb === 'release' ? 'Not released' : 'Not taken over'}: ${err.message}`;
        button.disabled = false;
    }
}

// "Save as test" (issue 12): the server turns the transcript into a `parley test` scenario (the
// customer's messages and the actions that happened); the browser downloads it for editing.
async function saveAsTest(id) {
    const note = $('reply-note');
    $('save-test').disabled = true;
    try {
        const text = await api(`/sessions/${encodeURIComponent(id)}/scenario`, { text: true });
        const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
        const link = h('a', { href: url, download: `session-${id}.json`, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 0);
        note.textContent = `Saved session-${id}.json: edit its expectations, put it under tests/conversations/ and run parley test.`;
    } catch (err) {
        note.textContent = `Not saved: ${err.message}`;
    } finally {
        $('save-test').disabled = false;
    }
}

/* ------------------------------------------------------------------ tickets and queues */

function table(headers, rows, cls) {
    return h('div', { class: 'table-scroll' }, h('table', { class: cls },
        h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', text: x })))),
        h('tbody', {}, rows)));
}

async function loadTickets() {
    let body;
    try {
        body = await api('/tickets', { optional: true });
    } catch (err) {
        if (err instanceof Unavailable) return $('tickets-body').replaceChildren(notAvailable('The tickets list is'));
        throw err;
    }
    const tickets = (body && body.tickets) || [];
    if (!tickets.length) return $('tickets-body').replaceChildren(h('p', { class: 'muted' }, 'No tickets yet.'));
    $('tickets-body').replaceChildren(table(['Ticket', 'Title', 'Priority', 'Status', 'Email', 'Session', 'Created'],
        tickets.map((t) => h('tr', { dataset: { ticketId: t.id } },
            h('td', {}, h('code', { text: t.id })),
            h('td', { text: t.title, title: t.description || '' }),
            h('td', {}, h('span', { class: `priority priority-${t.priority}`, text: t.priority })),
            h('td', { text: t.status }),
            h('td', { text: t.email }),
            h('td', {}, t.sessionId ? h('button', { type: 'button', class: 'link', onclick: () => { selectTab('sessions'); selectSession(t.sessionId); } }, String(t.sessionId).slice(0, 10) + '…') : ''),
            h('td', { text: new Date(t.createdAt).toLocaleString() }))), 'tickets'));
}

async function loadQueues() {
    let body;
    try {
        body = await api('/queue/stats', { optional: true });
    } catch (err) {
        if (err instanceof Unavailable) {
            $('redrive').disabled = true;
            return $('queues-body').replaceChildren(notAvailable('Queue statistics are'));
        }
        throw err;
    }
    const queues = (body && body.queues) || [];
    $('redrive').disabled = false;
    $('queues-body').replaceChildren(table(['Queue', 'Visible', 'In flight', 'Delayed'],
        queues.map((q) => h('tr', { class: /dlq/i.test(q.name) && q.visible > 0 ? 'dlq-alert' : '', dataset: { queue: q.name } },
            h('th', { scope: 'row', text: q.name }),
            h('td', { class: 'num', text: q.visible }),
            h('td', { class: 'num', text: q.inFlight }),
            h('td', { class: 'num', text: q.delayed }))), 'queues'));
}

$('redrive').addEventListener('click', async () => {
    const out = $('redrive-result');
    $('redrive').disabled = true;
    try {
        const r = await api('/queue/dlq/redrive', { method: 'POST', optional: true });
        out.textContent = `Moved ${r && r.moved !== undefined ? r.moved : 0} message${r && r.moved === 1 ? '' : 's'} back to the action queue.`;
        await guarded('queues', loadQueues);
    } catch (err) {
        out.textContent = err instanceof Unavailable ? 'Redrive is not available on this server.' : `Redrive failed: ${err.message}`;
    } finally {
        $('redrive').disabled = false;
    }
});

/* ------------------------------------------------------------------ metrics */

async function sampleMetrics() {
    if (!state.signedIn) return;
    await guarded('metrics', async () => {
        let text;
        try {
            text = await api('/metrics', { optional: true, text: true });
        } catch (err) {
            if (err instanceof Unavailable) {
                state.metricsMissing = true;
                if (state.tab === 'metrics') renderMetrics();
                return;
            }
            throw err;
        }
        state.metricsMissing = false;
        const now = Date.now();
        state.samples.push({ t: now, samples: parsePrometheus(text) });
        while (state.samples.length > 2 && now - state.samples[0].t > 15 * 60000) state.samples.shift();
        if (state.tab === 'metrics') renderMetrics();
    }, (err) => { $('metrics-note').textContent = `Could not read /metrics: ${err.message}`; });
}

// The scrape at least WINDOW_MS older than `cur` (else the oldest one before it).
function baseline(i) {
    const cur = state.samples[i];
    for (let j = i - 1; j >= 0; j--) if (cur.t - state.samples[j].t >= WINDOW_MS) return state.samples[j];
    return i > 0 ? state.samples[0] : null;
}

function renderMetrics() {
    const boxes = ['chart-latency', 'chart-errors', 'chart-tokens', 'chart-actions'].map($);
    if (state.metricsMissing) {
        $('metrics-note').textContent = '';
        $('tiles').replaceChildren(notAvailable('Metrics are'));
        document.querySelector('.charts').hidden = true;
        return;
    }
    document.querySelector('.charts').hidden = false;
    const n = state.samples.length;
    if (!n) {
        $('metrics-note').textContent = 'Waiting for the first scrape…';
        return;
    }
    const last = state.samples[n - 1].samples;
    const inTok = sumOf(last, 'parley_tokens_total', { direction: 'in' });
    const outTok = sumOf(last, 'parley_tokens_total', { direction: 'out' });
    const turns = sumOf(last, 'parley_turns_total');
    const errors = sumOf(last, 'parley_errors_total');
    const allBuckets = bucketsOf(last, 'parley_turn_duration_seconds');
    const tile = (label, value, id) => h('div', { class: 'tile', dataset: { metric: id } }, h('span', { class: 'tile-value', text: value }), h('span', { class: 'tile-label', text: label }));
    $('tiles').replaceChildren(
        tile('turns', formatNumber(turns), 'turns'),
        tile('errors', formatNumber(errors), 'errors'),
        tile('p50 latency (all time)', `${formatNumber(histogramQuantile(0.5, allBuckets))} s`, 'p50'),
        tile('p99 latency (all time)', `${formatNumber(histogramQuantile(0.99, allBuckets))} s`, 'p99'),
        tile('tokens in / out', `${formatNumber(inTok)} / ${formatNumber(outTok)}`, 'tokens'),
        tile('actions', formatNumber(sumOf(last, 'parley_actions_total')), 'actions'));
    const p50 = [];
    const p99 = [];
    const errRate = [];
    const tokIn = [];
    const tokOut = [];
    const actOk = [];
    const actFail = [];
    for (let i = 1; i < n; i++) {
        const cur = state.samples[i];
        const base = baseline(i);
        const t = cur.t;
        const minutes = (cur.t - base.t) / 60000;
        const d = (name, match) => Math.max(0, sumOf(cur.samples, name, match) - sumOf(base.samples, name, match));
        const buckets = bucketsDelta(bucketsOf(cur.samples, 'parley_turn_duration_seconds'), bucketsOf(base.samples, 'parley_turn_duration_seconds'));
        p50.push([t, histogramQuantile(0.5, buckets)]);
        p99.push([t, histogramQuantile(0.99, buckets)]);
        const dTurns = d('parley_turns_total');
        errRate.push([t, dTurns > 0 ? d('parley_errors_total') / dTurns : 0]);
        tokIn.push([t, d('parley_tokens_total', { direction: 'in' }) / minutes]);
        tokOut.push([t, d('parley_tokens_total', { direction: 'out' }) / minutes]);
        const dActions = d('parley_actions_total');
        const dFailed = d('parley_actions_total', { status: 'failed' });
        actOk.push([t, (dActions - dFailed) / minutes]);
        actFail.push([t, dFailed / minutes]);
    }
    $('metrics-note').textContent = n < 2 ? 'Collecting: the charts start after the second scrape (every 5 s).'
        : `Last scrape ${new Date(state.samples[n - 1].t).toLocaleTimeString()}.`;
    boxes[0].replaceChildren(lineChart('Turn latency', [{ name: 'p50', cls: 's1', points: p50 }, { name: 'p99', cls: 's2', points: p99 }], 's'), legend([['p50', 's1'], ['p99', 's2']]));
    boxes[1].replaceChildren(lineChart('Error rate', [{ name: 'errors per turn', cls: 's3', points: errRate }]), legend([['errors / turn', 's3']]));
    boxes[2].replaceChildren(lineChart('Tokens per minute', [{ name: 'in', cls: 's1', points: tokIn }, { name: 'out', cls: 's2', points: tokOut }], '/min'), legend([['in', 's1'], ['out', 's2']]));
    boxes[3].replaceChildren(lineChart('Actions per minute', [{ name: 'succeeded', cls: 's4', points: actOk }, { name: 'failed', cls: 's3', points: actFail }], '/min'), legend([['succeeded', 's4'], ['failed', 's3']]));
}

function legend(entries) {
    return h('ul', { class: 'legend' }, entries.map(([name, cls]) => h('li', {}, h('span', { class: `swatch ${cls}` }), name)));
}

// Finds the per-hour rows of /analytics whatever the exact key: the first array of objects that
// carry an hour (or time/bucket) field, searched breadth-first.
function hourRows(doc) {
    const queue = [doc];
    while (queue.length) {
        const v = queue.shift();
        if (Array.isArray(v)) {
            if (v.length && v.every((r) => r && typeof r === 'object' && ('hour' in r || 'time' in r || 'bucket' in r))) return v;
            queue.push(...v);
        } else if (v && typeof v === 'object') {
            queue.push(...Object.values(v));
        }
    }
    return [];
}

function countOf(row, key) {
    const v = row[key];
    if (typeof v === 'number') return v;
    if (v && typeof v === 'object') return Object.keys(v).reduce((a, k) => a + countOf(v, k), 0);
    return 0;
}

async function loadAnalytics() {
    let doc;
    try {
        doc = await api('/analytics', { optional: true });
    } catch (err) {
        if (err instanceof Unavailable) return $('analytics-body').replaceChildren(notAvailable('Analytics are'));
        throw err;
    }
    const rows = hourRows(doc).slice(-24);
    if (!rows.length) return $('analytics-body').replaceChildren(h('p', { class: 'muted' }, 'No activity recorded yet.'));
    const label = (r) => {
        const t = r.hour ?? r.time ?? r.bucket;
        const d = new Date(typeof t === 'number' && t < 1e12 ? t * 1000 : t);
        return Number.isNaN(d.getTime()) ? String(t) : `${String(d.getHours()).padStart(2, '0')}:00`;
    };
    const keys = [['conversations', 's1'], ['turns', 's2'], ['actions', 's4'], ['errors', 's3'], ['handoffs', 's5']];
    const groups = rows.map((r) => ({ label: label(r), values: keys.map(([k, cls]) => ({ name: k, cls, value: countOf(r, k) })) }));
    $('analytics-body').replaceChildren(
        h('div', { class: 'chart-box wide' }, barChart('Activity per hour', groups, 760), legend(keys)),
        table(['Hour', ...keys.map((k) => k[0])], groups.map((g) => h('tr', {}, h('th', { scope: 'row', text: g.label }),
            g.values.map((v) => h('td', { class: 'num', text: v.value })))), 'analytics'));
}

/* ------------------------------------------------------------------ start */

connect();
