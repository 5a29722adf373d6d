// The gateway's identity end to end: the real gateway process with no gatewayId configured. Two data dirs on one host
// get different ids; a SIGKILL and restart keep id and epoch; a wiped data dir under a fixed balena UUID keeps the id
// but gets a new epoch, so the record with gateway.seq 1 after the wipe has another gateway.msg_id than the one
// before (checked in Kafka with kcat, an independent client).
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, expect, inject, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { kcatRead } from '../harness/kcat.ts';
import { waitFor } from '../harness/wait.ts';

const gateways: GatewayProcess[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
});

async function gateway(env: Record<string, string>, topic = 'e2e.identity.unused'): Promise<GatewayProcess> {
  const gw = await GatewayProcess.create({
    env: {
      GATEWAY_GATEWAY_ID: '',
      BALENA_DEVICE_UUID: '',
      GATEWAY_KAFKA_BROKERS: inject('kafkaBrokers').join(','),
      GATEWAY_FLOWS_ENABLED: 'false',
      GATEWAY_ROUTES: JSON.stringify([{ filter: 'devices/#', topic }]),
      ...env,
    },
  });
  gateways.push(gw);
  await gw.start();
  return gw;
}

const idOf = async (gw: GatewayProcess): Promise<string> => (await gw.health()).gatewayId as string;
const epochOf = (gw: GatewayProcess): string => {
  const ready = gw.output.split('\n').filter((l) => l.includes('"gateway ready"'));
  return (JSON.parse(ready[ready.length - 1] as string) as { epoch: string }).epoch;
};

it('two data dirs get different generated ids, never the hostname; a killed and restarted gateway keeps its id', async () => {
  const a = await gateway({});
  const b = await gateway({});
  const idA = await idOf(a);
  expect(idA).toMatch(/^gw-[0-9a-f]{16}$/);
  expect(idA).not.toBe(await idOf(b));
  expect(idA).not.toBe(hostname());
  const epochA = epochOf(a);
  expect(epochA).not.toBe(epochOf(b));
  await a.restart(); // SIGKILL, then start on the same data dir
  expect(await idOf(a)).toBe(idA);
  expect(epochOf(a)).toBe(epochA);
});

it('a wiped data dir keeps the balena id but gets a new epoch: gateway.msg_id is not reused', async () => {
  const topic = `e2e.identity.${randomBytes(4).toString('hex')}`;
  const uuid = randomBytes(16).toString('hex');
  // No client events: they would take numbers of lock-9's device.seq and the gateway's sequence (docs/events.md).
  const gw = await gateway({ BALENA_DEVICE_UUID: uuid, GATEWAY_EVENTS_ENABLED: 'false' }, topic);
  const publishOne = async (n: number): Promise<void> => {
    const c = await mqtt.connectAsync(gw.url, { clientId: 'lock-9', clean: true });
    await c.publishAsync('devices/lock-9/state', JSON.stringify({ n }), { qos: 1 });
    await c.endAsync();
    await waitFor('record forwarded', async () => (await gw.metric('gateway_backlog_records')) === 0, 30_000);
  };
  expect(await idOf(gw)).toBe(uuid);
  await publishOne(1);
  await gw.kill();
  rmSync(join(gw.dataDir, 'data'), { recursive: true, force: true });
  await gw.start();
  expect(await idOf(gw)).toBe(uuid);
  await publishOne(2);
  let records = kcatRead(inject('kafkaBrokers'), topic);
  await waitFor('both records readable', () => {
    records = kcatRead(inject('kafkaBrokers'), topic);
    return records.length >= 2;
  });
  expect(records.map((r) => r.headers['gateway.seq'])).toEqual(['1', '1']);
  expect(records.map((r) => r.headers['device.seq'])).toEqual(['1', '1']);
  const ids = records.map((r) => r.headers['gateway.msg_id'] as string);
  expect(ids[0]).not.toBe(ids[1]);
  for (const id of ids) expect(id).toMatch(new RegExp(`^${uuid}-[0-9a-f]{12}-1$`));
});
