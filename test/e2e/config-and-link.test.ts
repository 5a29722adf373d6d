// Bad config exits non-zero with one line per problem naming the key; an unreachable Kafka at start does not stop
// the gateway: it accepts, buffers, and says the link is down (issue 2, proof 5).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { repoRoot } from '../harness/kafka.ts';
import { waitFor } from '../harness/wait.ts';

const gateways: GatewayProcess[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
});

it('bad config: exit code 2 and one line per problem, naming the key', () => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'app', 'main.ts')], {
    env: {
      ...process.env,
      GATEWAY_MQTT_PORT: 'abc',
      GATEWAY_STORE_DURABILITY: 'sometimes',
      GATEWAY_ROUTES: JSON.stringify([{ filter: 'a/#/b', topic: 'bad topic!' }]),
    },
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(r.status).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines.every((l) => l.startsWith('config error: '))).toBe(true);
  expect(r.stderr).toContain('GATEWAY_MQTT_PORT');
  expect(r.stderr).toContain('store.durability');
  expect(r.stderr).toContain('routes[0].filter');
  expect(r.stderr).toContain('routes[0].topic');
  expect(lines.length).toBeGreaterThanOrEqual(4);
});

it('Kafka unreachable at start: runs, acknowledges, buffers, health says link down', async () => {
  const gw = await GatewayProcess.create({ env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1' } });
  gateways.push(gw);
  await gw.start();
  const client = await mqtt.connectAsync(gw.url, { clientId: 'link-test', clean: true });
  for (let i = 0; i < 10; i++) await client.publishAsync('sensors/link-test/temp', JSON.stringify({ i }), { qos: 1 });
  await client.endAsync();
  await waitFor('link reported down', async () => {
    const h = (await gw.health()) as { kafka: { link: string } };
    return h.kafka.link === 'down';
  });
  const h = (await gw.health()) as {
    status: string;
    broker: { up: boolean };
    backlog: { classes: { default: { records: number } } };
  };
  expect(h.status).toBe('degraded');
  expect(h.broker.up).toBe(true);
  expect(h.backlog.classes.default.records).toBe(10);
  expect(await gw.metric('gateway_kafka_connected')).toBe(0);
  expect(await gw.metric('gateway_backlog_records', { class: 'default' })).toBe(10);
});
