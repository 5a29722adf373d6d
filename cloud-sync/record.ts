// The outbox record and how it appears in Kafka (README "Records in Kafka").

/** Kafka header names the gateway sets on every record. */
export const HEADER = {
  topic: 'mqtt.topic',
  clientId: 'mqtt.client_id',
  qos: 'mqtt.qos',
  gatewayId: 'gateway.id',
  /** Sequence of the data dir's store, from 1 in every new store (not per device: see device.seq). */
  gatewaySeq: 'gateway.seq',
  /** `${gatewayId}-${epoch}-${gatewaySeq}`, the epoch being the store's random id: consumers drop duplicates by it. */
  msgId: 'gateway.msg_id',
  /** Per device (the record's client id), counted by the store: see docs/records.md. */
  deviceSeq: 'device.seq',
  ingestTs: 'ingest.ts',
} as const;
