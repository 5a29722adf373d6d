// @platformatic/kafka errors as the gateway's Kafka error codes (cloud-sync/sinks/kafka-errors.ts): its
// ProtocolError carries the Kafka protocol error name (`apiId`), AuthenticationError a failed SASL handshake, and
// MultipleErrors the per-broker or per-partition errors of one operation, TimeoutError a connection or request that
// timed out.
import { AuthenticationError, ProtocolError, TimeoutError } from '@platformatic/kafka';
import type { GatewayError } from '../../gateway/errors.ts';
import { errorTree, type KafkaFailure, kafkaError } from './kafka-errors.ts';

export function platformaticFailure(err: unknown): KafkaFailure {
  const protocolErrors: string[] = [];
  const messages: string[] = [];
  let authenticationFailed = false;
  let broker: string | undefined;
  let timedOut = false;
  for (const e of errorTree(err)) {
    if (e instanceof ProtocolError && typeof e.apiId === 'string') protocolErrors.push(e.apiId);
    if (e instanceof AuthenticationError) authenticationFailed = true;
    if (e instanceof TimeoutError) timedOut = true;
    if (typeof e.message === 'string') {
      messages.push(e.message);
      // Its NetworkError and TimeoutError name the broker only in the text: "Connection to host:port failed."
      broker ??= /^Connection to (\S+:\d+) (?:failed|timed out)/.exec(e.message)?.[1];
    }
    if (typeof e.serverErrorMessage === 'string') messages.push(e.serverErrorMessage);
  }
  return { protocolErrors, authenticationFailed, messages, broker, timedOut };
}

/** The GatewayError for a failed @platformatic/kafka operation (`what`, e.g. "Kafka send"). */
export function platformaticError(what: string, brokers: readonly string[], err: unknown): GatewayError {
  return kafkaError(what, brokers, platformaticFailure(err), err);
}
