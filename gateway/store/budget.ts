// Keeps each lane inside its class budget (promise 5): `drop-oldest` lanes over maxBytes lose their oldest records,
// and lanes with maxAgeSec lose records older than that. Every drop is counted by reason through the store's events.
// `reject` lanes are enforced at admission (Store.admit), where the device's message is refused instead.
import type { Logger } from 'pino';
import { decodeSeq, encodeSeq, recordIngestTs } from './codec.ts';
import type { Lane } from './lane.ts';
import type { Store } from './store.ts';

/** Drop down to this share of maxBytes, so a full lane does not drop on every commit. */
const HYSTERESIS = 0.95;
const SCAN_LIMIT = 5000;

export class BudgetKeeper {
  private readonly store: Store;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private unsubscribe: (() => void) | undefined;
  private readonly intervalMs: number;

  constructor(ctx: { store: Store; log: Logger; intervalMs?: number }) {
    this.store = ctx.store;
    this.log = ctx.log;
    this.intervalMs = ctx.intervalMs ?? 1000;
  }

  start(): void {
    this.unsubscribe = this.store.onAppend((lane) => {
      if (lane.budget.policy === 'drop-oldest' && lane.bytes > lane.budget.maxBytes) this.kick();
    });
    this.timer = setInterval(() => this.kick(), this.intervalMs);
    this.timer.unref();
    this.kick();
  }

  stop(): void {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    this.sweep()
      .catch((err: unknown) => this.log.warn({ err }, 'budget sweep failed'))
      .finally(() => {
        this.running = false;
      });
  }

  /** One pass over all lanes; exported for tests through `sweepNow`. */
  async sweep(): Promise<void> {
    for (const lane of this.store.lanes.values()) {
      if (lane.count === 0) {
        lane.oldestTs = 0;
        continue;
      }
      await this.sweepLane(lane);
    }
  }

  private async sweepLane(lane: Lane): Promise<void> {
    const { maxBytes, maxAgeSec, policy } = lane.budget;
    const overBytes = policy === 'drop-oldest' && lane.bytes > maxBytes ? lane.bytes - maxBytes * HYSTERESIS : 0;
    const cutoff = maxAgeSec > 0 ? Date.now() - maxAgeSec * 1000 : 0;
    const budgetSeqs: number[] = [];
    const budgetSizes: number[] = [];
    const ttlSeqs: number[] = [];
    const ttlSizes: number[] = [];
    let freed = 0;
    let oldest = 0;
    const it = lane.db.iterator({ gte: encodeSeq(lane.head), limit: SCAN_LIMIT });
    try {
      for (;;) {
        const entries = await it.nextv(500);
        if (entries.length === 0) break;
        let done = false;
        for (const [k, v] of entries) {
          const ts = recordIngestTs(v);
          const size = v.length + 8;
          if (freed < overBytes) {
            budgetSeqs.push(decodeSeq(k));
            budgetSizes.push(size);
            freed += size;
          } else if (ts < cutoff) {
            ttlSeqs.push(decodeSeq(k));
            ttlSizes.push(size);
          } else {
            oldest = ts;
            done = true;
            break;
          }
        }
        if (done) break;
      }
    } finally {
      await it.close();
    }
    lane.oldestTs = oldest;
    if (budgetSeqs.length > 0) {
      this.store.removeFromLane(lane, budgetSeqs, budgetSizes, 'budget');
      this.log.warn({ lane: lane.name, dropped: budgetSeqs.length }, 'class budget full: dropped oldest records');
    }
    if (ttlSeqs.length > 0) this.store.removeFromLane(lane, ttlSeqs, ttlSizes, 'ttl');
  }
}
