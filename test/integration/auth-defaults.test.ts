// The webhook authenticator against a real HTTP service (timeout, cache, fail-closed/open) and the loopback-only
// default of the gateway process.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Value } from '@sinclair/typebox/value';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authority, type ConnectInfo } from '../../gateway/auth/index.ts';
import { type AuthConfig, AuthConfigSchema } from '../../gateway/auth/schema.ts';
import { GatewayProcess } from '../harness/gateway-process.ts';

describe('webhook authenticator', () => {
  let server: Server;
  let url = '';
  let requests = 0;
  let answer: 'allow' | 'deny' | 'slow' | 'broken' = 'allow';

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests += 1;
      req.resume();
      req.on('end', () => {
        if (answer === 'slow') return; // never answers: the timeout decides
        if (answer === 'broken') {
          res.statusCode = 500;
          res.end();
          return;
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ result: answer }));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/auth`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  const authority = (webhook: Partial<AuthConfig['authentication']['webhook']>) => {
    const a = new Authority({
      security: Value.Default(AuthConfigSchema, { authentication: { webhook: { url, ...webhook } } }) as AuthConfig,
      mqtt: { host: '0.0.0.0', tls: { ca: '', cert: '' } },
      http: { host: '127.0.0.1' },
      registry: new Registry(),
      log: pino({ level: 'silent' }),
    });
    a.start();
    return a;
  };
  const attempt: ConnectInfo = {
    clientId: 'hook-1',
    sentClientId: 'hook-1',
    clean: true,
    username: 'hook-1',
    password: Buffer.from('pw'),
    cert: undefined,
    peer: '10.1.1.1',
    will: undefined,
  };

  it('caches answers for cacheTtlSec', async () => {
    const a = authority({ cacheTtlSec: 60 });
    answer = 'allow';
    const before = requests;
    expect((await a.connect(attempt)).ok).toBe(true);
    expect((await a.connect(attempt)).ok).toBe(true);
    expect(requests - before).toBe(1);
    answer = 'deny';
    expect(await a.connect({ ...attempt, password: Buffer.from('other') })).toMatchObject({ reason: 'webhook-deny' });
  });

  it('fail-closed refuses on a timeout or an error, fail-open accepts; failures are not cached', async () => {
    const closed = authority({ timeoutMs: 200, cacheTtlSec: 60, failMode: 'closed' });
    answer = 'slow';
    expect(await closed.connect(attempt)).toMatchObject({ ok: false, reason: 'webhook-error', returnCode: 5 });
    answer = 'broken';
    expect(await closed.connect(attempt)).toMatchObject({ ok: false, reason: 'webhook-error' });
    answer = 'allow';
    expect((await closed.connect(attempt)).ok).toBe(true);
    const open = authority({ timeoutMs: 200, failMode: 'open' });
    answer = 'slow';
    expect((await open.connect(attempt)).ok).toBe(true);
  });
});

describe('secure defaults of the gateway process', () => {
  it('with no authentication configured it listens on loopback only and says how to open it', async () => {
    const gw = await GatewayProcess.create({
      env: {
        GATEWAY_KAFKA_BROKERS: '127.0.0.1:1',
        GATEWAY_FLOWS_ENABLED: 'false',
        GATEWAY_MQTT_HOST: 'auto',
        GATEWAY_HTTP_HOST: 'auto',
      },
    });
    try {
      await gw.start();
      expect(gw.output).toContain('listening on loopback only');
      expect(gw.output).toContain('security.authentication');
      // Local clients connect without credentials; a username is still refused.
      const local = await mqtt.connectAsync(gw.url, { clientId: 'local-1', reconnectPeriod: 0 });
      await local.publishAsync('devices/local-1/state', 'x', { qos: 1 });
      await local.endAsync();
      await expect(
        mqtt.connectAsync(gw.url, { clientId: 'x', username: 'guess', password: 'x', reconnectPeriod: 0 }),
      ).rejects.toThrow();
      // Another address of this host is refused.
      const lan = Object.values(networkInterfaces())
        .flat()
        .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
      if (lan) {
        const s = connectTcp(gw.mqttPort, lan);
        const [err] = (await once(s, 'error')) as [NodeJS.ErrnoException];
        expect(err.code).toBe('ECONNREFUSED');
      }
    } finally {
      await gw.close();
    }
  });

  it('refuses to start with a network listener and no authentication, and warns about anonymous access', async () => {
    const open = await GatewayProcess.create({
      env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1', GATEWAY_FLOWS_ENABLED: 'false', GATEWAY_MQTT_HOST: '0.0.0.0' },
    });
    try {
      await expect(open.start()).rejects.toThrow(/mqtt\.host: "0\.0\.0\.0" is reachable from the network/);
    } finally {
      await open.close();
    }
    const anon = await GatewayProcess.create({
      env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1', GATEWAY_FLOWS_ENABLED: 'false', GATEWAY_SECURITY_ANONYMOUS: 'true' },
    });
    try {
      await anon.start();
      expect(anon.output).toContain('security.anonymous is true');
    } finally {
      await anon.close();
    }
  });
});
