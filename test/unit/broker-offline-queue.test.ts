// The offline-queue bounds on the real persistence over a temporary LevelDB, without sockets: bytes, age (on a clock
// the test moves), the replay filter, and the index rebuilt from the store at start.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import type { QueuedPacket } from '../../gateway/broker-offline-queue.ts';
import { type AsyncPersistence, BrokerPersistence } from '../../gateway/broker-persistence.ts';
import type { OfflineQueueLimits } from '../../gateway/limits/offline-queue.ts';
import type { MetaDb } from '../../gateway/store/store.ts';

const require = createRequire(import.meta.url);
const LevelPersistence = require('aedes-persistence-level/asyncPersistence.js') as new (db: MetaDb) => AsyncPersistence;
const log = pino({ level: 'silent' });
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A stand-in for the aedes instance: an id, a counter and an emitter are all the persistence touches. */
const fakeBroker = () => ({ id: 'gw', counter: 0, mq: { emit: () => {} }, once: () => {} });

async function open(limits: OfflineQueueLimits, clock: { t: number }, dir?: string) {
  const path = dir ?? mkdtempSync(join(tmpdir(), 'gw-oq-'));
  const db = new ClassicLevel<string, string>(path);
  await db.open();
  const sub = db.sublevel<string, string>('broker', {});
  const p = new BrokerPersistence(new LevelPersistence(sub), {
    db: sub,
    log,
    limits: { config: { offlineQueue: limits } },
    now: () => clock.t,
  });
  await p.setup(fakeBroker());
  const close = async () => {
    await p.destroy();
    await db.close().catch(() => {});
  };
  if (!dir) cleanup.push(async () => rmSync(path, { recursive: true, force: true }));
  cleanup.push(close);
  return { p, path, close };
}

let counter = 0;
const msg = (payload: string): QueuedPacket => ({
  topic: 't',
  payload: Buffer.from(payload),
  qos: 1,
  brokerId: 'gw',
  brokerCounter: ++counter,
});
const queued = async (p: BrokerPersistence, id: string): Promise<string[]> =>
  ((await p.outgoingStream({ id }).toArray()) as QueuedPacket[]).map((x) => x.payload.toString());

it('bytes: the oldest go until the new one fits; one larger than the bound is not queued', async () => {
  const { p } = await open({ maxMessages: 100, maxBytes: 25, maxAgeSec: 3600 }, { t: 0 });
  const sub = [{ clientId: 'away' }];
  for (const s of ['aaaaaaaaa', 'bbbbbbbbb', 'ccccccccc']) await p.outgoingEnqueueCombi(sub, msg(s)); // 10 bytes each
  expect(await queued(p, 'away')).toEqual(['bbbbbbbbb', 'ccccccccc']);
  await p.outgoingEnqueueCombi(sub, msg('x'.repeat(40)));
  expect(await queued(p, 'away')).toEqual(['bbbbbbbbb', 'ccccccccc']);
  expect(p.queues.stats).toMatchObject({ messages: 2, bytes: 20, sessions: 1, dropped: { bytes: 2 } });
});

it('age: aged messages are dropped on replay and by the sweep, counted, and deleted from the store', async () => {
  const clock = { t: 1_000_000 };
  const { p } = await open({ maxMessages: 100, maxBytes: 1 << 20, maxAgeSec: 60 }, clock);
  const sub = [{ clientId: 'away' }];
  await p.outgoingEnqueueCombi(sub, msg('old'));
  clock.t += 30_000;
  await p.outgoingEnqueueCombi(sub, msg('new'));
  clock.t += 31_000; // 'old' is 61 s old, 'new' 31 s
  expect(await queued(p, 'away')).toEqual(['new']);
  expect(p.queues.stats.dropped.age).toBe(1);
  expect(await queued(p, 'away')).toEqual(['new']);
  clock.t += 30_000;
  await p.queues.delete(p.queues.sweep(clock.t));
  expect(await queued(p, 'away')).toEqual([]);
  expect(p.queues.stats).toMatchObject({ messages: 0, bytes: 0, sessions: 0, dropped: { age: 2 } });
});

it('the bounds hold across a restart: the index is rebuilt from the store', async () => {
  const clock = { t: 0 };
  const limits = { maxMessages: 3, maxBytes: 1 << 20, maxAgeSec: 3600 };
  const first = await open(limits, clock);
  for (let i = 0; i < 3; i++) await first.p.outgoingEnqueueCombi([{ clientId: 'away' }], msg(`m${i}`));
  await first.close();
  const again = await open(limits, clock, first.path);
  expect(again.p.queues.stats).toMatchObject({ messages: 3, sessions: 1 });
  await again.p.outgoingEnqueueCombi([{ clientId: 'away' }], msg('m3'));
  expect(await queued(again.p, 'away')).toEqual(['m1', 'm2', 'm3']);
  expect(again.p.queues.stats.dropped.count).toBe(1);
});
