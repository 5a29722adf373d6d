// The gateway's gauges during a chaos run, once a second: its process RSS and the anonymous part of it (/proc/<pid>/
// status: RssAnon leaves out the file pages LevelDB maps to read its tables, which the kernel can take back), its data
// dir's bytes
// on disk, and from /healthz the outbox backlog (records, bytes, the classes' budget), the in/out rates and the drain
// ETA. Series are kept column-wise and bounded: at `maxPoints` neighbouring points are merged pairwise (levels keep
// the pair's maximum, rates and the ETA the later value), so a long run costs at most maxPoints per series.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const GAUGE_KEYS = [
  'rssBytes',
  'anonBytes',
  'diskBytes',
  'backlogBytes',
  'budgetBytes',
  'backlogRecords',
  'inRate',
  'outRate',
  'drainEtaSec',
] as const;
export type GaugeKey = (typeof GAUGE_KEYS)[number];
/** Merged by maximum when the series are halved; the others keep the later value. */
const LEVELS = new Set<GaugeKey>([
  'rssBytes',
  'anonBytes',
  'diskBytes',
  'backlogBytes',
  'budgetBytes',
  'backlogRecords',
]);

export type GaugeValues = Record<GaugeKey, number | null>;

export interface Gauges {
  /** ms between points (doubles each time the series are halved). */
  everyMs: number;
  /** ms since the load started, one per point. */
  t: number[];
  /** null: not readable then (the gateway down, /healthz not answering). */
  series: Record<GaugeKey, (number | null)[]>;
  /** The gateway's RSS at full resolution: the first and last reading and the highest. */
  rss: Level;
  /** The anonymous part of the RSS (RssAnon: the process's own memory, without mapped file pages), likewise. */
  anon: Level;
}

export interface Level {
  first: number | null;
  peak: number | null;
  last: number | null;
}

function track(l: Level, v: number | null): void {
  if (v === null) return;
  l.first ??= v;
  l.peak = Math.max(l.peak ?? 0, v);
  l.last = v;
}

const emptyValues = (): GaugeValues => Object.fromEntries(GAUGE_KEYS.map((k) => [k, null])) as unknown as GaugeValues;

function merge(a: GaugeValues, b: GaugeValues): GaugeValues {
  const out = emptyValues();
  for (const k of GAUGE_KEYS) {
    const x = a[k];
    const y = b[k];
    out[k] = LEVELS.has(k) ? (x === null ? y : y === null ? x : Math.max(x, y)) : (y ?? x);
  }
  return out;
}

/** Bounded column-wise series: points beyond maxPoints halve the resolution instead of growing. */
export class GaugeSeries {
  readonly gauges: Gauges;
  private readonly maxPoints: number;
  private stride = 1;
  private pending: { t: number; v: GaugeValues; n: number } | undefined;

  constructor(maxPoints = 2000, everyMs = 1000) {
    this.maxPoints = Math.max(2, maxPoints);
    this.gauges = {
      everyMs,
      t: [],
      series: Object.fromEntries(GAUGE_KEYS.map((k) => [k, []])) as unknown as Gauges['series'],
      rss: { first: null, peak: null, last: null },
      anon: { first: null, peak: null, last: null },
    };
  }

  push(t: number, v: GaugeValues): void {
    track(this.gauges.rss, v.rssBytes);
    track(this.gauges.anon, v.anonBytes);
    this.pending = this.pending
      ? { t: this.pending.t, v: merge(this.pending.v, v), n: this.pending.n + 1 }
      : { t, v, n: 1 };
    if (this.pending.n < this.stride) return;
    this.append(this.pending.t, this.pending.v);
    this.pending = undefined;
  }

  /** The last partial point, so the series end where the run ended. */
  flush(): void {
    if (this.pending) this.append(this.pending.t, this.pending.v);
    this.pending = undefined;
  }

  private append(t: number, v: GaugeValues): void {
    const g = this.gauges;
    g.t.push(t);
    for (const k of GAUGE_KEYS) g.series[k].push(v[k]);
    if (g.t.length >= this.maxPoints) this.halve();
  }

  private halve(): void {
    const g = this.gauges;
    const n = Math.floor(g.t.length / 2);
    const at = (i: number): GaugeValues => {
      const v = emptyValues();
      for (const k of GAUGE_KEYS) v[k] = g.series[k][i] ?? null;
      return v;
    };
    const merged = Array.from({ length: n }, (_, i) => merge(at(2 * i), at(2 * i + 1)));
    const odd = g.t.length % 2 === 1 ? at(g.t.length - 1) : undefined;
    g.t = [...Array.from({ length: n }, (_, i) => g.t[2 * i]!), ...(odd ? [g.t[g.t.length - 1]!] : [])];
    for (const k of GAUGE_KEYS) g.series[k] = [...merged.map((v) => v[k]), ...(odd ? [odd[k]] : [])];
    this.stride *= 2;
    g.everyMs *= 2;
  }
}

/** VmRSS and RssAnon of a process in bytes, null when it is not running. */
export async function processMemory(pid: number | undefined): Promise<{ rss: number | null; anon: number | null }> {
  if (pid === undefined) return { rss: null, anon: null };
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number | null => {
      const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
      return m ? Number(m[1]) * 1024 : null;
    };
    return { rss: kb('VmRSS'), anon: kb('RssAnon') };
  } catch {
    return { rss: null, anon: null };
  }
}

/** Bytes a directory's files take on disk (allocated blocks), like `du -s`; null when it cannot be read. */
export async function diskUsage(dir: string): Promise<number | null> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    let bytes = 0;
    for (const e of entries) {
      if (!e.isFile()) continue;
      // A file LevelDB deletes between the listing and the stat counts as 0.
      const s = await stat(join(e.parentPath, e.name)).catch(() => undefined);
      if (s) bytes += s.blocks * 512;
    }
    return bytes;
  } catch {
    return null;
  }
}

interface HealthBacklog {
  records?: number;
  bytes?: number;
  inRate?: number;
  outRate?: number;
  drainEtaSec?: number | null;
  classes?: Record<string, { budgetBytes?: number }>;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The backlog gauges from the gateway's /healthz (its `backlog` section); nulls while it does not answer. */
export async function healthGauges(healthUrl: string): Promise<Partial<GaugeValues>> {
  try {
    const res = await fetch(healthUrl, { signal: AbortSignal.timeout(800) });
    const b = ((await res.json()) as { backlog?: HealthBacklog }).backlog;
    if (!b) return {};
    const budgets = Object.values(b.classes ?? {}).map((c) => num(c.budgetBytes));
    return {
      backlogRecords: num(b.records),
      backlogBytes: num(b.bytes),
      budgetBytes: budgets.length && budgets.every((x) => x !== null) ? budgets.reduce((s, x) => s! + x!, 0) : null,
      inRate: num(b.inRate),
      outRate: num(b.outRate),
      drainEtaSec: num(b.drainEtaSec),
    };
  } catch {
    return {};
  }
}

export interface GaugeTarget {
  healthUrl: string;
  /** The gateway's pid now (it changes when the gateway is restarted). */
  pid: () => number | undefined;
  dataDir: string;
}

export interface GaugeSampler {
  gauges: Gauges;
  /** Resolves at the first sample with an empty backlog, or after timeoutMs. */
  drained: (timeoutMs: number) => Promise<boolean>;
  stop: () => Promise<Gauges>;
}

/** Samples the gauges every `everyMs` from `started` (the load's start) until stopped. */
export function sampleGauges(target: GaugeTarget, started: number, everyMs = 1000, maxPoints = 2000): GaugeSampler {
  const series = new GaugeSeries(maxPoints, everyMs);
  let sampling = true;
  let waiters: (() => void)[] = [];
  const sampler = (async () => {
    while (sampling) {
      const t = Date.now() - started;
      const [health, mem, diskBytes] = await Promise.all([
        healthGauges(target.healthUrl),
        processMemory(target.pid()),
        diskUsage(target.dataDir),
      ]);
      const v: GaugeValues = { ...emptyValues(), ...health, rssBytes: mem.rss, anonBytes: mem.anon, diskBytes };
      series.push(t, v);
      if (v.backlogRecords === 0) for (const w of waiters.splice(0)) w();
      await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (Date.now() - started - t))));
    }
  })();
  return {
    gauges: series.gauges,
    drained: (timeoutMs) =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== done);
          resolve(false);
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          resolve(true);
        };
        waiters.push(done);
      }),
    stop: async () => {
      sampling = false;
      await sampler;
      for (const w of waiters.splice(0)) w();
      series.flush();
      return series.gauges;
    },
  };
}
