// Offline queues are bounded per session: an abandoned persistent `#` session keeps only the newest messages, every
// drop is counted, and a device whose own session stays within the bound gets all of its messages — over real TCP to
// the real gateway process, and still after a SIGKILL.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await GatewayProcess.create({
    env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1', GATEWAY_SECURITY_LIMITS_OFFLINE_QUEUE_MAX_MESSAGES: '50' },
  });
  await gw.start();
});
afterAll(async () => {
  await gw?.close();
});

function collect(c: MqttClient): string[] {
  const got: string[] = [];
  c.on('message', (_t, p) => got.push(p.toString()));
  return got;
}

it('an abandoned # session keeps the newest 50; a device with its own session gets all its commands', async () => {
  const opts = { reconnectPeriod: 0, clean: false } as const;
  const abandoned = await mqtt.connectAsync(gw.url, { ...opts, clientId: 'abandoned' });
  await abandoned.subscribeAsync('#', { qos: 1 });
  await abandoned.endAsync();
  const device = await mqtt.connectAsync(gw.url, { ...opts, clientId: 'sensor-1' });
  await device.subscribeAsync('devices/sensor-1/command', { qos: 1 });
  await device.endAsync();

  const pub = await mqtt.connectAsync(gw.url, { clientId: 'publisher', reconnectPeriod: 0 });
  for (let i = 0; i < 5; i++) await pub.publishAsync('devices/sensor-1/command', `c${i}`, { qos: 1 });
  // Every publish is still acknowledged while the abandoned session overflows.
  for (let i = 0; i < 200; i++) await pub.publishAsync('devices/pub/state', `s${i}`, { qos: 1 });
  await pub.endAsync();

  // 205 for the abandoned session, 50 kept; 5 for the device.
  await expect.poll(() => gw.metric('gateway_offline_queue_dropped_total', { reason: 'count' })).toBe(155);
  expect(await gw.metric('gateway_offline_queue_messages')).toBe(55);
  expect(await gw.metric('gateway_offline_queue_sessions')).toBe(2);
  expect(await gw.metric('gateway_offline_queue_bytes')).toBeGreaterThan(0);
  expect((await gw.health()).broker).toMatchObject({ offlineQueue: { messages: 55, sessions: 2 } });

  // The bound survives a crash: the queues are rebuilt from the store.
  await gw.kill('SIGKILL');
  await gw.start();
  expect(await gw.metric('gateway_offline_queue_messages')).toBe(55);

  const back = await mqtt.connectAsync(gw.url, { ...opts, clientId: 'sensor-1' });
  const commands = collect(back);
  await expect.poll(() => commands).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
  await back.endAsync();

  const returned = await mqtt.connectAsync(gw.url, { ...opts, clientId: 'abandoned' });
  const got = collect(returned);
  const newest = Array.from({ length: 50 }, (_, i) => `s${150 + i}`);
  await expect.poll(() => got).toEqual(newest);
  await returned.endAsync();
  await expect.poll(() => gw.metric('gateway_offline_queue_messages')).toBe(0);
});
