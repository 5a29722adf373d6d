// What a failed Kafka operation means for the caller, the same for both client libraries: transient (retry with
// backoff), too large (retry with a smaller batch) or refused (a retry gets the same answer). Each library's sink
// reads its own error types and hands the Kafka protocol error names it found here.
import { GatewayError } from '../../gateway/errors.ts';

export type KafkaErrorCode = 'GW_ERR_KAFKA' | 'GW_ERR_KAFKA_TOO_LARGE' | 'GW_ERR_KAFKA_REFUSED';

/** The broker's answer to a request or a batch that is too big: the same records in smaller batches can pass. */
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

/** Protocol errors no retry can fix: credentials, permissions, a topic or a record the broker will never take. */
const REFUSED = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'UNSUPPORTED_SASL_MECHANISM',
  'ILLEGAL_SASL_STATE',
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_TOPIC_EXCEPTION',
  'INVALID_RECORD',
  'INVALID_REQUIRED_ACKS',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
  'UNSUPPORTED_COMPRESSION_TYPE',
  'POLICY_VIOLATION',
]);

/** What the library's error said, as the sink found it. */
export interface KafkaFailure {
  /** Kafka protocol error names (MESSAGE_TOO_LARGE, TOPIC_AUTHORIZATION_FAILED…) anywhere in the error. */
  protocolErrors: readonly string[];
  /** The library reported failed authentication (SASL, or the broker closing the handshake). */
  authenticationFailed: boolean;
  /** The most telling messages of the error and its causes, outermost first. */
  messages: readonly string[];
}

/** Refused wins over too large (halving cannot help a batch that is also refused); anything else is transient. */
export function kafkaErrorCode(f: KafkaFailure): KafkaErrorCode {
  if (f.authenticationFailed || f.protocolErrors.some((e) => REFUSED.has(e))) return 'GW_ERR_KAFKA_REFUSED';
  if (f.protocolErrors.some((e) => TOO_LARGE.has(e))) return 'GW_ERR_KAFKA_TOO_LARGE';
  return 'GW_ERR_KAFKA';
}

/** The GatewayError for a failed operation: the code, a message naming the brokers and the cause, the cause itself. */
export function kafkaError(what: string, brokers: readonly string[], f: KafkaFailure, cause: unknown): GatewayError {
  const detail = [...new Set([...f.messages, ...f.protocolErrors])].filter(Boolean).slice(0, 4).join('; ');
  return new GatewayError(kafkaErrorCode(f), `${what} (${brokers.join(',')}): ${detail || String(cause)}`, {
    cause,
  });
}

/** Walks an error and what it wraps (`cause`, `errors`), each once, outermost first. */
export function* errorTree(err: unknown, depth = 0): Generator<Record<string, unknown>> {
  if (!err || typeof err !== 'object' || depth > 8) return;
  const e = err as Record<string, unknown>;
  yield e;
  if (e.cause !== err) yield* errorTree(e.cause, depth + 1);
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* errorTree(inner, depth + 1);
}
