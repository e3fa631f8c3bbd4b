// flow.js - SVG drawings of one turn for the console: the state-machine path (states visited in
// order, with durations, retries and the branch each Choice took) and the X-Ray trace waterfall.

import { s } from './common.js';

export function ms(v) {
    if (v === null || v === undefined || Number.isNaN(Number(v))) return '';
    const n = Number(v);
    if (n >= 1000) return `${(n / 1000).toFixed(2)} s`;
    if (n >= 10) return `${Math.round(n)} ms`;
    return `${n >= 1 ? n.toFixed(1) : Number(n.toPrecision(2))} ms`;
}

function clip(text, n) {
    const t = String(text ?? '');
    return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

/* ------------------------------------------------------------------ state path */

const NODE_W = 170;
const NODE_H = 62;
const GAP_X = 34;
const GAP_Y = 40;
const COLS = 4;

// Returns an <svg> of execution.path laid out left to right in rows of COLS states.
export function pathGraph(execution) {
    const path = execution.path || [];
    const rows = Math.max(1, Math.ceil(path.length / COLS));
    const width = COLS * NODE_W + (COLS - 1) * GAP_X + 20;
    const height = rows * NODE_H + (rows - 1) * GAP_Y + 20;
    const label = `Turn ${execution.turn} path: ${path.map((p) => p.state + (p.choice ? ` (chose ${p.choice})` : '')).join(' → ')}`;
    const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'path-graph', role: 'img', 'aria-label': label });
    svg.append(s('defs', {}, s('marker', { id: `arrow-${execution.executionId || execution.turn}`, viewBox: '0 0 10 10', refX: 9, refY: 5,
        markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))));
    const marker = `url(#arrow-${execution.executionId || execution.turn})`;
    const pos = (i) => ({ x: 10 + (i % COLS) * (NODE_W + GAP_X), y: 10 + Math.floor(i / COLS) * (NODE_H + GAP_Y) });
    path.forEach((p, i) => {
        if (i + 1 >= path.length) return;
        const a = pos(i);
        const b = pos(i + 1);
        let d;
        if (b.y === a.y) d = `M${a.x + NODE_W},${a.y + NODE_H / 2} L${b.x - 2},${b.y + NODE_H / 2}`;
        else {
            const midY = a.y + NODE_H + GAP_Y / 2;
            d = `M${a.x + NODE_W / 2},${a.y + NODE_H} L${a.x + NODE_W / 2},${midY} L${b.x + NODE_W / 2},${midY} L${b.x + NODE_W / 2},${b.y - 2}`;
        }
        svg.append(s('path', { d, class: 'edge', 'marker-end': marker }));
    });
    path.forEach((p, i) => {
        const { x, y } = pos(i);
        const failed = p.error || p.status === 'failed' || p.status === 'FAILED';
        const cls = ['node', `type-${String(p.type || 'Task').toLowerCase()}`, failed ? 'failed' : '', p.retries > 0 ? 'retried' : '']
            .filter(Boolean).join(' ');
        const g = s('g', { class: cls, dataset: { state: p.state } });
        const details = [`${p.state} (${p.type || 'state'})`, `duration ${ms(p.durationMs)}`];
        if (p.retries > 0) details.push(`${p.retries} retr${p.retries === 1 ? 'y' : 'ies'}`);
        if (p.choice) details.push(`choice taken: ${p.choice}`);
        if (p.error) details.push(`error: ${typeof p.error === 'string' ? p.error : JSON.stringify(p.error)}`);
        g.append(s('title', { text: details.join('\n') }));
        if (p.type === 'Choice') {
            const c = 12;
            g.append(s('polygon', { points: `${x + c},${y} ${x + NODE_W - c},${y} ${x + NODE_W},${y + NODE_H / 2} ${x + NODE_W - c},${y + NODE_H} ${x + c},${y + NODE_H} ${x},${y + NODE_H / 2}`, class: 'shape' }));
        } else {
            g.append(s('rect', { x, y, width: NODE_W, height: NODE_H, rx: 8, class: 'shape' }));
        }
        g.append(s('text', { x: x + NODE_W / 2, y: y + 20, 'text-anchor': 'middle', class: 'state-name', text: clip(p.state, 22) }));
        g.append(s('text', { x: x + NODE_W / 2, y: y + 37, 'text-anchor': 'middle', class: 'state-meta',
            text: `${p.type || ''}${p.durationMs !== undefined ? ` · ${ms(p.durationMs)}` : ''}` }));
        if (p.choice)
            g.append(s('text', { x: x + NODE_W / 2, y: y + 53, 'text-anchor': 'middle', class: 'state-choice', text: `→ ${clip(p.choice, 20)}` }));
        else if (p.retries > 0)
            g.append(s('text', { x: x + NODE_W / 2, y: y + 53, 'text-anchor': 'middle', class: 'state-retry', text: `↻ ${p.retries} retr${p.retries === 1 ? 'y' : 'ies'}` }));
        if (p.retries > 0 && p.choice)
            g.append(s('text', { x: x + NODE_W - 6, y: y + 14, 'text-anchor': 'end', class: 'state-retry', text: `↻${p.retries}` }));
        svg.append(g);
    });
    return svg;
}

/* ------------------------------------------------------------------ trace waterfall */

// The segment to draw: the document itself, or, for {"trace_id", "segments": [...]} (the shape of
// X-Ray's BatchGetTraces), its only segment or a root spanning all of them.
function traceRoot(doc) {
    if (!Array.isArray(doc.segments)) return doc;
    const segs = doc.segments.map((x) => (typeof x.Document === 'string' ? JSON.parse(x.Document) : x));
    if (segs.length === 1) return segs[0];
    const starts = segs.map((x) => Number(x.start_time)).filter(Number.isFinite);
    const ends = segs.map((x) => Number(x.end_time)).filter(Number.isFinite);
    return { trace_id: doc.trace_id, name: 'trace', start_time: Math.min(...starts), end_time: Math.max(...ends, ...starts),
        subsegments: segs };
}

function flatten(seg, depth, out) {
    out.push({ seg, depth });
    for (const sub of seg.subsegments || []) flatten(sub, depth + 1, out);
    return out;
}

// Returns an <svg> waterfall of an X-Ray segment document: one row per (sub)segment, indented by
// depth, its bar placed on the segment's time line; errors and faults are marked.
export function waterfall(input) {
    const doc = traceRoot(input);
    const rows = flatten(doc, 0, []);
    const t0 = Number(doc.start_time);
    const ends = rows.map((r) => Number(r.seg.end_time)).filter(Number.isFinite);
    const t1 = Math.max(Number(doc.end_time) || 0, ...ends, t0 + 1e-6);
    const W = 760;
    const LABEL = 230;
    const RIGHT = 70;
    const ROW = 22;
    const height = rows.length * ROW + 28;
    const x = (t) => LABEL + ((t - t0) / (t1 - t0)) * (W - LABEL - RIGHT);
    const svg = s('svg', { viewBox: `0 0 ${W} ${height}`, class: 'waterfall', role: 'img',
        'aria-label': `Trace ${doc.trace_id || ''}: ${rows.length} segments over ${ms((t1 - t0) * 1000)}` });
    svg.append(s('text', { x: LABEL, y: 12, class: 'tick', text: '0' }),
        s('text', { x: W - RIGHT, y: 12, class: 'tick', 'text-anchor': 'end', text: ms((t1 - t0) * 1000) }));
    rows.forEach(({ seg, depth }, i) => {
        const y = 20 + i * ROW;
        const start = Number(seg.start_time);
        const end = Number.isFinite(Number(seg.end_time)) ? Number(seg.end_time) : t1;
        const bad = seg.fault ? 'fault' : seg.error ? 'error' : seg.throttle ? 'throttle' : '';
        const g = s('g', { class: `span ${bad}`.trim() });
        g.append(s('title', { text: `${seg.name}: ${ms((end - start) * 1000)}${bad ? ` (${bad})` : ''}${seg.namespace ? ` [${seg.namespace}]` : ''}` }));
        g.append(s('text', { x: 4 + depth * 12, y: y + 14, class: 'span-name', text: clip(seg.name, 30 - depth * 2) }));
        const bx = x(Number.isFinite(start) ? start : t0);
        g.append(s('rect', { x: bx.toFixed(1), y: y + 4, width: Math.max(1.5, x(end) - bx).toFixed(1), height: ROW - 8, rx: 2, class: 'bar' }));
        g.append(s('text', { x: W - 4, y: y + 14, 'text-anchor': 'end', class: 'span-dur', text: ms((end - start) * 1000) }));
        svg.append(g);
    });
    return svg;
}
