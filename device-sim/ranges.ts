// Sets of sequence numbers stored as sorted, non-overlapping, non-adjacent inclusive ranges: [[1, 500], [502, 1000]].
// A run of 1,000 acked messages is one pair however long the run, which keeps ledgers small.

export type Range = [first: number, last: number];

/** Inserts one number; acks mostly arrive in order, so appending to the last range is the fast path. */
export function addSeq(ranges: Range[], n: number): void {
  const last = ranges[ranges.length - 1];
  if (last === undefined || n > last[1] + 1) {
    ranges.push([n, n]);
    return;
  }
  if (n === last[1] + 1) {
    last[1] = n;
    return;
  }
  // Binary search for the first range whose end is >= n - 1 (the only one n can touch or extend).
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid]![1] < n - 1) lo = mid + 1;
    else hi = mid;
  }
  const r = ranges[lo]!;
  if (n >= r[0] && n <= r[1]) return;
  if (n === r[1] + 1) {
    r[1] = n;
    const next = ranges[lo + 1];
    if (next && next[0] === n + 1) {
      r[1] = next[1];
      ranges.splice(lo + 1, 1);
    }
    return;
  }
  if (n === r[0] - 1) {
    r[0] = n;
    return;
  }
  ranges.splice(lo, 0, [n, n]);
}

/** Builds ranges from any list of numbers (duplicates and order do not matter). */
export function fromSeqs(seqs: Iterable<number>): Range[] {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const out: Range[] = [];
  for (const n of sorted) {
    const last = out[out.length - 1];
    if (last && n === last[1] + 1) last[1] = n;
    else out.push([n, n]);
  }
  return out;
}

/** Union of two range lists. */
export function mergeRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  const all = [...a, ...b].map((r) => [r[0], r[1]] as Range).sort((x, y) => x[0] - y[0]);
  const out: Range[] = [];
  for (const r of all) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}

export function countRanges(ranges: readonly Range[]): number {
  let n = 0;
  for (const [a, b] of ranges) n += b - a + 1;
  return n;
}

export function hasSeq(ranges: readonly Range[], n: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (n < r[0]) hi = mid - 1;
    else if (n > r[1]) lo = mid + 1;
    else return true;
  }
  return false;
}

/** The numbers in `a` that are not in `b`, as ranges. */
export function subtractRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  let j = 0;
  for (const [first, last] of a) {
    let start = first;
    while (j < b.length && b[j]![1] < start) j++;
    let k = j;
    while (start <= last) {
      const cut = b[k];
      if (!cut || cut[0] > last) {
        out.push([start, last]);
        break;
      }
      if (cut[0] > start) out.push([start, cut[0] - 1]);
      start = Math.max(start, cut[1] + 1);
      k++;
    }
  }
  return out;
}

/** "1-500,502,504-1000" for reports. */
export function formatRanges(ranges: readonly Range[], max = 8): string {
  const parts = ranges.slice(0, max).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
  if (ranges.length > max) parts.push(`… (+${ranges.length - max} more)`);
  return parts.join(',');
}
