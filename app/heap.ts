// One memory-reducing garbage collection once the gateway has started. Loading its modules (and Node's type
// stripping of its own .ts files) grows V8's young generation to its limit (32 MB, 64 MB with flows on), and an idle
// gateway allocates too little for a later collection to give that back: it stays committed, about 1 MB of it in
// use, until the next burst of work. V8's "last resort" collection (the one it runs before giving up on an
// allocation) shrinks the young generation and compacts the old one. No heap limit is changed: under load the young
// generation grows again as before (bench/README.md, "Memory").
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface Compaction {
  /** RSS (MB) before and after. */
  rssBefore: number;
  rssAfter: number;
  /** The young generation's committed size (MB) before and after. */
  youngBefore: number;
  youngAfter: number;
  /** How long the collection paused the process (ms). */
  ms: number;
}

type Collect = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** V8's gc(), taken from a context of its own: the flag that installs it is off again at once, so no other context
 * (the gateway's, Node-RED's function nodes) gets a `gc` global. Undefined if this Node does not provide it. */
function collector(): Collect | undefined {
  setFlagsFromString('--expose-gc');
  try {
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    return typeof gc === 'function' ? (gc as Collect) : undefined;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

const mb = (n: number): number => Math.round((n / 1048576) * 10) / 10;

function youngGeneration(): number {
  return getHeapSpaceStatistics()
    .filter((s) => s.space_name === 'new_space' || s.space_name === 'new_large_object_space')
    .reduce((n, s) => n + s.space_size, 0);
}

/** Above this much heap in use, the collection is skipped: it pauses the process about 3 ms per MB in use (measured
 * on 2 shared cores), and a heap that large means the gateway is busy, not idle. */
export const MAX_HEAP_IN_USE_MB = 128;

/** Runs the collection now and says what it gave back, or why it did not run. */
export function compactHeap(maxInUseMb = MAX_HEAP_IN_USE_MB): Compaction | { skipped: string } {
  const inUse = getHeapStatistics().used_heap_size;
  if (inUse > maxInUseMb * 1048576) return { skipped: `${mb(inUse)} MB of heap in use (over ${maxInUseMb} MB)` };
  const gc = collector();
  if (!gc) return { skipped: 'this Node provides no gc() to a new context' };
  const rssBefore = process.memoryUsage.rss();
  const youngBefore = youngGeneration();
  const t = performance.now();
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  const ms = performance.now() - t;
  return {
    rssBefore: mb(rssBefore),
    rssAfter: mb(process.memoryUsage.rss()),
    youngBefore: mb(youngBefore),
    youngAfter: mb(youngGeneration()),
    ms: Math.round(ms),
  };
}
