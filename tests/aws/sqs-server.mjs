// sqs-server.mjs - fauxqs (SQS emulator, npm) on 127.0.0.1 with a random port; prints "PORT <n>".
// fauxqs listens on every interface by itself, so net.Server#listen is pinned to 127.0.0.1
// before it starts: the tests never open a port beyond the loopback. Stops on SIGTERM/SIGINT or
// when its parent process is gone.
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args[0] && typeof args[0] === 'object' && !Array.isArray(args[0])) {
    args[0] = Object.assign({}, args[0], { host: '127.0.0.1' });
  } else if (typeof args[0] === 'number' || typeof args[0] === 'string') {
    if (typeof args[1] === 'string') args[1] = '127.0.0.1';
    else args.splice(1, 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};

const { startFauxqs } = await import('fauxqs');
const server = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
process.stdout.write('PORT ' + server.port + '\n');

async function stop() {
  try { await server.stop(); } finally { process.exit(0); }
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
const parent = process.ppid;
setInterval(() => {
  try { process.kill(parent, 0); } catch (e) { stop(); }
}, 1000);
