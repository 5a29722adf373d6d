// The broker's persistence: aedes-persistence-level (sessions, subscriptions, retained messages and offline queues
// in the store's LevelDB) wrapped so that
//   1. no publish is lost to a connected subscriber, whatever the timing of the store, and
//   2. each persistent session's offline queue stays within `security.limits.offlineQueue`.
//
// Why 1 needs a wrapper (aedes 1.2, issue moscajs/aedes#955): aedes numbers each publish (`brokerCounter`) when it
// arrives, then awaits the store (the retained copy; for QoS > 0 the offline queues) and only then hands it to the
// subscribers. Each client drops a packet whose number is not above the last one it saw from this broker (the dedupe
// that stops overlapping subscriptions delivering twice). A later packet whose store finished first therefore makes
// an earlier one vanish: with 40 devices publishing retained messages at once a connected subscriber missed some. A
// store that completes in call order is not enough, because non-retained packets skip the retained store altogether
// and overtake retained ones. So the number a subscriber's dedupe sees is taken again at the moment the packet is
// handed to the subscribers (`renumber`), which is the order they receive packets in; the offline-queue copies keep
// the number they were stored under, and `outgoingUpdate` maps a renumbered packet back to it. Retained stores are
// still written one after the other, so the retained copy of a topic is always the last one published.
//
// Kept here, behind the broker module, so a later aedes that fixes the numbering can drop it.
//
// The counter also names a queued message in the store (`outgoing:<client>:<broker id>:<counter>`), and aedes starts
// it from 0 on every start while the broker id (the gateway id) stays: a restarted broker would store a new message
// under the key of one still queued and overwrite it. So setup() continues the counter above the queued ones.
//
// With the downlink's pending commands (gateway/broker-commands.ts) the wrapper also tells that table when a command
// is queued, sent, acknowledged or dropped, gives a command's TTL to the queue index and drops it when the TTL passes.
import { type Readable, Transform } from 'node:stream';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import type { PendingCommands } from './broker-commands.ts';
import { type OfflineQueueStats, OfflineQueues, type QueuedPacket } from './broker-offline-queue.ts';
import { ReplayGuard } from './broker-replay.ts';
import { DEFAULT_OFFLINE_QUEUE, type OfflineQueueLimits } from './limits/offline-queue.ts';
import type { MetaDb } from './store/store.ts';

interface Session {
  id: string;
  /** aedes' client: a clean session's queue is discarded, not delivered. */
  clean?: boolean;
}
interface Subscription {
  clientId: string;
}

/** The async persistence interface of aedes 1.x (aedes-persistence 10), as far as this wrapper forwards it. */
export interface AsyncPersistence {
  setup(broker: unknown): Promise<void>;
  storeRetained(packet: QueuedPacket): Promise<void>;
  createRetainedStreamCombi(patterns: string[]): Readable;
  createRetainedStream(pattern: string): Readable;
  addSubscriptions(client: Session, subs: unknown[]): Promise<void>;
  removeSubscriptions(client: Session, topics: string[]): Promise<void>;
  subscriptionsByClient(client: Session): Promise<unknown[]>;
  countOffline(): Promise<unknown>;
  subscriptionsByTopic(pattern: string): Promise<Subscription[]>;
  cleanSubscriptions(client: Session): Promise<void>;
  outgoingEnqueue(sub: Subscription, packet: QueuedPacket): Promise<void>;
  outgoingEnqueueCombi(subs: Subscription[], packet: QueuedPacket): Promise<unknown>;
  outgoingUpdate(client: Session, packet: QueuedPacket): Promise<void>;
  outgoingClearMessageId(client: Session, packet: QueuedPacket): Promise<QueuedPacket | undefined>;
  outgoingStream(client: Session): Readable;
  incomingStorePacket(client: Session, packet: unknown): Promise<void>;
  incomingGetPacket(client: Session, packet: unknown): Promise<unknown>;
  incomingDelPacket(client: Session, packet: unknown): Promise<void>;
  cleanIncoming?(client: Session): Promise<void>;
  putWill(client: Session, packet: unknown): Promise<void>;
  getWill(client: Session): Promise<unknown>;
  delWill(client: Session): Promise<unknown>;
  streamWill(brokers?: unknown): Readable;
  getClientList(topic: string): Readable;
  destroy?(): Promise<void>;
}

/** What of the aedes instance the wrapper touches: its id, its packet counter and its emitter. */
interface BrokerInternals {
  id: string;
  counter: number;
  mq: { emit(packet: QueuedPacket, cb?: (...args: unknown[]) => void): unknown };
  once(event: 'closed', fn: () => void): unknown;
}

export interface BrokerPersistenceContext {
  db: MetaDb;
  log: Logger;
  /** The broker's limits part; `security.limits.offlineQueue` bounds the queues (defaults without it). */
  limits?: { config: { offlineQueue?: OfflineQueueLimits } };
  /** The clock of queued messages' ages (tests move it). */
  now?: () => number;
  /** The downlink's commands waiting for an acknowledgement; absent without a downlink. */
  commands?: PendingCommands | undefined;
}

/** setTimeout's limit is about 24 days; a later expiry is waited for in steps. */
const MAX_TIMER_MS = 3_600_000;

export class BrokerPersistence implements AsyncPersistence {
  private readonly inner: AsyncPersistence;
  private readonly log: Logger;
  readonly queues: OfflineQueues;
  /** Renumbered QoS > 0 packets still being handed out: new number → the number the queues stored them under. */
  private readonly renumbered = new Map<number, number>();
  private retainedTail: Promise<unknown> = Promise.resolve();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly commands: PendingCommands | undefined;
  /** The next command expiry a timer waits for. */
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiryAt = Number.POSITIVE_INFINITY;
  /** A message queued while its session reconnects goes out once, live or from the replay. */
  private readonly replay = new ReplayGuard();

  constructor(inner: AsyncPersistence, ctx: BrokerPersistenceContext) {
    this.inner = inner;
    this.log = ctx.log;
    this.now = ctx.now ?? Date.now;
    this.queues = new OfflineQueues(ctx.db, ctx.limits?.config.offlineQueue ?? DEFAULT_OFFLINE_QUEUE, ctx.log);
    const commands = ctx.commands;
    this.commands = commands;
    if (commands) {
      this.queues.on('drop', (clientId, m, reason) => {
        void commands.removed(clientId, m, reason === 'age' ? 'expired' : 'queue_full');
      });
    }
  }

  async setup(broker: unknown): Promise<void> {
    const b = broker as BrokerInternals;
    await this.inner.setup(broker);
    this.replay.setBroker(b.id);
    this.renumber(b);
    await this.commands?.load();
    const now = this.now();
    for (const id of await this.queues.storedSessions()) {
      for await (const p of this.inner.outgoingStream({ id })) {
        const packet = p as QueuedPacket;
        this.queues.indexStored(id, packet, now, this.commands?.expiryOf(id, packet));
      }
    }
    b.counter = Math.max(b.counter, this.queues.maxCounter(b.id));
    await this.commands?.reconcile((clientId, m) => this.queues.holds(clientId, m));
    const every = Math.min(60_000, this.queues.maxAgeMs);
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
    this.expireAt(this.commands?.nextExpiry());
    b.once('closed', () => this.stopTimers());
  }

  private stopTimers(): void {
    clearInterval(this.sweepTimer);
    clearTimeout(this.expiryTimer);
    this.expiryAt = Number.POSITIVE_INFINITY;
  }

  /** Sweeps the queues when the next command expires, so an expired command leaves its queue then. */
  private expireAt(at: number | undefined): void {
    if (at === undefined || at >= this.expiryAt) return;
    clearTimeout(this.expiryTimer);
    this.expiryAt = at;
    const delay = Math.min(Math.max(0, at - this.now()), MAX_TIMER_MS);
    this.expiryTimer = setTimeout(() => {
      this.expiryAt = Number.POSITIVE_INFINITY;
      this.sweep();
      this.expireAt(this.commands?.nextExpiry());
    }, delay + 1);
    this.expiryTimer.unref();
  }

  /** Takes each local packet's number again as it is handed to the subscribers (see the top of the file). */
  private renumber(broker: BrokerInternals): void {
    const mq = broker.mq;
    const emit = mq.emit.bind(mq);
    mq.emit = (packet, cb) => {
      if (packet.brokerId !== broker.id || typeof packet.brokerCounter !== 'number') return emit(packet, cb);
      const stored = packet.brokerCounter;
      const fresh = ++broker.counter;
      packet.brokerCounter = fresh;
      if (packet.qos === 0) return emit(packet, cb);
      this.renumbered.set(fresh, stored);
      return emit(packet, (...args: unknown[]) => {
        this.renumbered.delete(fresh);
        this.replay.handedOut(stored);
        cb?.(...args);
      });
    };
  }

  storeRetained(packet: QueuedPacket): Promise<void> {
    // One after the other: two stores of one topic finishing out of order would leave the older message retained.
    const done = this.retainedTail.then(() => this.inner.storeRetained(packet));
    this.retainedTail = done.catch(() => {});
    return done;
  }

  async outgoingEnqueue(sub: Subscription, packet: QueuedPacket): Promise<void> {
    await this.outgoingEnqueueCombi([sub], packet);
  }

  async outgoingEnqueueCombi(subs: Subscription[], packet: QueuedPacket): Promise<void> {
    if (!subs || subs.length === 0) return;
    const now = this.now();
    const command = this.commands?.match(packet);
    const admitted: Subscription[] = [];
    const drop: string[] = [];
    for (const sub of subs) {
      const keys = this.queues.admit(sub.clientId, packet, now, command?.expiresAt);
      if (keys === false) {
        if (command) this.commands?.refused(command, sub.clientId, 'queue_full');
        continue;
      }
      admitted.push(sub);
      drop.push(...keys);
    }
    if (admitted.length) {
      const ids = admitted.map((s) => s.clientId);
      this.replay.queueing(packet);
      try {
        await Promise.all([
          this.inner.outgoingEnqueueCombi(admitted, packet),
          command && this.commands?.bind(command, ids, packet),
        ]);
      } catch (err) {
        if (packet.brokerCounter !== undefined) this.replay.handedOut(packet.brokerCounter);
        throw err;
      }
      this.expireAt(command?.expiresAt);
    }
    await this.queues.delete(drop);
  }

  async outgoingUpdate(client: Session, packet: QueuedPacket): Promise<void> {
    const stored = packet.brokerCounter === undefined ? undefined : this.renumbered.get(packet.brokerCounter);
    if (stored !== undefined) packet.brokerCounter = stored;
    this.replay.sent(client.id, packet);
    await this.inner.outgoingUpdate(client, packet);
    this.queues.sent(client.id, packet);
    // A publish (not QoS 2's PUBREL) is written to the connection right after this.
    if ((packet as { cmd?: string }).cmd === 'publish') this.commands?.delivered(client.id, packet);
  }

  /** `packet` is the device's PUBACK / PUBCOMP, or a queued publish aedes discards (clean session, not forwarded). */
  async outgoingClearMessageId(client: Session, packet: QueuedPacket): Promise<QueuedPacket | undefined> {
    const cleared = await this.inner.outgoingClearMessageId(client, packet);
    this.queues.cleared(client.id, cleared);
    if (cleared && this.commands) {
      const cmd = (packet as { cmd?: string }).cmd;
      if (cmd === 'puback' || cmd === 'pubcomp') void this.commands.acked(client.id, cleared);
      else void this.commands.removed(client.id, cleared, client.clean ? 'no_subscriber' : 'refused');
    }
    return cleared;
  }

  outgoingStream(client: Session): Readable {
    const queues = this.queues;
    const now = this.now;
    // A clean session's queue is discarded, not replayed (and its live writes are not recorded).
    const replay = client.clean ? undefined : this.replay.begin(client.id);
    const aged = new Transform({
      objectMode: true,
      transform(p: QueuedPacket, _enc, next) {
        // Swept a moment ago (already counted and reported): the store's delete is on its way.
        if (queues.isLeaving(client.id, p)) return next();
        if (queues.isExpired(client.id, p, now())) {
          queues.delete(queues.expiredOnReplay(client.id, p)).then(() => next(), next);
        } else if (replay) replay.pass(p, (send) => (send ? next(null, p) : next()));
        else next(null, p);
      },
    });
    if (replay) aged.once('close', () => replay.end());
    const source = this.inner.outgoingStream(client);
    source.on('error', (err) => aged.destroy(err));
    return source.pipe(aged);
  }

  private sweep(): void {
    this.queues.delete(this.queues.sweep(this.now())).catch((err: unknown) => {
      this.log.warn({ err }, 'offline queue: could not delete aged messages');
    });
  }

  // Forwarded unchanged.
  createRetainedStreamCombi(patterns: string[]): Readable {
    return this.inner.createRetainedStreamCombi(patterns);
  }
  createRetainedStream(pattern: string): Readable {
    return this.inner.createRetainedStream(pattern);
  }
  addSubscriptions(client: Session, subs: unknown[]): Promise<void> {
    return this.inner.addSubscriptions(client, subs);
  }
  removeSubscriptions(client: Session, topics: string[]): Promise<void> {
    return this.inner.removeSubscriptions(client, topics);
  }
  subscriptionsByClient(client: Session): Promise<unknown[]> {
    // aedes reads a persistent session's subscriptions as it connects, and restores them before the replay.
    this.replay.connecting(client.id);
    return this.inner.subscriptionsByClient(client);
  }
  countOffline(): Promise<unknown> {
    return this.inner.countOffline();
  }
  subscriptionsByTopic(pattern: string): Promise<Subscription[]> {
    return this.inner.subscriptionsByTopic(pattern);
  }
  cleanSubscriptions(client: Session): Promise<void> {
    return this.inner.cleanSubscriptions(client);
  }
  incomingStorePacket(client: Session, packet: unknown): Promise<void> {
    return this.inner.incomingStorePacket(client, packet);
  }
  incomingGetPacket(client: Session, packet: unknown): Promise<unknown> {
    return this.inner.incomingGetPacket(client, packet);
  }
  incomingDelPacket(client: Session, packet: unknown): Promise<void> {
    return this.inner.incomingDelPacket(client, packet);
  }
  async cleanIncoming(client: Session): Promise<void> {
    await this.inner.cleanIncoming?.(client);
  }
  putWill(client: Session, packet: unknown): Promise<void> {
    return this.inner.putWill(client, packet);
  }
  getWill(client: Session): Promise<unknown> {
    return this.inner.getWill(client);
  }
  delWill(client: Session): Promise<unknown> {
    return this.inner.delWill(client);
  }
  streamWill(brokers?: unknown): Readable {
    return this.inner.streamWill(brokers);
  }
  getClientList(topic: string): Readable {
    return this.inner.getClientList(topic);
  }
  async destroy(): Promise<void> {
    this.stopTimers();
    await this.inner.destroy?.();
  }
}

/** The persistence the broker hands to aedes: `inner` (aedes-persistence-level on the store) wrapped as above. */
export function brokerPersistence(inner: unknown, ctx: BrokerPersistenceContext): BrokerPersistence {
  return new BrokerPersistence(inner as AsyncPersistence, ctx);
}

/** The offline-queue figures of a running broker's persistence (none when the broker is down or not ours). */
export function offlineQueueStats(aedes: object | undefined): OfflineQueueStats | undefined {
  const p = aedes && 'persistence' in aedes ? aedes.persistence : undefined;
  return p instanceof BrokerPersistence ? p.queues.stats : undefined;
}

export function offlineQueueMetrics(registry: Registry, read: () => OfflineQueueStats | undefined): void {
  // Counts are cumulative per persistence instance; a restarted broker starts again from zero.
  let reported = { count: 0, bytes: 0, age: 0 };
  let last: OfflineQueueStats | undefined;
  new Counter({
    name: 'gateway_offline_queue_dropped_total',
    help: 'Messages dropped from persistent sessions’ offline queues, by the bound that was reached.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const stats = read();
      if (!stats) return;
      if (stats !== last) reported = { count: 0, bytes: 0, age: 0 };
      last = stats;
      for (const reason of ['count', 'bytes', 'age'] as const) {
        this.inc({ reason }, stats.dropped[reason] - reported[reason]);
        reported[reason] = stats.dropped[reason];
      }
    },
  });
  const gauge = (name: string, help: string, field: 'messages' | 'bytes' | 'sessions'): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read()?.[field] ?? 0);
      },
    });
  };
  gauge('gateway_offline_queue_messages', 'Messages queued for persistent sessions.', 'messages');
  gauge('gateway_offline_queue_bytes', 'Topic and payload bytes queued for persistent sessions.', 'bytes');
  gauge('gateway_offline_queue_sessions', 'Persistent sessions with messages queued.', 'sessions');
}
