// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the client id pattern spells its placeholders as ${name}.
// The broker's authority: runs the authentication chain for a CONNECT, binds the client id to the identity,
// compiles the client's ACL, and counts and logs (rate-limited) every refusal. Repeated failures from one address
// back off. Kept free of aedes so it can be tested without sockets; gateway/broker.ts adapts the hooks.
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { type ClientAcl, compileAcl, type Identity } from './acl.ts';
import { Backoff } from './backoff.ts';
import { configuredMethods, isLoopback } from './exposure.ts';
import { type Attempt, type Authenticator, buildChain } from './methods.ts';
import type { AuthConfig, Method } from './schema.ts';

export type { ClientAcl, Identity } from './acl.ts';
export type { Attempt } from './methods.ts';

export interface AuthorityContext {
  security: AuthConfig;
  mqtt: { host: string; tls: { ca: string; cert: string } };
  http: { host: string };
  registry: Registry;
  log: Logger;
}

export interface ConnectInfo extends Attempt {
  /** Whether the client asked for a clean session. */
  clean: boolean;
  /** The client id as sent (aedes replaces an empty one with a generated id). */
  sentClientId: string;
  will: { topic: string; retain: boolean } | undefined;
}

export type ConnectResult =
  | { ok: true; identity: Identity; acl: ClientAcl }
  | { ok: false; returnCode: 2 | 4 | 5; reason: string };

export type DeniedAction = 'publish' | 'subscribe' | 'retain' | 'will';

export class Authority {
  private readonly ctx: AuthorityContext;
  private chain: [Method, Authenticator][] = [];
  private localOnly = true;
  private readonly backoff: Backoff;
  private failures!: Counter<'method' | 'reason'>;
  private denied!: Counter<'action'>;
  private readonly logWindow = { start: 0, lines: 0, suppressed: 0 };

  constructor(ctx: AuthorityContext) {
    this.ctx = ctx;
    const b = ctx.security.authentication.backoff;
    this.backoff = new Backoff(b.failures, b.initialSec * 1000, b.maxSec * 1000);
  }

  /** Builds the chain (reads key files) and registers the metrics. */
  start(): void {
    const { security, registry, log } = this.ctx;
    const methods = configuredMethods(this.ctx);
    this.localOnly = methods.length === 0;
    this.chain = buildChain(security.authentication, methods, security.authorization.admins);
    this.failures =
      (registry.getSingleMetric('gateway_auth_failures_total') as Counter<'method' | 'reason'> | undefined) ??
      new Counter({
        name: 'gateway_auth_failures_total',
        help: 'MQTT connections refused by authentication, by method and reason.',
        labelNames: ['method', 'reason'],
        registers: [registry],
      });
    this.denied =
      (registry.getSingleMetric('gateway_acl_denied_total') as Counter<'action'> | undefined) ??
      new Counter({
        name: 'gateway_acl_denied_total',
        help: 'Publishes, subscriptions, retained messages and wills refused by the ACL, by action.',
        labelNames: ['action'],
        registers: [registry],
      });
    const hosts = [this.ctx.mqtt.host, this.ctx.http.host];
    if (this.localOnly && !security.anonymous) {
      log.warn(
        { hosts },
        'no MQTT authentication is configured: listening on loopback only. To serve the network, configure security.authentication (users, signature keys, tokens, client certificates or a webhook; see docs/security.md) or set security.anonymous: true',
      );
    } else {
      log.info({ methods }, 'MQTT authentication chain');
    }
    if (security.anonymous) {
      const network = hosts.some((h) => !isLoopback(h));
      log.warn(
        { hosts },
        `security.anonymous is true: ${network ? 'anyone who can reach the gateway' : 'any local process'} may connect without credentials`,
      );
    }
  }

  /** Decides a CONNECT: authentication chain, client id binding, the will's topic. */
  async connect(info: ConnectInfo): Promise<ConnectResult> {
    // [MQTT-3.1.3-8] a zero-length client id needs a clean session.
    if (info.sentClientId === '' && !info.clean) return this.fail('none', 'empty-client-id', 2, info);
    if (this.backoff.blocked(info.peer)) return this.fail('none', 'backoff', 5, info, false);
    let identity: Identity | undefined;
    for (const [method, authenticate] of this.chain) {
      const v = await authenticate(info);
      if (v.kind === 'pass') continue;
      if (v.kind === 'refuse') return this.fail(method, v.reason, v.returnCode, info);
      identity = v.identity;
      break;
    }
    if (!identity) {
      // An unknown username is never accepted, not even on a loopback-only gateway.
      if (info.username !== undefined) return this.fail('none', 'unknown-user', 4, info);
      if (!this.ctx.security.anonymous && !this.localOnly) return this.fail('none', 'no-credentials', 5, info);
      identity = {
        method: this.localOnly ? 'local' : 'anonymous',
        name: '',
        username: '',
        cn: info.cert?.cn ?? '',
        admin: false,
      };
    }
    if (identity.name !== '' && !clientIdAllowed(this.ctx.security.clientId.pattern, identity, info.clientId)) {
      return this.fail(identity.method, 'client-id-mismatch', 2, info);
    }
    const acl = compileAcl(this.ctx.security.authorization, identity, info.clientId);
    if (info.will && !acl.canPublish(info.will.topic, info.will.retain)) {
      this.deny('will', info.clientId, info.will.topic);
      return this.fail(identity.method, 'will-denied', 5, info, false);
    }
    this.backoff.succeeded(info.peer);
    return { ok: true, identity, acl };
  }

  /** A TLS handshake refused (no or unverified client certificate). */
  tlsRefused(peer: string, why: string): void {
    this.failures.labels('certificate', 'tls-handshake').inc();
    this.backoff.failed(peer);
    this.warn({ method: 'certificate', reason: 'tls-handshake', peer, why }, 'TLS handshake refused');
  }

  /** A publish, subscription, retained message or will the ACL refused: counted, and logged (rate-limited). */
  deny(action: DeniedAction, client: string, topic: string): void {
    this.denied.labels(action).inc();
    this.warn({ action, client, topic }, 'MQTT request denied by the ACL');
  }

  private fail(
    method: string,
    reason: string,
    returnCode: 2 | 4 | 5,
    info: ConnectInfo,
    penalise = true,
  ): ConnectResult {
    this.failures.labels(method, reason).inc();
    if (penalise) this.backoff.failed(info.peer);
    this.warn(
      { method, reason, client: info.clientId, username: info.username, peer: info.peer },
      'MQTT connection refused',
    );
    return { ok: false, returnCode, reason };
  }

  /** WARN lines, at most 20 per 10 s; the rest are counted in the next line. */
  private warn(fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    const w = this.logWindow;
    if (now - w.start > 10_000) {
      if (w.suppressed > 0) fields.suppressed = w.suppressed;
      w.start = now;
      w.lines = 0;
      w.suppressed = 0;
    }
    if (w.lines >= 20) {
      w.suppressed += 1;
      return;
    }
    w.lines += 1;
    this.ctx.log.warn(fields, message);
  }
}

/** Whether the client id fits the configured pattern for this identity (`*` = any run of characters). */
export function clientIdAllowed(pattern: string, who: Identity, clientId: string): boolean {
  if (pattern === '') return true;
  const want = pattern
    .replaceAll('${identity}', who.name)
    .replaceAll('${username}', who.username)
    .replaceAll('${cn}', who.cn);
  if (!want.includes('*')) return want === clientId;
  const parts = want.split('*');
  const first = parts[0] as string;
  const last = parts[parts.length - 1] as string;
  if (!clientId.startsWith(first) || clientId.length < first.length + last.length) return false;
  let at = first.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const p = parts[i] as string;
    const found = clientId.indexOf(p, at);
    if (found === -1) return false;
    at = found + p.length;
  }
  return clientId.length - last.length >= at && clientId.endsWith(last);
}
