// `device-sim publish`: N clients × M sequenced messages, recorded in a run ledger of what was acknowledged.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { commandInfo, defineCommand, type Options, qosOf, UsageError } from '../args.ts';
import { DeviceRecorder, LEDGER_VERSION, type Ledger, ledgerTotals, saveLedger } from '../ledger.ts';
import { DeviceConn } from '../mqtt-device.ts';
import { Pacer } from '../pacer.ts';
import { buildPayload, deviceId, expandTopic } from '../payload.ts';
import { Progress } from '../progress.ts';

export interface PublishOptions {
  url: string;
  clients: number;
  count: number;
  qos: 0 | 1 | 2;
  /** `{id}` is the client id, `{n}` the client number. */
  topic: string;
  prefix: string;
  /** Payload size in bytes (JSON padded up to it). */
  size: number;
  /** Total messages per second over all clients; 0 = as fast as acks allow. */
  rate?: number;
  /** Unacknowledged publishes allowed per client. */
  inflight: number;
  /** Clean sessions; the default (false) keeps the session so retransmits survive reconnects. */
  clean?: boolean;
  username?: string;
  password?: string;
  /** Where to write the ledger; omitted = not written (the ledger is still returned). */
  ledger?: string;
  quiet?: boolean;
  /** How long to wait for outstanding acks after the last publish. */
  drainTimeoutMs?: number;
  /** Stops publishing early; outstanding acks are still awaited up to drainTimeoutMs. */
  signal?: AbortSignal;
  runId?: string;
  /** First client number (default 1). */
  firstClient?: number;
  connectTimeoutMs?: number;
  progressOut?: NodeJS.WritableStream;
}

interface PubDevice {
  rec: DeviceRecorder;
  conn: DeviceConn;
  n: number;
  topic: string;
}

function createDevices(opts: PublishOptions): PubDevice[] {
  const first = opts.firstClient ?? 1;
  const total = first + opts.clients - 1;
  const devices: PubDevice[] = [];
  for (let n = first; n <= total; n++) {
    const id = deviceId(opts.prefix, n, total);
    const rec = new DeviceRecorder(id, opts.qos);
    const conn = new DeviceConn(
      {
        url: opts.url,
        clientId: id,
        clean: opts.clean ?? false,
        ...(opts.username !== undefined ? { username: opts.username } : {}),
        ...(opts.password !== undefined ? { password: opts.password } : {}),
        ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
      },
      rec,
    );
    devices.push({ rec, conn, n, topic: expandTopic(opts.topic, id, n) });
  }
  return devices;
}

function publishProgress(devices: PubDevice[], inflight: () => number, opts: PublishOptions): Progress {
  return new Progress(
    () => {
      let sent = 0;
      let acked = 0;
      let connected = 0;
      let retries = 0;
      for (const d of devices) {
        retries += d.conn.retries;
        sent += d.rec.sent;
        acked += d.rec.ackedCount;
        if (d.conn.connected) connected++;
      }
      return { sent, acked, connected, devices: devices.length, inflight: inflight(), retries };
    },
    opts.quiet ?? false,
    opts.progressOut,
  );
}

/**
 * What the clients of a run share (the rate limit, the abort, the in-flight count); `device` runs one client: its
 * seqs in order, at most `inflight` unacknowledged, then up to drainTimeoutMs for the last acks.
 */
class PublishRun {
  inflight = 0;
  readonly runId: string;
  private readonly opts: PublishOptions;
  private readonly pacer: Pacer;
  private readonly aborted: Promise<void>;

  constructor(opts: PublishOptions) {
    this.opts = opts;
    this.runId = opts.runId ?? randomBytes(6).toString('hex');
    this.pacer = new Pacer(opts.rate);
    this.aborted = new Promise<void>((resolve) => {
      if (opts.signal?.aborted) resolve();
      else opts.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  private get stopped(): boolean {
    return this.opts.signal?.aborted ?? false;
  }

  private async send(d: PubDevice, seq: number, payload: Buffer): Promise<void> {
    if ((await d.conn.sendAcked(d.topic, payload, this.opts.qos)) && this.opts.qos > 0) d.rec.ack(seq);
  }

  /** Waits until the device may send its next seq; false when the run was stopped meanwhile. */
  private async ready(d: PubDevice, pending: Set<Promise<void>>): Promise<boolean> {
    // New seqs wait for re-sends of older ones, so the device's order on the wire stays its seq order.
    // An abort also ends these waits: a gateway that withholds acks (budget `reject`) must not hang the run.
    while ((pending.size >= this.opts.inflight || d.conn.retrying > 0) && !this.stopped) {
      await Promise.race([...pending, this.aborted]);
    }
    if (this.stopped) return false;
    await Promise.race([d.conn.whenConnected(), this.aborted]);
    if (this.stopped) return false;
    try {
      await this.pacer.take(this.opts.signal);
    } catch {
      return false; // aborted while waiting for the rate limit
    }
    return true;
  }

  async device(d: PubDevice): Promise<void> {
    const pending = new Set<Promise<void>>();
    for (let seq = 1; seq <= this.opts.count && !this.stopped; seq++) {
      if (!(await this.ready(d, pending))) break;
      const ts = Date.now();
      d.rec.published(seq, d.topic, ts);
      const payload = buildPayload({ device: d.rec.id, seq, ts, run: this.runId }, this.opts.size);
      this.inflight++;
      const p: Promise<void> = this.send(d, seq, payload).finally(() => {
        this.inflight--;
        pending.delete(p);
      });
      pending.add(p);
    }
    const drained = Promise.all(pending).then(() => true);
    const timer = delay(this.opts.drainTimeoutMs ?? 60_000, false, { ref: false });
    await Promise.race([drained, timer]);
  }
}

export async function runPublish(opts: PublishOptions): Promise<Ledger> {
  const run = new PublishRun(opts);
  const startedAt = Date.now();
  const devices = createDevices(opts);
  const progress = publishProgress(devices, () => run.inflight, opts);
  progress.start();
  try {
    await Promise.all(devices.map((d) => run.device(d)));
  } finally {
    progress.stop();
    if (!opts.quiet) progress.tick();
    await Promise.all(devices.map((d) => d.conn.close(true)));
  }
  const ledger: Ledger = {
    version: LEDGER_VERSION,
    runId: run.runId,
    command: 'publish',
    url: opts.url,
    startedAt,
    endedAt: Date.now(),
    devices: Object.fromEntries(devices.map((d) => [d.rec.id, d.rec.toLedger()])),
  };
  if (opts.ledger) await saveLedger(opts.ledger, ledger);
  return ledger;
}

const info = commandInfo({
  name: 'publish',
  summary: 'publish sequenced messages from N clients and record what was acknowledged',
  usage: './gw sim publish [--url mqtt://127.0.0.1:1883] [--clients 20] [--count 1000] [--qos 1] [--ledger run.json]',
  options: {
    url: { kind: 'string', help: 'broker URL (mqtt://, mqtts://, ws://)', default: 'mqtt://127.0.0.1:1883' },
    clients: { kind: 'int', help: 'number of MQTT clients', default: 20, min: 1, max: 100_000, short: 'c' },
    count: { kind: 'int', help: 'messages per client', default: 1000, min: 0, short: 'n' },
    qos: { kind: 'int', help: 'MQTT QoS', default: 1, min: 0, max: 2 },
    topic: {
      kind: 'string',
      help: 'topic template ({id} = client id, {n} = number)',
      default: 'devices/{id}/telemetry',
    },
    prefix: { kind: 'string', help: 'client id prefix: ids are {prefix}-0001…', default: 'sim' },
    size: { kind: 'int', help: 'payload size in bytes (JSON padded)', default: 0, min: 0, max: 256 * 1024 * 1024 },
    rate: { kind: 'number', help: 'total messages per second (0 = unlimited)', default: 0, min: 0 },
    inflight: { kind: 'int', help: 'unacknowledged publishes per client', default: 10, min: 1, max: 65_535 },
    clean: { kind: 'boolean', help: 'clean sessions (default: persistent, so retransmits survive reconnects)' },
    username: { kind: 'string', help: 'MQTT username' },
    password: { kind: 'string', help: 'MQTT password (or env DEVICE_SIM_PASSWORD)' },
    ledger: { kind: 'string', help: 'write the run ledger (JSON) here', default: 'run.json' },
    'drain-timeout': { kind: 'number', help: 'seconds to wait for outstanding acks at the end', default: 60, min: 0 },
    quiet: { kind: 'boolean', help: 'no progress output', short: 'q' },
  },
  examples: [
    './gw sim publish --clients 20 --count 1000 --qos 1 --ledger run.json',
    './gw sim publish --url mqtt://gw.local:1883 --rate 500 --size 256 --topic "plant/{id}/temp"',
  ],
});

export function checkUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--url: "${url}" is not a URL (e.g. mqtt://127.0.0.1:1883)`);
  }
  if (!['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:'].includes(u.protocol)) {
    throw new UsageError(`--url: unsupported scheme ${u.protocol} (use mqtt, mqtts, ws or wss)`);
  }
}

async function publishMain(o: Options<typeof info.options>): Promise<number> {
  checkUrl(o.url);
  const ac = new AbortController();
  const onSignal = (): void => {
    process.stderr.write('stopping: waiting for outstanding acks (Ctrl-C again to quit now)\n');
    process.once('SIGINT', () => process.exit(130));
    ac.abort();
  };
  process.once('SIGINT', onSignal);
  const password = o.password ?? process.env.DEVICE_SIM_PASSWORD;
  const ledger = await runPublish({
    url: o.url,
    clients: o.clients,
    count: o.count,
    qos: qosOf(o.qos),
    topic: o.topic,
    prefix: o.prefix,
    size: o.size,
    rate: o.rate,
    inflight: o.inflight,
    clean: o.clean,
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ledger: o.ledger,
    quiet: o.quiet,
    drainTimeoutMs: o['drain-timeout'] * 1000,
    signal: ac.signal,
  });
  process.off('SIGINT', onSignal);
  const t = ledgerTotals(ledger);
  const secs = (ledger.endedAt - ledger.startedAt) / 1000;
  const expected = o.qos > 0 ? t.sent : 0;
  process.stderr.write(
    `run ${ledger.runId}: ${t.devices} clients, sent ${t.sent}, acked ${t.acked}` +
      `${o.qos === 0 ? ' (QoS 0: nothing is acknowledged)' : ''} in ${secs.toFixed(1)} s ` +
      `(${Math.round(t.acked / Math.max(secs, 0.001))} msg/s); ledger ${o.ledger}\n`,
  );
  return t.acked < expected ? 1 : 0;
}

export const publishCommand = defineCommand(info, publishMain);
