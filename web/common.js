// common.js - small helpers shared by the chat page and the operator console: a DOM builder that
// never parses HTML (all text goes through textContent), a Server-Sent Events reader for fetch()
// bodies, the labels of action chips, and time formatting.

// Builds an element. attrs: "class", "text" (textContent), "on<event>" handlers, "dataset" (object),
// booleans (true sets the attribute, false/null/undefined leaves it out), anything else as an
// attribute. Children are nodes or strings (strings become text nodes).
export function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    appendAll(el, children);
    return el;
}

// The same for SVG elements.
export function s(tag, attrs = {}, ...children) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    setAttrs(el, attrs);
    appendAll(el, children);
    return el;
}

function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs)) {
        if (v === false || v === null || v === undefined) continue;
        if (k === 'text') el.textContent = String(v);
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
    }
}

function appendAll(el, children) {
    for (const c of children.flat()) {
        if (c === null || c === undefined || c === false) continue;
        el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
}

// Reads a text/event-stream body and calls onEvent(name, data) for each event, data parsed as
// JSON when it parses (else the raw string). Resolves when the stream ends.
export async function readEventStream(body, onEvent) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
        const { value, done } = await reader.read();
        if (value) buf += value;
        // Events end with a blank line; accept CRLF as well as LF.
        buf = buf.replace(/\r\n?/g, '\n');
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
            dispatch(buf.slice(0, cut), onEvent);
            buf = buf.slice(cut + 2);
        }
        if (done) break;
    }
    if (buf.trim()) dispatch(buf, onEvent);
}

function dispatch(block, onEvent) {
    let name = 'message';
    const data = [];
    for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') name = value;
        else if (field === 'data') data.push(value);
    }
    if (!data.length) return;
    const raw = data.join('\n');
    let parsed = raw;
    try {
        parsed = JSON.parse(raw);
    } catch {
        // Not JSON: hand over the text.
    }
    onEvent(name, parsed);
}

// An error with the API's code and the HTTP status, built from an {"error":{code,message}} body.
export class ApiError extends Error {
    constructor(status, code, message) {
        super(message);
        this.status = status;
        this.code = code;
    }
}

// Turns a non-2xx fetch Response into an ApiError (reads the body).
export async function apiError(resp) {
    let code = 'HttpError';
    let message = `the server answered ${resp.status} ${resp.statusText}`.trim();
    try {
        const body = await resp.json();
        if (body && body.error) {
            code = body.error.code || code;
            message = body.error.message || message;
        }
    } catch {
        // Not JSON: keep the status line.
    }
    return new ApiError(resp.status, code, message);
}

function str(v) {
    return v === undefined || v === null ? '' : String(v);
}

// The one-line label of an action chip: "Ticket TKT-000123 created", "Order 1042: shipped".
export function actionLabel(a) {
    const input = a.input || {};
    const r = a.result && typeof a.result === 'object' ? a.result : {};
    const failed = a.status === 'failed';
    const pending = a.status === 'pending';
    const errMsg = r.error ? str(r.error.message || r.error.code) : 'failed';
    const words = str(a.tool).replace(/_/g, ' ');
    if (a.status === 'awaiting_confirmation') return `${words}: waiting for your confirmation`;
    if (a.status === 'declined') return `${words}: cancelled`;
    switch (a.tool) {
    case 'create_support_ticket':
        if (pending) return 'Creating a ticket…';
        if (failed) return `Ticket not created: ${errMsg}`;
        return `Ticket ${str(r.ticketId || r.id)} created`;
    case 'get_ticket_status': {
        const id = str(r.ticketId || input.ticket_id);
        if (pending) return `Checking ticket ${id}…`;
        if (failed) return `Ticket ${id}: not found`;
        return `Ticket ${id}: ${str(r.status)}`;
    }
    case 'list_my_tickets':
        if (pending) return 'Looking up your tickets…';
        if (failed) return 'Could not list your tickets';
        return `Your tickets: ${Array.isArray(r.tickets) ? r.tickets.length : str(r.count)}`;
    case 'lookup_order': {
        const id = str(r.orderId || r.id || input.order_id);
        if (pending) return `Looking up order ${id}…`;
        if (failed) return `Order ${id}: not found`;
        return `Order ${id}: ${str(r.status)}`;
    }
    case 'search_knowledge_base':
        if (pending) return 'Searching help articles…';
        if (failed) return 'Help articles unavailable';
        return 'Searched help articles';
    case 'escalate_to_human':
        if (failed) return 'Could not reach a human agent';
        return 'Handed over to a human agent';
    default: {
        const name = str(a.tool).replace(/_/g, ' ');
        if (pending) return `${name}: in progress`;
        return failed ? `${name}: failed` : `${name}: done`;
    }
    }
}

// "14:05" for a timestamp (ms number or ISO string); "" when unknown.
export function clockTime(t) {
    const d = new Date(typeof t === 'string' ? Date.parse(t) : t);
    if (Number.isNaN(d.getTime())) return '';
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// Milliseconds since the epoch for a timestamp given as ms or ISO text; NaN when unknown.
export function toMs(t) {
    return typeof t === 'number' ? t : Date.parse(t);
}
