// KafkaSink on kafkajs 2.2 (the product's named Kafka client): idempotent producer, one request in flight, acks=all.
import { CompressionTypes, Kafka, logLevel, type Producer, type SASLOptions } from 'kafkajs';
import { quietNegativeTimeouts } from '../kafkajs-timers.ts';
import type { KafkaSink, KafkaSinkOptions, SinkRecord } from './types.ts';

const CODECS = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
} as const;

export class KafkajsSink implements KafkaSink {
  readonly name = 'kafkajs';
  private readonly opts: KafkaSinkOptions;
  private producer: Producer | undefined;

  constructor(opts: KafkaSinkOptions) {
    if (opts.compression !== 'none' && opts.compression !== 'gzip') {
      // kafkajs ships only gzip; other codecs need plugins the gateway does not bundle.
      throw new Error(`kafka.compression ${opts.compression} is not available with kafka.client kafkajs (use gzip)`);
    }
    this.opts = opts;
  }

  async connect(): Promise<void> {
    const o = this.opts;
    const sasl = o.sasl ? (o.sasl as SASLOptions) : undefined;
    quietNegativeTimeouts();
    const kafka = new Kafka({
      clientId: o.clientId,
      brokers: [...o.brokers],
      ssl: o.tls ?? false,
      ...(sasl ? { sasl } : {}),
      connectionTimeout: 5000,
      requestTimeout: o.requestTimeoutMs,
      // The forwarder owns retries and backoff; a short internal retry only rides over leader moves.
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true });
    try {
      await producer.connect();
    } catch (err) {
      await producer.disconnect().catch(() => {});
      throw err;
    }
    this.producer = producer;
  }

  async send(records: readonly SinkRecord[]): Promise<void> {
    const p = this.producer;
    if (!p) throw new Error('kafkajs sink is not connected');
    const byTopic = new Map<string, { key: Buffer; value: Buffer; headers: Record<string, Buffer> }[]>();
    for (const r of records) {
      let list = byTopic.get(r.topic);
      if (!list) {
        list = [];
        byTopic.set(r.topic, list);
      }
      list.push({ key: r.key, value: r.value, headers: r.headers });
    }
    await p.sendBatch({
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      acks: -1,
      timeout: this.opts.requestTimeoutMs,
      compression: CODECS[this.opts.compression],
    });
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    await p?.disconnect();
  }
}
