// The gateway process as an attacker on the network sees it: wrong password, expired token, bad signature,
// cross-device publish and subscribe, session takeover, a 256 MB length claim before CONNECT and an anonymous
// editor deploy are each refused and counted, while a legitimate device keeps getting its PUBACKs.
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { SignJWT } from 'jose';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hashPassword } from '../../gateway/auth/passwords.ts';
import { live, mb, memoryProbeOptions, probeMemory } from '../fuzz/memory.ts';
import { connectPacket } from '../fuzz/packets.ts';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { freePort } from '../harness/kafka.ts';
import { waitFor } from '../harness/wait.ts';

const JWT_SECRET = 'jwt-secret-for-the-security-suite-0123456789';
const SIGN_SECRET = 'group-secret-1';
const cleanup: (() => Promise<void>)[] = [];
let gw: GatewayProcess;
let probeFile: string;
const device = { acked: 0, closes: 0, error: undefined as Error | undefined, stop: false };
let deviceDone: Promise<void>;
let tlsPort: number;
let pki: Record<'ca' | 'serverCert' | 'serverKey' | 'devCert' | 'devKey' | 'rogueCert' | 'rogueKey', string>;

function openssl(...args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
}

/** A CA, a server certificate and a device certificate it signed, and a rogue self-signed one with the same CN. */
function makePki(dir: string): typeof pki {
  const f = (n: string) => join(dir, n);
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=test-ca',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  );
  const signed = (name: string, subj: string, ext: string[]) => {
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      subj,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
    );
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      f(`${name}.pem`),
      ...ext,
    );
  };
  writeServerExt(dir);
  signed('server', '/CN=127.0.0.1', ['-extfile', f('server.ext')]);
  signed('dev', '/CN=lock-5', []);
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=lock-5',
    '-keyout',
    f('rogue.key'),
    '-out',
    f('rogue.pem'),
  );
  return {
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    devCert: f('dev.pem'),
    devKey: f('dev.key'),
    rogueCert: f('rogue.pem'),
    rogueKey: f('rogue.key'),
  };
}

function writeServerExt(dir: string): void {
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
}

beforeAll(async () => {
  const users = [
    { username: 'lock-1', passwordHash: await hashPassword('lock-1-pass') },
    { username: 'lock-3', passwordHash: await hashPassword('lock-3-pass') },
  ];
  const adminHash = await hashPassword('editor-pass', { kind: 'bcrypt' });
  const dir = mkdtempSync(join(tmpdir(), 'gw-sec-'));
  pki = makePki(dir);
  tlsPort = await freePort();
  const yaml = JSON.stringify({
    mqtt: { tls: { port: tlsPort, cert: pki.serverCert, key: pki.serverKey, ca: pki.ca } },
    flows: { adminAuth: { username: 'admin', passwordHash: adminHash } },
    security: {
      authentication: {
        users,
        jwt: { secret: JWT_SECRET },
        signature: { keys: [{ accessKey: 'ak-1', secret: SIGN_SECRET }] },
        // The attacks all come from 127.0.0.1: keep the address back-off out of the way of the reasons counted.
        backoff: { failures: 1000 },
      },
      authorization: { template: 'per-device' },
    },
  });
  probeFile = join(dir, 'memory.jsonl');
  const probe = memoryProbeOptions(probeFile);
  gw = await GatewayProcess.create({
    configYaml: yaml,
    env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1', ...probe.env },
    wrap: probe.wrap,
  });
  cleanup.push(() => gw.close());
  await gw.start();
  deviceDone = (async () => {
    const c = await mqtt.connectAsync(gw.url, {
      clientId: 'lock-1',
      username: 'lock-1',
      password: 'lock-1-pass',
      reconnectPeriod: 0,
    });
    c.on('close', () => {
      if (!device.stop) device.closes++;
    });
    while (!device.stop) {
      await c.publishAsync('devices/lock-1/state', `{"n":${device.acked}}`, { qos: 1 });
      device.acked++;
    }
    await c.endAsync();
  })().catch((err: unknown) => {
    device.error = err as Error;
  });
  await waitFor('the device to get its first PUBACK', () => device.acked > 0 || device.error !== undefined);
}, 120_000);

afterAll(async () => {
  device.stop = true;
  await deviceDone;
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** The device got at least one more PUBACK since `before` and was never disconnected. */
async function deviceStillServed(before: number): Promise<void> {
  await waitFor('a device PUBACK', () => device.acked > before || device.error !== undefined, 20_000, 20);
  expect(device.error).toBeUndefined();
  expect(device.closes).toBe(0);
}

async function refusedConnect(opts: mqtt.IClientOptions): Promise<Error> {
  const err = await mqtt.connectAsync(gw.url, { ...opts, reconnectPeriod: 0, connectTimeout: 10_000 }).then(
    async (c) => {
      await c.endAsync();
      return undefined;
    },
    (e: unknown) => e as Error,
  );
  expect(err, 'connection accepted').toBeInstanceOf(Error);
  return err as Error;
}

const authFailures = (labels: Record<string, string>) => gw.metric('gateway_auth_failures_total', labels);

it('refuses a wrong password, counted', async () => {
  const acked = device.acked;
  const before = await authFailures({ method: 'password' });
  await refusedConnect({ clientId: 'lock-3', username: 'lock-3', password: 'guess' });
  expect(await authFailures({ method: 'password' })).toBe(before + 1);
  await deviceStillServed(acked);
});

it('refuses an expired token, counted', async () => {
  const acked = device.acked;
  const token = await new SignJWT({ clientid: 'lock-7' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
    .sign(new TextEncoder().encode(JWT_SECRET));
  const before = await authFailures({ method: 'jwt' });
  await refusedConnect({ clientId: 'lock-7', username: 'lock-7', password: token });
  expect(await authFailures({ method: 'jwt' })).toBe(before + 1);
  await deviceStillServed(acked);
});

it('refuses a bad HMAC signature, counted', async () => {
  const acked = device.acked;
  const bad = createHmac('sha256', 'not-the-secret').update('lock-8').digest('base64');
  const before = await authFailures({ method: 'signature' });
  await refusedConnect({ clientId: 'lock-8', username: 'Signature|ak-1|', password: bad });
  expect(await authFailures({ method: 'signature' })).toBe(before + 1);
  // The same device with the right signature gets in: the refusal was the signature's.
  const good = createHmac('sha256', SIGN_SECRET).update('lock-8').digest('base64');
  const ok = await mqtt.connectAsync(gw.url, {
    clientId: 'lock-8',
    username: 'Signature|ak-1|',
    password: good,
    reconnectPeriod: 0,
  });
  await ok.endAsync();
  await deviceStillServed(acked);
});

it("refuses another device's command subscription and state publish, counted", async () => {
  const acked = device.acked;
  const c: MqttClient = await mqtt.connectAsync(gw.url, {
    clientId: 'lock-3',
    username: 'lock-3',
    password: 'lock-3-pass',
    reconnectPeriod: 0,
  });
  try {
    const subBefore = await gw.metric('gateway_acl_denied_total', { action: 'subscribe' });
    // SUBACK 0x80: mqtt.js turns the refusal into an error.
    await expect(c.subscribeAsync('devices/lock-1/command', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    expect(await gw.metric('gateway_acl_denied_total', { action: 'subscribe' })).toBe(subBefore + 1);
    // Its own command topic is allowed.
    expect((await c.subscribeAsync('devices/lock-3/command', { qos: 1 })).map((g) => g.qos)).toEqual([1]);

    const pubBefore = await gw.metric('gateway_acl_denied_total', { action: 'publish' });
    const backlog = await gw.metric('gateway_ingress_messages_total');
    c.publish('devices/lock-1/state', '{"locked":false}', { qos: 1 }); // not acknowledged: no await
    await waitFor(
      'the denied publish counted',
      async () => (await gw.metric('gateway_acl_denied_total', { action: 'publish' })) === pubBefore + 1,
      20_000,
    );
    // Nothing of it was stored: ingress grew only by the device's own publishes.
    const own = device.acked;
    const ingress = await gw.metric('gateway_ingress_messages_total');
    expect(ingress - backlog).toBeLessThanOrEqual(own - acked + 2);
  } finally {
    c.end(true);
  }
  await deviceStillServed(acked);
});

it('refuses a takeover of the device session by another identity, counted, and kicks no one', async () => {
  const acked = device.acked;
  const before = await authFailures({ reason: 'client-id-mismatch' });
  await refusedConnect({ clientId: 'lock-1', username: 'lock-3', password: 'lock-3-pass', clean: false });
  expect(await authFailures({ reason: 'client-id-mismatch' })).toBe(before + 1);
  await deviceStillServed(acked);
});

it('closes a socket claiming a 256 MB packet before CONNECT without buffering it, counted', async () => {
  const acked = device.acked;
  const memBefore = await probeMemory(gw, probeFile);
  const refusalsBefore = await gw.metric('gateway_limit_refusals_total');
  const sent = await new Promise<number>((resolve) => {
    const s = connect({ port: gw.mqttPort, host: '127.0.0.1' });
    let bytes = 0;
    const chunk = Buffer.alloc(64 * 1024);
    s.on('error', () => {});
    s.on('close', () => resolve(bytes));
    s.on('connect', () => {
      s.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f])); // CONNECT, remaining length 268,435,455
      // Keep sending (up to 64 MB) until the gateway closes the socket.
      const pump = (): void => {
        while (bytes < 64 * 1048576 && !s.destroyed) {
          bytes += chunk.length;
          if (!s.write(chunk)) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
  });
  expect(await gw.metric('gateway_limit_refusals_total')).toBe(refusalsBefore + 1);
  const memAfter = await probeMemory(gw, probeFile);
  console.log(
    `256 MB claim: ${mb(sent)} sent before the close; live memory ${mb(live(memBefore))} -> ${mb(live(memAfter))}`,
  );
  expect(live(memAfter) - live(memBefore)).toBeLessThan(5 * 1048576);
  await deviceStillServed(acked);
});

it('refuses an anonymous editor deploy, counted', async () => {
  const acked = device.acked;
  const before = await gw.metric('gateway_editor_refusals_total', { reason: 'no_login' });
  const r = await fetch(`http://127.0.0.1:${gw.httpPort}/editor/flows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([{ id: 'x1', type: 'tab', label: 'owned' }]),
  });
  expect(r.status).toBe(401);
  expect(await gw.metric('gateway_editor_refusals_total', { reason: 'no_login' })).toBe(before + 1);
  await deviceStillServed(acked);
});

it('refuses a rogue client certificate in the TLS handshake, counted', async () => {
  const acked = device.acked;
  const tls = (cert: string, key: string): mqtt.IClientOptions => ({
    clientId: 'lock-5',
    ca: readFileSync(pki.ca),
    cert: readFileSync(cert),
    key: readFileSync(key),
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  const before = await authFailures({ method: 'certificate' });
  // A raw TLS socket: the refusal is an alert during or right after the handshake (TLS 1.3), then the close.
  const err = await new Promise<Error | undefined>((resolve) => {
    const sock = tlsConnect({
      host: '127.0.0.1',
      port: tlsPort,
      ca: readFileSync(pki.ca),
      cert: readFileSync(pki.rogueCert),
      key: readFileSync(pki.rogueKey),
    });
    let connack = false;
    let failure: Error | undefined;
    sock.on('error', (e) => {
      failure = e;
    });
    sock.on('secureConnect', () => sock.write(connectPacket('lock-5')));
    sock.on('data', (d: Buffer) => {
      if (d[0] === 0x20 && d[3] === 0) connack = true; // CONNACK accepted: the gateway let the rogue in
      sock.destroy();
    });
    sock.on('close', () => resolve(connack ? undefined : (failure ?? new Error('closed without a CONNACK'))));
  });
  expect(err, 'rogue certificate accepted').toBeInstanceOf(Error);
  await waitFor(
    'the refused handshake counted',
    async () => (await authFailures({ method: 'certificate' })) === before + 1,
    10_000,
  );
  // The certificate the CA signed, with the same name, gets in.
  const ok = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, tls(pki.devCert, pki.devKey));
  await ok.publishAsync('devices/lock-5/state', '{}', { qos: 1 });
  await ok.endAsync();
  await deviceStillServed(acked);
});
