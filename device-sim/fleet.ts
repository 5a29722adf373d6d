// The fleet engine: thousands of profile-driven devices in one process. The scheduler here brings them up at the
// connect rate, ticks them from one time-heap, churns links, stops them and gathers the ledger; each device
// (fleet-device.ts) owns an MQTT connection, a small local queue and a recorder for the run ledger.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { type DeviceSettings, FleetDevice, type FleetStats, FleetTally } from './fleet-device.ts';
import { TimeHeap } from './heap.ts';
import { type DeviceRecorder, LEDGER_VERSION, type Ledger, saveLedger } from './ledger.ts';
import { deviceId } from './payload.ts';
import { getProfile, type ProfileName } from './profiles/index.ts';
import { Rng } from './profiles/types.ts';
import { Progress, type ProgressSample } from './progress.ts';

export type { FleetStats } from './fleet-device.ts';

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
  /** Put before every device id (`gw3-` gives gw3-lock-0001), to keep the devices of several gateways apart. */
  idPrefix?: string;
  /** Given the devices' recorders once they exist: what each has sent and had acknowledged so far, live. */
  onRecorders?: (recorders: readonly DeviceRecorder[]) => void;
}

export interface FleetResult {
  ledger: Ledger;
  samples: ProgressSample[];
  stats: FleetStats;
}

/** Starts the devices at connectRate, ticks them on one time-heap, churns links, and tells when generating is over. */
class FleetScheduler {
  private readonly heap = new TimeHeap<FleetDevice>();
  private readonly devices: FleetDevice[];
  private readonly opts: FleetOptions;
  private connectedUpTo = 0;
  private readonly loopStart = Date.now();
  private lastChurn = this.loopStart;

  constructor(devices: FleetDevice[], opts: FleetOptions) {
    this.devices = devices;
    this.opts = opts;
  }

  /** Connects the devices due by now at connectRate; each gets its first tick at a random point of its interval. */
  private rampUp(now: number): void {
    const rate = this.opts.connectRate ?? 500;
    const target = Math.min(this.devices.length, Math.floor(((now - this.loopStart) / 1000) * rate) + 1);
    for (; this.connectedUpTo < target; this.connectedUpTo++) {
      const d = this.devices[this.connectedUpTo];
      if (!d) break;
      d.connect();
      this.heap.push(now + d.rng.next() * d.intervalMs, d);
    }
  }

  /** Once a second, each connected device drops its link with the probability churn/minute gives. */
  private churn(now: number): void {
    if (!this.opts.churn || now - this.lastChurn < 1000) return;
    const p = (this.opts.churn * (now - this.lastChurn)) / 60_000;
    this.lastChurn = now;
    for (const d of this.devices) d.churn(p);
  }

  private tick(now: number): void {
    const jitter = this.opts.jitter ?? 0.2;
    const offlineScale = this.opts.offlineScale ?? 1;
    while (this.heap.peekAt() <= now) {
      const item = this.heap.pop();
      if (!item) break;
      const { at, v: d } = item;
      if (d.done) continue;
      d.tick(now, offlineScale);
      if (this.opts.count !== undefined && d.generated >= this.opts.count) d.done = true;
      // Scheduled from the due time, not from now, so a busy loop does not slow the fleet down; a device far
      // behind (the process stalled) skips ahead instead of bursting.
      else this.heap.push(Math.max(at, now - d.intervalMs) + d.nextInterval(jitter), d);
      d.pump();
    }
  }

  private finished(now: number, stopAt: number): boolean {
    if (now >= stopAt) return true;
    return this.connectedUpTo === this.devices.length && this.devices.every((d) => d.done);
  }

  /** Generates until the duration is over, every device reached its count, or the signal fired. */
  async run(stopAt: number): Promise<void> {
    while (!this.opts.signal?.aborted) {
      const now = Date.now();
      this.rampUp(now);
      this.churn(now);
      this.tick(now);
      if (this.finished(now, stopAt)) break;
      await delay(Math.max(1, Math.min(20, this.heap.peekAt() - Date.now())));
    }
  }
}

function createDevices(opts: FleetOptions, settings: DeviceSettings, startedAt: number): FleetDevice[] {
  const rng = new Rng(opts.seed ?? Date.now());
  const devices: FleetDevice[] = [];
  for (let n = 1; n <= opts.devices; n++) {
    const profile = getProfile(opts.profiles[(n - 1) % opts.profiles.length] ?? 'vehicle');
    const id = deviceId(`${opts.idPrefix ?? ''}${profile.prefix}`, n, opts.devices);
    const devRng = new Rng(Math.floor(rng.next() * 2 ** 32));
    const intervalMs = opts.rate ? (opts.devices / opts.rate) * 1000 : (opts.intervalMs ?? profile.intervalMs);
    devices.push(new FleetDevice({ id, profile, rng: devRng, intervalMs, startedAt }, settings));
  }
  return devices;
}

function fleetProgress(devices: FleetDevice[], tally: FleetTally, opts: FleetOptions): Progress {
  return new Progress(
    () => {
      const s = tally.takeLatencies();
      let connected = 0;
      let retries = 0;
      for (const d of devices) {
        if (d.connected) connected++;
        retries += d.conn?.retries ?? 0;
      }
      tally.stats.retries = retries;
      return {
        sent: tally.sent,
        acked: tally.acked,
        connected,
        devices: devices.length,
        inflight: tally.pending,
        queued: tally.queued,
        retries,
        ...(s.length
          ? { ackP50: s[Math.floor(s.length * 0.5)] ?? 0, ackP99: s[Math.floor(s.length * 0.99)] ?? 0 }
          : {}),
      };
    },
    opts.quiet ?? false,
    opts.progressOut,
  );
}

/** What is queued or in flight gets up to drainMs to be acknowledged. */
async function drain(devices: FleetDevice[], tally: FleetTally, drainMs: number): Promise<void> {
  // Devices still in a long offline period come back now, so the drain measures the gateway, not the profile.
  for (const d of devices) d.wake();
  const drainUntil = Date.now() + drainMs;
  while (Date.now() < drainUntil && (tally.pending > 0 || tally.queued > 0)) {
    for (const d of devices) d.pump();
    await delay(50);
  }
}

export async function runFleet(opts: FleetOptions): Promise<FleetResult> {
  const runId = opts.runId ?? randomBytes(6).toString('hex');
  const startedAt = Date.now();
  const stopAt = opts.durationMs !== undefined ? startedAt + opts.durationMs : Number.POSITIVE_INFINITY;
  const tally = new FleetTally();
  const settings: DeviceSettings = {
    url: opts.url,
    runId,
    qos: opts.qos,
    clean: opts.clean ?? false,
    keepalive: opts.keepalive ?? 60,
    inflight: opts.inflight ?? 5,
    queueMax: opts.queueMax ?? 10_000,
    tally,
  };
  const devices = createDevices(opts, settings, startedAt);
  opts.onRecorders?.(devices.map((d) => d.rec));
  const progress = fleetProgress(devices, tally, opts);
  progress.start();
  try {
    await new FleetScheduler(devices, opts).run(stopAt);
    await drain(devices, tally, opts.drainTimeoutMs ?? 60_000);
  } finally {
    progress.stop();
    if (!opts.quiet) progress.tick();
    await Promise.all(devices.map((d) => d.close()));
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
  return { ledger, samples: progress.samples, stats: tally.stats };
}
