// aedes numbers each publish when it arrives and hands it to subscribers once the store is done with it; each client
// drops a packet numbered below one it already got. These tests drive the real aedes over in-memory streams with a
// store whose writes finish out of order (reversed, or from a seeded random schedule) and check that a connected
// subscriber still gets every message, and that the retained copy is the last one published.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { duplexPair } from 'node:stream';
import { Aedes } from 'aedes';
import { ClassicLevel } from 'classic-level';
import { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type AsyncPersistence, brokerPersistence } from '../../gateway/broker-persistence.ts';
import type { MetaDb } from '../../gateway/store/store.ts';

const require = createRequire(import.meta.url);
const LevelPersistence = require('aedes-persistence-level/asyncPersistence.js') as new (db: MetaDb) => AsyncPersistence;
const log = pino({ level: 'silent' });

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function levelDb(): Promise<MetaDb> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-broker-'));
  const db = new ClassicLevel<string, string>(dir);
  await db.open();
  cleanup.push(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return db.sublevel<string, string>('broker', {});
}

/** mulberry32: a fixed seed gives the same schedule every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Schedule = 'reverse' | { seed: number };
type Op = () => Promise<unknown>;

/** `inner` with the named methods finishing out of order: batches run last call first, or after seeded delays. */
function disordered(inner: AsyncPersistence, schedule: Schedule, methods: string[]): AsyncPersistence {
  const rand = schedule === 'reverse' ? () => 0 : seeded(schedule.seed);
  let batch: { op: Op; settle: (p: Promise<unknown>) => void }[] = [];
  const reversed = (op: Op): Promise<unknown> =>
    new Promise((resolve) => {
      if (batch.length === 0) {
        setTimeout(async () => {
          const run = batch.reverse();
          batch = [];
          for (const b of run) {
            const p = b.op();
            b.settle(p);
            await p.catch(() => {});
          }
        }, 5);
      }
      batch.push({ op, settle: resolve });
    });
  const delayed = (op: Op): Promise<unknown> => new Promise((r) => setTimeout(r, Math.floor(rand() * 8))).then(op);
  const target = inner as unknown as Record<string | symbol, unknown>;
  return new Proxy(target, {
    get(t, prop) {
      const v = Reflect.get(t, prop) as unknown;
      if (typeof v !== 'function') return v;
      const fn = (v as (...a: unknown[]) => unknown).bind(t);
      if (typeof prop !== 'string' || !methods.includes(prop)) return fn;
      return (...args: unknown[]) =>
        (schedule === 'reverse' ? reversed : delayed)(() => fn(...args) as Promise<unknown>);
    },
  }) as unknown as AsyncPersistence;
}

async function startBroker(persistence: AsyncPersistence): Promise<Aedes> {
  const aedes = await Aedes.createBroker({ id: 'gw-test', persistence });
  cleanup.push(() => new Promise<void>((r) => aedes.close(() => r())));
  return aedes;
}

async function connect(aedes: Aedes, clientId: string, clean = true): Promise<MqttClient> {
  const client = new MqttClient(
    () => {
      const [mine, theirs] = duplexPair();
      aedes.handle(theirs);
      return mine;
    },
    { clientId, clean, reconnectPeriod: 0, protocolVersion: 4, keepalive: 0 },
  );
  await new Promise((r) => client.once('connect', r));
  cleanup.push(async () => {
    client.end(true);
  });
  return client;
}

/** Disconnects cleanly and waits until the broker has let the session go (the in-memory stream never reports close). */
async function disconnect(aedes: Aedes, client: MqttClient): Promise<void> {
  const id = client.options.clientId as string;
  client.end();
  await expect
    .poll(() => (aedes as unknown as { clients: Record<string, unknown> }).clients[id] === undefined)
    .toBe(true);
}

interface Run {
  want: string[];
  got: Record<'qos0' | 'qos1' | 'session', Set<string>>;
  errors: string[];
}

/**
 * `n` devices publish at once on `order/<run>/<i>`: all retained QoS 1, or (mixed) retained and plain, QoS 0 and 1.
 * Three subscribers are connected (QoS 0, QoS 1, QoS 1 with a persistent session) and a persistent session is away,
 * so the offline queues are written too. Returns what each subscriber got once the broker has handed out everything.
 */
async function fanout(aedes: Aedes, n: number, mixed: boolean, run: string): Promise<Run> {
  const filter = `order/${run}/#`;
  const away = await connect(aedes, `away-${run}`, false);
  await away.subscribeAsync(filter, { qos: 1 });
  await disconnect(aedes, away);
  const errors: string[] = [];
  aedes.on('clientError', (c, err) => errors.push(`${c.id}: ${err.message}`));
  const got: Run['got'] = { qos0: new Set(), qos1: new Set(), session: new Set() };
  const sentinels = new Set<string>();
  const subscribers: [keyof Run['got'], MqttClient][] = [
    ['qos0', await connect(aedes, `q0-${run}`)],
    ['qos1', await connect(aedes, `q1-${run}`)],
    ['session', await connect(aedes, `session-${run}`, false)],
  ];
  for (const [name, sub] of subscribers) {
    await sub.subscribeAsync(filter, { qos: name === 'qos0' ? 0 : 1 });
    sub.on('message', (topic, payload) => {
      if (topic.endsWith('/sentinel')) sentinels.add(name);
      else got[name].add(payload.toString());
    });
  }
  let handedOut = 0;
  aedes.on('publish', (p) => {
    if (p.topic.startsWith(`order/${run}/`)) handedOut++;
  });
  const pubs = await Promise.all(Array.from({ length: n }, (_, i) => connect(aedes, `dev-${run}-${i}`)));
  await Promise.all(
    pubs.map((p, i) =>
      p.publishAsync(`order/${run}/${i}`, `m${i}`, {
        qos: mixed && i % 3 === 0 ? 0 : 1,
        retain: mixed ? i % 2 === 0 : true,
      }),
    ),
  );
  // Barrier, not a sleep: once aedes has handed out all n, a sentinel published after them reaches each subscriber
  // behind everything that was delivered to it.
  await expect.poll(() => handedOut, { timeout: 10_000 }).toBe(n);
  await new Promise<void>((r) =>
    aedes.publish(
      { cmd: 'publish', topic: `order/${run}/sentinel`, payload: 'x', qos: 1, retain: false, dup: false },
      () => r(),
    ),
  );
  await expect.poll(() => sentinels.size, { timeout: 10_000 }).toBe(3);
  return { want: Array.from({ length: n }, (_, i) => `m${i}`).sort(), got, errors };
}

const sorted = (s: Set<string>): string[] => [...s].sort();

describe('a connected subscriber gets every message whatever order the store finishes in', () => {
  for (const schedule of ['reverse', { seed: 955 }, { seed: 972 }] as Schedule[]) {
    const name = schedule === 'reverse' ? 'reversed' : `seeded random (${schedule.seed})`;

    it(`40 and 120 retained QoS 1 publishes at once, stores finishing ${name}`, async () => {
      const db = await levelDb();
      const store = disordered(new LevelPersistence(db), schedule, ['storeRetained', 'outgoingEnqueueCombi']);
      const aedes = await startBroker(brokerPersistence(store, { db, log }));
      for (const n of [40, 120]) {
        const r = await fanout(aedes, n, false, `${n}`);
        expect(sorted(r.got.qos0)).toEqual(r.want);
        expect(sorted(r.got.qos1)).toEqual(r.want);
        expect(sorted(r.got.session)).toEqual(r.want);
        expect(r.errors).toEqual([]);
      }
    });

    it(`retained and plain, QoS 0 and 1 publishes mixed, stores finishing ${name}`, async () => {
      const db = await levelDb();
      const store = disordered(new LevelPersistence(db), schedule, ['storeRetained', 'outgoingEnqueueCombi']);
      const persistence = brokerPersistence(store, { db, log });
      const aedes = await startBroker(persistence);
      const r = await fanout(aedes, 120, true, 'mixed');
      expect(sorted(r.got.qos0)).toEqual(r.want);
      expect(sorted(r.got.qos1)).toEqual(r.want);
      expect(sorted(r.got.session)).toEqual(r.want);
      expect(r.errors).toEqual([]);
      // The persistent subscriber acknowledged everything: nothing is left in its queue (each renumbered packet was
      // matched with the copy queued for it).
      await expect
        .poll(async () => (await persistence.outgoingStream({ id: 'session-mixed' }).toArray()).length)
        .toBe(0);
    });
  }

  it('the retained copy of a topic is the last message published on it', async () => {
    const db = await levelDb();
    const store = disordered(new LevelPersistence(db), 'reverse', ['storeRetained']);
    const aedes = await startBroker(brokerPersistence(store, { db, log }));
    const dev = await connect(aedes, 'dev');
    let stored = 0;
    aedes.on('publish', (p) => {
      if (p.topic === 'last/state') stored++;
    });
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => dev.publishAsync('last/state', `v${i}`, { qos: 1, retain: true })),
    );
    // aedes acknowledges before it stores; wait until all 30 went through the store.
    await expect.poll(() => stored).toBe(30);
    const late = await connect(aedes, 'late');
    const first = new Promise<[string, Buffer]>((r) => late.once('message', (t, p) => r([t, p])));
    await late.subscribeAsync('last/state', { qos: 1 });
    const [, payload] = await first;
    expect(payload.toString()).toBe('v29');
  });
});

// The same runs against aedes with the store alone: they must lose messages, or the tests above prove nothing.
describe('control: aedes 1.2 with the bare store loses messages under the same timing', () => {
  it('reversed retained stores: the connected subscribers miss messages', async () => {
    const db = await levelDb();
    const aedes = await startBroker(disordered(new LevelPersistence(db), 'reverse', ['storeRetained']));
    const r = await fanout(aedes, 40, false, 'bare');
    expect(r.got.qos0.size).toBeLessThan(40);
    expect(r.got.qos1.size).toBeLessThan(40);
  });

  it('mixed publishes with seeded random stores: the connected subscribers miss messages', async () => {
    const db = await levelDb();
    const store = disordered(new LevelPersistence(db), { seed: 955 }, ['storeRetained', 'outgoingEnqueueCombi']);
    const aedes = await startBroker(store);
    const r = await fanout(aedes, 120, true, 'bare-mixed');
    expect(r.got.qos0.size).toBeLessThan(120);
  });

  it('reversed retained stores: an older message stays retained', async () => {
    const db = await levelDb();
    const aedes = await startBroker(disordered(new LevelPersistence(db), 'reverse', ['storeRetained']));
    const dev = await connect(aedes, 'dev');
    let stored = 0;
    aedes.on('publish', (p) => {
      if (p.topic === 'last/state') stored++;
    });
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => dev.publishAsync('last/state', `v${i}`, { qos: 1, retain: true })),
    );
    // aedes acknowledges before it stores; wait until all 30 went through the store.
    await expect.poll(() => stored).toBe(30);
    const late = await connect(aedes, 'late');
    const first = new Promise<[string, Buffer]>((r) => late.once('message', (t, p) => r([t, p])));
    await late.subscribeAsync('last/state', { qos: 1 });
    const [, payload] = await first;
    expect(payload.toString()).not.toBe('v29');
  });
});
