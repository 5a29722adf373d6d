// Raw KafkaSink throughput, no store: the ceiling the forwarder can reach on this machine and broker.
// usage: node bench/sink-raw.ts [platformatic|kafkajs] [records] [batch]   (HEADERS8=1: the gateway's 8 headers)
import { pino } from 'pino';
import { createSink, type SinkName, type SinkRecord } from '../cloud-sync/sinks/index.ts';
import { LocalKafka } from '../test/harness/kafka.ts';

const name = (process.argv[2] ?? 'platformatic') as SinkName;
const total = Number(process.argv[3] ?? 100_000);
const batchSize = Number(process.argv[4] ?? 2000);
const kafka = process.env.KAFKA_BROKERS ? undefined : await LocalKafka.start();
const brokers = process.env.KAFKA_BROKERS?.split(',') ?? kafka?.brokers ?? [];
const sink = await createSink(name, {
  brokers,
  clientId: 'raw',
  compression: 'none',
  requestTimeoutMs: 30_000,
  tls: undefined,
  sasl: undefined,
  log: pino({ level: 'silent' }),
});
await sink.connect();
const topic = `raw.${name}.${Date.now()}`;
const payload = Buffer.alloc(256, 120);
const batch = (n: number): SinkRecord[] =>
  Array.from({ length: n }, (_, i) => ({
    topic,
    key: Buffer.from(`dev-${i % 100}`),
    value: payload,
    headers: (process.env.HEADERS8
      ? {
          'mqtt.topic': Buffer.from(`devices/dev-${i % 100}/telemetry`),
          'mqtt.client_id': Buffer.from(`dev-${i % 100}`),
          'mqtt.qos': Buffer.from('1'),
          'gateway.id': Buffer.from('gw'),
          'gateway.seq': Buffer.from(String(i)),
          'gateway.msg_id': Buffer.from(`gw-${i}`),
          'device.seq': Buffer.from(String(i)),
          'ingest.ts': Buffer.from(String(Date.now())),
        }
      : { 'gateway.msg_id': Buffer.from(`gw-${i}`), 'device.seq': Buffer.from(String(i)) }) as Record<string, Buffer>,
  }));
await sink.send(batch(1));
const t0 = performance.now();
for (let sent = 0; sent < total; sent += batchSize) await sink.send(batch(batchSize));
const secs = (performance.now() - t0) / 1000;
console.log(`${name}: ${total} records in batches of ${batchSize}: ${Math.round(total / secs)} msg/s`);
await sink.close();
await kafka?.close();
