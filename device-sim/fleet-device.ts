// One simulated device of a fleet: its MQTT connection, a small local queue (what it measured while offline or while
// its in-flight window was full), its publishes paced by that window with every ack recorded in the run ledger, the
// profile's offline periods and churn. The scheduler (fleet.ts) decides when it connects and ticks.
import { DeviceRecorder } from './ledger.ts';
import { DeviceConn } from './mqtt-device.ts';
import { buildPayload } from './payload.ts';
import type { Profile, ProfileMessage, Rng } from './profiles/types.ts';

export interface FleetStats {
  commands: number;
  droppedOnDevice: number;
  offlinePeriods: number;
  churned: number;
  retries: number;
}

/** Counters over the whole fleet, updated by its devices and read by the progress sampler. */
export class FleetTally {
  readonly stats: FleetStats = { commands: 0, droppedOnDevice: 0, offlinePeriods: 0, churned: 0, retries: 0 };
  sent = 0;
  acked = 0;
  pending = 0;
  queued = 0;
  private ackLatencies: number[] = [];

  ackedAfter(ms: number): void {
    this.acked++;
    this.ackLatencies.push(ms);
  }

  /** The ack latencies since the last call, sorted. */
  takeLatencies(): number[] {
    const s = this.ackLatencies.sort((a, b) => a - b);
    this.ackLatencies = [];
    return s;
  }
}

/** What every device of a run shares. */
export interface DeviceSettings {
  url: string;
  runId: string;
  qos: 0 | 1 | 2;
  clean: boolean;
  keepalive: number;
  /** Unacknowledged publishes allowed per device. */
  inflight: number;
  /** Messages a device keeps while it cannot send; the oldest go first when full (counted). */
  queueMax: number;
  tally: FleetTally;
}

interface Queued {
  topic: string;
  body: Record<string, unknown>;
  ts: number;
}

export interface DeviceSpec {
  id: string;
  profile: Profile<unknown>;
  rng: Rng;
  /** Time between ticks. */
  intervalMs: number;
  startedAt: number;
}

export class FleetDevice {
  readonly id: string;
  readonly profile: Profile<unknown>;
  readonly rng: Rng;
  readonly intervalMs: number;
  readonly rec: DeviceRecorder;
  conn: DeviceConn | undefined;
  /** Messages generated so far (queued, sent or dropped). */
  generated = 0;
  /** No more ticks: the device reached its message count. */
  done = false;
  private readonly state: unknown;
  private readonly s: DeviceSettings;
  private queue: (Queued | undefined)[] = [];
  private head = 0;
  private pending = 0;
  private seq = 0;
  private offlineUntil = 0;

  constructor(spec: DeviceSpec, settings: DeviceSettings) {
    this.id = spec.id;
    this.profile = spec.profile;
    this.rng = spec.rng;
    this.intervalMs = spec.intervalMs;
    this.s = settings;
    this.state = spec.profile.init(spec.id, spec.rng, spec.startedAt);
    this.rec = new DeviceRecorder(spec.id, settings.qos);
  }

  get connected(): boolean {
    return this.conn?.connected ?? false;
  }

  connect(): void {
    const conn = new DeviceConn(
      { url: this.s.url, clientId: this.id, clean: this.s.clean, keepalive: this.s.keepalive },
      this.rec,
    );
    this.conn = conn;
    let subscribed = false;
    conn.client.on('connect', () => {
      const topic = this.profile.commandTopic?.(this.id);
      // With a persistent session the broker keeps the subscription; MQTT.js resubscribes when it does not.
      if (topic && !subscribed) {
        subscribed = true;
        conn.client.subscribe(topic, { qos: 1 });
      }
      this.pump();
    });
    const onCommand = this.profile.onCommand;
    if (onCommand) {
      conn.client.on('message', (_topic, payload) => {
        this.s.tally.stats.commands++;
        this.enqueue(onCommand(this.state, this.id, payload, Date.now()), Date.now());
        this.pump();
      });
    }
  }

  /** One tick of the profile: its messages are queued, its offline period (scaled) starts. */
  tick(now: number, offlineScale: number): void {
    const r = this.profile.tick(this.state, this.id, now, this.rng);
    this.enqueue(r.messages, now);
    if (r.offlineMs && offlineScale > 0 && this.conn) {
      const ms = r.offlineMs * offlineScale;
      this.offlineUntil = now + ms;
      this.conn.goOffline(ms);
      this.s.tally.stats.offlinePeriods++;
    }
  }

  /** The next interval with ±jitter of random spread. */
  nextInterval(jitter: number): number {
    return this.intervalMs * (1 + jitter * (2 * this.rng.next() - 1));
  }

  /** Drops the link for 1–10 s with probability p (while connected). */
  churn(p: number): void {
    if (this.conn?.connected && this.rng.chance(p)) {
      this.conn.goOffline(this.rng.between(1000, 10_000));
      this.s.tally.stats.churned++;
    }
  }

  /** Ends an offline period now, so the drain measures the gateway, not the profile. */
  wake(): void {
    this.offlineUntil = 0;
    this.conn?.wake();
  }

  async close(): Promise<void> {
    await this.conn?.close(true);
  }

  private enqueue(msgs: ProfileMessage[], now: number): void {
    const tally = this.s.tally;
    for (const m of msgs) {
      this.queue.push({ topic: m.topic, body: m.body, ts: now });
      this.generated++;
      tally.queued++;
      if (this.queue.length - this.head > this.s.queueMax) {
        this.head++;
        tally.queued--;
        tally.stats.droppedOnDevice++;
      }
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Sends queued messages while the in-flight window, the link and pending re-sends allow. */
  pump(): void {
    const conn = this.conn;
    if (!conn) return;
    while (this.head < this.queue.length && this.pending < this.s.inflight && conn.connected && conn.retrying === 0) {
      if (Date.now() < this.offlineUntil) return;
      const m = this.queue[this.head];
      this.queue[this.head++] = undefined;
      if (!m) continue;
      this.s.tally.queued--;
      this.send(conn, m);
    }
  }

  private send(conn: DeviceConn, m: Queued): void {
    const tally = this.s.tally;
    const seq = ++this.seq;
    const sentAt = Date.now();
    this.rec.published(seq, m.topic, sentAt);
    tally.sent++;
    this.pending++;
    tally.pending++;
    const payload = buildPayload({ device: this.id, seq, ts: m.ts, run: this.s.runId }, 0, {
      profile: this.profile.name,
      ...m.body,
    });
    void conn.sendAcked(m.topic, payload, this.s.qos).then((ok) => {
      this.pending--;
      tally.pending--;
      if (ok && this.s.qos > 0) {
        this.rec.ack(seq);
        tally.ackedAfter(Date.now() - sentAt);
      }
      this.pump();
    });
  }
}
