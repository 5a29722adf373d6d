// The parts of /healthz, /readyz and /livez that the composition root adds on top of each part's own health: the
// backlog's recent in and out rates with the time it takes to drain, the Kafka errors of the current outage (and the
// recent ones once the link is back), and readiness.

import { RateWindow } from '../gateway/rates.ts';
import type { DropReason } from '../gateway/store/admission.ts';
import type { Store } from '../gateway/store/store.ts';

/** Drops that take records out of the outbox (the others refuse a record before it is stored). */
const STORED_DROPS = new Set<DropReason>(['budget', 'ttl']);

export interface BacklogRates {
  /** Records written to the outbox per second, over the last 30 s. */
  inRate: number;
  /** Records Kafka acknowledged per second, over the last 30 s. */
  outRate: number;
  /** Backlog records / outRate: 0 when empty, null while nothing is forwarded or the link is down. */
  drainEtaSec: number | null;
}

const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** Samples the outbox's in and out counters every second; rates over a 30 s window. */
export class BacklogMeter {
  private readonly store: Store;
  private readonly forwarded: () => number;
  private dropped = 0;
  private readonly window: RateWindow;
  private readonly onDrop = (_cls: string, reason: DropReason, records: number): void => {
    if (STORED_DROPS.has(reason)) this.dropped += records;
  };

  constructor(store: Store, forwarded: () => number, windowMs = 30_000) {
    this.store = store;
    this.forwarded = forwarded;
    this.window = new RateWindow({ windowMs, everyMs: 1000, read: () => this.counters() });
  }

  /** [records ever written (backlog + forwarded + dropped from the outbox), records forwarded]. */
  private counters(): [number, number] {
    let backlog = 0;
    for (const c of this.store.outbox.classes.values()) backlog += c.count;
    const out = this.forwarded();
    return [backlog + out + this.dropped, out];
  }

  start(): void {
    this.store.on('drop', this.onDrop);
    this.window.start();
  }

  stop(): void {
    this.store.off('drop', this.onDrop);
    this.window.stop();
  }

  rates(backlogRecords: number, linkUp: boolean): BacklogRates {
    const [inRate = 0, outRate = 0] = this.window.rates();
    let drainEtaSec: number | null = null;
    if (backlogRecords === 0) drainEtaSec = 0;
    else if (linkUp && outRate > 0) drainEtaSec = Math.ceil(backlogRecords / outRate);
    return { inRate: round(inRate), outRate: round(outRate), drainEtaSec };
  }
}

export interface KafkaErrorEntry {
  error: string;
  firstAt: string;
  lastAt: string;
  count: number;
}

/** The last distinct Kafka errors (at most 5), newest first; a repeat of the newest only counts up. */
export class KafkaErrorHistory {
  private readonly entries: KafkaErrorEntry[] = [];

  record(message: string, at = new Date()): void {
    const head = this.entries[0];
    const iso = at.toISOString();
    if (head && head.error === message) {
      head.lastAt = iso;
      head.count += 1;
      return;
    }
    this.entries.unshift({ error: message, firstAt: iso, lastAt: iso, count: 1 });
    if (this.entries.length > 5) this.entries.length = 5;
  }

  list(): KafkaErrorEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }
}

export interface Readiness {
  ready: boolean;
  /** Why not, one line each: what an operator fixes. */
  reasons: string[];
}

/** Ready: the MQTT broker accepts connections and the store can be written. Kafka is not a condition: the gateway
 * buffers through an outage by design. */
export function readiness(o: { brokerUp: boolean; storeState: string; diskFreeBytes: number }): Readiness {
  const reasons: string[] = [];
  if (!o.brokerUp) reasons.push('MQTT broker is not accepting connections');
  if (o.storeState !== 'up') reasons.push(`store is not writable (state ${o.storeState})`);
  else if (o.diskFreeBytes === 0) reasons.push('data disk is full');
  return { ready: reasons.length === 0, reasons };
}
