// The status page's last hour: a fixed-size ring of samples (time, backlog records and bytes, in and out rates).
// Columns are preallocated typed arrays, so sampling allocates nothing and memory never grows past the capacity;
// the oldest sample is overwritten once the ring is full.

export interface Sample {
  /** When it was taken (ms since the epoch). */
  t: number;
  /** Records waiting in the outbox (every storage class). */
  records: number;
  bytes: number;
  /** Records appended to the outbox per second since the previous sample. */
  inRate: number;
  /** Records acknowledged by Kafka per second since the previous sample. */
  outRate: number;
}

const COLUMNS = ['t', 'records', 'bytes', 'inRate', 'outRate'] as const;
type Column = (typeof COLUMNS)[number];

/** The samples as columns, oldest first (the shape uPlot draws). */
export type SampleColumns = Record<Column, number[]>;

export class SampleRing {
  readonly capacity: number;
  private readonly cols: Record<Column, Float64Array>;
  /** Where the next sample goes. */
  private next = 0;
  private filled = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a whole number from 1');
    this.capacity = capacity;
    this.cols = {
      t: new Float64Array(capacity),
      records: new Float64Array(capacity),
      bytes: new Float64Array(capacity),
      inRate: new Float64Array(capacity),
      outRate: new Float64Array(capacity),
    };
  }

  get size(): number {
    return this.filled;
  }

  push(s: Sample): void {
    for (const c of COLUMNS) this.cols[c][this.next] = s[c];
    this.next = (this.next + 1) % this.capacity;
    if (this.filled < this.capacity) this.filled++;
  }

  /** The i-th sample, oldest first (0 ≤ i < size). */
  at(i: number): Sample | undefined {
    if (!Number.isInteger(i) || i < 0 || i >= this.filled) return undefined;
    const k = (this.next - this.filled + i + this.capacity) % this.capacity;
    return {
      t: this.cols.t[k] as number,
      records: this.cols.records[k] as number,
      bytes: this.cols.bytes[k] as number,
      inRate: this.cols.inRate[k] as number,
      outRate: this.cols.outRate[k] as number,
    };
  }

  last(): Sample | undefined {
    return this.at(this.filled - 1);
  }

  columns(): SampleColumns {
    const start = (this.next - this.filled + this.capacity) % this.capacity;
    const out = {} as SampleColumns;
    for (const c of COLUMNS) {
      const col = this.cols[c];
      const first = col.subarray(start, Math.min(start + this.filled, this.capacity));
      const wrapped = col.subarray(0, this.filled - first.length);
      out[c] = [...first, ...wrapped];
    }
    return out;
  }
}

/**
 * Seconds until the backlog is empty at the net rate (out minus in) of the samples in the last `windowMs`: 0 when
 * empty, null while it does not shrink (or too few samples tell).
 */
export function drainEtaSec(ring: SampleRing, windowMs = 60_000): number | null {
  const last = ring.last();
  if (!last) return null;
  if (last.records <= 0) return 0;
  let net = 0;
  let n = 0;
  for (let i = ring.size - 1; i >= 1; i--) {
    const s = ring.at(i) as Sample;
    if (last.t - s.t >= windowMs) break;
    net += s.outRate - s.inRate;
    n++;
  }
  if (n === 0 || net <= 0) return null;
  return last.records / (net / n);
}
