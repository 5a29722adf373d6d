// The one place the Kafka connection settings are read: brokers, TLS (server verification with the system CAs or
// `kafka.tls.ca`, mutual TLS with `cert` and `key`) and SASL. Each client library maps the result to its own options
// in one function (cloud-sync/sinks/kafkajs-connection.ts, cloud-sync/sinks/platformatic-connection.ts) that the sink
// and the source of that library both use, so the producer and the consumer can never connect differently.
import type { ConnectionOptions } from 'node:tls';
import { GatewayError } from '../gateway/errors.ts';
import { readPem } from '../gateway/pem.ts';

export type SaslMechanism = 'none' | 'plain' | 'scram-sha-256' | 'scram-sha-512';

/** The `kafka` section's connection keys as the config schema gives them. */
export interface KafkaConnectionConfig {
  brokers: readonly string[];
  /** Old spelling of `tls.enabled`, still accepted. */
  ssl: boolean;
  tls: { enabled: boolean; ca: string; cert: string; key: string };
  sasl: { mechanism: SaslMechanism; username: string; password: string };
}

export interface KafkaConnection {
  brokers: readonly string[];
  /** Node TLS options for both clients; undefined = plaintext. */
  tls: ConnectionOptions | undefined;
  /** Undefined = no SASL. */
  sasl: { mechanism: Exclude<SaslMechanism, 'none'>; username: string; password: string } | undefined;
}

/** What every Kafka client of the gateway (sink or source, either library) is built from. */
export interface KafkaClientOptions extends KafkaConnection {
  clientId: string;
  /** Timeout of one Kafka request (`kafka.requestTimeoutMs`). */
  requestTimeoutMs: number;
}

/** How long a client waits for a broker's TCP/TLS connection before it counts as unreachable. */
export const CONNECT_TIMEOUT_MS = 5000;

/** Reads the TLS material (text or files) once and checks the combination; errors name the key. */
export function kafkaConnection(c: KafkaConnectionConfig): KafkaConnection {
  const t = c.tls;
  if (Boolean(t.cert) !== Boolean(t.key)) {
    const [set, missing] = t.cert ? ['cert', 'key'] : ['key', 'cert'];
    throw new GatewayError(
      'GW_ERR_CONFIG',
      `kafka.tls.${set}: set, but kafka.tls.${missing} is not (mutual TLS needs both)`,
    );
  }
  const enabled = c.ssl || t.enabled || Boolean(t.ca || t.cert);
  const tls: ConnectionOptions | undefined = enabled
    ? {
        // The brokers' certificates are always verified: against kafka.tls.ca, or the system CAs without it.
        rejectUnauthorized: true,
        ...(t.ca ? { ca: readPem(t.ca, 'kafka.tls.ca') } : {}),
        ...(t.cert ? { cert: readPem(t.cert, 'kafka.tls.cert'), key: readPem(t.key, 'kafka.tls.key') } : {}),
      }
    : undefined;
  const sasl = c.sasl.mechanism === 'none' ? undefined : { ...c.sasl, mechanism: c.sasl.mechanism };
  return { brokers: c.brokers, tls, sasl };
}

/** What an operator must hear at start: a password readable on the wire. */
export function kafkaConnectionWarnings(conn: KafkaConnection): string[] {
  if (conn.sasl?.mechanism === 'plain' && !conn.tls) {
    return ['kafka.sasl.mechanism is plain without TLS: the password travels in clear text; set kafka.tls.enabled'];
  }
  return [];
}
