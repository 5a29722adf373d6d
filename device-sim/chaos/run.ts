// Runs a chaos scenario: a local Kafka (the test harness's), the gateway as a child process, a fault relay between
// the devices and the gateway, a fleet through it, timed faults, and at the end the verify report.
import { join } from 'node:path';
import { LocalKafka } from '../../test/harness/kafka.ts';
import { LocalKafkaCluster } from '../../test/harness/kafka-cluster.ts';
import { type RelayedKafka, startRelayedKafka } from '../../test/harness/relayed-kafka.ts';
import type { ObservedRecord, VerifyReport } from '../analyze.ts';
import { runVerify } from '../commands/verify.ts';
import { type FleetResult, runFleet } from '../fleet.ts';
import { saveLedger } from '../ledger.ts';
import { DataDisk } from './disk.ts';
import { ClusterLog, type ClusterWatch, createClusterTopics, startBrokers, watchCluster } from './failover.ts';
import { failoverFigures } from './failover-figures.ts';
import { runGatewayFleet } from './gateway-fleet.ts';
import { sampleGauges } from './gauges.ts';
import { evaluateChecks, runFigures } from './outage.ts';
import { PowerLog, powerFigures, readyInfo } from './power.ts';
import { PowercutDisk } from './powercut.ts';
import type { ChaosEvent, ChaosOptions, ChaosResult } from './result.ts';
import { type ChaosRig, namespaceRig, relayRig } from './rig.ts';
import type { Scenario } from './scenario.ts';
import { fleetOptions } from './scenario-load.ts';
import { runSteps } from './steps.ts';
import { toxiRig } from './toxics.ts';

export type { ChaosOptions, ChaosResult } from './result.ts';

/** How long the gauges go on after the verify, for the backlog to reach 0. */
const DRAIN_WAIT_MS = 30_000;

/** Whatever the scenario left broken is healed before counting: verify measures loss, not a missing broker. */
async function heal(rig: ChaosRig, mark: (label: string) => void): Promise<void> {
  rig.devices.restore();
  await rig.toxi?.clearAll(mark);
  rig.uplink?.restore();
  await rig.disk?.free();
  if (rig.netns) {
    await rig.netns.linkUp(rig.netns.uplink);
    await rig.netns.clearQdisc(rig.netns.uplink);
  }
  if (rig.cluster) await startBrokers(rig.cluster, (l) => mark(`${l} (end of scenario)`));
  if (rig.kafka && !rig.kafka.running) {
    mark('kafka start (end of scenario)');
    await rig.kafka.restart();
  }
  if (!rig.gw.running) {
    mark('gateway start (end of scenario)');
    await rig.gw.start();
  }
}

/** The fleet through the device relay while the steps run. */
async function load(
  sc: Scenario,
  rig: ChaosRig,
  opts: ChaosOptions,
  mark: (label: string) => void,
  started: number,
): Promise<FleetResult> {
  const fleet = runFleet({ ...fleetOptions(sc), url: rig.devices.url, quiet: opts.quiet ?? false });
  const [res] = await Promise.all([fleet, runSteps(sc.steps, started, rig, mark)]);
  return res;
}

/** The gateway's data dir on a tmpfs of the scenario's size, or on the power-cut disk, if it asks for one. */
async function mountDisk(sc: Scenario, log: (line: string) => void): Promise<DataDisk | PowercutDisk | undefined> {
  if (!sc.disk) return undefined;
  const disk = sc.disk.kind === 'powercut' ? new PowercutDisk() : new DataDisk();
  try {
    if (disk instanceof PowercutDisk) await disk.mount();
    else if (sc.disk.kind === 'tmpfs') await disk.mount(sc.disk.size_mb);
  } catch (err) {
    await disk.close();
    throw err;
  }
  log(
    sc.disk.kind === 'powercut'
      ? `gateway data on the power-cut disk (FUSE, forgets unsynced writes) at ${disk.dir}/data`
      : `gateway data on a ${sc.disk.size_mb} MB tmpfs at ${disk.dir}`,
  );
  return disk;
}

async function buildRig(
  sc: Scenario,
  brokers: string[],
  kafka: LocalKafka | undefined,
  disk: DataDisk | PowercutDisk | undefined,
  log: (line: string) => void,
  relayed?: RelayedKafka,
): Promise<ChaosRig> {
  const rig =
    sc.links === 'toxiproxy'
      ? await toxiRig(sc, brokers, kafka, relayed, disk)
      : await (sc.network === 'namespace' ? namespaceRig : relayRig)(sc, brokers, kafka, disk);
  if (disk instanceof DataDisk) rig.disk = disk;
  if (disk instanceof PowercutDisk) {
    rig.power = new PowerLog(disk);
    rig.power.first = readyInfo(rig.gw.output);
  }
  if (rig.netns) log(`gateway in network namespace ${rig.netns.name}`);
  log(`devices connect through the ${rig.toxi ? 'Toxiproxy devices link' : 'fault relay'} ${rig.devices.url}`);
  if (relayed) log(`the gateway reaches Kafka through the Toxiproxy kafka link 127.0.0.1:${relayed.proxyPort}`);
  return rig;
}

/** The load, the heal and the verify with the gauges sampled throughout, then the figures and the checks. */
async function measured(
  sc: Scenario,
  rig: ChaosRig,
  brokers: string[],
  opts: ChaosOptions,
  log: (line: string) => void,
): Promise<ChaosResult> {
  const events: ChaosEvent[] = [];
  const started = Date.now();
  const mark = (label: string): void => {
    const t = Date.now() - started;
    events.push({ t, label });
    log(`[${(t / 1000).toFixed(1)}s] ${label}`);
  };
  const gw = rig.gw;
  const sampler = sampleGauges(
    { healthUrl: rig.healthUrl, pid: () => gw.pid, dataDir: join(gw.dataDir, 'data') },
    started,
  );
  let res: FleetResult;
  let report: VerifyReport;
  let records: readonly ObservedRecord[] = [];
  const watch: ClusterWatch | undefined = rig.cluster && watchCluster(rig.cluster, rig.healthUrl, started);
  try {
    res = await load(sc, rig, opts, mark, started);
    await heal(rig, mark);
    if (opts.ledger) await saveLedger(opts.ledger, res.ledger);
    log(`verifying ${sc.verify.topics.join(',')} …`);
    report = await runVerify({
      ledger: res.ledger,
      brokers,
      topics: sc.verify.topics,
      idleTimeoutMs: sc.verify.timeout * 1000,
      onRecords: (r) => {
        records = r;
      },
    });
    // The curves end with the backlog drained (bounded: a backlog that does not drain is itself the finding).
    await sampler.drained(DRAIN_WAIT_MS);
  } finally {
    await sampler.stop();
    await watch?.stop();
  }
  const figures = runFigures({
    gauges: sampler.gauges,
    events,
    started,
    ledger: res.ledger,
    records,
    ...(rig.toxi ? { toxics: rig.toxi.log } : {}),
  });
  const checks = evaluateChecks(sc.checks, figures);
  const power = rig.power ? powerFigures(rig.power, res.ledger, report, started) : undefined;
  const failover =
    rig.cluster && watch
      ? failoverFigures({
          log: rig.cluster,
          link: watch.link,
          isr: watch.isr,
          gauges: sampler.gauges,
          events,
          started,
          ledger: res.ledger,
          records,
          duplicates: { count: report.totals.duplicates, newId: report.totals.duplicatesNewId },
        })
      : undefined;
  return {
    scenario: sc.name,
    ledger: res.ledger,
    report,
    events,
    samples: res.samples,
    gauges: sampler.gauges,
    figures,
    checks,
    ...(power ? { power } : {}),
    ...(failover ? { failover } : {}),
    ok: report.ok && checks.every((c) => c.ok) && (power?.ok ?? true),
    gatewayStarts: gw.starts,
  };
}

export async function runChaos(sc: Scenario, opts: ChaosOptions = {}): Promise<ChaosResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  // Toxiproxy's kafka link needs a Kafka of the run's own that advertises the proxy.
  const relayed = sc.links === 'toxiproxy' && 'local' in sc.kafka ? await startRelayedKafka() : undefined;
  const ownKafka = relayed !== undefined || (!opts.kafka && 'local' in sc.kafka);
  const kafka = relayed?.kafka ?? opts.kafka ?? ('local' in sc.kafka ? await LocalKafka.start() : undefined);
  const cluster = 'cluster' in sc.kafka ? await LocalKafkaCluster.start() : undefined;
  const brokers = kafka ? kafka.brokers : cluster ? cluster.brokers : 'brokers' in sc.kafka ? sc.kafka.brokers : [];
  let rig: ChaosRig | undefined;
  let disk: DataDisk | PowercutDisk | undefined;
  try {
    log(`kafka ${brokers.join(',')}`);
    if (sc.gateways !== undefined) return await runGatewayFleet(sc, brokers, kafka, opts, log);
    if (cluster) {
      createClusterTopics(cluster, sc.verify.topics);
      log(`kafka cluster: brokers 1-3, ${sc.verify.topics.join(',')} with replication factor 3, min.insync.replicas 2`);
    }
    disk = await mountDisk(sc, log);
    rig = await buildRig(sc, brokers, kafka, disk, log, relayed);
    if (cluster) rig.cluster = new ClusterLog(cluster, sc.verify.topics[0] ?? 'edge.uplink');
    return await measured(sc, rig, brokers, opts, log);
  } finally {
    await rig?.cleanup();
    await disk?.close();
    if (ownKafka) await kafka?.close();
    await cluster?.close();
  }
}
