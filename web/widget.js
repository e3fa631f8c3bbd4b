// widget.js - the embeddable chat: one `<script src="https://support.example.com/widget.js" defer>`
// on any site adds a launcher button and a chat panel inside a shadow root (the host page's CSS
// cannot reach in, ours cannot leak out). It talks to the Parley server the script came from
// (the origin of its own src), which must list the site in PARLEY_ALLOWED_ORIGINS: POST /chat as a
// Server-Sent Events stream, GET /agent for the brand name and colour, GET /sessions/{id} to bring
// the conversation back after a reload (the session id is kept in localStorage). A verified
// customer's token comes from the script's data-user-token attribute or Parley.identify(token) and
// is sent as Authorization: Bearer. While a person has the conversation (status "handoff") their
// replies arrive without the customer typing: the widget polls GET /sessions/{id}. Any failure to
// reach the server shows an error state.
(() => {
    'use strict';
    if (window.Parley && window.Parley.widget) return; // included twice: keep the first

    const script = document.currentScript ||
        Array.from(document.querySelectorAll('script[src]')).find((s) => /\/widget\.js(\?|#|$)/.test(s.src));
    if (!script) return;
    const SERVER = new URL(script.src, location.href).origin;
    const SESSION_KEY = `parley.widget.session:${SERVER}`;

    let token = script.getAttribute('data-user-token') || null;
    let sessionId = null;
    try {
        sessionId = localStorage.getItem(SESSION_KEY);
    } catch {
        // storage blocked (private mode, sandbox): the conversation lasts as long as the page
    }

    function remember(id) {
        sessionId = id;
        try {
            if (id) localStorage.setItem(SESSION_KEY, id);
            else localStorage.removeItem(SESSION_KEY);
        } catch {
            // see above
        }
    }

    // ------------------------------------------------------------------ the shadow DOM

    const CSS = `
:host { all: initial; }
* { box-sizing: border-box; }
.root { --brand: #2458d3; --brand-ink: #ffffff; --ink: #1b2330; --muted: #5b6575; --line: #d9dfe8;
  --bg: #f5f7fb; --panel: #ffffff; --op: #0d7a5f; --op-soft: #e3f5ef; --bad: #b42318; --bad-soft: #fdecea;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--ink); }
button, textarea { font: inherit; color: inherit; }
button:focus-visible, textarea:focus-visible { outline: none; box-shadow: 0 0 0 3px #9bb7f5; }
.launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: none; cursor: pointer;
  border-radius: 999px; padding: 12px 18px; background: var(--brand); color: var(--brand-ink); font-weight: 600;
  box-shadow: 0 4px 16px rgba(0,0,0,.2); }
.panel { position: fixed; right: 20px; bottom: 80px; z-index: 2147483001; display: flex; flex-direction: column;
  width: min(380px, calc(100vw - 40px)); height: min(560px, calc(100vh - 110px)); background: var(--panel);
  border: 1px solid var(--line); border-radius: 12px; box-shadow: 0 8px 32px rgba(0,0,0,.25); overflow: hidden; }
.panel[hidden] { display: none; }
.head { display: flex; align-items: center; gap: 8px; padding: 10px 12px; background: var(--brand); color: var(--brand-ink); }
.head h2 { flex: 1; margin: 0; font-size: 1rem; line-height: 1.2; overflow-wrap: anywhere; }
.close { border: none; background: transparent; cursor: pointer; font-size: 1.3rem; line-height: 1; padding: 4px 8px;
  border-radius: 8px; color: inherit; }
.main { flex: 1; overflow-y: auto; overflow-x: hidden; padding: 12px; background: var(--bg); }
.hint { color: var(--muted); text-align: center; margin: 1em 0; }
ol { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 10px; }
li { display: flex; flex-direction: column; max-width: 85%; min-width: 0; }
.who { font-size: .72rem; color: var(--muted); margin: 0 0 2px; }
.bubble { padding: 8px 12px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere;
  background: var(--panel); border: 1px solid var(--line); }
.bubble:empty { display: none; }
.user { align-self: flex-end; align-items: flex-end; }
.user .bubble { background: var(--brand); color: var(--brand-ink); border-color: var(--brand); }
.assistant, .operator { align-self: flex-start; }
.operator .who { color: var(--op); font-weight: 600; }
.operator .bubble { background: var(--op-soft); border-color: var(--op); border-left-width: 4px; }
.streaming .bubble::after { content: "\\258D"; opacity: .6; }
.alert { margin: 0; padding: 8px 12px; background: var(--bad-soft); color: var(--bad); border-top: 1px solid var(--bad); }
.alert[hidden] { display: none; }
form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid var(--line); background: var(--panel); }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
textarea { flex: 1; min-width: 0; resize: none; height: 2.6em; padding: 7px 10px; border: 1px solid var(--line);
  border-radius: 10px; background: var(--panel); }
.send { border: none; border-radius: 10px; padding: 0 14px; background: var(--brand); color: var(--brand-ink);
  font-weight: 600; cursor: pointer; }
.send:disabled { opacity: .6; cursor: default; }
@media (max-width: 480px) {
  .panel { right: 0; bottom: 0; width: 100vw; height: 100vh; height: 100dvh; border-radius: 0; border: none; }
}`;

    // Builds an element: attrs are attributes, except text (textContent); children may be null.
    function el(tag, attrs, ...children) {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
            if (k === 'text') e.textContent = v;
            else if (v !== false && v !== null && v !== undefined) e.setAttribute(k, v === true ? '' : v);
        }
        for (const c of children) if (c) e.append(c);
        return e;
    }

    const host = el('div', { id: 'parley-widget', 'data-state': 'loading' });
    const shadow = host.attachShadow({ mode: 'open' });
    const launcher = el('button', { type: 'button', class: 'launcher', 'aria-expanded': 'false',
        'aria-controls': 'parley-panel', text: 'Chat with us' });
    const title = el('h2', { id: 'parley-title', text: 'Support' });
    const closeBtn = el('button', { type: 'button', class: 'close', 'aria-label': 'Close chat', text: '\u00d7' });
    const list = el('ol', { 'aria-live': 'polite', 'aria-label': 'Conversation' });
    const hint = el('p', { class: 'hint', text: 'Ask us anything.' });
    const alertBox = el('p', { class: 'alert', role: 'alert', hidden: true });
    const input = el('textarea', { id: 'parley-input', rows: '1', maxlength: '4000', autocomplete: 'off' });
    const sendBtn = el('button', { type: 'submit', class: 'send', text: 'Send' });
    const form = el('form', {}, el('label', { for: 'parley-input', class: 'sr', text: 'Your message' }), input, sendBtn);
    const main = el('div', { class: 'main' }, hint, list);
    const panel = el('div', { id: 'parley-panel', class: 'panel', role: 'dialog', 'aria-labelledby': 'parley-title',
        hidden: true }, el('div', { class: 'head' }, title, closeBtn), main, alertBox, form);
    const root = el('div', { class: 'root' }, launcher, panel);
    shadow.append(el('style', { text: CSS }), root);

    function setState(s) {
        host.setAttribute('data-state', s);
    }

    function showError(message) {
        alertBox.textContent = message;
        alertBox.hidden = false;
        setState('error');
    }

    function clearError() {
        alertBox.hidden = true;
        alertBox.textContent = '';
    }

    function addMessage(role, text, who) {
        const li = el('li', { class: role },
            el('p', { class: 'who', text: who || (role === 'user' ? 'You' : role === 'operator' ? 'Support team' : title.textContent) }),
            el('div', { class: 'bubble', text: text || '' }));
        list.append(li);
        hint.hidden = true;
        main.scrollTop = main.scrollHeight;
        return li;
    }

    function open() {
        panel.hidden = false;
        launcher.setAttribute('aria-expanded', 'true');
        input.focus();
    }

    function close() {
        panel.hidden = true;
        launcher.setAttribute('aria-expanded', 'false');
        launcher.focus();
    }

    launcher.addEventListener('click', () => (panel.hidden ? open() : close()));
    closeBtn.addEventListener('click', close);
    panel.addEventListener('keydown', (e) => {
        if (e.key === 'Escape') {
            e.stopPropagation();
            close();
        }
    });

    // ------------------------------------------------------------------ the server

    function headers(extra) {
        const h = Object.assign({}, extra);
        if (token) h.Authorization = `Bearer ${token}`;
        return h;
    }

    // The message of a failed response: the server's {"error":{"message"}} when it sent one.
    async function failure(resp) {
        let message = `the server answered ${resp.status}`;
        try {
            const body = await resp.json();
            if (body && body.error && body.error.message) message = body.error.message;
        } catch {
            // not JSON
        }
        const e = new Error(message);
        e.status = resp.status;
        return e;
    }

    // Calls onEvent(name, data) for each Server-Sent Event of the body (data parsed as JSON when
    // it is JSON).
    async function eachEvent(body, onEvent) {
        const reader = body.getReader();
        const decoder = new TextDecoder();
        let pending = '';
        const flush = (block) => {
            let name = 'message';
            const lines = [];
            for (const raw of block.split('\n')) {
                const m = /^([a-z]+):? ?(.*)$/.exec(raw);
                if (!m) continue;
                if (m[1] === 'event') name = m[2];
                else if (m[1] === 'data') lines.push(m[2]);
            }
            if (!lines.length) return;
            let data = lines.join('\n');
            try {
                data = JSON.parse(data);
            } catch {
                // plain text
            }
            onEvent(name, data);
        };
        for (;;) {
            const { value, done } = await reader.read();
            pending += decoder.decode(value || new Uint8Array(), { stream: !done }).replace(/\r\n?/g, '\n');
            const blocks = pending.split('\n\n');
            pending = blocks.pop();
            blocks.forEach(flush);
            if (done) break;
        }
        if (pending.trim()) flush(pending);
    }

    async function send(text) {
        clearError();
        addMessage('user', text);
        input.value = '';
        sendBtn.disabled = true;
        let reply = null;
        try {
            const body = { message: text };
            if (sessionId) body.sessionId = sessionId;
            const resp = await fetch(`${SERVER}/chat`, {
                method: 'POST',
                headers: headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
                body: JSON.stringify(body),
            });
            if (!resp.ok) throw await failure(resp);
            let final = null;
            let streamError = null;
            await eachEvent(resp.body, (name, data) => {
                if (name === 'delta' && data && typeof data.text === 'string') {
                    if (!reply) {
                        reply = addMessage('assistant', '');
                        reply.classList.add('streaming');
                        reply.setAttribute('aria-busy', 'true');
                    }
                    reply.querySelector('.bubble').textContent += data.text;
                    main.scrollTop = main.scrollHeight;
                } else if (name === 'done') {
                    final = data;
                } else if (name === 'error') {
                    streamError = (data && data.error && data.error.message) || 'the reply failed';
                }
            });
            if (streamError) throw new Error(streamError);
            if (!final) throw new Error('the reply stopped before it was complete');
            if (final.sessionId) remember(final.sessionId);
            for (const m of final.operatorMessages || []) addOperator(m);
            if (!reply && final.reply) reply = addMessage('assistant', '');
            if (reply) {
                reply.querySelector('.bubble').textContent = final.reply || '';
                reply.classList.remove('streaming');
                reply.removeAttribute('aria-busy');
            }
            setStatus(final.status);
            setState('ready');
        } catch (e) {
            if (reply) reply.remove();
            showError(`Sorry, the chat is unavailable right now (${e.message || e}).`);
        } finally {
            sendBtn.disabled = false;
        }
    }

    form.addEventListener('submit', (e) => {
        e.preventDefault();
        const text = input.value.trim();
        if (text && !sendBtn.disabled) send(text);
    });
    input.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey) {
            e.preventDefault();
            form.requestSubmit();
        }
    });

    async function loadAgent() {
        const resp = await fetch(`${SERVER}/agent`, { cache: 'no-store' });
        if (!resp.ok) throw await failure(resp);
        const agent = await resp.json();
        const brand = agent.brand || {};
        const name = brand.name || agent.name;
        if (name) {
            title.textContent = name;
            launcher.textContent = `Chat with ${name}`;
        }
        if (typeof brand.color === 'string' && /^#[0-9a-f]{6}$/i.test(brand.color))
            root.style.setProperty('--brand', brand.color);
        if (agent.greeting) hint.textContent = agent.greeting;
    }

    // The stored conversation, when the server still knows it for this customer.
    async function restore() {
        if (!sessionId) return;
        const resp = await fetch(`${SERVER}/sessions/${encodeURIComponent(sessionId)}`,
            { headers: headers(), cache: 'no-store' });
        if (resp.status === 404 || resp.status === 401) {
            remember(null);
            return;
        }
        if (!resp.ok) throw await failure(resp);
        const session = await resp.json();
        for (const m of session.messages || []) {
            if (m.role === 'user' || (m.role === 'assistant' && m.content)) addMessage(m.role, m.content);
            else if (m.role === 'operator') addOperator(m);
        }
        setStatus(session.status);
    }

    // ------------------------------------------------------------------ operator replies

    const POLL_MS = 2000;
    const seenOperator = new Set(); // keys of the operator messages on screen
    let status = 'active'; // the session's status: 'active' | 'handoff' | 'closed'
    let pollTimer = null;

    // Shows an operator message unless it is on screen already (a reply's operatorMessages and a
    // later poll carry the same message).
    function addOperator(m) {
        const when = Date.parse(m.timestamp || '');
        const key = `${Number.isNaN(when) ? m.timestamp || '' : when}|${m.content}`;
        if (seenOperator.has(key)) return;
        seenOperator.add(key);
        addMessage('operator', m.content, m.name);
    }

    function stopPolling() {
        clearTimeout(pollTimer);
        pollTimer = null;
    }

    function setStatus(next) {
        status = next || 'active';
        if (status !== 'handoff') stopPolling();
        else if (!pollTimer) pollTimer = setTimeout(poll, POLL_MS);
    }

    async function poll() {
        pollTimer = null;
        const polled = sessionId;
        if (!polled || status !== 'handoff') return;
        if (!sendBtn.disabled) { // a turn in flight brings its own operatorMessages
            try {
                const resp = await fetch(`${SERVER}/sessions/${encodeURIComponent(polled)}`,
                    { headers: headers(), cache: 'no-store' });
                if (resp.ok && polled === sessionId) {
                    const session = await resp.json();
                    for (const m of session.messages || []) if (m.role === 'operator') addOperator(m);
                    status = session.status || 'active';
                }
            } catch {
                // a missed poll is retried on the next tick; sending still reports errors
            }
        }
        if (status === 'handoff' && !pollTimer && polled === sessionId) pollTimer = setTimeout(poll, POLL_MS);
    }

    async function start() {
        document.body.append(host);
        try {
            await loadAgent();
            await restore();
            setState('ready');
        } catch (e) {
            showError(`Sorry, the chat is unavailable right now (${e.message || e}).`);
        }
    }

    window.Parley = {
        widget: true,
        // Signs the customer in (a token from the site's backend) or out (null). A different
        // customer starts a new conversation.
        identify(next) {
            const t = next || null;
            if (t === token) return;
            token = t;
            remember(null);
            stopPolling();
            status = 'active';
            seenOperator.clear();
            list.replaceChildren();
            hint.hidden = false;
        },
        open,
        close,
    };

    if (document.body) start();
    else document.addEventListener('DOMContentLoaded', start, { once: true });
})();
