// A fleet of gateways into one Kafka (`gateways: N`): N gateway processes, each with its own id (a balena device
// UUID), data dir and devices; the steps kill, stop, start or wipe the volume of one of them, or stop Kafka. The
// verify reads the topics once and checks each gateway apart (fleet-figures.ts).
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayProcess } from '../../test/harness/gateway-process.ts';
import type { LocalKafka } from '../../test/harness/kafka.ts';
import type { ObservedRecord, VerifyReport } from '../analyze.ts';
import { runVerify } from '../commands/verify.ts';
import { runFleet } from '../fleet.ts';
import { type DeviceRecorder, type Ledger, mergeLedgers, saveLedger } from '../ledger.ts';
import type { ProgressSample } from '../progress.ts';
import type { Range } from '../ranges.ts';
import { type GatewayFleetFigures, gatewayFleetFigures, type WipeRecord } from './fleet-figures.ts';
import { type GaugeSampler, healthGauges, sampleGauges } from './gauges.ts';
import { evaluateChecks, runFigures } from './outage.ts';
import { readyInfo } from './power.ts';
import type { ChaosEvent, ChaosOptions, ChaosResult } from './result.ts';
import type { Scenario, Step } from './scenario.ts';
import { fleetOptions } from './scenario-load.ts';

/** The id every gateway gets with `sameId` (a fleet deployed with one configured id): the run must fail. */
export const SHARED_ID = 'fleet-gateway';
const START_TIMEOUT_MS = 120_000;
const DRAIN_WAIT_MS = 30_000;

interface Member {
  n: number;
  gw: GatewayProcess;
  recorders: readonly DeviceRecorder[];
  wipes: WipeRecord[];
  healthUrl: string;
}

type Mark = (label: string) => void;

function acked(m: Member): Record<string, Range[]> {
  return Object.fromEntries(m.recorders.map((r) => [r.id, r.acked.map(([a, b]) => [a, b] as Range)]));
}

const pause = (s: number | undefined): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, (s ?? 0) * 1000)));

/** SIGKILL, the volume (the gateway's `data` dir) deleted, started again with the same id on the empty volume. */
async function wipe(m: Member, s: Step, started: number, mark: Mark): Promise<void> {
  const ackedAtRead = acked(m);
  const backlog = (await healthGauges(m.healthUrl)).backlogRecords ?? null;
  const epochBefore = readyInfo(m.gw.output)?.epoch ?? null;
  const at = Date.now() - started;
  mark(`gateway ${m.n} SIGKILL, volume wiped${backlog === null ? '' : ` (backlog ${backlog})`}`);
  await m.gw.kill('SIGKILL');
  await rm(join(m.gw.dataDir, 'data'), { recursive: true, force: true });
  // Every acknowledgement the old process sent has been read by now: its sockets closed with it.
  await pause(Math.max(0.2, s.for ?? 0));
  const ackedAtRestart = acked(m);
  await m.gw.start(START_TIMEOUT_MS);
  const epochAfter = readyInfo(m.gw.output)?.epoch ?? null;
  m.wipes.push({ at, backlogAtKill: backlog, ackedAtRead, ackedAtRestart, epochBefore, epochAfter });
  mark(`gateway ${m.n} up on an empty volume (epoch ${epochAfter})`);
}

async function runStep(s: Step, members: Member[], kafka: LocalKafka | undefined, started: number, mark: Mark) {
  const m = s.gateway !== undefined ? members[s.gateway - 1] : undefined;
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${s.do} needs ${what}`);
    return v;
  };
  switch (s.do) {
    case 'volume-wipe':
      return wipe(need(m, 'gateway: N'), s, started, mark);
    case 'gateway-kill': {
      const g = need(m, 'gateway: N');
      mark(`gateway ${g.n} SIGKILL`);
      await g.gw.kill('SIGKILL');
      await pause(s.for);
      await g.gw.start(START_TIMEOUT_MS);
      return mark(`gateway ${g.n} up`);
    }
    case 'gateway-stop': {
      const g = need(m, 'gateway: N');
      mark(`gateway ${g.n} SIGTERM`);
      return g.gw.kill('SIGTERM');
    }
    case 'gateway-start': {
      const g = need(m, 'gateway: N');
      await g.gw.start(START_TIMEOUT_MS);
      return mark(`gateway ${g.n} up`);
    }
    case 'kafka-stop':
      mark('kafka stop');
      return need(kafka, 'kafka: local').stop();
    case 'kafka-kill':
      mark('kafka SIGKILL');
      return need(kafka, 'kafka: local').kill();
    case 'kafka-start':
      mark('kafka start');
      await need(kafka, 'kafka: local').restart();
      return mark('kafka up');
    default:
      throw new Error(`${s.do} is not run on a fleet of gateways`);
  }
}

async function runSteps(steps: Step[], members: Member[], kafka: LocalKafka | undefined, started: number, mark: Mark) {
  for (const s of steps) {
    await pause((started + s.at * 1000 - Date.now()) / 1000);
    await runStep(s, members, kafka, started, mark);
  }
}

/** Creates the gateways into `members` (so a failed start still closes those created) and starts them. */
async function startMembers(sc: Scenario, brokers: string[], sameId: boolean, members: Member[], log: Mark) {
  for (let n = 1; n <= (sc.gateways ?? 0); n++) {
    const gw = await GatewayProcess.create({
      supervise: true,
      env: {
        // As on balena: the gateway's id is its device's UUID unless the config sets one.
        GATEWAY_GATEWAY_ID: sameId ? SHARED_ID : '',
        BALENA_DEVICE_UUID: randomBytes(16).toString('hex'),
        GATEWAY_KAFKA_BROKERS: brokers.join(','),
        ...sc.gateway.env,
      },
      ...(sc.gateway.config !== undefined ? { configYaml: sc.gateway.config } : {}),
    });
    members.push({ n, gw, recorders: [], wipes: [], healthUrl: `http://127.0.0.1:${gw.httpPort}/healthz` });
  }
  // One at a time: five Node.js starts at once on a small box time each other out.
  for (const m of members) {
    await m.gw.start(START_TIMEOUT_MS);
    log(`gateway ${m.n}: ${m.gw.url}, data ${m.gw.dataDir}`);
  }
}

/** The devices of every gateway under one run id, while the steps run; one merged ledger. */
async function load(
  sc: Scenario,
  members: Member[],
  kafka: LocalKafka | undefined,
  opts: ChaosOptions,
  started: number,
  mark: Mark,
  log: Mark,
): Promise<{ ledger: Ledger; samples: ProgressSample[][] }> {
  const runId = randomBytes(6).toString('hex');
  const progress = opts.quiet
    ? undefined
    : setInterval(() => {
        const per = members.map((m) => `${m.n}: ${m.recorders.reduce((a, r) => a + r.ackedCount, 0)}`);
        log(`[${((Date.now() - started) / 1000).toFixed(1)}s] acknowledged per gateway ${per.join(' · ')}`);
      }, 10_000);
  try {
    const fleets = members.map((m) =>
      runFleet({
        ...fleetOptions(sc),
        url: m.gw.url,
        quiet: true,
        runId,
        idPrefix: `gw${m.n}-`,
        onRecorders: (r) => {
          m.recorders = r;
        },
      }),
    );
    const [results] = await Promise.all([Promise.all(fleets), runSteps(sc.steps, members, kafka, started, mark)]);
    return {
      ledger: results.map((r) => r.ledger).reduce((a, b) => mergeLedgers(a, b)),
      samples: results.map((r) => r.samples),
    };
  } finally {
    clearInterval(progress);
  }
}

/** Whatever the steps left stopped is started again before counting. */
async function heal(members: Member[], kafka: LocalKafka | undefined, mark: Mark): Promise<void> {
  if (kafka && !kafka.running) {
    mark('kafka start (end of scenario)');
    await kafka.restart();
  }
  for (const m of members) {
    if (m.gw.running) continue;
    mark(`gateway ${m.n} start (end of scenario)`);
    await m.gw.start(START_TIMEOUT_MS);
  }
}

export interface GatewayFleetResult extends ChaosResult {
  gatewayFleet: GatewayFleetFigures;
}

export async function runGatewayFleet(
  sc: Scenario,
  brokers: string[],
  kafka: LocalKafka | undefined,
  opts: ChaosOptions,
  log: Mark,
): Promise<GatewayFleetResult> {
  const members: Member[] = [];
  try {
    await startMembers(sc, brokers, opts.sameId ?? false, members, log);
    return await measured(sc, members, brokers, kafka, opts, log);
  } finally {
    for (const m of members) await m.gw.close();
  }
}

async function measured(
  sc: Scenario,
  members: Member[],
  brokers: string[],
  kafka: LocalKafka | undefined,
  opts: ChaosOptions,
  log: Mark,
): Promise<GatewayFleetResult> {
  const events: ChaosEvent[] = [];
  const started = Date.now();
  const mark = (label: string): void => {
    const t = Date.now() - started;
    events.push({ t, label });
    log(`[${(t / 1000).toFixed(1)}s] ${label}`);
  };
  const samplers = members.map((m) =>
    sampleGauges({ healthUrl: m.healthUrl, pid: () => m.gw.pid, dataDir: join(m.gw.dataDir, 'data') }, started),
  );
  // The run's curves are those of the first gateway a step acts on (gateway 1 without one).
  const focus = (sc.steps.find((s) => s.gateway !== undefined)?.gateway ?? 1) - 1;
  let ledger: Ledger;
  let samples: ProgressSample[][];
  let report: VerifyReport;
  let records: readonly ObservedRecord[] = [];
  try {
    ({ ledger, samples } = await load(sc, members, kafka, opts, started, mark, log));
    await heal(members, kafka, mark);
    if (opts.ledger) await saveLedger(opts.ledger, ledger);
    log(`verifying ${sc.verify.topics.join(',')} …`);
    report = await runVerify({
      ledger,
      brokers,
      topics: sc.verify.topics,
      idleTimeoutMs: sc.verify.timeout * 1000,
      gatewayIds: true,
      onRecords: (r) => {
        records = r;
      },
    });
    await Promise.all(samplers.map((g) => g.drained(DRAIN_WAIT_MS)));
  } finally {
    for (const g of samplers) await g.stop();
  }
  const ids = await Promise.all(members.map(async (m) => String((await m.gw.health()).gatewayId ?? '')));
  const gatewayFleet = gatewayFleetFigures(
    ledger,
    records,
    members.map((m, i) => ({
      n: m.n,
      id: ids[i] ?? '',
      devices: m.recorders.map((r) => r.id),
      wipes: m.wipes,
    })),
  );
  const gauges = (samplers[focus] ?? (samplers[0] as GaugeSampler)).gauges;
  const figures = runFigures({ gauges, events, started, ledger, records });
  const checks = evaluateChecks(sc.checks, figures);
  return {
    scenario: sc.name,
    ledger,
    report,
    events,
    samples: samples[focus] ?? [],
    gauges,
    figures,
    checks,
    gatewayFleet,
    ok: gatewayFleet.ok && checks.every((c) => c.ok),
    gatewayStarts: members.reduce((a, m) => a + m.gw.starts, 0),
  };
}
