// Sessions end with their credential: the per-session timer (armed at the credential's end, clamped to setTimeout's
// largest delay and re-armed, cleared when the connection closes), and the credential ends the authentication chain
// reports (a token's exp plus the clock tolerance; a webhook's expire_at, refused when already past and never cached
// beyond it).
import { EventEmitter, once } from 'node:events';
import { createServer } from 'node:http';
import { Value } from '@sinclair/typebox/value';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Authority, type ConnectInfo } from '../../gateway/auth/index.ts';
import { type AuthConfig, AuthConfigSchema } from '../../gateway/auth/schema.ts';
import { certificateEnd, earliest, MAX_TIMER_MS, SessionExpiry } from '../../gateway/broker-expiry.ts';

const log = pino({ level: 'silent' });

function session(id: string) {
  return Object.assign(new EventEmitter(), { id, closed: false, conn: new EventEmitter() });
}

function timers() {
  const expired: string[] = [];
  const lines: unknown[] = [];
  const expiry = new SessionExpiry({
    expire: (s) => expired.push(s.id),
    log: { info: (o: unknown) => lines.push(o) } as never,
  });
  return { expiry, expired, lines };
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('session expiry timers', () => {
  it('closes the session when its credential ends, once, with one log line', () => {
    vi.useFakeTimers();
    const { expiry, expired, lines } = timers();
    const s = session('lock-1');
    expiry.arm(s, Date.now() + 5_000, 'jwt');
    expect(expiry.armed).toBe(1);
    vi.advanceTimersByTime(4_999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['lock-1']);
    expect(lines).toEqual([expect.objectContaining({ client: 'lock-1', credential: 'jwt' })]);
    expect(expiry.armed).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(expired).toEqual(['lock-1']);
  });

  it('an end beyond the largest setTimeout delay is reached in clamped steps', () => {
    vi.useFakeTimers();
    const delays: number[] = [];
    const real = globalThis.setTimeout;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms: number) => {
      // Node fires a longer delay after 1 ms (TimeoutOverflowWarning): the session would be closed at once.
      if (ms > MAX_TIMER_MS) throw new Error(`setTimeout delay ${ms} ms exceeds ${MAX_TIMER_MS}`);
      delays.push(ms);
      return real(fn, ms);
    }) as typeof setTimeout);
    const { expiry, expired } = timers();
    const far = 2 * MAX_TIMER_MS + 1_000;
    expiry.arm(session('meter-9'), Date.now() + far, 'certificate');
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['meter-9']);
    expect(delays).toEqual([MAX_TIMER_MS, MAX_TIMER_MS, 1_000]);
  });

  it('the timer is cleared when the connection closes; no end or a closed session arms none', () => {
    vi.useFakeTimers();
    const { expiry, expired } = timers();
    const s = session('lock-2');
    expiry.arm(s, Date.now() + 1_000, 'webhook');
    s.conn.emit('close');
    expect(expiry.armed).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(expired).toEqual([]);
    expiry.arm(session('lock-3'), undefined, 'password');
    expiry.arm(Object.assign(session('lock-4'), { closed: true }), Date.now() + 1_000, 'jwt');
    expect(expiry.armed).toBe(0);
  });

  it('the earliest end counts; a plain TCP connection has no certificate end', () => {
    expect(earliest(undefined, 5, 3)).toBe(3);
    expect(earliest(undefined)).toBeUndefined();
    expect(certificateEnd(new EventEmitter())).toBeUndefined();
  });
});

const attempt = (over: Partial<ConnectInfo>): ConnectInfo => ({
  clientId: 'lock-1',
  sentClientId: 'lock-1',
  clean: true,
  username: 'lock-1',
  password: Buffer.from('pw'),
  cert: undefined,
  peer: '10.0.0.9',
  will: undefined,
  ...over,
});

function authority(authentication: Record<string, unknown>): Authority {
  const a = new Authority({
    security: Value.Default(AuthConfigSchema, structuredClone({ authentication })) as AuthConfig,
    mqtt: { host: '0.0.0.0', tls: { ca: '', cert: '' } },
    http: { host: '127.0.0.1' },
    registry: new Registry(),
    log,
  });
  a.start();
  return a;
}

describe('credential ends from the authentication chain', () => {
  it("a token's end is its exp plus the clock tolerance", async () => {
    const secret = 'a-very-long-shared-secret-of-32-bytes!';
    const a = authority({ jwt: { secret, clockToleranceSec: 30 } });
    const exp = Math.floor(Date.now() / 1000) + 60;
    const token = await new SignJWT({ clientid: 'lock-1' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(secret));
    const r = await a.connect(attempt({ password: Buffer.from(token) }));
    expect(r.ok && r.identity.expiresAt).toBe((exp + 30) * 1000);
  });

  it('a webhook expire_at already past refuses the CONNECT; an answer is not cached beyond its expire_at', async () => {
    let calls = 0;
    let offsetSec = 2;
    const hook = createServer((_req, res) => {
      calls++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ result: 'allow', expire_at: Math.floor(Date.now() / 1000) + offsetSec }));
    });
    hook.listen(0, '127.0.0.1');
    await once(hook, 'listening');
    try {
      const port = (hook.address() as { port: number }).port;
      const a = authority({ webhook: { url: `http://127.0.0.1:${port}/auth`, cacheTtlSec: 3600 } });
      const first = await a.connect(attempt({}));
      expect(first.ok && first.identity.expiresAt).toBeGreaterThan(Date.now());
      expect((await a.connect(attempt({}))).ok).toBe(true);
      expect(calls).toBe(1); // cached
      // Two seconds on: the cached answer's expire_at has passed, so the webhook is asked again.
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 3_000 });
      expect((await a.connect(attempt({}))).ok).toBe(true);
      expect(calls).toBe(2);
      offsetSec = -1;
      expect(await a.connect(attempt({ clientId: 'lock-9', sentClientId: 'lock-9' }))).toMatchObject({
        ok: false,
        reason: 'webhook-expired',
      });
      expect(calls).toBe(3);
    } finally {
      hook.close();
    }
  });
});
