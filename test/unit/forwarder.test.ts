// The forwarder against an in-memory KafkaSink (the library boundary): records leave the store only after the sink
// acknowledged them, a failing sink keeps everything buffered and is replaced, order per class is kept, and only a
// batch Kafka refused as too large is cut.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, expect, it, vi } from 'vitest';
import { Forwarder } from '../../cloud-sync/forwarder.ts';
import { HEADER } from '../../cloud-sync/record.ts';
import { KafkaOpError } from '../../cloud-sync/sinks/kafka-errors.ts';
import type { KafkaSink, SinkRecord } from '../../cloud-sync/sinks/types.ts';
import { StallError } from '../../cloud-sync/stall.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { Store } from '../../gateway/store/store.ts';

const log = pino({ level: 'silent' });
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

class MemorySink implements KafkaSink {
  readonly name = 'memory';
  static failNext = 0;
  /** The error of a failed send: the sinks' transient one, or a plain error (no code) from an older sink. */
  static failWith: () => Error = () => new GatewayError('GW_ERR_KAFKA', 'broker not available');
  /** Refuse batches larger than this, as Kafka refuses a partition batch over message.max.bytes. */
  static maxBatch = Number.POSITIVE_INFINITY;
  static connects = 0;
  static sent: SinkRecord[] = [];
  /** The size of every batch handed to send(), failed or not. */
  static batches: number[] = [];
  async connect(): Promise<void> {
    MemorySink.connects++;
  }
  async send(records: readonly SinkRecord[]): Promise<void> {
    MemorySink.batches.push(records.length);
    if (MemorySink.failNext > 0) {
      MemorySink.failNext--;
      throw MemorySink.failWith();
    }
    if (records.length > MemorySink.maxBatch) {
      throw new GatewayError('GW_ERR_KAFKA_TOO_LARGE', 'MESSAGE_TOO_LARGE');
    }
    MemorySink.sent.push(...records);
  }
  static reset(): void {
    MemorySink.sent = [];
    MemorySink.batches = [];
    MemorySink.failNext = 0;
    MemorySink.connects = 0;
    MemorySink.maxBatch = Number.POSITIVE_INFINITY;
    MemorySink.failWith = () => new GatewayError('GW_ERR_KAFKA', 'broker not available');
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

function append(
  store: Store,
  dev: string,
  n: number,
  o: { kafkaTopic?: string; envelope?: boolean; username?: string; payload?: Buffer } = {},
): Promise<void> {
  const to = store.outbox.destination({
    class: 'default',
    kafkaTopic: o.kafkaTopic ?? 't',
    key: (m) => m.clientId,
    envelope: o.envelope ?? false,
  });
  const msg = {
    topic: `devices/${dev}`,
    payload: o.payload ?? Buffer.from(`${dev}:${n}`),
    qos: 1 as const,
    clientId: dev,
    username: o.username,
  };
  return new Promise((resolve, reject) => store.outbox.append(msg, [to], {}, (e) => (e ? reject(e) : resolve())));
}

const backlog = (store: Store): number => store.outbox.class('default')!.count;

it('delivers in order with headers, keeps records through failures, then empties the class', async () => {
  MemorySink.reset();
  MemorySink.failNext = 3;
  const { store, fwd } = await setup();
  for (let i = 0; i < 50; i++) await append(store, `d${i % 3}`, i);
  fwd.start();
  await expect.poll(() => backlog(store), { timeout: 10_000 }).toBe(0);
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
  MemorySink.reset();
  MemorySink.failNext = 1_000_000;
  const { store, fwd } = await setup();
  const errors: Error[] = [];
  fwd.on('sendError', (e) => errors.push(e));
  fwd.start();
  for (let i = 0; i < 5; i++) await append(store, 'd', i);
  await expect.poll(() => fwd.state, { timeout: 5000 }).toBe('down');
  expect(backlog(store)).toBe(5);
  expect(errors[0]).toMatchObject({ code: 'GW_ERR_KAFKA' });
  MemorySink.failNext = 0;
  await expect.poll(() => backlog(store), { timeout: 5000 }).toBe(0);
  expect(MemorySink.sent).toHaveLength(5);
});

it('envelope format: the value is the EMQX-style JSON with the base64 payload', async () => {
  MemorySink.reset();
  const { store, fwd } = await setup();
  const clock = vi.spyOn(Date, 'now').mockReturnValue(1_790_000_000_000);
  const appended = append(store, 'lock-9', 0, {
    kafkaTopic: 'message_state',
    envelope: true,
    username: 'locks',
    payload: Buffer.from('{"locked":true}'),
  });
  clock.mockRestore();
  await appended;
  fwd.start();
  await expect.poll(() => MemorySink.sent.length, { timeout: 5000 }).toBe(1);
  const env = JSON.parse(MemorySink.sent[0]!.value.toString()) as Record<string, unknown>;
  expect(env).toEqual({
    client_id: 'lock-9',
    username: 'locks',
    topic: 'devices/lock-9',
    payload: Buffer.from('{"locked":true}').toString('base64'),
    qos: 1,
    node: 'gw-1',
    ts: 1_790_000_000_000,
  });
  expect(MemorySink.sent[0]!.topic).toBe('message_state');
});

it('a batch Kafka refuses as too large is split until it goes through: the class never stalls', async () => {
  MemorySink.reset();
  MemorySink.maxBatch = 2;
  const { store, fwd } = await setup();
  for (let i = 0; i < 20; i++) await append(store, 'd', i);
  fwd.start();
  await expect.poll(() => backlog(store), { timeout: 10_000 }).toBe(0);
  expect(MemorySink.sent.map((r) => r.value.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `d:${i}`));
  // 7 refused, halved to 3, refused, halved to 1: sent; then doubled back up to what Kafka takes.
  expect(MemorySink.batches.slice(0, 3)).toEqual([7, 3, 1]);
});

it.each([
  ['the client timed out', () => new KafkaOpError('GW_ERR_KAFKA', 'timed out waiting', 'Kafka send', true, undefined)],
  ['no answer within the stall bound', () => new StallError('send', 1000)],
])(
  'a send that got no answer in time (%s) is sent again in halves, and stays small after it went through',
  async (_what, failWith) => {
    // A thin uplink: a request takes longer to cross than the bound; cut, the batch fits and must not grow right back.
    MemorySink.reset();
    MemorySink.failWith = failWith;
    MemorySink.failNext = 2;
    const { store, fwd } = await setup();
    for (let i = 0; i < 20; i++) await append(store, 'd', i);
    fwd.start();
    await expect.poll(() => backlog(store), { timeout: 10_000 }).toBe(0);
    expect(MemorySink.batches.slice(0, 3)).toEqual([7, 3, 1]);
    expect(Math.max(...MemorySink.batches.slice(2))).toBe(1);
    expect(MemorySink.sent.map((r) => r.value.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `d:${i}`));
  },
);

it.each([
  ['a transient error (GW_ERR_KAFKA)', () => new GatewayError('GW_ERR_KAFKA', 'broker not available')],
  ['an error without a code', () => new Error('connection reset')],
])('%s retries the same batch, not a smaller one', async (_what, failWith) => {
  MemorySink.reset();
  MemorySink.failWith = failWith;
  MemorySink.failNext = 3;
  const { store, fwd } = await setup();
  for (let i = 0; i < 20; i++) await append(store, 'd', i);
  fwd.start();
  await expect.poll(() => backlog(store), { timeout: 10_000 }).toBe(0);
  expect(MemorySink.batches).toEqual([7, 7, 7, 7, 7, 6]);
  expect(MemorySink.sent.map((r) => r.value.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `d:${i}`));
});

it('each listener of an event gets it: metrics and a second subscriber both see a forwarded batch', async () => {
  MemorySink.reset();
  const { store, fwd } = await setup();
  const seen: string[] = [];
  fwd.on('forwarded', (cls, n) => seen.push(`a:${cls}:${n}`));
  fwd.on('forwarded', (cls, n) => seen.push(`b:${cls}:${n}`));
  for (let i = 0; i < 3; i++) await append(store, 'd', i);
  fwd.start();
  await expect.poll(() => backlog(store), { timeout: 5000 }).toBe(0);
  expect(seen).toEqual(['a:default:3', 'b:default:3']);
  expect(fwd.health()).toMatchObject({ state: 'up', link: 'up', configured: true, forwarded: 3 });
});
