// Both sinks classify a failed Kafka operation by the library's own error types: transient (GW_ERR_KAFKA), too large
// (GW_ERR_KAFKA_TOO_LARGE: the forwarder halves its batch) or refused (GW_ERR_KAFKA_REFUSED: no retry helps). The
// errors here are built as each library builds them when a broker answers or a connection fails.
import { createRequire } from 'node:module';
import {
  AuthenticationError,
  MultipleErrors,
  NetworkError,
  ProtocolError,
  ResponseError,
  TimeoutError,
} from '@platformatic/kafka';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkajsError } from '../../cloud-sync/sinks/kafkajs-errors.ts';
import { platformaticError } from '../../cloud-sync/sinks/platformatic-errors.ts';
import { GatewayError } from '../../gateway/errors.ts';

const require = createRequire(import.meta.url);
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode(code: number): { type: string; code: number; message: string; retriable: boolean };
};
// Constructed with the arguments kafkajs itself passes, which its .d.ts does not all declare.
type ErrorClass = new (...args: unknown[]) => Error;
const {
  KafkaJSProtocolError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSConnectionError,
  KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError,
  KafkaJSAggregateError,
} = kafkajs as unknown as Record<
  | 'KafkaJSProtocolError'
  | 'KafkaJSNonRetriableError'
  | 'KafkaJSNumberOfRetriesExceeded'
  | 'KafkaJSConnectionError'
  | 'KafkaJSRequestTimeoutError'
  | 'KafkaJSSASLAuthenticationError'
  | 'KafkaJSAggregateError',
  ErrorClass
>;

const BROKERS = ['k1:9092', 'k2:9092'];
const CODES = {
  MESSAGE_TOO_LARGE: 10,
  RECORD_LIST_TOO_LARGE: 18,
  NOT_ENOUGH_REPLICAS: 19,
  TOPIC_AUTH: 29,
  INVALID_RECORD: 87,
};
const NOT_LEADER = 6;
const COORDINATOR_NOT_AVAILABLE = 15;
const INVALID_TOPIC = 17;

/** What kafkajs' retrier rejects with for a broker answer it does not retry: the protocol error as the cause. */
function kafkajsAnswer(code: number): Error {
  const e = new KafkaJSProtocolError(createErrorFromCode(code));
  return new KafkaJSNonRetriableError(e, { cause: e });
}

/** What kafkajs' retrier rejects with once a retriable error outlasted its retries. */
function kafkajsRetried(e: Error): Error {
  return new KafkaJSNumberOfRetriesExceeded(e, { retryCount: 2, retryTime: 100 });
}

function classify(err: GatewayError): { code: string; canRetry: boolean } {
  return { code: err.code, canRetry: err.canRetry };
}

describe('kafkajs errors', () => {
  it.each([
    [
      'a connection refused',
      kafkajsRetried(
        new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:1', { broker: '127.0.0.1:1' }),
      ),
      'GW_ERR_KAFKA',
    ],
    [
      'a request timeout',
      kafkajsRetried(
        new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out', { broker: 'k1:9092' }),
      ),
      'GW_ERR_KAFKA',
    ],
    ['a leader move', kafkajsRetried(new KafkaJSProtocolError(createErrorFromCode(NOT_LEADER))), 'GW_ERR_KAFKA'],
    [
      'not enough replicas',
      kafkajsRetried(new KafkaJSProtocolError(createErrorFromCode(CODES.NOT_ENOUGH_REPLICAS))),
      'GW_ERR_KAFKA',
    ],
    [
      'no coordinator',
      kafkajsRetried(new KafkaJSProtocolError(createErrorFromCode(COORDINATOR_NOT_AVAILABLE))),
      'GW_ERR_KAFKA',
    ],
    ['MESSAGE_TOO_LARGE', kafkajsAnswer(CODES.MESSAGE_TOO_LARGE), 'GW_ERR_KAFKA_TOO_LARGE'],
    ['RECORD_LIST_TOO_LARGE', kafkajsAnswer(CODES.RECORD_LIST_TOO_LARGE), 'GW_ERR_KAFKA_TOO_LARGE'],
    [
      'SASL authentication failed',
      new KafkaJSSASLAuthenticationError(
        'SASL PLAIN authentication failed: Authentication failed: Invalid username or password',
      ),
      'GW_ERR_KAFKA_REFUSED',
    ],
    ['topic authorization failed', kafkajsAnswer(CODES.TOPIC_AUTH), 'GW_ERR_KAFKA_REFUSED'],
    ['an invalid topic', kafkajsAnswer(INVALID_TOPIC), 'GW_ERR_KAFKA_REFUSED'],
    ['an invalid record', kafkajsAnswer(CODES.INVALID_RECORD), 'GW_ERR_KAFKA_REFUSED'],
    [
      'one of several brokers refusing',
      new KafkaJSAggregateError('Failed', [kafkajsAnswer(NOT_LEADER), kafkajsAnswer(CODES.TOPIC_AUTH)]),
      'GW_ERR_KAFKA_REFUSED',
    ],
    ['an error of unknown shape', new Error('something else'), 'GW_ERR_KAFKA'],
  ])('%s', (_what, err, code) => {
    const e = kafkajsError('Kafka send', BROKERS, err);
    expect(e).toBeInstanceOf(GatewayError);
    expect(classify(e)).toEqual({ code, canRetry: code !== 'GW_ERR_KAFKA_REFUSED' });
    expect(e.cause).toBe(err);
    expect(e.message).toContain('Kafka send (k1:9092,k2:9092): ');
    expect(e.message).toContain(err.message);
  });
});

/** What a producer gets when a broker answers one partition of a Produce with `code`. */
function platformaticAnswer(code: number): Error {
  const PRODUCE = 0;
  return new MultipleErrors('Producing messages failed.', [
    new ResponseError(PRODUCE, 11, { '/responses/0/partitions/0': [code, null] }, {}),
  ]);
}

describe('@platformatic/kafka errors', () => {
  const refused = new NetworkError('Connection to 127.0.0.1:1 failed.', {
    cause: new Error('connect ECONNREFUSED 127.0.0.1:1'),
  });
  it.each([
    ['a connection refused', new MultipleErrors('Cannot connect to any broker.', [refused]), 'GW_ERR_KAFKA'],
    ['a request timeout', new TimeoutError('Request timed out.'), 'GW_ERR_KAFKA'],
    ['a leader move', platformaticAnswer(NOT_LEADER), 'GW_ERR_KAFKA'],
    ['not enough replicas', platformaticAnswer(CODES.NOT_ENOUGH_REPLICAS), 'GW_ERR_KAFKA'],
    ['no coordinator', new ProtocolError(COORDINATOR_NOT_AVAILABLE), 'GW_ERR_KAFKA'],
    ['MESSAGE_TOO_LARGE', platformaticAnswer(CODES.MESSAGE_TOO_LARGE), 'GW_ERR_KAFKA_TOO_LARGE'],
    ['RECORD_LIST_TOO_LARGE', platformaticAnswer(CODES.RECORD_LIST_TOO_LARGE), 'GW_ERR_KAFKA_TOO_LARGE'],
    ['SASL authentication failed', new AuthenticationError('SASL authentication failed.'), 'GW_ERR_KAFKA_REFUSED'],
    ['topic authorization failed', platformaticAnswer(CODES.TOPIC_AUTH), 'GW_ERR_KAFKA_REFUSED'],
    ['an invalid topic', platformaticAnswer(INVALID_TOPIC), 'GW_ERR_KAFKA_REFUSED'],
    ['an invalid record', platformaticAnswer(CODES.INVALID_RECORD), 'GW_ERR_KAFKA_REFUSED'],
    ['an error of unknown shape', new Error('something else'), 'GW_ERR_KAFKA'],
  ])('%s', (_what, err, code) => {
    const e = platformaticError('Kafka send', BROKERS, err);
    expect(e).toBeInstanceOf(GatewayError);
    expect(classify(e)).toEqual({ code, canRetry: code !== 'GW_ERR_KAFKA_REFUSED' });
    expect(e.cause).toBe(err);
    expect(e.message).toContain('Kafka send (k1:9092,k2:9092): ');
    expect(e.message).toContain(err.message);
  });

  it('names the protocol error and the innermost cause', () => {
    expect(platformaticError('Kafka send', BROKERS, platformaticAnswer(CODES.MESSAGE_TOO_LARGE)).message).toContain(
      'MESSAGE_TOO_LARGE',
    );
    const e = platformaticError(
      'Kafka connect',
      BROKERS,
      new MultipleErrors('Cannot connect to any broker.', [refused]),
    );
    expect(e.message).toContain('ECONNREFUSED');
  });
});
