// Kafka stopped for 30 s mid-stream, then restarted: nothing acknowledged is lost, and the metrics show the backlog
// rise while the link is down and drain after it comes back (issue 2, proof 2).
import { randomBytes } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { runPublish } from '../../device-sim/commands/publish.ts';
import { runVerify } from '../../device-sim/commands/verify.ts';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { LocalKafka } from '../harness/kafka.ts';
import { waitFor } from '../harness/wait.ts';

let kafka: LocalKafka | undefined;
let gw: GatewayProcess | undefined;
afterAll(async () => {
  await gw?.close();
  await kafka?.close();
});

it('buffers through a 30 s Kafka outage and drains after it', async () => {
  kafka = await LocalKafka.start();
  const topic = `e2e.outage.${randomBytes(4).toString('hex')}`;
  gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: kafka.brokers.join(','),
      GATEWAY_KAFKA_RETRY_MAX_MS: '2000',
      GATEWAY_ROUTES: JSON.stringify([{ filter: 'devices/#', topic }]),
    },
  });
  await gw.start();
  const g = gw;
  const publishing = runPublish({
    url: g.url,
    clients: 10,
    count: 4000,
    qos: 1,
    topic: 'devices/{id}/telemetry',
    prefix: 'outage',
    size: 256,
    rate: 800,
    inflight: 10,
    quiet: true,
  });
  await waitFor('first records forwarded', async () => (await g.metric('gateway_forwarded_records_total')) > 1000);
  await kafka.stop();
  const downAt = Date.now();
  let peak = 0;
  let sawDown = false;
  // Keep Kafka down for 30 s, sampling the backlog and the link state each second meanwhile.
  await waitFor(
    '30 s of outage',
    async () => {
      peak = Math.max(peak, await g.metric('gateway_backlog_records'));
      const h = (await g.health()) as { kafka: { link: string } };
      if (h.kafka.link === 'down' && (await g.metric('gateway_kafka_connected')) === 0) sawDown = true;
      return Date.now() - downAt >= 30_000;
    },
    45_000,
    1000,
  );
  await kafka.restart();
  const ledger = await publishing;
  await waitFor('backlog drained', async () => (await g.metric('gateway_backlog_records')) === 0, 120_000);
  const h = (await g.health()) as { kafka: { link: string } };
  expect(h.kafka.link).toBe('up');
  console.log(`outage test: backlog peak ${peak} records while Kafka was down for 30 s`);
  expect(sawDown).toBe(true);
  expect(peak).toBeGreaterThan(10_000);
  expect(await g.metric('gateway_kafka_send_errors_total')).toBeGreaterThan(0);

  const report = await runVerify({ ledger, brokers: kafka.brokers, topics: [topic], idleTimeoutMs: 30_000 });
  expect(report.totals.expected).toBe(40_000);
  expect(report.totals.lost).toBe(0);
  expect(report.totals.outOfOrder).toBe(0);
});
