// kafkajs errors as the gateway's Kafka error codes (cloud-sync/sinks/kafka-errors.ts), by kafkajs' error classes
// and the protocol error type they carry; a retried operation wraps the last error in `cause`. Connection and request
// errors name the broker they concern.
import kafkajs from 'kafkajs';
import type { GatewayError } from '../../gateway/errors.ts';
import { errorTree, type KafkaFailure, kafkaError } from './kafka-errors.ts';

// The error classes are on the default export only: kafkajs spreads them into module.exports.
const { KafkaJSProtocolError, KafkaJSSASLAuthenticationError, KafkaJSConnectionError, KafkaJSRequestTimeoutError } =
  kafkajs;

export function kafkajsFailure(err: unknown): KafkaFailure {
  const protocolErrors: string[] = [];
  const messages: string[] = [];
  let authenticationFailed = false;
  let broker: string | undefined;
  let timedOut = false;
  for (const e of errorTree(err)) {
    if (e instanceof KafkaJSProtocolError && e.type) protocolErrors.push(e.type);
    if (e instanceof KafkaJSSASLAuthenticationError) authenticationFailed = true;
    // Connection and request errors name the broker ("host:port") they concern.
    if (e instanceof KafkaJSConnectionError || e instanceof KafkaJSRequestTimeoutError) {
      if (typeof e.broker === 'string' && e.broker !== '') broker ??= e.broker;
      if (e instanceof KafkaJSRequestTimeoutError || e.message === 'Connection timeout') timedOut = true;
    }
    if (typeof e.message === 'string') messages.push(e.message);
  }
  return { protocolErrors, authenticationFailed, messages, broker, timedOut };
}

/** The GatewayError for a failed kafkajs operation (`what`, e.g. "Kafka send"). */
export function kafkajsError(what: string, brokers: readonly string[], err: unknown): GatewayError {
  return kafkaError(what, brokers, kafkajsFailure(err), err);
}
