// The durable store without sockets: record codec, topic filters, group commit and recovery, budgets.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BudgetKeeper } from '../../gateway/store/budget.ts';
import { decodeRecord, decodeSeq, encodeRecord, encodeSeq, type OutboxRecord } from '../../gateway/store/codec.ts';
import type { ClassBudget } from '../../gateway/store/lane.ts';
import { type DropReason, Store } from '../../gateway/store/store.ts';
import { compileFilter } from '../../gateway/topic.ts';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function rec(dev: string, n: number, size = 100): OutboxRecord {
  return {
    kafkaTopic: 'edge.uplink',
    key: dev,
    mqttTopic: `devices/${dev}/state`,
    clientId: dev,
    username: 'ü-user',
    qos: 1,
    retain: false,
    envelope: n % 2 === 0,
    ingestTs: 1_700_000_000_000 + n,
    deviceSeq: n,
    payload: Buffer.alloc(size, n % 256),
  };
}

async function open(dir: string, classes: Record<string, ClassBudget> = {}): Promise<Store> {
  const s = new Store({
    dir,
    durability: 'fsync',
    groupCommit: { maxRecords: 64, windowMs: 0 },
    compactAfterDeletes: 50,
    classes: { default: { maxBytes: 1e9, maxAgeSec: 0, policy: 'reject' }, ...classes },
    log,
  });
  await s.start();
  stores.push(s);
  return s;
}

async function append(s: Store, lane: string, r: OutboxRecord): Promise<void> {
  const l = s.lane(lane)!;
  const value = encodeRecord(r);
  s.admit(l, value.length + 8);
  return new Promise((resolve, reject) =>
    s.ingest({ appends: [{ lane: l, seq: s.nextSeq(), value }], journal: [], cb: (e) => (e ? reject(e) : resolve()) }),
  );
}

async function laneSeqs(s: Store, lane: string): Promise<number[]> {
  const out: number[] = [];
  for await (const k of s.lane(lane)!.db.keys()) out.push(decodeSeq(k as Buffer));
  return out;
}

const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'store-test-'));
  dirs.push(d);
  return d;
};

describe('record codec', () => {
  it('round-trips every field, including multi-byte strings', () => {
    const r = rec('dev-ä', 7);
    const back = decodeRecord(42, encodeRecord(r));
    expect(back).toMatchObject({ ...r, seq: 42 });
    expect(back.payload.equals(r.payload)).toBe(true);
  });

  it('encodes sequences so byte order is numeric order', () => {
    const seqs = [0, 1, 255, 256, 65_535, 2 ** 32, 2 ** 48 + 5, Number.MAX_SAFE_INTEGER];
    const keys = seqs.map(encodeSeq);
    const sorted = [...keys].sort(Buffer.compare);
    expect(sorted.map(decodeSeq)).toEqual(seqs);
  });

  it('refuses a record of an unknown version', () => {
    const b = encodeRecord(rec('d', 1));
    b[0] = 99;
    expect(() => decodeRecord(1, b)).toThrow(/version 99/);
  });
});

describe('topic filters [MQTT 4.7]', () => {
  it.each([
    ['devices/+/state', 'devices/lock-1/state', true],
    ['devices/+/state', 'devices/lock-1/state/x', false],
    ['devices/#', 'devices', true],
    ['devices/#', 'devices/a/b/c', true],
    ['#', '$SYS/broker/load', false],
    ['+/x', '$internal/x', false],
    ['$internal/#', '$internal/x', true],
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
  ])('%s matches %s: %s', (filter, topic, want) => {
    expect(compileFilter(filter)(topic)).toBe(want);
  });
});

describe('store', () => {
  it('group-commits concurrent appends and recovers sequences and counters after reopening', async () => {
    const dir = tmp();
    const s = await open(dir);
    let commits = 0;
    s.events.onCommit = () => {
      commits++;
    };
    const ds = [1, 2, 3].map(() => s.nextDeviceSeq('lock-1'));
    await Promise.all(Array.from({ length: 500 }, (_, i) => append(s, 'default', rec(`d${i % 5}`, i))));
    expect(ds).toEqual([1, 2, 3]);
    // 500 concurrent appends with at most 64 records per commit: a handful of batches, not 500 fsyncs.
    expect(commits).toBeLessThan(500 / 8);
    expect(commits).toBeGreaterThanOrEqual(Math.ceil(500 / 64));
    const lane = s.lane('default')!;
    const bytes = lane.bytes;
    expect(lane.count).toBe(500);
    const last = s.lastSeq;
    await s.stop();
    stores.splice(stores.indexOf(s), 1);

    const again = await open(dir);
    expect(again.lastSeq).toBe(last);
    // Device sequences resume after their reserved block: never repeated, increasing, with a gap.
    const resumed = again.nextDeviceSeq('lock-1');
    expect(resumed).toBeGreaterThan(3);
    expect(again.nextDeviceSeq('lock-1')).toBe(resumed + 1);
    expect(again.lane('default')!.count).toBe(500);
    expect(again.lane('default')!.bytes).toBe(bytes);
    expect(await laneSeqs(again, 'default')).toHaveLength(500);
  });

  it('removes delivered records and keeps the counters right when a drop already removed some', async () => {
    const s = await open(tmp());
    for (let i = 0; i < 10; i++) await append(s, 'default', rec('d', i));
    const lane = s.lane('default')!;
    const seqs = await laneSeqs(s, 'default');
    const size = lane.bytes / 10;
    s.removeFromLane(lane, seqs.slice(0, 3), [size, size, size], 'budget');
    // The forwarder acks a batch that overlaps the dropped records: only the rest count.
    s.removeFromLane(lane, seqs.slice(0, 6), Array(6).fill(size));
    await s.drain();
    expect(lane.count).toBe(4);
    expect(lane.bytes).toBeCloseTo(4 * size);
    expect(await laneSeqs(s, 'default')).toEqual(seqs.slice(6));
  });

  it('reject policy refuses what does not fit, with GW_ERR_BUFFER_FULL, and counts it', async () => {
    const s = await open(tmp(), { small: { maxBytes: 1000, maxAgeSec: 0, policy: 'reject' } });
    const drops: [string, DropReason][] = [];
    s.events.onDrop = (lane, reason) => drops.push([lane, reason]);
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => append(s, 'small', rec('d', i))));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    expect((refused[0] as PromiseRejectedResult).reason.code).toBe('GW_ERR_BUFFER_FULL');
    expect(s.lane('small')!.bytes).toBeLessThanOrEqual(1000);
    expect(drops.filter(([l, r]) => l === 'small' && r === 'rejected')).toHaveLength(refused.length);
    await expect(append(s, 'small', rec('d', 0, 5000))).rejects.toMatchObject({ code: 'GW_ERR_TOO_LARGE' });
  });

  it('drop-oldest keeps the newest records within budget and counts the drops', async () => {
    const s = await open(tmp(), { tele: { maxBytes: 5000, maxAgeSec: 0, policy: 'drop-oldest' } });
    let dropped = 0;
    s.events.onDrop = (_lane, reason, n) => {
      if (reason === 'budget') dropped += n;
    };
    for (let i = 0; i < 100; i++) await append(s, 'tele', rec('d', i));
    const keeper = new BudgetKeeper({ store: s, log });
    await keeper.sweep();
    await s.drain();
    const lane = s.lane('tele')!;
    expect(lane.bytes).toBeLessThanOrEqual(5000);
    const left = await laneSeqs(s, 'tele');
    expect(left.length).toBe(lane.count);
    expect(dropped + left.length).toBe(100);
    // What is left is the newest: a contiguous tail.
    const all = left[left.length - 1]!;
    expect(left).toEqual(Array.from({ length: left.length }, (_, i) => all - left.length + 1 + i));
  });

  it('age limit drops records older than maxAgeSec, counted as ttl', async () => {
    const s = await open(tmp(), { aged: { maxBytes: 1e9, maxAgeSec: 60, policy: 'drop-oldest' } });
    let ttl = 0;
    s.events.onDrop = (_l, reason, n) => {
      if (reason === 'ttl') ttl += n;
    };
    const now = Date.now();
    for (let i = 0; i < 5; i++) await append(s, 'aged', { ...rec('d', i), ingestTs: now - 3_600_000 });
    for (let i = 5; i < 8; i++) await append(s, 'aged', { ...rec('d', i), ingestTs: now });
    await new BudgetKeeper({ store: s, log }).sweep();
    await s.drain();
    expect(ttl).toBe(5);
    expect(s.lane('aged')!.count).toBe(3);
  });

  it('a second process on the same data dir gets a clear error', async () => {
    const dir = tmp();
    await open(dir);
    await expect(open(dir)).rejects.toMatchObject({ code: 'GW_ERR_STORE' });
  });
});
