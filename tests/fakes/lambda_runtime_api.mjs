#!/usr/bin/env node
// lambda_runtime_api.mjs EVENT_FILE RECORD_FILE - a stand-in for the Lambda Runtime API
// (version 2018-06-01) on 127.0.0.1 for tests/scripts/test_lambda_package.sh. Prints "port N"
// once listening. Every GET /2018-06-01/runtime/invocation/next gets the event in EVENT_FILE
// (read at each request, so the test can change it between invocations) with a fresh
// Lambda-Runtime-Aws-Request-Id, a deadline 30 s ahead and a trace id. Every POST (a response,
// an invocation error, an init error) is answered 202 and appended to RECORD_FILE as one JSON
// line {"path","errorType","body"}. Anything else is a 404.
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [eventFile, recordFile] = process.argv.slice(2);
if (!eventFile || !recordFile) {
    console.error('usage: lambda_runtime_api.mjs EVENT_FILE RECORD_FILE');
    process.exit(2);
}
let n = 0;
const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        if (req.method === 'GET' && req.url === '/2018-06-01/runtime/invocation/next') {
            n += 1;
            res.writeHead(200, {
                'Content-Type': 'application/json',
                'Lambda-Runtime-Aws-Request-Id': `req-${n}`,
                'Lambda-Runtime-Deadline-Ms': String(Date.now() + 30000),
                'Lambda-Runtime-Invoked-Function-Arn': 'arn:aws:lambda:us-east-1:1:function:parley',
                'Lambda-Runtime-Trace-Id': `Root=1-00000000-00000000000000000000000${n % 10};Sampled=0`,
            });
            res.end(readFileSync(eventFile));
        } else if (req.method === 'POST' && req.url.startsWith('/2018-06-01/runtime/')) {
            const record = {
                path: req.url,
                errorType: req.headers['lambda-runtime-function-error-type'] || null,
                body: Buffer.concat(chunks).toString('utf8'),
            };
            appendFileSync(recordFile, JSON.stringify(record) + '\n');
            res.writeHead(202, { 'Content-Type': 'application/json' });
            res.end('{"status":"OK"}');
        } else {
            res.writeHead(404, { 'Content-Type': 'application/json' });
            res.end('{"errorMessage":"not found"}');
        }
    });
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
