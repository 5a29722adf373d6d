// KafkaSink on kafkajs 2.2 (the product's named Kafka client): idempotent producer, one request in flight, acks=all.
import { type Admin, CompressionTypes, Kafka, type Producer } from 'kafkajs';
import { kafkajsConfig } from './kafkajs-connection.ts';
import { kafkajsError } from './kafkajs-errors.ts';
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
  private kafka: Kafka | undefined;
  /** The canary's client, made on the first ping: the kafkajs producer has no metadata call of its own. */
  private admin: Admin | undefined;

  constructor(opts: KafkaSinkOptions) {
    if (opts.compression !== 'none' && opts.compression !== 'gzip') {
      // kafkajs ships only gzip; other codecs need plugins the gateway does not bundle.
      throw new Error(`kafka.compression ${opts.compression} is not available with kafka.client kafkajs (use gzip)`);
    }
    this.opts = opts;
  }

  async connect(): Promise<void> {
    // The forwarder owns retries and backoff; a short internal retry only rides over leader moves.
    const kafka = new Kafka(kafkajsConfig(this.opts, { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 }));
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true });
    try {
      await producer.connect();
    } catch (err) {
      await producer.disconnect().catch(() => {});
      throw kafkajsError('Kafka connect', this.opts.brokers, err);
    }
    this.producer = producer;
    this.kafka = kafka;
  }

  async ping(): Promise<void> {
    const kafka = this.kafka;
    if (!kafka) throw new Error('kafkajs sink is not connected');
    try {
      if (!this.admin) {
        const admin = kafka.admin({ retry: { retries: 0 } });
        await admin.connect();
        this.admin = admin;
      }
      await this.admin.describeCluster();
    } catch (err) {
      throw kafkajsError('Kafka metadata', this.opts.brokers, err);
    }
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
    try {
      await p.sendBatch({
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
        acks: -1,
        timeout: this.opts.requestTimeoutMs,
        compression: CODECS[this.opts.compression],
      });
    } catch (err) {
      throw kafkajsError('Kafka send', this.opts.brokers, err);
    }
  }

  async close(): Promise<void> {
    const p = this.producer;
    const admin = this.admin;
    this.producer = undefined;
    this.admin = undefined;
    this.kafka = undefined;
    await Promise.all([p?.disconnect(), admin?.disconnect()]);
  }
}
