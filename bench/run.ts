#!/usr/bin/env node
// `./gw bench`: the durable path's benchmark. Prints one table with the baseline measured in the same run:
//   QoS 1 ingest, durable (fsync group commit) vs the same aedes broker with no persistence
//   end-to-end MQTT -> Kafka msg/s and latency p50/p99, per Kafka sink
//   backlog drain msg/s after an outage, per Kafka sink, against two references on the same broker in the same run:
//     Kafka's own Java producer (ProducerPerformance, acks=all, idempotent) and the raw sink (the Kafka client alone)
//   PUBACK p50/p99 at half the measured ingest rate
//   gateway RSS (peak)
// All traffic stays on 127.0.0.1. Options: see USAGE.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GatewayProcess, pollUntil } from '../test/harness/gateway-process.ts';
import { freePort, LocalKafka, repoRoot } from '../test/harness/kafka.ts';
import { arg, argString, medianBy, type PubResult, publish as publishRaw } from './lib/cli.ts';
import { createTopic, producerPerformance } from './lib/java-producer.ts';
import { ioWritten, kafkaLatency, medianOf, peakRss, sequentialPuback } from './lib/measure.ts';
import type { HeaderSet } from './lib/records.ts';
import { benchJson, compared, type JsonRow, loadAverage, machine, sampleLoad, writeBenchJson } from './lib/report.ts';

const USAGE = `usage: ./gw bench [--quick] [--json FILE] [--clients 100] [--messages 2000] [--drain-messages 2000]
                 [--window 16] [--ref-runs 3] [--raw-batch 1500] [--sinks platformatic,kafkajs]
                 [--gateway-node-options "--max-semi-space-size=1"]

  --quick           500 messages per publisher for ingest and drain, one run of each reference
  --json FILE       also write every row as JSON: { machine, setup, rows: [{ name, value, unit, baseline?, ratio? }] }
  --clients N       publishers (MQTT connections), each publishing --messages QoS 1 messages of 256 bytes
  --drain-messages  messages per publisher in the backlog that is drained after the outage
  --ref-runs N      runs of each drain reference (Java producer, raw sink), the median is shown
  --raw-batch N     records per send of the raw sink reference (the forwarder's batches on this load: ~1,500)
  --sinks LIST      the Kafka sinks to measure (default: platformatic,kafkajs)
  --gateway-node-options OPTS
                    Node options for every gateway process of the run (its NODE_OPTIONS), e.g. heap settings

The text table goes to stdout and bench/results/; progress goes to stderr.`;

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}

const quick = process.argv.includes('--quick');
const CLIENTS = arg('clients', 100);
const PER_CLIENT = arg('messages', quick ? 500 : 2000);
const WINDOW = arg('window', 16);
const SIZE = 256;
const DRAIN_MSGS_PER_CLIENT = arg('drain-messages', quick ? 500 : 2000);
const REF_RUNS = arg('ref-runs', quick ? 1 : 3);
const RAW_BATCH = arg('raw-batch', 1500);
const SINKS = (argString('sinks') ?? 'platformatic,kafkajs').split(',');
const jsonFile = argString('json');
const GATEWAY_NODE_OPTIONS = argString('gateway-node-options');
const startedAt = new Date();
const publish = (port: number, perClient: number, rate = 0): Promise<PubResult> =>
  publishRaw(port, { clients: CLIENTS, perClient, window: WINDOW, rate, size: SIZE });

async function gateway(env: Record<string, string>, dataDir?: string): Promise<GatewayProcess> {
  // The durable path alone: flows have their own benchmark (bench/flows.ts).
  const gw = await GatewayProcess.create({
    env: {
      GATEWAY_FLOWS_ENABLED: 'false',
      ...(GATEWAY_NODE_OPTIONS ? { NODE_OPTIONS: GATEWAY_NODE_OPTIONS } : {}),
      ...env,
    },
    ...(dataDir ? { dataDir } : {}),
  });
  await gw.start();
  return gw;
}

/** The raw sink (bench/sink-raw.ts) in its own process on `brokers`: msg/s for `records` records. */
async function rawSink(brokers: string[], sink: string, records: number, headers: HeaderSet): Promise<number> {
  const p = spawn(
    process.execPath,
    [
      join(repoRoot, 'bench', 'sink-raw.ts'),
      sink,
      String(records),
      String(RAW_BATCH),
      '--headers',
      headers,
      '--devices',
      String(CLIENTS),
      '--json',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KAFKA_BROKERS: brokers.join(',') } },
  );
  let out = '';
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const [code] = await once(p, 'exit');
  if (code !== 0) throw new Error(`bench/sink-raw.ts ${sink} exited with ${code}`);
  return (JSON.parse(out.trim().split('\n').pop() ?? '{}') as { rate: number }).rate;
}

// The table: measure, gateway, baseline, ratio, target; each line also one or more rows of the JSON output.
const rows: [string, string, string, string, string][] = [];
const jsonRows: JsonRow[] = [];
const row = (what: string, ours: string, baseline: string, target: string, ...data: JsonRow[]): void => {
  const ratio = data.length === 1 && data[0]?.ratio !== undefined ? data[0].ratio.toFixed(2) : '';
  rows.push([what, ours, baseline, ratio, target]);
  jsonRows.push(...data);
  console.error(`  ${what}: ${ours}${baseline ? ` (baseline ${baseline}${ratio ? `, ratio ${ratio}` : ''})` : ''}`);
};
const f0 = (n: number): string => Math.round(n).toLocaleString('en-US');
const f2 = (n: number): string => n.toFixed(2);
const plain = (name: string, value: number, unit: string): JsonRow => ({ name, value, unit });
/** p50 and p99 rows, each against the baseline's when there is one. */
const pctRows = (
  name: string,
  ours: { p50: number; p99: number },
  base?: { name: string; p50: number; p99: number },
): JsonRow[] =>
  (['p50', 'p99'] as const).map((p) =>
    base
      ? compared(`${name} ${p}`, ours[p], 'ms', { name: `${base.name} ${p}`, value: base[p] })
      : plain(`${name} ${p}`, ours[p], 'ms'),
  );

const BARE = 'aedes with no persistence';

/** After the load, this long for the store's background flushes and compactions to be counted too. */
const SETTLE_MS = 2000;
/** Bytes written per acknowledged message against the payload size (target: at most 3x; edge flash wears). */
function diskRow(what: string, io: { disk: number; calls: number }, io0: { disk: number; calls: number }, n: number) {
  const disk = (io.disk - io0.disk) / n;
  const calls = (io.calls - io0.calls) / n;
  const name = `disk bytes written per acknowledged message, ${what}`;
  const payload = { name: 'payload bytes per message', value: SIZE };
  row(`  ${name} (/proc io write_bytes)`, f0(disk), `${SIZE} (payload)`, '<= 3x', compared(name, disk, 'B', payload));
  const callsName = `bytes passed to write calls per acknowledged message, ${what}`;
  row(`  ${callsName} (/proc io wchar)`, f0(calls), `${SIZE} (payload)`, '', compared(callsName, calls, 'B', payload));
}

async function ingestSection(unreachable: string): Promise<void> {
  // 1. Ingest: baseline broker vs durable gateway (Kafka unreachable, so only ingest is measured).
  const basePort = await freePort();
  const base = spawn(process.execPath, [join(repoRoot, 'bench', 'baseline-broker.ts'), String(basePort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await once(base.stdout, 'data');
  // Medians of three runs each: this machine is shared and noisy.
  const runs = async (port: number): Promise<PubResult> =>
    medianBy(
      [await publish(port, PER_CLIENT), await publish(port, PER_CLIENT), await publish(port, PER_CLIENT)],
      (r) => r.rate,
    );
  const baseline = await runs(basePort);
  const gwIngest = await gateway({ GATEWAY_KAFKA_BROKERS: unreachable });
  const io0 = ioWritten(gwIngest.pid);
  const ingest = await runs(gwIngest.mqttPort);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  diskRow('buffering, Kafka unreachable', ioWritten(gwIngest.pid), io0, 3 * CLIENTS * PER_CLIENT);
  const commits = await gwIngest.metric('gateway_group_commit_records_count');
  const committed = await gwIngest.metric('gateway_group_commit_records_sum');
  const ingestName = 'QoS 1 ingest, fsync group commit (msg/s, median of 3)';
  row(
    ingestName,
    f0(ingest.rate),
    f0(baseline.rate),
    '>= 50,000',
    compared(ingestName, ingest.rate, 'msg/s', { name: `${BARE} (median of 3)`, value: baseline.rate }),
  );
  row(
    '  PUBACK p50 / p99 at full load (ms)',
    `${f2(ingest.p50)} / ${f2(ingest.p99)}`,
    `${f2(baseline.p50)} / ${f2(baseline.p99)}`,
    '',
    ...pctRows('PUBACK at full load', ingest, { name: `${BARE}, PUBACK at full load`, ...baseline }),
  );
  const perCommit = committed / Math.max(1, commits);
  row(
    '  records per group commit (mean)',
    f2(perCommit),
    '',
    '',
    plain('records per group commit (mean)', perCommit, 'records'),
  );
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
    ...pctRows('PUBACK at half load', half, { name: `${BARE}, PUBACK at half load`, ...halfBase }),
    plain('half load rate', half.rate, 'msg/s'),
  );
  const seq = await sequentialPuback(gwIngest.mqttPort, SIZE);
  const seqBase = await sequentialPuback(basePort, SIZE);
  row(
    'PUBACK p50 / p99, one device, one message at a time (ms)',
    `${f2(seq.p50)} / ${f2(seq.p99)}`,
    `${f2(seqBase.p50)} / ${f2(seqBase.p99)}`,
    '',
    ...pctRows('PUBACK one device, one message at a time', seq, { name: `${BARE}, PUBACK one device`, ...seqBase }),
  );
  const baseRss = peakRss(base.pid);
  base.kill('SIGTERM');
  const rss = peakRss(gwIngest.pid);
  row(
    '  gateway peak RSS, ingest (MB)',
    f0(rss),
    f0(baseRss),
    '',
    compared('gateway peak RSS, ingest', rss, 'MB', { name: `${BARE}, peak RSS`, value: baseRss }),
  );
  await gwIngest.close();
}

const JAVA = `Kafka's Java producer (ProducerPerformance, acks=all, idempotent)`;

/** Kafka's Java producer on the same broker, as many 256-byte records as the drain backlog: msg/s, median. */
async function javaReference(kafka: LocalKafka, records: number): Promise<{ name: string; value: number }> {
  const value = await medianOf(REF_RUNS, async () => {
    const topic = `bench.java.${Date.now()}`;
    await createTopic(kafka.brokers, topic, 3);
    return (await producerPerformance(kafka.brokers, topic, records, SIZE)).rate;
  });
  const name = `${JAVA} (msg/s, ${f0(records)} records, median of ${REF_RUNS})`;
  row(`reference: ${name}`, f0(value), '', '', plain(`reference: ${name}`, value, 'msg/s'));
  return { name, value };
}

/** End to end at full load, then at 5,000 msg/s (below the forwarding ceiling). */
async function endToEnd(kafka: LocalKafka, sink: string, topic: string, env: Record<string, string>): Promise<void> {
  // 2. End to end: publish with Kafka up; done when Kafka acknowledged everything.
  const gw = await gateway(env);
  const total = CLIENTS * PER_CLIENT;
  const io0 = ioWritten(gw.pid);
  const t0 = performance.now();
  const pub = await publish(gw.mqttPort, PER_CLIENT);
  await pollUntil('forwarded', async () => (await gw.metric('gateway_forwarded_records_total')) >= total, 300_000, 50);
  const e2eSecs = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  diskRow(`stored, forwarded and deleted, ${sink}`, ioWritten(gw.pid), io0, total);
  const lat = kafkaLatency(kafka.brokers, topic);
  const e2e = `end to end MQTT -> Kafka, ${sink}`;
  row(`${e2e} (msg/s)`, f0(total / e2eSecs), '', '>= 40,000', plain(e2e, total / e2eSecs, 'msg/s'));
  row(
    `  latency publish -> Kafka at full load p50 / p99, ${sink} (ms)`,
    `${f2(lat.p50)} / ${f2(lat.p99)}`,
    '',
    '',
    ...pctRows(`latency publish -> Kafka at full load, ${sink}`, lat),
  );
  row(
    `  PUBACK p99 with forwarding, ${sink} (ms)`,
    f2(pub.p99),
    '',
    '',
    plain(`PUBACK p99 with forwarding, ${sink}`, pub.p99, 'ms'),
  );
  const rss = peakRss(gw.pid);
  row(`  gateway peak RSS, ${sink} (MB)`, f0(rss), '', '', plain(`gateway peak RSS, ${sink}`, rss, 'MB'));
  await gw.close();

  // Latency when the link keeps up: 5,000 msg/s for about 6 s.
  const steadyTopic = `${topic}.steady`;
  const steady = await gateway({ ...env, GATEWAY_ROUTES: JSON.stringify([{ filter: '#', topic: steadyTopic }]) });
  // Warm up first: the topic's auto-creation must not be part of the measurement.
  await publish(steady.mqttPort, 1, 0);
  await pollUntil('warm-up forwarded', async () => (await steady.metric('gateway_forwarded_records_total')) >= CLIENTS);
  await publish(steady.mqttPort, 300, 5000);
  await pollUntil(
    'forwarded',
    async () => (await steady.metric('gateway_forwarded_records_total')) >= CLIENTS * 301,
    120_000,
    50,
  );
  const sl = kafkaLatency(kafka.brokers, steadyTopic);
  row(
    `  latency publish -> Kafka at 5,000 msg/s p50 / p99, ${sink} (ms)`,
    `${f2(sl.p50)} / ${f2(sl.p99)}`,
    '',
    '',
    ...pctRows(`latency publish -> Kafka at 5,000 msg/s, ${sink}`, sl),
  );
  await steady.close();
}

/** 3. Drain: build a backlog with Kafka unreachable, then restart with Kafka and time the drain (msg/s). */
async function drain(topic: string, env: Record<string, string>, unreachable: string): Promise<[number, number]> {
  const routes = JSON.stringify([{ filter: '#', topic: `${topic}.drain` }]);
  const fill = await gateway({ ...env, GATEWAY_KAFKA_BROKERS: unreachable, GATEWAY_ROUTES: routes });
  await publish(fill.mqttPort, DRAIN_MSGS_PER_CLIENT);
  const backlog = await fill.metric('gateway_backlog_records');
  await fill.stop();
  const drainGw = await gateway({ ...env, GATEWAY_ROUTES: routes }, fill.dataDir);
  const d0 = performance.now();
  await pollUntil('drained', async () => (await drainGw.metric('gateway_backlog_records')) === 0, 600_000, 50);
  const drainSecs = (performance.now() - d0) / 1000;
  await drainGw.close();
  await fill.close();
  return [backlog, backlog / drainSecs];
}

async function sinkSection(
  kafka: LocalKafka,
  sink: string,
  unreachable: string,
  java: { name: string; value: number },
): Promise<void> {
  const topic = `bench.e2e.${sink}.${Date.now()}`;
  const env = {
    GATEWAY_KAFKA_BROKERS: kafka.brokers.join(','),
    GATEWAY_KAFKA_CLIENT: sink,
    GATEWAY_ROUTES: JSON.stringify([{ filter: '#', topic }]),
  };
  await endToEnd(kafka, sink, topic, env);
  const records = CLIENTS * DRAIN_MSGS_PER_CLIENT;
  const raw: Record<HeaderSet, { name: string; value: number }> = {
    gateway: { name: '', value: 0 },
    two: { name: '', value: 0 },
  };
  for (const headers of ['gateway', 'two'] as const) {
    const value = await medianOf(REF_RUNS, () => rawSink(kafka.brokers, sink, records, headers));
    const what = headers === 'gateway' ? "the gateway's 8 headers" : '2 headers';
    const name = `raw sink ${sink}, ${what}, batches of ${f0(RAW_BATCH)} (msg/s, ${f0(records)} records, median of ${REF_RUNS})`;
    row(`  reference: ${name}`, f0(value), '', '', plain(`reference: ${name}`, value, 'msg/s'));
    raw[headers] = { name, value };
  }
  const [backlog, rate] = await drain(topic, env, unreachable);
  const name = `backlog drain after outage, ${sink} (msg/s, ${f0(backlog)} records)`;
  row(name, f0(rate), `${f0(java.value)} (Java producer)`, '>= 100,000', compared(name, rate, 'msg/s', java));
  for (const headers of ['gateway', 'two'] as const) {
    const ref = raw[headers];
    const what = headers === 'gateway' ? "the gateway's 8 headers" : '2 headers';
    row(
      `  drain / raw sink ${sink}, ${what}`,
      f0(rate),
      f0(ref.value),
      '',
      compared(`backlog drain after outage, ${sink}, against the raw sink with ${what}`, rate, 'msg/s', ref),
    );
  }
}

const load = machine(startedAt);
console.error(
  `bench: ${CLIENTS} publishers, ${SIZE}-byte payloads, window ${WINDOW}; load average ${load.loadavg.join(' ')}`,
);
const loadDuringRun = sampleLoad();
const kafka = await LocalKafka.start({ brokerProps: { 'log.message.timestamp.type': 'LogAppendTime' } });
const unreachable = `127.0.0.1:${await freePort()}`;
try {
  await ingestSection(unreachable);
  const java = await javaReference(kafka, CLIENTS * DRAIN_MSGS_PER_CLIENT);
  for (const sink of SINKS) await sinkSection(kafka, sink, unreachable, java);
} finally {
  await kafka.close();
}

const m = { ...load, loadavgAtEnd: loadAverage(), loadDuringRun: loadDuringRun() };
const header = `machine: ${m.cores} x ${m.cpu}, ${m.memoryGiB} GiB, Node ${m.node}, ${m.date}, load average at the start ${m.loadavg.join(' ')}, at the end ${m.loadavgAtEnd.join(' ')}, during the run ${m.loadDuringRun.mean} (mean) ${m.loadDuringRun.max} (max); ${CLIENTS} publishers, ${SIZE}-byte payloads, QoS 1, window ${WINDOW}/client${GATEWAY_NODE_OPTIONS ? `; gateway NODE_OPTIONS ${GATEWAY_NODE_OPTIONS}` : ''}`;
const titles = ['measure', 'gateway', 'baseline', 'ratio', 'target'];
const w = titles.map((t, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0), t.length));
const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(w[i] ?? 0)).join(' | ')} |`;
const table = [header, '', line(titles), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
console.log(table);
mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
writeFileSync(join(repoRoot, 'bench', 'results', `durable-path-${Date.now()}.md`), `${table}\n`);
if (jsonFile) {
  const setup = {
    publishers: CLIENTS,
    messagesPerPublisher: PER_CLIENT,
    drainMessagesPerPublisher: DRAIN_MSGS_PER_CLIENT,
    payloadBytes: SIZE,
    qos: 1,
    window: WINDOW,
    referenceRuns: REF_RUNS,
    rawBatch: RAW_BATCH,
    quick,
    gatewayNodeOptions: GATEWAY_NODE_OPTIONS ?? '',
  };
  // Relative to where ./gw was called from (gw runs the benchmarks in the repository).
  const file = resolve(process.env.GW_CALLER ?? process.cwd(), jsonFile);
  writeBenchJson(file, benchJson(m, setup, jsonRows));
  console.error(`bench: rows written to ${file}`);
}
