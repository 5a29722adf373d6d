// The Kafka connection as @platformatic/kafka options: the one mapping that the platformatic sink and the
// platformatic source both use.
import type { BaseOptions, SASLOptions } from '@platformatic/kafka';
import { CONNECT_TIMEOUT_MS, type KafkaClientOptions } from '../kafka-connection.ts';

type Mechanism = 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

/** Client options for `o`; retries are each part's own choice and added by it. */
export function platformaticOptions(
  o: KafkaClientOptions,
): Pick<BaseOptions, 'clientId' | 'bootstrapBrokers' | 'timeout' | 'connectTimeout' | 'tls' | 'sasl'> {
  const sasl: SASLOptions | undefined = o.sasl
    ? { mechanism: o.sasl.mechanism.toUpperCase() as Mechanism, username: o.sasl.username, password: o.sasl.password }
    : undefined;
  return {
    clientId: o.clientId,
    bootstrapBrokers: [...o.brokers],
    timeout: o.requestTimeoutMs,
    connectTimeout: CONNECT_TIMEOUT_MS,
    ...(o.tls ? { tls: o.tls } : {}),
    ...(sasl ? { sasl } : {}),
  };
}
