// A backlog over a thin uplink, with a real proxy: the real gateway sends to its own Kafka through Toxiproxy capped
// at 128 kbit/s, with the default `kafka.batch.maxBytes` (512 KiB). A batch of the whole backlog takes longer to
// cross than the stall bound: the forwarder must cut it until it crosses in time (a request that is only cut off
// and sent again, whole, never drains), and every acknowledged message must reach Kafka in order.
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import type { LocalKafka } from '../harness/kafka.ts';
import { kcatRead } from '../harness/kcat.ts';
import { startRelayedKafka } from '../harness/relayed-kafka.ts';
import { Toxiproxy } from '../harness/toxiproxy.ts';
import { waitFor } from '../harness/wait.ts';

const MESSAGES = 1000;
/** KB/s: 128 kbit/s. One record is about 300 bytes on the wire with the 8 headers: the backlog is ~20 s of link. */
const RATE_KB = 16;
/** The gateway's bound on Kafka's silence: shorter than the whole backlog takes to cross. */
const STALL_TIMEOUT_MS = 8000;

let kafka: LocalKafka | undefined;
let toxi: Toxiproxy | undefined;
let gw: GatewayProcess | undefined;
let kafkaProxyPort = 0;
let relayedPort = 0;
// The gateway reaches Kafka only through Toxiproxy (test/harness/relayed-kafka.ts); kcat reads directly.
beforeAll(async () => {
  ({ kafka, relayedPort, proxyPort: kafkaProxyPort } = await startRelayedKafka());
  toxi = await Toxiproxy.start();
}, 180_000);
afterAll(async () => {
  await gw?.close();
  await toxi?.close();
  await kafka?.close();
});

it('a backlog larger than the link carries within the stall bound drains, cut into batches that cross in time', async () => {
  const t = toxi as Toxiproxy;
  const topic = `e2e.thin.${randomBytes(4).toString('hex')}`;
  await t.proxy('kafka', relayedPort, kafkaProxyPort);
  await t.addToxic('kafka', 'thin', 'upstream', { type: 'bandwidth', attributes: { rate: RATE_KB } });
  const g = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: `127.0.0.1:${kafkaProxyPort}`,
      GATEWAY_KAFKA_STALL_TIMEOUT_MS: String(STALL_TIMEOUT_MS),
      GATEWAY_KAFKA_RETRY_MAX_MS: '2000',
      GATEWAY_FLOWS_ENABLED: 'false',
      GATEWAY_EVENTS_ENABLED: 'false',
      GATEWAY_ROUTES: JSON.stringify([{ filter: 'devices/#', topic }]),
    },
  });
  gw = g;
  await g.start();

  // The backlog: one device publishes its sequence at once (each QoS 1, acknowledged once stored).
  const dev = await mqtt.connectAsync(g.url, { clientId: 'truck-1', reconnectPeriod: 0 });
  const window = 32;
  for (let i = 0; i < MESSAGES; i += window) {
    const n = Math.min(window, MESSAGES - i);
    await Promise.all(
      Array.from({ length: n }, (_, k) =>
        dev.publishAsync('devices/truck-1/telemetry', JSON.stringify({ seq: i + k }), { qos: 1 }),
      ),
    );
  }
  await dev.endAsync();

  // Drains through the thin link. Cut-off requests sent again whole would never get there.
  await waitFor(
    'the backlog drained over the thin link',
    async () => (await g.metric('gateway_backlog_records')) === 0,
    180_000,
    500,
  );
  const stalls = await g.metric('gateway_kafka_stalls_total');
  const got = kcatRead((kafka as LocalKafka).brokers, topic);
  const seqs = got.map((r) => (JSON.parse(r.payload ?? '{}') as { seq: number }).seq);
  const first: number[] = [];
  const seen = new Set<number>();
  for (const s of seqs) {
    if (seen.has(s)) continue;
    seen.add(s);
    first.push(s);
  }
  console.log(
    `thin uplink ${RATE_KB} KB/s: ${MESSAGES} acknowledged, ${got.length} records in Kafka (${got.length - first.length} duplicates), stalls ${stalls}`,
  );
  // Every acknowledged message, first copies in order.
  expect(first).toEqual(Array.from({ length: MESSAGES }, (_, i) => i));
  // The whole backlog did not fit in one request within the bound: the drain went through at least one cut.
  expect(stalls).toBeGreaterThanOrEqual(1);
});
