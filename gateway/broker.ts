// The MQTT broker part: aedes 1.2 with its sessions, subscriptions, retained messages and offline queues in the
// store's LevelDB, listening on TCP (noDelay), TLS when a certificate is configured, and WebSocket on the HTTP server.
// Kept behind this module so the broker can be swapped (aedes 2 brings MQTT 5).

import { EventEmitter } from 'node:events';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { createServer, type Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, TLSSocket, type Server as TlsServer } from 'node:tls';
import { Aedes, type Client, type ConnectPacket, type PublishPacket, type Subscription } from 'aedes';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Attempt, Authority, ClientAcl, ConnectInfo } from './auth/index.ts';
import type { PendingCommands } from './broker-commands.ts';
import type { OfflineQueueStats } from './broker-offline-queue.ts';
import { brokerPersistence, offlineQueueMetrics, offlineQueueStats } from './broker-persistence.ts';
import type { IngressMessage } from './bus.ts';
import type { MqttConfig } from './config/schema.ts';
import { ClientEvents, type ClientPeer } from './events/client-events.ts';
import type { GatewayEvent } from './events/types.ts';
import type { BrokerPort, Ingest } from './ingest.ts';
import type { Limits } from './limits/index.ts';
import type { Part, PartHealth } from './part.ts';
import { readPem } from './pem.ts';
import type { MetaDb } from './store/store.ts';

const require = createRequire(import.meta.url);
// aedes-persistence-level 9 is CommonJS without types; its async class takes a level instance (here a sublevel).
const AsyncLevelPersistence = require('aedes-persistence-level/asyncPersistence.js') as new (db: MetaDb) => unknown;

export interface BrokerContext {
  config: MqttConfig;
  db: MetaDb;
  ingest: Ingest;
  http: HttpServer;
  /** Authentication chain, client id binding and ACLs (security section). */
  auth: Authority;
  /** Connection and packet limits (security.limits), checked before aedes buffers anything. */
  limits: Limits;
  log: Logger;
  gatewayId: string;
  /** The broker registers its own metrics here (clients connected, offline queues). */
  registry: Registry;
  /** The downlink's commands awaiting acknowledgement (gateway/broker-commands.ts); absent without a downlink. */
  commands?: PendingCommands | undefined;
}

/** A message the broker delivered, as aedes hands it back when the client acknowledges it. */
export interface AckedPacket {
  topic?: string;
  payload?: Buffer | string;
  qos?: number;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
}

export interface BrokerEvents {
  /** A client or session event (client.connected, client.disconnected, client.connack, session.*). */
  event: [event: GatewayEvent];
  /** A client acknowledged a message delivered to it (QoS 1 PUBACK; QoS 2: aedes' pubrel/pubcomp packet). */
  ack: [clientId: string, packet: AckedPacket];
}

export interface BrokerHealth extends PartHealth {
  up: boolean;
  clients: number;
  offlineQueue: OfflineQueueStats | undefined;
}

/** aedes' client table and its removal are not in its types. */
function forgetClosed(aedes: Aedes, client: Client): void {
  const b = aedes as unknown as { clients: Record<string, Client | undefined>; deleteClient(id: string): void };
  if (b.clients[client.id] === client) b.deleteClient(client.id);
}

export class Broker extends EventEmitter<BrokerEvents> implements BrokerPort, Part {
  readonly name = 'broker';
  private readonly ctx: BrokerContext;
  aedes: Aedes | undefined;
  private tcp: NetServer | undefined;
  private tls: TlsServer | undefined;
  private wss: WebSocketServer | undefined;
  private onUpgrade: ((req: IncomingMessage, socket: Duplex, head: Buffer) => void) | undefined;
  private readonly sockets = new Set<Socket | Duplex>();
  /** aedes keeps no username on the client; the envelope format and key templates need it. */
  private readonly usernames = new WeakMap<Client, string>();
  /** The CONNECT as sent (aedes replaces an empty client id before authenticate runs). */
  private readonly connects = new WeakMap<Client, Pick<ConnectInfo, 'sentClientId' | 'clean' | 'will'>>();
  private readonly acls = new WeakMap<Client, ClientAcl>();
  /** Raises the client and session events (`event`) from aedes' own. */
  private readonly clientEvents: ClientEvents;
  tcpPort = 0;
  tlsPort = 0;
  /** True once start() ran (BrokerPort): in-process publishes are delivered to subscribers from then on. */
  started = false;

  constructor(ctx: BrokerContext) {
    super();
    this.ctx = ctx;
    this.clientEvents = new ClientEvents({
      emit: (e) => this.raise(e),
      peer: clientPeer,
      onError: (err) => this.ctx.log.error({ err }, 'client event failed'),
    });
    const broker = this;
    new Gauge({
      name: 'gateway_mqtt_clients_connected',
      help: 'MQTT clients connected.',
      registers: [ctx.registry],
      collect() {
        this.set(broker.connectedClients);
      },
    });
    offlineQueueMetrics(ctx.registry, () => offlineQueueStats(this.aedes));
  }

  /** An event for every listener; a listener that throws must not break aedes' handling of the client. */
  private raise(event: GatewayEvent): void {
    try {
      this.emit('event', event);
    } catch (err) {
      this.ctx.log.error({ err, event: event.event }, 'event listener failed');
    }
  }

  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  health(): BrokerHealth {
    const up = this.aedes !== undefined;
    return {
      state: up ? 'up' : 'down',
      up,
      clients: this.connectedClients,
      offlineQueue: offlineQueueStats(this.aedes),
    };
  }

  async start(): Promise<void> {
    const { config, log } = this.ctx;
    this.ctx.auth.start();
    const aedes = await Aedes.createBroker({
      id: this.ctx.gatewayId,
      connectTimeout: this.ctx.limits.config.connectTimeoutMs,
      persistence: brokerPersistence(new AsyncLevelPersistence(this.ctx.db), this.ctx),
      preConnect: (client, packet, cb) => this.preConnect(client, packet, cb),
      authenticate: (client, username, password, done) => this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, cb) => this.authorizePublish(client, packet, cb),
      authorizeSubscribe: (client, sub, cb) => this.authorizeSubscribe(client, sub, cb),
    });
    this.aedes = aedes;
    this.clientEvents.watch(aedes);
    aedes.on('clientError', (client, err) => log.debug({ client: client.id, err: err.message }, 'client error'));
    aedes.on('connectionError', (client, err) =>
      log.debug({ client: client?.id, err: err.message }, 'connection error'),
    );
    this.started = true;
    aedes.on('ack', (packet, client) => {
      if (client) this.emit('ack', client.id, packet as AckedPacket);
    });
    aedes.on('client', (client) => {
      // A socket that closes while its CONNECT is still being processed (session and will are restored
      // asynchronously) is registered all the same and would stay in aedes' client table and count for good
      // (moscajs/aedes#928; found by the fuzz run): unregister it at once.
      if (client.closed) return forgetClosed(aedes, client);
      this.ctx.limits.connected(client.conn);
    });

    const handle = (socket: Socket | Duplex, req?: IncomingMessage): void => {
      const address = req ? req.socket.remoteAddress : (socket as Socket).remoteAddress;
      if (!this.ctx.limits.admit(socket, address)) return;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      aedes.handle(socket, req);
    };
    this.tcp = createServer({ noDelay: true }, (s) => handle(s));
    this.tcpPort = await listen(this.tcp, config.port, config.host);
    log.info({ port: this.tcpPort }, 'MQTT listening (TCP)');

    if (config.tls.cert && config.tls.key) {
      this.tls = createTlsServer(
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
      this.tls.on('tlsClientError', (err: Error & { code?: string }, socket) =>
        this.ctx.auth.tlsRefused(socket.remoteAddress ?? '', err.code ?? err.message),
      );
      this.tlsPort = await listen(this.tls, config.tls.port, config.host);
      log.info({ port: this.tlsPort }, 'MQTT listening (TLS)');
    }

    if (config.ws.enabled) {
      // One MQTT packet per frame at most as large as a packet may be; ws refuses a bigger frame with 1009.
      const wss = new WebSocketServer({
        noServer: true,
        perMessageDeflate: false,
        maxPayload: this.ctx.limits.config.maxPacketBytes,
      });
      this.wss = wss;
      const path = config.ws.path;
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
      log.info({ path }, 'MQTT over WebSocket on the HTTP port');
    }
  }

  private preConnect(client: Client, packet: ConnectPacket, cb: (err: Error | null, ok: boolean) => void): void {
    this.clientEvents.noteConnect(client, packet);
    this.connects.set(client, {
      sentClientId: packet.clientId,
      clean: packet.clean !== false,
      will: packet.will ? { topic: packet.will.topic, retain: packet.will.retain === true } : undefined,
    });
    cb(null, true);
  }

  /** Runs before aedes registers the client (lib/handlers/connect.js): a refused CONNECT takes over no session. */
  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void,
  ): void {
    if (username !== undefined) this.usernames.set(client, username);
    const sent = this.connects.get(client) ?? { sentClientId: client.id, clean: true, will: undefined };
    const info: ConnectInfo = { ...sent, clientId: client.id, username, password, ...peerOf(client) };
    this.ctx.auth.connect(info).then(
      (r) => {
        if (r.ok) {
          this.acls.set(client, r.acl);
          done(null, true);
          return;
        }
        // aedes wipes the inbound QoS 2 state of a clean session when its connection closes, by client id: a refused
        // client using another device's id must not touch that device's state.
        client.clean = false;
        this.clientEvents.noteRefusal(client, r.reason);
        done(Object.assign(new Error(r.reason), { returnCode: r.returnCode }), false);
      },
      (err: unknown) => {
        client.clean = false;
        this.ctx.log.error({ err, client: client.id }, 'authentication failed');
        done(Object.assign(new Error('authentication failed'), { returnCode: 5 }), false);
      },
    );
  }

  private authorizeSubscribe(
    client: Client,
    sub: Subscription,
    cb: (err: Error | null, sub?: Subscription | null) => void,
  ): void {
    this.clientEvents.noteSubscribe(sub);
    if (!isEventTopic(sub.topic) && this.acls.get(client)?.canSubscribe(sub.topic)) {
      cb(null, sub);
      return;
    }
    // A null subscription makes aedes grant 0x80 (failure) for this filter [MQTT-3.9.3].
    this.ctx.auth.deny('subscribe', client.id, sub.topic);
    cb(null, null);
  }

  private authorizePublish(client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void): void {
    // [MQTT-4.7.2-1] and aedes' default: $SYS is the broker's own.
    if (packet.topic.startsWith('$SYS')) {
      cb(new Error('$SYS topics are reserved'));
      return;
    }
    // `$events/...` carries the gateway's own client events (gateway/events/): no device may forge one.
    if (isEventTopic(packet.topic)) {
      if (client) this.ctx.auth.deny('publish', client.id, packet.topic);
      cb(new Error('$events topics are reserved'));
      return;
    }
    // A denied PUBLISH is not acknowledged: MQTT 3.1.1 has no negative PUBACK, so the connection is closed
    // (aedes does so on this error), as [MQTT-3.3.5-2] allows; the device learns, and nothing reaches Kafka.
    // Client null: a will published after a restart, checked when its CONNECT was accepted.
    const acl = client ? this.acls.get(client) : undefined;
    if (client && !acl?.canPublish(packet.topic, packet.retain)) {
      this.ctx.auth.deny(packet.retain ? 'retain' : 'publish', client.id, packet.topic);
      cb(new Error(`not authorized to publish to ${packet.topic}`));
      return;
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    this.ctx.ingest.accept(
      {
        topic: packet.topic,
        payload,
        qos: packet.qos,
        clientId: client?.id ?? '',
        username: client ? this.usernames.get(client) : undefined,
        retain: packet.retain,
      },
      // An error here makes aedes drop the connection without an ack: the device keeps the message (MQTT 3.1.1 has
      // no negative PUBACK) and resends it after reconnecting.
      cb,
    );
  }

  deliver(msg: IngressMessage): Promise<void> {
    const a = this.aedes;
    if (!a) return Promise.reject(new Error('the broker is not running'));
    return new Promise((resolve, reject) => {
      a.publish(
        {
          cmd: 'publish',
          topic: msg.topic,
          payload: msg.payload,
          qos: msg.qos,
          retain: msg.retain ?? false,
          dup: false,
        },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  subscribe(filter: string, handler: (msg: IngressMessage) => void): Promise<() => Promise<void>> {
    const a = this.aedes;
    if (!a) return Promise.reject(new Error('the broker is not running'));
    const fn = (packet: PublishPacket, done: () => void): void => {
      try {
        handler({
          topic: packet.topic,
          payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
          qos: packet.qos,
          clientId: (packet as PublishPacket & { clientId?: string }).clientId ?? '',
          retain: packet.retain,
        });
      } finally {
        done();
      }
    };
    return new Promise((resolve) => {
      a.subscribe(filter, fn, () =>
        resolve(() => new Promise<void>((r) => (this.aedes ? this.aedes.unsubscribe(filter, fn, () => r()) : r()))),
      );
    });
  }

  async stop(): Promise<void> {
    // Connections that end from here on end with server_shutdown; those aedes has not reported by the time it closed
    // are reported then.
    this.clientEvents.shutdown();
    if (this.onUpgrade) this.ctx.http.off('upgrade', this.onUpgrade);
    const closing = [this.tcp, this.tls].filter((s): s is NetServer => s !== undefined).map(closeServer);
    this.wss?.close();
    for (const s of this.sockets) s.destroy();
    await Promise.all(closing);
    const a = this.aedes;
    this.aedes = undefined;
    if (a) await new Promise<void>((r) => a.close(() => r()));
    this.clientEvents.closeAll();
  }
}

/** The in-process topics of the client events (`$events/client_connected`...), the gateway's own. */
function isEventTopic(topic: string): boolean {
  return topic === '$events' || topic.startsWith('$events/');
}

function socketOf(client: Client): Socket | undefined {
  const conn = client.conn as unknown;
  return conn instanceof TLSSocket || conn instanceof Socket ? conn : client.req?.socket;
}

/** Address, port and certificate common name of a client, for its events. */
function clientPeer(client: Client): ClientPeer {
  const { peer, cert } = peerOf(client);
  return { ip: peer, port: socketOf(client)?.remotePort ?? 0, cn: cert?.cn || undefined };
}

/** The remote address and, on the TLS listener, the names of the verified client certificate. */
function peerOf(client: Client): Pick<Attempt, 'peer' | 'cert'> {
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
