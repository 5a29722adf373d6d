// Class budgets when Kafka is unreachable (issue 2, proof 4): `drop-oldest` keeps the newest records within the
// budget and counts each drop; `reject` stops acknowledging, so devices keep their data, and once Kafka is back
// every message a device got a PUBACK for reaches Kafka.
import { randomBytes } from 'node:crypto';
import { afterEach, expect, inject, it } from 'vitest';
import { runPublish } from '../../device-sim/commands/publish.ts';
import { runVerify } from '../../device-sim/commands/verify.ts';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { waitFor } from '../harness/wait.ts';

const gateways: GatewayProcess[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
});

const BUDGET = 200_000;

function budgetEnv(policy: string, brokers: string, topic: string): Record<string, string> {
  return {
    GATEWAY_KAFKA_BROKERS: brokers,
    GATEWAY_KAFKA_RETRY_MAX_MS: '1000',
    GATEWAY_CLASSES: JSON.stringify({ default: { maxBytes: BUDGET, maxAgeSec: 0, policy } }),
    GATEWAY_ROUTES: JSON.stringify([{ filter: 'devices/#', topic }]),
  };
}

it('drop-oldest: stays within budget, counts drops, acknowledges everything', async () => {
  const gw = await GatewayProcess.create({ env: budgetEnv('drop-oldest', '127.0.0.1:1', 'e2e.budget') });
  gateways.push(gw);
  await gw.start();
  const ledger = await runPublish({
    url: gw.url,
    clients: 5,
    count: 1000,
    qos: 1,
    topic: 'devices/{id}/t',
    prefix: 'drop',
    size: 256,
    inflight: 10,
    quiet: true,
  });
  const acked = Object.values(ledger.devices).reduce((n, d) => n + d.acked.reduce((a, [x, y]) => a + y - x + 1, 0), 0);
  expect(acked).toBe(5000);
  await waitFor(
    'budget applied',
    async () => (await gw.metric('gateway_backlog_bytes', { class: 'default' })) <= BUDGET,
  );
  const dropped = await gw.metric('gateway_dropped_records_total', { reason: 'budget' });
  const kept = await gw.metric('gateway_backlog_records', { class: 'default' });
  console.log(`drop-oldest: kept ${kept}, dropped ${dropped} (budget ${BUDGET} bytes)`);
  expect(dropped).toBeGreaterThan(0);
  expect(dropped + kept).toBe(5000);
  expect(((await gw.health()) as { status: string }).status).toBe('degraded');
});

it('reject: withholds acks when full; after Kafka returns every acked message is delivered', async () => {
  const topic = `e2e.reject.${randomBytes(4).toString('hex')}`;
  const down = await GatewayProcess.create({ env: budgetEnv('reject', '127.0.0.1:1', topic) });
  gateways.push(down);
  await down.start();
  const first = await runPublish({
    url: down.url,
    clients: 5,
    count: 1000,
    qos: 1,
    topic: 'devices/{id}/t',
    prefix: 'reject',
    size: 256,
    inflight: 5,
    quiet: true,
    drainTimeoutMs: 3000,
    connectTimeoutMs: 2000,
    // Once the budget is full the gateway acknowledges nothing more: stop trying after a while.
    signal: AbortSignal.timeout(15_000),
  });
  const ackedFirst = Object.values(first.devices).reduce(
    (n, d) => n + d.acked.reduce((a, [x, y]) => a + y - x + 1, 0),
    0,
  );
  const refused = await down.metric('gateway_ingress_refused_total', { reason: 'GW_ERR_BUFFER_FULL' });
  console.log(`reject: acked ${ackedFirst} of 5000 before the budget was full; refused ${refused} publishes`);
  expect(ackedFirst).toBeGreaterThan(0);
  expect(ackedFirst).toBeLessThan(5000);
  expect(refused).toBeGreaterThan(0);
  expect(await down.metric('gateway_backlog_bytes', { class: 'default' })).toBeLessThanOrEqual(BUDGET);
  expect(await down.metric('gateway_dropped_records_total', { reason: 'budget' })).toBe(0);

  // The same data dir, now with Kafka reachable: the buffered records drain and nothing acked is missing.
  await down.stop();
  const up = await GatewayProcess.create({
    dataDir: down.dataDir,
    env: budgetEnv('reject', inject('kafkaBrokers').join(','), topic),
  });
  await up.start();
  gateways.unshift(up);
  await waitFor('backlog drained', async () => (await up.metric('gateway_backlog_records')) === 0);
  const report = await runVerify({
    ledger: first,
    brokers: inject('kafkaBrokers'),
    topics: [topic],
    idleTimeoutMs: 20_000,
  });
  expect(report.totals.lost).toBe(0);
  expect(report.totals.found).toBe(ackedFirst);
});
