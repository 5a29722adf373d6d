// The forwarder's view of Kafka: connect, send a batch and resolve only once Kafka acknowledged every record with
// acks=all from an idempotent producer, close. One contract suite (test/integration/sink-contract.test.ts) runs
// against each implementation.
import type { Logger } from 'pino';
import type { KafkaConnection } from '../kafka-connection.ts';

export interface SinkRecord {
  topic: string;
  key: Buffer;
  value: Buffer;
  headers: Record<string, Buffer>;
}

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

export interface KafkaSinkOptions {
  brokers: readonly string[];
  clientId: string;
  compression: Compression;
  requestTimeoutMs: number;
  /** From kafkaConnection() (cloud-sync/kafka-connection.ts): undefined = plaintext. */
  tls: KafkaConnection['tls'];
  /** Undefined = no SASL. */
  sasl: KafkaConnection['sasl'];
  log: Logger;
}

export interface KafkaSink {
  readonly name: string;
  connect(): Promise<void>;
  /** Resolves when Kafka acknowledged every record (acks=all); rejects otherwise, and nothing may be assumed sent. */
  send(records: readonly SinkRecord[]): Promise<void>;
  close(): Promise<void>;
}

export type SinkName = 'platformatic' | 'kafkajs';

export async function createSink(name: SinkName, opts: KafkaSinkOptions): Promise<KafkaSink> {
  if (name === 'kafkajs') {
    const { KafkajsSink } = await import('./kafkajs.ts');
    return new KafkajsSink(opts);
  }
  const { PlatformaticSink } = await import('./platformatic.ts');
  return new PlatformaticSink(opts);
}
