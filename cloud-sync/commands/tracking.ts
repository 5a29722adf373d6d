// What became of each cloud command: the table of commands waiting for their device (gateway/broker-commands.ts)
// says when one is delivered, acknowledged or dropped; this turns that into `message.delivered`, `message.acked` and
// `message.dropped` events (`event`, which the composition root hands to the events publisher, an EventRecorder) and
// into the `gateway_downlink_commands_*` metrics. It is built with the broker, before any device can reconnect, since an acknowledgement can come before
// the downlink's consumer is running; the downlink hands it each command it publishes. docs/commands.md.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import { type CommandSpec, type PendingCommand, PendingCommands } from '../../gateway/broker-commands.ts';
import type { DropReason, GatewayEvent } from '../../gateway/events/types.ts';
import type { MetaDb } from '../../gateway/store/store.ts';
import type { SourcePositions } from '../sources/types.ts';

export interface CommandTrackingOptions {
  /** The store's meta: the pending commands are kept there. */
  db: MetaDb;
  log: Logger;
  /** Where the `gateway_downlink_commands_*` metrics are registered; a private registry when absent. */
  metrics?: Registry | undefined;
  now?: () => number;
}

export interface CommandTrackingEvents {
  event: [event: GatewayEvent];
}

class CommandMetrics {
  readonly acked: Counter;
  readonly expired: Counter;

  constructor(registry: Registry, pending: PendingCommands) {
    const registers = [registry];
    const get = <M>(name: string): M | undefined => registry.getSingleMetric(name) as M | undefined;
    this.acked =
      get<Counter>('gateway_downlink_commands_acked_total') ??
      new Counter({
        name: 'gateway_downlink_commands_acked_total',
        help: 'Cloud commands their device acknowledged (PUBACK, or PUBCOMP for QoS 2).',
        registers,
      });
    this.expired =
      get<Counter>('gateway_downlink_commands_expired_total') ??
      new Counter({
        name: 'gateway_downlink_commands_expired_total',
        help: 'Cloud commands dropped undelivered because their TTL passed.',
        registers,
      });
    registry.removeSingleMetric('gateway_downlink_commands_pending');
    new Gauge({
      name: 'gateway_downlink_commands_pending',
      help: 'Cloud commands queued for a device and not yet acknowledged.',
      registers,
      collect() {
        this.set(pending.size);
      },
    });
  }
}

/** Meta key of the times a downlink group began consuming its topics (JSON: topic -> ms since the epoch). */
const SINCE = 'downlink!since!';
/** Meta key prefix of the downlink's own positions (see positions()). */
const POSITION = 'downlink!pos!';

export class CommandTracking extends EventEmitter<CommandTrackingEvents> {
  readonly pending: PendingCommands;
  private readonly m: CommandMetrics;
  private readonly o: CommandTrackingOptions;
  private readonly now: () => number;

  constructor(o: CommandTrackingOptions) {
    super();
    this.o = o;
    this.now = o.now ?? Date.now;
    this.pending = new PendingCommands({ db: o.db, log: o.log, now: this.now });
    this.m = new CommandMetrics(o.metrics ?? new Registry(), this.pending);
    this.pending.on('delivered', (c) => this.raise({ ...this.base(c), event: 'message.delivered' }));
    this.pending.on('acked', (c, at) => {
      this.m.acked.inc();
      const latency = Math.max(0, at - c.arrivedAt);
      this.o.log.debug({ command: c.id, client: c.clientId, latencyMs: latency }, 'command acknowledged');
      this.raise({ ...this.base(c, at), event: 'message.acked', latency_ms: latency });
    });
    this.pending.on('dropped', (c, reason) => this.dropped(c, reason));
  }

  /**
   * By topic, when the downlink's group `groupId` began consuming it on this data dir: read from the store's meta;
   * a topic seen for the first time gets `now`, written (synced) before it is returned. A later start with an
   * uncommitted partition resumes from that time rather than at its end (cloud-sync/sources/resume.ts).
   */
  async consumingSince(groupId: string, topics: readonly string[]): Promise<Record<string, number>> {
    const key = SINCE + groupId;
    let since: Record<string, number> = {};
    try {
      const stored = await this.o.db.get(key);
      if (stored !== undefined) since = JSON.parse(stored) as Record<string, number>;
    } catch (err) {
      this.o.log.warn({ err }, 'downlink: start times unreadable; starting afresh');
    }
    const out: Record<string, number> = {};
    let added = false;
    for (const t of topics) {
      const at = since[t];
      if (typeof at === 'number' && Number.isFinite(at)) out[t] = at;
      else {
        since[t] = out[t] = this.now();
        added = true;
      }
    }
    // classic-level's `sync`: on disk before the consumer can commit anything after that time.
    if (added) {
      await this.o.db.put(key, JSON.stringify(since), { sync: true } as object).catch((err: unknown) => {
        // Not kept: the next start takes these topics for new again (their end, as before).
        this.o.log.warn({ err }, 'downlink: could not keep the start times');
      });
    }
    return out;
  }

  /**
   * The downlink group's own record of its position in each partition (meta `downlink!pos!<group>!<topic>!<partition>`:
   * the offset after the last record handled), beside Kafka's committed offsets: Kafka drops a group's offsets after
   * its offset retention (7 days by default) without members, and a gateway offline that long would otherwise replay
   * every command since its group began. One small write per command, not synced: one lost in a power cut means a
   * replay from Kafka's committed offset or `since`, as before.
   */
  positions(groupId: string): SourcePositions {
    const prefix = (topic: string): string => `${POSITION}${groupId}!${topic}!`;
    const db = this.o.db;
    const log = this.o.log;
    return {
      async load(topic) {
        const out = new Map<number, bigint>();
        const gte = prefix(topic);
        try {
          for await (const [key, value] of db.iterator({ gte, lt: `${gte}\uffff` })) {
            const partition = Number(key.slice(gte.length));
            if (Number.isInteger(partition) && /^[0-9]+$/.test(value)) out.set(partition, BigInt(value));
          }
        } catch (err) {
          log.warn({ err, topic }, 'downlink: positions unreadable; resuming from Kafka alone');
        }
        return out;
      },
      async save(record) {
        const next = (BigInt(record.offset) + 1n).toString();
        await db.put(`${prefix(record.topic)}${record.partition}`, next).catch((err: unknown) => {
          log.warn({ err }, 'downlink: could not keep the position');
        });
      },
    };
  }

  /** A command that expired before the gateway could publish it (Kafka handed it over late). */
  expiredOnArrival(spec: CommandSpec, clientId: string): void {
    this.pending.refused(spec, clientId, 'expired');
  }

  private dropped(c: PendingCommand, reason: DropReason): void {
    if (reason === 'expired') this.m.expired.inc();
    this.o.log.debug({ command: c.id, client: c.clientId, reason }, 'command dropped');
    this.raise({ ...this.base(c), event: 'message.dropped', reason });
  }

  private base(c: PendingCommand, ts = this.now()) {
    return { clientid: c.clientId, username: null, ts, command_id: c.id, topic: c.topic, qos: c.qos };
  }

  private raise(e: GatewayEvent): void {
    try {
      this.emit('event', e);
    } catch (err) {
      this.o.log.error({ err, event: e.event }, 'command event listener failed');
    }
  }
}
