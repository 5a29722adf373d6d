// Client events from the real broker (aedes, the store, the ingest path, in process, no Kafka): every
// client.connected gets exactly one client.disconnected with the reason of how it ended — a DISCONNECT, a socket
// destroyed, a keepalive timeout, a takeover, the broker's stop — and a refused CONNECT gives client.connack. The
// events are records in the `events` class, and a clean stop leaves no client online for the next start.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../app/config/load.ts';
import { Gateway } from '../../app/gateway.ts';
import type { ClientDisconnected, GatewayEvent } from '../../gateway/events/types.ts';
import { waitFor } from '../harness/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'gw-events-'));
const log = pino({ level: 'silent' });
const config = resolveConfig({
  dataDir: dir,
  gatewayId: 'gw-unit',
  mqtt: { host: '127.0.0.1', port: 0, ws: { enabled: false } },
  http: { host: '127.0.0.1', port: 0 },
  flows: { enabled: false },
});
const sockets: Socket[] = [];
const running: Gateway[] = [];

afterEach(async () => {
  for (const gw of running.splice(0)) await gw.stop();
});

afterAll(() => {
  for (const s of sockets) s.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function started(): Promise<{ gw: Gateway; events: GatewayEvent[] }> {
  const gw = new Gateway(config, log);
  running.push(gw);
  await gw.start();
  const events: GatewayEvent[] = [];
  gw.broker.on('event', (e) => events.push(e));
  return { gw, events };
}

function device(gw: Gateway, clientId: string, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${gw.broker.tcpPort}`, { clientId, reconnectPeriod: 0, ...extra });
  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

/** MQTT 3.1.1 CONNECT without credentials. */
function connectPacket(p: { clientId: string; keepalive: number; clean: boolean }): Buffer {
  const id = Buffer.from(p.clientId);
  const body = Buffer.concat([
    Buffer.from([0, 4]),
    Buffer.from('MQTT'),
    Buffer.from([4, p.clean ? 0x02 : 0, p.keepalive >> 8, p.keepalive & 0xff, id.length >> 8, id.length & 0xff]),
    id,
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** A CONNECT written by hand (mqtt.js pings on its own, and will not send an empty client id without clean). */
async function rawConnect(gw: Gateway, packet: { clientId: string; keepalive: number; clean: boolean }) {
  const s = connectTcp(gw.broker.tcpPort, '127.0.0.1');
  sockets.push(s);
  s.on('error', () => {});
  await once(s, 'connect');
  s.write(connectPacket(packet));
  await once(s, 'data'); // the CONNACK
  return s;
}

const of = (events: GatewayEvent[], clientid: string) => events.filter((e) => e.clientid === clientid);
const disconnects = (events: GatewayEvent[]) =>
  events.filter((e): e is ClientDisconnected => e.event === 'client.disconnected');

describe('client events', () => {
  it('pairs every client.connected with one client.disconnected, with the reason', async () => {
    const { gw, events } = await started();
    const normal = await device(gw, 'ev-normal');
    await normal.subscribeAsync('devices/ev-normal/command', { qos: 1 });
    await normal.unsubscribeAsync('devices/ev-normal/command');
    await normal.endAsync();

    const broken = await device(gw, 'ev-error');
    broken.stream.destroy();

    await rawConnect(gw, { clientId: 'ev-keepalive', keepalive: 1, clean: true }); // then silent

    const first = await device(gw, 'ev-takeover');
    first.on('error', () => {});
    const second = await device(gw, 'ev-takeover');

    await rawConnect(gw, { clientId: '', keepalive: 0, clean: false }); // refused [MQTT-3.1.3-8]

    const staying = await device(gw, 'ev-shutdown');
    await waitFor('the keepalive timeout and the others', () => disconnects(events).length === 4);
    await gw.stop();
    for (const c of [second, staying, first]) c.end(true);

    const reasons = Object.fromEntries(disconnects(events).map((e) => [`${e.clientid}@${e.connected_at}`, e.reason]));
    const connects = events.filter((e) => e.event === 'client.connected');
    expect(connects).toHaveLength(6);
    // Exactly one disconnect per connection, with the connection's connected_at.
    expect(disconnects(events)).toHaveLength(6);
    for (const c of connects) expect(reasons[`${c.clientid}@${c.ts}`]).toBeDefined();
    expect(disconnects(events).map((e) => [e.clientid, e.reason])).toEqual(
      expect.arrayContaining([
        ['ev-normal', 'normal'],
        ['ev-error', 'error'],
        ['ev-keepalive', 'keepalive_timeout'],
        ['ev-takeover', 'takeover'],
        ['ev-takeover', 'server_shutdown'],
        ['ev-shutdown', 'server_shutdown'],
      ]),
    );
    // The taken-over connection ends before its successor starts.
    const t = of(events, 'ev-takeover').map((e) => `${e.event}${'reason' in e ? `:${e.reason}` : ''}`);
    expect(t).toEqual([
      'client.connected',
      'client.disconnected:takeover',
      'client.connected',
      'client.disconnected:server_shutdown',
    ]);

    expect(of(events, 'ev-normal').map((e) => e.event)).toEqual([
      'client.connected',
      'session.subscribed',
      'session.unsubscribed',
      'client.disconnected',
    ]);
    expect(of(events, 'ev-normal')[1]).toMatchObject({ filter: 'devices/ev-normal/command', qos: 1, granted: 1 });
    expect(of(events, 'ev-normal')[0]).toMatchObject({
      ip: '127.0.0.1',
      proto_ver: 4,
      clean_start: true,
      username: null,
    });
    expect(of(events, 'ev-keepalive')[0]).toMatchObject({ keepalive: 1 });
    const refused = events.filter((e) => e.event === 'client.connack');
    expect(refused).toEqual([
      expect.objectContaining({ reason: 'client_identifier_not_valid', detail: 'empty-client-id', ip: '127.0.0.1' }),
    ]);

    // Every event is a record of the events class; the metrics count them.
    expect(gw.store.outbox.backlog().classes.events?.records).toBe(events.length);
    expect(gw.store.outbox.backlog().classes.default?.records).toBe(0);
    const metric = async (name: string) => (await gw.registry.getSingleMetric(name)?.get())?.values ?? [];
    expect((await metric('gateway_client_connects_total'))[0]?.value).toBe(6);
    const byReason = Object.fromEntries(
      (await metric('gateway_client_disconnects_total')).map((v) => [v.labels.reason, v.value]),
    );
    expect(byReason).toEqual({ normal: 1, error: 1, keepalive_timeout: 1, takeover: 1, server_shutdown: 2 });
    expect((await metric('gateway_client_connack_refused_total'))[0]).toMatchObject({
      labels: { reason: 'client_identifier_not_valid' },
      value: 1,
    });
  }, 30_000);

  it('a clean stop leaves no client online: the next start reports no gateway_restart', async () => {
    const { gw } = await started();
    expect(gw.events.health()).toMatchObject({ recorded: 0, failed: 0 });
    await gw.stop();
  });

  it('refuses $events to MQTT clients: no subscription, no publish', async () => {
    const { gw, events } = await started();
    const before = gw.store.outbox.backlog().classes.events?.records ?? 0;
    const c = await device(gw, 'ev-forger');
    // mqtt.js rejects a SUBACK that grants 0x80.
    await expect(c.subscribeAsync('$events/#', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    c.on('error', () => {});
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.publish('$events/client_disconnected', '{"event":"client.disconnected"}', { qos: 1 });
    await closed;
    await waitFor('the forger disconnected', () => disconnects(events).length === 1);
    expect(events.filter((e) => e.event === 'session.subscribed')).toEqual([
      expect.objectContaining({ filter: '$events/#', qos: 1, granted: 128 }),
    ]);
    expect(disconnects(events)[0]?.reason).toBe('error');
    await waitFor('the events recorded', () => gw.events.health().pending === 0);
    // Only the gateway's own events are records (connected, subscribed, disconnected): the forged one is not.
    expect((gw.store.outbox.backlog().classes.events?.records ?? 0) - before).toBe(3);
    c.end(true);
  });
});
