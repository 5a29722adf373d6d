// Defaults that would silently change the data path are said out loud: a start without a catch-all route warns, a
// route writing a Kafka topic a shipped flow also writes warns, and an unrouted (acknowledged, dropped) message is
// logged once per topic per minute besides being counted. Real Store and Ingest on a temporary directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, expect, it, vi } from 'vitest';
import { loadConfig } from '../../app/config/index.ts';
import { flowKafkaTopics, flowsFileInUse } from '../../flows/kafka-topics.ts';
import { Ingest } from '../../gateway/ingest.ts';
import { routeWarnings } from '../../gateway/route-check.ts';
import { Store } from '../../gateway/store/store.ts';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of cleanup.splice(0).reverse()) await c();
});

// The README's seed routes, as a user would set them.
const SEED = [
  { name: 'lock-state', filter: 'devices/+/state', topic: 'message_state', format: 'envelope' },
  { name: 'telemetry', filter: 'sensors/#', topic: 'factory_telemetry' },
];

it('the defaults warn about nothing: the catch-all route, no topic shared with the shipped flows', () => {
  const cfg = loadConfig({ env: {} });
  const file = flowsFileInUse(mkdtempSync(join(tmpdir(), 'gw-rc-')), cfg.flows);
  expect(file).toMatch(/default-flows\.json$/);
  const outputs = flowKafkaTopics(file as string);
  expect(outputs.map((o) => o.kafkaTopic).sort()).toEqual([
    'lock_alarms',
    'machine_vibration',
    'message_state',
    'vehicle_alerts',
    'vehicle_positions',
  ]);
  expect(routeWarnings(cfg.routes, outputs)).toEqual([]);
});

it('routes without a catch-all, and a route writing a flow topic, are warned about', () => {
  const cfg = loadConfig({ env: { GATEWAY_ROUTES: JSON.stringify(SEED) } });
  const outputs = flowKafkaTopics(flowsFileInUse('/nonexistent', cfg.flows) as string);
  const w = routeWarnings(cfg.routes, outputs);
  expect(w).toEqual([
    expect.stringContaining('no route takes every topic'),
    'routes[0] (lock-state) and the flow "Door locks" both write the Kafka topic message_state: a message both take lands there twice',
  ]);
  expect(flowsFileInUse('/nonexistent', { ...cfg.flows, enabled: false })).toBeUndefined();
});

it('an unrouted message is logged once per topic per minute and counted every time', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-unrouted-'));
  const lines: { msg: string; topic?: string; sinceLastLog?: number }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  const log = pino({ level: 'info' }, sink);
  const store = new Store({
    dir,
    durability: 'os',
    groupCommit: { maxRecords: 10, windowMs: 0 },
    compactAfterDeletes: 0,
    classes: { default: { maxBytes: 1e6, maxAgeSec: 0, policy: 'reject' } },
    log,
  });
  await store.start();
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanup.push(() => store.stop());
  let unrouted = 0;
  const ingest = new Ingest({
    store,
    routes: loadConfig({ env: { GATEWAY_ROUTES: JSON.stringify(SEED) } }).routes,
    log,
    counters: { received() {}, routed() {}, refused() {}, unrouted: () => void unrouted++ },
  });
  const send = (topic: string): Promise<void> =>
    new Promise((resolve, reject) =>
      ingest.accept({ topic, payload: Buffer.from('x'), qos: 1, clientId: 'lock-1' }, (e) =>
        e ? reject(e) : resolve(),
      ),
    );
  let now = 1_900_000_000_000;
  vi.spyOn(Date, 'now').mockImplementation(() => now);
  for (let i = 0; i < 5; i++) await send('other/lock-1/state');
  await send('devices/lock-1/state'); // routed: neither counted nor logged
  await send('second/topic');
  now += 61_000;
  await send('other/lock-1/state');
  const logged = lines.filter((l) => l.msg.startsWith('message matched no route'));
  expect(unrouted).toBe(7);
  expect(logged.map((l) => [l.topic, l.sinceLastLog])).toEqual([
    ['other/lock-1/state', undefined],
    ['second/topic', undefined],
    ['other/lock-1/state', 4],
  ]);
});
