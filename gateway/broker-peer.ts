// Who is at the other end of an MQTT client's connection: its address and port and, on the TLS listener with a
// verified client certificate, the certificate's names (for authentication and the client events).
import { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Client } from 'aedes';
import type { Attempt } from './auth/index.ts';
import type { ClientPeer } from './events/client-events.ts';

function socketOf(client: Client): Socket | undefined {
  const conn = client.conn as unknown;
  return conn instanceof TLSSocket || conn instanceof Socket ? conn : client.req?.socket;
}

/** Address, port and certificate common name of a client, for its events. */
export function clientPeer(client: Client): ClientPeer {
  const { peer, cert } = peerOf(client);
  return { ip: peer, port: socketOf(client)?.remotePort ?? 0, cn: cert?.cn || undefined };
}

/** The remote address and, on the TLS listener, the names of the verified client certificate. */
export function peerOf(client: Client): Pick<Attempt, 'peer' | 'cert'> {
  const conn = client.conn as unknown;
  const socket = socketOf(client);
  const peer = socket?.remoteAddress ?? '';
  if (!(conn instanceof TLSSocket) || !conn.authorized) return { peer, cert: undefined };
  const c = conn.getPeerCertificate();
  const alt = (c.subjectaltname ?? '').split(', ');
  const names = (prefix: string) => alt.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
  const cn = Array.isArray(c.subject?.CN) ? (c.subject.CN[0] ?? '') : (c.subject?.CN ?? '');
  return { peer, cert: { cn, dns: names('DNS:'), uri: names('URI:'), email: names('email:') } };
}
