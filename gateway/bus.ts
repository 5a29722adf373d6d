// The in-process bus: how adapters (serial, Modbus) and Node-RED nodes reach the gateway's durable path and its
// broker without a TCP loopback. The ingest path (gateway/ingest.ts) implements it; the composition root
// (app/gateway.ts) builds it on the store with a port to the broker and hands it to the parts.

/** A message entering the gateway, from an MQTT client or an in-process source. */
export interface IngressMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  /** MQTT client id, or the adapter's device name. Default Kafka key. */
  clientId: string;
  username?: string | undefined;
  retain?: boolean | undefined;
}

/** A message handed to a flow tap, with what the gateway stamped on it at ingest. */
export interface TappedMessage extends IngressMessage {
  /** Per-device sequence number (1-based, per clientId). */
  deviceSeq: number;
  /** Ingest time, ms since epoch. */
  ingestTs: number;
  /** True when this is a replay from the flow journal after a restart. */
  replay: boolean;
}

/**
 * A flow input. Messages matching `filter` are handed to `deliver`. For QoS >= 1 they are journaled in the same
 * group commit as the outbox (before the device's PUBACK); the journal entry is removed when `complete()` is called,
 * so a crash before that replays the message at the next start (at-least-once through flows).
 */
export interface FlowTap {
  /** Stable id (e.g. the Node-RED node id): journal entries are replayed to the tap with the same id. */
  id: string;
  filter: string;
  deliver(msg: TappedMessage, complete: () => void): void;
}

export interface PublishOptions {
  /** Also deliver to MQTT subscribers on the broker (default true). */
  toBroker?: boolean;
  /** Send through the configured routes to the outbox (default true). */
  toRoutes?: boolean;
  /** Meta entries the store writes in the same commit as the message's records (the events' online set). */
  meta?: readonly { key: string; value?: string }[];
}

/** An explicit outbox append (the Node-RED `cloud out` node): bypasses routes. */
export interface OutboxAppend {
  kafkaTopic: string;
  key: string;
  payload: Buffer;
  /** Budget class; the default class when absent. */
  class?: string | undefined;
  /** Source fields carried into headers / envelope. */
  source: IngressMessage;
  format?: 'raw' | 'envelope';
}

export interface GatewayBus {
  /**
   * Ingest a message from an in-process source: route it to the outbox (durable per the store's mode), hand it to
   * matching flow taps, and deliver it to MQTT subscribers. Resolves once it is durable. Rejects with code
   * GW_ERR_BUFFER_FULL when the budget's policy is `reject`.
   */
  publish(msg: IngressMessage, opts?: PublishOptions): Promise<void>;
  /** Append straight to the outbox; resolves once durable. */
  appendOutbox(rec: OutboxAppend): Promise<void>;
  /** Receive publishes seen by the broker (from devices, flows, adapters, downlink) that match an MQTT filter. */
  subscribe(filter: string, handler: (msg: IngressMessage) => void): Promise<() => Promise<void>>;
  /** Register a flow input; replays its journaled, unfinished messages. Returns an unregister function. */
  tap(tap: FlowTap): () => void;
}
