// Client and command events, named as EMQX names them: what the cloud learns about devices connecting,
// disconnecting, subscribing and acknowledging commands. The broker and the downlink raise them; the event
// publisher (gateway/events/) makes each one a durable record for Kafka (topic `edge.events` by default, keyed by
// client id) and an in-process message on `$events/<name with _>` for flows; the device registry keeps its state
// from them. docs/events.md is the schema consumers rely on.

export const EVENT_SCHEMA_VERSION = 1;

export type DisconnectReason =
  | 'normal'
  | 'keepalive_timeout'
  | 'takeover'
  | 'auth_expired'
  | 'error'
  | 'server_shutdown'
  | 'kicked'
  | 'gateway_restart';

export type DropReason = 'expired' | 'queue_full' | 'no_subscriber' | 'refused';

interface Base {
  clientid: string;
  username: string | null;
  /** When it happened (ms since the epoch). */
  ts: number;
}

export interface ClientConnected extends Base {
  event: 'client.connected';
  ip: string;
  port: number;
  proto_ver: number;
  keepalive: number;
  clean_start: boolean;
  /** Common name of the client certificate, when it connected with one. */
  cert_common_name?: string;
}

export interface ClientDisconnected extends Base {
  event: 'client.disconnected';
  reason: DisconnectReason;
  /** When this connection started (ms); 0 when unknown (a gateway restart found it online). */
  connected_at: number;
  /** How long the connection lasted (ms). */
  duration_ms: number;
}

export interface ClientConnack extends Base {
  event: 'client.connack';
  /** Why the connection was refused (e.g. not_authorized, bad_username_or_password, client_id_not_allowed). */
  reason: string;
  /** The authentication layer's own reason (e.g. bad-password, token-expired, client-id-mismatch), when it refused. */
  detail?: string;
  ip: string;
}

export interface SessionSubscribed extends Base {
  event: 'session.subscribed';
  filter: string;
  qos: number;
  /** Granted QoS, or 128 when refused. */
  granted: number;
}

export interface SessionUnsubscribed extends Base {
  event: 'session.unsubscribed';
  filter: string;
}

interface CommandBase extends Base {
  /** The command's id (Kafka header `command.id`, else `<topic>/<partition>/<offset>` of its record). */
  command_id: string;
  topic: string;
  qos: number;
}

export interface MessageDelivered extends CommandBase {
  event: 'message.delivered';
}

export interface MessageAcked extends CommandBase {
  event: 'message.acked';
  /** From the command's arrival at the gateway to the device's acknowledgement (ms). */
  latency_ms: number;
}

export interface MessageDropped extends CommandBase {
  event: 'message.dropped';
  reason: DropReason;
}

export type GatewayEvent =
  | ClientConnected
  | ClientDisconnected
  | ClientConnack
  | SessionSubscribed
  | SessionUnsubscribed
  | MessageDelivered
  | MessageAcked
  | MessageDropped;

export type GatewayEventName = GatewayEvent['event'];

/** Takes events raised anywhere in the gateway (the event publisher implements it). */
export interface EventRecorder {
  record(event: GatewayEvent): void;
}

/** The in-process topic of an event for flows: `client.disconnected` -> `$events/client_disconnected`. */
export function eventTopic(name: GatewayEventName): string {
  return `$events/${name.replace('.', '_')}`;
}
