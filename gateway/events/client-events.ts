// Client and session events from aedes' own events, as EMQX names them. aedes says when a client is ready, gone,
// timed out, refused or (un)subscribed; this module adds what aedes does not keep (the CONNECT as sent, why a
// connection ended, the QoS asked for) and guarantees that every client.connected gets exactly one
// client.disconnected: a connection is online from its accepting CONNACK to the first of aedes' `clientDisconnect`, its
// socket's close, or the broker's stop.
import type { Aedes, Client, ConnectPacket, Subscription } from 'aedes';
import type { ClientDisconnected, DisconnectReason, GatewayEvent } from './types.ts';

/** Where a client connects from, and the common name of its verified certificate. */
export interface ClientPeer {
  ip: string;
  port: number;
  cn: string | undefined;
}

interface Online {
  clientid: string;
  username: string | null;
  connectedAt: number;
}

interface SentConnect {
  /** Read while the socket is open: a refused client's is closed by the time its CONNACK is reported. */
  peer: ClientPeer;
  clientId: string;
  username: string | null;
  keepalive: number;
  protoVer: number;
  clean: boolean;
}

/** EMQX's names of the MQTT 3.1.1 CONNACK return codes. */
const CONNACK_REASONS: Record<number, string> = {
  1: 'unsupported_protocol_version',
  2: 'client_identifier_not_valid',
  3: 'server_unavailable',
  4: 'bad_username_or_password',
  5: 'not_authorized',
  6: 'keepalive_limit_exceeded',
};

/** aedes' client table and its registration are not in its types. */
interface AedesInternals {
  clients: Record<string, Client | undefined>;
  registerClient(client: Client): void;
}

export class ClientEvents {
  private readonly emit: (event: GatewayEvent) => void;
  private readonly peer: (client: Client) => ClientPeer;
  private readonly onError: (err: unknown) => void;
  private readonly online = new Map<Client, Online>();
  private readonly connects = new WeakMap<Client, SentConnect>();
  private readonly reasons = new WeakMap<Client, DisconnectReason>();
  private readonly refusals = new WeakMap<Client, string>();
  private readonly requestedQos = new WeakMap<object, number>();
  private shuttingDown = false;

  constructor(opts: {
    emit: (event: GatewayEvent) => void;
    peer: (client: Client) => ClientPeer;
    /** A failure in an aedes event handler: logged, never thrown into aedes. */
    onError: (err: unknown) => void;
  }) {
    this.emit = opts.emit;
    this.peer = opts.peer;
    this.onError = opts.onError;
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onError(err);
    }
  }

  private peerOf(client: Client): ClientPeer {
    try {
      return this.peer(client);
    } catch {
      return { ip: '', port: 0, cn: undefined };
    }
  }

  /** The CONNECT as the client sent it (preConnect runs before aedes validates or replaces anything). */
  noteConnect(client: Client, packet: ConnectPacket): void {
    this.connects.set(client, {
      peer: this.peerOf(client),
      clientId: packet.clientId,
      username: packet.username ?? null,
      keepalive: packet.keepalive ?? 0,
      protoVer: packet.protocolVersion ?? 4,
      clean: packet.clean !== false,
    });
  }

  /** Why the authority refused a CONNECT (its own reason, e.g. `bad-password`), sent with the client.connack. */
  noteRefusal(client: Client, detail: string): void {
    this.refusals.set(client, detail);
  }

  /** Why the broker itself is closing this connection (auth_expired, kicked); a reason already noted stays. */
  noteReason(client: Client, reason: DisconnectReason): void {
    if (!this.reasons.has(client)) this.reasons.set(client, reason);
  }

  /** The QoS a SUBSCRIBE asked for (aedes overwrites it with the granted one). */
  noteSubscribe(sub: Subscription): void {
    this.requestedQos.set(sub, sub.qos);
  }

  watch(aedes: Aedes): void {
    const internals = aedes as unknown as AedesInternals;
    const register = internals.registerClient.bind(aedes);
    // [MQTT-3.1.4-2] a CONNECT with the id of a connected client closes that client: it was taken over.
    internals.registerClient = (client: Client): void => {
      const old = internals.clients[client.id];
      if (old && old !== client && !this.reasons.has(old)) this.reasons.set(old, 'takeover');
      register(client);
    };
    aedes.on('keepaliveTimeout', (client) => {
      if (!this.reasons.has(client)) this.reasons.set(client, 'keepalive_timeout');
    });
    aedes.on('clientDisconnect', (client) => this.safely(() => this.disconnected(client)));
    // Connected from its CONNACK on: aedes handles the client's next packets (a SUBSCRIBE) from then, before it
    // says `clientReady` (after the offline queue is sent).
    aedes.on('connackSent', (packet, client) =>
      this.safely(() =>
        packet.returnCode === 0 ? this.connected(client) : this.refused(client, packet.returnCode ?? 5),
      ),
    );
    aedes.on('subscribe', (subs, client) =>
      this.safely(() => {
        const o = this.online.get(client);
        if (o) for (const s of subs) this.subscribed(o, s);
      }),
    );
    aedes.on('unsubscribe', (filters, client) => this.safely(() => this.unsubscribed(client, filters)));
  }

  private unsubscribed(client: Client, filters: readonly string[]): void {
    // aedes also reports the subscriptions a closing clean session drops: those are no UNSUBSCRIBE.
    const o = client.closed ? undefined : this.online.get(client);
    if (!o) return;
    for (const filter of filters) {
      this.emit({ event: 'session.unsubscribed', clientid: o.clientid, username: o.username, ts: Date.now(), filter });
    }
  }

  /** From now on a connection that ends was ended by the broker's stop. */
  shutdown(): void {
    this.shuttingDown = true;
  }

  /** After the broker closed: every connection still online ends with server_shutdown. */
  closeAll(): void {
    for (const client of [...this.online.keys()]) this.disconnected(client, 'server_shutdown');
  }

  private connected(client: Client): void {
    if (client.closed || this.online.has(client)) return;
    const sent = this.connects.get(client);
    const peer = sent?.peer ?? this.peerOf(client);
    const username = sent?.username ?? null;
    const ts = Date.now();
    this.online.set(client, { clientid: client.id, username, connectedAt: ts });
    client.conn.once('close', () => this.safely(() => this.disconnected(client)));
    this.emit({
      event: 'client.connected',
      clientid: client.id,
      username,
      ts,
      ip: peer.ip,
      port: peer.port,
      proto_ver: sent?.protoVer ?? client.version ?? 4,
      keepalive: sent?.keepalive ?? 0,
      clean_start: sent?.clean ?? client.clean,
      ...(peer.cn ? { cert_common_name: peer.cn } : {}),
    });
  }

  private disconnected(client: Client, forced?: DisconnectReason): void {
    const o = this.online.get(client);
    if (!o) return;
    this.online.delete(client);
    const ts = Date.now();
    const event: ClientDisconnected = {
      event: 'client.disconnected',
      clientid: o.clientid,
      username: o.username,
      ts,
      reason: forced ?? this.reasonOf(client),
      connected_at: o.connectedAt,
      duration_ms: ts - o.connectedAt,
    };
    this.emit(event);
  }

  private reasonOf(client: Client): DisconnectReason {
    // aedes sets _disconnected when the client sent DISCONNECT [MQTT-3.14.4-3].
    if ((client as unknown as { _disconnected?: boolean })._disconnected) return 'normal';
    return this.reasons.get(client) ?? (this.shuttingDown ? 'server_shutdown' : 'error');
  }

  private refused(client: Client, returnCode: number): void {
    const sent = this.connects.get(client);
    const detail = this.refusals.get(client);
    this.emit({
      event: 'client.connack',
      // As sent: aedes has already replaced an empty one with a generated id no one knows.
      clientid: sent ? sent.clientId : (client.id ?? ''),
      username: sent?.username ?? null,
      ts: Date.now(),
      reason: CONNACK_REASONS[returnCode] ?? `return_code_${returnCode}`,
      ...(detail ? { detail } : {}),
      ip: (sent?.peer ?? this.peerOf(client)).ip,
    });
  }

  private subscribed(o: Online, s: Subscription): void {
    this.emit({
      event: 'session.subscribed',
      clientid: o.clientid,
      username: o.username,
      ts: Date.now(),
      filter: s.topic,
      qos: this.requestedQos.get(s) ?? s.qos,
      granted: s.qos,
    });
  }
}
