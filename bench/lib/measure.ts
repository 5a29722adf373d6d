// Measurements the benchmark rows share: a process's peak RSS, publish-to-Kafka latency read back with kcat, the
// PUBACK latency of one device publishing one message at a time, the median of repeated runs.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { percentile } from '../../device-sim/analyze.ts';
import { medianBy } from './cli.ts';

/** Nearest-rank percentile of sorted values; 0 when there are none (a row prints 0, not NaN). */
const pct = (sorted: number[], p: number): number => (sorted.length ? percentile(sorted, p) : 0);

/** The process's peak resident set (VmHWM) in MB; 0 once it is gone. */
export function peakRss(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * End-to-end latency from the payload's send time (its leading number, up to the first `x`) to Kafka's append time
 * (the topic uses LogAppendTime), read with kcat.
 */
export function kafkaLatency(brokers: string[], topic: string): { n: number; p50: number; p99: number } {
  const r = spawnSync(
    'kcat',
    ['-C', '-b', brokers.join(','), '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%T %s\n'],
    { encoding: 'utf8', maxBuffer: 1 << 30 },
  );
  const lat: number[] = [];
  for (const line of r.stdout.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp < 0) continue;
    const appended = Number(line.slice(0, sp));
    const sent = Number.parseFloat(line.slice(sp + 1, line.indexOf('x', sp)));
    if (Number.isFinite(appended) && Number.isFinite(sent)) lat.push(appended - sent);
  }
  lat.sort((a, b) => a - b);
  return { n: lat.length, p50: pct(lat, 50), p99: pct(lat, 99) };
}

/** One device publishing QoS 1 one message of `size` bytes at a time: the plain cost of a durable acknowledgement. */
export async function sequentialPuback(port: number, size: number, n = 500): Promise<{ p50: number; p99: number }> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `seq-${port}-${Date.now()}` });
  const t: number[] = [];
  const payload = Buffer.alloc(size, 120);
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await c.publishAsync('devices/seq/telemetry', payload, { qos: 1 });
    t.push(performance.now() - s);
  }
  await c.endAsync();
  t.sort((a, b) => a - b);
  return { p50: pct(t, 50), p99: pct(t, 99) };
}

export async function medianOf(runs: number, one: () => Promise<number>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) xs.push(await one());
  return medianBy(xs, (x) => x);
}

/**
 * Bytes the process has caused to be written to the storage layer (/proc/<pid>/io `write_bytes`: every thread, so
 * LevelDB's log, table flushes and compactions included) and bytes passed to write calls (`wchar`); 0 once it is gone.
 */
export function ioWritten(pid: number | undefined): { disk: number; calls: number } {
  if (!pid) return { disk: 0, calls: 0 };
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? 0);
    return { disk: field('write_bytes'), calls: field('wchar') };
  } catch {
    return { disk: 0, calls: 0 };
  }
}
