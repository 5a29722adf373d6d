// The HTTP port hardened, against the real gateway process: HTTPS only (MQTT over wss), WebSocket upgrades from a
// foreign Origin refused, /metrics and /healthz behind a bearer token, WebSocket frames capped like packets; each
// refusal counted while a legitimate wss device keeps getting PUBACKs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';

const TOKEN = 'metrics-token-0123456789';
let gw: GatewayProcess;
let ca: Buffer;
const clients: MqttClient[] = [];

function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gw-https-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const r = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
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

function get(path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: gw.httpPort,
        path,
        ca,
        headers: token ? { authorization: `Bearer ${token}` } : {},
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function refusals(limit: string): Promise<number> {
  const { body } = await get('/metrics', TOKEN);
  const line = body.split('\n').find((l) => l.startsWith(`gateway_limit_refusals_total{limit="${limit}"}`));
  return Number(line?.split(' ').at(-1) ?? 0);
}

function wss(clientId: string, origin?: string): MqttClient {
  const c = mqtt.connect(`wss://127.0.0.1:${gw.httpPort}/mqtt`, {
    clientId,
    ca,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    wsOptions: origin ? { origin } : {},
  });
  clients.push(c);
  return c;
}

function outcome(c: MqttClient): Promise<'connected' | 'closed'> {
  return new Promise((resolve) => {
    c.once('connect', () => resolve('connected'));
    c.once('close', () => resolve('closed'));
    c.on('error', () => {});
  });
}

beforeAll(async () => {
  const { cert, key } = selfSigned();
  ca = readFileSync(cert);
  gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: '127.0.0.1:1',
      GATEWAY_FLOWS_ENABLED: 'false',
      GATEWAY_SECURITY_HTTP_TLS_CERT: cert,
      GATEWAY_SECURITY_HTTP_TLS_KEY: readFileSync(key, 'utf8'), // PEM text works as well as a path
      GATEWAY_SECURITY_HTTP_TOKEN: TOKEN,
      GATEWAY_SECURITY_HTTP_ALLOWED_ORIGINS: 'https://ops.example.net',
    },
  });
  await gw.start();
}, 90_000);

afterAll(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => {});
  await gw?.close();
});

it('serves /metrics and /healthz over HTTPS with the token only', async () => {
  expect((await get('/metrics')).status).toBe(401);
  expect((await get('/healthz', 'wrong-token-0123456789xx')).status).toBe(401);
  expect((await get('/healthz', TOKEN)).status).toBe(200);
  expect(await refusals('http_token')).toBe(2);
});

it('accepts MQTT over wss without Origin or from an allowed one, refuses a foreign Origin', async () => {
  const device = wss('lock-ws');
  expect(await outcome(device)).toBe('connected');
  await device.publishAsync('devices/lock-ws/state', '{"locked":true}', { qos: 1 });
  const ops = wss('ops-console', 'https://ops.example.net');
  expect(await outcome(ops)).toBe('connected');
  expect(await outcome(wss('evil-page', 'https://evil.example'))).toBe('closed');
  expect(await refusals('ws_origin')).toBe(1);
  await device.publishAsync('devices/lock-ws/state', '{"locked":false}', { qos: 1 });
});

it('closes a WebSocket carrying a frame over maxPacketBytes and counts it', async () => {
  const big = wss('big-ws');
  expect(await outcome(big)).toBe('connected');
  const closed = new Promise<void>((resolve) => big.once('close', () => resolve()));
  big.publish('devices/big-ws/blob', Buffer.alloc(2 * 1024 * 1024, 1), { qos: 1 });
  await closed;
  await expect.poll(() => refusals('packet_size'), { timeout: 5_000 }).toBe(1);
});
