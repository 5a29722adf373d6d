// Sessions the gateway ends itself, against the real gateway process, mqtt.js devices and Kafka (read with kcat): a
// device whose token (or client certificate) expires is disconnected when it does (client.disconnected with reason auth_expired, counted in
// gateway_client_disconnects_total), and a device kicked with DELETE /api/devices/<id>/connection ends with reason
// kicked; the DELETE needs the HTTP token, and a device not connected is a 404. Without a token only this host may
// kick: the HTTP part in-process, its socket's address planted as one off this host.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { SignJWT } from 'jose';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { HttpPart } from '../../gateway/http.ts';
import { Limits } from '../../gateway/limits/index.ts';
import { HttpSecuritySchema, LimitsSchema } from '../../gateway/limits/schema.ts';
import { deviceRoutes } from '../../gateway/registry/http.ts';
import type { DeviceRegistry } from '../../gateway/registry/registry.ts';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { freePort } from '../harness/kafka.ts';
import { kcatRead } from '../harness/kcat.ts';
import { waitFor } from '../harness/wait.ts';

const run = randomBytes(4).toString('hex');
const eventsTopic = `e2e.session-end.${run}`;
const brokers = inject('kafkaBrokers');
const SECRET = 'session-end-jwt-secret-0123456789abcdef';
const TOKEN = 'session-end-http-token-0123456789';
let gw: GatewayProcess;
let tlsPort = 0;
const devices: MqttClient[] = [];
const dir = mkdtempSync(join(tmpdir(), 'gw-session-end-'));
const file = (name: string) => join(dir, name);

function openssl(...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA and a server certificate for 127.0.0.1, signed by it. */
function serverCertificates(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-days', '1', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
  writeFileSync(file('srv.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', 'srv.key', '-out', 'srv.csr');
  openssl(
    'x509',
    '-req',
    '-in',
    'srv.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'srv.ext',
    '-out',
    'srv.pem',
  );
  writeFileSync(file('index.txt'), '');
  writeFileSync(file('serial'), '1000\n');
  writeFileSync(
    file('ca.cnf'),
    [
      '[ca]',
      'default_ca = ca_default',
      '[ca_default]',
      `database = ${file('index.txt')}`,
      `new_certs_dir = ${dir}`,
      `serial = ${file('serial')}`,
      'default_md = sha256',
      'policy = policy_any',
      'unique_subject = no',
      '[policy_any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
}

/** `openssl ca` time: YYYYMMDDHHMMSSZ. */
const asn1Time = (ms: number) => `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

/** A client certificate for `cn`, signed by the CA, that ends at `endMs`. */
function clientCertificate(cn: string, endMs: number): { key: Buffer; cert: Buffer } {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', ...ec, '-subj', `/CN=${cn}`, '-keyout', `${cn}.key`, '-out', `${cn}.csr`);
  openssl(
    'ca',
    '-batch',
    '-notext',
    '-config',
    'ca.cnf',
    '-cert',
    'ca.pem',
    '-keyfile',
    'ca.key',
    '-in',
    `${cn}.csr`,
    '-startdate',
    asn1Time(Date.now() - 60_000),
    '-enddate',
    asn1Time(endMs),
    '-out',
    `${cn}.pem`,
  );
  return { key: readFileSync(file(`${cn}.key`)), cert: readFileSync(file(`${cn}.pem`)) };
}

beforeAll(async () => {
  serverCertificates();
  tlsPort = await freePort();
  gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: brokers.join(','),
      GATEWAY_KAFKA_RETRY_MAX_MS: '1000',
      GATEWAY_EVENTS_TOPIC: eventsTopic,
      GATEWAY_FLOWS_ENABLED: 'false',
      GATEWAY_SECURITY_HTTP_TOKEN: TOKEN,
    },
    configYaml: [
      'mqtt:',
      `  tls: { port: ${tlsPort}, cert: ${file('srv.pem')}, key: ${file('srv.key')}, ca: ${file('ca.pem')} }`,
      'security:',
      '  authentication:',
      `    jwt: { secret: ${SECRET}, clockToleranceSec: 0 }`,
      '',
    ].join('\n'),
  });
  await gw.start();
}, 90_000);

afterAll(async () => {
  for (const d of devices) d.end(true);
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

function token(clientid: string, expSec: number): Promise<string> {
  return new SignJWT({ clientid })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(expSec)
    .sign(new TextEncoder().encode(SECRET));
}

async function device(clientId: string, expSec: number): Promise<{ c: MqttClient; closed: () => boolean }> {
  const password = await token(clientId, expSec);
  const c = await mqtt.connectAsync(gw.url, { clientId, username: 'dev', password, reconnectPeriod: 0 });
  devices.push(c);
  c.on('error', () => {});
  let closed = false;
  c.on('close', () => (closed = true));
  return { c, closed: () => closed };
}

/** The reasons of the client.disconnected events of one device in Kafka. */
function disconnects(clientid: string): string[] {
  let records: ReturnType<typeof kcatRead>;
  try {
    records = kcatRead(brokers, eventsTopic);
  } catch {
    return []; // the topic is created by the first produce
  }
  return records
    .filter((r) => r.key === clientid)
    .map((r) => JSON.parse(r.payload ?? '{}') as { event: string; reason?: string })
    .filter((e) => e.event === 'client.disconnected')
    .map((e) => e.reason ?? '');
}

async function metric(reason: string): Promise<number> {
  const text = await (
    await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).text();
  const line = text.split('\n').find((l) => l.startsWith(`gateway_client_disconnects_total{reason="${reason}"}`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

function kick(clientId: string, auth: string | null = TOKEN): Promise<Response> {
  return fetch(`http://127.0.0.1:${gw.httpPort}/api/devices/${encodeURIComponent(clientId)}/connection`, {
    method: 'DELETE',
    headers: auth === null ? {} : { authorization: `Bearer ${auth}` },
  });
}

it('a device whose token expires is disconnected then, with reason auth_expired', async () => {
  const exp = Math.floor(Date.now() / 1000) + 3;
  const lock = await device('se-lock-1', exp);
  // A device with a long-lived token stays.
  const meter = await device('se-meter-1', exp + 3600);
  await lock.c.publishAsync('devices/se-lock-1/state', '{"n":1}', { qos: 1 });
  await waitFor('se-lock-1 disconnected by the gateway', lock.closed, 20_000, 100);
  // Not before its token ended.
  expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
  await waitFor('client.disconnected of se-lock-1 in Kafka', () => disconnects('se-lock-1').length > 0, 30_000, 500);
  expect(disconnects('se-lock-1')).toEqual(['auth_expired']);
  expect(await metric('auth_expired')).toBe(1);
  expect(meter.closed()).toBe(false);
  expect(meter.c.connected).toBe(true);
});

it('a device whose client certificate ends is disconnected at its notAfter, with reason auth_expired', async () => {
  // openssl dates are whole seconds: the certificate ends 4 to 5 s from now.
  const end = Math.floor(Date.now() / 1000) * 1000 + 5_000;
  const { key, cert } = clientCertificate('se-cam-3', end);
  const before = await metric('auth_expired');
  const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
    clientId: 'se-cam-3',
    key,
    cert,
    ca: readFileSync(file('ca.pem')),
    reconnectPeriod: 0,
  });
  devices.push(c);
  c.on('error', () => {});
  let closed = false;
  c.on('close', () => (closed = true));
  await waitFor('se-cam-3 disconnected by the gateway', () => closed, 20_000, 100);
  expect(Date.now()).toBeGreaterThanOrEqual(end);
  await waitFor('client.disconnected of se-cam-3 in Kafka', () => disconnects('se-cam-3').length > 0, 30_000, 500);
  expect(disconnects('se-cam-3')).toEqual(['auth_expired']);
  expect(await metric('auth_expired')).toBe(before + 1);
});

it('DELETE /api/devices/<id>/connection kicks a connected device (reason kicked), behind the token', async () => {
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const valve = await device('se-valve/2', exp);
  const refused = await kick('se-valve/2', null);
  expect(refused.status).toBe(401);
  expect((await kick('se-valve/2', 'wrong-token-0123456789abcdefg')).status).toBe(401);
  expect(valve.c.connected).toBe(true);

  const r = await kick('se-valve/2');
  expect(r.status).toBe(204);
  await waitFor('se-valve/2 closed', valve.closed, 10_000, 50);
  await waitFor('client.disconnected of se-valve/2 in Kafka', () => disconnects('se-valve/2').length > 0, 30_000, 500);
  expect(disconnects('se-valve/2')).toEqual(['kicked']);
  expect(await metric('kicked')).toBe(1);

  const again = await kick('se-valve/2');
  expect(again.status).toBe(404);
  expect(await again.json()).toEqual({ error: 'device not connected' });
  expect((await kick('se-nobody')).status).toBe(404);
  // The registry shows why it went.
  const entry = await (
    await fetch(`http://127.0.0.1:${gw.httpPort}/api/devices/se-valve%2F2`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
  ).json();
  expect(entry).toMatchObject({ online: false, lastDisconnectReason: 'kicked' });
});

it('without security.http.token a DELETE from off this host is refused (403, counted); from loopback it is served', async () => {
  const registry = new Registry();
  const log = pino({ level: 'silent' });
  const limits = new Limits({ config: Value.Default(LimitsSchema, {}) as never, registry, log });
  const part = new HttpPart({
    host: '127.0.0.1',
    port: 0,
    registry,
    log,
    health: () => ({ status: 'ok' }),
    ready: () => ({ ready: true, reasons: [] }),
    security: Value.Default(HttpSecuritySchema, {}) as never,
    limits,
  });
  const kicked: string[] = [];
  const broker = {
    kick: (id: string) => {
      kicked.push(id);
      return true;
    },
  };
  deviceRoutes({} as DeviceRegistry, (path, handler, method) => part.route(path, handler, method), broker, log);
  await part.start();
  // A listener on loopback whose connections the HTTP server sees as coming from 192.0.2.7.
  const remote = createTcpServer((socket) => {
    Object.defineProperty(socket, 'remoteAddress', { value: '192.0.2.7' });
    part.server.emit('connection', socket);
  }).listen(0, '127.0.0.1');
  await once(remote, 'listening');
  try {
    const port = (remote.address() as { port: number }).port;
    const off = await fetch(`http://127.0.0.1:${port}/api/devices/lock-1/connection`, { method: 'DELETE' });
    expect(off.status).toBe(403);
    expect(await off.json()).toMatchObject({ error: expect.stringContaining('security.http.token') });
    expect(kicked).toEqual([]);
    const refusals = await registry.getSingleMetric('gateway_limit_refusals_total')?.get();
    // Its own label: not a wrong token (none is set), a route served to this host only.
    expect(refusals?.values.find((v) => v.labels.limit === 'http_loopback_only')?.value).toBe(1);
    expect(refusals?.values.find((v) => v.labels.limit === 'http_token')?.value ?? 0).toBe(0);
    const local = await fetch(`http://127.0.0.1:${part.port}/api/devices/lock-1/connection`, { method: 'DELETE' });
    expect(local.status).toBe(204);
    expect(kicked).toEqual(['lock-1']);
  } finally {
    remote.close();
    await part.stop();
  }
});
