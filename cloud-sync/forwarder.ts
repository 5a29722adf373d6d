// Drains the outbox to Kafka (promises 3 and 4): each storage class is read in sequence order, sent as one batch
// through an idempotent acks=all producer, and removed from the store only after Kafka acknowledged the whole batch.
// A failed send is retried with exponential backoff on a fresh producer; the records stay on disk meanwhile, so a
// crash at any point resumes from the first unacknowledged record. Duplicates can only come from a batch Kafka took
// but whose ack was lost; each record carries gateway.msg_id (`<gatewayId>-<epoch>-<gateway.seq>`) so consumers can
// drop them.
// A connect, send or canary that Kafka does not answer within kafka.stallTimeoutMs is a stall (cloud-sync/stall.ts):
// the link shows `stalled`, the producer is recycled, and the unacknowledged records are sent again from disk.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Backoff } from '../gateway/backoff.ts';
import { errorCode } from '../gateway/errors.ts';
import type { Part, PartHealth } from '../gateway/part.ts';
import type { StoredRecord } from '../gateway/store/codec.ts';
import type { StorageClass } from '../gateway/store/storage-class.ts';
import type { Store } from '../gateway/store/store.ts';
import { type HeaderProfile, SinkRecordBuilder } from './sink-record.ts';
import { KafkaOpError } from './sinks/kafka-errors.ts';
import type { KafkaSink } from './sinks/types.ts';
import { type KafkaOp, StallError, settleWithin, withinBound } from './stall.ts';

export interface ForwarderOptions {
  store: Store;
  createSink: () => Promise<KafkaSink>;
  gatewayId: string;
  batch: { maxRecords: number; maxBytes: number; lingerMs: number };
  retry: { initialMs: number; maxMs: number };
  log: Logger;
  /** False when kafka.brokers is empty: nothing is sent, records stay on disk (within their budgets) until it is set. */
  configured?: boolean;
  /** Longest wait for Kafka's answer to a connect, send or canary before the link counts as stalled (default 30 s). */
  stallTimeoutMs?: number;
  /** A metadata round trip this often while no records flow; 0 or absent: none. */
  canaryIntervalMs?: number;
  /** The Kafka headers each record carries (kafka.headers; default `full`). */
  headers?: HeaderProfile;
}

/** What a stall looked like when it was found. */
export interface StallInfo {
  op: KafkaOp;
  ms: number;
  /** Records in the outbox waiting for Kafka. */
  waiting: number;
}

export interface ForwarderEvents {
  /** Kafka acknowledged a batch of `records` records (`bytes` stored bytes) of class `cls`. */
  forwarded: [cls: string, records: number, bytes: number, latencyMs: number];
  /** A connect or send failed; it is retried with backoff. */
  sendError: [err: Error];
  /** Kafka stopped answering (once per stall, until the next acknowledged send or canary). */
  stall: [info: StallInfo];
  /** A canary round trip: its latency, or the error it failed with. */
  canary: [seconds: number, err: Error | undefined];
}

export type LinkState = 'connecting' | 'up' | 'down' | 'stalled' | 'stopped' | 'not_configured';

/** The Kafka link for /healthz (the composition root adds the configured brokers and TLS). */
export interface ForwarderHealth extends PartHealth {
  state: LinkState;
  configured: boolean;
  link: LinkState;
  lastError: string | undefined;
  lastErrorAt: string | undefined;
  /** The last send Kafka acknowledged. */
  lastSuccessAt: string | undefined;
  /** Failed connects, sends and canaries since the last success. */
  consecutiveFailures: number;
  /** While backing off after a failure: when the next attempt is due. */
  nextRetryAt: string | undefined;
  /** While stalled: since when. */
  stalledSince: string | undefined;
  stalls: number;
  forwarded: number;
}

/** How long closing a producer may take before its successor is made anyway. */
const CLOSE_WAIT_MS = 5000;

function iso(ms: number): string | undefined {
  return ms ? new Date(ms).toISOString() : undefined;
}

/** How long after a cut the batch stays at the size that went through before a bigger one is tried. */
const PROBE_AFTER_CUT_MS = 60_000;

/** A batch Kafka found too large, or a send that got no answer within its bound (ours, or the client's timeout). */
function cutsBatch(err: Error): boolean {
  if (errorCode(err) === 'GW_ERR_KAFKA_TOO_LARGE') return true;
  if (err instanceof StallError) return err.op === 'send';
  return err instanceof KafkaOpError && err.timedOut && err.op === 'Kafka send';
}

export class Forwarder extends EventEmitter<ForwarderEvents> implements Part {
  readonly name = 'forwarder';
  private readonly o: ForwarderOptions;
  state: LinkState = 'stopped';
  lastError = '';
  lastErrorAt = 0;
  lastSuccessAt = 0;
  forwarded = 0;
  stalls = 0;
  /** Set from a stall's detection until Kafka answers again; a stall is counted and logged once. */
  stalledSince = 0;
  private nextRetryAt = 0;
  /** The last answer from Kafka (an acknowledged send, a connect, a canary): the canary waits its interval from it. */
  private lastAnswerAt = 0;
  private readonly stallMs: number;
  /** Aborted when stop() has waited long enough for an operation in flight: it is abandoned, its records kept. */
  private cut = new AbortController();
  private sink: KafkaSink | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly cursors = new Map<StorageClass, number>();
  /** The next batch of each class, read from disk while the previous one was in flight. */
  private readonly prefetched = new Map<StorageClass, Promise<StoredRecord[]>>();
  /** Set by every append; cleared when a drain pass starts, so an append between a pass and idle() is not missed. */
  private appended = false;
  private readonly onAppend = (): void => {
    this.appended = true;
    this.wake?.();
  };
  /** Retry delays: each between half and the whole of an exponential step from retry.initialMs to retry.maxMs. */
  private readonly backoff: Backoff;
  /**
   * Records per batch now: halved after a send Kafka refused as too large (GW_ERR_KAFKA_TOO_LARGE) or one that got
   * no answer within its bound (on a thin uplink a full request takes longer to cross than the timeouts allow, and
   * would be cut off and sent again forever), so such a batch does not stall the class. Doubled back after each
   * success, but no higher than the size that last went through until a minute without a cut has passed: the link
   * is probed with a bigger batch at most once a minute.
   */
  private batchRecords: number;
  /** The batch size after the last cut, and when it was cut (0: never). */
  private batchCeiling: number;
  private batchCutAt = 0;
  /** Made at start(): the msg id prefix `<gatewayId>-<epoch>-` needs the store's epoch, which makes the id unique
   * across wiped data dirs, not only across boxes. */
  private records: SinkRecordBuilder | undefined;

  constructor(o: ForwarderOptions) {
    super();
    this.o = o;
    this.batchRecords = o.batch.maxRecords;
    this.batchCeiling = o.batch.maxRecords;
    this.stallMs = o.stallTimeoutMs ?? 25_000;
    // backoffDelay gives step × (1 ± jitter): three quarters of the step ± one third is half to the whole step.
    this.backoff = new Backoff({ initialMs: o.retry.initialMs * 0.75, maxMs: o.retry.maxMs * 0.75, jitter: 1 / 3 });
  }

  health(): ForwarderHealth {
    return {
      state: this.state,
      configured: this.state !== 'not_configured',
      link: this.state,
      lastError: this.lastError || undefined,
      lastErrorAt: iso(this.lastErrorAt),
      lastSuccessAt: iso(this.lastSuccessAt),
      consecutiveFailures: this.backoff.attempts,
      nextRetryAt: iso(this.nextRetryAt),
      stalledSince: iso(this.stalledSince),
      stalls: this.stalls,
      forwarded: this.forwarded,
    };
  }

  start(): void {
    this.records = new SinkRecordBuilder({
      profile: this.o.headers ?? 'full',
      gatewayId: this.o.gatewayId,
      msgIdPrefix: `${this.o.gatewayId}-${this.o.store.epoch}-`,
    });
    if (this.o.configured === false) {
      // Not an outage: a box deployed before its Kafka address is known keeps what it accepts.
      this.state = 'not_configured';
      this.o.log.warn('kafka.brokers is empty: records are kept on disk until GATEWAY_KAFKA_BROKERS is set');
      return;
    }
    this.running = true;
    this.cut = new AbortController();
    this.state = 'connecting';
    this.o.store.on('append', this.onAppend);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.o.store.off('append', this.onAppend);
    this.wake?.();
    // A send in flight may finish (its records then leave the store); one Kafka does not answer is abandoned.
    const t = setTimeout(() => this.cut.abort(), CLOSE_WAIT_MS);
    await this.loop;
    clearTimeout(t);
    await this.closeSink(!this.cut.signal.aborted);
    this.state = 'stopped';
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (!this.sink) await this.connect();
        const sent = await this.drainOnce();
        if (!sent) {
          await this.canaryIfDue();
          await this.idle(1000, true);
          // Give a trickle of records a moment to become a batch.
          if (this.running && this.o.batch.lingerMs > 0) await this.idle(this.o.batch.lingerMs, false);
        }
      } catch (err) {
        await this.failed(err as Error);
      }
    }
  }

  private async connect(): Promise<void> {
    // A stall stays visible while its producer is recycled: a connect on the same dead path would hang again.
    if (this.state !== 'up' && this.state !== 'stalled') this.state = 'connecting';
    this.nextRetryAt = 0;
    const sink = await this.o.createSink();
    try {
      await withinBound(sink.connect(), this.stallMs, 'connect', this.cut.signal);
    } catch (err) {
      // A connect Kafka did not answer is let go without waiting: its close would wait on the same silence.
      const closing = sink.close();
      await settleWithin(closing, err instanceof StallError ? 0 : CLOSE_WAIT_MS);
      throw err;
    }
    this.sink = sink;
    this.lastAnswerAt = Date.now();
    // Connected with nothing waiting: nothing can be stuck (records that wait end a stall only once acknowledged).
    if (this.waiting() === 0) this.answered();
    this.o.log.info({ sink: sink.name }, 'connected to Kafka');
  }

  /** Records in the outbox, not yet acknowledged by Kafka. */
  private waiting(): number {
    let n = 0;
    for (const cls of this.o.store.outbox.classes.values()) n += Math.max(0, cls.count);
    return n;
  }

  /** Kafka answered: a stall, if any, is over. */
  private answered(): void {
    this.lastAnswerAt = Date.now();
    if (!this.stalledSince) return;
    this.o.log.info({ stalledMs: this.lastAnswerAt - this.stalledSince }, 'Kafka answers again; stall over');
    this.stalledSince = 0;
    if (this.state === 'stalled') this.state = 'up';
  }

  /** A metadata round trip when the link has been quiet for the canary interval; a failure is handled as a send's. */
  private async canaryIfDue(): Promise<void> {
    const every = this.o.canaryIntervalMs ?? 0;
    const sink = this.sink;
    if (every <= 0 || !sink?.ping || !this.running || Date.now() - this.lastAnswerAt < every) return;
    const t0 = performance.now();
    try {
      await withinBound(sink.ping(), this.stallMs, 'canary', this.cut.signal);
    } catch (err) {
      this.emit('canary', (performance.now() - t0) / 1000, err as Error);
      throw err;
    }
    this.emit('canary', (performance.now() - t0) / 1000, undefined);
    this.backoff.reset();
    this.answered();
    if (this.state === 'connecting') this.state = 'up';
  }

  /** A stall found: counted and logged once until Kafka answers again. */
  private stalled(err: StallError): void {
    this.state = 'stalled';
    if (this.stalledSince) {
      this.o.log.debug({ op: err.op }, 'Kafka still not answering; recycling the producer again');
      return;
    }
    this.stalledSince = Date.now();
    this.stalls += 1;
    const waiting = this.waiting();
    this.emit('stall', { op: err.op, ms: err.ms, waiting });
    const secs = Math.round(err.ms / 1000);
    const what = err.op === 'send' ? 'acknowledgement' : `answer to a ${err.op}`;
    this.o.log.warn(
      { op: err.op, waiting, stallTimeoutMs: err.ms },
      `no ${what} from Kafka for ${secs} s with ${waiting} records waiting; recycling the producer`,
    );
  }

  private async failed(err: Error): Promise<void> {
    this.prefetched.clear();
    // Stopping: an operation abandoned by stop() is no link failure; its records wait on disk for the next start.
    if (!this.running) return;
    const delay = this.backoff.next();
    const failures = this.backoff.attempts;
    if (err instanceof StallError) this.stalled(err);
    else this.state = 'down';
    this.lastError = err.message;
    this.lastErrorAt = Date.now();
    this.emit('sendError', err);
    if (!(err instanceof StallError) && (failures === 1 || failures % 10 === 0)) {
      this.o.log.warn({ err: err.message, failures }, 'Kafka link down; records stay buffered');
    }
    // A fresh producer after a failure: an idempotent producer's sequence state is not trusted across errors.
    this.prefetched.clear();
    // Only a batch too large, or one a send could not get through in time, is cut: another transient error (or one
    // without a code) retries the same batch.
    if (cutsBatch(err)) {
      this.batchRecords = Math.max(1, Math.floor(this.batchRecords / 2));
      this.batchCeiling = this.batchRecords;
      this.batchCutAt = Date.now();
    }
    await this.closeSink(!(err instanceof StallError));
    this.nextRetryAt = Date.now() + delay;
    await this.idle(delay, false);
    this.nextRetryAt = 0;
  }

  /** Closes the producer, waiting for it (bounded) unless Kafka is known not to answer (`wait` false). */
  private async closeSink(wait: boolean): Promise<void> {
    const s = this.sink;
    this.sink = undefined;
    if (!s) return;
    const closing = s.close().catch((err: unknown) => this.o.log.debug({ err }, 'closing Kafka producer'));
    // Bounded even so: on a dead link a client may wait for answers that never come before it lets go.
    await settleWithin(closing, wait ? CLOSE_WAIT_MS : 0);
  }

  /** Sends one batch from every class that has records; false when all classes were empty. */
  private async drainOnce(): Promise<boolean> {
    this.appended = false;
    let sent = false;
    for (const cls of this.o.store.outbox.classes.values()) {
      if (!this.running) break;
      if (cls.count <= 0) continue;
      const pre = this.prefetched.get(cls);
      this.prefetched.delete(cls);
      let recs = pre ? await pre : [];
      if (recs.length === 0) recs = await this.read(cls, this.cursors.get(cls) ?? 0);
      if (recs.length === 0) continue;
      await this.send(cls, recs);
      sent = true;
    }
    return sent;
  }

  /** Sends one batch; once Kafka acknowledged it, removes it from the store. */
  private async send(cls: StorageClass, recs: StoredRecord[]): Promise<void> {
    const sink = this.sink;
    const builder = this.records;
    if (!sink || !builder) throw new Error('Kafka producer closed');
    const t0 = Date.now();
    const records = recs.map((r) => builder.build(r));
    const sending = withinBound(sink.send(records), this.stallMs, 'send', this.cut.signal);
    const last = recs[recs.length - 1] as StoredRecord;
    // Read ahead while Kafka acknowledges; used only if this send succeeds (failed() discards it).
    const next = this.read(cls, last.seq + 1);
    next.catch(() => {});
    await sending;
    this.prefetched.set(cls, next);
    this.cursors.set(cls, last.seq + 1);
    const seqs = recs.map((r) => r.seq);
    const sizes = recs.map((r) => r.size + 8);
    this.o.store.outbox.remove(cls, seqs, sizes);
    const bytes = sizes.reduce((a, b) => a + b, 0);
    this.forwarded += recs.length;
    this.backoff.reset();
    const limit = Date.now() - this.batchCutAt >= PROBE_AFTER_CUT_MS ? this.o.batch.maxRecords : this.batchCeiling;
    this.batchRecords = Math.min(limit, this.batchRecords * 2);
    this.state = 'up';
    this.lastSuccessAt = Date.now();
    this.answered();
    this.emit('forwarded', cls.name, recs.length, bytes, this.lastSuccessAt - t0);
  }

  private read(cls: StorageClass, cursor: number): Promise<StoredRecord[]> {
    const maxRecords = this.batchRecords;
    // A batch cut down after a too-large refusal is cut in bytes too.
    const maxBytes = Math.max(1, Math.floor((this.o.batch.maxBytes * maxRecords) / this.o.batch.maxRecords));
    return this.o.store.outbox.read(cls, cursor, { maxRecords, maxBytes });
  }

  /** Waits `ms`; stop() always cuts it short, a new append only when `onAppend` is set (not during backoff). */
  private idle(ms: number, onAppend: boolean): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(t);
        self.wake = undefined;
        resolve();
      }
      this.wake = () => {
        if (onAppend || !this.running) done();
      };
      if (!this.running || (onAppend && this.appended)) done();
    });
  }
}
