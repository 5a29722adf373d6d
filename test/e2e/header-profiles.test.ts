// kafka.headers, end to end: the gateway runs as a child process, devices publish QoS 1 through MQTT, and the records
// read back from Kafka by kcat (a third-party client) carry exactly the headers of the profile — and every
// acknowledged message is there once, in order per device, whatever the profile.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { runPublish } from '../../device-sim/commands/publish.ts';
import { runVerify } from '../../device-sim/commands/verify.ts';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { kcatRead } from '../harness/kcat.ts';
import { waitFor } from '../harness/wait.ts';

const gateways: GatewayProcess[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
});

const FULL = [
  'device.seq',
  'gateway.id',
  'gateway.msg_id',
  'gateway.seq',
  'ingest.ts',
  'mqtt.client_id',
  'mqtt.qos',
  'mqtt.topic',
];
const EXPECTED: Record<string, string[]> = { full: FULL, compact: ['gateway.msg_id', 'mqtt.topic'], none: [] };

describe.each([
  ['full', 'platformatic'],
  ['compact', 'platformatic'],
  ['none', 'platformatic'],
  ['compact', 'kafkajs'],
])('kafka.headers %s with the %s sink', (profile, sink) => {
  it('every record in Kafka has exactly the headers of the profile', async () => {
    const brokers = inject('kafkaBrokers');
    const topic = `e2e.headers.${profile}.${sink}.${randomBytes(4).toString('hex')}`;
    const gw = await GatewayProcess.create({
      env: {
        GATEWAY_GATEWAY_ID: 'gw-headers',
        GATEWAY_KAFKA_BROKERS: brokers.join(','),
        GATEWAY_KAFKA_CLIENT: sink,
        GATEWAY_KAFKA_HEADERS: profile,
        GATEWAY_ROUTES: JSON.stringify([{ name: 'all', filter: 'devices/#', topic }]),
      },
    });
    gateways.push(gw);
    await gw.start();
    const prefix = `hdr-${profile}-${sink}`;
    const ledger = await runPublish({
      url: gw.url,
      clients: 4,
      count: 100,
      qos: 1,
      topic: 'devices/{id}/telemetry',
      prefix,
      size: 64,
      inflight: 10,
      quiet: true,
    });
    // Drained first: the topic exists (created by the first send) before an independent reader asks for it.
    await waitFor('backlog to drain', async () => (await gw.metric('gateway_backlog_records')) === 0, 60_000);
    const report = await runVerify({ ledger, brokers, topics: [topic], idleTimeoutMs: 30_000 });
    expect(report.totals.expected).toBe(400);
    expect(report.totals.lost).toBe(0);
    expect(report.totals.outOfOrder).toBe(0);

    const records = kcatRead(brokers, topic);
    expect(records.length).toBeGreaterThanOrEqual(400);
    const want = EXPECTED[profile];
    const shapes = new Set(records.map((r) => Object.keys(r.headers).sort().join(',')));
    expect([...shapes]).toEqual([want?.join(',')]);
    if (profile === 'none') return;
    // The id consumers drop duplicates by: unique per record, `<gateway.id>-<epoch>-<gateway.seq>`.
    const ids = records.map((r) => r.headers['gateway.msg_id'] as string);
    for (const id of ids) expect(id).toMatch(/^gw-headers-[0-9a-f]{12}-\d+$/);
    expect(new Set(ids).size).toBe(records.length - report.totals.duplicates);
    for (const r of records) expect(r.headers['mqtt.topic']).toBe(`devices/${r.key}/telemetry`);
  });
});
