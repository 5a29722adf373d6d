#!/usr/bin/env node
// A plain TCP relay, run inside the gateway's namespace so that Kafka's advertised address (127.0.0.1:port) leads
// over the uplink veth to the host: `node relay-cli.ts <listenHost:port> <targetHost:port>`. Prints "ready".
import { once } from 'node:events';
import { connect, createServer } from 'node:net';

const [listen, target] = process.argv.slice(2);
if (!listen || !target) {
  process.stderr.write('usage: relay-cli.ts <listenHost:port> <targetHost:port>\n');
  process.exit(2);
}
const [lh, lp] = listen.split(':');
const [th, tp] = target.split(':');
const server = createServer({ noDelay: true }, (a) => {
  const b = connect({ host: th!, port: Number(tp), noDelay: true });
  a.pipe(b).pipe(a);
  const end = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
});
server.listen(Number(lp), lh);
await once(server, 'listening');
process.stdout.write('ready\n');
process.on('SIGTERM', () => process.exit(0));
