// @platformatic/kafka errors as the gateway's Kafka error codes (cloud-sync/sinks/kafka-errors.ts): its
// ProtocolError carries the Kafka protocol error name (`apiId`), AuthenticationError a failed SASL handshake, and
// MultipleErrors the per-broker or per-partition errors of one operation.
import { AuthenticationError, ProtocolError } from '@platformatic/kafka';
import type { GatewayError } from '../../gateway/errors.ts';
import { errorTree, type KafkaFailure, kafkaError } from './kafka-errors.ts';

export function platformaticFailure(err: unknown): KafkaFailure {
  const protocolErrors: string[] = [];
  const messages: string[] = [];
  let authenticationFailed = false;
  for (const e of errorTree(err)) {
    if (e instanceof ProtocolError && typeof e.apiId === 'string') protocolErrors.push(e.apiId);
    if (e instanceof AuthenticationError) authenticationFailed = true;
    if (typeof e.message === 'string') messages.push(e.message);
    if (typeof e.serverErrorMessage === 'string') messages.push(e.serverErrorMessage);
  }
  return { protocolErrors, authenticationFailed, messages };
}

/** The GatewayError for a failed @platformatic/kafka operation (`what`, e.g. "Kafka send"). */
export function platformaticError(what: string, brokers: readonly string[], err: unknown): GatewayError {
  return kafkaError(what, brokers, platformaticFailure(err), err);
}
