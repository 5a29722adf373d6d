// Live memory of a gateway child process: started with --expose-gc and memory-probe.ts preloaded, it collects
// garbage and reports process.memoryUsage() on SIGUSR2.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GatewayProcess, GatewayProcessOptions } from '../harness/gateway-process.ts';
import { pollUntil } from '../harness/gateway-process.ts';
import { repoRoot } from '../harness/kafka.ts';

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** GatewayProcess options that preload the probe; `file` receives one JSON line per probe. */
export function memoryProbeOptions(
  file: string,
): Pick<GatewayProcessOptions, 'wrap'> & { env: Record<string, string> } {
  const probe = join(repoRoot, 'test', 'fuzz', 'memory-probe.ts');
  return {
    env: { MEMORY_PROBE_FILE: file },
    wrap: (cmd, args) => [cmd, ['--expose-gc', '--import', probe, ...args]],
  };
}

function samples(file: string): MemorySample[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as MemorySample & { gc: boolean });
}

/** Asks the gateway for one sample after a full garbage collection. */
export async function probeMemory(gw: GatewayProcess, file: string): Promise<MemorySample> {
  const before = samples(file).length;
  if (gw.pid === undefined || !gw.running) throw new Error('gateway not running');
  process.kill(gw.pid, 'SIGUSR2');
  await pollUntil('a memory probe', () => samples(file).length > before, 10_000, 20);
  const s = samples(file).at(-1)! as MemorySample & { gc: boolean };
  if (!s.gc) throw new Error('the gateway was not started with --expose-gc');
  return s;
}

/** Heap and off-heap buffers: what the gateway holds live (RSS also counts pages the allocator keeps). */
export const live = (m: MemorySample): number => m.heapUsed + m.external;

export const mb = (n: number): string => `${(n / 1048576).toFixed(1)} MB`;
