// s3-server.js - s3rver (S3 emulator, npm) on 127.0.0.1 with a random port and the bucket named by
// the first argument (default "conversation-logs-000000000000") in a fresh temporary directory,
// removed on exit. Prints "PORT <n>"; stops on SIGTERM/SIGINT or when its parent process is gone.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const S3rver = require('s3rver');

const bucket = process.argv[2] || 'conversation-logs-000000000000';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-s3rver-'));
const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir,
  resetOnClose: true, configureBuckets: [{ name: bucket }] });

server.run().then((addr) => {
  const port = addr && addr.port ? addr.port : server.httpServer.address().port;
  process.stdout.write('PORT ' + port + '\n');
});

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  try { await server.close(); } catch (e) { /* closing anyway */ }
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
const parent = process.ppid;
setInterval(() => {
  try { process.kill(parent, 0); } catch (e) { stop(); }
}, 1000);
