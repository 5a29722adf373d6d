// The forwarder's view of Kafka: connect, send a batch and resolve only once Kafka acknowledged every record with
// acks=all from an idempotent producer, close. One contract suite (test/integration/sink-contract.test.ts) runs
// against each implementation.
import type { Logger } from 'pino';
import type { KafkaClientOptions } from '../kafka-connection.ts';

export interface SinkRecord {
  topic: string;
  key: Buffer;
  value: Buffer;
  headers: Record<string, Buffer>;
}

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

/** Brokers, TLS and SASL from kafkaConnection() (cloud-sync/kafka-connection.ts), plus the producer's own. */
export interface KafkaSinkOptions extends KafkaClientOptions {
  compression: Compression;
  log: Logger;
}

export interface KafkaSink {
  readonly name: string;
  connect(): Promise<void>;
  /**
   * Resolves when Kafka acknowledged every record (acks=all); rejects otherwise, and nothing may be assumed sent.
   * connect() and send() reject with a GatewayError: GW_ERR_KAFKA (transient), GW_ERR_KAFKA_TOO_LARGE (the same
   * records in smaller batches can pass) or GW_ERR_KAFKA_REFUSED (no retry can help), the library's error as `cause`.
   */
  send(records: readonly SinkRecord[]): Promise<void>;
  /** One metadata round trip to the cluster (the forwarder's canary while no data flows); rejects like send(). */
  ping?(): Promise<void>;
  close(): Promise<void>;
}

export type SinkName = 'platformatic' | 'kafkajs';
