// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the downlink topic template spells its placeholder as ${key}.
// The config sections of cloud-sync/: the Kafka connection and producer, and the downlink (commands from Kafka).
import { Type } from '@sinclair/typebox';
import { Millis, OneOf, Section } from '../gateway/config/schema-kit.ts';

export const KafkaSchema = Section(
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
    headers: OneOf(['full', 'compact', 'none'], {
      default: 'full',
      description:
        'Kafka headers on each record: `full` all 8 (docs/records.md); `compact` only `gateway.msg_id` (consumers still drop duplicates by it) and `mqtt.topic`; `none` no headers (nothing to drop duplicates by). Fewer headers: fewer bytes per record, a faster drain.',
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
    stallTimeoutMs: Type.Integer({
      minimum: 1000,
      default: 25000,
      description:
        'No answer from Kafka within this bound to a connect, a send with records waiting, or a canary: the link is `stalled` (even if the connection looks up: a silent blackhole, a broker that never answers a produce), counted, logged once, and the producer recycled; the records in flight are sent again from disk.',
    }),
    canary: Section({
      intervalMs: Millis(
        15000,
        'While no records flow, a metadata round trip to Kafka this often, timed (`gateway_kafka_canary_seconds`) and bounded by `stallTimeoutMs`, so an idle link that stopped answering is found before data waits on it. 0: off.',
      ),
    }),
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

export const DownlinkSchema = Section(
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
    ttlSec: Type.Integer({
      minimum: 0,
      default: 0,
      description:
        'How long a command without a `command.ttl_ms` or `command.expires_at` header may wait for its device, from its arrival at the gateway; an expired one is dropped, never delivered late. 0: no expiry of its own (the offline queue’s maxAgeSec still applies).',
    }),
  },
  'Cloud-to-device commands: records from Kafka published to devices over MQTT.',
);
