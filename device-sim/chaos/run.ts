// Runs a chaos scenario: a local Kafka (the test harness's), the gateway as a child process, a fault relay between
// the devices and the gateway, a fleet through it, timed faults, and at the end the verify report.
import { GatewayProcess } from '../../test/harness/gateway-process.ts';
import { LocalKafka } from '../../test/harness/kafka.ts';
import type { VerifyReport } from '../analyze.ts';
import { runVerify } from '../commands/verify.ts';
import { runFleet } from '../fleet.ts';
import { type Ledger, saveLedger } from '../ledger.ts';
import type { ProgressSample } from '../progress.ts';
import { FaultProxy } from './proxy.ts';
import type { Scenario, Step } from './scenario.ts';

export interface ChaosEvent {
  /** ms since the load started */
  t: number;
  label: string;
}

export interface ChaosResult {
  scenario: string;
  ledger: Ledger;
  report: VerifyReport;
  events: ChaosEvent[];
  samples: ProgressSample[];
  gatewayStarts: number;
}

export interface ChaosOptions {
  log?: (line: string) => void;
  ledger?: string;
  quiet?: boolean;
  /** Use an existing Kafka harness instead of starting one (tests). */
  kafka?: LocalKafka;
}

export async function runChaos(sc: Scenario, opts: ChaosOptions = {}): Promise<ChaosResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const ownKafka = !opts.kafka && 'local' in sc.kafka;
  const kafka = opts.kafka ?? ('local' in sc.kafka ? await LocalKafka.start() : undefined);
  const brokers = kafka ? kafka.brokers : (sc.kafka as { brokers: string[] }).brokers;
  let gw: GatewayProcess | undefined;
  let proxy: FaultProxy | undefined;
  const events: ChaosEvent[] = [];
  try {
    log(`kafka ${brokers.join(',')}`);
    gw = await GatewayProcess.create({
      env: { GATEWAY_KAFKA_BROKERS: brokers.join(','), ...sc.gateway.env },
      ...(sc.gateway.configYaml !== undefined ? { configYaml: sc.gateway.configYaml } : {}),
    });
    await gw.start();
    log(`gateway ${gw.url} (pid ${gw.pid})`);
    proxy = new FaultProxy('127.0.0.1', gw.mqttPort);
    await proxy.start();
    log(`devices connect through the fault relay ${proxy.url}`);

    const started = Date.now();
    const mark = (label: string): void => {
      const t = Date.now() - started;
      events.push({ t, label });
      log(`[${(t / 1000).toFixed(1)}s] ${label}`);
    };
    const fleet = runFleet({
      url: proxy.url,
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
    const stepsDone = runSteps(sc.steps, started, { kafka, gw, proxy, mark });
    const [res] = await Promise.all([fleet, stepsDone]);
    // Whatever the scenario left broken is healed before counting: verify measures loss, not a missing broker.
    proxy.restore();
    if (kafka && !kafka.running) {
      mark('kafka start (end of scenario)');
      await kafka.restart();
    }
    if (!gw.running) {
      mark('gateway start (end of scenario)');
      await gw.start();
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
      gatewayStarts: gw.starts,
    };
  } finally {
    await proxy?.close();
    await gw?.close();
    if (ownKafka) await kafka?.close();
  }
}

interface Targets {
  kafka: LocalKafka | undefined;
  gw: GatewayProcess;
  proxy: FaultProxy;
  mark: (label: string) => void;
}

async function waitUntil(at: number): Promise<void> {
  const ms = at - Date.now();
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs the steps in time order; a step that takes long (a restart) delays the ones after it, never skips them. */
async function runSteps(steps: Step[], started: number, t: Targets): Promise<void> {
  const restores: Promise<void>[] = [];
  for (const s of steps) {
    await waitUntil(started + s.at * 1000);
    switch (s.do) {
      case 'kafka-stop':
        t.mark('kafka stop');
        await t.kafka!.stop();
        break;
      case 'kafka-kill':
        t.mark('kafka SIGKILL');
        await t.kafka!.kill();
        break;
      case 'kafka-start':
        t.mark('kafka start');
        await t.kafka!.restart();
        t.mark('kafka up');
        break;
      case 'gateway-kill':
        t.mark('gateway SIGKILL');
        await t.gw.kill('SIGKILL');
        if (s.for) await waitUntil(Date.now() + s.for * 1000);
        await t.gw.start();
        t.mark('gateway up');
        break;
      case 'gateway-stop':
        t.mark('gateway SIGTERM');
        await t.gw.kill('SIGTERM');
        break;
      case 'gateway-start':
        await t.gw.start();
        t.mark('gateway up');
        break;
      case 'blackhole':
        t.mark('blackhole');
        t.proxy.blackhole();
        break;
      case 'latency':
        t.mark(`latency +${s.ms} ms`);
        t.proxy.latency(s.ms ?? 0);
        break;
      case 'restore':
        t.mark('link restored');
        t.proxy.restore();
        break;
    }
    if ((s.do === 'blackhole' || s.do === 'latency') && s.for !== undefined) {
      const at = Date.now() + s.for * 1000;
      restores.push(
        waitUntil(at).then(() => {
          t.mark('link restored');
          t.proxy.restore();
        }),
      );
    }
  }
  await Promise.all(restores);
}
