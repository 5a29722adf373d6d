// KafkaSink on @platformatic/kafka 2 (maintained, pure JS, all codecs): idempotent producer with acks=all.
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { platformaticOptions } from './platformatic-connection.ts';
import { platformaticError } from './platformatic-errors.ts';
import type { KafkaSink, KafkaSinkOptions, SinkRecord } from './types.ts';

// Header names repeat on every record: encode each once.
const headerKeys = new Map<string, Buffer>();
function headerKey(k: string | undefined): Buffer {
  const name = k ?? '';
  let b = headerKeys.get(name);
  if (!b) {
    b = Buffer.from(name);
    headerKeys.set(name, b);
  }
  return b;
}

export class PlatformaticSink implements KafkaSink {
  readonly name = 'platformatic';
  private readonly opts: KafkaSinkOptions;
  private producer: Producer<Buffer, Buffer, string, Buffer> | undefined;

  constructor(opts: KafkaSinkOptions) {
    this.opts = opts;
  }

  async connect(): Promise<void> {
    const producer = new Producer<Buffer, Buffer, string, Buffer>({
      ...platformaticOptions(this.opts),
      idempotent: true,
      acks: ProduceAcks.ALL,
      autocreateTopics: true,
      compression: this.opts.compression,
      serializers: { headerKey },
      // The forwarder owns retries and backoff; a couple of internal retries only ride over leader moves.
      retries: 2,
      retryDelay: 200,
    });
    try {
      await producer.metadata({ topics: [] });
    } catch (err) {
      await producer.close().catch(() => {});
      throw platformaticError('Kafka connect', this.opts.brokers, err);
    }
    this.producer = producer;
  }

  async send(records: readonly SinkRecord[]): Promise<void> {
    const p = this.producer;
    if (!p) throw new Error('platformatic sink is not connected');
    try {
      await p.send({ messages: records as SinkRecord[] });
    } catch (err) {
      throw platformaticError('Kafka send', this.opts.brokers, err);
    }
  }

  async ping(): Promise<void> {
    const p = this.producer;
    if (!p) throw new Error('platformatic sink is not connected');
    try {
      // forceUpdate: a cached answer would prove nothing about the link.
      await p.metadata({ topics: [], forceUpdate: true });
    } catch (err) {
      throw platformaticError('Kafka metadata', this.opts.brokers, err);
    }
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    await p?.close();
  }
}
