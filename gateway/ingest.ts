// The ingest path, shared by MQTT publishes (through the broker's authorizePublish hook) and in-process sources
// (adapters, flows): match routes and flow inputs, hand the message to the store's outbox (which stamps, admits,
// encodes and group-commits it with its flow-journal entries), and decide what to acknowledge. The device's PUBACK
// waits on that commit (promise 1); flow taps get the message after it (promise 6). This file is also the
// GatewayBus implementation handed to adapters and flows.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { FlowTap, GatewayBus, IngressMessage, OutboxAppend, PublishOptions, TappedMessage } from './bus.ts';
import type { RouteConfig } from './config/schema.ts';
import { compileKeyTemplate } from './config/template.ts';
import { GatewayError } from './errors.ts';
import type { IngestCounters } from './ingest-metrics.ts';
import type { Destination } from './store/destination.ts';
import type { JournalTap } from './store/journal.ts';
import type { Stamp } from './store/outbox.ts';
import type { Store } from './store/store.ts';
import { compileFilter, type TopicMatcher } from './topic.ts';

export type { IngestCounters } from './ingest-metrics.ts';

interface Route {
  name: string;
  match: TopicMatcher;
  to: Destination;
  minQos: number;
}

/** An unrouted topic is logged at most once per minute; at most this many topics are remembered. */
const UNROUTED_LOG_MS = 60_000;
const MAX_UNROUTED_TOPICS = 1000;

interface ActiveTap {
  tap: FlowTap;
  match: TopicMatcher;
  journal: JournalTap;
  /** Journal keys handed to the tap and not yet completed: a replay must skip them. */
  inflight: Set<string>;
}

/** What the broker offers the ingest path: local delivery and subscriptions (gateway/broker.ts). */
export interface BrokerPort {
  /** False until the broker has started: in-process publishes reach only the outbox and flow inputs until then. */
  readonly started: boolean;
  deliver(msg: IngressMessage): Promise<void>;
  subscribe(filter: string, handler: (msg: IngressMessage) => void): Promise<() => Promise<void>>;
}

/** A port to a broker built after the Ingest it needs (the broker takes the Ingest for its publishes). */
export function laterBroker(get: () => BrokerPort | undefined): BrokerPort {
  return {
    get started() {
      return get()?.started ?? false;
    },
    deliver: (msg) => (get() as BrokerPort).deliver(msg),
    subscribe: (filter, handler) => (get() as BrokerPort).subscribe(filter, handler),
  };
}

type Callback = (err: Error | null) => void;
const NO_TAPS: readonly JournalTap[] = [];
const noop = (): void => {};

interface IngestEvents {
  /** An MQTT client's publish was accepted (queued for its destinations, or acknowledged with no route): who sent it. */
  accepted: [clientId: string];
}

export class Ingest extends EventEmitter<IngestEvents> implements GatewayBus {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly routes: Route[];
  private readonly taps = new Map<string, ActiveTap>();
  private readonly counters: IngestCounters;
  private readonly broker: BrokerPort | undefined;
  /** Per unrouted topic: when it was last logged and how many were not logged since. */
  private readonly unroutedSeen = new Map<string, { at: number; since: number }>();

  constructor(ctx: {
    store: Store;
    routes: readonly RouteConfig[];
    log: Logger;
    counters: IngestCounters;
    /** Local delivery and subscriptions; without one, publishes reach only the outbox and flow inputs. */
    broker?: BrokerPort;
  }) {
    super();
    this.store = ctx.store;
    this.log = ctx.log;
    this.counters = ctx.counters;
    this.broker = ctx.broker;
    this.routes = ctx.routes.map((r, i) => {
      const key = compileKeyTemplate(r.key);
      let to: Destination;
      try {
        to = ctx.store.outbox.destination({
          class: r.class,
          kafkaTopic: r.topic,
          key,
          envelope: r.format === 'envelope',
          cache: true,
        });
      } catch {
        throw new GatewayError('GW_ERR_CONFIG', `routes[${i}].class: unknown class "${r.class}"`);
      }
      return { name: r.name ?? `route${i}`, match: compileFilter(r.filter), to, minQos: r.minQos };
    });
  }

  /**
   * Ingests one message and calls `cb` once it is durable (QoS >= 1) or queued (QoS 0). An error means the
   * message was refused (budget `reject`, too large, store failure): the caller must not acknowledge it.
   */
  accept(msg: IngressMessage, cb: Callback): void {
    this.take(msg, cb, true);
  }

  /** `device`: an MQTT client's publish (the broker's), which `accepted` names; in-process publishes are not. */
  private take(msg: IngressMessage, cb: Callback, device: boolean, meta?: PublishOptions['meta']): void {
    this.counters.received(msg.qos);
    const routes = this.routes.filter((r) => msg.qos >= r.minQos && r.match(msg.topic));
    const tapped: ActiveTap[] = [];
    if (this.taps.size > 0) for (const t of this.taps.values()) if (t.match(msg.topic)) tapped.push(t);
    if (routes.length === 0 && tapped.length === 0) {
      this.unrouted(msg);
      if (device) this.emit('accepted', msg.clientId);
      cb(null);
      return;
    }
    const taps = tapped.length === 0 ? NO_TAPS : tapped.map((t) => t.journal);
    // QoS 0: nothing to withhold, the device is answered now and a failed append is only logged. QoS >= 1: the
    // caller's callback is the commit's, then the flow inputs get the message (durable first).
    let stamp: Stamp | undefined;
    const onCommit =
      msg.qos === 0
        ? this.qos0Failed
        : tapped.length === 0
          ? cb
          : (err: Error | null): void => {
              cb(err);
              // A commit succeeds only after append() returned: the stamp is set.
              if (!err) this.deliverAll(tapped, msg, stamp as Stamp);
            };
    try {
      stamp = this.store.outbox.append(
        msg,
        routes.map((r) => r.to),
        meta ? { taps, meta } : { taps },
        onCommit,
      );
    } catch (err) {
      this.counters.refused((err as GatewayError).code ?? 'error');
      if (msg.qos === 0)
        cb(null); // nothing to withhold for QoS 0; the drop is counted
      else cb(err as Error);
      return;
    }
    for (const r of routes) this.counters.routed(r.name, 1);
    if (device) this.emit('accepted', msg.clientId);
    if (msg.qos === 0) {
      if (tapped.length > 0) this.deliverAll(tapped, msg, stamp);
      cb(null);
    }
  }

  /** Acknowledged and dropped: counted always, logged once per topic per minute (the map stays bounded). */
  private unrouted(msg: IngressMessage): void {
    this.counters.unrouted();
    const now = Date.now();
    const seen = this.unroutedSeen.get(msg.topic);
    if (seen && now - seen.at < UNROUTED_LOG_MS) {
      seen.since++;
      return;
    }
    if (!seen && this.unroutedSeen.size >= MAX_UNROUTED_TOPICS) {
      for (const [t, s] of this.unroutedSeen) if (now - s.at >= UNROUTED_LOG_MS) this.unroutedSeen.delete(t);
      if (this.unroutedSeen.size >= MAX_UNROUTED_TOPICS) return; // still counted; logged once a slot frees up
    }
    this.log.warn(
      { topic: msg.topic, clientId: msg.clientId, qos: msg.qos, ...(seen ? { sinceLastLog: seen.since } : {}) },
      'message matched no route and no flow input: acknowledged and dropped',
    );
    this.unroutedSeen.set(msg.topic, { at: now, since: 0 });
  }

  private readonly qos0Failed = (err: Error | null): void => {
    if (err) this.log.warn({ err: err.message }, 'QoS 0 append failed');
  };

  private deliverAll(tapped: readonly ActiveTap[], msg: IngressMessage, stamp: Stamp): void {
    for (let i = 0; i < tapped.length; i++) {
      const tm: TappedMessage = { ...msg, deviceSeq: stamp.deviceSeq, ingestTs: stamp.ingestTs, replay: false };
      this.deliver(tapped[i] as ActiveTap, tm, stamp.journalKeys[i]);
    }
  }

  // --- GatewayBus -------------------------------------------------------------------------------------------------

  publish(msg: IngressMessage, opts: PublishOptions = {}): Promise<void> {
    const toRoutes = opts.toRoutes ?? true;
    const toBroker = opts.toBroker ?? true;
    return new Promise<void>((resolve, reject) => {
      const after = (err: Error | null): void => {
        if (err) reject(err);
        else if (!toBroker || !this.broker?.started) resolve();
        else this.broker.deliver(msg).then(resolve, reject);
      };
      if (toRoutes) this.take(msg, after, false, opts.meta);
      else after(null);
    });
  }

  appendOutbox(a: OutboxAppend): Promise<void> {
    let to: Destination;
    try {
      to = this.store.outbox.destination({
        class: a.class ?? 'default',
        kafkaTopic: a.kafkaTopic,
        key: () => a.key,
        envelope: a.format === 'envelope',
      });
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      try {
        this.store.outbox.append({ ...a.source, retain: false }, [to], { deviceShare: false }, (err) =>
          err ? reject(err) : resolve(),
        );
      } catch (err) {
        this.counters.refused((err as GatewayError).code);
        reject(err);
      }
    });
  }

  subscribe(filter: string, handler: (msg: IngressMessage) => void): Promise<() => Promise<void>> {
    if (!this.broker?.started) return Promise.reject(new Error('the broker is not running'));
    return this.broker.subscribe(filter, handler);
  }

  tap(tap: FlowTap): () => void {
    const active: ActiveTap = {
      tap,
      match: compileFilter(tap.filter),
      journal: this.store.journal.tap(tap.id),
      inflight: new Set(),
    };
    this.taps.set(tap.id, active);
    this.replay(active).catch((err: unknown) => this.log.error({ err, tap: tap.id }, 'flow journal replay failed'));
    return () => {
      if (this.taps.get(tap.id) === active) this.taps.delete(tap.id);
    };
  }

  // --- flow inputs ------------------------------------------------------------------------------------------------

  /** The flow inputs registered now. */
  flowInputs(): { id: string; filter: string }[] {
    return [...this.taps.values()].map((t) => ({ id: t.tap.id, filter: t.tap.filter }));
  }

  private deliver(t: ActiveTap, tm: TappedMessage, key: Buffer | undefined): void {
    const id = key?.toString('latin1');
    if (id !== undefined) t.inflight.add(id);
    let done = false;
    const complete =
      key === undefined
        ? noop
        : (): void => {
            if (done) return;
            done = true;
            t.inflight.delete(id as string);
            this.store.journal.complete(key);
          };
    try {
      t.tap.deliver(tm, complete);
    } catch (err) {
      this.log.error({ err, tap: t.tap.id }, 'flow tap threw; the message stays journaled');
    }
  }

  private async replay(t: ActiveTap): Promise<void> {
    let n = 0;
    for await (const { key, msg } of this.store.journal.replay(t.journal)) {
      if (this.taps.get(t.tap.id) !== t) break;
      if (t.inflight.has(key.toString('latin1'))) continue;
      const { deviceSeq, ingestTs, ...ingress } = msg;
      this.deliver(t, { ...ingress, deviceSeq, ingestTs, replay: true }, key);
      n++;
    }
    if (n > 0) this.log.info({ tap: t.tap.id, messages: n }, 'replayed unfinished flow messages from the journal');
  }
}
