// The reader's record of which (device, seq) pairs it has seen must hold a run of tens of millions of records: a Set
// of strings stops at 2^24 entries.
import { describe, expect, it } from 'vitest';
import type { ObservedRecord } from '../../device-sim/analyze.ts';
import { completionTracker } from '../../device-sim/commands/verify.ts';
import type { Ledger } from '../../device-sim/ledger.ts';
import { SeenSeqs } from '../../device-sim/seen-seqs.ts';

function ledgerOf(devices: number, perDevice: number): Ledger {
  const d: Ledger['devices'] = {};
  for (let i = 0; i < devices; i++) {
    const id = `sim-${i}`;
    d[id] = {
      id,
      topics: [`devices/${id}/telemetry`],
      qos: 1,
      sent: perDevice,
      acked: [[1, perDevice]],
      connects: 1,
      disconnects: 0,
    };
  }
  return {
    version: 1,
    runId: 'run-a',
    command: 'fleet',
    url: 'mqtt://127.0.0.1:1883',
    startedAt: 0,
    endedAt: 1,
    devices: d,
  };
}

const rec = (device: string, seq: number, run = 'run-a'): ObservedRecord => ({
  device,
  seq,
  run,
  topic: 't',
  partition: 0,
  offset: 0,
  timestamp: 0,
  consumedAt: 0,
});

describe('SeenSeqs', () => {
  it('tells a first copy from a repeat, per device, in any order', () => {
    const s = new SeenSeqs();
    expect(s.add('a', 5)).toBe(true);
    expect(s.add('a', 5)).toBe(false);
    expect(s.add('b', 5)).toBe(true);
    expect(s.add('a', 1_000_000)).toBe(true);
    expect(s.add('a', 4)).toBe(true);
    expect(s.add('a', 1_000_000)).toBe(false);
    // Outside the bitmap's range: kept exactly all the same.
    for (const odd of [-1, 2 ** 40, 1.5]) {
      expect(s.add('a', odd)).toBe(true);
      expect(s.add('a', odd)).toBe(false);
    }
    expect(s.size).toBe(7);
  });

  it('holds more than 2^24 pairs (where a Set of strings throws RangeError)', () => {
    const s = new SeenSeqs();
    const devices = 100;
    const perDevice = 170_000; // 17,000,000 > 16,777,216
    for (let seq = 1; seq <= perDevice; seq++) for (let d = 0; d < devices; d++) s.add(`sim-${d}`, seq);
    expect(s.size).toBe(devices * perDevice);
    expect(s.size).toBeGreaterThan(2 ** 24);
    expect(s.add('sim-7', 169_999)).toBe(false);
    expect(s.add('sim-7', 170_001)).toBe(true);
  });
});

describe('verify completion tracker', () => {
  it('is complete once every acked pair of this run arrived, whatever else came', () => {
    const isComplete = completionTracker(ledgerOf(2, 3));
    const records: ObservedRecord[] = [rec('sim-0', 1), rec('sim-0', 1), rec('sim-0', 2), rec('sim-1', 1)];
    expect(isComplete(records)).toBe(false);
    // Other runs, unknown devices, unacked seqs and repeats do not count.
    records.push(rec('sim-0', 3, 'run-b'), rec('sim-9', 1), rec('sim-1', 4), rec('sim-1', 1), rec('sim-1', 2));
    expect(isComplete(records)).toBe(false);
    records.push(rec('sim-0', 3), rec('sim-1', 3));
    expect(isComplete(records)).toBe(true);
  });

  it('counts a run of more than 2^24 acked records to completion', () => {
    const devices = 100;
    const perDevice = 170_000;
    const isComplete = completionTracker(ledgerOf(devices, perDevice));
    const ids = Array.from({ length: devices }, (_, d) => `sim-${d}`);
    // The tracker reads records[i] once per index as the array grows; a view with a length and one reused record
    // stands in for 17 million objects.
    const one = rec('sim-0', 0);
    let length = 0;
    const view = new Proxy([] as ObservedRecord[], {
      get(target, key, receiver) {
        if (key === 'length') return length;
        if (typeof key === 'string' && /^\d+$/.test(key)) {
          const i = Number(key);
          one.device = ids[i % devices]!;
          one.seq = Math.floor(i / devices) + 1;
          return one;
        }
        return Reflect.get(target, key, receiver);
      },
    });
    const total = devices * perDevice;
    for (length = 1_000_000; length < total; length += 1_000_000) expect(isComplete(view)).toBe(false);
    length = total;
    expect(isComplete(view)).toBe(true);
  });
});
