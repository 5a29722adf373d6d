// The fleet engine: thousands of profile-driven devices in one process. One time-heap schedules every device's
// ticks; each device owns an MQTT connection, a small local queue (what it measured while offline or while its
// in-flight window was full) and a recorder for the run ledger.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { TimeHeap } from './heap.ts';
import { DeviceRecorder, LEDGER_VERSION, type Ledger, saveLedger } from './ledger.ts';
import { DeviceConn } from './mqtt-device.ts';
import { buildPayload, deviceId } from './payload.ts';
import { getProfile, type ProfileName } from './profiles/index.ts';
import { type Profile, type ProfileMessage, Rng } from './profiles/types.ts';
import { Progress, type ProgressSample } from './progress.ts';

export interface FleetOptions {
  url: string;
  devices: number;
  /** Profiles, assigned to devices round-robin. */
  profiles: ProfileName[];
  /** Stop generating after this long (ms)… */
  durationMs?: number;
  /** …or after this many messages per device (whichever comes first). */
  count?: number;
  /** Time between ticks per device; default: the profile's own. */
  intervalMs?: number;
  /** Total ticks per second over the fleet; overrides intervalMs. */
  rate?: number;
  /** ±fraction of random spread on each interval (0.2 = ±20%). */
  jitter?: number;
  qos: 0 | 1 | 2;
  clean?: boolean;
  /** Fraction of connected devices per minute that lose their link for 1–10 s. */
  churn?: number;
  /** New connections per second while the fleet comes up. */
  connectRate?: number;
  inflight?: number;
  /** Messages a device keeps while it cannot send; the oldest go first when full (counted). */
  queueMax?: number;
  /** Multiplies the profiles' offline periods; 0 turns them off. */
  offlineScale?: number;
  seed?: number;
  ledger?: string;
  quiet?: boolean;
  drainTimeoutMs?: number;
  signal?: AbortSignal;
  runId?: string;
  keepalive?: number;
  progressOut?: NodeJS.WritableStream;
}

export interface FleetStats {
  commands: number;
  droppedOnDevice: number;
  offlinePeriods: number;
  churned: number;
  retries: number;
}

export interface FleetResult {
  ledger: Ledger;
  samples: ProgressSample[];
  stats: FleetStats;
}

interface SimDevice {
  id: string;
  n: number;
  profile: Profile<unknown>;
  state: unknown;
  rng: Rng;
  rec: DeviceRecorder;
  conn: DeviceConn | undefined;
  queue: { topic: string; body: Record<string, unknown>; ts: number }[];
  head: number;
  pending: number;
  seq: number;
  generated: number;
  offlineUntil: number;
  intervalMs: number;
  done: boolean;
}

export async function runFleet(opts: FleetOptions): Promise<FleetResult> {
  const runId = opts.runId ?? randomBytes(6).toString('hex');
  const rng = new Rng(opts.seed ?? Date.now());
  const inflight = opts.inflight ?? 5;
  const queueMax = opts.queueMax ?? 10_000;
  const jitter = opts.jitter ?? 0.2;
  const offlineScale = opts.offlineScale ?? 1;
  const connectRate = opts.connectRate ?? 500;
  const startedAt = Date.now();
  const stopAt = opts.durationMs !== undefined ? startedAt + opts.durationMs : Number.POSITIVE_INFINITY;
  const stats: FleetStats = { commands: 0, droppedOnDevice: 0, offlinePeriods: 0, churned: 0, retries: 0 };
  const counters = { sent: 0, acked: 0, pending: 0, queued: 0 };
  let ackLatencies: number[] = [];
  let generating = true;

  const devices: SimDevice[] = [];
  for (let n = 1; n <= opts.devices; n++) {
    const profile = getProfile(opts.profiles[(n - 1) % opts.profiles.length]!);
    const id = deviceId(profile.prefix, n, opts.devices);
    const devRng = new Rng(Math.floor(rng.next() * 2 ** 32));
    const intervalMs = opts.rate ? (opts.devices / opts.rate) * 1000 : (opts.intervalMs ?? profile.intervalMs);
    devices.push({
      id,
      n,
      profile,
      state: profile.init(id, devRng, startedAt),
      rng: devRng,
      rec: new DeviceRecorder(id, opts.qos),
      conn: undefined,
      queue: [],
      head: 0,
      pending: 0,
      seq: 0,
      generated: 0,
      offlineUntil: 0,
      intervalMs,
      done: false,
    });
  }

  const enqueue = (d: SimDevice, msgs: ProfileMessage[], now: number): void => {
    for (const m of msgs) {
      d.queue.push({ topic: m.topic, body: m.body, ts: now });
      d.generated++;
      counters.queued++;
      if (d.queue.length - d.head > queueMax) {
        d.head++;
        counters.queued--;
        stats.droppedOnDevice++;
      }
    }
    if (d.head > 1024 && d.head * 2 > d.queue.length) {
      d.queue.splice(0, d.head);
      d.head = 0;
    }
  };

  const pump = (d: SimDevice): void => {
    const conn = d.conn;
    if (!conn) return;
    while (d.head < d.queue.length && d.pending < inflight && conn.connected && conn.retrying === 0) {
      if (Date.now() < d.offlineUntil) return;
      const m = d.queue[d.head]!;
      d.queue[d.head++] = undefined as never;
      counters.queued--;
      const seq = ++d.seq;
      const sentAt = Date.now();
      d.rec.published(seq, m.topic, sentAt);
      counters.sent++;
      d.pending++;
      counters.pending++;
      const payload = buildPayload({ device: d.id, seq, ts: m.ts, run: runId }, 0, {
        profile: d.profile.name,
        ...m.body,
      });
      void conn.sendAcked(m.topic, payload, opts.qos).then((ok) => {
        d.pending--;
        counters.pending--;
        if (ok && opts.qos > 0) {
          d.rec.ack(seq);
          counters.acked++;
          ackLatencies.push(Date.now() - sentAt);
        }
        pump(d);
      });
    }
  };

  const connectDevice = (d: SimDevice): void => {
    const conn = new DeviceConn(
      { url: opts.url, clientId: d.id, clean: opts.clean ?? false, keepalive: opts.keepalive ?? 60 },
      d.rec,
    );
    d.conn = conn;
    let subscribed = false;
    conn.client.on('connect', () => {
      const topic = d.profile.commandTopic?.(d.id);
      // With a persistent session the broker keeps the subscription; MQTT.js resubscribes when it does not.
      if (topic && !subscribed) {
        subscribed = true;
        conn.client.subscribe(topic, { qos: 1 });
      }
      pump(d);
    });
    if (d.profile.onCommand) {
      conn.client.on('message', (_topic, payload) => {
        stats.commands++;
        enqueue(d, d.profile.onCommand!(d.state, d.id, payload, Date.now()), Date.now());
        pump(d);
      });
    }
  };

  const heap = new TimeHeap<SimDevice>();
  const nextInterval = (d: SimDevice): number => d.intervalMs * (1 + jitter * (2 * d.rng.next() - 1));

  const tick = (now: number): void => {
    while (heap.peekAt() <= now) {
      const { at, v: d } = heap.pop()!;
      if (!generating || d.done) continue;
      const r = d.profile.tick(d.state, d.id, now, d.rng);
      enqueue(d, r.messages, now);
      if (r.offlineMs && offlineScale > 0 && d.conn) {
        const ms = r.offlineMs * offlineScale;
        d.offlineUntil = now + ms;
        d.conn.goOffline(ms);
        stats.offlinePeriods++;
      }
      if (opts.count !== undefined && d.generated >= opts.count) d.done = true;
      // Scheduled from the due time, not from now, so a busy loop does not slow the fleet down; a device far
      // behind (the process stalled) skips ahead instead of bursting.
      else heap.push(Math.max(at, now - d.intervalMs) + nextInterval(d), d);
      pump(d);
    }
  };

  const progress = new Progress(
    () => {
      const s = ackLatencies.sort((a, b) => a - b);
      ackLatencies = [];
      let connected = 0;
      let retries = 0;
      for (const d of devices) {
        if (d.conn?.connected) connected++;
        retries += d.conn?.retries ?? 0;
      }
      stats.retries = retries;
      return {
        sent: counters.sent,
        acked: counters.acked,
        connected,
        devices: devices.length,
        inflight: counters.pending,
        queued: counters.queued,
        retries,
        ...(s.length ? { ackP50: s[Math.floor(s.length * 0.5)]!, ackP99: s[Math.floor(s.length * 0.99)]! } : {}),
      };
    },
    opts.quiet ?? false,
    opts.progressOut,
  );
  progress.start();

  // Bring the fleet up at connectRate, ticking as we go.
  let connectedUpTo = 0;
  const loopStart = Date.now();
  let lastChurn = loopStart;
  try {
    while (!opts.signal?.aborted) {
      const now = Date.now();
      const target = Math.min(devices.length, Math.floor(((now - loopStart) / 1000) * connectRate) + 1);
      for (; connectedUpTo < target; connectedUpTo++) {
        const d = devices[connectedUpTo]!;
        connectDevice(d);
        heap.push(now + d.rng.next() * d.intervalMs, d);
      }
      if (opts.churn && now - lastChurn >= 1000) {
        const p = (opts.churn * (now - lastChurn)) / 60_000;
        lastChurn = now;
        for (const d of devices) {
          if (d.conn?.connected && d.rng.chance(p)) {
            d.conn.goOffline(d.rng.between(1000, 10_000));
            stats.churned++;
          }
        }
      }
      tick(now);
      if (now >= stopAt) break;
      if (connectedUpTo === devices.length && devices.every((d) => d.done)) break;
      await delay(Math.max(1, Math.min(20, heap.peekAt() - Date.now())));
    }
    generating = false;
    // Devices still in a long offline period come back now, so the drain measures the gateway, not the profile.
    for (const d of devices) {
      d.offlineUntil = 0;
      d.conn?.wake();
    }
    // Drain: what is queued or in flight gets up to drainTimeoutMs to be acknowledged.
    const drainUntil = Date.now() + (opts.drainTimeoutMs ?? 60_000);
    while (Date.now() < drainUntil && (counters.pending > 0 || counters.queued > 0)) {
      for (const d of devices) pump(d);
      await delay(50);
    }
  } finally {
    progress.stop();
    if (!opts.quiet) progress.tick();
    await Promise.all(devices.map((d) => d.conn?.close(true)));
  }
  const ledger: Ledger = {
    version: LEDGER_VERSION,
    runId,
    command: 'fleet',
    url: opts.url,
    startedAt,
    endedAt: Date.now(),
    devices: Object.fromEntries(devices.map((d) => [d.id, d.rec.toLedger()])),
  };
  if (opts.ledger) await saveLedger(opts.ledger, ledger);
  return { ledger, samples: progress.samples, stats };
}
