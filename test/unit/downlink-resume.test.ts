// resumeUncommitted (cloud-sync/sources/resume.ts) against a fake admin: which partitions get an offset committed,
// and when it waits for the group to be empty.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { GroupBusyError, type OffsetAdmin, resumeUncommitted } from '../../cloud-sync/sources/resume.ts';

interface Fake extends OffsetAdmin {
  commits: { topic: string; offsets: Record<number, string> }[];
  asked: number[];
  states: string[];
  clients: string[];
}

/**
 * Topic `t`: committed offsets, the first offsets at or after the asked time, end offsets, by partition; the logs'
 * start offsets (0 where not given).
 */
function fake(
  committed: bigint[],
  at: bigint[],
  end: bigint[],
  states: string[] = ['Empty'],
  start: bigint[] = [],
): Fake {
  const f: Fake = {
    commits: [],
    asked: [],
    states: [...states],
    clients: ['other-gateway'],
    async committed() {
      return new Map(committed.map((o, p) => [p, o]));
    },
    async offsetsAt(_topic, ms) {
      f.asked.push(ms);
      return new Map(end.map((e, p) => [p, { at: at[p] ?? -1n, end: e, start: start[p] ?? 0n }]));
    },
    async groupState() {
      const state = f.states.length > 1 ? (f.states.shift() as string) : (f.states[0] as string);
      return { state, clients: state === 'Empty' ? [] : f.clients };
    },
    async commit(_g, topic, offsets) {
      f.commits.push({ topic, offsets: Object.fromEntries([...offsets].map(([p, o]) => [p, o.toString()])) });
    },
    async close() {},
  };
  return f;
}

const opts = {
  groupId: 'g',
  clientId: 'gw-downlink',
  since: { t: 1000 },
  emptyWithinMs: 2000,
  log: pino({ level: 'silent' }),
};

describe('resumeUncommitted', () => {
  it('commits the offset at the start time for partitions without a committed offset that hold records since', async () => {
    // p0 committed; p1 none, records since; p2 none, nothing since (at = end); p3 none, kafkajs-style -1.
    const a = fake([5n, -1n, -1n, -1n], [7n, 3n, 9n, -1n], [8n, 6n, 9n, 4n]);
    expect(await resumeUncommitted(a, opts)).toBe(1);
    expect(a.asked).toEqual([1000]);
    expect(a.commits).toEqual([{ topic: 't', offsets: { 1: '3' } }]);
  });

  it('commits nothing and never asks about the group when every partition has an offset', async () => {
    const a = fake([5n, 2n], [7n, 3n], [8n, 6n], ['Stable']);
    expect(await resumeUncommitted(a, opts)).toBe(0);
    expect(a.asked).toEqual([]);
    expect(a.commits).toEqual([]);
  });

  it('waits for a left-over member to leave, and gives up (throws) if it stays', async () => {
    const waits = fake([-1n], [0n], [1n], ['Stable', 'PreparingRebalance', 'Empty']);
    expect(await resumeUncommitted(waits, opts)).toBe(1);
    expect(waits.commits).toHaveLength(1);
    const stays = fake([-1n], [0n], [1n], ['Stable']);
    await expect(resumeUncommitted(stays, { ...opts, emptyWithinMs: 300 })).rejects.toThrow(GroupBusyError);
    expect(stays.commits).toEqual([]);
    // Left over by this gateway (its client id): an error of its own, so the start is retried rather than skipped.
    const ours = fake([-1n], [0n], [1n], ['Stable']);
    ours.clients = ['gw-downlink'];
    const err = await resumeUncommitted(ours, { ...opts, emptyWithinMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(GroupBusyError);
    expect(ours.commits).toEqual([]);
  });

  it('skips a topic not created yet (no partitions); an error of Kafka rejects', async () => {
    const none = fake([], [], []);
    expect(await resumeUncommitted(none, opts)).toBe(0);
    expect(none.asked).toEqual([]);
    const broken = fake([-1n], [0n], [1n]);
    broken.committed = async () => {
      throw new Error('Connection error: connect ECONNREFUSED');
    };
    await expect(resumeUncommitted(broken, opts)).rejects.toThrow(/ECONNREFUSED/);
  });

  it("resumes after the gateway's own position where Kafka dropped the committed offset, never before the log's start", async () => {
    // All four without a committed offset (expired); records since the start time from offset 1 on in each.
    // p0: own 5 of end 9 -> 5 (not 1: commands 1-4 were handled). p1: own 2, but retention deleted up to 4 -> 4.
    // p2: own 9 = end -> nothing to hand over. p3: no own position -> the start time's offset, 1.
    // p4: own 12 past the end 6 (a topic made anew) -> the start time's offset, 1.
    const a = fake(
      [-1n, -1n, -1n, -1n, -1n],
      [1n, 1n, 1n, 1n, 1n],
      [9n, 8n, 9n, 3n, 6n],
      ['Empty'],
      [0n, 4n, 0n, 0n, 0n],
    );
    const positions = new Map([
      [
        't',
        new Map([
          [0, 5n],
          [1, 2n],
          [2, 9n],
          [4, 12n],
        ]),
      ],
    ]);
    expect(await resumeUncommitted(a, { ...opts, positions })).toBe(4);
    expect(a.commits).toEqual([{ topic: 't', offsets: { 0: '5', 1: '4', 3: '1', 4: '1' } }]);
  });

  it("leaves a committed offset alone whatever the gateway's own position says", async () => {
    const a = fake([3n], [1n], [9n], ['Stable']);
    expect(await resumeUncommitted(a, { ...opts, positions: new Map([['t', new Map([[0, 7n]])]]) })).toBe(0);
    expect(a.commits).toEqual([]);
  });
});
