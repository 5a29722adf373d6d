// The store's compaction after many deletes, on a real LevelDB: one compaction at a time however fast records are
// removed, and only the removed head of a class is compacted, not the records still waiting (a whole-class range
// rewrites the entire backlog each time; on a large backlog those compactions piled up during a drain).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { pino } from 'pino';
import { afterEach, expect, it, vi } from 'vitest';
import { decodeSeq } from '../../gateway/store/seq-key.ts';
import { Store } from '../../gateway/store/store.ts';

const log = pino({ level: 'silent' });
let dir = '';
let store: Store | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await store?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function fill(s: Store, n: number): Promise<void> {
  const to = [s.outbox.destination({ class: 'default', kafkaTopic: 't', key: (m) => m.clientId, envelope: false })];
  await new Promise<void>((resolve, reject) => {
    let left = n;
    for (let i = 0; i < n; i++) {
      const msg = { topic: 'devices/d/t', payload: Buffer.alloc(100, 1), qos: 1 as const, clientId: `d${i % 7}` };
      s.outbox.append(msg, to, {}, (e) => (e ? reject(e) : --left === 0 && resolve()));
    }
  });
}

it('runs one compaction at a time, over the removed head of the class only', async () => {
  dir = mkdtempSync(join(tmpdir(), 'store-compact-'));
  store = new Store({
    dir,
    durability: 'os',
    groupCommit: { maxRecords: 64, windowMs: 0 },
    compactAfterDeletes: 100,
    classes: { default: { maxBytes: 1e9, maxAgeSec: 0, policy: 'reject' } },
    log,
  });
  await store.start();
  const s = store;
  await fill(s, 1000);
  const cls = s.outbox.class('default')!;
  const prefix = Buffer.from(cls.db.prefix);

  // Every compaction the store starts is held until released, then runs for real.
  const original = ClassicLevel.prototype.compactRange;
  let release: () => void = () => {};
  let held = new Promise<void>((r) => {
    release = r;
  });
  let inFlight = 0;
  let maxInFlight = 0;
  const ranges: { start: Buffer; end: Buffer; headAtStart: number }[] = [];
  vi.spyOn(ClassicLevel.prototype, 'compactRange').mockImplementation(async function (
    this: ClassicLevel<string, string>,
    ...args: unknown[]
  ) {
    const [start, end] = args as [Buffer, Buffer];
    ranges.push({ start, end, headAtStart: cls.head });
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      await held;
      await (original as (...a: unknown[]) => Promise<void>).apply(this, args);
    } finally {
      inFlight -= 1;
    }
  } as typeof original);

  // Remove 500 records in batches of 100, as the forwarder does after acks: five thresholds passed while held.
  for (let i = 0; i < 5; i++) {
    const recs = await s.outbox.read(cls, 0, { maxRecords: 100, maxBytes: 1e9 });
    s.outbox.remove(
      cls,
      recs.map((r) => r.seq),
      recs.map((r) => r.size + 8),
    );
    await s.drain();
  }
  expect(ranges.length).toBe(1);
  expect(maxInFlight).toBe(1);

  // Released: the class, past its threshold again meanwhile, gets one more compaction once the first has ended.
  release();
  await vi.waitFor(() => expect(ranges.length).toBe(2));
  held = Promise.resolve();
  await vi.waitFor(() => expect(inFlight).toBe(0));
  expect(maxInFlight).toBe(1);

  for (const r of ranges) {
    // From the class's prefix to the key of its head: the records still waiting are outside the range.
    expect(r.start.equals(prefix)).toBe(true);
    expect(r.end.subarray(0, prefix.length).equals(prefix)).toBe(true);
    expect(decodeSeq(r.end.subarray(prefix.length))).toBe(r.headAtStart);
  }
  expect(ranges[1]?.headAtStart).toBe(cls.head);
  expect(cls.count).toBe(500);
  const left = await s.outbox.read(cls, 0, { maxRecords: 1000, maxBytes: 1e9 });
  expect(left.length).toBe(500);
  expect(left[0]?.seq).toBe(cls.head);
});
