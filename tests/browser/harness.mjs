// harness.mjs - the small test runner of the browser suite: one headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core, a fresh profile directory), TAP-style "ok"/"not ok"
// lines, screenshots under $PARLEY_ARTIFACTS, and per-page watchers that fail a test on any
// Content-Security-Policy violation, uncaught page error or unexpected console error.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = process.env.PARLEY_URL;
export const TOKEN = process.env.PARLEY_OPERATOR_TOKEN;
export const ARTIFACTS = process.env.PARLEY_ARTIFACTS || path.resolve('build/browser-artifacts');
const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';

let passed = 0;
let failed = 0;
let current = '';

export function ok(cond, what, detail) {
    const name = `${current}: ${what}`;
    if (cond) {
        passed++;
        console.log(`ok - ${name}`);
    } else {
        failed++;
        console.log(`not ok - ${name}${detail !== undefined ? ` (${detail})` : ''}`);
    }
    return !!cond;
}

export function skip(what, why) {
    console.log(`ok - ${current}: ${what} # SKIP ${why}`);
}

export function summary() {
    console.log(`# ${passed} passed, ${failed} failed`);
    return failed === 0;
}

let context = null;
let profileDir = null;

export async function launch() {
    profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-chromium-'));
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    // launchPersistentContext passes the fresh profile as --user-data-dir and adds --headless.
    context = await chromium.launchPersistentContext(profileDir, {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
            '--no-first-run', '--disable-component-update', '--disable-sync'],
        viewport: { width: 1280, height: 860 },
        timeout: 60000,
    });
    context.setDefaultTimeout(15000);
    return context;
}

export async function close() {
    if (context) await context.close().catch(() => {});
    if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
}

// The pages opened by the current test, each with what its watchers saw.
let pages = [];

// Opens a page with watchers. allow: regexps of console errors this test expects (for example
// the 401 the console provokes on purpose).
export async function newPage({ allow = [] } = {}) {
    const page = await context.newPage();
    const seen = { csp: [], errors: [], unexpected: [] };
    await page.addInitScript(() => {
        window.__cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) => {
            window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
        });
    });
    page.on('console', (m) => {
        const text = m.text();
        if (/Content.Security.Policy/i.test(text)) seen.csp.push(text);
        else if (m.type() === 'error' && !allow.some((re) => re.test(text))) seen.unexpected.push(text);
    });
    page.on('pageerror', (e) => seen.errors.push(String(e && e.stack ? e.stack.split('\n')[0] : e)));
    page.__seen = seen;
    pages.push(page);
    return page;
}

async function checkPages() {
    for (const page of pages) {
        if (page.isClosed()) continue;
        const seen = page.__seen;
        const inPage = await page.evaluate(() => window.__cspViolations || []).catch(() => []);
        const where = new URL(page.url()).pathname;
        const csp = [...seen.csp, ...inPage];
        ok(csp.length === 0, `no CSP violation on ${where}`, csp.join(' | '));
        ok(seen.errors.length === 0, `no uncaught error on ${where}`, seen.errors.join(' | '));
        ok(seen.unexpected.length === 0, `no unexpected console error on ${where}`, seen.unexpected.join(' | '));
        await page.close().catch(() => {});
    }
    pages = [];
}

let shotNo = 0;
export async function shot(page, name) {
    shotNo++;
    const file = path.join(ARTIFACTS, `${String(shotNo).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch((e) => console.log(`# screenshot ${name} failed: ${e.message}`));
}

// Runs one named test: an exception fails it (with a screenshot of every open page).
export async function run(name, fn) {
    current = name;
    const start = Date.now();
    try {
        await fn();
    } catch (e) {
        ok(false, 'completes', e && e.message ? e.message.split('\n')[0] : String(e));
        for (const p of pages) if (!p.isClosed()) await shot(p, `${name.replace(/\W+/g, '-')}-failure`);
    }
    await checkPages();
    console.log(`# ${name}: ${((Date.now() - start) / 1000).toFixed(1)} s`);
}

// The JSON answer of an API call made from Node (not the browser), for setup and guards.
export async function apiCall(pathname, { method = 'GET', body, token } = {}) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const resp = await fetch(BASE + pathname, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await resp.text();
    let json = null;
    try {
        json = JSON.parse(text);
    } catch {
        // not JSON
    }
    return { status: resp.status, headers: resp.headers, text, json };
}

// True when the page does not scroll sideways (document and the given scrollers).
export async function noSidewaysScroll(page, selectors = []) {
    return page.evaluate((sels) => {
        const els = [document.documentElement, document.body, ...sels.map((s) => document.querySelector(s)).filter(Boolean)];
        return els.every((el) => el.scrollWidth <= el.clientWidth + 1);
    }, selectors);
}

// Values one test leaves for a later one (the ticket id, the session ids).
export const shared = {};
