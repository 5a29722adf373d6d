// Reads Kafka topics with kcat, a third-party client, so tests count what reached Kafka independently of our code.
import { spawnSync } from 'node:child_process';

export interface KcatRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  payload: string | null;
  headers: Record<string, string>;
}

/** Every record of `topic` from the beginning to the current end. */
export function kcatRead(brokers: readonly string[], topic: string): KcatRecord[] {
  const r = spawnSync('kcat', ['-C', '-b', brokers.join(','), '-t', topic, '-o', 'beginning', '-e', '-J', '-q'], {
    encoding: 'utf8',
    maxBuffer: 1024 * 1024 * 1024,
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`kcat failed (${r.status}): ${r.stderr}`);
  const out: KcatRecord[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    const j = JSON.parse(line) as {
      topic: string;
      partition: number;
      offset: number;
      key: string | null;
      payload: string | null;
      headers?: string[];
    };
    const headers: Record<string, string> = {};
    const h = j.headers ?? [];
    for (let i = 0; i + 1 < h.length; i += 2) headers[h[i] as string] = h[i + 1] as string;
    out.push({ topic: j.topic, partition: j.partition, offset: j.offset, key: j.key, payload: j.payload, headers });
  }
  return out;
}
