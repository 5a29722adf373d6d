// The pending-command table on the real broker persistence over a temporary LevelDB, driven as aedes drives it
// (enqueue, update before the write, clear on PUBACK / PUBCOMP, the replay stream), without sockets: a command's
// acknowledgement is found by the broker id and counter before and after a restart, QoS 2 is acknowledged by its
// PUBCOMP, an expired command leaves the queue as `expired`, a discarded session's as `no_subscriber`, and device
// traffic writes nothing to the table.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { type CommandSpec, type PendingCommand, PendingCommands } from '../../gateway/broker-commands.ts';
import type { QueuedPacket } from '../../gateway/broker-offline-queue.ts';
import { type AsyncPersistence, BrokerPersistence } from '../../gateway/broker-persistence.ts';
import type { DropReason } from '../../gateway/events/types.ts';
import type { MetaDb } from '../../gateway/store/store.ts';

const require = createRequire(import.meta.url);
const LevelPersistence = require('aedes-persistence-level/asyncPersistence.js') as new (db: MetaDb) => AsyncPersistence;
const log = pino({ level: 'silent' });
const T = 'devices/lock-1/command';
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

type Outcome =
  | { what: 'delivered'; c: PendingCommand }
  | { what: 'acked'; c: PendingCommand; at: number }
  | { what: 'dropped'; c: PendingCommand; reason: DropReason };

/** A stand-in for aedes: its id and counter, as the persistence numbers packets with them. */
interface FakeBroker {
  id: string;
  counter: number;
  mq: { emit: () => void };
  once: () => void;
}

async function open(clock: { t: number }, dir?: string, marks: { doneRetentionMs?: number; doneMax?: number } = {}) {
  const path = dir ?? mkdtempSync(join(tmpdir(), 'gw-cmd-'));
  const db = new ClassicLevel<string, string>(path);
  await db.open();
  const brokerDb = db.sublevel<string, string>('broker', {});
  const meta = db.sublevel<string, string>('meta', { valueEncoding: 'utf8' }) as unknown as MetaDb;
  const commands = new PendingCommands({ db: meta, log, now: () => clock.t, ...marks });
  const outcomes: Outcome[] = [];
  commands.on('delivered', (c) => outcomes.push({ what: 'delivered', c }));
  commands.on('acked', (c, at) => outcomes.push({ what: 'acked', c, at }));
  commands.on('dropped', (c, reason) => outcomes.push({ what: 'dropped', c, reason }));
  const p = new BrokerPersistence(new LevelPersistence(brokerDb), {
    db: brokerDb,
    log,
    limits: { config: { offlineQueue: { maxMessages: 100, maxBytes: 1 << 20, maxAgeSec: 3600 } } },
    now: () => clock.t,
    commands,
  });
  const broker: FakeBroker = { id: 'gw', counter: 0, mq: { emit: () => {} }, once: () => {} };
  await p.setup(broker);
  const rows = async () => (await meta.keys({ gte: 'cmd!', lt: 'cmd"' }).all()).length;
  const close = async () => {
    await p.destroy();
    await db.close().catch(() => {});
  };
  if (!dir) cleanup.push(async () => rmSync(path, { recursive: true, force: true }));
  cleanup.push(close);
  const marked = async () => (await meta.keys({ gte: 'cmddone!', lt: 'cmddone"' }).all()).length;
  return { p, commands, outcomes, broker, path, close, rows, marked };
}

/** What aedes does for a QoS > 0 publish: a new packet numbered by the broker, queued for the persistent sessions. */
async function publish(
  o: Awaited<ReturnType<typeof open>>,
  clientIds: string[],
  payload: string,
  command?: Omit<CommandSpec, 'topic' | 'payload' | 'qos'>,
  qos = 1,
): Promise<QueuedPacket> {
  const packet: QueuedPacket = {
    topic: T,
    payload: Buffer.from(payload),
    qos,
    brokerId: o.broker.id,
    brokerCounter: ++o.broker.counter,
  };
  const release = command
    ? o.commands.expect({ ...command, topic: packet.topic, payload: Buffer.from(payload), qos })
    : undefined;
  await o.p.outgoingEnqueueCombi(
    clientIds.map((clientId) => ({ clientId })),
    packet,
  );
  release?.();
  return packet;
}

/** The device is sent `packet` under `messageId` (aedes updates the store, then writes). */
async function send(o: Awaited<ReturnType<typeof open>>, clientId: string, packet: QueuedPacket, messageId: number) {
  await o.p.outgoingUpdate({ id: clientId }, { ...packet, cmd: 'publish', messageId } as QueuedPacket);
}

const ack = (o: Awaited<ReturnType<typeof open>>, clientId: string, cmd: string, messageId: number) =>
  o.p.outgoingClearMessageId({ id: clientId }, { cmd, messageId } as unknown as QueuedPacket);

it('a command is kept from its queueing to its PUBACK, reported delivered and acked with its latency', async () => {
  const clock = { t: 1_000 };
  const o = await open(clock);
  const pkt = await publish(o, ['lock-1'], 'unlock', { id: 'c1', arrivedAt: 900 });
  expect(o.commands.size).toBe(1);
  expect(o.commands.has('c1', T)).toBe(true);
  // One id may name a command to many devices: only the same id on the same topic counts as queued.
  expect(o.commands.has('c1', 'devices/lock-2/command')).toBe(false);
  expect(await o.rows()).toBe(1);
  await send(o, 'lock-1', pkt, 7);
  clock.t = 1_500;
  await ack(o, 'lock-1', 'puback', 7);
  await expect.poll(() => o.rows()).toBe(0);
  expect(o.outcomes).toEqual([
    { what: 'delivered', c: expect.objectContaining({ id: 'c1', clientId: 'lock-1', qos: 1 }) },
    { what: 'acked', c: expect.objectContaining({ id: 'c1', arrivedAt: 900 }), at: 1_500 },
  ]);
  expect(o.commands.has('c1', T)).toBe(false);
});

it('device traffic and a command no persistent session takes write nothing to the table', async () => {
  const o = await open({ t: 0 });
  const pkt = await publish(o, ['lock-1'], 'state');
  await publish(o, [], 'unlock', { id: 'c-nobody', arrivedAt: 0 });
  expect(o.commands.size).toBe(0);
  expect(await o.rows()).toBe(0);
  await send(o, 'lock-1', pkt, 1);
  await ack(o, 'lock-1', 'puback', 1);
  expect(o.outcomes).toEqual([]);
});

it('QoS 2: the PUBREC changes nothing, the PUBCOMP acknowledges', async () => {
  const o = await open({ t: 10 });
  const pkt = await publish(o, ['lock-1'], 'unlock', { id: 'c2', arrivedAt: 5 }, 2);
  await send(o, 'lock-1', pkt, 3);
  // PUBREC: aedes stores the PUBREL in the message's place (it keeps the broker id and counter, not the topic).
  await o.p.outgoingUpdate({ id: 'lock-1' }, { cmd: 'pubrel', messageId: 3 } as unknown as QueuedPacket);
  expect(o.outcomes.map((x) => x.what)).toEqual(['delivered']);
  await ack(o, 'lock-1', 'pubcomp', 3);
  expect(o.outcomes.map((x) => x.what)).toEqual(['delivered', 'acked']);
  expect(o.outcomes[1]).toMatchObject({ c: { id: 'c2', qos: 2 }, at: 10 });
});

it('after a restart the ack is still found, and the broker counter continues above the queued messages', async () => {
  const clock = { t: 100 };
  const first = await open(clock);
  await publish(first, ['lock-1'], 'other');
  const pkt = await publish(first, ['lock-1'], 'unlock', { id: 'c3', arrivedAt: 100, expiresAt: 10_000 });
  await first.close();

  clock.t = 2_000;
  const again = await open(clock, first.path);
  expect(again.commands.has('c3', T)).toBe(true);
  // A new message must not take the store key of one still queued.
  expect(again.broker.counter).toBe(pkt.brokerCounter);
  await publish(again, ['lock-1'], 'newer');
  const replay = (await again.p.outgoingStream({ id: 'lock-1' }).toArray()) as QueuedPacket[];
  expect(replay.map((x) => x.payload.toString())).toEqual(['other', 'unlock', 'newer']);
  const stored = replay[1] as QueuedPacket;
  await send(again, 'lock-1', stored, 1);
  await ack(again, 'lock-1', 'puback', 1);
  expect(again.outcomes.at(-1)).toEqual({
    what: 'acked',
    c: expect.objectContaining({ id: 'c3', arrivedAt: 100, expiresAt: 10_000 }),
    at: 2_000,
  });
  await expect.poll(() => again.rows()).toBe(0);
});

it('an expired command leaves the queue on replay, also when its TTL passed while the gateway was down', async () => {
  const clock = { t: 0 };
  const first = await open(clock);
  await publish(first, ['lock-1'], 'unlock', { id: 'c4', arrivedAt: 0, expiresAt: 500 });
  await publish(first, ['lock-1'], 'status', { id: 'c5', arrivedAt: 0 });
  await first.close();

  clock.t = 600;
  const again = await open(clock, first.path);
  const replay = (await again.p.outgoingStream({ id: 'lock-1' }).toArray()) as QueuedPacket[];
  expect(replay.map((x) => x.payload.toString())).toEqual(['status']);
  expect(again.outcomes).toEqual([
    { what: 'dropped', c: expect.objectContaining({ id: 'c4', clientId: 'lock-1' }), reason: 'expired' },
  ]);
  expect(again.commands.has('c4', T)).toBe(false);
  expect(again.commands.has('c5', T)).toBe(true);
  expect(again.p.queues.stats.dropped.age).toBe(1);
});

it('the sweep drops an expired command; a full queue pushes one out as queue_full', async () => {
  const clock = { t: 0 };
  const o = await open(clock);
  await publish(o, ['lock-1'], 'unlock', { id: 'c6', arrivedAt: 0, expiresAt: 50 });
  expect(o.commands.nextExpiry()).toBe(50);
  clock.t = 60;
  await o.p.queues.delete(o.p.queues.sweep(clock.t));
  expect(o.outcomes).toEqual([{ what: 'dropped', c: expect.objectContaining({ id: 'c6' }), reason: 'expired' }]);
  expect(o.commands.nextExpiry()).toBeUndefined();

  // 100 messages at most: the 101st pushes the oldest, a command, out.
  await publish(o, ['lock-1'], 'first', { id: 'c7', arrivedAt: 60 });
  for (let i = 0; i < 100; i++) await publish(o, ['lock-1'], `m${i}`);
  expect(o.outcomes.at(-1)).toEqual({
    what: 'dropped',
    c: expect.objectContaining({ id: 'c7' }),
    reason: 'queue_full',
  });
  await expect.poll(() => o.rows()).toBe(0);
});

it('a finished command stays marked by its Kafka record across a restart, so a re-read is not queued again', async () => {
  const clock = { t: 0 };
  const first = await open(clock);
  // Expired (the sweep), acknowledged, and refused at arrival: each is finished.
  await publish(first, ['lock-1'], 'unlock', { id: 'c10', arrivedAt: 0, expiresAt: 50, record: 'cmds/0/7' });
  const pkt = await publish(first, ['lock-1'], 'status', { id: 'c11', arrivedAt: 0, record: 'cmds/0/8' });
  await publish(first, ['lock-1'], 'pending', { id: 'c12', arrivedAt: 0, record: 'cmds/0/9' });
  first.commands.refused(
    { id: 'c13', topic: T, payload: Buffer.from('open'), qos: 1, arrivedAt: 0, record: 'cmds/0/10' },
    'lock-1',
    'expired',
  );
  expect(first.commands.handled('cmds/0/7')).toBe(false);
  clock.t = 60;
  await first.p.queues.delete(first.p.queues.sweep(clock.t));
  await send(first, 'lock-1', pkt, 1);
  await ack(first, 'lock-1', 'puback', 1);
  expect(['cmds/0/7', 'cmds/0/8', 'cmds/0/9', 'cmds/0/10'].map((r) => first.commands.handled(r))).toEqual([
    true,
    true,
    false,
    true,
  ]);
  await expect.poll(() => first.marked()).toBe(3);
  await first.close();

  const again = await open(clock, first.path);
  expect(['cmds/0/7', 'cmds/0/8', 'cmds/0/9', 'cmds/0/10'].map((r) => again.commands.handled(r))).toEqual([
    true,
    true,
    false,
    true,
  ]);
  await again.close();

  // Bounded: past their retention the marks go at start, and at most doneMax are kept (the oldest go first).
  clock.t = 60 + 1000;
  const later = await open(clock, first.path, { doneRetentionMs: 500, doneMax: 2 });
  expect(later.commands.handled('cmds/0/7')).toBe(false);
  expect(await later.marked()).toBe(0);
  for (const offset of [20, 21, 22]) {
    later.commands.refused(
      { id: `c${offset}`, topic: T, payload: Buffer.from('x'), qos: 1, arrivedAt: 0, record: `cmds/0/${offset}` },
      'lock-1',
      'expired',
    );
  }
  expect([20, 21, 22].map((o) => later.commands.handled(`cmds/0/${o}`))).toEqual([false, true, true]);
  await expect.poll(() => later.marked()).toBe(2);
});

it('a queue discarded by a clean reconnect drops its commands as no_subscriber', async () => {
  const o = await open({ t: 0 });
  const pkt = await publish(o, ['lock-1'], 'unlock', { id: 'c8', arrivedAt: 0 });
  // aedes' replay for a clean session: update, then clear instead of writing.
  await o.p.outgoingUpdate({ id: 'lock-1', clean: true }, { ...pkt, cmd: 'publish', messageId: 4 } as QueuedPacket);
  await o.p.outgoingClearMessageId({ id: 'lock-1', clean: true }, {
    ...pkt,
    cmd: 'publish',
    messageId: 4,
  } as QueuedPacket);
  expect(o.outcomes.at(-1)).toEqual({
    what: 'dropped',
    c: expect.objectContaining({ id: 'c8' }),
    reason: 'no_subscriber',
  });
});

it('at start a command whose queued message is gone is forgotten without an event', async () => {
  const clock = { t: 0 };
  const first = await open(clock);
  const pkt = await publish(first, ['lock-1'], 'unlock', { id: 'c9', arrivedAt: 0 });
  // The message's queue entry goes (as when the gateway dies between the ack's two deletes).
  await first.p.queues.delete([`outgoing:lock-1:gw:${String(pkt.brokerCounter).padStart(16, '0')}`]);
  await first.close();
  const again = await open(clock, first.path);
  expect(again.commands.has('c9', T)).toBe(false);
  expect(await again.rows()).toBe(0);
  expect(again.outcomes).toEqual([]);
});
