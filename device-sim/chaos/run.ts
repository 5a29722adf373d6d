// Runs a chaos scenario: a local Kafka (the test harness's), the gateway as a child process, a fault relay between
// the devices and the gateway, a fleet through it, timed faults, and at the end the verify report.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { GatewayProcess } from '../../test/harness/gateway-process.ts';
import { LocalKafka } from '../../test/harness/kafka.ts';
import type { VerifyReport } from '../analyze.ts';
import { runVerify } from '../commands/verify.ts';
import { runFleet } from '../fleet.ts';
import { type Ledger, saveLedger } from '../ledger.ts';
import type { ProgressSample } from '../progress.ts';
import { DataDisk } from './disk.ts';
import { GatewayNetns } from './netns.ts';
import { FaultProxy } from './proxy.ts';
import type { Scenario } from './scenario.ts';
import { runSteps } from './steps.ts';

export interface ChaosEvent {
  /** ms since the load started */
  t: number;
  label: string;
}

/** Ports inside the private namespace: nothing else listens there. */
const NS_HTTP_PORT = 8080;

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

/** The pieces a scenario acts on. */
export interface ChaosRig {
  kafka: LocalKafka | undefined;
  gw: GatewayProcess;
  /** Between the devices and the gateway. */
  devices: FaultProxy;
  /** Namespace mode: the gateway's network and the host end of its Kafka uplink. */
  netns?: GatewayNetns;
  uplink?: FaultProxy;
  disk?: DataDisk;
  /** The gateway's Prometheus endpoint, sampled for its backlog. */
  metricsUrl: string;
  cleanup: () => Promise<void>;
}

async function relayRig(
  sc: Scenario,
  brokers: string[],
  kafka: LocalKafka | undefined,
  disk: DataDisk | undefined,
): Promise<ChaosRig> {
  const gw = await GatewayProcess.create({
    // As balena's `restart: always`: a gateway that exits by itself (75 on a full disk) is started again.
    supervise: true,
    env: { GATEWAY_KAFKA_BROKERS: brokers.join(','), ...sc.gateway.env },
    ...(sc.gateway.configYaml !== undefined ? { configYaml: sc.gateway.configYaml } : {}),
    ...(disk ? { dataDir: disk.dir } : {}),
  });
  const devices = new FaultProxy('127.0.0.1', gw.mqttPort);
  const cleanup = async (): Promise<void> => {
    await devices.close();
    await gw.close();
  };
  try {
    await gw.start();
    await devices.start();
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { kafka, gw, devices, metricsUrl: `http://127.0.0.1:${gw.httpPort}/metrics`, cleanup };
}

/**
 * Namespace mode: the gateway runs in its own network namespace. Kafka advertises 127.0.0.1:port, so a relay inside
 * the namespace listens on that address and forwards over the uplink veth to a relay on the host, which reaches the
 * real Kafka. Devices reach the gateway over the other veth, through the host's device relay.
 */
async function namespaceRig(
  sc: Scenario,
  brokers: string[],
  kafka: LocalKafka | undefined,
  disk: DataDisk | undefined,
): Promise<ChaosRig> {
  const ns = new GatewayNetns();
  const started: { close: () => Promise<void> }[] = [];
  const cleanup = async (): Promise<void> => {
    for (const s of started.reverse()) await s.close().catch(() => {});
    await ns.destroy();
  };
  try {
    await ns.create();
    started.push({ close: () => ns.destroy() });
    const relays: string[] = [];
    let uplink: FaultProxy | undefined;
    for (const b of brokers) {
      const [host, port] = b.split(':') as [string, string];
      uplink = new FaultProxy(host, Number(port));
      await uplink.start(Number(port), ns.uplink.hostIp);
      const u = uplink;
      started.push({ close: () => u.close() });
      relays.push(`127.0.0.1:${port}=${ns.uplink.hostIp}:${port}`);
    }
    const relayCli = fileURLToPath(new URL('./relay-cli.ts', import.meta.url));
    for (const r of relays) {
      const [listen, target] = r.split('=') as [string, string];
      const [cmd, args] = ns.exec(process.execPath, [relayCli, listen, target]);
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      started.push({
        close: async () => {
          if (child.exitCode === null && child.signalCode === null) {
            const exited = once(child, 'exit');
            child.kill('SIGKILL');
            await exited;
          }
        },
      });
      await once(child.stdout!, 'data');
    }
    const gw = await GatewayProcess.create({
      wrap: (cmd, args) => ns.exec(cmd, args),
      supervise: true,
      env: {
        // The simulated devices connect without credentials from the namespace's other end. Asked for explicitly,
        // anonymous access opens the listeners (host `auto`) on the namespace's own address; the flow editor, which
        // has no login here, stays closed to it.
        GATEWAY_SECURITY_ANONYMOUS: 'true',
        GATEWAY_MQTT_HOST: 'auto',
        GATEWAY_HTTP_HOST: 'auto',
        GATEWAY_KAFKA_BROKERS: brokers.map((b) => `127.0.0.1:${b.split(':')[1]}`).join(','),
        ...sc.gateway.env,
      },
      ...(sc.gateway.configYaml !== undefined ? { configYaml: sc.gateway.configYaml } : {}),
      mqttPort: 1883,
      httpPort: NS_HTTP_PORT,
      ...(disk ? { dataDir: disk.dir } : {}),
    });
    started.push({ close: () => gw.close() });
    await gw.start();
    const devices = new FaultProxy(ns.devices.nsIp, gw.mqttPort);
    await devices.start();
    started.push({ close: () => devices.close() });
    const metricsUrl = `http://${ns.devices.nsIp}:${NS_HTTP_PORT}/metrics`;
    return { kafka, gw, devices, netns: ns, ...(uplink ? { uplink } : {}), metricsUrl, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export async function runChaos(sc: Scenario, opts: ChaosOptions = {}): Promise<ChaosResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const ownKafka = !opts.kafka && 'local' in sc.kafka;
  const kafka = opts.kafka ?? ('local' in sc.kafka ? await LocalKafka.start() : undefined);
  const brokers = kafka ? kafka.brokers : (sc.kafka as { brokers: string[] }).brokers;
  let rig: ChaosRig | undefined;
  let disk: DataDisk | undefined;
  const events: ChaosEvent[] = [];
  try {
    log(`kafka ${brokers.join(',')}`);
    if (sc.disk) {
      disk = new DataDisk();
      await disk.mount(sc.disk.sizeMb);
      log(`gateway data on a ${sc.disk.sizeMb} MB tmpfs at ${disk.dir}`);
    }
    rig = await (sc.network === 'namespace' ? namespaceRig : relayRig)(sc, brokers, kafka, disk);
    if (disk) rig.disk = disk;
    if (rig.netns) log(`gateway in network namespace ${rig.netns.name}`);
    log(`devices connect through the fault relay ${rig.devices.url}`);
    const started = Date.now();
    const mark = (label: string): void => {
      const t = Date.now() - started;
      events.push({ t, label });
      log(`[${(t / 1000).toFixed(1)}s] ${label}`);
    };
    const backlog: ChaosResult['backlog'] = [];
    const metricsUrl = rig.metricsUrl;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const t = Date.now() - started;
        backlog.push({ t, records: await gatewayBacklog(metricsUrl) });
        await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - started - t))));
      }
    })();
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
    const [res] = await Promise.all([fleet, runSteps(sc.steps, started, rig, mark)]).finally(() => {
      sampling = false;
    });
    await sampler;
    // Whatever the scenario left broken is healed before counting: verify measures loss, not a missing broker.
    rig.devices.restore();
    rig.uplink?.restore();
    await disk?.free();
    if (rig.netns) {
      await rig.netns.linkUp(rig.netns.uplink);
      await rig.netns.clearQdisc(rig.netns.uplink);
    }
    if (kafka && !kafka.running) {
      mark('kafka start (end of scenario)');
      await kafka.restart();
    }
    if (!rig.gw.running) {
      mark('gateway start (end of scenario)');
      await rig.gw.start();
    }
    if (opts.ledger) await saveLedger(opts.ledger, res.ledger);
    log(`verifying ${sc.verify.topics.join(',')} …`);
    const report = await runVerify({
      ledger: res.ledger,
      brokers,
      topics: sc.verify.topics,
      idleTimeoutMs: sc.verify.timeout * 1000,
    });
    return {
      scenario: sc.name,
      ledger: res.ledger,
      report,
      events,
      samples: res.samples,
      backlog,
      gatewayStarts: rig.gw.starts,
    };
  } finally {
    await rig?.cleanup();
    await disk?.close();
    if (ownKafka) await kafka?.close();
  }
}
