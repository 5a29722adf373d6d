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
  /** The broker the library named in the error (kafkajs' `broker`, @platformatic/kafka's "Connection to h:p"). */
  broker?: string | undefined;
  /** The library reported a connection or request timeout. */
  timedOut?: boolean;
}

/** Node's TLS and certificate error codes, as an operator reads them. */
const TLS_CODES: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate (set kafka.tls.ca)',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in the chain (set kafka.tls.ca)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'certificate not trusted (set kafka.tls.ca)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'certificate issuer unknown (set kafka.tls.ca)',
  CERT_HAS_EXPIRED: 'certificate expired',
  CERT_NOT_YET_VALID: 'certificate not yet valid (check the clock)',
  ERR_TLS_CERT_ALTNAME_INVALID: "certificate does not name the broker's host",
  ERR_SSL_WRONG_VERSION_NUMBER: 'the broker does not speak TLS on this port',
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 'the broker does not speak TLS on this port',
};

/** Codes of the errors Node raises for a socket, and how they read. */
const NET_CODES: Record<string, (where: string) => string> = {
  ECONNREFUSED: (w) => `connection refused by ${w}`,
  ECONNRESET: (w) => `connection reset by ${w}`,
  EPIPE: (w) => `connection closed by ${w}`,
  ETIMEDOUT: (w) => `timed out connecting to ${w}`,
  EHOSTUNREACH: (w) => `host unreachable: ${w}`,
  ENETUNREACH: (w) => `network unreachable for ${w}`,
  EADDRNOTAVAIL: (w) => `address not available: ${w}`,
};

/** DNS failures: the name does not resolve (ENOTFOUND) or the resolver did not answer (EAI_AGAIN). */
const DNS_CODES: Record<string, string> = {
  ENOTFOUND: 'not found',
  EAI_AGAIN: 'no answer from the resolver',
  EAI_FAIL: 'resolver failure',
  ENODATA: 'no address',
};

const isTls = (code: string): boolean => code in TLS_CODES || /^ERR_(SSL|TLS)_|^EPROTO$|CERT/.test(code);

/** "host:port" of a Node socket error, when it says. */
function socketAddress(e: Record<string, unknown>): string | undefined {
  if (typeof e.address !== 'string') return undefined;
  return typeof e.port === 'number' ? `${e.address}:${e.port}` : e.address;
}

/**
 * What went wrong, in the words an operator acts on, naming the broker it concerns: "connection refused by
 * 127.0.0.1:9093", "DNS lookup of kafka.local failed (ENOTFOUND: not found)", "TLS handshake with k1:9093 failed:
 * certificate expired", "SASL authentication failed at k1:9092", "timed out waiting for k1:9092". Undefined when the
 * error carries none of these (a protocol error is named by kafkaError itself).
 */
export function kafkaCause(err: unknown, f: KafkaFailure, brokers: readonly string[]): string | undefined {
  const where = f.broker ?? (brokers.join(',') || 'the brokers');
  for (const e of errorTree(err)) {
    const code = typeof e.code === 'string' ? e.code : '';
    const net = NET_CODES[code];
    if (net && (e.syscall !== undefined || e.address !== undefined)) return net(socketAddress(e) ?? where);
    if (code in DNS_CODES) {
      const host = typeof e.hostname === 'string' ? e.hostname : where.replace(/:\d+$/, '');
      return `DNS lookup of ${host} failed (${code}: ${DNS_CODES[code]})`;
    }
    if (code !== '' && isTls(code)) {
      return `TLS handshake with ${where} failed: ${TLS_CODES[code] ?? `${code}: ${String(e.message ?? '')}`}`;
    }
  }
  if (f.authenticationFailed) return `SASL authentication failed at ${where} (check kafka.sasl)`;
  if (f.timedOut) return `timed out waiting for ${where}`;
  // A library that kept only the text of the socket error (kafkajs' "Connection error: connect ECONNREFUSED ...").
  const text = f.messages.join(' ');
  const refused = /ECONNREFUSED (\S+:\d+)/.exec(text);
  if (refused) return `connection refused by ${refused[1]}`;
  const dns = /(ENOTFOUND|EAI_AGAIN) (\S+)/.exec(text);
  if (dns) return `DNS lookup of ${dns[2]} failed (${dns[1]}: ${DNS_CODES[dns[1] as string]})`;
  return undefined;
}

/** Refused wins over too large (halving cannot help a batch that is also refused); anything else is transient. */
export function kafkaErrorCode(f: KafkaFailure): KafkaErrorCode {
  if (f.authenticationFailed || f.protocolErrors.some((e) => REFUSED.has(e))) return 'GW_ERR_KAFKA_REFUSED';
  if (f.protocolErrors.some((e) => TOO_LARGE.has(e))) return 'GW_ERR_KAFKA_TOO_LARGE';
  return 'GW_ERR_KAFKA';
}

/** A failed Kafka operation (`op`: what was tried, e.g. `Kafka send`) and whether the library gave up waiting. */
export class KafkaOpError extends GatewayError {
  override name = 'KafkaOpError';
  readonly op: string;
  /** The library reported a connection or request timeout: no answer, rather than a refusal. */
  readonly timedOut: boolean;
  constructor(code: KafkaErrorCode, message: string, op: string, timedOut: boolean, cause: unknown) {
    super(code, message, { cause });
    this.op = op;
    this.timedOut = timedOut;
  }
}

/** The GatewayError for a failed operation: the code, a message naming the brokers and the cause, the cause itself. */
export function kafkaError(what: string, brokers: readonly string[], f: KafkaFailure, cause: unknown): KafkaOpError {
  const detail = [...new Set([...f.messages, ...f.protocolErrors])].filter(Boolean).slice(0, 4).join('; ');
  // The cause an operator acts on first, then what the library said.
  const named = kafkaCause(cause, f, brokers);
  const text = named ? `${named} (${detail || String(cause)})` : detail || String(cause);
  return new KafkaOpError(
    kafkaErrorCode(f),
    `${what} (${brokers.join(',')}): ${text}`,
    what,
    f.timedOut === true,
    cause,
  );
}

/** Walks an error and what it wraps (`cause`, `errors`), each once, outermost first. */
export function* errorTree(err: unknown, depth = 0): Generator<Record<string, unknown>> {
  if (!err || typeof err !== 'object' || depth > 8) return;
  const e = err as Record<string, unknown>;
  yield e;
  if (e.cause !== err) yield* errorTree(e.cause, depth + 1);
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* errorTree(inner, depth + 1);
}
