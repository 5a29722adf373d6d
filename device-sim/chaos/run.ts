// Runs a chaos scenario: a local Kafka (the test harness's), the gateway as a child process, a fault relay between
// the devices and the gateway, a fleet through it, timed faults, and at the end the verify report.
import { LocalKafka } from '../../test/harness/kafka.ts';
import type { VerifyReport } from '../analyze.ts';
import { runVerify } from '../commands/verify.ts';
import { type FleetResult, runFleet } from '../fleet.ts';
import { type Ledger, saveLedger } from '../ledger.ts';
import type { ProgressSample } from '../progress.ts';
import { DataDisk } from './disk.ts';
import { type ChaosRig, namespaceRig, relayRig } from './rig.ts';
import type { Scenario } from './scenario.ts';
import { runSteps } from './steps.ts';

export interface ChaosEvent {
  /** ms since the load started */
  t: number;
  label: string;
}

/** The gateway's outbox backlog (records) from its metrics; undefined while it is down. */
export async function gatewayBacklog(metricsUrl: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(800) })).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith('gateway_backlog_records{') || line.startsWith('gateway_backlog_records ')) {
        sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
    }
    return sum;
  } catch {
    return undefined;
  }
}

export interface ChaosResult {
  scenario: string;
  ledger: Ledger;
  report: VerifyReport;
  events: ChaosEvent[];
  samples: ProgressSample[];
  /** The gateway's backlog once a second (ms since the load started). */
  backlog: { t: number; records: number | undefined }[];
  gatewayStarts: number;
}

export interface ChaosOptions {
  log?: (line: string) => void;
  ledger?: string;
  quiet?: boolean;
  /** Use an existing Kafka harness instead of starting one (tests). */
  kafka?: LocalKafka;
}

type Backlog = ChaosResult['backlog'];

/** Samples the gateway's backlog once a second until stopped. */
function sampleBacklog(metricsUrl: string, started: number): { backlog: Backlog; stop: () => Promise<void> } {
  const backlog: Backlog = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const t = Date.now() - started;
      backlog.push({ t, records: await gatewayBacklog(metricsUrl) });
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - started - t))));
    }
  })();
  return {
    backlog,
    stop: async () => {
      sampling = false;
      await sampler;
    },
  };
}

/** Whatever the scenario left broken is healed before counting: verify measures loss, not a missing broker. */
async function heal(rig: ChaosRig, mark: (label: string) => void): Promise<void> {
  rig.devices.restore();
  rig.uplink?.restore();
  await rig.disk?.free();
  if (rig.netns) {
    await rig.netns.linkUp(rig.netns.uplink);
    await rig.netns.clearQdisc(rig.netns.uplink);
  }
  if (rig.kafka && !rig.kafka.running) {
    mark('kafka start (end of scenario)');
    await rig.kafka.restart();
  }
  if (!rig.gw.running) {
    mark('gateway start (end of scenario)');
    await rig.gw.start();
  }
}

/** The fleet through the device relay while the steps run; the backlog is sampled meanwhile. */
async function load(
  sc: Scenario,
  rig: ChaosRig,
  opts: ChaosOptions,
  mark: (label: string) => void,
  started: number,
): Promise<{ res: FleetResult; backlog: Backlog }> {
  const sampler = sampleBacklog(rig.metricsUrl, started);
  const fleet = runFleet({
    url: rig.devices.url,
    devices: sc.fleet.devices,
    profiles: sc.fleet.profiles,
    durationMs: sc.fleet.duration * 1000,
    ...(sc.fleet.interval !== undefined ? { intervalMs: sc.fleet.interval } : {}),
    qos: sc.fleet.qos,
    inflight: sc.fleet.inflight,
    offlineScale: sc.fleet.offline,
    churn: sc.fleet.churn,
    quiet: opts.quiet ?? false,
    drainTimeoutMs: 120_000,
  });
  const [res] = await Promise.all([fleet, runSteps(sc.steps, started, rig, mark)]).finally(() => sampler.stop());
  return { res, backlog: sampler.backlog };
}

/** The gateway's data dir on a tmpfs of the scenario's size, if it asks for one. */
async function mountDisk(sc: Scenario, log: (line: string) => void): Promise<DataDisk | undefined> {
  if (!sc.disk) return undefined;
  const disk = new DataDisk();
  try {
    await disk.mount(sc.disk.size_mb);
  } catch (err) {
    await disk.close();
    throw err;
  }
  log(`gateway data on a ${sc.disk.size_mb} MB tmpfs at ${disk.dir}`);
  return disk;
}

async function buildRig(
  sc: Scenario,
  brokers: string[],
  kafka: LocalKafka | undefined,
  disk: DataDisk | undefined,
  log: (line: string) => void,
): Promise<ChaosRig> {
  const rig = await (sc.network === 'namespace' ? namespaceRig : relayRig)(sc, brokers, kafka, disk);
  if (disk) rig.disk = disk;
  if (rig.netns) log(`gateway in network namespace ${rig.netns.name}`);
  log(`devices connect through the fault relay ${rig.devices.url}`);
  return rig;
}

export async function runChaos(sc: Scenario, opts: ChaosOptions = {}): Promise<ChaosResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const ownKafka = !opts.kafka && 'local' in sc.kafka;
  const kafka = opts.kafka ?? ('local' in sc.kafka ? await LocalKafka.start() : undefined);
  const brokers = kafka ? kafka.brokers : 'brokers' in sc.kafka ? sc.kafka.brokers : [];
  let rig: ChaosRig | undefined;
  let disk: DataDisk | undefined;
  const events: ChaosEvent[] = [];
  try {
    log(`kafka ${brokers.join(',')}`);
    disk = await mountDisk(sc, log);
    rig = await buildRig(sc, brokers, kafka, disk, log);
    const started = Date.now();
    const mark = (label: string): void => {
      const t = Date.now() - started;
      events.push({ t, label });
      log(`[${(t / 1000).toFixed(1)}s] ${label}`);
    };
    const { res, backlog } = await load(sc, rig, opts, mark, started);
    await heal(rig, mark);
    if (opts.ledger) await saveLedger(opts.ledger, res.ledger);
    log(`verifying ${sc.verify.topics.join(',')} …`);
    const report = await runVerify({
      ledger: res.ledger,
      brokers,
      topics: sc.verify.topics,
      idleTimeoutMs: sc.verify.timeout * 1000,
    });
    const gatewayStarts = rig.gw.starts;
    return { scenario: sc.name, ledger: res.ledger, report, events, samples: res.samples, backlog, gatewayStarts };
  } finally {
    await rig?.cleanup();
    await disk?.close();
    if (ownKafka) await kafka?.close();
  }
}
