// Drains the outbox to Kafka (promises 3 and 4): each storage class is read in sequence order, sent as one batch
// through an idempotent acks=all producer, and removed from the store only after Kafka acknowledged the whole batch.
// A failed send is retried with exponential backoff on a fresh producer; the records stay on disk meanwhile, so a
// crash at any point resumes from the first unacknowledged record. Duplicates can only come from a batch Kafka took
// but whose ack was lost; each record carries gateway.msg_id (`<gatewayId>-<epoch>-<gateway.seq>`) so consumers can
// drop them.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Backoff } from '../gateway/backoff.ts';
import { errorCode } from '../gateway/errors.ts';
import type { Part, PartHealth } from '../gateway/part.ts';
import type { StoredRecord } from '../gateway/store/codec.ts';
import type { StorageClass } from '../gateway/store/storage-class.ts';
import type { Store } from '../gateway/store/store.ts';
import { HEADER } from './record.ts';
import type { KafkaSink, SinkRecord } from './sinks/types.ts';

export interface ForwarderOptions {
  store: Store;
  createSink: () => Promise<KafkaSink>;
  gatewayId: string;
  batch: { maxRecords: number; maxBytes: number; lingerMs: number };
  retry: { initialMs: number; maxMs: number };
  log: Logger;
  /** False when kafka.brokers is empty: nothing is sent, records stay on disk (within their budgets) until it is set. */
  configured?: boolean;
}

export interface ForwarderEvents {
  /** Kafka acknowledged a batch of `records` records (`bytes` stored bytes) of class `cls`. */
  forwarded: [cls: string, records: number, bytes: number, latencyMs: number];
  /** A connect or send failed; it is retried with backoff. */
  sendError: [err: Error];
}

export type LinkState = 'connecting' | 'up' | 'down' | 'stopped' | 'not_configured';

/** The Kafka link for /healthz (the composition root adds the configured brokers and TLS). */
export interface ForwarderHealth extends PartHealth {
  state: LinkState;
  configured: boolean;
  link: LinkState;
  lastError: string | undefined;
  lastErrorAt: string | undefined;
  lastSuccessAt: string | undefined;
  forwarded: number;
}

export class Forwarder extends EventEmitter<ForwarderEvents> implements Part {
  readonly name = 'forwarder';
  private readonly o: ForwarderOptions;
  state: LinkState = 'stopped';
  lastError = '';
  lastErrorAt = 0;
  lastSuccessAt = 0;
  forwarded = 0;
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
  /** Records per batch now: halved after a send Kafka refused as too large (GW_ERR_KAFKA_TOO_LARGE), so such a
   * batch does not stall the class, doubled back after each success up to the configured size. */
  private batchRecords: number;
  private readonly gatewayIdBuf: Buffer;
  /** `<gatewayId>-<epoch>-`: the store's epoch makes the id unique across wiped data dirs, not only across boxes. */
  private msgIdPrefix = '';
  private readonly qosBufs = [Buffer.from('0'), Buffer.from('1'), Buffer.from('2')];

  constructor(o: ForwarderOptions) {
    super();
    this.o = o;
    this.gatewayIdBuf = Buffer.from(o.gatewayId);
    this.batchRecords = o.batch.maxRecords;
    // backoffDelay gives step × (1 ± jitter): three quarters of the step ± one third is half to the whole step.
    this.backoff = new Backoff({ initialMs: o.retry.initialMs * 0.75, maxMs: o.retry.maxMs * 0.75, jitter: 1 / 3 });
  }

  health(): ForwarderHealth {
    return {
      state: this.state,
      configured: this.state !== 'not_configured',
      link: this.state,
      lastError: this.lastError || undefined,
      lastErrorAt: this.lastErrorAt ? new Date(this.lastErrorAt).toISOString() : undefined,
      lastSuccessAt: this.lastSuccessAt ? new Date(this.lastSuccessAt).toISOString() : undefined,
      forwarded: this.forwarded,
    };
  }

  start(): void {
    this.msgIdPrefix = `${this.o.gatewayId}-${this.o.store.epoch}-`;
    if (this.o.configured === false) {
      // Not an outage: a box deployed before its Kafka address is known keeps what it accepts.
      this.state = 'not_configured';
      this.o.log.warn('kafka.brokers is empty: records are kept on disk until GATEWAY_KAFKA_BROKERS is set');
      return;
    }
    this.running = true;
    this.state = 'connecting';
    this.o.store.on('append', this.onAppend);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.o.store.off('append', this.onAppend);
    this.wake?.();
    await this.loop;
    await this.closeSink();
    this.state = 'stopped';
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (!this.sink) await this.connect();
        const sent = await this.drainOnce();
        if (!sent) {
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
    this.state = this.state === 'up' ? 'up' : 'connecting';
    const sink = await this.o.createSink();
    try {
      await sink.connect();
    } catch (err) {
      await sink.close().catch(() => {});
      throw err;
    }
    this.sink = sink;
    this.o.log.info({ sink: sink.name }, 'connected to Kafka');
  }

  private async failed(err: Error): Promise<void> {
    const delay = this.backoff.next();
    const failures = this.backoff.attempts;
    this.state = 'down';
    this.lastError = err.message;
    this.lastErrorAt = Date.now();
    this.emit('sendError', err);
    if (failures === 1 || failures % 10 === 0) {
      this.o.log.warn({ err: err.message, failures }, 'Kafka link down; records stay buffered');
    }
    // A fresh producer after a failure: an idempotent producer's sequence state is not trusted across errors.
    this.prefetched.clear();
    // Only a batch Kafka found too large is cut: a transient error (or one without a code) retries the same batch.
    if (errorCode(err) === 'GW_ERR_KAFKA_TOO_LARGE') this.batchRecords = Math.max(1, Math.floor(this.batchRecords / 2));
    await this.closeSink();
    await this.idle(delay, false);
  }

  private async closeSink(): Promise<void> {
    const s = this.sink;
    this.sink = undefined;
    if (s) await s.close().catch((err: unknown) => this.o.log.debug({ err }, 'closing Kafka producer'));
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
    if (!sink) throw new Error('Kafka producer closed');
    const t0 = Date.now();
    const sending = sink.send(recs.map((r) => this.toSink(r)));
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
    this.batchRecords = Math.min(this.o.batch.maxRecords, this.batchRecords * 2);
    this.state = 'up';
    this.lastSuccessAt = Date.now();
    this.emit('forwarded', cls.name, recs.length, bytes, this.lastSuccessAt - t0);
  }

  private read(cls: StorageClass, cursor: number): Promise<StoredRecord[]> {
    const maxRecords = this.batchRecords;
    // A batch cut down after a too-large refusal is cut in bytes too.
    const maxBytes = Math.max(1, Math.floor((this.o.batch.maxBytes * maxRecords) / this.o.batch.maxRecords));
    return this.o.store.outbox.read(cls, cursor, { maxRecords, maxBytes });
  }

  private toSink(r: StoredRecord): SinkRecord {
    const gwSeq = String(r.seq);
    const value = r.envelope
      ? Buffer.from(
          JSON.stringify({
            client_id: r.clientId,
            username: r.username || null,
            topic: r.mqttTopic,
            payload: r.payload.toString('base64'),
            qos: r.qos,
            node: this.o.gatewayId,
            ts: r.ingestTs,
          }),
        )
      : r.payload;
    return {
      topic: r.kafkaTopic,
      key: Buffer.from(r.key),
      value,
      headers: {
        [HEADER.topic]: Buffer.from(r.mqttTopic),
        [HEADER.clientId]: Buffer.from(r.clientId),
        [HEADER.qos]: this.qosBufs[r.qos] ?? Buffer.from(String(r.qos)),
        [HEADER.gatewayId]: this.gatewayIdBuf,
        [HEADER.gatewaySeq]: Buffer.from(gwSeq),
        [HEADER.msgId]: Buffer.from(this.msgIdPrefix + gwSeq),
        [HEADER.deviceSeq]: Buffer.from(String(r.deviceSeq)),
        [HEADER.ingestTs]: Buffer.from(String(r.ingestTs)),
      },
    };
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
      if (onAppend && this.appended) done();
    });
  }
}
