// A persistent session that reconnects while messages for it keep arriving: aedes restores the session's
// subscriptions before it replays the stored queue, so a message queued in between reaches the device live and
// would come again from the replay. Within one connection a device must get each message once (a copy may come
// again only after a reconnect, for a message whose acknowledgement the broker had not processed).
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await GatewayProcess.create({ env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1' } });
  await gw.start();
});
afterAll(async () => {
  await gw?.close();
});

it('a device reconnecting while its messages arrive gets each once per connection', async () => {
  const opts = {
    reconnectPeriod: 0,
    clean: false,
    clientId: 'racer',
    // A will is stored at each connect, between the restore and the replay.
    will: { topic: 'devices/racer/state', payload: Buffer.from('gone'), qos: 1 as const, retain: false },
  };
  const first = await mqtt.connectAsync(gw.url, opts);
  await first.subscribeAsync('devices/racer/command', { qos: 1 });
  await first.endAsync();

  // 4 connections with 25 publishes in flight each: several arrive in the milliseconds between the restore and the
  // replay.
  const pubs = await Promise.all(
    [1, 2, 3, 4].map((n) => mqtt.connectAsync(gw.url, { clientId: `racer-pub-${n}`, reconnectPeriod: 0 })),
  );
  let sent = 0;
  let publishing = true;
  const publisher = Promise.all(
    pubs.flatMap((pub) =>
      Array.from({ length: 25 }, async () => {
        while (publishing && sent < 100_000) {
          await pub.publishAsync('devices/racer/command', String(sent++), { qos: 1 });
        }
      }),
    ),
  );

  const twice: string[] = [];
  const seen = new Set<string>();
  for (let cycle = 0; cycle < 80; cycle++) {
    const inThis = new Set<string>();
    const dev = mqtt.connect(gw.url, opts);
    dev.on('message', (_t, p) => {
      const m = p.toString();
      if (inThis.has(m)) twice.push(`cycle ${cycle}: ${m}`);
      inThis.add(m);
      seen.add(m);
    });
    await new Promise<void>((resolve, reject) => {
      dev.once('connect', () => resolve());
      dev.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, 5 + (cycle % 7) * 3));
    await dev.endAsync();
  }
  publishing = false;
  await publisher;
  await Promise.all(pubs.map((p) => p.endAsync()));
  expect(sent).toBeGreaterThan(0);
  expect(seen.size).toBeGreaterThan(0);
  console.log(`sent ${sent} seen ${seen.size}`);
  expect(twice).toEqual([]);
}, 120_000);
