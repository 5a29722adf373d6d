// Raw KafkaSink throughput, no store: the ceiling the forwarder can reach on this machine and broker.
// usage: node bench/sink-raw.ts [platformatic|kafkajs] [records] [batch] [--headers gateway|two] [--devices 100]
//        [--json]
// --headers gateway: the 8 headers the forwarder sets on every record, with values of the same sizes (HEADERS8=1
// means the same); two (the default): gateway.msg_id and device.seq only. Records are keyed by client id, as the
// forwarder keys them. KAFKA_BROKERS=host:port,... uses that broker instead of starting one. --json prints one JSON
// line { sink, records, batch, headers, seconds, rate } instead of the sentence.
import { pino } from 'pino';
import { createSink, type SinkName } from '../cloud-sync/sinks/index.ts';
import { LocalKafka } from '../test/harness/kafka.ts';
import { arg, argString } from './lib/cli.ts';
import { type HeaderSet, recordFactory } from './lib/records.ts';

const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
const name = (positional[0] ?? 'platformatic') as SinkName;
const total = Number(positional[1] ?? 100_000);
const batchSize = Number(positional[2] ?? 2000);
const headers: HeaderSet = (argString('headers') ?? (process.env.HEADERS8 ? 'gateway' : 'two')) as HeaderSet;
if (headers !== 'gateway' && headers !== 'two') throw new Error(`--headers: gateway or two, not ${headers}`);
const devices = arg('devices', 100);
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
const topic = `raw.${name}.${headers}.${Date.now()}`;
const record = recordFactory({ topic, devices, payloadBytes: 256, headers });
// The topic's creation is not part of the measurement.
await sink.send([record(0)]);
const t0 = performance.now();
for (let sent = 0; sent < total; sent += batchSize) {
  const n = Math.min(batchSize, total - sent);
  await sink.send(Array.from({ length: n }, (_, i) => record(sent + i)));
}
const secs = (performance.now() - t0) / 1000;
const rate = total / secs;
if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ sink: name, records: total, batch: batchSize, headers, seconds: secs, rate }));
} else {
  console.log(`${name}: ${total} records in batches of ${batchSize}, ${headers} headers: ${Math.round(rate)} msg/s`);
}
await sink.close();
await kafka?.close();
