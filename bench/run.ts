#!/usr/bin/env node
// `./gw bench`: the durable path's benchmark. Prints one table with the baseline measured in the same run:
//   QoS 1 ingest, durable (fsync group commit) vs the same aedes broker with no persistence
//   end-to-end MQTT -> Kafka msg/s and latency p50/p99, per Kafka sink
//   backlog drain msg/s after an outage, per Kafka sink
//   PUBACK p50/p99 at half the measured ingest rate
//   gateway RSS (peak)
// All traffic stays on 127.0.0.1. Options: --clients 100 --messages 1000 (per client) --quick
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { GatewayProcess, pollUntil } from '../test/harness/gateway-process.ts';
import { freePort, LocalKafka, repoRoot } from '../test/harness/kafka.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const quick = process.argv.includes('--quick');
const CLIENTS = arg('clients', 100);
const PER_CLIENT = arg('messages', quick ? 500 : 2000);
const WINDOW = arg('window', 16);
const SIZE = 256;
const DRAIN_MSGS_PER_CLIENT = arg('drain-messages', quick ? 500 : 2000);

interface PubResult {
  acked: number;
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
}

async function publish(port: number, perClient: number, rate = 0): Promise<PubResult> {
  const p = spawn(
    process.execPath,
    [
      join(repoRoot, 'bench', 'publisher-raw.ts'),
      String(port),
      String(CLIENTS),
      String(perClient),
      String(WINDOW),
      String(rate),
      String(SIZE),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await once(p, 'exit');
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as PubResult;
}

/** One device publishing QoS 1 one message at a time: the plain cost of a durable acknowledgement. */
async function sequentialPuback(port: number, n = 500): Promise<{ p50: number; p99: number }> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `seq-${port}-${Date.now()}` });
  const t: number[] = [];
  const payload = Buffer.alloc(SIZE, 120);
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await c.publishAsync('devices/seq/telemetry', payload, { qos: 1 });
    t.push(performance.now() - s);
  }
  await c.endAsync();
  t.sort((a, b) => a - b);
  return { p50: pct(t, 50), p99: pct(t, 99) };
}

function peakRss(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** End-to-end latency from the payload's send time to Kafka's append time (LogAppendTime), read with kcat. */
function kafkaLatency(brokers: string[], topic: string): { n: number; p50: number; p99: number } {
  const r = spawnSync(
    'kcat',
    ['-C', '-b', brokers.join(','), '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%T %s\n'],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    },
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

async function gateway(env: Record<string, string>, dataDir?: string): Promise<GatewayProcess> {
  // The durable path alone: flows have their own benchmark (bench/flows.ts).
  const gw = await GatewayProcess.create({
    env: { GATEWAY_FLOWS_ENABLED: 'false', ...env },
    ...(dataDir ? { dataDir } : {}),
  });
  await gw.start();
  return gw;
}

const rows: [string, string, string, string][] = [];
const row = (what: string, ours: string, baseline: string, target: string): void => {
  rows.push([what, ours, baseline, target]);
  console.error(`  ${what}: ${ours}${baseline ? ` (baseline ${baseline})` : ''}`);
};
const f0 = (n: number): string => Math.round(n).toLocaleString('en-US');
const f2 = (n: number): string => n.toFixed(2);

console.error(`bench: ${CLIENTS} publishers, ${SIZE}-byte payloads, window ${WINDOW}`);
const kafka = await LocalKafka.start({ brokerProps: { 'log.message.timestamp.type': 'LogAppendTime' } });
const unreachable = `127.0.0.1:${await freePort()}`;
try {
  // 1. Ingest: baseline broker vs durable gateway (Kafka unreachable, so only ingest is measured).
  const basePort = await freePort();
  const base = spawn(process.execPath, [join(repoRoot, 'bench', 'baseline-broker.ts'), String(basePort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await once(base.stdout, 'data');
  // Medians of three runs each: this machine is shared and noisy.
  const median = (rs: PubResult[]): PubResult => [...rs].sort((a, b) => a.rate - b.rate)[1] as PubResult;
  const runs = async (port: number): Promise<PubResult> =>
    median([await publish(port, PER_CLIENT), await publish(port, PER_CLIENT), await publish(port, PER_CLIENT)]);
  const baseline = await runs(basePort);
  const gwIngest = await gateway({ GATEWAY_KAFKA_BROKERS: unreachable });
  const ingest = await runs(gwIngest.mqttPort);
  const commits = await gwIngest.metric('gateway_group_commit_records_count');
  const committed = await gwIngest.metric('gateway_group_commit_records_sum');
  row('QoS 1 ingest, fsync group commit (msg/s, median of 3)', f0(ingest.rate), f0(baseline.rate), '>= 50,000');
  row(
    '  PUBACK p50 / p99 at full load (ms)',
    `${f2(ingest.p50)} / ${f2(ingest.p99)}`,
    `${f2(baseline.p50)} / ${f2(baseline.p99)}`,
    '',
  );
  row('  records per group commit (mean)', f2(committed / Math.max(1, commits)), '', '');
  // Half of the gateway's own ingest rate, both brokers at the same rate: the baseline shows what the load
  // generator's 2 ms pacing adds by itself.
  const halfRate = Math.round(ingest.rate / 2);
  const halfPer = Math.max(50, Math.round((halfRate * 5) / CLIENTS)); // about 5 s of traffic
  const half = await publish(gwIngest.mqttPort, halfPer, halfRate);
  const halfBase = await publish(basePort, halfPer, halfRate);
  row(
    `PUBACK p50 / p99 at half load, ${f0(half.rate)} msg/s (ms)`,
    `${f2(half.p50)} / ${f2(half.p99)}`,
    `${f2(halfBase.p50)} / ${f2(halfBase.p99)}`,
    'p99 < 3',
  );
  const seq = await sequentialPuback(gwIngest.mqttPort);
  const seqBase = await sequentialPuback(basePort);
  row(
    'PUBACK p50 / p99, one device, one message at a time (ms)',
    `${f2(seq.p50)} / ${f2(seq.p99)}`,
    `${f2(seqBase.p50)} / ${f2(seqBase.p99)}`,
    '',
  );
  const baseRss = peakRss(base.pid);
  base.kill('SIGTERM');
  row('  gateway peak RSS, ingest (MB)', f0(peakRss(gwIngest.pid)), f0(baseRss), '');
  await gwIngest.close();

  for (const sink of ['platformatic', 'kafkajs']) {
    // 2. End to end: publish with Kafka up; done when Kafka acknowledged everything.
    const topic = `bench.e2e.${sink}.${Date.now()}`;
    const env = {
      GATEWAY_KAFKA_BROKERS: kafka.brokers.join(','),
      GATEWAY_KAFKA_CLIENT: sink,
      GATEWAY_ROUTES: JSON.stringify([{ filter: '#', topic }]),
    };
    const gw = await gateway(env);
    const total = CLIENTS * PER_CLIENT;
    const t0 = performance.now();
    const pub = await publish(gw.mqttPort, PER_CLIENT);
    await pollUntil(
      'forwarded',
      async () => (await gw.metric('gateway_forwarded_records_total')) >= total,
      300_000,
      50,
    );
    const e2eSecs = (performance.now() - t0) / 1000;
    const lat = kafkaLatency(kafka.brokers, topic);
    row(`end to end MQTT -> Kafka, ${sink} (msg/s)`, f0(total / e2eSecs), '', '>= 40,000');
    row(`  latency publish -> Kafka at full load p50 / p99, ${sink} (ms)`, `${f2(lat.p50)} / ${f2(lat.p99)}`, '', '');
    row(`  PUBACK p99 with forwarding, ${sink} (ms)`, f2(pub.p99), '', '');
    row(`  gateway peak RSS, ${sink} (MB)`, f0(peakRss(gw.pid)), '', '');
    await gw.close();

    // Latency when the link keeps up: 5,000 msg/s for about 6 s.
    const steadyTopic = `${topic}.steady`;
    const steady = await gateway({ ...env, GATEWAY_ROUTES: JSON.stringify([{ filter: '#', topic: steadyTopic }]) });
    // Warm up first: the topic's auto-creation must not be part of the measurement.
    await publish(steady.mqttPort, 1, 0);
    await pollUntil(
      'warm-up forwarded',
      async () => (await steady.metric('gateway_forwarded_records_total')) >= CLIENTS,
    );
    await publish(steady.mqttPort, 300, 5000);
    await pollUntil(
      'forwarded',
      async () => (await steady.metric('gateway_forwarded_records_total')) >= CLIENTS * 301,
      120_000,
      50,
    );
    const sl = kafkaLatency(kafka.brokers, steadyTopic);
    row(`  latency publish -> Kafka at 5,000 msg/s p50 / p99, ${sink} (ms)`, `${f2(sl.p50)} / ${f2(sl.p99)}`, '', '');
    await steady.close();

    // 3. Drain: build a backlog with Kafka unreachable, then restart with Kafka and time the drain.
    const fill = await gateway({
      ...env,
      GATEWAY_KAFKA_BROKERS: unreachable,
      GATEWAY_ROUTES: JSON.stringify([{ filter: '#', topic: `${topic}.drain` }]),
    });
    await publish(fill.mqttPort, DRAIN_MSGS_PER_CLIENT);
    const backlog = await fill.metric('gateway_backlog_records');
    await fill.stop();
    const drainGw = await gateway(
      { ...env, GATEWAY_ROUTES: JSON.stringify([{ filter: '#', topic: `${topic}.drain` }]) },
      fill.dataDir,
    );
    const d0 = performance.now();
    await pollUntil('drained', async () => (await drainGw.metric('gateway_backlog_records')) === 0, 600_000, 50);
    const drainSecs = (performance.now() - d0) / 1000;
    row(
      `backlog drain after outage, ${sink} (msg/s, ${f0(backlog)} records)`,
      f0(backlog / drainSecs),
      '',
      '>= 100,000',
    );
    await drainGw.close();
    await fill.close();
  }
} finally {
  await kafka.close();
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const header = `machine: ${cpus().length} x ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${CLIENTS} publishers, ${SIZE}-byte payloads, QoS 1, window ${WINDOW}/client`;
const w = [0, 1, 2, 3].map((i) =>
  Math.max(...rows.map((r) => r[i]?.length ?? 0), ['measure', 'gateway', 'baseline', 'target'][i]?.length ?? 0),
);
const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(w[i] ?? 0)).join(' | ')} |`;
const table = [
  header,
  '',
  line(['measure', 'gateway', 'baseline', 'target']),
  line(w.map((n) => '-'.repeat(n))),
  ...rows.map(line),
].join('\n');
console.log(table);
mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
writeFileSync(join(repoRoot, 'bench', 'results', `durable-path-${Date.now()}.md`), `${table}\n`);
