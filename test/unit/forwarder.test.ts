// The forwarder against an in-memory KafkaSink (the library boundary): records leave the store only after the sink
// acknowledged them, a failing sink keeps everything buffered and is replaced, order per lane is kept.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { Forwarder } from '../../cloud-sync/forwarder.ts';
import { HEADER } from '../../cloud-sync/record.ts';
import type { KafkaSink, SinkRecord } from '../../cloud-sync/sinks/types.ts';
import { encodeRecord } from '../../gateway/store/codec.ts';
import { Store } from '../../gateway/store/store.ts';
import { waitFor } from '../harness/gateway-process.ts';

const log = pino({ level: 'silent' });
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

class MemorySink implements KafkaSink {
  readonly name = 'memory';
  static failNext = 0;
  /** Refuse batches larger than this, as Kafka refuses a partition batch over message.max.bytes. */
  static maxBatch = Number.POSITIVE_INFINITY;
  static connects = 0;
  static sent: SinkRecord[] = [];
  async connect(): Promise<void> {
    MemorySink.connects++;
  }
  async send(records: readonly SinkRecord[]): Promise<void> {
    if (MemorySink.failNext > 0) {
      MemorySink.failNext--;
      throw new Error('broker not available');
    }
    if (records.length > MemorySink.maxBatch) throw new Error('MESSAGE_TOO_LARGE');
    MemorySink.sent.push(...records);
  }
  async close(): Promise<void> {}
}

async function setup(): Promise<{ store: Store; fwd: Forwarder }> {
  const dir = mkdtempSync(join(tmpdir(), 'fwd-test-'));
  const store = new Store({
    dir,
    durability: 'os',
    groupCommit: { maxRecords: 100, windowMs: 0 },
    compactAfterDeletes: 0,
    classes: { default: { maxBytes: 1e9, maxAgeSec: 0, policy: 'reject' } },
    log,
  });
  await store.start();
  const fwd = new Forwarder({
    store,
    gatewayId: 'gw-1',
    batch: { maxRecords: 7, maxBytes: 1 << 20, lingerMs: 0 },
    retry: { initialMs: 10, maxMs: 20 },
    log,
    createSink: async () => new MemorySink(),
  });
  cleanup.push(async () => {
    await fwd.stop();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, fwd };
}

function append(store: Store, dev: string, n: number): Promise<void> {
  const lane = store.lane('default')!;
  const value = encodeRecord({
    kafkaTopic: 't',
    key: dev,
    mqttTopic: `devices/${dev}`,
    clientId: dev,
    username: '',
    qos: 1,
    retain: false,
    envelope: false,
    ingestTs: Date.now(),
    deviceSeq: store.nextDeviceSeq(dev),
    payload: Buffer.from(`${dev}:${n}`),
  });
  return new Promise((resolve, reject) =>
    store.ingest({
      appends: [{ lane, seq: store.nextSeq(), value }],
      journal: [],
      cb: (e) => (e ? reject(e) : resolve()),
    }),
  );
}

it('delivers in order with headers, keeps records through failures, then empties the lane', async () => {
  MemorySink.sent = [];
  MemorySink.failNext = 3;
  MemorySink.connects = 0;
  const { store, fwd } = await setup();
  for (let i = 0; i < 50; i++) await append(store, `d${i % 3}`, i);
  fwd.start();
  await waitFor('a failure reported', () => fwd.state === 'down' || MemorySink.failNext === 0, 5000, 5);
  await waitFor('lane emptied', () => store.lane('default')!.count === 0, 10_000, 10);
  expect(MemorySink.connects).toBeGreaterThanOrEqual(4); // a fresh producer after each failure
  expect(fwd.state).toBe('up');
  expect(MemorySink.sent.map((r) => r.value.toString())).toEqual(
    Array.from({ length: 50 }, (_, i) => `d${i % 3}:${i}`),
  );
  const first = MemorySink.sent[0]!;
  expect(first.key.toString()).toBe('d0');
  expect(first.headers[HEADER.gatewayId]?.toString()).toBe('gw-1');
  expect(first.headers[HEADER.msgId]?.toString()).toBe(`gw-1-${store.epoch}-${first.headers[HEADER.gatewaySeq]}`);
  expect(store.epoch).toMatch(/^[0-9a-f]{12}$/);
  expect(first.headers[HEADER.deviceSeq]?.toString()).toBe('1');
  expect(new Set(MemorySink.sent.map((r) => r.headers[HEADER.msgId]?.toString())).size).toBe(50);
});

it('a record appended while the link is down waits on disk and goes out after recovery', async () => {
  MemorySink.sent = [];
  MemorySink.failNext = 1_000_000;
  const { store, fwd } = await setup();
  fwd.start();
  for (let i = 0; i < 5; i++) await append(store, 'd', i);
  await waitFor('link down', () => fwd.state === 'down', 5000, 5);
  expect(store.lane('default')!.count).toBe(5);
  MemorySink.failNext = 0;
  await waitFor('drained', () => store.lane('default')!.count === 0, 5000, 5);
  expect(MemorySink.sent).toHaveLength(5);
});

it('envelope format: the value is the EMQX-style JSON with the base64 payload', async () => {
  MemorySink.sent = [];
  MemorySink.failNext = 0;
  const { store, fwd } = await setup();
  const lane = store.lane('default')!;
  const value = encodeRecord({
    kafkaTopic: 'message_state',
    key: 'lock-9',
    mqttTopic: 'devices/lock-9/state',
    clientId: 'lock-9',
    username: 'locks',
    qos: 1,
    retain: false,
    envelope: true,
    ingestTs: 1_790_000_000_000,
    deviceSeq: 1,
    payload: Buffer.from('{"locked":true}'),
  });
  await new Promise<void>((resolve, reject) =>
    store.ingest({
      appends: [{ lane, seq: store.nextSeq(), value }],
      journal: [],
      cb: (e) => (e ? reject(e) : resolve()),
    }),
  );
  fwd.start();
  await waitFor('sent', () => MemorySink.sent.length === 1, 5000, 5);
  const env = JSON.parse(MemorySink.sent[0]!.value.toString()) as Record<string, unknown>;
  expect(env).toEqual({
    client_id: 'lock-9',
    username: 'locks',
    topic: 'devices/lock-9/state',
    payload: Buffer.from('{"locked":true}').toString('base64'),
    qos: 1,
    node: 'gw-1',
    ts: 1_790_000_000_000,
  });
  expect(MemorySink.sent[0]!.topic).toBe('message_state');
});

it('a batch Kafka refuses as too large is split until it goes through: the lane never stalls', async () => {
  MemorySink.sent = [];
  MemorySink.failNext = 0;
  MemorySink.maxBatch = 2;
  try {
    const { store, fwd } = await setup();
    for (let i = 0; i < 20; i++) await append(store, 'd', i);
    fwd.start();
    await waitFor('drained', () => store.lane('default')!.count === 0, 10_000, 5);
    expect(MemorySink.sent.map((r) => r.value.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `d:${i}`));
  } finally {
    MemorySink.maxBatch = Number.POSITIVE_INFINITY;
  }
});
