// charts.js - what the console's live charts need, with no library: a parser for the Prometheus
// text exposition format, histogram quantiles, windowed rates from successive scrapes, and small
// SVG line and bar charts.

import { s } from './common.js';

/* ------------------------------------------------------------------ Prometheus text */

// Parses exposition text into [{name, labels, value}]; comments and malformed lines are skipped.
export function parsePrometheus(text) {
    const out = [];
    for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (!line || line.startsWith('#')) continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
        if (!m) continue;
        const labels = {};
        if (m[3]) {
            const re = /([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g;
            let lm;
            while ((lm = re.exec(m[3])))
                labels[lm[1]] = lm[2].replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
        }
        const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
        if (!Number.isNaN(value)) out.push({ name: m[1], labels, value });
    }
    return out;
}

// Sum of every sample of a metric whose labels include all of match.
export function sumOf(samples, name, match = {}) {
    let total = 0;
    for (const x of samples)
        if (x.name === name && Object.entries(match).every(([k, v]) => x.labels[k] === v)) total += x.value;
    return total;
}

// The cumulative buckets of histogram `name` as [{le, count}] sorted by le (series summed).
export function bucketsOf(samples, name) {
    const by = new Map();
    for (const x of samples) {
        if (x.name !== `${name}_bucket`) continue;
        const le = x.labels.le === '+Inf' ? Infinity : Number(x.labels.le);
        by.set(le, (by.get(le) || 0) + x.value);
    }
    return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
}

// The q-quantile (0..1) of cumulative buckets, interpolated linearly inside the bucket as
// Prometheus's histogram_quantile does; null when there are no observations.
export function histogramQuantile(q, buckets) {
    if (!buckets.length) return null;
    const total = buckets[buckets.length - 1].count;
    if (!(total > 0)) return null;
    const rank = q * total;
    let prevLe = 0;
    let prevCount = 0;
    for (const b of buckets) {
        if (b.count >= rank) {
            if (b.le === Infinity) return prevLe; // the highest finite bound, as Prometheus does
            const inBucket = b.count - prevCount;
            if (inBucket <= 0) return b.le;
            return prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket);
        }
        prevLe = b.le;
        prevCount = b.count;
    }
    return prevLe;
}

// Bucket-wise difference later - earlier (for a window between two scrapes).
export function bucketsDelta(later, earlier) {
    const before = new Map(earlier.map((b) => [b.le, b.count]));
    return later.map((b) => ({ le: b.le, count: Math.max(0, b.count - (before.get(b.le) || 0)) }));
}

/* ------------------------------------------------------------------ charts */

const W = 360;
const H = 170;
const PAD = { l: 44, r: 10, t: 10, b: 22 };

function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
}

function fmt(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(1)}k`;
    if (Number.isInteger(v)) return String(v);
    if (Math.abs(v) >= 10) return v.toFixed(0);
    if (Math.abs(v) >= 1) return v.toFixed(1);
    return v.toPrecision(2);
}
export { fmt as formatNumber };

// Draws series [{name, cls, points: [[timeMs, value|null]]}] as an SVG line chart; null values
// leave gaps. The chart's accessible name lists the latest value of each series.
export function lineChart(title, series, unit = '') {
    const all = series.flatMap((x) => x.points);
    const times = all.map((p) => p[0]);
    const t0 = Math.min(...times, Date.now() - 60000);
    const t1 = Math.max(...times, t0 + 1000);
    const vmax = niceMax(Math.max(0, ...all.map((p) => p[1]).filter((v) => v !== null && Number.isFinite(v))));
    const x = (t) => PAD.l + ((t - t0) / (t1 - t0)) * (W - PAD.l - PAD.r);
    const y = (v) => H - PAD.b - (v / vmax) * (H - PAD.t - PAD.b);
    const latest = series.map((sr) => {
        const last = [...sr.points].reverse().find((p) => p[1] !== null);
        return `${sr.name} ${last ? fmt(last[1]) : 'no data'}${unit ? ` ${unit}` : ''}`;
    }).join(', ');
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `${title}: ${latest}` });
    for (let i = 0; i <= 4; i++) {
        const v = (vmax * i) / 4;
        svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: 'grid' }),
            s('text', { x: PAD.l - 4, y: y(v) + 4, class: 'tick', 'text-anchor': 'end', text: fmt(v) }));
    }
    svg.append(s('text', { x: PAD.l, y: H - 4, class: 'tick', text: new Date(t0).toLocaleTimeString() }),
        s('text', { x: W - PAD.r, y: H - 4, class: 'tick', 'text-anchor': 'end', text: new Date(t1).toLocaleTimeString() }));
    series.forEach((sr) => {
        let d = '';
        let pen = false;
        for (const [t, v] of sr.points) {
            if (v === null || !Number.isFinite(v)) { pen = false; continue; }
            d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)} `;
            pen = true;
        }
        if (d) svg.append(s('path', { d, class: `series ${sr.cls}` }));
        for (const [t, v] of sr.points)
            if (v !== null && Number.isFinite(v))
                svg.append(s('circle', { cx: x(t).toFixed(1), cy: y(v).toFixed(1), r: 2, class: `dot ${sr.cls}` }));
    });
    return svg;
}

// Draws grouped bars: groups [{label, values: [{name, cls, value}]}].
export function barChart(title, groups, width = W) {
    const n = Math.max(1, groups.length);
    const k = Math.max(1, ...groups.map((g) => g.values.length));
    const vmax = niceMax(Math.max(0, ...groups.flatMap((g) => g.values.map((v) => v.value))));
    const gw = (width - PAD.l - PAD.r) / n;
    const bw = Math.max(2, (gw * 0.8) / k);
    const y = (v) => H - PAD.b - (v / vmax) * (H - PAD.t - PAD.b);
    const svg = s('svg', { viewBox: `0 0 ${width} ${H}`, class: 'chart', role: 'img', 'aria-label': title });
    for (let i = 0; i <= 4; i++) {
        const v = (vmax * i) / 4;
        svg.append(s('line', { x1: PAD.l, x2: width - PAD.r, y1: y(v), y2: y(v), class: 'grid' }),
            s('text', { x: PAD.l - 4, y: y(v) + 4, class: 'tick', 'text-anchor': 'end', text: fmt(v) }));
    }
    groups.forEach((g, gi) => {
        const gx = PAD.l + gi * gw + gw * 0.1;
        g.values.forEach((v, vi) => {
            svg.append(s('rect', { x: (gx + vi * bw).toFixed(1), y: y(v.value).toFixed(1), width: (bw - 1).toFixed(1),
                height: Math.max(0, H - PAD.b - y(v.value)).toFixed(1), class: `bar ${v.cls}` },
            s('title', { text: `${g.label} ${v.name}: ${v.value}` })));
        });
        if (n <= 12 || gi % Math.ceil(n / 12) === 0)
            svg.append(s('text', { x: (gx + (k * bw) / 2).toFixed(1), y: H - 6, class: 'tick', 'text-anchor': 'middle', text: g.label }));
    });
    return svg;
}
