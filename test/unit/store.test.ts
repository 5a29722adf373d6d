// The durable store without sockets: record codec, sequence keys, topic filters, group commit and recovery,
// budgets, the flow journal.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BudgetKeeper } from '../../gateway/store/budget.ts';
import { decodeRecord, encodeRecord, type OutboxRecord } from '../../gateway/store/codec.ts';
import type { Stamp } from '../../gateway/store/outbox.ts';
import { decodeSeq, encodeSeq } from '../../gateway/store/seq-key.ts';
import { type ClassBudget, type DropReason, Store } from '../../gateway/store/store.ts';
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

/** Appends one message from `dev` to class `cls` through the outbox; resolves with its stamp once on disk. */
function append(s: Store, cls: string, dev: string, size = 100): Promise<Stamp> {
  const to = s.outbox.destination({ class: cls, kafkaTopic: 'edge.uplink', key: (m) => m.clientId, envelope: false });
  const msg = { topic: `devices/${dev}/state`, payload: Buffer.alloc(size, 1), qos: 1 as const, clientId: dev };
  return new Promise((resolve, reject) => {
    try {
      const stamp = s.outbox.append(msg, [to], {}, (e) => (e ? reject(e) : resolve(stamp)));
    } catch (err) {
      reject(err);
    }
  });
}

async function classSeqs(s: Store, cls: string): Promise<number[]> {
  const out: number[] = [];
  for await (const k of s.outbox.class(cls)!.db.keys()) out.push(decodeSeq(k as Buffer));
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
    const sorted = [...keys].sort((a, b) => Buffer.compare(a, b));
    expect(sorted.map((k) => decodeSeq(k))).toEqual(seqs);
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
    s.on('commit', () => {
      commits++;
    });
    const ds = await Promise.all([1, 2, 3].map(() => append(s, 'default', 'lock-1')));
    expect(ds.map((d) => d.deviceSeq)).toEqual([1, 2, 3]);
    commits = 0;
    await Promise.all(Array.from({ length: 500 }, (_, i) => append(s, 'default', `d${i % 5}`)));
    // 500 concurrent appends with at most 64 records per commit: a handful of batches, not 500 fsyncs.
    expect(commits).toBeLessThan(500 / 8);
    expect(commits).toBeGreaterThanOrEqual(Math.ceil(500 / 64));
    const cls = s.outbox.class('default')!;
    const bytes = cls.bytes;
    expect(cls.count).toBe(503);
    const last = s.outbox.lastSeq;
    expect(last).toBe(503);
    await s.stop();
    stores.splice(stores.indexOf(s), 1);

    const again = await open(dir);
    expect(again.outbox.lastSeq).toBe(last);
    expect(again.outbox.class('default')!.count).toBe(503);
    expect(again.outbox.class('default')!.bytes).toBe(bytes);
    expect(await classSeqs(again, 'default')).toHaveLength(503);
    // Device sequences resume after their reserved block: never repeated, increasing, with a gap.
    const resumed = (await append(again, 'default', 'lock-1')).deviceSeq;
    expect(resumed).toBeGreaterThan(3);
    expect((await append(again, 'default', 'lock-1')).deviceSeq).toBe(resumed + 1);
  });

  it('removes delivered records and keeps the counters right when a drop already removed some', async () => {
    const s = await open(tmp());
    for (let i = 0; i < 10; i++) await append(s, 'default', 'd');
    const cls = s.outbox.class('default')!;
    const seqs = await classSeqs(s, 'default');
    const size = cls.bytes / 10;
    s.outbox.remove(cls, seqs.slice(0, 3), [size, size, size], 'budget');
    // The forwarder acks a batch that overlaps the dropped records: only the rest count.
    s.outbox.remove(cls, seqs.slice(0, 6), Array(6).fill(size));
    await s.drain();
    expect(cls.count).toBe(4);
    expect(cls.bytes).toBeCloseTo(4 * size);
    expect(await classSeqs(s, 'default')).toEqual(seqs.slice(6));
  });

  it('reject policy refuses what does not fit, with GW_ERR_BUFFER_FULL, and counts it', async () => {
    const s = await open(tmp(), { small: { maxBytes: 1000, maxAgeSec: 0, policy: 'reject' } });
    const drops: [string, DropReason][] = [];
    s.on('drop', (cls, reason) => drops.push([cls, reason]));
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => append(s, 'small', 'd')));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    expect((refused[0] as PromiseRejectedResult).reason.code).toBe('GW_ERR_BUFFER_FULL');
    expect(s.outbox.class('small')!.bytes).toBeLessThanOrEqual(1000);
    expect(drops.filter(([l, r]) => l === 'small' && r === 'rejected')).toHaveLength(refused.length);
    await expect(append(s, 'small', 'd', 5000)).rejects.toMatchObject({ code: 'GW_ERR_TOO_LARGE' });
  });

  it('drop-oldest keeps the newest records within budget and counts the drops', async () => {
    const s = await open(tmp(), { tele: { maxBytes: 5000, maxAgeSec: 0, policy: 'drop-oldest' } });
    let dropped = 0;
    s.on('drop', (_cls, reason, n) => {
      if (reason === 'budget') dropped += n;
    });
    for (let i = 0; i < 100; i++) await append(s, 'tele', 'd');
    const keeper = new BudgetKeeper({ store: s, log });
    await keeper.sweep();
    await s.drain();
    const cls = s.outbox.class('tele')!;
    expect(cls.bytes).toBeLessThanOrEqual(5000);
    const left = await classSeqs(s, 'tele');
    expect(left.length).toBe(cls.count);
    expect(dropped + left.length).toBe(100);
    // What is left is the newest: a contiguous tail.
    const all = left[left.length - 1]!;
    expect(left).toEqual(Array.from({ length: left.length }, (_, i) => all - left.length + 1 + i));
  });

  it('age limit drops records older than maxAgeSec, counted as ttl', async () => {
    const s = await open(tmp(), { aged: { maxBytes: 1e9, maxAgeSec: 60, policy: 'drop-oldest' } });
    let ttl = 0;
    s.on('drop', (_c, reason, n) => {
      if (reason === 'ttl') ttl += n;
    });
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now - 3_600_000);
    for (let i = 0; i < 5; i++) await append(s, 'aged', 'd');
    clock.mockRestore();
    for (let i = 5; i < 8; i++) await append(s, 'aged', 'd');
    await new BudgetKeeper({ store: s, log }).sweep();
    await s.drain();
    expect(ttl).toBe(5);
    const cls = s.outbox.class('aged')!;
    expect(cls.count).toBe(3);
    // The sweep stops at the first record kept: its ingest time is the class's oldest.
    expect(cls.oldestTs).toBeGreaterThanOrEqual(now);
  });

  it('a second process on the same data dir gets a clear error', async () => {
    const dir = tmp();
    await open(dir);
    await expect(open(dir)).rejects.toMatchObject({ code: 'GW_ERR_STORE' });
  });
});

describe('outbox', () => {
  it('stamps every record of a message with one device sequence and its own gateway sequence', async () => {
    const s = await open(tmp(), { other: { maxBytes: 1e9, maxAgeSec: 0, policy: 'reject' } });
    const to = ['default', 'other'].map((c) =>
      s.outbox.destination({ class: c, kafkaTopic: `t.${c}`, key: () => 'k', envelope: c === 'other' }),
    );
    const msg = { topic: 'devices/a/state', payload: Buffer.from('x'), qos: 1 as const, clientId: 'a' };
    await new Promise<void>((resolve, reject) => s.outbox.append(msg, to, {}, (e) => (e ? reject(e) : resolve())));
    const [a] = await s.outbox.read(s.outbox.class('default')!, 0, { maxRecords: 10, maxBytes: 1e6 });
    const [b] = await s.outbox.read(s.outbox.class('other')!, 0, { maxRecords: 10, maxBytes: 1e6 });
    expect([a?.deviceSeq, b?.deviceSeq]).toEqual([1, 1]);
    expect([a?.seq, b?.seq]).toEqual([1, 2]);
    expect([a?.kafkaTopic, a?.envelope, b?.kafkaTopic, b?.envelope]).toEqual(['t.default', false, 't.other', true]);
    expect(s.outbox.class('default')!.oldestTs).toBe(a?.ingestTs);
  });

  it('refuses an unknown class', async () => {
    const s = await open(tmp());
    expect(() => s.outbox.destination({ class: 'nope', kafkaTopic: 't', key: () => '', envelope: false })).toThrow(
      expect.objectContaining({ code: 'GW_ERR_CONFIG' }),
    );
  });

  it('reads in sequence order within the byte limit, from the head once records are removed', async () => {
    const s = await open(tmp());
    for (let i = 0; i < 10; i++) await append(s, 'default', 'd', 100);
    const cls = s.outbox.class('default')!;
    // 154-byte values: three fit in 500 bytes, a fourth does not.
    const first = await s.outbox.read(cls, 0, { maxRecords: 100, maxBytes: 500 });
    expect(first.map((r) => r.seq)).toEqual([1, 2, 3]);
    s.outbox.remove(
      cls,
      first.map((r) => r.seq),
      first.map((r) => r.size + 8),
    );
    const next = await s.outbox.read(cls, 0, { maxRecords: 2, maxBytes: 1e6 });
    expect(next.map((r) => r.seq)).toEqual([4, 5]);
  });
});

describe('oldest record of a class', () => {
  it('follows the head: read from the head, kept from a read ahead once the batch before it is removed', async () => {
    const s = await open(tmp());
    for (const t of [1_000, 2_000, 3_000]) {
      const clock = vi.spyOn(Date, 'now').mockReturnValue(1_700_000_000_000 + t);
      const appended = append(s, 'default', 'd');
      clock.mockRestore();
      await appended;
    }
    const cls = s.outbox.class('default')!;
    const limits = { maxRecords: 1, maxBytes: 1e6 };
    const [first] = await s.outbox.read(cls, 0, limits);
    expect(cls.oldestTs).toBe(1_700_000_001_000);
    // While the first batch is in flight the next one is read: the first record is still the oldest.
    const [second] = await s.outbox.read(cls, first!.seq + 1, limits);
    expect(cls.oldestTs).toBe(1_700_000_001_000);
    s.outbox.remove(cls, [first!.seq], [first!.size + 8]);
    expect(cls.oldestTs).toBe(1_700_000_002_000);
    s.outbox.remove(cls, [second!.seq, second!.seq + 1], [second!.size + 8, second!.size + 8]);
    expect(cls.count).toBe(0);
    expect(cls.oldestTs).toBe(0);
  });
});

describe('flow journal', () => {
  it('journals a QoS 1 message with its outbox record, replays it until completed', async () => {
    const dir = tmp();
    const s = await open(dir);
    const tap = s.journal.tap('node-1');
    const to = s.outbox.destination({ class: 'default', kafkaTopic: 't', key: () => 'k', envelope: false });
    const msg = { topic: 'devices/a/state', payload: Buffer.from('hello'), qos: 1 as const, clientId: 'a' };
    let stamp: Stamp | undefined;
    await new Promise<void>((resolve, reject) => {
      stamp = s.outbox.append(msg, [to], { taps: [tap] }, (e) => (e ? reject(e) : resolve()));
    });
    expect(stamp?.journalKeys).toHaveLength(1);
    await s.stop();
    stores.splice(stores.indexOf(s), 1);

    const again = await open(dir);
    const t = again.journal.tap('node-1');
    const replayed = [];
    for await (const e of again.journal.replay(t)) replayed.push(e);
    expect(replayed).toHaveLength(1);
    expect(replayed[0]?.msg).toMatchObject({ topic: 'devices/a/state', clientId: 'a', qos: 1, deviceSeq: 1 });
    expect(replayed[0]?.msg.payload.toString()).toBe('hello');
    expect(replayed[0]?.key.equals(stamp?.journalKeys[0] as Buffer)).toBe(true);
    // Another tap's entries are its own.
    for await (const _ of again.journal.replay(again.journal.tap('node-2'))) throw new Error('not this tap');
    again.journal.complete(replayed[0]?.key as Buffer);
    await again.drain();
    const left = [];
    for await (const e of again.journal.replay(t)) left.push(e);
    expect(left).toEqual([]);
  });

  it('does not journal QoS 0 messages', async () => {
    const s = await open(tmp());
    const tap = s.journal.tap('node-1');
    const msg = { topic: 'x', payload: Buffer.from('0'), qos: 0 as const, clientId: 'a' };
    await new Promise<void>((resolve, reject) => {
      const stamp = s.outbox.append(msg, [], { taps: [tap] }, (e) => (e ? reject(e) : resolve()));
      expect(stamp.journalKeys).toEqual([undefined]);
    });
    const entries = [];
    for await (const e of s.journal.replay(tap)) entries.push(e);
    expect(entries).toEqual([]);
  });
});
