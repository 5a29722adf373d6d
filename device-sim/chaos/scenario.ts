// Chaos scenario files (YAML): the load to run, the timed faults, and the verify settings. Every problem is reported
// at once, each with its path, like the gateway's own config.
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { PROFILE_NAMES, type ProfileName } from '../profiles/index.ts';

export const ACTIONS = [
  'kafka-stop',
  'kafka-start',
  'kafka-kill',
  'gateway-kill',
  'gateway-stop',
  'gateway-start',
  'blackhole',
  'latency',
  'restore',
  'uplink-blackhole',
  'uplink-latency',
  'uplink-bandwidth',
  'uplink-netem',
  'uplink-restore',
  'disk-full',
  'disk-free',
] as const;
export type Action = (typeof ACTIONS)[number];

export interface Step {
  /** Seconds after the load started. */
  at: number;
  do: Action;
  /** For blackhole/latency: seconds until the link is restored; for gateway-kill: seconds until restart (default 0). */
  for?: number;
  /** For latency, uplink-latency, uplink-netem: ms added. */
  ms?: number;
  /** For uplink-netem: percent of packets lost. */
  loss?: number;
  /** For uplink-bandwidth: the cap in kbit/s. */
  kbit?: number;
}

export interface Scenario {
  name: string;
  /** Start a local Kafka from the harness (needed for kafka-* steps), or use these brokers. */
  kafka: { local: true } | { brokers: string[] };
  /**
   * relay: devices reach the gateway through a fault relay on loopback (device-link faults only).
   * namespace: the gateway runs in a network namespace of its own with veth links for the devices and for its Kafka
   * uplink, so uplink-* faults are real link faults (needs root).
   */
  network: 'relay' | 'namespace';
  gateway: { env: Record<string, string>; configYaml?: string };
  /** The gateway's data dir on a tmpfs of this size, so disk-full can fill it (needs root). */
  disk?: { sizeMb: number };
  fleet: {
    devices: number;
    profiles: ProfileName[];
    duration: number;
    interval?: number;
    qos: 0 | 1 | 2;
    inflight: number;
    offline: number;
    churn: number;
  };
  steps: Step[];
  verify: { topics: string[]; timeout: number };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function num(o: Obj, key: string, path: string, problems: string[], def?: number, min = 0): number {
  const v = o[key];
  if (v === undefined && def !== undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    problems.push(`${path}.${key}: expected a number >= ${min}${def === undefined ? ' (required)' : ''}`);
    return def ?? 0;
  }
  return v;
}

function unknownKeys(o: Obj, allowed: string[], path: string, problems: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) problems.push(`${path}.${k}: unknown key`);
}

export class ScenarioError extends Error {
  readonly code = 'SIM_ERR_SCENARIO';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

export function parseScenario(text: string): Scenario {
  const problems: string[] = [];
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ScenarioError([`not YAML: ${(err as Error).message}`]);
  }
  if (!isObj(raw)) throw new ScenarioError(['the scenario must be a YAML mapping']);
  unknownKeys(raw, ['name', 'kafka', 'network', 'gateway', 'disk', 'fleet', 'steps', 'verify'], 'scenario', problems);
  let disk: Scenario['disk'];
  if (raw.disk !== undefined) {
    if (!isObj(raw.disk)) problems.push('disk: expected { size_mb: <number> }');
    else {
      unknownKeys(raw.disk, ['size_mb'], 'disk', problems);
      disk = { sizeMb: num(raw.disk, 'size_mb', 'disk', problems, undefined, 8) };
    }
  }
  const network = raw.network ?? 'relay';
  if (network !== 'relay' && network !== 'namespace') problems.push('network: relay or namespace');

  let kafka: Scenario['kafka'] = { local: true };
  if (raw.kafka !== undefined && raw.kafka !== 'local') {
    if (isObj(raw.kafka) && Array.isArray(raw.kafka.brokers) && raw.kafka.brokers.every((b) => typeof b === 'string')) {
      kafka = { brokers: raw.kafka.brokers as string[] };
    } else problems.push('kafka: "local" or { brokers: [host:port, …] }');
  }

  const gw = isObj(raw.gateway) ? raw.gateway : {};
  if (raw.gateway !== undefined && !isObj(raw.gateway)) problems.push('gateway: expected a mapping');
  unknownKeys(gw, ['env', 'config'], 'gateway', problems);
  const env: Record<string, string> = {};
  if (gw.env !== undefined) {
    if (!isObj(gw.env)) problems.push('gateway.env: expected a mapping');
    else for (const [k, v] of Object.entries(gw.env)) env[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  if (gw.config !== undefined && typeof gw.config !== 'string') problems.push('gateway.config: expected YAML text');

  const f = isObj(raw.fleet) ? raw.fleet : {};
  unknownKeys(
    f,
    ['devices', 'profiles', 'duration', 'interval', 'qos', 'inflight', 'offline', 'churn'],
    'fleet',
    problems,
  );
  let profiles: ProfileName[] = [...PROFILE_NAMES];
  if (f.profiles !== undefined) {
    if (!Array.isArray(f.profiles) || !f.profiles.every((p) => PROFILE_NAMES.includes(p as ProfileName))) {
      problems.push(`fleet.profiles: a list of ${PROFILE_NAMES.join('|')}`);
    } else profiles = f.profiles as ProfileName[];
  }
  const qos = num(f, 'qos', 'fleet', problems, 1);
  if (![0, 1, 2].includes(qos)) problems.push('fleet.qos: 0, 1 or 2');
  const fleet: Scenario['fleet'] = {
    devices: num(f, 'devices', 'fleet', problems, 20, 1),
    profiles,
    duration: num(f, 'duration', 'fleet', problems, 60, 1),
    qos: qos as 0 | 1 | 2,
    inflight: num(f, 'inflight', 'fleet', problems, 5, 1),
    offline: num(f, 'offline', 'fleet', problems, 0),
    churn: num(f, 'churn', 'fleet', problems, 0),
    ...(f.interval !== undefined ? { interval: num(f, 'interval', 'fleet', problems, 1000, 1) } : {}),
  };

  const steps: Step[] = [];
  if (raw.steps !== undefined && !Array.isArray(raw.steps)) problems.push('steps: expected a list');
  for (const [i, s] of (Array.isArray(raw.steps) ? raw.steps : []).entries()) {
    const path = `steps[${i}]`;
    if (!isObj(s)) {
      problems.push(`${path}: expected a mapping`);
      continue;
    }
    unknownKeys(s, ['at', 'do', 'for', 'ms', 'loss', 'kbit'], path, problems);
    if (!ACTIONS.includes(s.do as Action)) {
      problems.push(`${path}.do: one of ${ACTIONS.join('|')}`);
      continue;
    }
    const step: Step = { at: num(s, 'at', path, problems), do: s.do as Action };
    if (s.for !== undefined) step.for = num(s, 'for', path, problems);
    if (step.do === 'latency' || step.do === 'uplink-latency' || step.do === 'uplink-netem') {
      step.ms = num(s, 'ms', path, problems, step.do === 'uplink-netem' ? 0 : undefined);
    }
    if (step.do === 'uplink-netem') step.loss = num(s, 'loss', path, problems, 0);
    if (step.do === 'uplink-bandwidth') step.kbit = num(s, 'kbit', path, problems, undefined, 1);
    if (step.do.startsWith('disk-') && !disk) problems.push(`${path}.do: ${step.do} needs disk: { size_mb: … }`);
    if (step.do.startsWith('uplink-') && network !== 'namespace') {
      problems.push(`${path}.do: ${step.do} needs network: namespace`);
    }
    if (step.do.startsWith('kafka-') && !('local' in kafka)) problems.push(`${path}.do: ${step.do} needs kafka: local`);
    if (step.at > fleet.duration) problems.push(`${path}.at: after the fleet stops (duration ${fleet.duration} s)`);
    steps.push(step);
  }
  steps.sort((a, b) => a.at - b.at);

  const v = isObj(raw.verify) ? raw.verify : {};
  unknownKeys(v, ['topics', 'timeout'], 'verify', problems);
  let topics = ['edge.uplink'];
  if (v.topics !== undefined) {
    if (!Array.isArray(v.topics) || !v.topics.every((t) => typeof t === 'string')) {
      problems.push('verify.topics: a list of Kafka topics');
    } else topics = v.topics as string[];
  }
  const timeout = num(v, 'timeout', 'verify', problems, 60, 1);
  if (problems.length) throw new ScenarioError(problems);
  return {
    name: typeof raw.name === 'string' ? raw.name : 'chaos',
    kafka,
    network: network as Scenario['network'],
    ...(disk ? { disk } : {}),
    gateway: { env, ...(typeof gw.config === 'string' ? { configYaml: gw.config } : {}) },
    fleet,
    steps,
    verify: { topics, timeout },
  };
}

export async function loadScenario(path: string): Promise<Scenario> {
  return parseScenario(await readFile(path, 'utf8'));
}
