// A plain in-memory aedes broker on loopback, for trying the simulator without a gateway and for measuring the
// simulator's own cost (no persistence, so the broker is never the bottleneck being measured).
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';

export interface LocalBroker {
  url: string;
  port: number;
  broker: Aedes;
  /** Messages the broker accepted, per topic prefix counting is left to the caller via broker events. */
  published: () => number;
  /** Drops every client connection at once (a crash as the devices see it). */
  dropConnections: () => void;
  close: () => Promise<void>;
}

export async function startLocalBroker(port = 0, host = '127.0.0.1'): Promise<LocalBroker> {
  const broker = await Aedes.createBroker();
  let published = 0;
  broker.on('publish', (packet, client) => {
    if (client) published++;
    void packet;
  });
  const sockets = new Set<Socket>();
  const server: Server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  server.listen(port, host);
  await once(server, 'listening');
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  return {
    url: `mqtt://${host}:${actual}`,
    port: actual,
    broker,
    published: () => published,
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}
