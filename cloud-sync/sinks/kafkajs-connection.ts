// The Kafka connection as kafkajs options: the one mapping that the kafkajs sink and the kafkajs source both use.
import { type KafkaConfig, logLevel, type RetryOptions, type SASLOptions } from 'kafkajs';
import { CONNECT_TIMEOUT_MS, type KafkaClientOptions } from '../kafka-connection.ts';
import { quietNegativeTimeouts } from '../kafkajs-timers.ts';

/** kafkajs client options for `o`; `retry` is the client's own retry of one operation (each part chooses). */
export function kafkajsConfig(o: KafkaClientOptions, retry: RetryOptions): KafkaConfig {
  // Every kafkajs client of the process is built here, so the timer fix is in place before the first connection.
  quietNegativeTimeouts();
  return {
    clientId: o.clientId,
    brokers: [...o.brokers],
    ssl: o.tls ?? false,
    ...(o.sasl ? { sasl: o.sasl as SASLOptions } : {}),
    connectionTimeout: CONNECT_TIMEOUT_MS,
    requestTimeout: o.requestTimeoutMs,
    retry,
    logLevel: logLevel.NOTHING,
  };
}
