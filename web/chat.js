// chat.js - the customer chat page: sends messages to POST /chat as a Server-Sent Events stream,
// shows the reply as it arrives with a typing indicator and action chips, keeps the session across
// reloads (localStorage + GET /sessions/{id}) and polls for operator replies during a handoff.
// The page's title and greeting come from the agent file (GET /agent); a tool call that needs the
// customer's confirmation shows what will be done with "Yes" / "No" buttons that send the answer.

import { h, readEventStream, apiError, ApiError, actionLabel, clockTime, toMs } from './common.js';

const SESSION_KEY = 'parley.sessionId';
const USER_KEY = 'parley.userId';
const POLL_MS = 3000;

const $ = (id) => document.getElementById(id);
const list = $('messages');
const input = $('composer-input');
const form = $('composer');
const sendBtn = $('send');
const typing = $('typing');
const errorBox = $('error');
const errorText = $('error-text');
const statusLine = $('status-line');

const state = {
    sessionId: localStorage.getItem(SESSION_KEY),
    userId: null,          // optional customer id (?user=... on the page's URL)
    status: 'active',      // 'active' | 'handoff' | 'closed'
    busy: false,           // a /chat request is in flight
    retry: null,           // what "Try again" does
    seenOperator: new Set(), // keys of operator messages already on screen
    seenActions: new Set(),  // ids of actions already shown as chips
    pollTimer: null,
    confirmBox: null,      // the pending confirmation's Yes/No group, or null
    confirmSeq: 0,         // ids of confirmation groups
};

// A ?user= on the URL starts (or keeps) a conversation for that customer id; otherwise the one the
// stored session was made for.
{
    const fromUrl = new URLSearchParams(location.search).get('user');
    if (fromUrl && fromUrl !== localStorage.getItem(USER_KEY)) {
        localStorage.removeItem(SESSION_KEY);
        state.sessionId = null;
        localStorage.setItem(USER_KEY, fromUrl);
    }
    state.userId = fromUrl || localStorage.getItem(USER_KEY);
}

/* ------------------------------------------------------------------ rendering */

function scrollToEnd() {
    const main = list.parentElement;
    main.scrollTop = main.scrollHeight;
}

function updateEmptyHint() {
    $('empty-hint').hidden = list.children.length > 0;
}

// Appends a message and returns its <li>; the text element is li.querySelector('.bubble').
function addMessage(role, text, { time, before } = {}) {
    const who = { user: 'You', assistant: 'Assistant', operator: 'Support team (human)', system: 'Notice' }[role];
    const li = h('li', { class: `msg msg-${role}` },
        h('p', { class: role === 'user' ? 'who sr-only' : 'who', text: who }),
        h('div', { class: 'bubble', text }),
        h('ul', { class: 'chips', hidden: true, 'aria-label': 'What the assistant did' }),
        time ? h('time', { class: 'when', datetime: new Date(toMs(time)).toISOString(), text: clockTime(time) }) : null);
    if (before) list.insertBefore(li, before);
    else list.append(li);
    updateEmptyHint();
    scrollToEnd();
    return li;
}

function addChip(li, action) {
    if (action.id && state.seenActions.has(action.id)) return;
    if (action.id) state.seenActions.add(action.id);
    const chips = li.querySelector('.chips');
    chips.hidden = false;
    chips.append(h('li', { class: `chip chip-${action.status || 'succeeded'}`, dataset: { tool: action.tool || '' } },
        actionLabel(action)));
    scrollToEnd();
}

function operatorKey(content, timestamp) {
    return `${toMs(timestamp)}|${content}`;
}

// Shows an operator message unless it is already on screen; returns its <li> or null.
function addOperatorMessage(content, timestamp, before) {
    const key = operatorKey(content, timestamp);
    if (state.seenOperator.has(key)) return null;
    state.seenOperator.add(key);
    return addMessage('operator', content, { time: timestamp, before });
}

function setStatus(status) {
    const was = state.status;
    state.status = status || 'active';
    document.body.classList.toggle('in-handoff', state.status === 'handoff');
    statusLine.textContent = state.status === 'handoff'
        ? 'A member of our support team will reply here'
        : state.status === 'closed' ? 'This conversation is closed' : 'Virtual assistant';
    if (was === 'handoff' && state.status === 'active')
        addMessage('system', 'The support team handed you back to the virtual assistant.');
    if (state.status === 'handoff') startPolling();
    else stopPolling();
}

function showError(err, retry) {
    const kind = err instanceof ApiError ? err.code : 'NetworkError';
    let text;
    if (kind === 'NetworkError' || err instanceof TypeError)
        text = "We couldn't reach Parley. Check your connection and try again.";
    else if (err.status === 429 || kind === 'ModelThrottled')
        text = 'We are very busy right now. Please try again in a moment.';
    else if (err.status >= 500 || kind.startsWith('Model'))
        text = `Sorry, something went wrong on our side (${err.message}). Please try again.`;
    else text = `Sorry, that didn't work: ${err.message}`;
    errorText.textContent = text;
    state.retry = retry;
    $('retry').hidden = !retry;
    errorBox.hidden = false;
}

function hideError() {
    errorBox.hidden = true;
    state.retry = null;
}

function setBusy(busy) {
    state.busy = busy;
    sendBtn.disabled = busy;
    $('new-chat').disabled = busy;
    typing.hidden = !busy;
    list.setAttribute('aria-busy', busy ? 'true' : 'false');
    if (busy) scrollToEnd();
}

/* ------------------------------------------------------------------ confirmations */

const plainWords = (name) => String(name || '').replace(/[_-]+/g, ' ').trim();

function clearConfirmation() {
    if (state.confirmBox) state.confirmBox.remove();
    state.confirmBox = null;
}

// Shows the pending confirmation under the assistant's question (li): the action in plain words,
// its arguments, and Yes / No buttons that send the answer as the customer's next message. The
// group is labelled by the action and described by the question (confirmation.prompt), and the
// Yes button takes the focus so a keyboard or screen-reader user lands on the choice.
function showConfirmation(li, c) {
    clearConfirmation();
    const n = ++state.confirmSeq;
    const bubble = li.querySelector('.bubble');
    if (!bubble.textContent) bubble.textContent = c.prompt || '';
    bubble.id = `confirm-prompt-${n}`;
    const args = Object.entries(c.input && typeof c.input === 'object' ? c.input : {}).map(([k, v]) =>
        h('li', {},
            h('span', { class: 'confirm-key', text: `${plainWords(k)}: ` }),
            h('span', { class: 'confirm-value', text: typeof v === 'string' ? v : JSON.stringify(v) })));
    const answer = (text) => {
        clearConfirmation();
        if (!state.busy) send(text);
        input.focus();
    };
    const yes = h('button', { type: 'button', class: 'confirm-yes', text: 'Yes', onclick: () => answer('Yes') });
    const no = h('button', { type: 'button', class: 'confirm-no ghost', text: 'No', onclick: () => answer('No') });
    const box = h('div', { class: 'confirm', role: 'group', 'aria-labelledby': `confirm-title-${n}`,
        'aria-describedby': bubble.id, dataset: { tool: c.tool || '' } },
        h('p', { class: 'confirm-title', id: `confirm-title-${n}`, text: `Confirm: ${plainWords(c.tool)}` }),
        args.length ? h('ul', { class: 'confirm-args', 'aria-label': 'Details' }, ...args) : null,
        h('div', { class: 'confirm-buttons' }, yes, no));
    li.append(box);
    state.confirmBox = box;
    scrollToEnd();
    yes.focus();
}

/* ------------------------------------------------------------------ sending */

async function send(text, userLi) {
    hideError();
    clearConfirmation(); // a typed answer replaces the buttons; a new question brings new ones
    if (!userLi) userLi = addMessage('user', text, { time: Date.now() });
    userLi.classList.remove('failed');
    setBusy(true);
    const body = { message: text };
    if (state.sessionId) body.sessionId = state.sessionId;
    if (state.userId) body.userId = state.userId;
    let replyLi = null;
    const ensureReply = () => {
        if (!replyLi) {
            replyLi = addMessage('assistant', '');
            replyLi.classList.add('streaming');
            replyLi.setAttribute('aria-busy', 'true');
        }
        return replyLi;
    };
    try {
        const resp = await fetch('/chat', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
            body: JSON.stringify(body),
        });
        if (!resp.ok) throw await apiError(resp);
        let final = null;
        let streamError = null;
        if ((resp.headers.get('Content-Type') || '').includes('text/event-stream')) {
            await readEventStream(resp.body, (name, data) => {
                if (name === 'delta' && data && typeof data.text === 'string') {
                    const bubble = ensureReply().querySelector('.bubble');
                    bubble.textContent += data.text;
                    scrollToEnd();
                } else if (name === 'action' && data) {
                    addChip(ensureReply(), data);
                } else if (name === 'done') {
                    final = data;
                } else if (name === 'error') {
                    streamError = (data && data.error) || { code: 'StreamError', message: String(data) };
                }
            });
            if (streamError) throw new ApiError(502, streamError.code, streamError.message);
            if (!final) throw new ApiError(502, 'IncompleteReply', 'the reply stopped before it was complete');
        } else {
            final = await resp.json();
        }
        finishTurn(final, replyLi);
        userLi.classList.add('delivered');
    } catch (err) {
        if (replyLi) replyLi.remove();
        updateEmptyHint();
        userLi.classList.add('failed');
        showError(err, () => send(text, userLi));
    } finally {
        setBusy(false);
    }
}

function finishTurn(reply, li) {
    if (reply.sessionId && reply.sessionId !== state.sessionId) {
        state.sessionId = reply.sessionId;
        localStorage.setItem(SESSION_KEY, reply.sessionId);
    }
    for (const m of reply.operatorMessages || [])
        addOperatorMessage(m.content, m.timestamp, li || undefined);
    const actions = reply.actions || [];
    if (reply.reply || actions.length) {
        if (!li) li = addMessage('assistant', '');
        li.querySelector('.bubble').textContent = reply.reply || '';
        for (const a of actions) addChip(li, a);
        li.classList.remove('streaming');
        li.removeAttribute('aria-busy');
        li.append(h('time', { class: 'when', datetime: new Date().toISOString(), text: clockTime(Date.now()) }));
    } else if (li) {
        li.remove();
    }
    if (reply.confirmation && typeof reply.confirmation === 'object') {
        if (!li) li = addMessage('assistant', '');
        showConfirmation(li, reply.confirmation);
    }
    setStatus(reply.status);
}

/* ------------------------------------------------------------------ transcript */

async function fetchSession() {
    const who = state.userId ? `?userId=${encodeURIComponent(state.userId)}` : '';
    const resp = await fetch(`/sessions/${encodeURIComponent(state.sessionId)}${who}`, { cache: 'no-store' });
    if (!resp.ok) throw await apiError(resp);
    return resp.json();
}

// Rebuilds the conversation from the stored transcript; tool calls become chips on the assistant
// message that follows them.
function renderTranscript(session) {
    list.replaceChildren();
    state.seenOperator.clear();
    state.seenActions.clear();
    const calls = new Map(); // toolUseId -> {tool, input}
    let chips = [];
    let lastAssistant = null; // the question a pending confirmation belongs under
    for (const m of session.messages || []) {
        if (m.role === 'user') {
            addMessage('user', m.content, { time: m.timestamp });
        } else if (m.role === 'operator') {
            addOperatorMessage(m.content, m.timestamp);
        } else if (m.role === 'assistant') {
            for (const u of m.toolUses || []) calls.set(u.id, u);
            if (m.content) {
                const li = addMessage('assistant', m.content, { time: m.timestamp });
                for (const a of chips) addChip(li, a);
                chips = [];
                lastAssistant = li;
            }
        } else if (m.role === 'tool') {
            const call = calls.get(m.toolUseId) || {};
            let result = m.content;
            try {
                result = JSON.parse(m.content);
            } catch {
                // keep the text
            }
            chips.push({ id: m.toolUseId, tool: call.tool, input: call.input, result,
                status: m.isError ? 'failed' : 'succeeded' });
        }
    }
    if (chips.length) {
        const li = addMessage('assistant', '');
        for (const a of chips) addChip(li, a);
        lastAssistant = li;
    }
    // A confirmation still waiting for the customer (the page was reloaded): ask again.
    if (session.confirmation && typeof session.confirmation === 'object') {
        showConfirmation(lastAssistant || addMessage('assistant', ''), session.confirmation);
    }
    state.status = 'active';
    setStatus(session.status);
}

async function restore() {
    if (!state.sessionId) return;
    try {
        renderTranscript(await fetchSession());
    } catch (err) {
        if (err instanceof ApiError && err.status === 404) {
            // The server no longer knows this conversation: start a new one.
            localStorage.removeItem(SESSION_KEY);
            state.sessionId = null;
            return;
        }
        showError(err, () => { hideError(); restore(); });
    }
}

/* ------------------------------------------------------------------ handoff polling */

async function poll() {
    state.pollTimer = null;
    if (!state.sessionId || state.status !== 'handoff') return;
    if (!state.busy) {
        const polled = state.sessionId;
        try {
            const session = await fetchSession();
            // The customer may have started a new conversation meanwhile.
            if (polled !== state.sessionId) return;
            for (const m of session.messages || [])
                if (m.role === 'operator') addOperatorMessage(m.content, m.timestamp);
            if (session.status !== state.status) setStatus(session.status);
        } catch {
            // A missed poll is retried on the next tick; sending still reports errors.
        }
    }
    if (state.status === 'handoff' && !state.pollTimer) state.pollTimer = setTimeout(poll, POLL_MS);
}

function startPolling() {
    if (!state.pollTimer) state.pollTimer = setTimeout(poll, POLL_MS);
}

function stopPolling() {
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
}

/* ------------------------------------------------------------------ wiring */

function autoGrow() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text || state.busy) return;
    input.value = '';
    autoGrow();
    send(text);
    input.focus();
});

input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
    }
});
input.addEventListener('input', autoGrow);

$('retry').addEventListener('click', () => {
    const retry = state.retry;
    hideError();
    if (retry) retry();
});
$('dismiss').addEventListener('click', hideError);

$('new-chat').addEventListener('click', () => {
    stopPolling();
    hideError();
    clearConfirmation();
    localStorage.removeItem(SESSION_KEY);
    state.sessionId = null;
    state.status = 'active';
    list.replaceChildren();
    state.seenOperator.clear();
    state.seenActions.clear();
    setStatus('active');
    updateEmptyHint();
    input.focus();
});

// The agent's name and greeting (GET /agent) replace the page's defaults; without them (an older
// server, a network error) the defaults stay.
async function loadAgent() {
    try {
        const resp = await fetch('/agent', { cache: 'no-store' });
        if (!resp.ok) return;
        const agent = await resp.json();
        if (typeof agent.name === 'string' && agent.name) {
            $('agent-name').textContent = agent.name;
            document.title = `${agent.name} · Support`;
        }
        if (typeof agent.greeting === 'string' && agent.greeting) $('empty-hint').textContent = agent.greeting;
    } catch {
        // keep the defaults
    }
}

document.body.dataset.ready = 'loading';
Promise.all([loadAgent(), restore()]).finally(() => {
    updateEmptyHint();
    document.body.dataset.ready = 'true';
});
