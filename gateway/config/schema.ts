// biome-ignore-all lint/suspicious/noTemplateCurlyInString: key templates spell their placeholders as ${name}.
// The gateway's one config schema: it gives the TypeScript type, the defaults, the validation and (walked by env.ts)
// the GATEWAY_* environment mapping. Every leaf has a description; docs.ts turns them into docs/configuration.md.
// Secrets carry `writeOnly: true` (JSON Schema's marker for values that are never read back): redactConfig hides them.
import { type Static, type TLiteral, type TSchema, type TUnion, Type } from '@sinclair/typebox';
import { FlowsSchema } from '../../flows/schema.ts';
import { AdaptersSchema } from '../adapters/schema.ts';
import { SecuritySchema } from '../security-schema.ts';

type Literals<T extends readonly (string | number)[]> = T extends readonly [
  infer H extends string | number,
  ...infer R extends readonly (string | number)[],
]
  ? [TLiteral<H>, ...Literals<R>]
  : [];

/** An enum as a union of literals, so the static type is `'a' | 'b'` and errors can list the choices. */
function OneOf<const T extends readonly (string | number)[]>(
  values: T,
  options: { default: T[number]; description: string },
): TUnion<Literals<T>> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as never;
}

/** An object section whose missing keys all take their defaults. */
function Section<T extends Record<string, TSchema>>(properties: T, description?: string) {
  return Type.Object(properties, { additionalProperties: false, default: {}, ...(description ? { description } : {}) });
}

const Port = (def: number, description: string) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: def, description });

const Millis = (def: number, description: string) => Type.Integer({ minimum: 0, default: def, description });

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

const MqttSchema = Section(
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

const HttpSchema = Section(
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

const KafkaSchema = Section(
  {
    brokers: Type.Array(Type.String(), {
      default: ['127.0.0.1:9092'],
      description:
        'Bootstrap brokers, each `host:port`. Empty (`GATEWAY_KAFKA_BROKERS=`): not configured — records are kept on disk within their budgets, health says so (not an outage).',
    }),
    client: OneOf(['platformatic', 'kafkajs'], { default: 'platformatic', description: 'Kafka client library.' }),
    clientId: Type.String({ minLength: 1, default: 'edge-gateway', description: 'Kafka client id.' }),
    compression: OneOf(['none', 'gzip', 'snappy', 'lz4', 'zstd'], {
      default: 'none',
      description: 'Compression codec of produced batches.',
    }),
    batch: Section({
      maxRecords: Type.Integer({ minimum: 1, default: 2000, description: 'Most records in one produce request.' }),
      maxBytes: Type.Integer({
        minimum: 1,
        default: 524288,
        description:
          "Most stored bytes in one produce request. Kept well under the broker's message.max.bytes (1 MB by default), which also counts headers, since one device's records share one partition batch.",
      }),
      lingerMs: Millis(5, 'How long to wait for more records before sending a batch that is not full.'),
    }),
    retry: Section({
      initialMs: Type.Integer({ minimum: 1, default: 200, description: 'First backoff after a failed send.' }),
      maxMs: Type.Integer({ minimum: 1, default: 30000, description: 'Longest backoff between retries.' }),
    }),
    requestTimeoutMs: Type.Integer({ minimum: 1, default: 30000, description: 'Timeout of one Kafka request.' }),
    maxRecordBytes: Type.Integer({
      minimum: 1024,
      default: 1000000,
      description:
        'Largest payload the gateway accepts for Kafka; a bigger publish is refused (not acknowledged) and counted, since the broker (message.max.bytes) would never take it.',
    }),
    ssl: Type.Boolean({ default: false, description: 'Same as `kafka.tls.enabled: true` (the older spelling).' }),
    tls: Section({
      enabled: Type.Boolean({
        default: false,
        description:
          'Connect to the brokers over TLS, verifying their certificates (against `ca`, or the system CAs). On by itself when `ca` or `cert` is set.',
      }),
      ca: Type.String({
        default: '',
        description: "PEM CA bundle (the text itself, or a file path) to verify the brokers with: the plant's own CA.",
      }),
      cert: Type.String({
        default: '',
        description: 'PEM client certificate (text or file path) for mutual TLS; needs `key`.',
      }),
      key: Type.String({
        default: '',
        writeOnly: true,
        description: 'PEM private key (text or file path) of the client certificate (secret; never logged).',
      }),
    }),
    sasl: Section({
      mechanism: OneOf(['none', 'plain', 'scram-sha-256', 'scram-sha-512'], {
        default: 'none',
        description: 'SASL mechanism (`none` = no SASL).',
      }),
      username: Type.String({ default: '', description: 'SASL username.' }),
      password: Type.String({ default: '', writeOnly: true, description: 'SASL password (secret; never logged).' }),
    }),
  },
  'Kafka producer (the forwarder) and connection.',
);

const StoreSchema = Section(
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

const DownlinkSchema = Section(
  {
    enabled: Type.Boolean({ default: false, description: 'Consume cloud commands from Kafka and publish to devices.' }),
    topics: Type.Array(Type.String(), { default: ['edge.commands'], description: 'Kafka topics with commands.' }),
    groupId: Type.String({ minLength: 1, default: 'edge-gateway-downlink', description: 'Kafka consumer group id.' }),
    mqttTopic: Type.String({
      minLength: 1,
      default: 'devices/${key}/command',
      description:
        'MQTT topic a command is published on when its record has no `mqtt.topic` header; ${key} is the record key.',
    }),
    qos: OneOf([0, 1, 2], { default: 1, description: 'QoS of commands published to devices.' }),
  },
  'Cloud-to-device commands: records from Kafka published to devices over MQTT.',
);

export const GatewayConfigSchema = Type.Object(
  {
    gatewayId: Type.String({
      default: '',
      description:
        'Gateway id in record ids and headers. Empty: `BALENA_DEVICE_UUID` when set, else a random id created on the first start and kept in the store (never the hostname).',
    }),
    dataDir: Type.String({ minLength: 1, default: './data', description: 'Directory of the durable store.' }),
    log: Section({ level: OneOf(LOG_LEVELS, { default: 'info', description: 'Log level.' }) }),
    mqtt: MqttSchema,
    http: HttpSchema,
    kafka: KafkaSchema,
    store: StoreSchema,
    classes: Type.Record(Type.String({ minLength: 1 }), ClassSchema, {
      default: { default: DEFAULT_CLASS },
      description: 'Storage classes by name. A class named `default` always exists.',
    }),
    routes: Type.Array(RouteSchema, {
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
    }),
    downlink: DownlinkSchema,
    adapters: AdaptersSchema,
    flows: FlowsSchema,
    security: SecuritySchema,
  },
  { additionalProperties: false },
);

export type GatewayConfig = Static<typeof GatewayConfigSchema>;
export type RouteConfig = Static<typeof RouteSchema>;
export type ClassConfig = Static<typeof ClassSchema>;
export type LogLevel = (typeof LOG_LEVELS)[number];
