// What the benchmarks share: their options and the load generator child (bench/publisher-raw.ts).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { repoRoot } from '../../test/harness/kafka.ts';

/** `--name N` from the command line, `dflt` when absent. */
export function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

/** `--name VALUE` from the command line as a string, undefined when absent. */
export function argString(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** What bench/publisher-raw.ts prints: acknowledged publishes, rate and PUBACK latency (ms). */
export interface PubResult {
  acked: number;
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
}

export interface PublishOptions {
  clients: number;
  perClient: number;
  window?: number;
  /** Total msg/s over all connections; 0: as fast as the window allows. */
  rate?: number;
  size?: number;
  /** More environment for the child (e.g. BENCH_SIGNATURE_KEY). */
  env?: Record<string, string>;
}

/** Runs the load generator against `port` once; fails when it exits non-zero. */
export async function publish(port: number, o: PublishOptions): Promise<PubResult> {
  const argv = [o.clients, o.perClient, o.window ?? 16, o.rate ?? 0, o.size ?? 256].map(String);
  const p = spawn(process.execPath, [join(repoRoot, 'bench', 'publisher-raw.ts'), String(port), ...argv], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...o.env },
  });
  let out = '';
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const [code] = await once(p, 'exit');
  if (code !== 0) throw new Error(`the publishers exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as PubResult;
}

/** The middle element by `by` (the upper middle for an even count). */
export function medianBy<T>(xs: T[], by: (x: T) => number): T {
  return [...xs].sort((a, b) => by(a) - by(b))[xs.length >> 1] as T;
}
