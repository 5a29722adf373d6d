// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ACL topics and the client id pattern spell placeholders as ${name}.
// The authentication chain without sockets: each method, the end of the chain, the client id binding, back-off and the
// config checks.
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../app/config/index.ts';
import { Backoff } from '../../gateway/auth/backoff.ts';
import { Authority, type ConnectInfo } from '../../gateway/auth/index.ts';
import { hashPassword } from '../../gateway/auth/passwords.ts';
import { type AuthConfig, AuthConfigSchema } from '../../gateway/auth/schema.ts';

const SECRET = 'a-very-long-shared-secret-of-32-bytes!';
const log = pino({ level: 'silent' });

async function authority(security: Partial<AuthConfig>, ca = '') {
  const registry = new Registry();
  const a = new Authority({
    security: Value.Default(AuthConfigSchema, structuredClone(security)) as AuthConfig,
    mqtt: { host: '0.0.0.0', tls: { ca, cert: ca ? 'server.pem' : '' } },
    http: { host: '127.0.0.1' },
    registry,
    log,
  });
  a.start();
  const failures = async (reason: string) => {
    const m = await registry.getSingleMetric('gateway_auth_failures_total')?.get();
    return m?.values.filter((v) => v.labels.reason === reason).reduce((s, v) => s + v.value, 0) ?? 0;
  };
  return { a, failures };
}

const attempt = (over: Partial<ConnectInfo>): ConnectInfo => ({
  clientId: 'lock-1',
  sentClientId: over.clientId ?? 'lock-1',
  clean: true,
  username: undefined,
  password: undefined,
  cert: undefined,
  peer: '10.0.0.9',
  will: undefined,
  ...over,
});

describe('authentication chain', () => {
  it('password: right hash accepted, wrong refused (4), unknown username refused (4), each counted', async () => {
    const hash = await hashPassword('open-sesame');
    const { a, failures } = await authority({
      authentication: { users: [{ username: 'lock-1', passwordHash: hash }] },
    } as never);
    const ok = await a.connect(attempt({ username: 'lock-1', password: Buffer.from('open-sesame') }));
    expect(ok.ok && ok.identity.name).toBe('lock-1');
    // The remembered digest is only used for the same password.
    expect(await a.connect(attempt({ username: 'lock-1', password: Buffer.from('open-sesamE') }))).toMatchObject({
      ok: false,
      returnCode: 4,
      reason: 'bad-password',
    });
    expect(await a.connect(attempt({ username: 'nobody', password: Buffer.from('x') }))).toMatchObject({
      ok: false,
      returnCode: 4,
      reason: 'unknown-user',
    });
    expect(await a.connect(attempt({}))).toMatchObject({ ok: false, returnCode: 5, reason: 'no-credentials' });
    expect(await failures('bad-password')).toBe(1);
    expect(await failures('unknown-user')).toBe(1);
  });

  it('client id bound to the identity: another id is refused with 2', async () => {
    const hash = await hashPassword('pw', { kind: 'bcrypt' });
    const { a, failures } = await authority({
      authentication: { users: [{ username: 'lock-1', passwordHash: hash }] },
    } as never);
    const r = await a.connect(attempt({ clientId: 'lock-2', username: 'lock-1', password: Buffer.from('pw') }));
    expect(r).toMatchObject({ ok: false, returnCode: 2, reason: 'client-id-mismatch' });
    expect(await failures('client-id-mismatch')).toBe(1);
  });

  it('zero-length client id with clean session 0 gets 2 [MQTT-3.1.3-8]', async () => {
    const { a } = await authority({ anonymous: true });
    expect(await a.connect(attempt({ clientId: 'aedes_x', sentClientId: '', clean: false }))).toMatchObject({
      ok: false,
      returnCode: 2,
      reason: 'empty-client-id',
    });
    expect((await a.connect(attempt({ clientId: 'aedes_x', sentClientId: '', clean: true }))).ok).toBe(true);
  });

  it('signature: HMAC-SHA1 and SHA-256 of the client id; a bad one or an unknown key refused', async () => {
    const { a, failures } = await authority({
      authentication: { signature: { keys: [{ accessKey: 'AK1', secret: 'device-secret' }], instanceId: 'edge-1' } },
    } as never);
    const sig = (alg: string, id: string) => Buffer.from(createHmac(alg, 'device-secret').update(id).digest('base64'));
    const user = 'Signature|AK1|edge-1';
    for (const alg of ['sha1', 'sha256']) {
      const r = await a.connect(
        attempt({ clientId: 'GID_locks@@@7', username: user, password: sig(alg, 'GID_locks@@@7') }),
      );
      expect(r.ok && r.identity.name).toBe('GID_locks@@@7');
    }
    expect(
      await a.connect(attempt({ clientId: 'GID_locks@@@8', username: user, password: sig('sha1', 'GID_locks@@@7') })),
    ).toMatchObject({ reason: 'bad-signature' });
    expect(await a.connect(attempt({ username: 'Signature|AK2|edge-1', password: Buffer.from('x') }))).toMatchObject({
      reason: 'unknown-key',
    });
    expect(
      await a.connect(attempt({ username: 'Signature|AK1|other', password: sig('sha1', 'lock-1') })),
    ).toMatchObject({ reason: 'wrong-instance' });
    expect(await failures('bad-signature')).toBe(1);
  });

  it('jwt: a valid token for the client id is accepted with its claims; expired, forged and foreign ones refused', async () => {
    const { a, failures } = await authority({ authentication: { jwt: { secret: SECRET } } } as never);
    const key = new TextEncoder().encode(SECRET);
    const token = (claims: Record<string, unknown>, exp: number, k = key) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(k);
    const now = Math.floor(Date.now() / 1000);
    const good = await token({ clientid: 'lock-1', publish: ['devices/lock-1/state'] }, now + 60);
    const r = await a.connect(attempt({ username: 'any', password: Buffer.from(good) }));
    expect(r.ok && r.identity).toMatchObject({ name: 'lock-1', method: 'jwt', publish: ['devices/lock-1/state'] });
    const expired = await token({ clientid: 'lock-1' }, now - 3600);
    expect(await a.connect(attempt({ password: Buffer.from(expired) }))).toMatchObject({
      reason: 'token-expired',
      returnCode: 4,
    });
    const forged = await token({ clientid: 'lock-1' }, now + 60, new TextEncoder().encode(`${SECRET}x`));
    expect(await a.connect(attempt({ password: Buffer.from(forged) }))).toMatchObject({ reason: 'token-invalid' });
    const noExp = await new SignJWT({ clientid: 'lock-1' }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    expect(await a.connect(attempt({ password: Buffer.from(noExp) }))).toMatchObject({ reason: 'token-invalid' });
    expect(await a.connect(attempt({ clientId: 'lock-2', password: Buffer.from(good) }))).toMatchObject({
      reason: 'client-id-mismatch',
    });
    expect(await failures('token-expired')).toBe(1);
  });

  it('jwt: RS256 from a PEM public key and ES256 from a JWKS file, by kid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-jwt-'));
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    const other = await generateKeyPair('ES256');
    writeFileSync(join(dir, 'rsa.pem'), await exportSPKI(rsa.publicKey));
    const jwk = { ...(await exportJWK(ec.publicKey)), kid: 'k1', alg: 'ES256' };
    writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: [jwk] }));
    const exp = Math.floor(Date.now() / 1000) + 60;
    const tok = (alg: string, key: Parameters<SignJWT['sign']>[0], kid?: string) =>
      new SignJWT({ clientid: 'lock-1' })
        .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
        .setExpirationTime(exp)
        .sign(key);
    const pem = await authority({ authentication: { jwt: { publicKey: join(dir, 'rsa.pem') } } } as never);
    expect((await pem.a.connect(attempt({ password: Buffer.from(await tok('RS256', rsa.privateKey)) }))).ok).toBe(true);
    // An HS256 token cannot pass with a public key as its "secret" (algorithm confusion).
    const hs = await tok('HS256', new TextEncoder().encode(SECRET));
    expect(await pem.a.connect(attempt({ password: Buffer.from(hs) }))).toMatchObject({ reason: 'token-invalid' });
    const jwks = await authority({ authentication: { jwt: { jwks: join(dir, 'keys.json') } } } as never);
    expect((await jwks.a.connect(attempt({ password: Buffer.from(await tok('ES256', ec.privateKey, 'k1')) }))).ok).toBe(
      true,
    );
    expect(
      await jwks.a.connect(attempt({ password: Buffer.from(await tok('ES256', other.privateKey, 'k1')) })),
    ).toMatchObject({ reason: 'token-invalid' });
  });

  it('certificate: the verified certificate name is the identity', async () => {
    const { a } = await authority({}, 'ca.pem');
    const cert = { cn: 'lock-3', dns: [], uri: [], email: [] };
    const r = await a.connect(attempt({ clientId: 'lock-3', cert }));
    expect(r.ok && r.identity).toMatchObject({ name: 'lock-3', cn: 'lock-3', method: 'certificate' });
    expect(await a.connect(attempt({ clientId: 'lock-4', cert }))).toMatchObject({ reason: 'client-id-mismatch' });
  });

  it('a will the ACL denies refuses the CONNECT', async () => {
    const hash = await hashPassword('pw');
    const { a } = await authority({
      authentication: { users: [{ username: 'lock-1', passwordHash: hash }] },
      authorization: { template: 'per-device' },
    } as never);
    const base = { username: 'lock-1', password: Buffer.from('pw') };
    expect((await a.connect(attempt({ ...base, will: { topic: 'devices/lock-1/status', retain: true } }))).ok).toBe(
      true,
    );
    expect(
      await a.connect(attempt({ ...base, will: { topic: 'devices/lock-2/command', retain: false } })),
    ).toMatchObject({
      ok: false,
      returnCode: 5,
      reason: 'will-denied',
    });
  });

  it('loopback-only gateway: local clients without credentials connect, a username is still refused', async () => {
    const { a } = await authority({});
    expect(await a.connect(attempt({}))).toMatchObject({ ok: true, identity: { method: 'local' } });
    expect(await a.connect(attempt({ username: 'guess', password: Buffer.from('x') }))).toMatchObject({
      reason: 'unknown-user',
    });
  });

  it('repeated failures from one address are refused for a growing time', async () => {
    const hash = await hashPassword('pw');
    const { a, failures } = await authority({
      authentication: { users: [{ username: 'lock-1', passwordHash: hash }], backoff: { failures: 3 } },
    } as never);
    const bad = attempt({ username: 'lock-1', password: Buffer.from('no') });
    for (let i = 0; i < 3; i++) expect(await a.connect(bad)).toMatchObject({ reason: 'bad-password' });
    // Now even the right password from that address is refused without being checked...
    expect(await a.connect(attempt({ username: 'lock-1', password: Buffer.from('pw') }))).toMatchObject({
      reason: 'backoff',
      returnCode: 5,
    });
    // ...while another address is served.
    expect((await a.connect(attempt({ username: 'lock-1', password: Buffer.from('pw'), peer: '10.0.0.10' }))).ok).toBe(
      true,
    );
    expect(await failures('backoff')).toBe(1);
  });
});

describe('Backoff', () => {
  it('doubles the refusal period up to the maximum and forgets an address after a success', () => {
    let now = 0;
    const b = new Backoff(2, 1000, 3000, () => now);
    const round = () => {
      b.failed('p');
      b.failed('p');
    };
    round();
    expect(b.blocked('p')).toBe(true);
    now = 1000;
    expect(b.blocked('p')).toBe(false);
    round(); // 2 s
    now = 2999;
    expect(b.blocked('p')).toBe(true);
    now = 3000;
    round(); // 3 s (capped, not 4)
    now = 5999;
    expect(b.blocked('p')).toBe(true);
    now = 6000;
    expect(b.blocked('p')).toBe(false);
    b.succeeded('p');
    b.failed('p');
    expect(b.blocked('p')).toBe(false);
  });
});

describe('security config checks', () => {
  const problems = (raw: unknown): string[] => {
    try {
      resolveConfig(raw);
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  it('refuses plaintext passwords and the old mqtt.auth section, naming the keys', () => {
    expect(problems({ security: { authentication: { users: [{ username: 'a', passwordHash: 'hunter2' }] } } })).toEqual(
      [
        expect.stringMatching(
          /^security\.authentication\.users\[0\]\.passwordHash: is not a password hash \(plaintext passwords are refused\)/,
        ),
      ],
    );
    const old = problems({ mqtt: { auth: { users: [{ username: 'a', password: 'hunter2' }] } } });
    expect(old).toEqual([
      expect.stringMatching(/^mqtt\.auth: was replaced by the security section: .*security\.authentication\.users/),
    ]);
    expect(old.join()).not.toContain('hunter2');
  });

  it('refuses a listener on the network without authentication, unless anonymous is explicit', () => {
    expect(problems({ mqtt: { host: '0.0.0.0' } })).toEqual([
      expect.stringMatching(
        /^mqtt\.host: "0\.0\.0\.0" is reachable from the network but no authentication is configured/,
      ),
    ]);
    expect(problems({ http: { host: '192.168.1.5' } })[0]).toMatch(/^http\.host: /);
    expect(problems({ mqtt: { host: '0.0.0.0' }, security: { anonymous: true } })).toEqual([]);
    expect(problems({ mqtt: { host: '127.0.0.1' } })).toEqual([]);
  });

  it('checks ACL topics, placeholders, the client id pattern and the JWT secret', () => {
    expect(
      problems({
        security: {
          authentication: { jwt: { secret: 'short' } },
          authorization: { rules: [{ topics: ['a/#/b', 'devices/${device}/x'] }] },
          clientId: { pattern: '${user}' },
        },
      }),
    ).toEqual([
      'security.authentication.jwt.secret: must be at least 32 bytes (RFC 7518 section 3.2)',
      'security.authorization.rules[0].topics[0]: "#" must be the last level and alone in it, in "a/#/b" [MQTT-4.7.1-2]',
      'security.authorization.rules[0].topics[1]: unknown placeholder ${device} (known: ${clientid}, ${username}, ${cn})',
      'security.clientId.pattern: unknown placeholder ${user} (known: ${identity}, ${username}, ${cn})',
    ]);
  });
});
