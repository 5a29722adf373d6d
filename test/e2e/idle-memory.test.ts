// The compaction after start (app/heap.ts): a real gateway, flows off, connected to Kafka, compacts its heap once
// the start has settled and logs what that gave back; the young generation that loading grew is returned, and the
// process's RSS read afterwards is below the RSS the line reports from before the collection.
import { readFileSync } from 'node:fs';
import { expect, inject, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { waitFor } from '../harness/wait.ts';

interface Compacted {
  msg: string;
  rssBefore: number;
  rssAfter: number;
  youngBefore: number;
  youngAfter: number;
  ms: number;
}

const compactedLine = (output: string): Compacted | undefined =>
  output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Compacted)
    .find((l) => l.msg === 'heap compacted after start');

it('an idle gateway gives back the young generation its start grew, once, a few seconds after the start', async () => {
  const gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: inject('kafkaBrokers').join(','),
      GATEWAY_FLOWS_ENABLED: 'false',
      GATEWAY_DOWNLINK_ENABLED: 'false',
      GATEWAY_LOG_PRETTY: 'off',
    },
  });
  try {
    await gw.start();
    await waitFor('the "heap compacted after start" line', () => compactedLine(gw.output) !== undefined, 30_000, 200);
    const c = compactedLine(gw.output) as Compacted;
    const rssNow = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${gw.pid}/status`, 'utf8'))?.[1]) / 1024;
    expect(c.youngBefore).toBeGreaterThanOrEqual(16);
    expect(c.youngAfter).toBeLessThanOrEqual(c.youngBefore / 4);
    expect(c.rssAfter).toBeLessThan(c.rssBefore);
    expect(rssNow).toBeLessThan(c.rssBefore);
    expect(c.ms).toBeGreaterThanOrEqual(0);
    expect(gw.output.split('heap compacted after start').length - 1).toBe(1);
  } finally {
    await gw.close();
  }
});
