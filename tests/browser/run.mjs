// run.mjs - runs the browser suite against the parley at $PARLEY_URL (started by
// tests/scripts/test_browser.sh) and ends with "# N passed, M failed".
import { launch, close, run, summary, ok } from './harness.mjs';

const files = ['server', 'chat', 'console', 'handoff', 'fixtures', 'live', 'agent', 'savetest', 'widget', 'widget_identity', 'operators'];
const only = process.env.PARLEY_BROWSER_ONLY ? process.env.PARLEY_BROWSER_ONLY.split(',') : null;

try {
    await launch();
    for (const f of files) {
        if (only && !only.includes(f)) continue;
        const { tests } = await import(`./${f}.test.mjs`);
        for (const [name, fn] of tests) await run(name, fn);
    }
} catch (e) {
    ok(false, 'the suite runs', e && e.message ? e.message.split('\n')[0] : String(e));
}
await close();
process.exit(summary() ? 0 : 1);
