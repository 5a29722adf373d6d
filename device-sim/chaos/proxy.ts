// A TCP relay on loopback between the devices and the gateway that can break the link on purpose:
// `blackhole` stops moving bytes both ways and answers nothing, with no FIN and no RST — what a dropped route looks
// like to both ends (TCP would retransmit; here the bytes wait and flow again when the path heals) — and `latency`
// delays every chunk. New connections during a blackhole are accepted by the kernel but get no answer, like a
// CONNECT lost on the way, so MQTT clients run into their connect timeout.
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

interface Pipe {
  from: Socket;
  to: Socket;
  queue: { at: number; data: Buffer }[];
  timer: NodeJS.Timeout | undefined;
}

export class FaultProxy {
  private server: Server | undefined;
  private readonly pipes = new Set<Pipe>();
  private readonly sockets = new Set<Socket>();
  private blackholed = false;
  private delayMs = 0;
  private readonly targetHost: string;
  private readonly targetPort: number;
  port = 0;

  constructor(targetHost: string, targetPort: number) {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(port = 0, host = '127.0.0.1'): Promise<void> {
    this.server = createServer({ noDelay: true, pauseOnConnect: true }, (client) => this.accept(client));
    this.server.listen(port, host);
    await once(this.server, 'listening');
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : port;
  }

  private accept(client: Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => {});
    const upstream = connect({ host: this.targetHost, port: this.targetPort, noDelay: true });
    this.sockets.add(upstream);
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => {});
    client.on('close', () => upstream.destroy());
    const up: Pipe = { from: client, to: upstream, queue: [], timer: undefined };
    const down: Pipe = { from: upstream, to: client, queue: [], timer: undefined };
    for (const p of [up, down]) {
      this.pipes.add(p);
      p.from.on('close', () => {
        clearTimeout(p.timer);
        this.pipes.delete(p);
      });
      p.from.on('data', (data: Buffer) => {
        p.queue.push({ at: Date.now() + this.delayMs, data });
        this.flush(p);
      });
    }
    upstream.once('connect', () => {
      if (this.blackholed) return;
      client.resume();
      upstream.resume();
    });
    upstream.pause();
  }

  private flush(p: Pipe): void {
    clearTimeout(p.timer);
    p.timer = undefined;
    if (this.blackholed) return;
    const now = Date.now();
    while (p.queue.length && p.queue[0]!.at <= now) p.to.write(p.queue.shift()!.data);
    const next = p.queue[0];
    if (next) p.timer = setTimeout(() => this.flush(p), next.at - now);
  }

  /** Stops all traffic silently until `restore()`. */
  blackhole(): void {
    this.blackholed = true;
    for (const p of this.pipes) {
      p.from.pause();
      clearTimeout(p.timer);
    }
  }

  /** Adds `ms` to every chunk from now on (0 removes it). */
  latency(ms: number): void {
    this.delayMs = Math.max(0, ms);
  }

  restore(): void {
    this.blackholed = false;
    this.delayMs = 0;
    for (const p of this.pipes) {
      if (p.to.connecting) continue;
      p.from.resume();
      // Bytes held during the blackhole go now, as TCP's retransmits would once the route is back.
      for (const q of p.queue) q.at = 0;
      this.flush(p);
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server) {
      this.server.close();
      await once(this.server, 'close').catch(() => {});
    }
  }
}
