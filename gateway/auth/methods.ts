// The authentication methods of the chain. Each looks at the CONNECT and answers: `accept` (with the identity), `refuse`
// (with a reason, counted), or `pass` (not mine: the next method decides).
import { createHash, createHmac, createPublicKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, type JWTPayload, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import type { Identity } from './acl.ts';
import { verifyPassword } from './passwords.ts';
import type { AuthConfig, Method } from './schema.ts';

export interface Attempt {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  /** Names of a verified client certificate (undefined without one). */
  cert: { cn: string; dns: string[]; uri: string[]; email: string[] } | undefined;
  peer: string;
}

export type Verdict =
  | { kind: 'accept'; identity: Identity }
  | { kind: 'refuse'; reason: string; returnCode: 4 | 5 }
  | { kind: 'pass' };

export type Authenticator = (a: Attempt) => Promise<Verdict>;

const PASS: Verdict = { kind: 'pass' };
const refuse = (reason: string, returnCode: 4 | 5 = 4): Verdict => ({ kind: 'refuse', reason, returnCode });

type Cfg = AuthConfig['authentication'];

interface Common {
  admins: ReadonlySet<string>;
}

function identity(method: Identity['method'], name: string, username: string, a: Attempt, c: Common): Identity {
  return { method, name, username, cn: a.cert?.cn ?? '', admin: c.admins.has(name) };
}

function passwordMethod(cfg: Cfg, c: Common): Authenticator {
  const users = new Map(cfg.users.map((u) => [u.username, u.passwordHash]));
  // A reconnect storm after a restart would cost one slow hash per device: a password verified once is remembered
  // (as a digest, in memory only) until the process ends.
  const verified = new Map<string, Buffer>();
  return async (a) => {
    if (a.username === undefined) return PASS;
    const hash = users.get(a.username);
    if (hash === undefined) return PASS; // an unknown username is refused at the end of the chain
    const password = a.password ?? Buffer.alloc(0);
    const digest = createHash('sha256').update(hash).update('\0').update(password).digest();
    const known = verified.get(a.username);
    const ok = (known !== undefined && timingSafeEqual(known, digest)) || (await verifyPassword(password, hash));
    if (!ok) return refuse('bad-password');
    verified.set(a.username, digest);
    return { kind: 'accept', identity: identity('password', a.username, a.username, a, c) };
  };
}

function signatureMethod(cfg: Cfg['signature'], c: Common): Authenticator {
  const secrets = new Map(cfg.keys.map((k) => [k.accessKey, k.secret]));
  return async (a) => {
    if (!a.username?.startsWith('Signature|')) return PASS;
    const [, accessKey = '', instanceId = ''] = a.username.split('|');
    const secret = secrets.get(accessKey);
    if (secret === undefined) return refuse('unknown-key');
    if (cfg.instanceId !== '' && instanceId !== cfg.instanceId) return refuse('wrong-instance');
    const got = Buffer.from(a.password?.toString('utf8') ?? '', 'base64');
    for (const alg of cfg.algorithms) {
      const want = createHmac(alg, secret).update(a.clientId).digest();
      if (want.length === got.length && timingSafeEqual(want, got)) {
        return { kind: 'accept', identity: identity('signature', a.clientId, accessKey, a, c) };
      }
    }
    return refuse('bad-signature');
  };
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function jwtKeys(cfg: Cfg['jwt']): JWTVerifyGetKey {
  const secret = cfg.secret ? new TextEncoder().encode(cfg.secret) : undefined;
  const pub: KeyObject | undefined = cfg.publicKey ? createPublicKey(readFileSync(cfg.publicKey)) : undefined;
  const jwks = cfg.jwks ? createLocalJWKSet(JSON.parse(readFileSync(cfg.jwks, 'utf8'))) : undefined;
  return async (header, token) => {
    if (header.alg === 'HS256') {
      if (secret) return secret;
    } else if (jwks) {
      return jwks(header, token);
    } else if (pub) {
      return pub;
    }
    throw new joseErrors.JOSEAlgNotAllowed(`no key configured for ${header.alg}`);
  };
}

function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
}

function jwtMethod(cfg: Cfg['jwt'], c: Common): Authenticator {
  const getKey = jwtKeys(cfg);
  const options = {
    algorithms: cfg.algorithms,
    requiredClaims: ['exp', cfg.clientIdClaim],
    clockTolerance: cfg.clockToleranceSec,
    ...(cfg.issuer ? { issuer: cfg.issuer } : {}),
    ...(cfg.audience ? { audience: cfg.audience } : {}),
  };
  return async (a) => {
    const token = a.password?.toString('utf8') ?? '';
    if (!JWT_SHAPE.test(token)) return PASS;
    let payload: JWTPayload;
    try {
      payload = (await jwtVerify(token, getKey, options)).payload;
    } catch (err) {
      return refuse(err instanceof joseErrors.JWTExpired ? 'token-expired' : 'token-invalid');
    }
    const forId = payload[cfg.clientIdClaim];
    if (typeof forId !== 'string' || forId === '') return refuse('token-invalid');
    const who = identity('jwt', forId, typeof payload.sub === 'string' ? payload.sub : (a.username ?? ''), a, c);
    const publish = strings(payload.publish);
    const subscribe = strings(payload.subscribe);
    if (publish) who.publish = publish;
    if (subscribe) who.subscribe = subscribe;
    // requiredClaims makes exp a number here; the session ends once jwtVerify would refuse the token.
    if (typeof payload.exp === 'number') who.expiresAt = (payload.exp + cfg.clockToleranceSec) * 1000;
    return { kind: 'accept', identity: who };
  };
}

function certificateMethod(cfg: Cfg['certificate'], c: Common): Authenticator {
  return async (a) => {
    if (!a.cert) return PASS;
    // A username with a certificate is someone else's to check (password, signature...) earlier in the chain.
    if (a.username !== undefined) return PASS;
    const field = cfg.identity;
    const name = field === 'cn' ? a.cert.cn : (a.cert[field.slice(4) as 'dns' | 'uri' | 'email'][0] ?? '');
    if (name === '') return refuse('certificate-no-name', 5);
    return { kind: 'accept', identity: identity('certificate', name, name, a, c) };
  };
}

interface WebhookAnswer {
  verdict: Verdict;
  expires: number;
}

interface WebhookBody {
  result?: unknown;
  is_superuser?: unknown;
  expire_at?: unknown;
}

/** `expire_at` of an answer (EMQX 5: seconds since the epoch) in ms; undefined when absent. */
function webhookExpiry(body: WebhookBody): number | undefined {
  const e = body.expire_at;
  if (e === undefined || e === null) return undefined;
  if (typeof e !== 'number' || !Number.isFinite(e)) throw new Error('webhook answer has a malformed expire_at');
  return e * 1000;
}

/** The method's verdict on a webhook answer, at `now`. */
function webhookVerdict(body: WebhookBody, expiresAt: number | undefined, a: Attempt, c: Common, now: number): Verdict {
  if (body.result === 'allow') {
    if (expiresAt !== undefined && expiresAt <= now) return refuse('webhook-expired');
    const name = a.username ?? a.cert?.cn ?? a.clientId;
    const who = identity('webhook', name, a.username ?? '', a, c);
    if (body.is_superuser === true) who.admin = true;
    if (expiresAt !== undefined) who.expiresAt = expiresAt;
    return { kind: 'accept', identity: who };
  }
  if (body.result === 'deny') return refuse('webhook-deny');
  if (body.result === 'ignore') return PASS;
  throw new Error('webhook answer has no result');
}

function webhookMethod(cfg: Cfg['webhook'], c: Common): Authenticator {
  const cache = new Map<string, WebhookAnswer>();
  return async (a) => {
    const key = createHash('sha256')
      .update(`${a.clientId}\0${a.username ?? ''}\0${a.cert?.cn ?? ''}\0`)
      .update(a.password ?? Buffer.alloc(0))
      .digest('base64');
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.expires > now) return hit.verdict;
    let verdict: Verdict;
    let until: number | undefined;
    try {
      const res = await fetch(cfg.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          clientid: a.clientId,
          username: a.username ?? '',
          password: a.password?.toString('utf8') ?? '',
          peerhost: a.peer,
          cn: a.cert?.cn ?? '',
        }),
        signal: AbortSignal.timeout(cfg.timeoutMs),
      });
      if (!res.ok) throw new Error(`webhook answered ${res.status}`);
      const body = (await res.json()) as WebhookBody;
      until = webhookExpiry(body);
      verdict = webhookVerdict(body, until, a, c, now);
    } catch {
      // Not cached: the next attempt asks again.
      if (cfg.failMode === 'closed') return refuse('webhook-error', 5);
      return { kind: 'accept', identity: identity('webhook', a.username ?? a.clientId, a.username ?? '', a, c) };
    }
    // No answer is kept beyond its expire_at (one already past is not kept at all).
    const expires = Math.min(now + cfg.cacheTtlSec * 1000, until ?? Infinity);
    if (cfg.cacheTtlSec > 0 && expires > now) {
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { verdict, expires });
    }
    return verdict;
  };
}

/** The configured methods as authenticators, in chain order. Reads key files: call once at start. */
export function buildChain(cfg: Cfg, methods: Method[], admins: string[]): [Method, Authenticator][] {
  const c: Common = { admins: new Set(admins) };
  const make: Record<Method, () => Authenticator> = {
    password: () => passwordMethod(cfg, c),
    signature: () => signatureMethod(cfg.signature, c),
    jwt: () => jwtMethod(cfg.jwt, c),
    certificate: () => certificateMethod(cfg.certificate, c),
    webhook: () => webhookMethod(cfg.webhook, c),
  };
  return methods.map((m) => [m, make[m]()]);
}
