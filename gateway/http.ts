// The gateway's HTTP server: health, metrics and status; MQTT over WebSocket and the flow editor attach to it.
// Express 4, because Node-RED's http-in node does not load under Express 5.
import { createServer, type Server } from 'node:http';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  [part: string]: unknown;
}

export class HttpPart {
  readonly app: Express;
  readonly server: Server;
  port = 0;
  private readonly ctx: { host: string; port: number; registry: Registry; log: Logger; health: () => HealthReport };

  constructor(ctx: { host: string; port: number; registry: Registry; log: Logger; health: () => HealthReport }) {
    this.ctx = ctx;
    this.app = express();
    this.app.disable('x-powered-by');
    this.server = createServer(this.app);
    this.server.keepAliveTimeout = 5000;
    this.app.get('/healthz', (_req, res) => {
      const h = this.ctx.health();
      // The gateway is healthy while it accepts and buffers, even with Kafka down: the body says so.
      res.status(h.status === 'down' ? 503 : 200).json(h);
    });
    this.app.get('/metrics', (_req, res) => {
      this.ctx.registry.metrics().then(
        (text) => res.type(this.ctx.registry.contentType).send(text),
        (err: unknown) => res.status(500).send(String(err)),
      );
    });
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
    this.ctx.log.info({ port: this.port }, 'HTTP listening (health, metrics, MQTT over WebSocket)');
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
