// The parts of /healthz, /readyz and /livez that the composition root adds on top of each part's own health: the
// backlog's recent in and out rates with the time it takes to drain, the Kafka errors of the current outage (and the
// recent ones once the link is back), and readiness.

import { RateWindow } from '../gateway/rates.ts';
import type { DropReason } from '../gateway/store/admission.ts';
import type { Store } from '../gateway/store/store.ts';

/** Drops that take records out of the outbox (the others refuse a record before it is stored). */
const STORED_DROPS = new Set<DropReason>(['budget', 'ttl']);

/** What `drainEtaSec` is, or why there is none. */
export type DrainState = 'empty' | 'draining' | 'not_draining' | 'link_down' | 'measuring';

export interface BacklogRates {
  /** Records written to the outbox per second, over the last 30 s. */
  inRate: number;
  /** Records Kafka acknowledged per second, over the last 30 s. */
  outRate: number;
  /** Seconds until the backlog is empty at the current net rate: backlog / (out − in), both rates measured only
   * since the Kafka link last came up, over half the time since then (10 s to 300 s). 0 when empty; null unless
   * `drainState` is `draining`. */
  drainEtaSec: number | null;
  /** `empty`; `draining` (the backlog shrinks: out > in); `not_draining` (out ≤ in: it holds or grows);
   * `link_down` (the Kafka link is not up); `measuring` (the link came up less than 5 s ago). */
  drainState: DrainState;
}

const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** Under this much time of samples since the link came up, the net rate is too young for an ETA. */
const MIN_ETA_SPAN_MS = 5000;
/**
 * How far back the ETA's rates look: half the time since the link came up, at least ETA_MIN_WINDOW_MS and at most
 * ETA_MAX_WINDOW_MS (never before the link came up). Early in a drain the out rate climbs as the forwarder's batches
 * fill, and a long mean lags it: a fixed 30 s window gave ETAs 55-60 % long on a 2-minute drain. Late in a long drain
 * the rates swing for seconds at a time (the intake stalls on a loaded machine, then the devices send what they
 * queued), and a fixed 10 s window swung with them: +135 % at 25 % of a 23-minute drain. A window that grows with
 * the drain's age is short while the rate climbs and long once a stall is a small part of it. In two loaded runs of
 * outage-long (docs/outage.md) it was within 13 %; it lags a rate that changes for good late in a drain.
 */
const ETA_MIN_WINDOW_MS = 10_000;
const ETA_MAX_WINDOW_MS = 300_000;

export interface DrainEtaOptions {
  /** [records ever written to the outbox, records forwarded]: both only grow. */
  read: () => readonly number[];
  /** Whether the Kafka link is up, read at each sample. */
  linkUp?: () => boolean;
  windowMs?: number;
  /** The shortest window of the ETA's rates; 10 s. */
  etaMinWindowMs?: number;
  /** The longest window of the ETA's rates (it bounds the ETA's ring of samples); 300 s. */
  etaMaxWindowMs?: number;
  everyMs?: number;
  now?: () => number;
}

/** The in/out rates and the drain ETA over windows of counter samples taken every second. The ETA's rates start
 * at the first sample after the link came up: what the window holds from the outage (out rate 0) would make it
 * far too long, and the records that keep arriving during the drain are counted against the out rate. They look
 * back half the time since the link came up, 10 s to 300 s (see ETA_MIN_WINDOW_MS): the ETA's ring holds at most
 * 301 samples, and each sample and each read is a constant amount of work. */
export class DrainEta {
  /** The shown in and out rates (30 s). */
  readonly window: RateWindow;
  /** The ETA's rates (up to ETA_MAX_WINDOW_MS). */
  private readonly etaWindow: RateWindow;
  private readonly now: () => number;
  private readonly linkUp: (() => boolean) | undefined;
  private up = false;
  /** When the link was last seen coming up (the span's start for the ETA's rates). */
  private upAt = Number.POSITIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private readonly everyMs: number;
  private readonly etaMinWindowMs: number;
  private readonly etaMaxWindowMs: number;

  constructor(o: DrainEtaOptions) {
    this.now = o.now ?? Date.now;
    this.etaMinWindowMs = o.etaMinWindowMs ?? ETA_MIN_WINDOW_MS;
    this.etaMaxWindowMs = Math.max(this.etaMinWindowMs, o.etaMaxWindowMs ?? ETA_MAX_WINDOW_MS);
    this.linkUp = o.linkUp;
    this.everyMs = o.everyMs ?? 1000;
    this.window = new RateWindow({
      windowMs: o.windowMs ?? 30_000,
      everyMs: this.everyMs,
      read: o.read,
      now: this.now,
    });
    this.etaWindow = new RateWindow({
      windowMs: this.etaMaxWindowMs,
      everyMs: this.everyMs,
      read: o.read,
      now: this.now,
    });
  }

  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sample (the timer's work): the link's state first, so the sample taken as it comes up starts the span. */
  tick(): void {
    if (this.linkUp) this.seeLink(this.linkUp());
    this.window.sample();
    this.etaWindow.sample();
  }

  private seeLink(up: boolean): void {
    if (up && !this.up) this.upAt = this.now();
    this.up = up;
  }

  /** How far back the ETA's rates look now: half the time since the link came up, within the bounds. */
  etaWindowMs(): number {
    const half = (this.now() - this.upAt) / 2;
    return Math.min(this.etaMaxWindowMs, Math.max(this.etaMinWindowMs, half));
  }

  rates(backlogRecords: number, linkUp: boolean): BacklogRates {
    this.seeLink(linkUp);
    const [inRate = 0, outRate = 0] = this.window.rates();
    const shown = { inRate: round(inRate), outRate: round(outRate) };
    if (backlogRecords === 0) return { ...shown, drainEtaSec: 0, drainState: 'empty' };
    if (!linkUp) return { ...shown, drainEtaSec: null, drainState: 'link_down' };
    if (this.etaWindow.spanMs(this.upAt) < MIN_ETA_SPAN_MS)
      return { ...shown, drainEtaSec: null, drainState: 'measuring' };
    const since = Math.max(this.upAt, this.now() - this.etaWindowMs());
    const [inSince = 0, outSince = 0] = this.etaWindow.rates(since);
    const net = outSince - inSince;
    if (net <= 0) return { ...shown, drainEtaSec: null, drainState: 'not_draining' };
    return { ...shown, drainEtaSec: Math.ceil(backlogRecords / net), drainState: 'draining' };
  }
}

/** Samples the outbox's in and out counters every second; rates over a 30 s window, the drain ETA since link-up. */
export class BacklogMeter {
  private readonly store: Store;
  private readonly forwarded: () => number;
  private dropped = 0;
  private readonly eta: DrainEta;
  private readonly onDrop = (_cls: string, reason: DropReason, records: number): void => {
    if (STORED_DROPS.has(reason)) this.dropped += records;
  };

  constructor(store: Store, forwarded: () => number, o: { linkUp?: () => boolean; windowMs?: number } = {}) {
    this.store = store;
    this.forwarded = forwarded;
    this.eta = new DrainEta({ windowMs: o.windowMs, linkUp: o.linkUp, read: () => this.counters() });
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
    this.eta.start();
  }

  stop(): void {
    this.store.off('drop', this.onDrop);
    this.eta.stop();
  }

  rates(backlogRecords: number, linkUp: boolean): BacklogRates {
    return this.eta.rates(backlogRecords, linkUp);
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
