// Cloud-to-device commands: a record on the command topic reaches the device over MQTT, also when the device was
// offline and the gateway was SIGKILLed in between (the command waits in the device's persistent session).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, expect, inject, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { waitFor } from '../harness/wait.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function produce(topic: string, key: string, value: string): void {
  const r = spawnSync('kcat', ['-P', '-b', inject('kafkaBrokers').join(','), '-t', topic, '-k', key], {
    input: value,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`kcat: ${r.stderr}`);
}

function nextMessage(client: MqttClient): Promise<{ topic: string; payload: string }> {
  return new Promise((resolve) =>
    client.once('message', (topic, payload) => resolve({ topic, payload: payload.toString() })),
  );
}

it('delivers cloud commands to online and offline devices', async () => {
  const topic = `e2e.commands.${randomBytes(4).toString('hex')}`;
  const gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: inject('kafkaBrokers').join(','),
      GATEWAY_DOWNLINK_ENABLED: 'true',
      GATEWAY_DOWNLINK_TOPICS: topic,
      GATEWAY_DOWNLINK_GROUP_ID: `g-${topic}`,
    },
  });
  cleanup.push(() => gw.close());
  await gw.start();
  await waitFor(
    'downlink up',
    async () => ((await gw.health()) as { downlink?: { state: string } }).downlink?.state === 'up',
  );

  const lock = await mqtt.connectAsync(gw.url, { clientId: 'lock-7', clean: false });
  await lock.subscribeAsync('devices/lock-7/command', { qos: 1 });
  const first = nextMessage(lock);
  produce(topic, 'lock-7', '{"cmd":"unlock","id":1}');
  expect(await first).toEqual({ topic: 'devices/lock-7/command', payload: '{"cmd":"unlock","id":1}' });

  // Offline device, then a gateway crash: the command waits in the session stored in LevelDB.
  await lock.endAsync();
  produce(topic, 'lock-7', '{"cmd":"lock","id":2}');
  await waitFor('command taken by the broker', async () => {
    const h = (await gw.health()) as { downlink?: { delivered: number } };
    return (h.downlink?.delivered ?? 0) >= 2;
  });
  await gw.kill('SIGKILL');
  await gw.start();
  const again = mqtt.connect(gw.url, { clientId: 'lock-7', clean: false });
  cleanup.push(() => again.endAsync());
  const second = await nextMessage(again);
  expect(second).toEqual({ topic: 'devices/lock-7/command', payload: '{"cmd":"lock","id":2}' });
});
