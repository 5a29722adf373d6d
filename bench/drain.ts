// Forwarder drain micro-benchmark: N records already in the store, then time the forwarder emptying them into a
// real local Kafka. usage: node bench/drain.ts [platformatic|kafkajs]   (MAXREC, MAXBYTES env: batch limits; HEADERS
// env: the kafka.headers profile, full (default), compact or none)

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Forwarder } from '../cloud-sync/forwarder.ts';
import type { HeaderProfile } from '../cloud-sync/sink-record.ts';
import { createSink } from '../cloud-sync/sinks/index.ts';
import { Store } from '../gateway/store/store.ts';
import { LocalKafka } from '../test/harness/kafka.ts';

const log = pino({ level: 'warn' });
const sinkName = (process.argv[2] ?? 'platformatic') as 'platformatic' | 'kafkajs';
const headers = (process.env.HEADERS ?? 'full') as HeaderProfile;
const N = 100_000;
const kafka = await LocalKafka.start();
const store = new Store({
  dir: mkdtempSync(join(tmpdir(), 'prof-')),
  durability: 'os',
  groupCommit: { maxRecords: 1000, windowMs: 0 },
  compactAfterDeletes: 100000,
  classes: { default: { maxBytes: 1e10, maxAgeSec: 0, policy: 'reject' } },
  log,
});
await store.start();
const cls = store.outbox.class('default')!;
const to = [
  store.outbox.destination({
    class: 'default',
    kafkaTopic: 'prof.drain',
    key: (m) => m.clientId,
    envelope: false,
    cache: true,
  }),
];
const payload = Buffer.alloc(256, 120);
await new Promise<void>((resolve) => {
  let left = N;
  for (let i = 0; i < N; i++) {
    const dev = `dev-${i % 100}`;
    store.outbox.append({ topic: `devices/${dev}/t`, payload, qos: 1, clientId: dev }, to, {}, () => {
      if (--left === 0) resolve();
    });
  }
});
console.log('filled', cls.count);
const opts = {
  brokers: kafka.brokers,
  clientId: 'prof',
  compression: 'none' as const,
  requestTimeoutMs: 30000,
  tls: undefined,
  sasl: undefined,
  log,
};
const fwd = new Forwarder({
  store,
  gatewayId: 'gw',
  batch: {
    maxRecords: Number(process.env.MAXREC ?? 2000),
    maxBytes: Number(process.env.MAXBYTES ?? 1048576),
    lingerMs: 0,
  },
  retry: { initialMs: 100, maxMs: 1000 },
  log,
  headers,
  createSink: () => createSink(sinkName, opts),
});
// warm up topic creation
const s = await createSink(sinkName, opts);
await s.connect();
await s.send([{ topic: 'prof.drain', key: Buffer.from('x'), value: Buffer.from('y'), headers: {} }]);
await s.close();
const t0 = performance.now();
fwd.start();
while (cls.count > 0) await new Promise((r) => setTimeout(r, 20));
const secs = (performance.now() - t0) / 1000;
console.log(
  `${sinkName}, ${headers} headers: drained ${N} in ${secs.toFixed(2)} s = ${Math.round(N / secs)} msg/s; cpu ${JSON.stringify(process.cpuUsage())}`,
);
await fwd.stop();
await store.stop();
await kafka.close();
