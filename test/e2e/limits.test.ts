// Limits against the real gateway process: a 256 MB length claim before CONNECT closes the socket at once and the
// process does not grow; a publish over maxPacketBytes is neither acknowledged nor delivered; connections per address
// are capped; every refusal is counted, and a legitimate device keeps getting PUBACKs throughout.
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { waitFor } from '../harness/wait.ts';

let gw: GatewayProcess;
let device: MqttClient;
const clients: MqttClient[] = [];

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

function refusals(limit: string): Promise<number> {
  return gw.metric('gateway_limit_refusals_total', { limit });
}

/** A legitimate device's QoS 1 publish: resolves once the PUBACK came. */
function acked(n: number): Promise<void> {
  return device.publishAsync(`devices/lock-1/state`, JSON.stringify({ n }), { qos: 1 }).then(() => undefined);
}

function rawSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(gw.mqttPort, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

beforeAll(async () => {
  gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: '127.0.0.1:1',
      GATEWAY_SECURITY_LIMITS_MAX_CONNECTIONS_PER_ADDRESS: '6',
      GATEWAY_FLOWS_ENABLED: 'false',
    },
  });
  await gw.start();
  device = await mqtt.connectAsync(gw.url, { clientId: 'lock-1', reconnectPeriod: 0 });
  clients.push(device);
  await acked(0);
}, 90_000);

afterAll(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => {});
  await gw?.close();
});

it('closes a socket claiming a 256 MB packet before CONNECT at once; memory stays flat', async () => {
  const pid = gw.pid as number;
  const before = rssBytes(pid);
  const sockets: Socket[] = [];
  let closed = 0;
  for (let i = 0; i < 4; i++) {
    const s = await rawSocket();
    sockets.push(s);
    s.on('error', () => {});
    s.once('close', () => closed++);
    // CONNECT fixed header with remaining length 268,435,455 (the largest MQTT allows), then 8 MB of "body".
    s.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]));
    const body = Buffer.alloc(1 << 20, 0x41);
    for (let k = 0; k < 8 && !s.destroyed; k++) s.write(body);
  }
  await waitFor('refused sockets closed', () => closed === sockets.length, 5_000);
  expect(await refusals('packet_before_connect')).toBe(4);
  await acked(1);
  // 32 MB were sent; an unbounded parser would hold them. Allow for ordinary heap noise.
  const grown = rssBytes(pid) - before;
  expect(grown).toBeLessThan(16 * 1024 * 1024);
}, 30_000);

it('refuses a 2 MB publish after CONNECT, QoS 0 and 1: no PUBACK, not fanned out, counted', async () => {
  const watcher = await mqtt.connectAsync(gw.url, { clientId: 'watcher', reconnectPeriod: 0 });
  clients.push(watcher);
  const seen: number[] = [];
  watcher.on('message', (_t, p) => seen.push(p.length));
  await watcher.subscribeAsync('devices/big/#', { qos: 1 });
  // QoS 0 first: it has no acknowledgement to withhold, so only refusing the packet keeps it from the watcher.
  const big0 = await mqtt.connectAsync(gw.url, { clientId: 'big0', reconnectPeriod: 0 });
  clients.push(big0);
  const closed0 = new Promise<void>((resolve) => big0.stream.once('close', () => resolve()));
  big0.publish('devices/big/blob0', Buffer.alloc(2 * 1024 * 1024, 2), { qos: 0 });
  await closed0;
  const big = await mqtt.connectAsync(gw.url, { clientId: 'big', reconnectPeriod: 0 });
  clients.push(big);
  const closed = new Promise<void>((resolve) => big.stream.once('close', () => resolve()));
  let ackedBig = false;
  big.publish('devices/big/blob', Buffer.alloc(2 * 1024 * 1024, 1), { qos: 1 }, (err) => {
    if (!err) ackedBig = true;
  });
  await closed;
  await expect.poll(() => refusals('packet_size'), { timeout: 5_000 }).toBe(2);
  // A small publish after it still reaches the watcher: the big ones would have come first.
  await device.publishAsync('devices/big/after', 'x', { qos: 1 });
  await expect.poll(() => seen.length, { timeout: 5_000 }).toBe(1);
  expect(seen).toEqual([1]);
  expect(ackedBig).toBe(false);
  await acked(2);
}, 30_000);

it('caps connections per address, counts the refusal, and keeps serving the connected device', async () => {
  // lock-1 and watcher are connected (big0 and big were closed): 4 more reach the cap of 6, the next is refused.
  await waitFor('big disconnected', async () => ((await gw.health()).broker as { clients: number }).clients === 2);
  for (let i = 0; i < 4; i++) {
    clients.push(await mqtt.connectAsync(gw.url, { clientId: `extra-${i}`, reconnectPeriod: 0 }));
  }
  const before = await refusals('connections_per_address');
  const refused = mqtt.connect(gw.url, { clientId: 'one-too-many', reconnectPeriod: 0, connectTimeout: 5_000 });
  clients.push(refused);
  const outcome = await new Promise<string>((resolve) => {
    refused.once('connect', () => resolve('connected'));
    refused.once('close', () => resolve('closed'));
  });
  expect(outcome).toBe('closed');
  expect(await refusals('connections_per_address')).toBe(before + 1);
  await acked(3);
}, 30_000);
