// The device registry on a real temporary store: client and command events update the entries, publishes accepted
// by the real ingest path count, paging and the online filter, the bound and its evictions, the batched flush to
// the store's meta and the reload after a restart (a reopened store).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type {
  ClientConnected,
  ClientDisconnected,
  DisconnectReason,
  GatewayEvent,
  MessageAcked,
} from '../../gateway/events/types.ts';
import { DeviceRegistry } from '../../gateway/registry/registry.ts';
import { type IngestHarness, openIngest } from '../harness/ingest.ts';

const log = pino({ level: 'silent' });
const open: { h: IngestHarness; devices: DeviceRegistry }[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const { h, devices } of open.splice(0)) {
    await devices.stop();
    await h.close();
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Rig {
  h: IngestHarness;
  devices: DeviceRegistry;
  metrics: Registry;
}

/** A registry wired as the gateway wires it (Ingest's `accepted`), on a real store; `dir` reopens one. */
async function rig(o: { dir?: string; maxDevices?: number; flushMs?: number } = {}): Promise<Rig> {
  const h = await openIngest({ dir: o.dir, routes: [{ filter: 'devices/#', topic: 'edge.uplink' }] });
  const metrics = new Registry();
  const devices = new DeviceRegistry({
    meta: () => h.store.meta,
    registry: metrics,
    log,
    maxDevices: o.maxDevices,
    flushMs: o.flushMs ?? 60_000,
  });
  h.ingest.on('accepted', (id) => devices.accepted(id));
  await devices.start();
  open.push({ h, devices });
  return { h, devices, metrics };
}

/** Stops the registry and closes the store (as a clean stop does), leaving the data dir for a reopen. */
async function close(r: Rig): Promise<void> {
  const i = open.findIndex((o) => o.devices === r.devices);
  open.splice(i, 1);
  await r.devices.stop();
  await r.h.close();
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gw-registry-'));
  dirs.push(d);
  return d;
}

function connected(clientid: string, ts: number, o: Partial<ClientConnected> = {}): ClientConnected {
  return {
    event: 'client.connected',
    clientid,
    username: 'user-1',
    ts,
    ip: '10.0.0.7',
    port: 50123,
    proto_ver: 4,
    keepalive: 60,
    clean_start: true,
    ...o,
  };
}

function disconnected(
  clientid: string,
  ts: number,
  reason: DisconnectReason = 'normal',
  connectedAt = 0,
): ClientDisconnected {
  return {
    event: 'client.disconnected',
    clientid,
    username: 'user-1',
    ts,
    reason,
    connected_at: connectedAt,
    duration_ms: connectedAt === 0 ? 0 : ts - connectedAt,
  };
}

function acked(clientid: string, ts: number, latencyMs: number): MessageAcked {
  return {
    event: 'message.acked',
    clientid,
    username: null,
    ts,
    command_id: `cmd-${ts}`,
    topic: `commands/${clientid}`,
    qos: 1,
    latency_ms: latencyMs,
  };
}

async function publish(h: IngestHarness, clientId: string, n: number): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      h.inject({
        topic: `devices/${clientId}/state`,
        payload: Buffer.from(String(i)),
        qos: 1,
        retain: false,
        clientId,
      }),
    ),
  );
}

async function metric(r: Registry, name: string): Promise<number> {
  const m = (await r.getMetricsAsJSON()).find((x) => x.name === name);
  return Number(m?.values[0]?.value ?? Number.NaN);
}

describe('device registry', () => {
  it('keeps per device its connects, disconnects, address, username, publishes accepted and commands acked', async () => {
    const { h, devices, metrics } = await rig();
    devices.onEvent(connected('dev-a', 1000));
    devices.onEvent(connected('dev-b', 1100, { ip: '::1', port: 1883, username: null }));
    await publish(h, 'dev-a', 3);
    await publish(h, 'dev-b', 1);
    // A publish from a client id that never connected creates no entry.
    await publish(h, 'sensor-9', 2);
    // In-process publishes (adapters, flows, the event records naming a device) are not the device's own.
    await h.ingest.publish({ topic: 'devices/dev-a/state', payload: Buffer.from('x'), qos: 1, clientId: 'dev-a' });
    devices.onEvent(acked('dev-a', 2000, 250));
    devices.onEvent(acked('dev-a', 2100, 1500));
    devices.onEvent(disconnected('dev-b', 3000, 'keepalive_timeout', 1100));
    // A refused connect and a subscription are no devices of their own.
    devices.onEvent({
      event: 'client.connack',
      clientid: 'intruder',
      username: 'x',
      ts: 3100,
      reason: 'not_authorized',
      ip: '1.2.3.4',
    });
    devices.onEvent({
      event: 'session.subscribed',
      clientid: 'dev-a',
      username: 'user-1',
      ts: 3200,
      filter: 'commands/dev-a',
      qos: 1,
      granted: 1,
    });

    const a = devices.get('dev-a');
    expect(a).toMatchObject({
      firstSeen: 1000,
      online: true,
      address: '10.0.0.7:50123',
      username: 'user-1',
      connects: 1,
      disconnects: 0,
      lastDisconnectReason: null,
      messagesIn: 3,
      commandsAcked: 2,
    });
    expect(a?.lastSeen).toBeGreaterThanOrEqual(2100);
    expect(devices.get('dev-b')).toMatchObject({
      online: false,
      address: '[::1]:1883',
      username: null,
      connects: 1,
      disconnects: 1,
      lastDisconnectReason: 'keepalive_timeout',
      messagesIn: 1,
    });
    expect(devices.get('sensor-9')).toBeUndefined();
    expect(devices.get('intruder')).toBeUndefined();
    expect(await metric(metrics, 'gateway_devices_known')).toBe(2);
    expect(await metric(metrics, 'gateway_devices_online')).toBe(1);
    const hist = (await metrics.getMetricsAsJSON()).find((m) => m.name === 'gateway_command_ack_seconds');
    const values = (hist?.values ?? []) as { metricName?: string; value: number }[];
    expect(values.find((v) => v.metricName === 'gateway_command_ack_seconds_count')?.value).toBe(2);
    expect(values.find((v) => v.metricName === 'gateway_command_ack_seconds_sum')?.value).toBeCloseTo(1.75);
  });

  it('a takeover: the old connection ending after the new one started leaves the device online', async () => {
    const { devices, metrics } = await rig();
    devices.onEvent(connected('dev-a', 1000));
    devices.onEvent(connected('dev-a', 2000, { ip: '10.0.0.8', port: 40000 }));
    devices.onEvent(disconnected('dev-a', 2001, 'takeover', 1000));
    expect(devices.get('dev-a')).toMatchObject({
      online: true,
      connects: 2,
      disconnects: 1,
      lastDisconnectReason: 'takeover',
      address: '10.0.0.8:40000',
    });
    expect(await metric(metrics, 'gateway_devices_online')).toBe(1);
    devices.onEvent(disconnected('dev-a', 3000, 'normal', 2000));
    expect(devices.get('dev-a')?.online).toBe(false);
    expect(await metric(metrics, 'gateway_devices_online')).toBe(0);
  });

  it('pages in client-id order with a cursor, filters by online state and counts the total of the filter', async () => {
    const { devices } = await rig();
    const ids = Array.from({ length: 25 }, (_, i) => `dev-${String(i).padStart(2, '0')}`);
    // Connected in reverse order: the pages follow the ids, not the order seen.
    for (const [i, id] of [...ids].reverse().entries()) devices.onEvent(connected(id, 1000 + i));
    for (const id of ids.filter((_, i) => i % 3 === 0)) devices.onEvent(disconnected(id, 5000));

    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const page = devices.list({ limit: 10, after });
      expect(page.total).toBe(25);
      seen.push(...page.devices.map((d) => d.clientId));
      pages++;
      if (page.next === null) break;
      after = page.next;
    }
    expect(seen).toEqual(ids);
    expect(pages).toBe(3);

    const offline = ids.filter((_, i) => i % 3 === 0);
    const first = devices.list({ limit: 5, filter: { online: false } });
    expect(first.total).toBe(offline.length);
    expect(first.devices.map((d) => d.clientId)).toEqual(offline.slice(0, 5));
    expect(first.next).toBe(offline[4]);
    const rest = devices.list({ limit: 5, after: first.next ?? undefined, filter: { online: false } });
    expect(rest.devices.map((d) => d.clientId)).toEqual(offline.slice(5));
    // Exactly the last matches on this page: no further page.
    expect(rest.next).toBeNull();
    const online = devices.list({ limit: 1000, filter: { online: true } });
    expect(online.total).toBe(25 - offline.length);
    expect(online.devices.every((d) => d.online)).toBe(true);
    // A cursor that is no client id starts after where it would sort.
    expect(devices.list({ limit: 2, after: 'dev-105' }).devices.map((d) => d.clientId)).toEqual(['dev-11', 'dev-12']);
  });

  it('stays within its bound: the least recently seen device is forgotten, counted, and deleted from the store', async () => {
    const dir = tempDir();
    const r = await rig({ dir, maxDevices: 3 });
    r.devices.onEvent(connected('a', 1000));
    r.devices.onEvent(connected('b', 1001));
    r.devices.onEvent(connected('c', 1002));
    await r.devices.flush();
    // `a` is seen again (a publish): `b` is now the least recently seen.
    await publish(r.h, 'a', 1);
    r.devices.onEvent(connected('d', 1003));
    expect(r.devices.get('b')).toBeUndefined();
    expect(r.devices.list({ limit: 10 }).devices.map((d) => d.clientId)).toEqual(['a', 'c', 'd']);
    expect(await metric(r.metrics, 'gateway_registry_evicted_total')).toBe(1);
    expect(await metric(r.metrics, 'gateway_devices_known')).toBe(3);
    expect(await metric(r.metrics, 'gateway_devices_online')).toBe(3);
    r.devices.onEvent(disconnected('c', 1004));
    r.devices.onEvent(connected('e', 1005));
    r.devices.onEvent(connected('f', 1006));
    // Each device seen again moves to the end: c (a disconnect), then e and f forgot a and d.
    expect(r.devices.list({ limit: 10 }).devices.map((d) => d.clientId)).toEqual(['c', 'e', 'f']);
    expect(r.devices.health()).toMatchObject({ known: 3, evicted: 3 });
    await close(r);

    // The forgotten devices were deleted from the store; the kept ones load back.
    expect((await storedIds(dir)).sort()).toEqual(['c', 'e', 'f']);
    const again = await rig({ dir, maxDevices: 3 });
    expect(again.devices.list({ limit: 10 }).devices.map((d) => d.clientId)).toEqual(['c', 'e', 'f']);
    // A smaller bound than the store holds: the least recently seen are forgotten while loading.
    await close(again);
    const smaller = await rig({ dir, maxDevices: 2 });
    expect(smaller.devices.list({ limit: 10 }).devices.map((d) => d.clientId)).toEqual(['e', 'f']);
    expect(await metric(smaller.metrics, 'gateway_registry_evicted_total')).toBe(1);
  });

  it('writes changed entries in one batch, not per publish, and a restart loads them: first seen kept, online ones offline', async () => {
    const dir = tempDir();
    const r = await rig({ dir });
    r.devices.onEvent(connected('dev-a', 1000));
    r.devices.onEvent(connected('dev-b', 1100));
    await publish(r.h, 'dev-a', 5);
    r.devices.onEvent(disconnected('dev-b', 1200, 'normal', 1100));
    r.devices.onEvent(acked('dev-a', 1300, 40));
    expect(r.devices.health().unflushed).toBe(2);
    expect(await r.h.store.meta.get('device!dev-a')).toBeUndefined();
    await r.devices.flush();
    expect(r.devices.health()).toMatchObject({ unflushed: 0, flushes: 1 });
    expect(JSON.parse((await r.h.store.meta.get('device!dev-a')) as string)).toMatchObject({
      messagesIn: 5,
      online: true,
    });
    // Nothing changed: no write.
    await r.devices.flush();
    expect(r.devices.health().flushes).toBe(1);
    await publish(r.h, 'dev-a', 2);
    // The store closes under a registry that did not stop (a killed process): what was flushed is what is kept.
    open.splice(
      open.findIndex((o) => o.devices === r.devices),
      1,
    );
    await r.h.store.stop();

    const again = await rig({ dir });
    expect(again.devices.get('dev-a')).toMatchObject({
      firstSeen: 1000,
      online: false,
      connects: 1,
      disconnects: 1,
      lastDisconnectReason: 'gateway_restart',
      messagesIn: 5,
      commandsAcked: 1,
      address: '10.0.0.7:50123',
    });
    expect(again.devices.get('dev-b')).toMatchObject({
      firstSeen: 1100,
      online: false,
      disconnects: 1,
      lastDisconnectReason: 'normal',
    });
    expect(await metric(again.metrics, 'gateway_devices_online')).toBe(0);
    // The broker's own restart event for the same device is the disconnect already counted.
    again.devices.onEvent(disconnected('dev-a', 5000, 'gateway_restart'));
    again.devices.onEvent(disconnected('dev-b', 5000, 'gateway_restart'));
    expect(again.devices.get('dev-a')?.disconnects).toBe(1);
    expect(again.devices.get('dev-b')?.disconnects).toBe(2);
    again.devices.onEvent(connected('dev-a', 6000, { port: 50124 }));
    await publish(again.h, 'dev-a', 1);
    await close(again);

    // A clean stop flushes: the third run sees the second run's changes.
    const third = await rig({ dir });
    expect(third.devices.get('dev-a')).toMatchObject({
      firstSeen: 1000,
      connects: 2,
      disconnects: 2,
      messagesIn: 6,
      address: '10.0.0.7:50124',
      online: false,
    });
  });

  it('flushes on its own every flushMs', async () => {
    const r = await rig({ flushMs: 50 });
    r.devices.onEvent(connected('dev-a', 1000));
    await publish(r.h, 'dev-a', 1);
    await expect.poll(async () => r.h.store.meta.get('device!dev-a'), { timeout: 5000 }).toBeDefined();
    expect(JSON.parse((await r.h.store.meta.get('device!dev-a')) as string)).toMatchObject({ messagesIn: 1 });
  });

  it('skips a stored entry it cannot read', async () => {
    const dir = tempDir();
    const r = await rig({ dir });
    await r.h.store.meta.put('device!broken', '{not json');
    await r.h.store.meta.put('device!ok', JSON.stringify({ firstSeen: 5, lastSeen: 6, connects: 1 }));
    await close(r);
    const again = await rig({ dir });
    expect(again.devices.get('broken')).toBeUndefined();
    expect(again.devices.get('ok')).toMatchObject({
      firstSeen: 5,
      lastSeen: 6,
      connects: 1,
      messagesIn: 0,
      online: false,
    });
  });
});

/** The client ids kept in the store of `dir` (opened on its own, after the registry's store closed). */
async function storedIds(dir: string): Promise<string[]> {
  const h = await openIngest({ dir });
  try {
    const ids: string[] = [];
    for await (const key of h.store.meta.keys({ gte: 'device!', lt: 'device"' })) ids.push(key.slice('device!'.length));
    return ids;
  } finally {
    await h.close();
  }
}

// The event union is what onEvent takes; a type-level check that every test event is one.
const _typed: GatewayEvent[] = [connected('x', 0), disconnected('x', 0), acked('x', 0, 0)];
void _typed;
