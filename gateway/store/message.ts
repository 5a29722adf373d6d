// The message the store takes: what the outbox appends and the journal keeps for a flow input.

/** A message as the outbox takes it (an MQTT publish or a message from an in-process source). */
export interface OutboxMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  clientId: string;
  username?: string | undefined;
  retain?: boolean | undefined;
}
