// Secure defaults (Mosquitto 2's "local only mode"): with no authentication method configured the listeners bind to
// loopback only; an address reachable from the network needs authentication, or anonymous access asked for.
import { isLoopback } from '../limits/loopback.ts';
import type { AuthConfig, Method } from './schema.ts';

export { isLoopback };

interface ExposureInput {
  mqtt: { host: string; tls: { ca: string; cert: string } };
  http: { host: string };
  security: Pick<AuthConfig, 'anonymous' | 'authentication'>;
}

/** The authentication methods that have what they need (in chain order). */
export function configuredMethods(cfg: ExposureInput): Method[] {
  const a = cfg.security.authentication;
  const on: Record<Method, boolean> = {
    password: a.users.length > 0,
    signature: a.signature.keys.length > 0,
    jwt: a.jwt.secret !== '' || a.jwt.publicKey !== '' || a.jwt.jwks !== '',
    certificate: cfg.mqtt.tls.ca !== '' && cfg.mqtt.tls.cert !== '',
    webhook: a.webhook.url !== '',
  };
  return [...new Set(a.order)].filter((m) => on[m]);
}

/** Whether a listener may face the network: some method authenticates clients, or anonymous access is explicit. */
export function mayListenOnNetwork(cfg: ExposureInput): boolean {
  return cfg.security.anonymous || configuredMethods(cfg).length > 0;
}

/** The address a listener binds to: `auto` is every address when it may face the network, loopback otherwise. */
export function resolveHost(host: string, cfg: ExposureInput): string {
  if (host !== 'auto') return host;
  return mayListenOnNetwork(cfg) ? '0.0.0.0' : '127.0.0.1';
}

/** Config-check lines for listeners bound to the network without authentication. */
export function exposureProblems(cfg: ExposureInput): { path: string; message: string }[] {
  if (mayListenOnNetwork(cfg)) return [];
  const out: { path: string; message: string }[] = [];
  for (const [path, host] of [
    ['mqtt.host', cfg.mqtt.host],
    ['http.host', cfg.http.host],
  ] as const) {
    if (host === 'auto' || isLoopback(host)) continue;
    out.push({
      path,
      message: `${JSON.stringify(host)} is reachable from the network but no authentication is configured: add users, keys, tokens, client certificates or a webhook under security.authentication (see docs/security.md), or set security.anonymous: true to accept anyone`,
    });
  }
  return out;
}
