// Recent rates of a few monotonic counters (records appended, records forwarded): a bounded ring of samples taken on a
// timer, never per message. A rate is the counters' growth since the oldest sample still inside the window, divided
// by the time between them.

export interface RateWindowOptions {
  /** How far back a rate looks. */
  windowMs: number;
  /** How often a sample is taken while started. */
  everyMs: number;
  /** The counters now, always in the same order. */
  read: () => readonly number[];
  now?: () => number;
}

interface Sample {
  at: number;
  values: readonly number[];
}

/** Below this span a rate says 0: two samples a few milliseconds apart give no rate worth reading. */
const MIN_SPAN_MS = 500;

export class RateWindow {
  private readonly o: RateWindowOptions;
  private readonly now: () => number;
  private readonly samples: Sample[] = [];
  /** The window's samples plus one older (the span's start once the window is full). */
  private readonly max: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(o: RateWindowOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    this.max = Math.ceil(o.windowMs / o.everyMs) + 1;
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.o.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  sample(): void {
    this.samples.push({ at: this.now(), values: [...this.o.read()] });
    if (this.samples.length > this.max) this.samples.splice(0, this.samples.length - this.max);
  }

  /** Per counter, its growth per second over the window (0 until the window spans half a second). With `sinceMs`
   * only samples taken at or after that time count: a rate that must not look back past an event (the Kafka link
   * coming back) gives that event's time, and says 0 until half a second of samples after it exist. */
  rates(sinceMs = Number.NEGATIVE_INFINITY): number[] {
    const now = this.now();
    const values = this.o.read();
    const from = this.spanStart(now, sinceMs);
    const span = from ? now - from.at : 0;
    if (!from || span < MIN_SPAN_MS) return values.map(() => 0);
    return values.map((v, i) => Math.max(0, v - (from.values[i] ?? 0)) / (span / 1000));
  }

  /** How far back a rate from `rates(sinceMs)` looks now, ms (0 with no sample to start from). */
  spanMs(sinceMs = Number.NEGATIVE_INFINITY): number {
    const now = this.now();
    const from = this.spanStart(now, sinceMs);
    return from ? now - from.at : 0;
  }

  /** The oldest sample inside the window taken at or after `sinceMs`; without `sinceMs` and none inside the window,
   * the newest (the timer fell behind). */
  private spanStart(now: number, sinceMs: number): Sample | undefined {
    const bounded = sinceMs !== Number.NEGATIVE_INFINITY;
    const first = this.samples.find((s) => now - s.at <= this.o.windowMs && s.at >= sinceMs);
    if (first || bounded) return first;
    return this.samples[this.samples.length - 1];
  }
}
