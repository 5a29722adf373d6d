// The benchmarks' machine-readable output and the parts of `./gw bench` that need no broker: the JSON document's
// shape, the reading of Kafka's ProducerPerformance summary, and `./gw bench --help`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseProducerPerformance } from '../../bench/lib/java-producer.ts';
import { benchJson, compared, machine, writeBenchJson } from '../../bench/lib/report.ts';
import { repoRoot } from '../harness/kafka.ts';

const dir = mkdtempSync(join(tmpdir(), 'bench-json-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench JSON', () => {
  it('writes machine, setup and every row with its baseline and ratio', () => {
    const m = machine(new Date('2026-01-02T03:04:05Z'));
    const rows = [
      compared('backlog drain, platformatic', 18_000, 'msg/s', { name: "Kafka's Java producer", value: 60_000 }),
      { name: 'records per group commit (mean)', value: 700, unit: 'records' },
    ];
    const file = join(dir, 'out.json');
    writeBenchJson(file, benchJson(m, { publishers: 100, quick: false }, rows));
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc.machine).toMatchObject({
      cores: expect.any(Number),
      node: process.version,
      date: '2026-01-02T03:04:05.000Z',
    });
    expect(doc.machine.cores).toBeGreaterThan(0);
    expect(doc.machine.loadavg).toHaveLength(3);
    expect(doc.setup).toEqual({ publishers: 100, quick: false });
    expect(doc.rows).toEqual([
      {
        name: 'backlog drain, platformatic',
        value: 18_000,
        unit: 'msg/s',
        baseline: { name: "Kafka's Java producer", value: 60_000 },
        ratio: 0.3,
      },
      { name: 'records per group commit (mean)', value: 700, unit: 'records' },
    ]);
  });

  it('leaves the ratio out against a reference of 0', () => {
    expect(compared('rss', 10, 'MB', { name: 'bare', value: 0 })).toEqual({
      name: 'rss',
      value: 10,
      unit: 'MB',
      baseline: { name: 'bare', value: 0 },
    });
  });

  it('refuses a row that is not well formed, naming it', () => {
    const m = machine();
    expect(() => benchJson(m, {}, [{ name: 'drain', value: Number.NaN, unit: 'msg/s' }])).toThrow(/"name":"drain"/);
    expect(() => benchJson(m, {}, [{ name: 'drain', value: 1, unit: '' }])).toThrow(/not well formed/);
    expect(() =>
      benchJson(m, {}, [{ name: 'drain', value: 1, unit: 'msg/s', baseline: { name: '', value: 2 }, ratio: 0.5 }]),
    ).toThrow(/not well formed/);
  });
});

describe("ProducerPerformance's summary", () => {
  it('is read from the last line, not from the progress lines', () => {
    const out = [
      '[2026-01-02 03:04:05,678] WARN something from the client (org.apache.kafka.clients.NetworkClient)',
      '120001 records sent, 24000.2 records/sec (5.86 MB/sec), 310.5 ms avg latency, 820.0 ms max latency.',
      '200000 records sent, 31250.5 records/sec (7.63 MB/sec), 280.12 ms avg latency, 820.00 ms max latency, 250 ms 50th, 700 ms 95th, 790 ms 99th, 815 ms 99.9th.',
    ].join('\n');
    expect(parseProducerPerformance(out)).toEqual({
      records: 200_000,
      rate: 31250.5,
      avgMs: 280.12,
      p50: 250,
      p99: 790,
    });
  });

  it('fails with the output when there is no summary', () => {
    expect(() => parseProducerPerformance('Exception in thread "main" TimeoutException')).toThrow(/TimeoutException/);
  });
});

it('./gw bench --help prints the options and exits 0 without starting anything', () => {
  const r = spawnSync(join(repoRoot, 'gw'), ['bench', '--help'], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toContain('usage: ./gw bench');
  expect(r.stdout).toContain('--json FILE');
  expect(r.stderr).not.toContain('installing');
});
