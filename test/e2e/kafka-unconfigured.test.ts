// A box deployed before its Kafka address is known (GATEWAY_KAFKA_BROKERS empty, as the image ships): it accepts and
// buffers, and health and metrics say "not configured" rather than reporting an outage.
import mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { waitFor } from '../harness/wait.ts';

const gateways: GatewayProcess[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
});

it('no brokers: acknowledged and buffered, health ok with kafka not configured', async () => {
  const gw = await GatewayProcess.create({ env: { GATEWAY_KAFKA_BROKERS: '', GATEWAY_FLOWS_ENABLED: 'false' } });
  gateways.push(gw);
  await gw.start();
  const c = await mqtt.connectAsync(gw.url, { clientId: 'lock-1', clean: true });
  await c.publishAsync('devices/lock-1/state', '{"locked":true}', { qos: 1 });
  await c.endAsync();
  await waitFor(
    'the record on disk',
    async () => (await gw.metric('gateway_backlog_records', { class: 'default' })) === 1,
  );
  const h = (await gw.health()) as { status: string; kafka: { configured: boolean; link: string } };
  expect(h.status).toBe('ok');
  expect(h.kafka).toMatchObject({ configured: false, link: 'not_configured' });
  expect(await gw.metric('gateway_kafka_configured')).toBe(0);
  expect(gw.output).toContain('kafka.brokers is empty');
});
