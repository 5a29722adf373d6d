// The benchmarks' machine-readable output (`./gw bench --json FILE`): every row of the table, with the reference it
// is compared with and the ratio, plus the machine it ran on.
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

export interface JsonRow {
  name: string;
  value: number;
  unit: string;
  /** The same measure of a reference taken in the same run. */
  baseline?: { name: string; value: number };
  /** value / baseline.value */
  ratio?: number;
}

export interface Machine {
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  /** ISO 8601, when the run started. */
  date: string;
  /** 1, 5 and 15 minute load averages when the run started: other work on the machine. */
  loadavg: number[];
  /** The same when the run ended (set by the benchmark). */
  loadavgAtEnd?: number[];
  /** The 1-minute load average sampled every 10 s during the run (set by the benchmark). */
  loadDuringRun?: { mean: number; max: number };
}

export function machine(start = new Date()): Machine {
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown CPU',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    date: start.toISOString(),
    loadavg: loadAverage(),
  };
}

export function loadAverage(): number[] {
  return loadavg().map((l) => Math.round(l * 100) / 100);
}

/** Samples the 1-minute load average every `ms` until the returned function is called, which gives mean and max. */
export function sampleLoad(ms = 10_000): () => { mean: number; max: number } {
  const xs: number[] = [loadavg()[0] ?? 0];
  const t = setInterval(() => xs.push(loadavg()[0] ?? 0), ms);
  t.unref();
  return () => {
    clearInterval(t);
    const round = (n: number): number => Math.round(n * 100) / 100;
    return { mean: round(xs.reduce((a, b) => a + b, 0) / xs.length), max: round(Math.max(...xs)) };
  };
}

/** A row compared with a reference: the ratio is value / reference (undefined for a reference of 0). */
export function compared(
  name: string,
  value: number,
  unit: string,
  baseline: { name: string; value: number },
): JsonRow {
  return baseline.value > 0
    ? { name, value, unit, baseline, ratio: value / baseline.value }
    : { name, value, unit, baseline };
}

export interface BenchJson {
  machine: Machine;
  /** What was run: options such as publishers and payload size. */
  setup: Record<string, number | string | boolean>;
  rows: JsonRow[];
}

/** Checks every row (finite numbers, a unit, a baseline with a name) so a broken row fails the run, not a reader. */
export function benchJson(m: Machine, setup: BenchJson['setup'], rows: JsonRow[]): BenchJson {
  for (const r of rows) {
    const bad =
      !r.name ||
      !r.unit ||
      !Number.isFinite(r.value) ||
      (r.baseline !== undefined && (!r.baseline.name || !Number.isFinite(r.baseline.value))) ||
      (r.ratio !== undefined && !Number.isFinite(r.ratio));
    if (bad) throw new Error(`bench row is not well formed: ${JSON.stringify(r)}`);
  }
  return { machine: m, setup, rows };
}

export function writeBenchJson(file: string, doc: BenchJson): void {
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
}
