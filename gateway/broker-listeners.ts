// The broker's listeners: MQTT over TCP (noDelay), over TLS when a certificate is configured (a client certificate
// required and verified when a CA is), and over WebSocket on the HTTP server's upgrade path. Each accepted socket is
// handed to the broker and tracked, so that stop() can end them all.
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Authority } from './auth/index.ts';
import type { MqttConfig } from './config/schema.ts';
import type { Limits } from './limits/index.ts';
import { readPem } from './pem.ts';

export interface ListenersContext {
  config: MqttConfig;
  http: HttpServer;
  auth: Authority;
  limits: Limits;
  log: Logger;
}

/** Takes a new connection; false when it was refused (the socket is then already ended). */
export type Accept = (socket: Socket | Duplex, address: string | undefined, req?: IncomingMessage) => boolean;

export class BrokerListeners {
  private readonly ctx: ListenersContext;
  private tcp: NetServer | undefined;
  private tls: TlsServer | undefined;
  private wss: WebSocketServer | undefined;
  private onUpgrade: ((req: IncomingMessage, socket: Duplex, head: Buffer) => void) | undefined;
  private readonly sockets = new Set<Socket | Duplex>();

  constructor(ctx: ListenersContext) {
    this.ctx = ctx;
  }

  /** Opens the configured listeners; resolves with the TCP and TLS ports (0: not listening). */
  async start(accept: Accept): Promise<{ tcp: number; tls: number }> {
    const { config, log } = this.ctx;
    const handle = (socket: Socket | Duplex, req?: IncomingMessage): void => {
      const address = req ? req.socket.remoteAddress : (socket as Socket).remoteAddress;
      if (!accept(socket, address, req)) return;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    };
    this.tcp = createServer({ noDelay: true }, (s) => handle(s));
    const tcp = await listen(this.tcp, config.port, config.host);
    log.info({ port: tcp }, 'MQTT listening (TCP)');
    let tls = 0;
    if (config.tls.cert && config.tls.key) {
      this.tls = this.tlsServer(handle);
      tls = await listen(this.tls, config.tls.port, config.host);
      log.info({ port: tls }, 'MQTT listening (TLS)');
    }
    if (config.ws.enabled) this.webSocket(handle);
    return { tcp, tls };
  }

  private tlsServer(handle: (socket: Socket) => void): TlsServer {
    const { config } = this.ctx;
    const server = createTlsServer(
      {
        cert: readPem(config.tls.cert, 'mqtt.tls.cert'),
        key: readPem(config.tls.key, 'mqtt.tls.key'),
        minVersion: 'TLSv1.2',
        // A handshake that stalls holds a socket before any limit sees it: no longer than a CONNECT may take.
        handshakeTimeout: this.ctx.limits.config.connectTimeoutMs,
        // With a CA configured, a client certificate is required and verified in the handshake: no certificate or
        // one not signed by the CA never reaches MQTT.
        ...(config.tls.ca
          ? { ca: readPem(config.tls.ca, 'mqtt.tls.ca'), requestCert: true, rejectUnauthorized: true }
          : {}),
        noDelay: true,
      },
      (s) => handle(s),
    );
    server.on('tlsClientError', (err: Error & { code?: string }, socket) =>
      this.ctx.auth.tlsRefused(socket.remoteAddress ?? '', err.code ?? err.message),
    );
    return server;
  }

  private webSocket(handle: (socket: Duplex, req: IncomingMessage) => void): void {
    // One MQTT packet per frame at most as large as a packet may be; ws refuses a bigger frame with 1009.
    const wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: this.ctx.limits.config.maxPacketBytes,
    });
    this.wss = wss;
    const path = this.ctx.config.ws.path;
    this.onUpgrade = (req, socket, head) => {
      // Other upgrade paths (the flow editor's comms) are left to their own listeners.
      if (new URL(req.url ?? '/', 'http://x').pathname !== path) return;
      wss.handleUpgrade(req, socket, head, (ws) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => {});
        ws.on('error', (err: Error & { code?: string }) => {
          if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
            this.ctx.limits.refuse('packet_size', { address: req.socket.remoteAddress, transport: 'ws' });
          }
        });
        handle(stream, req);
      });
    };
    this.ctx.http.on('upgrade', this.onUpgrade);
    this.ctx.log.info({ path }, 'MQTT over WebSocket on the HTTP port');
  }

  /** Closes the listeners and ends every connection. */
  async stop(): Promise<void> {
    if (this.onUpgrade) this.ctx.http.off('upgrade', this.onUpgrade);
    const closing = [this.tcp, this.tls].filter((s): s is NetServer => s !== undefined).map(closeServer);
    this.wss?.close();
    for (const s of this.sockets) s.destroy();
    await Promise.all(closing);
  }
}

function listen(server: NetServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

function closeServer(server: NetServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
