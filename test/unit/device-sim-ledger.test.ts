import { describe, expect, it } from 'vitest';
import { analyze, type ObservedRecord, percentile } from '../../device-sim/analyze.ts';
import { parseOptions, UsageError } from '../../device-sim/args.ts';
import { decodeValue } from '../../device-sim/kafka-read.ts';
import { DeviceRecorder, type Ledger, mergeLedgers, parseLedger, publishTimeLookup } from '../../device-sim/ledger.ts';
import { buildPayload, deviceId, parseSimPayload } from '../../device-sim/payload.ts';
import {
  addSeq,
  countRanges,
  formatRanges,
  fromSeqs,
  hasSeq,
  mergeRanges,
  type Range,
  subtractRanges,
} from '../../device-sim/ranges.ts';

describe('ranges', () => {
  it('adds in order, out of order, duplicates, and joins neighbours', () => {
    const r: Range[] = [];
    for (const n of [1, 2, 3, 7, 5, 6, 4, 3, 10, 9]) addSeq(r, n);
    expect(r).toEqual([
      [1, 7],
      [9, 10],
    ]);
    addSeq(r, 8);
    expect(r).toEqual([[1, 10]]);
    const s: Range[] = [];
    for (const n of [10, 5, 1, 3]) addSeq(s, n);
    expect(s).toEqual([
      [1, 1],
      [3, 3],
      [5, 5],
      [10, 10],
    ]);
    addSeq(s, 4);
    expect(s).toEqual([
      [1, 1],
      [3, 5],
      [10, 10],
    ]);
  });

  it('agrees with a plain set on random input', () => {
    let x = 12345;
    const rnd = (): number => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return x % 500;
    };
    const r: Range[] = [];
    const set = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const n = rnd();
      addSeq(r, n);
      set.add(n);
    }
    expect(r).toEqual(fromSeqs(set));
    expect(countRanges(r)).toBe(set.size);
    for (let n = -1; n < 501; n++) expect(hasSeq(r, n)).toBe(set.has(n));
  });

  it('merges, subtracts and formats', () => {
    expect(
      mergeRanges(
        [
          [1, 3],
          [10, 12],
        ],
        [
          [4, 5],
          [11, 20],
        ],
      ),
    ).toEqual([
      [1, 5],
      [10, 20],
    ]);
    expect(
      subtractRanges(
        [[1, 10]],
        [
          [3, 4],
          [6, 6],
          [9, 12],
        ],
      ),
    ).toEqual([
      [1, 2],
      [5, 5],
      [7, 8],
    ]);
    expect(
      subtractRanges(
        [
          [1, 3],
          [5, 9],
        ],
        [],
      ),
    ).toEqual([
      [1, 3],
      [5, 9],
    ]);
    expect(subtractRanges([[1, 3]], [[0, 100]])).toEqual([]);
    expect(
      formatRanges([
        [1, 1],
        [3, 9],
      ]),
    ).toBe('1,3-9');
  });
});

describe('ledger', () => {
  it('records acks once each and publish times as deltas', () => {
    const rec = new DeviceRecorder('sim-0001', 1);
    rec.published(1, 't', 1000);
    rec.published(2, 't', 1005);
    rec.published(3, 't', 1005);
    rec.ack(2);
    rec.ack(1);
    rec.ack(2);
    expect(rec.ackedCount).toBe(2);
    const d = rec.toLedger();
    expect(d.acked).toEqual([[1, 2]]);
    expect(d.times).toEqual({ first: 1, t0: 1000, deltas: [5, 0] });
    const at = publishTimeLookup(d.times);
    expect([at(1), at(2), at(3), at(4)]).toEqual([1000, 1005, 1005, undefined]);
  });

  it('merges ledgers of one run and rejects other runs', () => {
    const a = ledger({ 'sim-0001': [[1, 5]] });
    const b = ledger({ 'sim-0001': [[6, 9]], 'sim-0002': [[1, 1]] });
    const m = mergeLedgers(a, b);
    expect(m.devices['sim-0001']!.acked).toEqual([[1, 9]]);
    expect(Object.keys(m.devices)).toEqual(['sim-0001', 'sim-0002']);
    expect(() => mergeLedgers(a, { ...b, runId: 'other' })).toThrow(/different runs/);
  });

  it('refuses unknown versions and malformed files', () => {
    expect(() => parseLedger('{"version":99}')).toThrow(/version 99/);
    expect(() => parseLedger('nope')).toThrow(/not JSON/);
    expect(parseLedger(JSON.stringify(ledger({ a: [[1, 1]] }))).runId).toBe('run1');
  });
});

function ledger(acked: Record<string, Range[]>): Ledger {
  return {
    version: 1,
    runId: 'run1',
    command: 'publish',
    url: 'mqtt://x',
    startedAt: 0,
    endedAt: 1,
    devices: Object.fromEntries(
      Object.entries(acked).map(([id, r]) => [
        id,
        { id, topics: ['t'], qos: 1 as const, sent: countRanges(r), acked: r, connects: 1, disconnects: 0 },
      ]),
    ),
  };
}

/** Records for `device`, one per seq in the given order, in partition 0 at increasing offsets. */
function recs(device: string, seqs: number[], opts: Partial<ObservedRecord> = {}): ObservedRecord[] {
  return seqs.map((seq, i) => ({
    device,
    seq,
    run: 'run1',
    topic: 'edge.uplink',
    partition: 0,
    offset: i,
    timestamp: 1000 + seq,
    consumedAt: 2000,
    msgId: `gw-${seq}`,
    payloadTs: 1000,
    ...opts,
  }));
}

describe('analyze', () => {
  const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

  it('passes a clean set and measures latency', () => {
    const r = analyze(ledger({ d1: [[1, 100]] }), recs('d1', range(1, 100)));
    expect(r.ok).toBe(true);
    expect(r.totals).toMatchObject({ expected: 100, found: 100, lost: 0, duplicates: 0, outOfOrder: 0, extra: 0 });
    expect(r.latency).toEqual({ count: 100, p50: 50, p95: 95, p99: 99, max: 100 });
  });

  it('finds a loss, reported as ranges', () => {
    const seqs = range(1, 100).filter((n) => n !== 40 && n !== 41 && n !== 77);
    const r = analyze(ledger({ d1: [[1, 100]] }), recs('d1', seqs));
    expect(r.ok).toBe(false);
    expect(r.totals.lost).toBe(3);
    expect(r.devices[0]!.lostRanges).toEqual([
      [40, 41],
      [77, 77],
    ]);
  });

  it('counts duplicates and those with a new gateway.msg_id, without failing', () => {
    const list = recs('d1', [1, 2, 3, 2, 3, 3]);
    list[5]!.msgId = 'gw-other';
    const r = analyze(ledger({ d1: [[1, 3]] }), list);
    expect(r.ok).toBe(true);
    expect(r.totals.duplicates).toBe(3);
    expect(r.totals.duplicatesNewId).toBe(1);
    expect(r.totals.outOfOrder).toBe(0);
  });

  it('finds a reordering by first appearance per partition', () => {
    const r = analyze(ledger({ d1: [[1, 6]] }), recs('d1', [1, 2, 4, 3, 5, 6]));
    expect(r.ok).toBe(false);
    expect(r.totals.outOfOrder).toBe(1);
    // A re-sent older seq after newer ones is a duplicate, not a reordering.
    const again = analyze(ledger({ d1: [[1, 6]] }), recs('d1', [1, 2, 3, 4, 2, 3, 4, 5, 6]));
    expect(again.ok).toBe(true);
    expect(again.totals.duplicates).toBe(3);
  });

  it('checks order within each partition when a device is split, and says so', () => {
    const list = [...recs('d1', [1, 3]), ...recs('d1', [2, 4], { partition: 1 })];
    const r = analyze(ledger({ d1: [[1, 4]] }), list);
    expect(r.totals.outOfOrder).toBe(0);
    expect(r.splitDevices).toEqual(['d1']);
  });

  it('counts unacked-but-delivered as extra and ignores other runs and devices', () => {
    const list = [...recs('d1', [1, 2, 3, 4]), ...recs('d1', [1, 2], { run: 'old' }), ...recs('stranger', [1])];
    const r = analyze(ledger({ d1: [[1, 2]] }), list);
    expect(r.ok).toBe(true);
    expect(r.totals.extra).toBe(2);
    expect(r.ignored).toEqual({ otherRuns: 2, unknownDevices: 1, undecodable: 0 });
  });

  it('percentiles are nearest-rank', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([5], 99)).toBe(5);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
  });
});

describe('payload', () => {
  it('pads to the requested size and reads back, raw or in an envelope', () => {
    const buf = buildPayload({ device: 'sim-0001', seq: 17, ts: 5, run: 'r' }, 256);
    expect(buf.length).toBe(256);
    expect(parseSimPayload(buf)).toEqual({ device: 'sim-0001', seq: 17, ts: 5, run: 'r' });
    const env = Buffer.from(JSON.stringify({ client_id: 'sim-0001', payload: buf.toString('base64'), qos: 1 }));
    expect(decodeValue(env)?.seq).toBe(17);
    expect(decodeValue(Buffer.from('not json'))).toBeUndefined();
    expect(decodeValue(null)).toBeUndefined();
  });

  it('names devices with zero padding', () => {
    expect(deviceId('sim', 1, 20)).toBe('sim-0001');
    expect(deviceId('sim', 7, 12_000)).toBe('sim-00007');
  });
});

describe('options', () => {
  const specs = {
    qos: { kind: 'int' as const, help: '', default: 1, min: 0, max: 2 },
    url: { kind: 'string' as const, help: '', required: true },
    topic: { kind: 'list' as const, help: '', default: ['a'] },
  };
  it('collects every problem at once', () => {
    try {
      parseOptions(['--qos', '3.5', 'extra'], specs);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message.split('\n')).toEqual([
        'unexpected argument: extra',
        '--qos: "3.5" is not an integer',
        '--url is required',
      ]);
    }
    expect(() => parseOptions(['--nope'], specs)).toThrow(UsageError);
    expect(parseOptions(['--url', 'u', '--topic', 'x,y'], specs)).toEqual({ qos: 1, url: 'u', topic: ['x', 'y'] });
  });
});
