// The compaction after start (app/heap.ts): once the young generation has grown, it is given back, and no `gc`
// global is left behind for the process's contexts.
import { getHeapSpaceStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { compactHeap } from '../../app/heap.ts';

const young = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

it('gives back the young generation that a burst of surviving allocations grew', () => {
  // Objects that survive scavenges make V8 grow the young generation (to its limit, within a few rounds).
  let keep: object[] = [];
  for (let round = 0; round < 50 && young() < 8 * 1048576; round++) {
    for (let i = 0; i < 200_000; i++) keep.push({ i, s: `x${i}` });
    if (keep.length > 1_000_000) keep = [];
  }
  keep = [];
  const grown = young();
  expect(grown).toBeGreaterThanOrEqual(8 * 1048576);
  const c = compactHeap();
  if ('skipped' in c) throw new Error(`skipped: ${c.skipped}`);
  expect(c.youngBefore).toBe(Math.round((grown / 1048576) * 10) / 10);
  expect(young()).toBeLessThan(grown / 4);
  expect(c.youngAfter).toBeLessThan(c.youngBefore / 4);
});

it('leaves no gc global in this context or in contexts created afterwards', () => {
  compactHeap();
  expect('gc' in globalThis).toBe(false);
  expect(runInNewContext('typeof gc')).toBe('undefined');
});

it('skips the collection when more heap is in use than the bound (a busy gateway, a long pause)', () => {
  const keep = Array.from({ length: 200_000 }, (_, i) => ({ i }));
  const c = compactHeap(1);
  expect(c).toEqual({ skipped: expect.stringMatching(/^\d+(\.\d)? MB of heap in use \(over 1 MB\)$/) });
  expect(keep.length).toBe(200_000); // alive until after the call
});
