// KafkaSink on @platformatic/kafka 2 (maintained, pure JS, all codecs): idempotent producer with acks=all.
import { ProduceAcks, Producer } from '@platformatic/kafka';
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
    const o = this.opts;
    const producer = new Producer<Buffer, Buffer, string, Buffer>({
      clientId: o.clientId,
      bootstrapBrokers: [...o.brokers],
      idempotent: true,
      acks: ProduceAcks.ALL,
      autocreateTopics: true,
      compression: o.compression,
      serializers: { headerKey },
      timeout: o.requestTimeoutMs,
      connectTimeout: 5000,
      // The forwarder owns retries and backoff; a couple of internal retries only ride over leader moves.
      retries: 2,
      retryDelay: 200,
      ...(o.tls ? { tls: o.tls } : {}),
      ...(o.sasl
        ? {
            sasl: {
              mechanism: o.sasl.mechanism.toUpperCase() as 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512',
              username: o.sasl.username,
              password: o.sasl.password,
            },
          }
        : {}),
    });
    try {
      await producer.metadata({ topics: [] });
    } catch (err) {
      await producer.close().catch(() => {});
      throw err;
    }
    this.producer = producer;
  }

  async send(records: readonly SinkRecord[]): Promise<void> {
    const p = this.producer;
    if (!p) throw new Error('platformatic sink is not connected');
    await p.send({ messages: records as SinkRecord[] });
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    await p?.close();
  }
}
