// Authentication, client id binding and ACLs against the real gateway process with mqtt.js clients: each attack is
// refused and counted in /metrics while a legitimate device keeps getting PUBACKs.
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../gateway/auth/passwords.ts';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { freePort } from '../harness/kafka.ts';

const SECRET = 'integration-shared-secret-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'gw-auth-'));
let gw: GatewayProcess;
let hook: Server;
let tlsPort = 0;
const clients: MqttClient[] = [];

function openssl(...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate for `lock-3` signed by it, and a rogue self-signed
 * `lock-3`. */
function certificates(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-days', '1', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
  writeFileSync(join(dir, 'srv.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const [name, cn, ext] of [
    ['srv', '127.0.0.1', 'srv.ext'],
    ['lock3', 'lock-3', ''],
  ] as const) {
    openssl('req', ...ec, '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      `${name}.pem`,
      ...(ext ? ['-extfile', ext] : []),
    );
  }
  openssl('req', '-x509', ...ec, '-days', '1', '-subj', '/CN=lock-3', '-keyout', 'rogue.key', '-out', 'rogue.pem');
}

const file = (name: string) => join(dir, name);

beforeAll(async () => {
  certificates();
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { username, password } = JSON.parse(body) as { username: string; password: string };
      const result = username !== 'hook-dev' ? 'ignore' : password === 'hook-pw' ? 'allow' : 'deny';
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ result }));
    });
  });
  hook.listen(0, '127.0.0.1');
  await once(hook, 'listening');
  const hookPort = (hook.address() as { port: number }).port;
  tlsPort = await freePort();
  const users = await Promise.all(
    ['lock-1', 'lock-2', 'cloud'].map(
      async (u) => `      - { username: ${u}, passwordHash: '${await hashPassword(`${u}-pw`)}' }`,
    ),
  );
  gw = await GatewayProcess.create({
    env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1', GATEWAY_FLOWS_ENABLED: 'false' },
    configYaml: [
      'mqtt:',
      `  tls: { port: ${tlsPort}, cert: ${file('srv.pem')}, key: ${file('srv.key')}, ca: ${file('ca.pem')} }`,
      'security:',
      '  authentication:',
      '    users:',
      ...users,
      '    signature: { keys: [{ accessKey: AK1, secret: sig-secret }] }',
      `    jwt: { secret: ${SECRET} }`,
      `    webhook: { url: 'http://127.0.0.1:${hookPort}/auth', cacheTtlSec: 0 }`,
      '    backoff: { failures: 1000 }',
      '  authorization:',
      '    template: per-device',
      '    admins: [cloud]',
      '',
    ].join('\n'),
  });
  await gw.start();
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await gw?.close();
  hook?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function connect(opts: IClientOptions, url = gw.url): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...opts });
  clients.push(c);
  return c;
}

/** The CONNACK return code (or the transport error) of a connection the gateway refuses. */
async function refusal(opts: IClientOptions, url = gw.url): Promise<number | string> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
  try {
    return await new Promise<number | string>((resolve, reject) => {
      c.once('connect', () => reject(new Error('the gateway accepted the connection')));
      c.once('error', (e: Error & { code?: number | string }) => resolve(e.code ?? e.message));
      // A TLS 1.3 client learns that its certificate was refused only when the server closes the connection.
      c.once('close', () => resolve('closed'));
    });
  } finally {
    c.end(true);
  }
}

/** A CONNECT written by hand: mqtt.js and mqtt-packet will not send a zero-length client id with clean session 0. */
function connectPacket(p: { clientId: string; username: string; password: string; clean: boolean }): Buffer {
  const str = (v: string) => {
    const b = Buffer.from(v);
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const flags = 0x80 | 0x40 | (p.clean ? 0x02 : 0);
  const body = Buffer.concat([
    str('MQTT'),
    Buffer.from([4, flags, 0, 30]),
    str(p.clientId),
    str(p.username),
    str(p.password),
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** The CONNACK return code of a hand-written CONNECT. */
async function rawConnack(p: {
  clientId: string;
  username: string;
  password: string;
  clean: boolean;
}): Promise<number> {
  const socket = connectTcp(gw.mqttPort, '127.0.0.1');
  try {
    await once(socket, 'connect');
    socket.write(connectPacket(p));
    const [data] = (await once(socket, 'data')) as [Buffer];
    expect(data[0]).toBe(0x20); // CONNACK
    return data[3] as number;
  } finally {
    socket.destroy();
  }
}

const failures = (reason: string) => gw.metric('gateway_auth_failures_total', { reason });
const pw = (u: string) => ({ clientId: u, username: u, password: `${u}-pw` });

describe('authentication against the gateway process', () => {
  let device: MqttClient;
  let sent = 0;
  /** The legitimate device: every call publishes once more and must get its PUBACK. */
  const stillServed = async () => {
    await device.publishAsync('devices/lock-2/state', `{"n":${sent++}}`, { qos: 1 });
  };

  beforeAll(async () => {
    device = await connect({ ...pw('lock-2'), clean: false });
    await device.subscribeAsync('devices/lock-2/command', { qos: 1 });
    await stillServed();
  });

  it('wrong password and unknown user: CONNACK 4, counted', async () => {
    expect(await refusal({ ...pw('lock-1'), password: 'guess' })).toBe(4);
    expect(await refusal({ clientId: 'intruder', username: 'intruder', password: 'x' })).toBe(4);
    expect(await refusal({ clientId: 'anon' })).toBe(5);
    await stillServed();
    expect(await failures('bad-password')).toBeGreaterThanOrEqual(1);
    expect(await failures('unknown-user')).toBeGreaterThanOrEqual(1);
    expect(await failures('no-credentials')).toBeGreaterThanOrEqual(1);
  });

  it('tokens: valid accepted; expired and for another client id refused', async () => {
    const key = new TextEncoder().encode(SECRET);
    const now = Math.floor(Date.now() / 1000);
    const sign = (id: string, exp: number) =>
      new SignJWT({ clientid: id }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(key);
    const ok = await connect({ clientId: 'lock-5', username: 'token', password: await sign('lock-5', now + 60) });
    await ok.publishAsync('devices/lock-5/state', 'x', { qos: 1 });
    expect(await refusal({ clientId: 'lock-5', username: 'token', password: await sign('lock-5', now - 600) })).toBe(4);
    expect(await refusal({ clientId: 'lock-2', username: 'token', password: await sign('lock-5', now + 60) })).toBe(2);
    await stillServed();
    expect(await failures('token-expired')).toBeGreaterThanOrEqual(1);
  });

  it('signatures: right HMAC accepted, bad signature refused', async () => {
    const id = 'GID_locks@@@9';
    const good = createHmac('sha256', 'sig-secret').update(id).digest('base64');
    const ok = await connect({ clientId: id, username: 'Signature|AK1|edge', password: good });
    expect(ok.connected).toBe(true);
    const bad = createHmac('sha1', 'other-secret').update(id).digest('base64');
    expect(await refusal({ clientId: id, username: 'Signature|AK1|edge', password: bad })).toBe(4);
    expect(await failures('bad-signature')).toBeGreaterThanOrEqual(1);
  });

  it('webhook: allow, deny', async () => {
    const ok = await connect({ clientId: 'hook-dev', username: 'hook-dev', password: 'hook-pw' });
    expect(ok.connected).toBe(true);
    expect(await refusal({ clientId: 'hook-dev', username: 'hook-dev', password: 'nope' })).toBe(4);
    expect(await failures('webhook-deny')).toBeGreaterThanOrEqual(1);
  });

  it('client certificates: signed by the CA accepted as their CN; rogue and missing ones refused in the handshake', async () => {
    const url = `mqtts://127.0.0.1:${tlsPort}`;
    const ca = readFileSync(file('ca.pem'));
    const before = await failures('tls-handshake');
    const ok = await connect(
      { clientId: 'lock-3', ca, cert: readFileSync(file('lock3.pem')), key: readFileSync(file('lock3.key')) },
      url,
    );
    await ok.publishAsync('devices/lock-3/state', 'x', { qos: 1 });
    const rogue = await refusal(
      { clientId: 'lock-3', ca, cert: readFileSync(file('rogue.pem')), key: readFileSync(file('rogue.key')) },
      url,
    );
    expect(typeof rogue).toBe('string');
    const none = await refusal({ clientId: 'lock-3', ca }, url);
    expect(typeof none).toBe('string');
    // Certificate for lock-3, client id of lock-2: refused before the session is touched.
    expect(
      await refusal(
        { clientId: 'lock-2', ca, cert: readFileSync(file('lock3.pem')), key: readFileSync(file('lock3.key')) },
        url,
      ),
    ).toBe(2);
    await expect.poll(() => failures('tls-handshake')).toBeGreaterThanOrEqual(before + 2);
    await stillServed();
  });

  it('takeover: another identity using a device id gets CONNACK 2, kicks no one and inherits nothing', async () => {
    let kicked = false;
    device.once('close', () => (kicked = true));
    expect(await refusal({ clientId: 'lock-2', username: 'lock-1', password: 'lock-1-pw', clean: false })).toBe(2);
    expect(await rawConnack({ clientId: '', username: 'lock-1', password: 'lock-1-pw', clean: false })).toBe(2);
    await stillServed();
    expect(kicked).toBe(false);
    expect(device.connected).toBe(true);
    // The device still gets its commands.
    const cloud = await connect(pw('cloud'));
    const got = new Promise<[string, Buffer]>((resolve) => device.once('message', (t, m) => resolve([t, m])));
    await cloud.publishAsync('devices/lock-2/command', 'unlock', { qos: 1 });
    const [topic, payload] = await got;
    expect([topic, payload.toString()]).toEqual(['devices/lock-2/command', 'unlock']);
    expect(await failures('client-id-mismatch')).toBeGreaterThanOrEqual(2);
  });
});

describe('authorization against the gateway process', () => {
  it('cross-device subscribe gets 0x80, the own command topic is granted', async () => {
    const lock1 = await connect(pw('lock-1'));
    const suback = new Promise<number[]>((resolve) =>
      lock1.on('packetreceive', (p) => {
        if (p.cmd === 'suback') resolve(p.granted as number[]);
      }),
    );
    // mqtt.js rejects a SUBACK holding 0x80; the granted codes are read from the packet.
    await lock1
      .subscribeAsync(['devices/lock-2/command', '#', '$SYS/#', 'devices/lock-1/command'], { qos: 1 })
      .catch(() => {});
    expect(await suback).toEqual([128, 128, 128, 1]);
    expect(await gw.metric('gateway_acl_denied_total', { action: 'subscribe' })).toBeGreaterThanOrEqual(3);
    await lock1.publishAsync('devices/lock-1/state', 'ok', { qos: 1 });
  });

  it('cross-device publish and a retained command are not acknowledged: the connection is closed and it is counted', async () => {
    for (const [topic, retain, action] of [
      ['devices/lock-2/state', false, 'publish'],
      ['devices/lock-1/command', true, 'retain'],
    ] as const) {
      const before = await gw.metric('gateway_acl_denied_total', { action });
      const lock1 = await connect(pw('lock-1'));
      let acked = false;
      lock1.on('packetreceive', (p) => {
        if (p.cmd === 'puback') acked = true;
      });
      const closed = new Promise<void>((r) => lock1.once('close', () => r()));
      lock1.publish(topic, 'spoof', { qos: 1, retain });
      await closed;
      expect(acked).toBe(false);
      expect(await gw.metric('gateway_acl_denied_total', { action })).toBe(before + 1);
    }
    // Admins may command devices, but never with a retained message.
    const cloud = await connect(pw('cloud'));
    const closed = new Promise<void>((r) => cloud.once('close', () => r()));
    cloud.publish('devices/lock-2/command', 'unlock', { qos: 1, retain: true });
    await closed;
  });
});
