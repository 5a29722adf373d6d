// The power-cut figures of a chaos run, on fixed inputs: acknowledged and lost messages attributed to the cut they
// were published before, the store's reopening and epochs from the gateway's ready lines.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { VerifyReport } from '../../device-sim/analyze.ts';
import { formatPower, PowerLog, powerFigures, readyInfo } from '../../device-sim/chaos/power.ts';
import { POWERCUT_FS_SCRIPT, type PowercutDisk } from '../../device-sim/chaos/powercut.ts';
import type { Ledger } from '../../device-sim/ledger.ts';

const T0 = 1_700_000_000_000;

/** Device d1 published seqs 1..10 at T0 + seq seconds; d2 seqs 1..4 at T0 + 2·seq seconds. */
const ledger: Ledger = {
  version: 1,
  runId: 'r',
  command: 'chaos',
  url: 'mqtt://x',
  startedAt: T0,
  endedAt: T0 + 20_000,
  devices: {
    d1: {
      id: 'd1',
      topics: ['t'],
      qos: 1,
      sent: 10,
      acked: [
        [1, 6],
        [8, 10],
      ],
      times: { first: 1, t0: T0 + 1000, deltas: Array(9).fill(1000) },
      connects: 3,
      disconnects: 2,
    },
    d2: {
      id: 'd2',
      topics: ['t'],
      qos: 1,
      sent: 4,
      acked: [[1, 4]],
      times: { first: 1, t0: T0 + 2000, deltas: [2000, 2000, 2000] },
      connects: 3,
      disconnects: 2,
    },
  },
};

function report(lost: Record<string, [number, number][]>): VerifyReport {
  const devices = Object.keys(ledger.devices).map((id) => {
    const lostRanges = lost[id] ?? [];
    return { id, lostRanges, lost: lostRanges.reduce((s, [a, b]) => s + b - a + 1, 0) };
  });
  const total = devices.reduce((s, d) => s + d.lost, 0);
  return {
    ok: total === 0,
    totals: { expected: 13, found: 13 - total, lost: total },
    devices,
  } as unknown as VerifyReport;
}

const ready = (epoch: string, durability = 'fsync'): string =>
  `{"level":30,"msg":"noise"}\n${JSON.stringify({ level: 30, epoch, durability, msg: 'gateway ready' })}\n`;

function log(readies: (string | null)[]): PowerLog {
  const l = new PowerLog({} as PowercutDisk);
  l.first = readyInfo(ready('e1'));
  // Cuts at T0 + 4.5 s and T0 + 7.5 s.
  [4500, 7500].forEach((ms, i) => {
    const r = readies[i] ?? null;
    l.cuts.push({ at: T0 + ms, backlogRecords: 10 * (i + 1), reopened: r !== null, ready: r ? readyInfo(r) : null });
  });
  return l;
}

describe('power-cut figures', () => {
  it('counts acknowledged and lost messages by the cut they were published before', () => {
    // d1 lost 5 and 6 (published at 5 s and 6 s: before the second cut), d2 lost 1 (at 2 s: before the first).
    const p = powerFigures(log([ready('e1'), ready('e1')]), ledger, report({ d1: [[5, 6]], d2: [[1, 1]] }), T0);
    expect(p.perCut).toEqual([
      { t: 4500, backlogRecords: 10, reopened: true, acked: 6, lost: 1 }, // d1 1-4, d2 1-2
      { t: 7500, backlogRecords: 20, reopened: true, acked: 3, lost: 2 }, // d1 5, 6; d2 3
    ]);
    expect(p.afterLastCut).toEqual({ acked: 4, lost: 0 }); // d1 8-10, d2 4
    expect(p).toMatchObject({ cuts: 2, reopened: 2, durability: 'fsync', epochs: 1, acked: 13, lost: 3 });
    expect(p.backlogAtCuts).toBe(30);
    expect(p.ok).toBe(true);
    expect(formatPower(p)).toContain(
      'cut 2 at 7.5 s: backlog 20, published since the cut before: 3 acknowledged, 2 lost',
    );
  });

  it('a start that failed after a cut fails the run; a new epoch or mode shows', () => {
    const failed = powerFigures(log([ready('e1'), null]), ledger, report({}), T0);
    expect(failed).toMatchObject({ cuts: 2, reopened: 1, ok: false, lost: 0 });
    expect(formatPower(failed)).toContain('the gateway did not come back');
    const fresh = powerFigures(log([ready('e2', 'os'), ready('e3', 'os')]), ledger, report({}), T0);
    expect(fresh).toMatchObject({ epochs: 3, durability: 'mixed', ok: true });
  });

  it("reads the last ready line's epoch and durability", () => {
    expect(readyInfo(`${ready('a')}${ready('b', 'os')}{"msg":"later"}`)).toEqual({ epoch: 'b', durability: 'os' });
    expect(readyInfo(ready('a').trimEnd())).toEqual({ epoch: 'a', durability: 'fsync' });
    expect(readyInfo('{"msg":"starting"}\n')).toBeNull();
  });

  it('the FUSE script ships with the tool', () => {
    expect(POWERCUT_FS_SCRIPT).toMatch(/device-sim\/chaos\/powercut-fs\.py$/);
    expect(existsSync(POWERCUT_FS_SCRIPT)).toBe(true);
  });
});
