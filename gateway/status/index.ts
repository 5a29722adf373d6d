// The operator status page at `/` of the HTTP port: an HTML page, its script and uPlot (served from node_modules:
// the box has no internet), the JSON it polls (/healthz, /api/status/history, /api/status/disconnects) and the ring
// of the last hour it charts, sampled in this process every few seconds. Everything it reads is handed in: the
// HTTP part's app and token-checked route(), the gateway's health(), the totals, the device registry, the broker's
// client events. docs/status-page.md.
import { fileURLToPath } from 'node:url';
import type { Express, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { GatewayEvent } from '../events/types.ts';
import type { Part, PartHealth } from '../part.ts';
import { accessGuard, accessMode, type StatusAccess } from './access.ts';
import type { StatusCounters } from './counters.ts';
import { type DeviceSource, RecentDisconnects } from './disconnects.ts';
import { drainEtaSec, SampleRing } from './ring.ts';

type Route = (path: string, handler: (req: Request, res: Response) => void) => void;

interface EventSource {
  on(event: 'event', listener: (e: GatewayEvent) => void): unknown;
  off(event: 'event', listener: (e: GatewayEvent) => void): unknown;
}

export interface StatusOptions {
  /** The HTTP part's Express app: the page and its static files. */
  app: Express;
  /** The HTTP part's GET route behind security.http.token: the JSON. */
  route: Route;
  /** What /healthz answers. */
  health: () => Record<string, unknown>;
  counters: () => Promise<StatusCounters>;
  devices: DeviceSource;
  /** The broker: its client.disconnected events. */
  events: EventSource;
  /** Whether security.http.token is set. */
  tokenSet: boolean;
  log: Logger;
  /** Between samples (default 5 s). */
  intervalMs?: number;
  /** Samples kept (default 720: an hour at 5 s). */
  samples?: number;
}

const ASSETS = fileURLToPath(new URL('./assets/', import.meta.url));
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: `${ASSETS}index.html`, type: 'text/html; charset=utf-8' },
  '/status/status.js': { file: `${ASSETS}status.js`, type: 'text/javascript; charset=utf-8' },
  '/status/status.css': { file: `${ASSETS}status.css`, type: 'text/css; charset=utf-8' },
  '/status/uPlot.iife.min.js': {
    file: fileURLToPath(import.meta.resolve('uplot/dist/uPlot.iife.min.js')),
    type: 'text/javascript; charset=utf-8',
  },
  '/status/uPlot.min.css': {
    file: fileURLToPath(import.meta.resolve('uplot/dist/uPlot.min.css')),
    type: 'text/css; charset=utf-8',
  },
};
/** Only this host's files: no inline script, nothing fetched from elsewhere, not framed. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export class StatusPart implements Part {
  readonly name = 'statusPage';
  private readonly o: StatusOptions;
  private readonly mode: StatusAccess;
  private readonly ring: SampleRing;
  private readonly intervalMs: number;
  private readonly disconnects = new RecentDisconnects(20);
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();
  private prev: { t: number; c: StatusCounters } | undefined;
  private refused = 0;
  private lastError: string | undefined;
  private running = false;

  constructor(o: StatusOptions) {
    this.o = o;
    this.mode = accessMode(o.tokenSet);
    this.intervalMs = o.intervalMs ?? 5000;
    this.ring = new SampleRing(o.samples ?? 720);
    this.mount();
  }

  private readonly onEvent = (e: GatewayEvent): void => {
    if (e.event === 'client.disconnected') this.disconnects.add({ clientId: e.clientid, at: e.ts, reason: e.reason });
  };

  private mount(): void {
    const guard = accessGuard(this.mode, (address) => {
      this.refused++;
      if (this.refused === 1) {
        this.o.log.warn(
          { address },
          'status page refused to a client off this host: it is served to loopback only while security.http.token is not set',
        );
      }
    });
    for (const [path, f] of Object.entries(FILES)) {
      this.o.app.get(path, guard, (_req, res) => {
        res.set({
          'content-type': f.type,
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
          ...(path === '/' ? { 'content-security-policy': CSP, 'x-frame-options': 'DENY' } : {}),
        });
        res.sendFile(f.file);
      });
    }
    const json = (handler: (req: Request, res: Response) => void) => (req: Request, res: Response) =>
      (guard as RequestHandler)(req, res, () => handler(req, res));
    this.o.route(
      '/api/status/history',
      json((_req, res) => {
        res.set('cache-control', 'no-store').json(this.history());
      }),
    );
    this.o.route(
      '/api/status/disconnects',
      json((_req, res) => {
        const list = this.disconnects
          .list()
          .map((d) => ({ ...d, online: this.o.devices.get(d.clientId)?.online ?? false }));
        res.set('cache-control', 'no-store').json({ disconnects: list });
      }),
    );
  }

  /** The ring as columns (oldest first), the drain ETA it implies and the latest totals. */
  history(): Record<string, unknown> {
    const last = this.ring.last();
    return {
      intervalMs: this.intervalMs,
      capacity: this.ring.capacity,
      size: this.ring.size,
      samples: this.ring.columns(),
      drainEtaSec: drainEtaSec(this.ring),
      inRate: last?.inRate ?? null,
      outRate: last?.outRate ?? null,
      totals: this.prev?.c ?? null,
    };
  }

  /** One sample: the backlog from health(), the rates from the totals since the previous sample. */
  async sample(now = Date.now()): Promise<void> {
    const backlog = (this.o.health()['backlog'] ?? {}) as { records?: unknown; bytes?: unknown };
    const c = await this.o.counters();
    const dt = this.prev ? (now - this.prev.t) / 1000 : 0;
    const rate = (a: number, b: number): number => (dt > 0 ? Math.max(0, a - b) / dt : 0);
    this.ring.push({
      t: now,
      records: typeof backlog.records === 'number' ? backlog.records : 0,
      bytes: typeof backlog.bytes === 'number' ? backlog.bytes : 0,
      inRate: this.prev ? rate(c.in, this.prev.c.in) : 0,
      outRate: this.prev ? rate(c.out, this.prev.c.out) : 0,
    });
    this.prev = { t: now, c };
  }

  private tick(): void {
    this.sampling = this.sampling
      .then(() => this.sample())
      .then(
        () => {
          this.lastError = undefined;
        },
        (err: unknown) => {
          if (this.lastError === undefined) this.o.log.warn({ err }, 'status sample failed');
          this.lastError = String(err);
        },
      );
  }

  health(): PartHealth {
    return {
      state: this.running ? 'up' : 'stopped',
      access: this.mode,
      samples: this.ring.size,
      capacity: this.ring.capacity,
      intervalMs: this.intervalMs,
      refused: this.refused,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  start(): void {
    this.disconnects.seed(this.o.devices);
    this.o.events.on('event', this.onEvent);
    this.running = true;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
    this.o.log.info(
      { path: '/', access: this.mode },
      this.mode === 'token'
        ? 'status page at / (its JSON needs the bearer token of security.http.token)'
        : 'status page at / served to loopback clients only (security.http.token is not set)',
    );
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    this.o.events.off('event', this.onEvent);
    await this.sampling;
  }
}
