// The outbox record and how it appears in Kafka (DESIGN.md, "Records in Kafka").

/** Kafka header names the gateway sets on every record. */
export const HEADER = {
  topic: 'mqtt.topic',
  clientId: 'mqtt.client_id',
  qos: 'mqtt.qos',
  gatewayId: 'gateway.id',
  /** Gateway-wide sequence; with gateway.id it is the record's unique id. */
  gatewaySeq: 'gateway.seq',
  /** `${gatewayId}-${gatewaySeq}`: consumers drop duplicates by it. */
  msgId: 'gateway.msg_id',
  deviceSeq: 'device.seq',
  ingestTs: 'ingest.ts',
} as const;
