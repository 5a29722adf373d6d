// The device registry against the real gateway process and real MQTT clients: two devices connect and publish, one
// disconnects; GET /api/devices shows their online states, counts and last addresses, paged and filtered, behind the
// HTTP token; after a SIGKILL and a restart the entries are still there (first seen kept) and the device that was
// online shows offline.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { waitFor } from '../harness/wait.ts';

const TOKEN = 'devices-token-0123456789';
let gw: GatewayProcess;
const clients: MqttClient[] = [];

interface Device {
  clientId: string;
  firstSeen: number;
  lastSeen: number;
  online: boolean;
  address: string | null;
  username: string | null;
  connects: number;
  disconnects: number;
  lastDisconnectReason: string | null;
  messagesIn: number;
  commandsAcked: number;
}

interface Page {
  devices: Device[];
  next: string | null;
  total: number;
}

/** A GET with the bearer token (`null`: without one). */
async function get(path: string, token: string | null = TOKEN): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`http://127.0.0.1:${gw.httpPort}${path}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: r.status, body: await r.json() };
}

async function page(query = ''): Promise<Page> {
  const r = await get(`/api/devices${query}`);
  expect(r.status).toBe(200);
  return r.body as Page;
}

async function device(clientId: string): Promise<Device | undefined> {
  const r = await get(`/api/devices/${encodeURIComponent(clientId)}`);
  return r.status === 404 ? undefined : (r.body as Device);
}

async function connect(clientId: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(gw.url, { clientId, reconnectPeriod: 0, connectTimeout: 5_000, clean: true });
  clients.push(c);
  return c;
}

/** The local address the gateway sees for a TCP client. */
function localAddress(c: MqttClient): string {
  const s = c.stream as unknown as { localAddress: string; localPort: number };
  return `${s.localAddress}:${s.localPort}`;
}

async function publish(c: MqttClient, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await c.publishAsync(`devices/${c.options.clientId}/state`, `{"n":${i}}`, { qos: 1 });
}

beforeAll(async () => {
  gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: '127.0.0.1:1',
      GATEWAY_FLOWS_ENABLED: 'false',
      GATEWAY_SECURITY_HTTP_TOKEN: TOKEN,
    },
  });
  await gw.start();
}, 90_000);

afterAll(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => {});
  await gw?.close();
});

let before: Map<string, Device>;

it('shows the devices with their online states, counts and last addresses, behind the token', async () => {
  expect((await get('/api/devices', null)).status).toBe(401);
  expect((await get('/api/devices', 'wrong-token-0123456789xxx')).status).toBe(401);
  expect((await get('/api/devices/meter-1', null)).status).toBe(401);
  expect(await page()).toEqual({ devices: [], next: null, total: 0 });

  const meter = await connect('meter-1');
  const valve = await connect('valve/2');
  const meterAddress = localAddress(meter);
  const valveAddress = localAddress(valve);
  await publish(meter, 3);
  await publish(valve, 2);
  await valve.endAsync();

  await waitFor('valve/2 shown offline', async () => (await device('valve/2'))?.online === false, 20_000);
  const all = await page();
  expect(all.total).toBe(2);
  expect(all.next).toBeNull();
  expect(all.devices.map((d) => d.clientId)).toEqual(['meter-1', 'valve/2']);
  const [m, v] = all.devices as [Device, Device];
  expect(m).toMatchObject({ online: true, address: meterAddress, connects: 1, disconnects: 0, messagesIn: 3 });
  expect(v).toMatchObject({
    online: false,
    address: valveAddress,
    connects: 1,
    disconnects: 1,
    lastDisconnectReason: 'normal',
    messagesIn: 2,
  });
  expect(m.firstSeen).toBeGreaterThan(0);
  expect(v.lastSeen).toBeGreaterThanOrEqual(v.firstSeen);

  // Filter and paging.
  const online = await page('?online=true');
  expect(online.devices.map((d) => d.clientId)).toEqual(['meter-1']);
  expect(online.total).toBe(1);
  const offline = await page('?online=false');
  expect(offline.devices.map((d) => d.clientId)).toEqual(['valve/2']);
  const first = await page('?limit=1');
  expect(first.devices.map((d) => d.clientId)).toEqual(['meter-1']);
  expect(first.next).toBe('meter-1');
  expect(first.total).toBe(2);
  const second = await page(`?limit=1&after=${encodeURIComponent(first.next as string)}`);
  expect(second.devices.map((d) => d.clientId)).toEqual(['valve/2']);
  expect(second.next).toBeNull();
  expect((await get('/api/devices?limit=0')).status).toBe(400);
  expect((await get('/api/devices?online=maybe')).status).toBe(400);
  expect((await get('/api/devices/nobody')).status).toBe(404);
  expect(await device('valve/2')).toEqual(v);

  const metrics = await (
    await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).text();
  expect(metrics).toMatch(/^gateway_devices_known 2$/m);
  expect(metrics).toMatch(/^gateway_devices_online 1$/m);

  before = new Map(all.devices.map((d) => [d.clientId, d]));
});

it('keeps the entries across a SIGKILL and a restart; the device that was online shows offline', async () => {
  // The registry writes in batches: wait until what the API showed is on disk.
  await waitFor(
    'the registry flushed',
    async () => {
      const h = (await get('/healthz')).body as { devices?: { unflushed: number; flushes: number } };
      return h.devices !== undefined && h.devices.unflushed === 0 && h.devices.flushes > 0;
    },
    20_000,
  );
  await gw.restart();

  const after = await page();
  expect(after.devices.map((d) => d.clientId)).toEqual(['meter-1', 'valve/2']);
  const [m, v] = after.devices as [Device, Device];
  const m0 = before.get('meter-1') as Device;
  const v0 = before.get('valve/2') as Device;
  expect(m.firstSeen).toBe(m0.firstSeen);
  expect(m).toMatchObject({
    online: false,
    lastDisconnectReason: 'gateway_restart',
    connects: 1,
    disconnects: 1,
    messagesIn: 3,
    address: m0.address,
  });
  expect(v).toMatchObject({ ...v0, lastSeen: v.lastSeen });
  expect(await page('?online=true')).toEqual({ devices: [], next: null, total: 0 });

  // It connects again: the same entry, one more connect.
  const meter = await connect('meter-1');
  await publish(meter, 1);
  await waitFor('meter-1 online again', async () => (await device('meter-1'))?.messagesIn === 4, 20_000);
  expect(await device('meter-1')).toMatchObject({ online: true, connects: 2, firstSeen: m0.firstSeen });
});
