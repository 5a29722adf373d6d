// Cloud-to-device commands: consumes the command topics and publishes each record to the device over MQTT. The
// consumer offset is committed only after the broker took the message (for a persistent session that means it is in
// the session's offline queue in LevelDB), so a crash re-delivers rather than loses: at-least-once downward too.
// Record: key = device id; value = payload; optional header `mqtt.topic` overrides the topic template; optional
// headers `command.id`, `command.ttl_ms` and `command.expires_at` (cloud-sync/commands/command.ts, docs/commands.md).
// With command tracking each command queued for a persistent session is kept until its device acknowledges it or it
// expires, and reported as `message.acked` / `message.dropped` (cloud-sync/commands/tracking.ts).
// The Kafka client is the KafkaSource of `kafka.client` (cloud-sync/sources/), the same library as the forwarder's sink.
import type { Logger } from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import { Backoff } from '../gateway/backoff.ts';
import type { GatewayBus } from '../gateway/bus.ts';
import type { Part } from '../gateway/part.ts';
import { type CommandMeta, parseCommand } from './commands/command.ts';
import type { CommandTracking } from './commands/tracking.ts';
import type { KafkaClientOptions } from './kafka-connection.ts';
import { HEADER } from './record.ts';
import {
  createSource,
  type KafkaSource,
  type KafkaSourceOptions,
  type SourceName,
  type SourceRecord,
} from './sources/index.ts';

/**
 * The consumer's session: a gateway that was killed (SIGKILL, power cut) leaves its member in the group until the
 * session expires, and a restarted gateway gets no partitions before that. The gateway uses no static membership
 * (group.instance.id), so the session is kept short instead: 6 s is Kafka's default group.min.session.timeout.ms.
 */
const SESSION_TIMEOUT_MS = 6000;
const HEARTBEAT_INTERVAL_MS = 1000;
/** How long the coordinator waits for members to rejoin a rebalance; a dead one is gone after its session anyway. */
const REBALANCE_TIMEOUT_MS = 10_000;
/** Between attempts to reach Kafka (or to restart a consumer that stopped). */
const RETRY = { initialMs: 5000, maxMs: 5000 };

type State = 'stopped' | 'connecting' | 'up' | 'down';
const STATES: readonly State[] = ['stopped', 'connecting', 'up', 'down'];

class DownlinkMetrics {
  readonly delivered: Counter;
  readonly skipped: Counter<'reason'>;
  readonly failed: Counter<'reason'>;
  readonly lastDelivered: Gauge;
  readonly state: Gauge<'state'>;

  constructor(registry: Registry) {
    const registers = [registry];
    // A second downlink on the same registry (a restart in tests) reuses the metrics instead of throwing.
    const get = <M>(name: string): M | undefined => registry.getSingleMetric(name) as M | undefined;
    this.delivered =
      get<Counter>('gateway_downlink_delivered_total') ??
      new Counter({
        name: 'gateway_downlink_delivered_total',
        help: 'Cloud commands the broker took for their device.',
        registers,
      });
    this.skipped =
      get<Counter<'reason'>>('gateway_downlink_skipped_total') ??
      new Counter({
        name: 'gateway_downlink_skipped_total',
        help: 'Cloud command records not published, by reason: undeliverable (no_key, bad_topic, bad_header) or already queued or finished (duplicate).',
        labelNames: ['reason'],
        registers,
      });
    this.failed =
      get<Counter<'reason'>>('gateway_downlink_failed_total') ??
      new Counter({
        name: 'gateway_downlink_failed_total',
        help: 'Cloud commands the broker refused for now (retried), by error code.',
        labelNames: ['reason'],
        registers,
      });
    this.lastDelivered =
      get<Gauge>('gateway_downlink_last_delivered_timestamp_seconds') ??
      new Gauge({
        name: 'gateway_downlink_last_delivered_timestamp_seconds',
        help: 'Unix time of the last cloud command delivered to the broker.',
        registers,
      });
    this.state =
      get<Gauge<'state'>>('gateway_downlink_state') ??
      new Gauge({
        name: 'gateway_downlink_state',
        help: 'Downlink consumer state: 1 for the current one (stopped, connecting, up, down).',
        labelNames: ['state'],
        registers,
      });
  }
}

export interface DownlinkOptions extends KafkaClientOptions {
  /** `kafka.client`: the library of the consumer, as of the forwarder's producer. */
  client: SourceName;
  groupId: string;
  topics: readonly string[];
  mqttTopic: string;
  qos: 0 | 1 | 2;
  bus: GatewayBus;
  log: Logger;
  /** Where the `gateway_downlink_*` metrics are registered; a private registry when absent. */
  metrics?: Registry;
  /** `downlink.ttlSec`: how long a command without a TTL header may wait for its device (0: no expiry). */
  ttlSec?: number;
  /** Acknowledgements and expiry of the commands (built with the broker); without it commands are not tracked. */
  commands?: CommandTracking | undefined;
}

export class Downlink implements Part {
  readonly name = 'downlink';
  private readonly o: DownlinkOptions;
  private source: KafkaSource | undefined;
  private readonly m: DownlinkMetrics;
  #state: State = 'stopped';
  delivered = 0;
  invalid = 0;
  /** The error of the current outage; cleared once the consumer is back in its group. */
  lastError = '';
  lastErrorAt = 0;
  lastDeliveredAt = 0;
  private retry: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff(RETRY);
  private stopping = false;

  constructor(o: DownlinkOptions) {
    this.o = o;
    this.m = new DownlinkMetrics(o.metrics ?? new Registry());
    this.state = 'stopped';
  }

  get state(): State {
    return this.#state;
  }

  set state(s: State) {
    this.#state = s;
    for (const k of STATES) this.m.state.set({ state: k }, k === s ? 1 : 0);
  }

  private fail(message: string): void {
    this.state = 'down';
    this.lastError = message;
    this.lastErrorAt = Date.now();
  }

  start(): void {
    this.stopping = false;
    // Kafka may be unreachable at boot: connect in the background and retry, never block the gateway's start.
    this.connectInBackground();
  }

  private connectInBackground(): void {
    // connect() handles Kafka's errors itself; this catches only a source that could not even be built.
    this.connect().catch((err: unknown) => this.fail((err as Error).message));
  }

  private async connect(): Promise<void> {
    this.state = 'connecting';
    // Topics seen for the first time: now. A partition still without a committed offset on a later start resumes
    // from that time, so commands sent while the gateway was down are not skipped (docs/commands.md).
    const since = await this.o.commands?.consumingSince(this.o.groupId, this.o.topics);
    const positions = this.o.commands?.positions(this.o.groupId);
    const source = await createSource(this.o.client, {
      ...this.sourceOptions(),
      since,
      ...(positions ? { positions } : {}),
    });
    if (this.stopping) return;
    this.source = source;
    // Commands only flow once the group has partitions; health says `up` from then on.
    // An error from before (e.g. "This server does not host this topic-partition" while a new topic is created) is
    // over once the group is joined: health shows the current state, not history.
    source.on('up', () => {
      this.state = 'up';
      this.lastError = '';
      this.backoff.reset();
    });
    source.on('down', (err) => this.fail(err.message));
    source.on('crash', (err) => {
      this.fail(err.message);
      this.o.log.warn({ err: this.lastError }, 'downlink consumer stopped; retrying');
      this.restart(source);
    });
    try {
      // A record whose publish failed is not committed: the restarted consumer hands it over again.
      await source.start((r) => this.deliver(r));
      this.o.log.info({ topics: this.o.topics }, 'downlink consuming cloud commands');
    } catch (err) {
      if (this.stopping) return;
      this.fail((err as Error).message);
      this.o.log.warn({ err: this.lastError }, 'downlink cannot reach Kafka; retrying');
      this.restart(source);
    }
  }

  private sourceOptions(): KafkaSourceOptions {
    const o = this.o;
    return {
      brokers: o.brokers,
      clientId: `${o.clientId}-downlink`,
      requestTimeoutMs: o.requestTimeoutMs,
      tls: o.tls,
      sasl: o.sasl,
      groupId: o.groupId,
      topics: o.topics,
      // A new group starts at the end of the topics: a gateway's first start must not replay old commands (think
      // "unlock"). From then on the committed offsets carry commands sent while the gateway was down, and for a
      // partition nothing was committed on yet, `since` (the time the group began: connect()).
      startAt: 'latest',
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      rebalanceTimeoutMs: REBALANCE_TIMEOUT_MS,
      log: o.log,
    };
  }

  /** Drops `source` and, unless stopping, connects a new consumer after a pause. */
  private restart(source: KafkaSource): void {
    if (this.source !== source) return;
    this.source = undefined;
    source.removeAllListeners();
    const stopped = source.stop().catch(() => {});
    if (this.stopping) return;
    const delay = this.backoff.next();
    this.retry = setTimeout(() => {
      void stopped.then(() => {
        if (!this.stopping) this.connectInBackground();
      });
    }, delay);
  }

  /** The record's MQTT topic and command, or undefined when it is not deliverable (counted and logged). */
  private readRecord(r: SourceRecord): { topic: string; device: string; command: CommandMeta } | undefined {
    const device = r.key?.toString() ?? '';
    const header = r.headers[HEADER.topic];
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${key}` is the config's placeholder, not a template.
    const topic = header ? header.toString() : this.o.mqttTopic.replaceAll('${key}', device);
    if (!topic || topic.includes('#') || topic.includes('+') || (!header && !device)) {
      // Not deliverable: count it and move on rather than block the partition forever.
      this.invalid++;
      this.m.skipped.inc({ reason: !header && !device ? 'no_key' : 'bad_topic' });
      this.o.log.warn({ device, topic }, 'downlink record without a usable device key or topic; skipped');
      return undefined;
    }
    const parsed = parseCommand(r, { ttlSec: this.o.ttlSec ?? 0, now: Date.now() });
    if (!parsed.ok) {
      this.invalid++;
      this.m.skipped.inc({ reason: 'bad_header' });
      this.o.log.warn(
        { device, header: parsed.header, value: parsed.value },
        'downlink record header unreadable; skipped',
      );
      return undefined;
    }
    return { topic, device, command: parsed.command };
  }

  private async deliver(r: SourceRecord): Promise<void> {
    const read = this.readRecord(r);
    if (!read) return;
    const { topic, device, command } = read;
    const record = `${r.topic}/${r.partition}/${r.offset}`;
    const spec = { ...command, topic, payload: r.value ?? Buffer.alloc(0), qos: this.o.qos, record };
    const tracking = this.o.commands;
    if (tracking && (tracking.pending.has(command.id, topic) || tracking.pending.handled(record))) {
      // Handed over again after a crash between queueing and committing: it is in its device's session, or it is
      // finished (acknowledged, or expired meanwhile: queued anew it would get a fresh TTL and arrive late).
      this.m.skipped.inc({ reason: 'duplicate' });
      this.o.log.debug({ command: command.id, record }, 'command already queued or finished; not published again');
      return;
    }
    if (command.expiresAt !== undefined && command.expiresAt <= Date.now()) {
      // Too late already (Kafka handed it over after its expiry): never delivered, reported as dropped.
      tracking?.expiredOnArrival(spec, device);
      return;
    }
    const release = tracking?.pending.expect(spec);
    try {
      await this.o.bus.publish(
        { topic, payload: spec.payload, qos: this.o.qos, clientId: '$cloud' },
        { toRoutes: false },
      );
    } catch (err) {
      // Not committed: the record is handed over again.
      this.m.failed.inc({ reason: (err as { code?: string }).code ?? 'error' });
      throw err;
    } finally {
      release?.();
    }
    this.published();
  }

  private published(): void {
    this.delivered++;
    this.lastDeliveredAt = Date.now();
    this.m.delivered.inc();
    this.m.lastDelivered.set(this.lastDeliveredAt / 1000);
    if (this.#state !== 'up' || this.lastError !== '') {
      this.state = 'up';
      this.lastError = '';
    }
  }

  health(): { state: State; [key: string]: unknown } {
    return {
      state: this.state,
      delivered: this.delivered,
      invalid: this.invalid,
      lastError: this.lastError || undefined,
      lastErrorAt: this.lastErrorAt ? new Date(this.lastErrorAt).toISOString() : undefined,
      lastDeliveredAt: this.lastDeliveredAt ? new Date(this.lastDeliveredAt).toISOString() : undefined,
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.retry) clearTimeout(this.retry);
    const source = this.source;
    this.source = undefined;
    source?.removeAllListeners();
    await source?.stop().catch(() => {});
    this.state = 'stopped';
  }
}
