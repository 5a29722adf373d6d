// Keeps each storage class inside its budget (promise 5): `drop-oldest` classes over maxBytes lose their oldest
// records, and classes with maxAgeSec lose records older than that. Every drop is counted by reason through the
// store's `drop` event. `reject` classes are enforced at admission (admission.ts), where the device's message is
// refused instead.
import type { Logger } from 'pino';
import type { Part, PartHealth } from '../part.ts';
import { recordIngestTs } from './codec.ts';
import { decodeSeq, encodeSeq, SEQ_KEY_BYTES } from './seq-key.ts';
import type { StorageClass } from './storage-class.ts';
import type { Store } from './store.ts';

/** Drop down to this share of maxBytes, so a full class does not drop on every commit. */
const HYSTERESIS = 0.95;
const SCAN_LIMIT = 5000;

interface Sweep {
  budgetSeqs: number[];
  budgetSizes: number[];
  ttlSeqs: number[];
  ttlSizes: number[];
  /** Ingest time of the first record kept (0 when the scan kept none). */
  oldest: number;
}

export class BudgetKeeper implements Part {
  readonly name = 'budget';
  private readonly store: Store;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly intervalMs: number;
  private readonly onAppend = (cls: StorageClass): void => {
    if (cls.budget.policy === 'drop-oldest' && cls.bytes > cls.budget.maxBytes) this.kick();
  };

  constructor(ctx: { store: Store; log: Logger; intervalMs?: number }) {
    this.store = ctx.store;
    this.log = ctx.log;
    this.intervalMs = ctx.intervalMs ?? 1000;
  }

  start(): void {
    this.store.on('append', this.onAppend);
    this.timer = setInterval(() => this.kick(), this.intervalMs);
    this.timer.unref();
    this.kick();
  }

  stop(): void {
    this.store.off('append', this.onAppend);
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  health(): PartHealth {
    return { state: this.timer ? 'up' : 'stopped' };
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

  /** One pass over all classes (tests call it directly). */
  async sweep(): Promise<void> {
    for (const cls of this.store.outbox.classes.values()) {
      if (cls.count === 0) {
        cls.setOldest(0);
        continue;
      }
      await this.sweepClass(cls);
    }
  }

  private async sweepClass(cls: StorageClass): Promise<void> {
    const s = await this.scan(cls);
    cls.setOldest(s.oldest);
    const { outbox } = this.store;
    if (s.budgetSeqs.length > 0) {
      outbox.remove(cls, s.budgetSeqs, s.budgetSizes, 'budget');
      this.log.warn({ class: cls.name, dropped: s.budgetSeqs.length }, 'class budget full: dropped oldest records');
    }
    if (s.ttlSeqs.length > 0) outbox.remove(cls, s.ttlSeqs, s.ttlSizes, 'ttl');
  }

  /** From the head: records over the byte budget, then records past their age, up to the first one kept. */
  private async scan(cls: StorageClass): Promise<Sweep> {
    const { maxBytes, maxAgeSec, policy } = cls.budget;
    const overBytes = policy === 'drop-oldest' && cls.bytes > maxBytes ? cls.bytes - maxBytes * HYSTERESIS : 0;
    const cutoff = maxAgeSec > 0 ? Date.now() - maxAgeSec * 1000 : 0;
    const s: Sweep = { budgetSeqs: [], budgetSizes: [], ttlSeqs: [], ttlSizes: [], oldest: 0 };
    let freed = 0;
    const it = cls.db.iterator({ gte: encodeSeq(cls.head), limit: SCAN_LIMIT });
    try {
      for (;;) {
        const entries = await it.nextv(500);
        if (entries.length === 0) break;
        for (const [k, v] of entries) {
          const ts = recordIngestTs(v);
          const size = v.length + SEQ_KEY_BYTES;
          if (freed < overBytes) {
            s.budgetSeqs.push(decodeSeq(k));
            s.budgetSizes.push(size);
            freed += size;
          } else if (ts < cutoff) {
            s.ttlSeqs.push(decodeSeq(k));
            s.ttlSizes.push(size);
          } else {
            s.oldest = ts;
            return s;
          }
        }
      }
    } finally {
      await it.close();
    }
    return s;
  }
}
