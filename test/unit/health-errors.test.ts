// A failed Kafka connect or send names its cause and the broker it concerns, in both client libraries: the errors
// here are built as each library builds them (a socket error as Node raises it, wrapped the way the library wraps
// it), and a real connect to a closed port and to a name that does not resolve is checked end to end.
import { createServer } from 'node:net';
import { AuthenticationError, MultipleErrors, NetworkError, TimeoutError } from '@platformatic/kafka';
import kafkajs from 'kafkajs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createSink } from '../../cloud-sync/sinks/index.ts';
import { kafkajsError } from '../../cloud-sync/sinks/kafkajs-errors.ts';
import { platformaticError } from '../../cloud-sync/sinks/platformatic-errors.ts';

type ErrorClass = new (...args: unknown[]) => Error;
const {
  KafkaJSConnectionError,
  KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError,
  KafkaJSNumberOfRetriesExceeded,
} = kafkajs as unknown as Record<
  | 'KafkaJSConnectionError'
  | 'KafkaJSRequestTimeoutError'
  | 'KafkaJSSASLAuthenticationError'
  | 'KafkaJSNumberOfRetriesExceeded',
  ErrorClass
>;

/** A socket error as Node's net and dns modules raise it. */
function sysError(code: string, fields: Record<string, unknown>, message: string): Error {
  return Object.assign(new Error(message), { code, ...fields });
}

const refused = sysError(
  'ECONNREFUSED',
  { errno: -111, syscall: 'connect', address: '127.0.0.1', port: 9093 },
  'connect ECONNREFUSED 127.0.0.1:9093',
);
const notFound = sysError(
  'ENOTFOUND',
  { errno: -3008, syscall: 'getaddrinfo', hostname: 'kafka.local' },
  'getaddrinfo ENOTFOUND kafka.local',
);
const expired = sysError('CERT_HAS_EXPIRED', {}, 'certificate has expired');
const selfSigned = sysError('DEPTH_ZERO_SELF_SIGNED_CERT', {}, 'self-signed certificate');

/** @platformatic/kafka's shape: metadata → "Cannot connect to any broker." → NetworkError naming host:port → cause. */
function platformaticWrap(host: string, cause: Error): Error {
  const net = new NetworkError(`Connection to ${host} failed.`, { cause });
  return new MultipleErrors('metadata failed 3 times.', [new MultipleErrors('Cannot connect to any broker.', [net])]);
}

describe('@platformatic/kafka: the cause and the broker', () => {
  const B = ['127.0.0.1:9093'];
  it.each([
    ['connection refused', platformaticWrap('127.0.0.1:9093', refused), 'connection refused by 127.0.0.1:9093'],
    ['DNS', platformaticWrap('kafka.local:9092', notFound), 'DNS lookup of kafka.local failed (ENOTFOUND: not found)'],
    [
      'an expired certificate',
      platformaticWrap('k1:9093', expired),
      'TLS handshake with k1:9093 failed: certificate expired',
    ],
    [
      'a self-signed certificate',
      platformaticWrap('k1:9093', selfSigned),
      'TLS handshake with k1:9093 failed: self-signed certificate (set kafka.tls.ca)',
    ],
    [
      'SASL',
      new AuthenticationError('SASL authentication failed.'),
      'SASL authentication failed at 127.0.0.1:9093 (check kafka.sasl)',
    ],
    [
      'a connection timeout',
      new MultipleErrors('Cannot connect to any broker.', [new TimeoutError('Connection to k2:9092 timed out.')]),
      'timed out waiting for k2:9092',
    ],
  ])('%s', (_what, err, cause) => {
    const e = platformaticError('Kafka connect', B, err);
    expect(e.message).toContain(`Kafka connect (127.0.0.1:9093): ${cause} (`);
    // The library's own words stay after the cause.
    expect(e.message).toContain(err.message);
  });

  it('an error without a known cause reads as before', () => {
    expect(platformaticError('Kafka send', B, new Error('something else')).message).toBe(
      'Kafka send (127.0.0.1:9093): something else',
    );
  });
});

describe('kafkajs: the cause and the broker', () => {
  const B = ['k1:9092', 'k2:9092'];
  const retried = (e: Error) => new KafkaJSNumberOfRetriesExceeded(e, { retryCount: 2, retryTime: 100 });
  it.each([
    [
      'connection refused (the text of the socket error only)',
      retried(
        new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9093', {
          broker: '127.0.0.1:9093',
          code: 'ECONNREFUSED',
        }),
      ),
      'connection refused by 127.0.0.1:9093',
    ],
    [
      'DNS',
      retried(
        new KafkaJSConnectionError('Connection error: getaddrinfo ENOTFOUND kafka.local', {
          broker: 'kafka.local:9092',
          code: 'ENOTFOUND',
        }),
      ),
      'DNS lookup of kafka.local failed (ENOTFOUND: not found)',
    ],
    [
      'a TLS failure in the cause',
      retried(
        Object.assign(new KafkaJSConnectionError('Connection error: certificate has expired', { broker: 'k2:9092' }), {
          cause: expired,
        }),
      ),
      'TLS handshake with k2:9092 failed: certificate expired',
    ],
    [
      'SASL',
      new KafkaJSSASLAuthenticationError('SASL PLAIN authentication failed: Invalid username or password'),
      'SASL authentication failed at k1:9092,k2:9092 (check kafka.sasl)',
    ],
    [
      'a connection timeout',
      retried(new KafkaJSConnectionError('Connection timeout', { broker: 'k2:9092' })),
      'timed out waiting for k2:9092',
    ],
    [
      'a request timeout',
      retried(new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out', { broker: 'k1:9092' })),
      'timed out waiting for k1:9092',
    ],
  ])('%s', (_what, err, cause) => {
    const e = kafkajsError('Kafka send', B, err);
    expect(e.message).toContain(`Kafka send (k1:9092,k2:9092): ${cause} (`);
    expect(e.message).toContain(err.message);
  });
});

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe.each(['platformatic', 'kafkajs'] as const)('a real %s connect', (client) => {
  const connect = async (broker: string): Promise<string> => {
    const sink = await createSink(client, {
      brokers: [broker],
      clientId: 'health-errors',
      compression: 'none',
      requestTimeoutMs: 3000,
      tls: undefined,
      sasl: undefined,
      log: pino({ level: 'silent' }),
    });
    const err = await sink.connect().then(
      () => undefined,
      (e: Error) => e,
    );
    await sink.close().catch(() => {});
    return err?.message ?? 'connected';
  };

  it('to a closed port says "connection refused" and names the address', async () => {
    const port = await closedPort();
    expect(await connect(`127.0.0.1:${port}`)).toContain(`connection refused by 127.0.0.1:${port}`);
  }, 60_000);

  it('to a name that does not resolve says DNS and names the host', async () => {
    expect(await connect('no-such-broker.invalid:9092')).toMatch(
      /DNS lookup of no-such-broker\.invalid failed \((ENOTFOUND|EAI_AGAIN)/,
    );
  }, 60_000);
});
