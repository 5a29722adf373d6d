// A TCP relay on loopback between the gateway and Kafka that can turn into a silent blackhole: every connection open
// then, and every one made while it lasts, is accepted and read but never answered — no byte on, no FIN, no RST, no
// error — the "connected but not forwarding" link. Bytes read in a blackhole are gone, as on a route that lost the
// connection's state: those connections stay dead after `heal()`, and only connections made afterwards carry bytes
// again (a client that recycles its connections recovers, one that waits on the old ones does not).
// `dropProduce()` is the other silent failure: a broker that takes connections and answers metadata but never a
// produce — the relay reads the Kafka request frames and drops every Produce request (API key 0).
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
  private droppingProduce = false;
  /** Produce requests dropped so far. */
  droppedProduce = 0;
  private readonly target: { host: string; port: number };
  port = 0;
  /** Connections accepted so far (a recycled client makes new ones). */
  accepted = 0;

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
    let pending: Buffer = Buffer.alloc(0);
    client.on('data', (b: Buffer) => {
      if (this.dead.has(client)) return;
      pending = pending.length ? Buffer.concat([pending, b]) : b;
      pending = this.forwardFrames(pending, upstream);
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

  /** Writes each whole request frame (int32 size, then int16 API key…) on, but a Produce while dropping; keeps the rest. */
  private forwardFrames(buf: Buffer, to: Socket): Buffer {
    let at = 0;
    while (buf.length - at >= 6) {
      const size = buf.readInt32BE(at);
      if (buf.length - at < 4 + size) break;
      const frame = buf.subarray(at, at + 4 + size);
      if (this.droppingProduce && frame.readInt16BE(4) === 0) this.droppedProduce += 1;
      else to.write(frame);
      at += 4 + size;
    }
    return at === 0 ? buf : Buffer.from(buf.subarray(at));
  }

  private swallow(client: Socket): void {
    this.dead.add(client);
    client.on('data', () => {});
  }

  /** From now on nothing is answered, on open connections and new ones alike. */
  blackhole(): void {
    this.blackholed = true;
    for (const c of this.clients) if (!this.dead.has(c)) this.swallow(c);
  }

  /** From now on Produce requests are read and never answered; everything else passes. */
  dropProduce(): void {
    this.droppingProduce = true;
  }

  /** New connections carry bytes again, and Produce requests pass; those caught in the blackhole stay dead. */
  heal(): void {
    this.blackholed = false;
    this.droppingProduce = false;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server) {
      this.server.close();
      await once(this.server, 'close').catch(() => {});
    }
  }
}
