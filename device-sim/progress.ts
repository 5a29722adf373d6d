// Once-a-second progress on stderr for long runs: sent, acked, rates, connected devices, in flight.

export interface ProgressSnapshot {
  sent: number;
  acked: number;
  connected: number;
  devices: number;
  inflight: number;
  retries?: number;
  /** Messages generated but not yet handed to MQTT (device-side buffer). */
  queued?: number;
  /** PUBACK round trip over the last interval (ms). */
  ackP50?: number;
  ackP99?: number;
}

export interface ProgressSample extends ProgressSnapshot {
  /** ms since the run started */
  t: number;
  sentRate: number;
  ackRate: number;
}

/** Samples the run every interval; prints unless quiet, and keeps the samples for the final or HTML report. */
export class Progress {
  readonly samples: ProgressSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();
  private prev: { t: number; sent: number; acked: number } = { t: 0, sent: 0, acked: 0 };
  private readonly snapshot: () => ProgressSnapshot;
  private readonly quiet: boolean;
  private readonly out: NodeJS.WritableStream;

  constructor(snapshot: () => ProgressSnapshot, quiet: boolean, out: NodeJS.WritableStream = process.stderr) {
    this.snapshot = snapshot;
    this.quiet = quiet;
    this.out = out;
  }

  start(intervalMs = 1000): void {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  tick(): ProgressSample {
    const s = this.snapshot();
    const t = Date.now() - this.started;
    const dt = Math.max(1, t - this.prev.t) / 1000;
    const sample: ProgressSample = {
      ...s,
      t,
      sentRate: Math.round((s.sent - this.prev.sent) / dt),
      ackRate: Math.round((s.acked - this.prev.acked) / dt),
    };
    this.prev = { t, sent: s.sent, acked: s.acked };
    this.samples.push(sample);
    if (!this.quiet) {
      this.out.write(
        `[${(t / 1000).toFixed(0).padStart(4)}s] sent ${s.sent} acked ${s.acked} (${sample.ackRate} msg/s) ` +
          `in flight ${s.inflight}${s.ackP99 !== undefined ? ` ack p99 ${s.ackP99} ms` : ''} connected ${s.connected}/${s.devices}${s.queued ? ` queued ${s.queued}` : ''}${s.retries ? ` re-sent ${s.retries}` : ''}\n`,
      );
    }
    return sample;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
