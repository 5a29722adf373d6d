// A TCP relay on loopback between the gateway and Kafka that can turn into a silent blackhole: every connection open
// then, and every one made while it lasts, is accepted and read but never answered — no byte on, no FIN, no RST, no
// error — the "connected but not forwarding" link. Bytes read in a blackhole are gone, as on a route that lost the
// connection's state: those connections stay dead after `heal()`, and only connections made afterwards carry bytes
// again (a client that recycles its connections recovers, one that waits on the old ones does not).
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** The accepted (gateway-side) sockets that are open. */
  private readonly clients = new Set<Socket>();
  /** Client sockets whose bytes are read and dropped. */
  private readonly dead = new WeakSet<Socket>();
  private blackholed = false;
  private readonly target: { host: string; port: number };
  port = 0;
  /** Connections accepted so far, and how many of them fell into a blackhole. */
  accepted = 0;
  swallowed = 0;

  constructor(targetPort: number, targetHost = '127.0.0.1') {
    this.target = { host: targetHost, port: targetPort };
  }

  /** Listens on `port` (0: a free one) on 127.0.0.1. */
  async start(port = 0): Promise<void> {
    this.server = createServer({ noDelay: true }, (client) => this.accept(client));
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : port;
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => {});
  }

  private accept(client: Socket): void {
    this.accepted += 1;
    this.track(client);
    this.clients.add(client);
    client.on('close', () => this.clients.delete(client));
    if (this.blackholed) {
      this.swallow(client);
      return;
    }
    const upstream = connect({ ...this.target, noDelay: true });
    this.track(upstream);
    client.on('data', (b: Buffer) => {
      if (!this.dead.has(client)) upstream.write(b);
    });
    upstream.on('data', (b: Buffer) => {
      if (!this.dead.has(client)) client.write(b);
    });
    // A close passes on only while the link works: a blackhole carries nothing, not even a FIN.
    upstream.on('close', () => {
      if (!this.dead.has(client)) client.destroy();
    });
    client.on('close', () => upstream.destroy());
  }

  private swallow(client: Socket): void {
    this.swallowed += 1;
    this.dead.add(client);
    client.on('data', () => {});
  }

  /** From now on nothing is answered, on open connections and new ones alike. */
  blackhole(): void {
    this.blackholed = true;
    for (const c of this.clients) if (!this.dead.has(c)) this.swallow(c);
  }

  /** New connections carry bytes again; those caught in the blackhole stay dead. */
  heal(): void {
    this.blackholed = false;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server) {
      this.server.close();
      await once(this.server, 'close').catch(() => {});
    }
  }
}
