// The gateway's HTTP server: health (/healthz, and /livez and /readyz for a supervisor's probes), metrics and status;
// MQTT over WebSocket and the flow editor attach to it. Express 4, because Node-RED's http-in node does not load under
// Express 5. With security.http.tls it is HTTPS only (and MQTT over WebSocket is wss); WebSocket upgrades pass an
// Origin allow-list; /metrics and the health routes can require a bearer token.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Limits } from './limits/index.ts';
import { isLoopback } from './limits/loopback.ts';
import type { HttpSecurityConfig } from './limits/schema.ts';
import type { Part, PartHealth } from './part.ts';
import { readPem } from './pem.ts';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  [part: string]: unknown;
}

export interface HttpContext {
  host: string;
  port: number;
  registry: Registry;
  log: Logger;
  health: () => HealthReport;
  /** /readyz: whether the gateway takes messages now, and why not. */
  ready: () => { ready: boolean; reasons: string[] };
  security: HttpSecurityConfig;
  limits: Limits;
}

/**
 * Whether a WebSocket upgrade may proceed: no Origin (not a browser), the page's own host, or an allowed origin.
 * Browsers always send Origin on a WebSocket handshake, so a page elsewhere on the LAN cannot ride a user's browser
 * into the broker or the editor's comms.
 */
export function originAllowed(req: IncomingMessage, allowed: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export class HttpPart implements Part {
  readonly name = 'http';
  readonly app: Express;
  readonly server: Server;
  readonly tls: boolean;
  port = 0;
  private readonly ctx: HttpContext;
  private readonly auth: (req: Request, res: Response, next: NextFunction) => void;

  constructor(ctx: HttpContext) {
    this.ctx = ctx;
    this.app = express();
    this.app.disable('x-powered-by');
    const { cert, key } = ctx.security.tls;
    this.tls = cert !== '' && key !== '';
    // node:https's Server is node:http's with TLS underneath; every part here uses only the common surface.
    this.server = this.tls
      ? (createHttpsServer(
          {
            cert: readPem(cert, 'security.http.tls.cert'),
            key: readPem(key, 'security.http.tls.key'),
            minVersion: 'TLSv1.2',
            handshakeTimeout: ctx.limits.config.connectTimeoutMs,
          },
          this.app,
        ) as unknown as Server)
      : createServer(this.app);
    this.server.keepAliveTimeout = 5000;
    this.guardUpgrades();
    const auth = this.tokenCheck();
    this.auth = auth;
    this.app.get('/healthz', auth, (_req, res) => {
      const h = this.ctx.health();
      // The gateway is healthy while it accepts and buffers, even with Kafka down: the body says so.
      res.status(h.status === 'down' ? 503 : 200).json(h);
    });
    // Liveness: the process and its event loop answer. A supervisor restarts on failure only.
    this.app.get('/livez', auth, (_req, res) => {
      res.json({ status: 'ok', uptimeSec: Math.round(process.uptime()) });
    });
    // Readiness: the broker accepts and the store is writable; Kafka down is not a reason (the gateway buffers).
    this.app.get('/readyz', auth, (_req, res) => {
      const r = this.ctx.ready();
      res.status(r.ready ? 200 : 503).json(r.ready ? { status: 'ready' } : { status: 'not_ready', reasons: r.reasons });
    });
    this.app.get('/metrics', auth, (_req, res) => {
      this.ctx.registry.metrics().then(
        (text) => res.type(this.ctx.registry.contentType).send(text),
        (err: unknown) => res.status(500).send(String(err)),
      );
    });
  }

  /**
   * A route of another part's API, behind the same bearer token as /healthz and /metrics. A DELETE changes state:
   * without security.http.token nothing authenticates the caller, so it is answered for clients on this host only.
   */
  route(path: string, handler: (req: Request, res: Response) => void, method: 'get' | 'delete' = 'get'): void {
    if (method === 'get') this.app.get(path, this.auth, handler);
    else this.app.delete(path, this.auth, this.localWithoutToken(), handler);
  }

  /** Express middleware: with no token set, 403 for a client off this host (counted as `http_loopback_only`). */
  private localWithoutToken(): (req: Request, res: Response, next: NextFunction) => void {
    return (req, res, next) => {
      const address = req.socket.remoteAddress;
      if (this.ctx.security.token !== '' || (address !== undefined && isLoopback(address))) {
        next();
        return;
      }
      this.ctx.limits.refuse('http_loopback_only', { path: req.path, method: req.method, address });
      res.status(403).json({ error: 'served to this host only: set security.http.token to allow it from the network' });
    };
  }

  /** Express middleware: the bearer token of security.http.token, when one is set. */
  private tokenCheck(): (req: Request, res: Response, next: NextFunction) => void {
    const token = this.ctx.security.token;
    const want = Buffer.from(`Bearer ${token}`);
    return (req, res, next) => {
      if (token === '') {
        next();
        return;
      }
      const got = Buffer.from(req.headers.authorization ?? '');
      if (got.length === want.length && timingSafeEqual(got, want)) {
        next();
        return;
      }
      this.ctx.limits.refuse('http_token', { path: req.path, address: req.socket.remoteAddress });
      res.status(401).set('www-authenticate', 'Bearer').json({ error: 'a bearer token is required' });
    };
  }

  /**
   * Every 'upgrade' listener (MQTT over WebSocket, the editor's comms) sees a request only once its Origin passed:
   * the check sits in front of them all, where the server emits the event.
   */
  private guardUpgrades(): void {
    const server = this.server;
    const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
    const allowed = this.ctx.security.allowedOrigins;
    server.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
      if (event === 'upgrade') {
        const req = args[0] as IncomingMessage;
        const socket = args[1] as Duplex;
        if (!originAllowed(req, allowed)) {
          this.ctx.limits.refuse('ws_origin', { origin: req.headers.origin, address: req.socket.remoteAddress });
          socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
          return true;
        }
      }
      return emit(event, ...args);
    }) as Server['emit'];
  }

  health(): PartHealth {
    return { state: this.server.listening ? 'up' : 'down', port: this.port, tls: this.tls };
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.ctx.port, this.ctx.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : this.ctx.port;
    this.ctx.log.info(
      { port: this.port, tls: this.tls, token: this.ctx.security.token !== '' },
      `HTTP${this.tls ? 'S' : ''} listening (health, metrics, MQTT over WebSocket)`,
    );
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
