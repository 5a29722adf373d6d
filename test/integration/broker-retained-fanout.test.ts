// Many devices publishing retained messages at the same moment: a subscriber that is already connected gets every one
// of them, over a real TCP socket to the real gateway process, for a QoS 0 and a QoS 1 subscription.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';

let gw: GatewayProcess;
beforeAll(async () => {
  // Kafka is not needed: retained publishes are acknowledged once they are in the outbox.
  gw = await GatewayProcess.create({ env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1' } });
  await gw.start();
});
afterAll(async () => {
  await gw?.close();
});

async function fanout(publishers: number, run: string): Promise<{ qos0: Set<string>; qos1: Set<string> }> {
  const filter = `fanout/${run}/+/status`;
  const got = { qos0: new Set<string>(), qos1: new Set<string>() };
  const subs: MqttClient[] = [];
  for (const qos of [0, 1] as const) {
    const sub = await mqtt.connectAsync(gw.url, { clientId: `sub-${run}-q${qos}`, reconnectPeriod: 0 });
    await sub.subscribeAsync(filter, { qos });
    sub.on('message', (_t, payload) => got[`qos${qos}`].add(payload.toString()));
    subs.push(sub);
  }
  const pubs = await Promise.all(
    Array.from({ length: publishers }, (_, i) =>
      mqtt.connectAsync(gw.url, { clientId: `pub-${run}-${i}`, reconnectPeriod: 0 }),
    ),
  );
  try {
    // All at once: one retained QoS 1 publish per device, acknowledged by the gateway.
    await Promise.all(
      pubs.map((p, i) => p.publishAsync(`fanout/${run}/${i}/status`, `m${i}`, { qos: 1, retain: true })),
    );
    const want = Array.from({ length: publishers }, (_, i) => `m${i}`).sort();
    await expect.poll(() => [...got.qos1].sort(), { timeout: 15_000 }).toEqual(want);
    await expect.poll(() => [...got.qos0].sort(), { timeout: 15_000 }).toEqual(want);
  } finally {
    await Promise.all([...pubs, ...subs].map((c) => c.endAsync()));
  }
  return got;
}

it('40 devices publish a retained QoS 1 message at once: a connected subscriber gets all 40', async () => {
  for (let round = 0; round < 3; round++) await fanout(40, `r40-${round}`);
});

it('120 devices publish a retained QoS 1 message at once: a connected subscriber gets all 120', async () => {
  for (let round = 0; round < 3; round++) await fanout(120, `r120-${round}`);
});
