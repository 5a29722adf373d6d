// The promise, end to end (README "The guarantee", points 1-4): the gateway runs as a child process, devices publish QoS 1
// through MQTT, and an independent Kafka reader (device-sim verify) checks every acknowledged message arrived once,
// in order per device — also when the gateway is SIGKILLed mid-stream.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { runPublish } from '../../device-sim/commands/publish.ts';
import { runVerify } from '../../device-sim/commands/verify.ts';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { waitFor } from '../harness/wait.ts';

const gateways: GatewayProcess[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
});

async function gateway(topic: string, sink: string, extra: Record<string, string> = {}): Promise<GatewayProcess> {
  const gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: inject('kafkaBrokers').join(','),
      GATEWAY_KAFKA_CLIENT: sink,
      GATEWAY_ROUTES: JSON.stringify([{ name: 'all', filter: 'devices/#', topic }]),
      ...extra,
    },
  });
  gateways.push(gw);
  await gw.start();
  return gw;
}

describe.each(['platformatic', 'kafkajs'])('store and forward with the %s sink', (sink) => {
  it('20 clients x 1,000 QoS 1 messages: each in Kafka once, in order per device', async () => {
    const topic = `e2e.spine.${sink}.${randomBytes(4).toString('hex')}`;
    const gw = await gateway(topic, sink);
    const ledger = await runPublish({
      url: gw.url,
      clients: 20,
      count: 1000,
      qos: 1,
      topic: 'devices/{id}/telemetry',
      prefix: `spine-${sink}`,
      size: 256,
      inflight: 20,
      quiet: true,
    });
    const report = await runVerify({ ledger, brokers: inject('kafkaBrokers'), topics: [topic], idleTimeoutMs: 30_000 });
    expect(report.totals.expected).toBe(20_000);
    expect(report.totals.lost).toBe(0);
    expect(report.totals.duplicates).toBe(0);
    expect(report.totals.outOfOrder).toBe(0);
    expect(report.splitDevices).toEqual([]);
    await waitFor('backlog to drain', async () => (await gw.metric('gateway_backlog_records')) === 0, 30_000);
    expect(await gw.metric('gateway_forwarded_records_total')).toBeGreaterThanOrEqual(20_000);
  });
});

describe('gateway SIGKILLed mid-stream', () => {
  it('loses no acknowledged message over 3 kills; duplicates are counted', async () => {
    const topic = `e2e.kill.${randomBytes(4).toString('hex')}`;
    const gw = await gateway(topic, 'platformatic');
    const clients = 10;
    const inflight = 10;
    const publishing = runPublish({
      url: gw.url,
      clients,
      count: 1500,
      qos: 1,
      topic: 'devices/{id}/telemetry',
      prefix: 'kill',
      size: 256,
      rate: 2500,
      inflight,
      quiet: true,
      drainTimeoutMs: 60_000,
    });
    for (let k = 0; k < 3; k++) {
      // Kill while messages are flowing: 500 messages into this process's life (its counters start at 0).
      await waitFor('messages flowing', async () => {
        return (await gw.metric('gateway_ingress_messages_total').catch(() => 0)) > 500;
      });
      await gw.kill('SIGKILL');
      await gw.start();
    }
    const ledger = await publishing;
    const report = await runVerify({ ledger, brokers: inject('kafkaBrokers'), topics: [topic], idleTimeoutMs: 30_000 });
    const acked = report.totals.expected;
    console.log(
      `kill test: acked ${acked}, found ${report.totals.found}, lost ${report.totals.lost}, ` +
        `duplicates ${report.totals.duplicates} (new id: ${report.totals.duplicatesNewId}), extra ${report.totals.extra}`,
    );
    expect(gw.starts).toBe(4);
    expect(acked).toBeGreaterThan(10_000);
    expect(report.totals.lost).toBe(0);
    expect(report.totals.outOfOrder).toBe(0);
    // A duplicate with a new id can only be a device's resend of a message whose PUBACK the kill cut off:
    // at most the in-flight window of every client, per kill.
    expect(report.totals.duplicatesNewId).toBeLessThanOrEqual(3 * clients * inflight);
  });
});
