// biome-ignore-all lint/suspicious/noTemplateCurlyInString: key templates spell their placeholders as ${name}.
// The config sections of the box's edge (broker listeners, HTTP, store, storage classes, routes, adapters, security).
// The composition root (app/config/schema.ts) puts them together with the sections of flows/ and cloud-sync/.
// Secrets carry `writeOnly: true` (JSON Schema's marker for values that are never read back): redactConfig hides them.
import { type Static, Type } from '@sinclair/typebox';
import { AdaptersSchema } from '../adapters/schema.ts';
import { SecuritySchema } from '../security-schema.ts';
import { Millis, OneOf, Port, Section } from './schema-kit.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

export const MqttSchema = Section(
  {
    host: Type.String({
      default: 'auto',
      description:
        'Address the MQTT listeners bind to. `auto`: every address once authentication is configured (or `security.anonymous` is true), loopback only until then.',
    }),
    port: Port(1883, 'MQTT TCP port (0 = pick a free port).'),
    ws: Section({
      enabled: Type.Boolean({ default: true, description: 'Serve MQTT over WebSocket on the HTTP server.' }),
      path: Type.String({ default: '/mqtt', description: 'HTTP path of the MQTT WebSocket endpoint.' }),
    }),
    tls: Section({
      port: Port(8883, 'MQTT over TLS port (0 = pick a free port).'),
      cert: Type.String({
        default: '',
        description:
          'PEM server certificate: the text itself (starting with `-----BEGIN`, e.g. from a device variable) or a file path. The TLS listener runs when cert and key are both set.',
      }),
      key: Type.String({
        default: '',
        writeOnly: true,
        description: 'PEM private key (text or file path) of the server certificate (secret; never logged).',
      }),
      ca: Type.String({
        default: '',
        description: 'PEM CA bundle (text or file path) to require and verify client certificates.',
      }),
    }),
  },
  'MQTT broker listeners (authentication and authorization: the `security` section).',
);

export const HttpSchema = Section(
  {
    host: Type.String({
      default: 'auto',
      description:
        'Address the HTTP server (editor, metrics, health, MQTT over WebSocket) binds to. `auto`: as `mqtt.host`.',
    }),
    port: Port(1880, 'HTTP port (0 = pick a free port).'),
  },
  'HTTP server: Node-RED editor, metrics, health, status, MQTT over WebSocket.',
);

export const StoreSchema = Section(
  {
    durability: OneOf(['fsync', 'os'], {
      default: 'fsync',
      description:
        '`fsync`: a message is acknowledged after it is synced to disk (survives power loss). ' +
        '`os`: after it is written to the OS (survives a process crash only).',
    }),
    groupCommit: Section({
      maxRecords: Type.Integer({
        minimum: 1,
        default: 1024,
        description: 'Most records written by one group commit.',
      }),
      windowMs: Millis(0, '0 = commit on the next tick; >0 = wait up to that many ms to gather more records.'),
    }),
    compactAfterDeletes: Type.Integer({
      minimum: 0,
      default: 100000,
      description: 'Compact the database after this many deleted records (0 = never).',
    }),
    maxOpenFiles: Type.Integer({
      minimum: 74,
      maximum: 50000,
      default: 100,
      description:
        "Most files LevelDB keeps open (LevelDB's own limits: 74..50000). Each open table file stays mapped, so " +
        'this bounds the file descriptors and the mapped table pages counted in the RSS while a large backlog is ' +
        'read; LevelDB alone would keep up to 1000.',
    }),
  },
  'The durable store (one LevelDB under dataDir).',
);

export const ClassSchema = Type.Object(
  {
    maxBytes: Type.Integer({ minimum: 1, default: 1073741824, description: 'Disk budget of the class in bytes.' }),
    maxAgeSec: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'Drop records older than this (0 = no age limit).',
    }),
    policy: OneOf(['drop-oldest', 'reject'], {
      default: 'reject',
      description: 'When full: `drop-oldest` drops (and counts) the oldest records; `reject` stops acknowledging.',
    }),
    perDeviceShare: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.5,
      description:
        'Of a `reject` class: the fraction of maxBytes one device (client id) may hold. A device over its share is ' +
        'refused (not acknowledged) while the others are still admitted; 1 = no per-device limit.',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const DEFAULT_CLASS = { maxBytes: 1073741824, maxAgeSec: 0, policy: 'reject', perDeviceShare: 0.5 } as const;
/** The class of client and command events: its own budget, and never blocking device traffic (drop-oldest). */
export const EVENTS_CLASS = { maxBytes: 268435456, maxAgeSec: 0, policy: 'drop-oldest', perDeviceShare: 0.5 } as const;

export const RouteSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, description: 'Route name (in logs and metrics).' })),
    filter: Type.String({ description: 'MQTT topic filter; `+` and `#` wildcards allowed.' }),
    topic: Type.String({ description: 'Kafka topic (legal characters: a-z A-Z 0-9 . _ -; at most 249).' }),
    key: Type.String({
      default: '${clientid}',
      description: 'Kafka key template: ${clientid}, ${username}, ${topic}, ${topic.N} (Nth topic level from 0).',
    }),
    format: OneOf(['raw', 'envelope'], {
      default: 'raw',
      description: '`raw`: payload bytes unchanged; `envelope`: JSON with client id, topic, base64 payload, qos, ts.',
    }),
    class: Type.String({ default: 'default', description: 'Storage class (budget and policy) of the route.' }),
    minQos: OneOf([0, 1, 2], { default: 0, description: 'Only publishes with at least this QoS are routed.' }),
  },
  { additionalProperties: false },
);

export const IdentitySchema = Type.String({
  default: '',
  description:
    'Gateway id in record ids and headers. Empty: `BALENA_DEVICE_UUID` when set, else a random id created on the first start and kept in the store (never the hostname).',
});
export const DataDirSchema = Type.String({
  minLength: 1,
  default: './data',
  description: 'Directory of the durable store.',
});
export const LogSchema = Section({
  level: OneOf(LOG_LEVELS, { default: 'info', description: 'Log level.' }),
  pretty: OneOf(['auto', 'on', 'off'], {
    default: 'auto',
    description:
      'Log format on stdout: `off` JSON lines, `on` one coloured line per entry for a terminal (pino-pretty), `auto` pretty when stdout is a terminal and `CI` is unset. `--pretty` on the command line is `on`.',
  }),
});
export const ClassesSchema = Type.Record(Type.String({ minLength: 1 }), ClassSchema, {
  default: { default: DEFAULT_CLASS, events: EVENTS_CLASS },
  description:
    'Storage classes by name. A class named `default` always exists, and so does `events` (256 MB, `drop-oldest`: the client events, see `events`); configure either to change it.',
});
export const RoutesSchema = Type.Array(RouteSchema, {
  default: [
    {
      name: 'uplink',
      filter: '#',
      topic: 'edge.uplink',
      key: '${clientid}',
      format: 'raw',
      class: 'default',
      minQos: 0,
    },
  ],
  description: 'MQTT topic filter to Kafka topic routes. A message goes to every route it matches.',
});
export const EventsSchema = Section(
  {
    enabled: Type.Boolean({
      default: true,
      description:
        'Send client and command events (client.connected, client.disconnected, session.subscribed, ...) to Kafka as durable records (docs/events.md).',
    }),
    topic: Type.String({ default: 'edge.events', description: 'Kafka topic of the events (legal Kafka topic name).' }),
    topics: Type.Record(Type.String({ minLength: 1 }), Type.String(), {
      default: {},
      description:
        'Kafka topic per event name, overriding `topic` for that event, e.g. `client.disconnected: edge.disconnects`.',
    }),
    class: Type.String({
      default: 'events',
      description: 'Storage class (budget and policy) of the event records; `events` exists unless configured.',
    }),
  },
  'Client and command events as Kafka records, keyed by client id (docs/events.md).',
);
export { AdaptersSchema, SecuritySchema };

export type MqttConfig = Static<typeof MqttSchema>;
export type RouteConfig = Static<typeof RouteSchema>;
export type EventsConfig = Static<typeof EventsSchema>;
