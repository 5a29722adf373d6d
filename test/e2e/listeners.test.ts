// MQTT over TCP, TLS and WebSocket (/mqtt on the HTTP port) all reach the durable path; sessions, subscriptions and
// retained messages live in LevelDB and survive a SIGKILL.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { freePort } from '../harness/kafka.ts';
import { waitFor } from '../harness/wait.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gw-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const r = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  return { cert, key };
}

it('TCP, TLS and WebSocket publishes are acknowledged after they are stored', async () => {
  const { cert, key } = selfSigned();
  const tlsPort = await freePort();
  const gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: '127.0.0.1:1',
      GATEWAY_MQTT_TLS_CERT: cert,
      GATEWAY_MQTT_TLS_KEY: key,
      GATEWAY_MQTT_TLS_PORT: String(tlsPort),
    },
  });
  cleanup.push(() => gw.close());
  await gw.start();
  const clients = [
    await mqtt.connectAsync(gw.url, { clientId: 'tcp-dev' }),
    await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, { clientId: 'tls-dev', ca: readFileSync(cert) }),
    await mqtt.connectAsync(`ws://127.0.0.1:${gw.httpPort}/mqtt`, { clientId: 'ws-dev' }),
  ];
  for (const c of clients) {
    for (let i = 0; i < 5; i++) await c.publishAsync(`sensors/${c.options.clientId}/temp`, `{"i":${i}}`, { qos: 1 });
    await c.endAsync();
  }
  expect(await gw.metric('gateway_backlog_records', { class: 'default' })).toBe(15);
  // The client events (3 connected, 3 disconnected) take the ingest path too (docs/events.md).
  await waitFor(
    'the client events',
    async () => (await gw.metric('gateway_routed_records_total', { route: 'events' })) === 6,
  );
  expect(await gw.metric('gateway_ingress_messages_total', { qos: '1' })).toBe(15 + 6);
});

/** `p`, or a failure naming what did not come and the gateway's last output. */
async function within<T>(what: string, p: Promise<T>, gw: GatewayProcess, ms = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} in ${ms} ms; gateway output:\n${gw.tail}`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

it('persistent sessions, subscriptions and retained messages survive a SIGKILL', async () => {
  const gw = await GatewayProcess.create({ env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1' } });
  cleanup.push(() => gw.close());
  await gw.start();
  const sub = await mqtt.connectAsync(gw.url, { clientId: 'panel-1', clean: false });
  await sub.subscribeAsync('alarms/#', { qos: 1 });
  await sub.endAsync();
  const pub = await mqtt.connectAsync(gw.url, { clientId: 'plc-1' });
  await pub.publishAsync('alarms/line-3', 'overheat', { qos: 1 });
  await pub.publishAsync('config/line-3', 'speed=12', { qos: 1, retain: true });
  await pub.endAsync();

  await gw.kill('SIGKILL');
  await gw.start();

  const back = mqtt.connect(gw.url, { clientId: 'panel-1', clean: false });
  cleanup.push(() => back.endAsync());
  const queued = await within(
    'the queued message after the restart',
    new Promise<string>((resolve) => back.once('message', (_t, p) => resolve(p.toString()))),
    gw,
  );
  expect(queued).toBe('overheat');
  const reader = await mqtt.connectAsync(gw.url, { clientId: 'hmi-1' });
  cleanup.push(() => reader.endAsync());
  const retained = new Promise<string>((resolve) => reader.once('message', (_t, p) => resolve(p.toString())));
  await reader.subscribeAsync('config/#', { qos: 1 });
  expect(await within('the retained message after the restart', retained, gw)).toBe('speed=12');
  await waitFor(
    'stored records counted',
    async () => (await gw.metric('gateway_backlog_records', { class: 'default' })) === 2,
  );
});

it('QoS 2: completed only after it is stored, and stored once', async () => {
  const gw = await GatewayProcess.create({
    env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1', GATEWAY_FLOWS_ENABLED: 'false' },
  });
  cleanup.push(() => gw.close());
  await gw.start();
  const dev = await mqtt.connectAsync(gw.url, { clientId: 'valve-2' });
  for (let i = 0; i < 20; i++) await dev.publishAsync('sensors/valve-2/cmd-ack', `{"i":${i}}`, { qos: 2 });
  await dev.endAsync();
  expect(await gw.metric('gateway_ingress_messages_total', { qos: '2' })).toBe(20);
  expect(await gw.metric('gateway_backlog_records', { class: 'default' })).toBe(20);
});
