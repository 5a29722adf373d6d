// Drains the outbox to Kafka (promises 3 and 4): each lane is read in sequence order, sent as one batch through an
// idempotent acks=all producer, and removed from the store only after Kafka acknowledged the whole batch. A failed
// send is retried with exponential backoff on a fresh producer; the records stay on disk meanwhile, so a crash at any
// point resumes from the first unacknowledged record. Duplicates can only come from a batch Kafka took but whose ack
// was lost; each record carries gateway.msg_id (`<gatewayId>-<epoch>-<gateway.seq>`) so consumers can drop them.
import type { AbstractIteratorOptions } from 'abstract-level';
import type { Logger } from 'pino';
import { decodeRecord, encodeSeq, type StoredRecord } from '../gateway/store/codec.ts';
import type { Lane } from '../gateway/store/lane.ts';
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
  onForwarded?: (lane: string, records: number, bytes: number, latencyMs: number) => void;
  onSendError?: (err: Error) => void;
}

export type LinkState = 'connecting' | 'up' | 'down' | 'stopped' | 'not_configured';

export class Forwarder {
  private readonly o: ForwarderOptions;
  events: ForwarderEvents = {};
  state: LinkState = 'stopped';
  lastError = '';
  lastErrorAt = 0;
  lastSuccessAt = 0;
  forwarded = 0;
  private sink: KafkaSink | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly cursors = new Map<Lane, number>();
  /** The next batch of each lane, read from disk while the previous one was in flight. */
  private readonly prefetched = new Map<Lane, Promise<StoredRecord[]>>();
  /** Set by every append; cleared when a drain pass starts, so an append between a pass and idle() is not missed. */
  private appended = false;
  private unsubscribe: (() => void) | undefined;
  private failures = 0;
  /** Records per batch now: halved after a failed send (a batch Kafka finds too large must not stall the lane),
   * doubled back after each success up to the configured size. */
  private batchRecords: number;
  private readonly gatewayIdBuf: Buffer;
  /** `<gatewayId>-<epoch>-`: the store's epoch makes the id unique across wiped data dirs, not only across boxes. */
  private msgIdPrefix = '';
  private readonly qosBufs = [Buffer.from('0'), Buffer.from('1'), Buffer.from('2')];

  constructor(o: ForwarderOptions) {
    this.o = o;
    this.gatewayIdBuf = Buffer.from(o.gatewayId);
    this.batchRecords = o.batch.maxRecords;
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
    this.unsubscribe = this.o.store.onAppend(() => {
      this.appended = true;
      this.wake?.();
    });
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
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
    this.failures += 1;
    this.state = 'down';
    this.lastError = err.message;
    this.lastErrorAt = Date.now();
    this.events.onSendError?.(err);
    if (this.failures === 1 || this.failures % 10 === 0) {
      this.o.log.warn({ err: err.message, failures: this.failures }, 'Kafka link down; records stay buffered');
    }
    // A fresh producer after a failure: an idempotent producer's sequence state is not trusted across errors.
    this.prefetched.clear();
    this.batchRecords = Math.max(1, Math.floor(this.batchRecords / 2));
    await this.closeSink();
    const { initialMs, maxMs } = this.o.retry;
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.failures - 1, 20));
    await this.idle(base / 2 + Math.random() * (base / 2), false);
  }

  private async closeSink(): Promise<void> {
    const s = this.sink;
    this.sink = undefined;
    if (s) await s.close().catch((err: unknown) => this.o.log.debug({ err }, 'closing Kafka producer'));
  }

  /** Sends one batch from every lane that has records; false when all lanes were empty. */
  private async drainOnce(): Promise<boolean> {
    this.appended = false;
    let sent = false;
    for (const lane of this.o.store.lanes.values()) {
      if (!this.running) break;
      if (lane.count <= 0) {
        lane.oldestTs = 0;
        continue;
      }
      const pre = this.prefetched.get(lane);
      this.prefetched.delete(lane);
      let recs = pre ? await pre : [];
      if (recs.length === 0) recs = await this.read(lane, this.cursors.get(lane) ?? 0);
      if (recs.length === 0) {
        lane.oldestTs = 0;
        continue;
      }
      lane.oldestTs = (recs[0] as StoredRecord).ingestTs;
      const sink = this.sink;
      if (!sink) throw new Error('Kafka producer closed');
      const t0 = Date.now();
      const sending = sink.send(recs.map((r) => this.toSink(r)));
      const last = recs[recs.length - 1] as StoredRecord;
      // Read ahead while Kafka acknowledges; used only if this send succeeds (failed() discards it).
      const next = this.read(lane, last.seq + 1);
      next.catch(() => {});
      await sending;
      this.prefetched.set(lane, next);
      this.cursors.set(lane, last.seq + 1);
      const seqs = recs.map((r) => r.seq);
      const sizes = recs.map((r) => r.size + 8);
      this.o.store.removeFromLane(lane, seqs, sizes);
      const bytes = sizes.reduce((a, b) => a + b, 0);
      this.forwarded += recs.length;
      this.failures = 0;
      this.batchRecords = Math.min(this.o.batch.maxRecords, this.batchRecords * 2);
      this.state = 'up';
      this.lastSuccessAt = Date.now();
      this.events.onForwarded?.(lane.name, recs.length, bytes, this.lastSuccessAt - t0);
      sent = true;
    }
    return sent;
  }

  private async read(lane: Lane, cursor: number): Promise<StoredRecord[]> {
    const from = Math.max(cursor, lane.head);
    const { maxBytes } = this.o.batch;
    const maxRecords = this.batchRecords;
    // A batch cut down after a failure is cut in bytes too.
    const byteLimit = Math.max(1, Math.floor((maxBytes * maxRecords) / this.o.batch.maxRecords));
    // nextv() hands out one internal buffer at a time (16 KB by default, ~45 records): size it to the batch and
    // keep reading until the batch is full, or every send carries a few dozen records.
    const opts: AbstractIteratorOptions<Buffer, Buffer> & { highWaterMarkBytes: number } = {
      gte: encodeSeq(from),
      limit: maxRecords,
      highWaterMarkBytes: byteLimit, // classic-level's option; the sublevel passes it on
    };
    const it = lane.db.iterator(opts);
    const out: StoredRecord[] = [];
    let bytes = 0;
    try {
      while (out.length < maxRecords) {
        const entries = await it.nextv(maxRecords - out.length);
        if (entries.length === 0) break;
        for (const [k, v] of entries) {
          if (out.length > 0 && bytes + v.length > byteLimit) return out;
          out.push(decodeRecord(k.readUInt16BE(0) * 2 ** 48 + k.readUIntBE(2, 6), v));
          bytes += v.length;
        }
      }
    } finally {
      await it.close();
    }
    return out;
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
