// The ingest path, shared by MQTT publishes (through the broker's authorizePublish hook) and in-process sources
// (adapters, flows): match routes, stamp sequence numbers, and queue outbox records and flow-journal entries as one
// unit for the store's next group commit. The device's PUBACK waits on that commit (promise 1); flow taps get the
// message after it (promise 6). This file is also the GatewayBus implementation handed to adapters and flows.
import type { Logger } from 'pino';
import type { FlowTap, GatewayBus, IngressMessage, OutboxAppend, PublishOptions, TappedMessage } from './bus.ts';
import type { RouteConfig } from './config/schema.ts';
import { compileKeyTemplate, type KeyTemplate } from './config/template.ts';
import { GatewayError } from './errors.ts';
import { decodeRecord, encodeRecord, encodeSeq, encodeStrings, encodeWithStrings } from './store/codec.ts';
import type { Lane } from './store/lane.ts';
import type { IngestUnit, Store } from './store/store.ts';
import { compileFilter, type TopicMatcher } from './topic.ts';

interface Route {
  name: string;
  match: TopicMatcher;
  topic: string;
  key: KeyTemplate;
  envelope: boolean;
  lane: Lane;
  minQos: number;
  /** Encoded string sections by client id, then MQTT topic: most devices publish to a few topics. */
  strings: Map<string, Map<string, { username: string; buf: Buffer }>>;
}

const MAX_CACHED_CLIENTS = 20_000;
/** An unrouted topic is logged at most once per minute; at most this many topics are remembered. */
const UNROUTED_LOG_MS = 60_000;
const MAX_UNROUTED_TOPICS = 1000;
const NO_JOURNAL: IngestUnit['journal'] = [];

interface ActiveTap {
  tap: FlowTap;
  match: TopicMatcher;
  prefix: Buffer;
  /** Journal keys handed to the tap and not yet completed: a replay must skip them. */
  inflight: Set<string>;
}

/** What the broker offers the ingest path: local delivery and subscriptions (gateway/broker.ts). */
export interface BrokerPort {
  deliver(msg: IngressMessage): Promise<void>;
  subscribe(filter: string, handler: (msg: IngressMessage) => void): Promise<() => Promise<void>>;
}

export interface IngestCounters {
  received(qos: number): void;
  routed(route: string, n: number): void;
  refused(reason: string): void;
  unrouted(): void;
}

type Callback = (err: Error | null) => void;
const noop = (): void => {};

export class Ingest implements GatewayBus {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly routes: Route[];
  private readonly taps = new Map<string, ActiveTap>();
  private readonly counters: IngestCounters;
  /** Per unrouted topic: when it was last logged and how many were not logged since. */
  private readonly unroutedSeen = new Map<string, { at: number; since: number }>();
  broker: BrokerPort | undefined;

  constructor(ctx: { store: Store; routes: readonly RouteConfig[]; log: Logger; counters: IngestCounters }) {
    this.store = ctx.store;
    this.log = ctx.log;
    this.counters = ctx.counters;
    this.routes = ctx.routes.map((r, i) => {
      const lane = ctx.store.lane(r.class);
      if (!lane) throw new GatewayError('GW_ERR_CONFIG', `routes[${i}].class: unknown class "${r.class}"`);
      return {
        name: r.name ?? `route${i}`,
        match: compileFilter(r.filter),
        topic: r.topic,
        key: compileKeyTemplate(r.key),
        envelope: r.format === 'envelope',
        lane,
        minQos: r.minQos,
        strings: new Map(),
      };
    });
  }

  /**
   * Ingests one message and calls `cb` once it is durable (QoS >= 1) or queued (QoS 0). An error means the
   * message was refused (budget `reject`, too large, store failure): the caller must not acknowledge it.
   */
  accept(msg: IngressMessage, cb: Callback): void {
    this.counters.received(msg.qos);
    const now = Date.now();
    const appends: IngestUnit['appends'] = [];
    let deviceSeq = 0;
    try {
      for (const r of this.routes) {
        if (msg.qos < r.minQos || !r.match(msg.topic)) continue;
        if (deviceSeq === 0) deviceSeq = this.store.nextDeviceSeq(msg.clientId);
        const value = encodeWithStrings(this.strings(r, msg), {
          qos: msg.qos,
          retain: msg.retain ?? false,
          envelope: r.envelope,
          ingestTs: now,
          deviceSeq,
          payload: msg.payload,
        });
        this.store.admit(r.lane, value.length + 8, msg.clientId);
        appends.push({ lane: r.lane, seq: this.store.nextSeq(), value });
        this.counters.routed(r.name, 1);
      }
    } catch (err) {
      this.counters.refused((err as GatewayError).code ?? 'error');
      if (msg.qos === 0)
        cb(null); // nothing to withhold for QoS 0; the drop is counted
      else cb(err as Error);
      return;
    }
    if (this.taps.size > 0) {
      this.acceptTapped(msg, cb, appends, deviceSeq, now);
      return;
    }
    // The common case, no flow inputs: the caller's callback goes straight into the group commit.
    if (appends.length === 0) {
      this.unrouted(msg);
      cb(null);
    } else if (msg.qos === 0) {
      this.store.ingest({ appends, journal: NO_JOURNAL, cb: this.qos0Failed });
      cb(null);
    } else {
      this.store.ingest({ appends, journal: NO_JOURNAL, cb });
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

  /** With flow inputs: QoS >= 1 messages they match are journaled in the same commit, then handed to them. */
  private acceptTapped(
    msg: IngressMessage,
    cb: Callback,
    appends: IngestUnit['appends'],
    seqSoFar: number,
    now: number,
  ): void {
    const tapped: ActiveTap[] = [];
    for (const t of this.taps.values()) if (t.match(msg.topic)) tapped.push(t);
    if (appends.length === 0 && tapped.length === 0) {
      this.unrouted(msg);
      cb(null);
      return;
    }
    const deviceSeq = seqSoFar || this.store.nextDeviceSeq(msg.clientId);
    const journal: IngestUnit['journal'] = [];
    const keys: (Buffer | undefined)[] = [];
    if (tapped.length > 0) {
      const seqNo = appends.length > 0 ? (appends[0]?.seq as number) : this.store.nextSeq();
      const value = msg.qos > 0 ? this.journalValue(msg, now, deviceSeq) : undefined;
      for (const t of tapped) {
        const key = value ? Buffer.concat([t.prefix, encodeSeq(seqNo)]) : undefined;
        if (key && value) journal.push({ key, value });
        keys.push(key);
      }
    }
    const deliverTaps = (): void => {
      for (let i = 0; i < tapped.length; i++) this.deliver(tapped[i] as ActiveTap, msg, keys[i], deviceSeq, now, false);
    };
    if (msg.qos === 0) {
      this.store.ingest({ appends, journal, cb: this.qos0Failed });
      deliverTaps();
      cb(null);
      return;
    }
    this.store.ingest({
      appends,
      journal,
      cb: (err) => {
        cb(err);
        if (!err) deliverTaps();
      },
    });
  }

  /** The record's string section (Kafka topic, key, MQTT topic, client id, username), cached per client and topic. */
  private strings(r: Route, msg: IngressMessage): Buffer {
    const username = msg.username ?? '';
    let byTopic = r.strings.get(msg.clientId);
    if (!byTopic) {
      if (r.strings.size >= MAX_CACHED_CLIENTS) r.strings.clear();
      byTopic = new Map();
      r.strings.set(msg.clientId, byTopic);
    }
    const hit = byTopic.get(msg.topic);
    if (hit && hit.username === username) return hit.buf;
    if (byTopic.size >= 64) byTopic.clear();
    const buf = encodeStrings(r.topic, r.key(msg), msg.topic, msg.clientId, username);
    byTopic.set(msg.topic, { username, buf });
    return buf;
  }

  // --- GatewayBus -------------------------------------------------------------------------------------------------

  publish(msg: IngressMessage, opts: PublishOptions = {}): Promise<void> {
    const toRoutes = opts.toRoutes ?? true;
    const toBroker = opts.toBroker ?? true;
    return new Promise<void>((resolve, reject) => {
      const after = (err: Error | null): void => {
        if (err) reject(err);
        else if (!toBroker || !this.broker) resolve();
        else this.broker.deliver(msg).then(resolve, reject);
      };
      if (toRoutes) this.accept(msg, after);
      else after(null);
    });
  }

  appendOutbox(a: OutboxAppend): Promise<void> {
    const lane = this.store.lane(a.class ?? 'default');
    if (!lane) return Promise.reject(new GatewayError('GW_ERR_CONFIG', `unknown class "${a.class}"`));
    const value = encodeRecord({
      kafkaTopic: a.kafkaTopic,
      key: a.key,
      mqttTopic: a.source.topic,
      clientId: a.source.clientId,
      username: a.source.username ?? '',
      qos: a.source.qos,
      retain: false,
      envelope: a.format === 'envelope',
      ingestTs: Date.now(),
      deviceSeq: this.store.nextDeviceSeq(a.source.clientId),
      payload: a.payload,
    });
    try {
      this.store.admit(lane, value.length + 8);
    } catch (err) {
      this.counters.refused((err as GatewayError).code);
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.store.ingest({
        appends: [{ lane, seq: this.store.nextSeq(), value }],
        journal: [],
        cb: (err) => (err ? reject(err) : resolve()),
      });
    });
  }

  subscribe(filter: string, handler: (msg: IngressMessage) => void): Promise<() => Promise<void>> {
    if (!this.broker) return Promise.reject(new Error('the broker is not running'));
    return this.broker.subscribe(filter, handler);
  }

  tap(tap: FlowTap): () => void {
    const active: ActiveTap = {
      tap,
      match: compileFilter(tap.filter),
      prefix: Buffer.from(`${tap.id}\u0000`),
      inflight: new Set(),
    };
    this.taps.set(tap.id, active);
    this.replay(active).catch((err: unknown) => this.log.error({ err, tap: tap.id }, 'flow journal replay failed'));
    return () => {
      if (this.taps.get(tap.id) === active) this.taps.delete(tap.id);
    };
  }

  // --- flow journal -----------------------------------------------------------------------------------------------

  private journalValue(msg: IngressMessage, ts: number, deviceSeq: number): Buffer {
    return encodeRecord({
      kafkaTopic: '',
      key: '',
      mqttTopic: msg.topic,
      clientId: msg.clientId,
      username: msg.username ?? '',
      qos: msg.qos,
      retain: msg.retain ?? false,
      envelope: false,
      ingestTs: ts,
      deviceSeq,
      payload: msg.payload,
    });
  }

  private deliver(
    t: ActiveTap,
    msg: IngressMessage,
    key: Buffer | undefined,
    deviceSeq: number,
    ts: number,
    replay: boolean,
  ): void {
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
            this.store.removeJournal([key]);
          };
    const tm: TappedMessage = { ...msg, deviceSeq, ingestTs: ts, replay };
    try {
      t.tap.deliver(tm, complete);
    } catch (err) {
      this.log.error({ err, tap: t.tap.id }, 'flow tap threw; the message stays journaled');
    }
  }

  private async replay(t: ActiveTap): Promise<void> {
    const end = Buffer.from(t.prefix);
    end[end.length - 1] = 1;
    let n = 0;
    for await (const [k, v] of this.store.journalDb.iterator({ gte: t.prefix, lt: end })) {
      if (this.taps.get(t.tap.id) !== t) break;
      if (t.inflight.has(k.toString('latin1'))) continue;
      const r = decodeRecord(0, v);
      const msg: IngressMessage = {
        topic: r.mqttTopic,
        payload: r.payload,
        qos: r.qos as 0 | 1 | 2,
        clientId: r.clientId,
        username: r.username || undefined,
        retain: r.retain,
      };
      this.deliver(t, msg, Buffer.from(k), r.deviceSeq, r.ingestTs, true);
      n++;
    }
    if (n > 0) this.log.info({ tap: t.tap.id, messages: n }, 'replayed unfinished flow messages from the journal');
  }
}
