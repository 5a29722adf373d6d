// With Kafka away, one device filling a `reject` class stops at its share: its publishes are no longer acknowledged
// while another device still gets its PUBACKs (against the real gateway process). With the share off (1) the same
// device fills the class and the other device is refused too: the fault the share prevents.
import mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Publishes 1 KB QoS 1 messages as `noisy` until one is not acknowledged; returns how many were. */
async function fill(gw: GatewayProcess): Promise<number> {
  const noisy = await mqtt.connectAsync(gw.url, { clientId: 'noisy', reconnectPeriod: 0 });
  cleanup.push(() => noisy.endAsync(true));
  const closed = new Promise<'closed'>((resolve) => noisy.once('close', () => resolve('closed')));
  let acked = 0;
  for (let i = 0; i < 1000; i++) {
    const r = await Promise.race([noisy.publishAsync('devices/noisy/t', Buffer.alloc(1000, 1), { qos: 1 }), closed]);
    if (r === 'closed') break;
    acked++;
  }
  return acked;
}

/** Whether `lock-2`'s QoS 1 publish is acknowledged. */
async function otherAcked(gw: GatewayProcess): Promise<boolean> {
  const c = await mqtt.connectAsync(gw.url, { clientId: 'lock-2', reconnectPeriod: 0 });
  cleanup.push(() => c.endAsync(true));
  const closed = new Promise<false>((resolve) => c.once('close', () => resolve(false)));
  return Promise.race([
    c.publishAsync('devices/lock-2/state', Buffer.alloc(1000, 2), { qos: 1 }).then(() => true),
    closed,
  ]);
}

async function gateway(perDeviceShare: number): Promise<GatewayProcess> {
  const gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: '127.0.0.1:1',
      GATEWAY_FLOWS_ENABLED: 'false',
      GATEWAY_CLASSES: JSON.stringify({ default: { maxBytes: 200_000, policy: 'reject', perDeviceShare } }),
    },
  });
  cleanup.push(() => gw.close());
  await gw.start();
  return gw;
}

it('refuses the device over its share and still acknowledges another device', async () => {
  const gw = await gateway(0.5);
  const acked = await fill(gw);
  expect(acked).toBeGreaterThan(50);
  expect(acked).toBeLessThan(100); // about half of 200 KB in 1 KB records
  expect(await gw.metric('gateway_dropped_records_total', { reason: 'device_share' })).toBeGreaterThanOrEqual(1);
  expect(await otherAcked(gw)).toBe(true);
}, 60_000);

it('without a share one device fills the class and the other device is refused too', async () => {
  const gw = await gateway(1);
  expect(await fill(gw)).toBeGreaterThan(150);
  expect(await otherAcked(gw)).toBe(false);
}, 60_000);
