// Chaos scenario files (YAML): the load to run, the timed faults, and the verify settings. One TypeBox schema
// validates the file and gives the Scenario type; every problem is reported at once, one line each with its path,
// like the gateway's own config. Checks the schema cannot express (what a step needs) are in stepProblems.
import { readFile } from 'node:fs/promises';
import { type Static, type StaticDecode, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse } from 'yaml';
import { PROFILE_NAMES, type ProfileName } from '../profiles/index.ts';
import { GATEWAY_STEP_KEYS, GATEWAYS_KEY, gatewayStepProblems, gatewaysProblems } from './fleet-keys.ts';
import { schemaProblems } from './schema-problems.ts';
import { linksProblems, TOXIC_STEP_KEYS, toxicKeys, toxicStepProblems } from './toxic-keys.ts';

const ActionLiterals = Type.Union([
  Type.Literal('kafka-stop'),
  Type.Literal('kafka-start'),
  Type.Literal('kafka-kill'),
  Type.Literal('gateway-kill'),
  Type.Literal('gateway-stop'),
  Type.Literal('gateway-start'),
  Type.Literal('volume-wipe'),
  Type.Literal('blackhole'),
  Type.Literal('latency'),
  Type.Literal('restore'),
  Type.Literal('uplink-blackhole'),
  Type.Literal('uplink-latency'),
  Type.Literal('uplink-bandwidth'),
  Type.Literal('uplink-netem'),
  Type.Literal('uplink-restore'),
  Type.Literal('disk-full'),
  Type.Literal('disk-free'),
  Type.Literal('power-cut'),
  Type.Literal('broker-kill'),
  Type.Literal('broker-stop'),
  Type.Literal('broker-start'),
  Type.Literal('toxic'),
  Type.Literal('toxic-clear'),
]);
export const ACTIONS = ActionLiterals.anyOf.map((l) => l.const);
const ActionSchema = Type.Union(ActionLiterals.anyOf, { errorMessage: `one of ${ACTIONS.join('|')}` });
export type Action = (typeof ACTIONS)[number];

/** A number >= min; the message says `(required)` when the key has no default. */
const Num = (min: number, options: { default?: number; required?: boolean; description?: string } = {}) =>
  Type.Number({
    minimum: min,
    ...options,
    errorMessage: `expected a number >= ${min}${options.required ? ' (required)' : ''}`,
  });

const StepSchema = Type.Object(
  {
    at: Num(0, { required: true, description: 'seconds after the load started' }),
    do: ActionSchema,
    for: Type.Optional(
      Num(0, {
        description:
          'blackhole/latency/uplink-*/disk-full: seconds until undone; gateway-kill, volume-wipe: until restart; ' +
          'power-cut: seconds the power stays off',
      }),
    ),
    every: Type.Optional(Num(1, { description: 'seconds between repeats of the step' })),
    count: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'how many times (with every); every alone repeats until the fleet stops',
        errorMessage: 'expected a whole number >= 1',
      }),
    ),
    ms: Type.Optional(Num(0, { description: 'latency, uplink-latency, uplink-netem: ms added' })),
    loss: Type.Optional(Num(0, { description: 'uplink-netem: percent of packets lost' })),
    broker: Type.Optional(
      Type.Union([Type.Literal('leader'), Type.Literal('all'), Type.Integer({ minimum: 1, maximum: 3 })], {
        description: 'broker-kill/stop: leader or a node id; broker-start: a node id or all',
        errorMessage: 'leader, all or a node id 1-3',
      }),
    ),
    kbit: Type.Optional(Num(1, { description: 'uplink-bandwidth, toxic bandwidth: the cap in kbit/s' })),
    ...TOXIC_STEP_KEYS,
    ...GATEWAY_STEP_KEYS,
  },
  { additionalProperties: false, errorMessage: 'expected a mapping' },
);

/** Start a local Kafka from the harness (needed for kafka-* steps), a 3-broker cluster (broker-* steps), or use
 * these brokers. */
const KafkaSchema = Type.Transform(
  Type.Union(
    [
      Type.Literal('local'),
      Type.Object({ brokers: Type.Array(Type.String()) }),
      Type.Object({ cluster: Type.Literal(3) }, { additionalProperties: false }),
    ],
    { default: 'local', errorMessage: '"local", { brokers: [host:port, …] } or { cluster: 3 }' },
  ),
)
  .Decode((k): { local: true } | { brokers: string[] } | { cluster: 3 } => (k === 'local' ? { local: true } : k))
  .Encode((k) => ('local' in k ? 'local' : k));

/** Any GATEWAY_* settings; values that are not text are given as JSON. */
const EnvSchema = Type.Transform(
  Type.Record(Type.String(), Type.Unknown(), { default: {}, errorMessage: 'expected a mapping' }),
)
  .Decode((env) =>
    Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
  )
  .Encode((env): Record<string, unknown> => env);

// A tuple of literals (not a mapped list), so the decoded type keeps the names; checked against ProfileName below.
const ProfileSchema = Type.Union([
  Type.Literal('door-lock'),
  Type.Literal('vehicle'),
  Type.Literal('factory-sensor'),
  Type.Literal('logistics-tracker'),
]);
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
/** Fails to compile when a profile is added or renamed without the schema. @public */
export type ProfileSchemaMatches = Assert<Same<Static<typeof ProfileSchema>, ProfileName>>;

const FleetSchema = Type.Object(
  {
    profiles: Type.Array(ProfileSchema, {
      default: [...PROFILE_NAMES],
      errorMessage: `a list of ${PROFILE_NAMES.join('|')}`,
    }),
    qos: Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)], { default: 1, errorMessage: '0, 1 or 2' }),
    devices: Num(1, { default: 20 }),
    duration: Num(1, { default: 60, description: 'seconds' }),
    inflight: Num(1, { default: 5 }),
    offline: Num(0, { default: 0, description: "scale of the profiles' offline periods" }),
    churn: Num(0, { default: 0 }),
    interval: Type.Optional(Num(1, { description: 'ms between ticks per device' })),
  },
  { additionalProperties: false, default: {}, errorMessage: 'expected a mapping' },
);

/**
 * The gateway's data dir on a disk of the tool's. tmpfs (the default kind): a tmpfs of size_mb, so disk-full can fill
 * it. powercut: the FUSE file system that forgets every write not yet fsync'd, so power-cut can cut the power. Both
 * need root (mount).
 */
const DiskSchema = Type.Transform(
  Type.Object(
    {
      kind: Type.Union([Type.Literal('tmpfs'), Type.Literal('powercut')], {
        default: 'tmpfs',
        errorMessage: 'tmpfs or powercut',
      }),
      size_mb: Type.Optional(Num(8, { description: 'tmpfs: its size (required)' })),
    },
    { additionalProperties: false, errorMessage: 'expected { size_mb: <number> } or { kind: powercut }' },
  ),
)
  .Decode((d): { kind: 'tmpfs'; size_mb: number } | { kind: 'powercut' } =>
    d.kind === 'powercut' ? { kind: 'powercut' } : { kind: 'tmpfs', size_mb: d.size_mb ?? 8 },
  )
  .Encode((d) => d);

export const ScenarioSchema = Type.Object(
  {
    name: Type.String({ default: 'chaos', errorMessage: 'expected a string' }),
    gateways: GATEWAYS_KEY,
    disk: Type.Optional(DiskSchema),
    /**
     * relay: devices reach the gateway through a fault relay on loopback (device-link faults only).
     * namespace: the gateway runs in a network namespace of its own with veth links for the devices and for its
     * Kafka uplink, so uplink-* faults are real link faults (needs root).
     */
    network: Type.Union([Type.Literal('relay'), Type.Literal('namespace')], {
      default: 'relay',
      errorMessage: 'relay or namespace',
    }),
    /** relay: the fault relay on the device link (above). toxiproxy: Toxiproxy on the device link and on the link
     * to a local Kafka (toxic steps). */
    links: Type.Union([Type.Literal('relay'), Type.Literal('toxiproxy')], {
      default: 'relay',
      errorMessage: 'relay or toxiproxy',
    }),
    kafka: KafkaSchema,
    gateway: Type.Object(
      { env: EnvSchema, config: Type.Optional(Type.String({ errorMessage: 'expected YAML text' })) },
      { additionalProperties: false, default: {}, errorMessage: 'expected a mapping' },
    ),
    fleet: FleetSchema,
    steps: Type.Array(StepSchema, { default: [], errorMessage: 'expected a list' }),
    /** Bounds on the run's figures; only the ones given decide the exit code besides the verify. */
    checks: Type.Optional(
      Type.Object(
        {
          drain_eta_error_pct: Type.Optional(
            Num(0, { description: 'the ETA at 25/50/75 % of the drain within ± this share of the time left' }),
          ),
          disk_within_budget: Type.Optional(
            Type.Boolean({ description: 'the data dir on disk never above the budget', errorMessage: 'true or false' }),
          ),
          rss_max_mb: Type.Optional(Num(1, { description: "the gateway's peak RSS in MB" })),
          stall_within_s: Type.Optional(
            Num(1, { description: 'a timeout toxic on the kafka link: /healthz says stalled within this many s' }),
          ),
          drain_moves_on_slow_links: Type.Optional(
            Type.Boolean({
              description: 'records reach Kafka during every latency/bandwidth toxic on the kafka link',
              errorMessage: 'true or false',
            }),
          ),
        },
        { additionalProperties: false, errorMessage: 'expected a mapping' },
      ),
    ),
    verify: Type.Object(
      {
        topics: Type.Array(Type.String(), { default: ['edge.uplink'], errorMessage: 'a list of Kafka topics' }),
        timeout: Num(1, { default: 60, description: 'seconds without new records before giving up' }),
      },
      { additionalProperties: false, default: {}, errorMessage: 'expected a mapping' },
    ),
  },
  { additionalProperties: false, errorMessage: 'the scenario must be a YAML mapping' },
);

export type Scenario = StaticDecode<typeof ScenarioSchema>;
export type Step = Scenario['steps'][number];

export class ScenarioError extends Error {
  readonly code = 'SIM_ERR_SCENARIO';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

/** Keys a step's action reads besides at, do and for: 0 = defaults to 0, 'required' = must be given. */
const STEP_KEYS: Partial<Record<Action, Partial<Record<'ms' | 'loss' | 'kbit', 0 | 'required'>>>> = {
  latency: { ms: 'required' },
  'uplink-latency': { ms: 'required' },
  'uplink-netem': { ms: 0, loss: 0 },
  'uplink-bandwidth': { kbit: 'required' },
};

const isAction = (v: unknown): v is Action => ACTIONS.some((a) => a === v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface StepContext {
  /** The disk's kind ('tmpfs' when given without one), undefined without a disk. */
  disk: unknown;
  network: unknown;
  kafka: unknown;
  links: unknown;
  gateways: unknown;
  duration: number;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** A repeated step (every, count): count needs every, each `for` ends before the next repeat, the last one in time. */
function repeatProblems(s: Record<string, unknown>, path: string, c: StepContext): string[] {
  const [at, every, count, dur] = [num(s.at), num(s.every), num(s.count), num(s.for)];
  const out: string[] = [];
  if (every === undefined) {
    if (count !== undefined && count > 1) out.push(`${path}.every: expected a number >= 1 (required with count)`);
    return out;
  }
  if (dur !== undefined && dur >= every) out.push(`${path}.for: not shorter than every (${every} s)`);
  if (at !== undefined && count !== undefined && Number.isInteger(count)) {
    const last = at + every * (count - 1);
    if (at <= c.duration && last > c.duration) {
      out.push(`${path}.count: the last one (at ${last} s) is after the fleet stops (duration ${c.duration} s)`);
    }
  }
  return out;
}

/** A broker-* step: a cluster, and a target its action takes (kill/stop: leader or N; start: N or all). */
function brokerProblems(s: Record<string, unknown>, action: Action, path: string, c: StepContext): string[] {
  if (!action.startsWith('broker-')) return [];
  const out: string[] = [];
  if (!(isObj(c.kafka) && c.kafka.cluster === 3)) out.push(`${path}.do: ${action} needs kafka: { cluster: 3 }`);
  const start = action === 'broker-start';
  const want = start ? 'a node id 1-3 or all' : 'leader or a node id 1-3';
  if (s.broker === undefined) out.push(`${path}.broker: ${want} (required)`);
  else if (s.broker === (start ? 'leader' : 'all')) out.push(`${path}.broker: ${action} takes ${want}`);
  return out;
}

/** What a step needs that its own keys cannot say: a disk, the namespace, a local Kafka, a time inside the run. */
function stepProblems(s: unknown, path: string, c: StepContext): string[] {
  if (!isObj(s) || !isAction(s.do)) return [];
  const action = s.do;
  const out: string[] = [];
  for (const [key, rule] of Object.entries(STEP_KEYS[action] ?? {})) {
    if (rule === 'required' && s[key] === undefined) {
      out.push(`${path}.${key}: expected a number >= ${key === 'kbit' ? 1 : 0} (required)`);
    }
  }
  if (action.startsWith('disk-') && c.disk !== 'tmpfs') out.push(`${path}.do: ${action} needs disk: { size_mb: … }`);
  if (action === 'power-cut' && c.disk !== 'powercut') {
    out.push(`${path}.do: power-cut needs disk: { kind: powercut }`);
  }
  if (action.startsWith('uplink-') && c.network !== 'namespace') {
    out.push(`${path}.do: ${action} needs network: namespace`);
  }
  if (action.startsWith('kafka-') && c.kafka !== 'local') out.push(`${path}.do: ${action} needs kafka: local`);
  out.push(...brokerProblems(s, action, path, c));
  if (typeof s.at === 'number' && s.at > c.duration) {
    out.push(`${path}.at: after the fleet stops (duration ${c.duration} s)`);
  }
  out.push(...repeatProblems(s, path, c));
  out.push(...toxicStepProblems(s, path, c));
  out.push(...gatewayStepProblems(s, path, c.gateways));
  return out;
}

/** What one key of the disk needs from the other: a tmpfs its size, the power-cut disk none. */
function diskProblems(disk: unknown): string[] {
  if (!isObj(disk)) return [];
  if (disk.kind === 'tmpfs' && disk.size_mb === undefined) return ['disk.size_mb: expected a number >= 8 (required)'];
  if (disk.kind === 'powercut' && disk.size_mb !== undefined) return ['disk.size_mb: only with kind: tmpfs'];
  return [];
}

/** Where a problem's path sorts: the file's key order, steps by index, so the list reads like the file. */
function problemOrder(problem: string): [number, number] {
  const keys = Object.keys(ScenarioSchema.properties);
  const m = /^(\w+)(?:\[(\d+)\])?/.exec(problem);
  const top = m?.[1] ?? '';
  return [top === 'scenario' ? -1 : keys.indexOf(top), Number(m?.[2] ?? 0)];
}

function allProblems(value: unknown): string[] {
  const problems = schemaProblems(ScenarioSchema, value);
  if (isObj(value)) problems.push(...diskProblems(value.disk), ...linksProblems(value), ...gatewaysProblems(value));
  if (isObj(value) && Array.isArray(value.steps)) {
    const fleet = isObj(value.fleet) ? value.fleet : {};
    const c: StepContext = {
      disk: isObj(value.disk) ? value.disk.kind : undefined,
      network: value.network,
      kafka: value.kafka,
      links: value.links,
      gateways: value.gateways,
      duration: typeof fleet.duration === 'number' ? fleet.duration : 60,
    };
    for (const [i, s] of value.steps.entries()) problems.push(...stepProblems(s, `steps[${i}]`, c));
  }
  return problems
    .map((p, i) => ({ p, i, o: problemOrder(p) }))
    .sort((a, b) => a.o[0] - b.o[0] || a.o[1] - b.o[1] || a.i - b.i)
    .map((x) => x.p);
}

/** The keys the step's action reads, with their defaults; other keys of the step (and every, count) are dropped. */
function normaliseStep(s: Step): Step {
  const keys = STEP_KEYS[s.do] ?? {};
  const pick = (k: 'ms' | 'loss' | 'kbit', v: number | undefined): { [key: string]: number } => {
    const n = keys[k] === undefined ? undefined : (v ?? (keys[k] === 0 ? 0 : undefined));
    return n === undefined ? {} : { [k]: n };
  };
  return {
    at: s.at,
    do: s.do,
    ...(s.for !== undefined ? { for: s.for } : {}),
    ...pick('ms', s.ms),
    ...pick('loss', s.loss),
    ...pick('kbit', s.kbit),
    ...(s.do.startsWith('broker-') && s.broker !== undefined ? { broker: s.broker } : {}),
    ...toxicKeys(s),
    ...(s.gateway !== undefined ? { gateway: s.gateway } : {}),
  };
}

/** A step with `every` as its repeats: `count` of them, or as many as start before the fleet stops. */
function expandStep(s: Step, duration: number): Step[] {
  const one = normaliseStep(s);
  if (s.every === undefined) return [one];
  const every = s.every;
  // The epsilon keeps a repeat that lands exactly on the fleet's end despite float steps (0.1 s × 30).
  const n = s.count ?? Math.floor((duration - s.at) / every + 1e-9) + 1;
  return Array.from({ length: n }, (_, k) => ({ ...one, at: Math.round((s.at + k * every) * 1000) / 1000 }));
}

export function parseScenario(text: string): Scenario {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ScenarioError([`not YAML: ${err instanceof Error ? err.message : String(err)}`]);
  }
  if (!isObj(raw)) throw new ScenarioError(['the scenario must be a YAML mapping']);
  const value = Value.Default(ScenarioSchema, raw);
  const problems = allProblems(value);
  if (problems.length) throw new ScenarioError(problems);
  const sc = Value.Decode(ScenarioSchema, value);
  const steps = sc.steps.flatMap((s) => expandStep(s, sc.fleet.duration)).sort((a, b) => a.at - b.at);
  return { ...sc, steps };
}

export async function loadScenario(path: string): Promise<Scenario> {
  return parseScenario(await readFile(path, 'utf8'));
}
