// The event publisher: the one place where a client or command event becomes a record. Each event is published
// in-process through the ingest path on its topic (`$events/client_connected`...) with QoS 1, the device's client id
// and the event's JSON as payload; the built-in routes (routes.ts) send it to Kafka (`events.topic`, keyed by client
// id, storage class `events`), so events are stamped, admitted, journaled for flow inputs and forwarded in order
// like any message. It also keeps the clients online in the store's meta (online.ts): a connection a crash ended is
// reported at the next start, before the broker accepts connections, as client.disconnected with gateway_restart.
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { GatewayBus } from '../bus.ts';
import type { EventsConfig } from '../config/schema.ts';
import type { Part, PartHealth } from '../part.ts';
import type { MetaDb } from '../store/store.ts';
import { OnlineSet } from './online.ts';
import { EVENT_SCHEMA_VERSION, type EventRecorder, eventTopic, type GatewayEvent } from './types.ts';

/** Who raises events (the broker: its `event` event). */
export interface EventSource {
  on(name: 'event', listener: (event: GatewayEvent) => void): unknown;
  off(name: 'event', listener: (event: GatewayEvent) => void): unknown;
}

export interface EventPublisherContext {
  config: EventsConfig;
  bus: Pick<GatewayBus, 'publish'>;
  meta: MetaDb;
  gatewayId: string;
  source: EventSource;
  registry: Registry;
  log: Logger;
}

interface EventMetrics {
  connects: Counter;
  disconnects: Counter<'reason'>;
  refused: Counter<'reason'>;
}

function eventMetrics(registry: Registry): EventMetrics {
  return {
    connects: new Counter({
      name: 'gateway_client_connects_total',
      help: 'MQTT connections accepted (client.connected events).',
      registers: [registry],
    }),
    disconnects: new Counter({
      name: 'gateway_client_disconnects_total',
      help: 'MQTT connections ended (client.disconnected events), by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    refused: new Counter({
      name: 'gateway_client_connack_refused_total',
      help: 'MQTT connections refused with a CONNACK return code (client.connack events), by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}

/** The record's value: the contract fields first, then the event's own. */
export function eventValue(event: GatewayEvent, gatewayId: string): Buffer {
  const { event: name, clientid, username, ts, ...fields } = event;
  const head = { event: name, clientid, username, ts, gateway_id: gatewayId, version: EVENT_SCHEMA_VERSION };
  return Buffer.from(JSON.stringify({ ...head, ...fields }));
}

export class EventPublisher implements Part, EventRecorder {
  readonly name = 'events';
  private readonly ctx: EventPublisherContext;
  private readonly metrics: EventMetrics;
  private readonly online: OnlineSet;
  /** Appends happen in the order events are recorded. */
  private chain: Promise<void> = Promise.resolve();
  private readonly pending = new Set<Promise<void>>();
  private readonly listener = (event: GatewayEvent): void => this.record(event);
  /** Set by stop(): an event after it has no store to go to. */
  private stopped = false;
  private recorded = 0;
  private failed = 0;

  constructor(ctx: EventPublisherContext) {
    this.ctx = ctx;
    this.metrics = eventMetrics(ctx.registry);
    this.online = new OnlineSet(ctx.meta);
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.ctx.source.on('event', this.listener);
    const left = await this.online.leftOver();
    const now = Date.now();
    for (const o of left) {
      if (!this.ctx.config.enabled) {
        await this.online.forget(o.clientid);
        continue;
      }
      this.record({
        event: 'client.disconnected',
        clientid: o.clientid,
        username: o.username,
        ts: now,
        reason: 'gateway_restart',
        connected_at: o.connectedAt,
        duration_ms: o.connectedAt > 0 ? Math.max(0, now - o.connectedAt) : 0,
      });
    }
    await this.drain();
    if (left.length > 0) {
      this.ctx.log.info(
        { clients: left.length },
        'clients online when the gateway last stopped: disconnected (gateway_restart)',
      );
    }
  }

  /** Takes one event: counted, then (events.enabled) appended through the ingest path in the order recorded. */
  record(event: GatewayEvent): void {
    this.count(event);
    if (!this.ctx.config.enabled) return;
    if (this.stopped) {
      this.ctx.log.warn(
        { event: event.event, client: event.clientid },
        'event after the event publisher stopped: not recorded',
      );
      return;
    }
    this.recorded++;
    // The online set changes in the same commit as the event's record: a crash keeps both or neither.
    let meta: { key: string; value?: string }[] | undefined;
    if (event.event === 'client.connected') {
      meta = [
        this.online.connectedWrite({ clientid: event.clientid, connectedAt: event.ts, username: event.username }),
      ];
    } else if (event.event === 'client.disconnected') {
      const w = this.online.disconnectedWrite(event.clientid, event.connected_at);
      if (w) meta = [w];
    }
    this.chain = this.chain.then(() => this.append(event, meta)).catch(() => {});
  }

  private append(event: GatewayEvent, meta: { key: string; value?: string }[] | undefined): void {
    const msg = {
      topic: eventTopic(event.event),
      payload: eventValue(event, this.ctx.gatewayId),
      qos: 1 as const,
      clientId: event.clientid,
      username: event.username ?? undefined,
      retain: false,
    };
    // No MQTT client may subscribe to `$events/...` (ACL): the event goes to the routes and flow inputs only.
    const p = this.ctx.bus
      .publish(msg, meta ? { toBroker: false, meta } : { toBroker: false })
      .catch((err: unknown) => {
        this.failed++;
        this.ctx.log.warn({ err, event: event.event, client: event.clientid }, 'event not recorded');
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private count(event: GatewayEvent): void {
    if (event.event === 'client.connected') this.metrics.connects.inc();
    else if (event.event === 'client.disconnected') this.metrics.disconnects.labels(event.reason).inc();
    else if (event.event === 'client.connack') this.metrics.refused.labels(event.reason).inc();
  }

  /** Resolves when every event recorded so far is appended and durable (or failed), and the online set written. */
  async drain(): Promise<void> {
    await this.chain;
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    await this.online.drain();
  }

  async stop(): Promise<void> {
    await this.drain();
    this.stopped = true;
    this.ctx.source.off('event', this.listener);
  }

  health(): PartHealth {
    return {
      state: this.ctx.config.enabled ? 'up' : 'disabled',
      recorded: this.recorded,
      failed: this.failed,
      pending: this.pending.size,
    };
  }
}
