// Client events end to end: the gateway runs as a child process, mqtt.js devices (and hand-written CONNECTs) connect,
// subscribe, unsubscribe, disconnect, time out, are taken over and refused, and an independent Kafka reader (kcat)
// finds each event on the events topic, keyed by client id, with the contract's fields (docs/events.md). A device
// online when the gateway is SIGKILLed gets client.disconnected with gateway_restart at the next start, and events
// raised while Kafka cannot be reached arrive once it can, none lost, in order per client.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { freePort } from '../harness/kafka.ts';
import { kcatRead } from '../harness/kcat.ts';
import { waitFor } from '../harness/wait.ts';

const run = randomBytes(4).toString('hex');
const eventsTopic = `e2e.events.${run}`;
const uplinkTopic = `e2e.events-uplink.${run}`;
const brokers = inject('kafkaBrokers');
const gateways: GatewayProcess[] = [];
const sockets: Socket[] = [];
const devices: MqttClient[] = [];

afterAll(async () => {
  for (const d of devices) d.end(true);
  for (const s of sockets) s.destroy();
  for (const g of gateways.splice(0)) await g.close();
});

interface EventRecord {
  key: string | null;
  partition: number;
  offset: number;
  value: Record<string, unknown> & { event: string; clientid: string; ts: number };
}

function read(topic = eventsTopic): EventRecord[] {
  let records: ReturnType<typeof kcatRead>;
  try {
    records = kcatRead(brokers, topic);
  } catch {
    return []; // the topic is created by the first produce
  }
  return records
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset)
    .map((r) => ({ key: r.key, partition: r.partition, offset: r.offset, value: JSON.parse(r.payload ?? '{}') }));
}

const eventsOf = (clientid: string) => read().filter((r) => r.key === clientid);
const names = (rs: EventRecord[]) =>
  rs.map((r) => (r.value.reason ? `${r.value.event}:${r.value.reason}` : r.value.event));

async function gateway(env: Record<string, string> = {}, dataDir?: string): Promise<GatewayProcess> {
  const gw = await GatewayProcess.create({
    ...(dataDir ? { dataDir } : {}),
    env: {
      GATEWAY_KAFKA_BROKERS: brokers.join(','),
      GATEWAY_KAFKA_RETRY_MAX_MS: '1000',
      GATEWAY_EVENTS_TOPIC: eventsTopic,
      GATEWAY_FLOWS_ENABLED: 'false',
      GATEWAY_ROUTES: JSON.stringify([{ name: 'uplink', filter: '#', topic: uplinkTopic }]),
      ...env,
    },
  });
  gateways.push(gw);
  await gw.start();
  return gw;
}

function device(gw: GatewayProcess, clientId: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(gw.url, { clientId, reconnectPeriod: 0, ...opts });
  devices.push(c);
  c.on('error', () => {});
  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve(c));
    c.once('close', () => reject(new Error(`${clientId} closed before CONNACK`)));
  });
}

/** An MQTT 3.1.1 CONNECT by hand: mqtt.js pings on its own, and sends no empty client id without clean session. */
async function rawConnect(gw: GatewayProcess, p: { clientId: string; keepalive: number; clean: boolean }) {
  const id = Buffer.from(p.clientId);
  const body = Buffer.concat([
    Buffer.from([0, 4]),
    Buffer.from('MQTT'),
    Buffer.from([4, p.clean ? 0x02 : 0, p.keepalive >> 8, p.keepalive & 0xff, id.length >> 8, id.length & 0xff]),
    id,
  ]);
  const s = connectTcp(gw.mqttPort, '127.0.0.1');
  sockets.push(s);
  s.on('error', () => {});
  await once(s, 'connect');
  s.write(Buffer.concat([Buffer.from([0x10, body.length]), body]));
  await once(s, 'data'); // the CONNACK
  return s;
}

describe('client events in Kafka', () => {
  let gw: GatewayProcess;

  it('connect, subscribe, unsubscribe, disconnect: each event with the contract fields, keyed by client id', async () => {
    gw = await gateway();
    const lock = await device(gw, 'ev-lock-1', { keepalive: 30 });
    await lock.subscribeAsync('devices/ev-lock-1/command', { qos: 1 });
    await lock.publishAsync('devices/ev-lock-1/state', '{"locked":true}', { qos: 1 });
    await lock.unsubscribeAsync('devices/ev-lock-1/command');
    await lock.endAsync();
    await waitFor('four events of ev-lock-1', () => eventsOf('ev-lock-1').length === 4, 60_000, 500);
    const rs = eventsOf('ev-lock-1');
    expect(names(rs)).toEqual([
      'client.connected',
      'session.subscribed',
      'session.unsubscribed',
      'client.disconnected:normal',
    ]);
    for (const r of rs) {
      expect(r.value).toMatchObject({ clientid: 'ev-lock-1', username: null, gateway_id: 'gw-test', version: 1 });
      expect(typeof r.value.ts).toBe('number');
    }
    const [connected, subscribed, unsubscribed, disconnected] = rs.map((r) => r.value);
    expect(connected).toMatchObject({ ip: '127.0.0.1', proto_ver: 4, keepalive: 30, clean_start: true });
    expect(connected?.port).toBeGreaterThan(0);
    expect(subscribed).toMatchObject({ filter: 'devices/ev-lock-1/command', qos: 1, granted: 1 });
    expect(unsubscribed).toMatchObject({ filter: 'devices/ev-lock-1/command' });
    expect(disconnected).toMatchObject({ connected_at: connected?.ts });
    expect(disconnected?.duration_ms).toBe((disconnected?.ts as number) - (connected?.ts as number));
    // The `#` uplink route takes the device's state but no `$events/...` topic.
    await waitFor('the state in the uplink', () => read(uplinkTopic).length === 1, 30_000, 500);
    expect(read(uplinkTopic)[0]?.value).toEqual({ locked: true });
    expect(await gw.metric('gateway_client_connects_total')).toBeGreaterThanOrEqual(1);
    expect(await gw.metric('gateway_client_disconnects_total', { reason: 'normal' })).toBe(1);
  });

  it('keepalive timeout, destroyed socket, takeover and a refused CONNECT give their reasons', async () => {
    await rawConnect(gw, { clientId: 'ev-silent', keepalive: 1, clean: true }); // never pings
    const broken = await device(gw, 'ev-broken');
    broken.stream.destroy();
    const first = await device(gw, 'ev-twin');
    await device(gw, 'ev-twin'); // [MQTT-3.1.4-2] takes over the first
    await rawConnect(gw, { clientId: '', keepalive: 0, clean: false }); // refused [MQTT-3.1.3-8]
    await waitFor(
      'the reasons in Kafka',
      () =>
        eventsOf('ev-silent').length === 2 && eventsOf('ev-broken').length === 2 && eventsOf('ev-twin').length === 3,
      60_000,
      500,
    );
    expect(names(eventsOf('ev-silent'))).toEqual(['client.connected', 'client.disconnected:keepalive_timeout']);
    expect(names(eventsOf('ev-broken'))).toEqual(['client.connected', 'client.disconnected:error']);
    expect(names(eventsOf('ev-twin'))).toEqual([
      'client.connected',
      'client.disconnected:takeover',
      'client.connected',
    ]);
    expect(first.connected).toBe(false);
    await waitFor('the refusal', () => read().some((r) => r.value.event === 'client.connack'), 30_000, 500);
    expect(read().find((r) => r.value.event === 'client.connack')?.value).toMatchObject({
      clientid: '',
      reason: 'client_identifier_not_valid',
      detail: 'empty-client-id',
      ip: '127.0.0.1',
    });
    expect(await gw.metric('gateway_client_connack_refused_total', { reason: 'client_identifier_not_valid' })).toBe(1);
  });

  it('a device online when the gateway is SIGKILLed is disconnected with gateway_restart at the next start', async () => {
    // ev-twin (the second) is still online; so is a new one.
    await device(gw, 'ev-online');
    await waitFor('ev-online connected in Kafka', () => eventsOf('ev-online').length === 1, 30_000, 500);
    await gw.restart(); // SIGKILL, then start on the same data dir
    await waitFor(
      'the gateway_restart disconnects',
      () => eventsOf('ev-online').length === 2 && eventsOf('ev-twin').length === 4,
      60_000,
      500,
    );
    const [connected, restarted] = eventsOf('ev-online').map((r) => r.value);
    expect(restarted).toMatchObject({
      event: 'client.disconnected',
      reason: 'gateway_restart',
      connected_at: connected?.ts,
      gateway_id: 'gw-test',
    });
    expect(names(eventsOf('ev-twin')).at(-1)).toBe('client.disconnected:gateway_restart');
    // Each connection has exactly one disconnect.
    for (const id of ['ev-lock-1', 'ev-silent', 'ev-broken', 'ev-twin', 'ev-online']) {
      const rs = eventsOf(id).map((r) => r.value);
      const opened = rs.filter((v) => v.event === 'client.connected').map((v) => v.ts);
      const closed = rs.filter((v) => v.event === 'client.disconnected').map((v) => v.connected_at);
      expect(closed, id).toEqual(opened);
    }
    await gw.stop();
  });

  it('events while Kafka cannot be reached arrive after it can: none lost, in order per client', async () => {
    const dataDir = gw.dataDir;
    // Nothing listens on this port: the events stay in the outbox.
    const offline = await gateway({ GATEWAY_KAFKA_BROKERS: `127.0.0.1:${await freePort()}` }, dataDir);
    const ids = ['ev-out-1', 'ev-out-2', 'ev-out-3'];
    for (let round = 0; round < 3; round++) {
      for (const id of ids) {
        const c = await device(offline, id);
        await c.subscribeAsync(`devices/${id}/command`, { qos: 1 });
        await c.endAsync();
      }
    }
    await waitFor('the events appended', async () => (await offline.metric('gateway_client_connects_total')) === 9);
    expect(eventsOf('ev-out-1')).toEqual([]);
    await offline.stop();
    const online = await gateway({}, dataDir);
    await waitFor('every event forwarded', () => ids.every((id) => eventsOf(id).length === 9), 90_000, 500);
    for (const id of ids) {
      const rs = eventsOf(id);
      expect(names(rs)).toEqual(
        Array.from({ length: 3 }, () => [
          'client.connected',
          'session.subscribed',
          'client.disconnected:normal',
        ]).flat(),
      );
      const ts = rs.map((r) => r.value.ts);
      expect(ts).toEqual([...ts].sort((a, b) => a - b));
      expect(new Set(rs.map((r) => r.partition)).size).toBe(1);
    }
    await waitFor('backlog drained', async () => (await online.metric('gateway_backlog_records')) === 0, 60_000);
  });
});

describe('client events in flows', () => {
  it('a `gateway in` on $events/client_disconnected and an edge rule see the disconnect', async () => {
    const ruleTopic = `e2e.events-rule.${run}`;
    const gw = await GatewayProcess.create({
      env: {
        GATEWAY_KAFKA_BROKERS: brokers.join(','),
        GATEWAY_EVENTS_TOPIC: eventsTopic,
        GATEWAY_ROUTES: '[]',
      },
    });
    gateways.push(gw);
    // The operator's flow, as a deploy would have saved it.
    mkdirSync(join(gw.dataDir, 'data', 'node-red'), { recursive: true });
    writeFileSync(
      join(gw.dataDir, 'data', 'node-red', 'flows.json'),
      JSON.stringify([
        { id: 'ev_tab', type: 'tab', label: 'events' },
        { id: 'ev_in', z: 'ev_tab', type: 'gateway in', topic: '$events/client_disconnected', wires: [['ev_rule']] },
        {
          id: 'ev_rule',
          z: 'ev_tab',
          type: 'edge rule',
          sql: 'SELECT clientid, payload.reason AS reason FROM "$events/client_disconnected"',
          wires: [['ev_out']],
        },
        { id: 'ev_out', z: 'ev_tab', type: 'cloud out', kafkaTopic: ruleTopic, key: 'rule', wires: [] },
      ]),
    );
    await gw.start();
    const c = await device(gw, 'ev-flow');
    await c.endAsync();
    await waitFor('the rule output in Kafka', () => read(ruleTopic).length === 1, 60_000, 500);
    expect(read(ruleTopic)[0]?.value).toEqual({ clientid: 'ev-flow', reason: 'normal' });
    // The event itself went its own way, to the events topic.
    await waitFor('the event in Kafka', () => eventsOf('ev-flow').length === 2, 60_000, 500);
  });
});
