// The MQTT broker part: aedes 1.2 with its sessions, subscriptions, retained messages and offline queues in the
// store's LevelDB, listening on TCP (noDelay), TLS when a certificate is configured, and WebSocket on the HTTP server.
// Kept behind this module so the broker can be swapped (aedes 2 brings MQTT 5).

import { EventEmitter } from 'node:events';
import type { Server as HttpServer } from 'node:http';
import { createRequire } from 'node:module';
import { Aedes, type Client, type ConnectPacket, type PublishPacket, type Subscription } from 'aedes';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { Authority, ClientAcl, ConnectInfo } from './auth/index.ts';
import type { PendingCommands } from './broker-commands.ts';
import { ConnackGate, type GatedClient } from './broker-connack-gate.ts';
import { certificateEnd, earliest, SessionExpiry } from './broker-expiry.ts';
import { BrokerListeners } from './broker-listeners.ts';
import type { OfflineQueueStats } from './broker-offline-queue.ts';
import { clientPeer, peerOf } from './broker-peer.ts';
import { brokerPersistence, offlineQueueMetrics, offlineQueueStats } from './broker-persistence.ts';
import type { IngressMessage } from './bus.ts';
import type { MqttConfig } from './config/schema.ts';
import { ClientEvents } from './events/client-events.ts';
import type { GatewayEvent } from './events/types.ts';
import type { BrokerPort, Ingest } from './ingest.ts';
import type { Limits } from './limits/index.ts';
import type { Part, PartHealth } from './part.ts';
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
  /** The TCP, TLS and WebSocket listeners. */
  private readonly endpoints: BrokerListeners;
  /** aedes keeps no username on the client; the envelope format and key templates need it. */
  private readonly usernames = new WeakMap<Client, string>();
  /** The CONNECT as sent (aedes replaces an empty client id before authenticate runs). */
  private readonly connects = new WeakMap<Client, Pick<ConnectInfo, 'sentClientId' | 'clean' | 'will'>>();
  private readonly acls = new WeakMap<Client, ClientAcl>();
  /** A persistent session's deliveries wait for its CONNACK (broker-connack-gate.ts). */
  private readonly connackGate = new ConnackGate();
  /** Raises the client and session events (`event`) from aedes' own. */
  private readonly clientEvents: ClientEvents;
  /** One timer per session whose credential ends (token exp, webhook expire_at, certificate notAfter). */
  private readonly expiry: SessionExpiry;
  tcpPort = 0;
  tlsPort = 0;
  /** True once start() ran (BrokerPort): in-process publishes are delivered to subscribers from then on. */
  started = false;

  constructor(ctx: BrokerContext) {
    super();
    this.ctx = ctx;
    this.endpoints = new BrokerListeners(ctx);
    this.clientEvents = new ClientEvents({
      emit: (e) => this.raise(e),
      peer: clientPeer,
      onError: (err) => this.ctx.log.error({ err }, 'client event failed'),
    });
    this.expiry = new SessionExpiry({
      expire: (session) => this.closeWith(session as Client, 'auth_expired'),
      log: ctx.log,
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
    const { log } = this.ctx;
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
    aedes.on('connackSent', (_connack, client) => this.connackGate.open(client));
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

    const ports = await this.endpoints.start((socket, address, req) => {
      if (!this.ctx.limits.admit(socket, address)) return false;
      aedes.handle(socket, req);
      return true;
    });
    this.tcpPort = ports.tcp;
    this.tlsPort = ports.tls;
  }

  private preConnect(client: Client, packet: ConnectPacket, cb: (err: Error | null, ok: boolean) => void): void {
    this.clientEvents.noteConnect(client, packet);
    if (packet.clean === false) this.connackGate.hold(client as unknown as GatedClient);
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
          const certEnd = certificateEnd(client.conn);
          const end = earliest(r.identity.expiresAt, certEnd);
          this.expiry.arm(client, end, end === certEnd && end !== undefined ? 'certificate' : r.identity.method);
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

  /** Closes a session as the broker's own decision, with the reason its client.disconnected reports. */
  private closeWith(client: Client, reason: 'auth_expired' | 'kicked'): void {
    this.clientEvents.noteReason(client, reason);
    client.close();
  }

  /** Closes the connection of the device with this client id (reason kicked); false when it is not connected. */
  kick(clientId: string): boolean {
    const clients = (this.aedes as unknown as { clients: Record<string, Client | undefined> } | undefined)?.clients;
    const client = clients?.[clientId];
    if (!client || client.closed) return false;
    this.closeWith(client, 'kicked');
    return true;
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
    await this.endpoints.stop();
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
