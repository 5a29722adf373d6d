// Memory through a Kafka outage and its drain: a gateway forwarding to a real local Kafka; Kafka is stopped while
// devices publish QoS 1 flat out until the backlog reaches --backlog records, then restarted while the devices go on
// at --drain-rate msg/s until the backlog is back under --drained records. RSS, heap used and committed, external
// and ArrayBuffers are sampled from /metrics and the backlog from /healthz every 2 s; first / peak / last per phase.
// `--snapshot-drain 0.3,0.6` writes heap snapshots (SIGUSR2, into the gateway's data dir) when that fraction of the
// backlog has drained; `--snapshot-outage N` when the outage backlog passes N. `--live-seconds S` keeps the devices at
// --drain-rate for S seconds more once the backlog is drained (every record then goes straight through: a third
// phase, `live`); `--snapshot-live S` writes a snapshot S seconds into it.
//   node bench/memory-drain.ts --backlog 1500000 [--drain-rate 3000] [--live-seconds 0] [--node-args=...]
//     [--env KEY=VALUE ...]
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { GatewayProcess } from '../test/harness/gateway-process.ts';
import { LocalKafka } from '../test/harness/kafka.ts';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '40' },
    inflight: { type: 'string', default: '20' },
    'payload-bytes': { type: 'string', default: '200' },
    backlog: { type: 'string', default: '1500000' },
    'outage-seconds': { type: 'string', default: '240' },
    'drain-rate': { type: 'string', default: '3000' },
    drained: { type: 'string', default: '20000' },
    'drain-seconds': { type: 'string', default: '600' },
    'snapshot-outage': { type: 'string', default: '' },
    'snapshot-drain': { type: 'string', default: '' },
    'live-seconds': { type: 'string', default: '0' },
    'snapshot-live': { type: 'string', default: '' },
    env: { type: 'string', multiple: true, default: [] },
    'node-args': { type: 'string', default: '' },
  },
});
const devices = Number(values.devices);
const inflight = Number(values.inflight);
const payload = Buffer.alloc(Number(values['payload-bytes']), 'x');
const target = Number(values.backlog);
const drainRate = Number(values['drain-rate']);
const list = (s: string): number[] => (s ? s.split(',').map(Number) : []);
const snapOutage = list(values['snapshot-outage']);
const snapDrain = list(values['snapshot-drain']);

const kafka = await LocalKafka.start();
const topic = `bench.drain.${randomBytes(4).toString('hex')}`;
const env: Record<string, string | undefined> = {
  GATEWAY_KAFKA_BROKERS: kafka.brokers.join(','),
  GATEWAY_KAFKA_RETRY_MAX_MS: '2000',
  GATEWAY_ROUTES: JSON.stringify([{ filter: 'devices/#', topic }]),
  GATEWAY_LOG_LEVEL: 'info',
  // V8's and glibc's own defaults unless --node-args (or --env NODE_OPTIONS=…, --env MALLOC_ARENA_MAX=…) says
  // otherwise: not the launch's heap and malloc settings.
  NODE_OPTIONS: '',
  MALLOC_ARENA_MAX: undefined,
};
for (const kv of values.env ?? []) {
  const i = kv.indexOf('=');
  env[kv.slice(0, i)] = kv.slice(i + 1);
}
const nodeArgs = ['--heapsnapshot-signal=SIGUSR2', ...values['node-args'].split(' ').filter(Boolean)];
const gw = await GatewayProcess.create({ env, wrap: (cmd, args) => [cmd, [...nodeArgs, ...args]] });
await gw.start();

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}
function metricSum(text: string, name: string): number {
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'gm'))) n += Number(m[1]);
  return n;
}
const mb = (n: number): number => Math.round(n / 1e5) / 10;
interface Row {
  rss: number;
  heap: number;
  heapTotal: number;
  /** Committed new (young) and old space of the heap. */
  newSpace: number;
  oldSpace: number;
  ext: number;
  ab: number;
  /** Resident anonymous memory and resident file-backed pages (LevelDB maps its table files), /proc/<pid>/status. */
  anon: number;
  file: number;
  backlog: number;
  forwarded: number;
}
function procStatus(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 100) / 10 : Number.NaN;
}
async function sample(): Promise<Row> {
  const text = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  const h = (await (await fetch(`http://127.0.0.1:${gw.httpPort}/healthz`)).json()) as {
    backlog?: { records: number };
  };
  return {
    rss: mb(metric(text, 'process_resident_memory_bytes')),
    heap: mb(metric(text, 'nodejs_heap_size_used_bytes')),
    heapTotal: mb(metric(text, 'nodejs_heap_size_total_bytes')),
    newSpace: mb(metric(text, 'nodejs_heap_space_size_total_bytes\\{space="new"\\}')),
    oldSpace: mb(metric(text, 'nodejs_heap_space_size_total_bytes\\{space="old"\\}')),
    ext: mb(metric(text, 'nodejs_external_memory_bytes')),
    ab: mb(metric(text, 'nodejs_array_buffers_bytes')),
    anon: procStatus(gw.pid as number, 'RssAnon'),
    file: procStatus(gw.pid as number, 'RssFile'),
    backlog: h.backlog?.records ?? Number.NaN,
    forwarded: metricSum(text, 'gateway_forwarded_records_total'),
  };
}

// Flat out (inflight publishes per device) while Kafka is down; paced to drainRate in all while it drains.
let phase: 'outage' | 'drain' | 'live' | 'done' = 'outage';
let acked = 0;
const clients = await Promise.all(
  Array.from({ length: devices }, (_, i) =>
    mqtt.connectAsync(gw.url, { clientId: `mem-${i}`, clean: true, reconnectPeriod: 0 }),
  ),
);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pub = async (c: mqtt.MqttClient, i: number): Promise<void> => {
  await c.publishAsync(`devices/mem-${i}/telemetry`, payload, { qos: 1 });
  acked += 1;
};
const loops = clients.map(async (c, i) => {
  const lanes = Array.from({ length: inflight }, async () => {
    while (phase === 'outage') await pub(c, i);
  });
  await Promise.all(lanes);
  // Each device sends its share of drainRate in ticks of 100 ms.
  const perTick = drainRate / devices / 10;
  let owed = 0;
  while (phase === 'drain' || phase === 'live') {
    const t = Date.now();
    owed += perTick;
    const n = Math.floor(owed);
    owed -= n;
    await Promise.all(Array.from({ length: n }, () => pub(c, i)));
    await sleep(Math.max(0, 100 - (Date.now() - t)));
  }
});

const t0 = Date.now();
type Phase = 'outage' | 'drain' | 'live';
const rows: Record<Phase, (Row & { t: number })[]> = { outage: [], drain: [], live: [] };
async function tick(p: Phase): Promise<Row & { t: number }> {
  await sleep(2000);
  const row = { t: Math.round((Date.now() - t0) / 1000), ...(await sample()) };
  rows[p].push(row);
  console.log(JSON.stringify({ phase: p, acked, ...row }));
  return row;
}
let snapped = false;
function snapshot(): void {
  snapped = true;
  process.kill(gw.pid as number, 'SIGUSR2');
  console.log(JSON.stringify({ snapshot: true, t: Math.round((Date.now() - t0) / 1000) }));
}

await kafka.stop();
const outageEnd = Date.now() + Number(values['outage-seconds']) * 1000;
for (;;) {
  const row = await tick('outage');
  while (snapOutage.length > 0 && row.backlog >= (snapOutage[0] as number)) {
    snapOutage.shift();
    snapshot();
  }
  if (row.backlog >= target || Date.now() >= outageEnd) break;
}
phase = 'drain';
const restartAt = Date.now();
await kafka.restart();
const restartMs = Date.now() - restartAt;
const peakBacklog = Math.max(...rows.outage.map((r) => r.backlog));
const drainEnd = Date.now() + Number(values['drain-seconds']) * 1000;
const fwd0 = rows.outage[rows.outage.length - 1]?.forwarded ?? 0;
for (;;) {
  const row = await tick('drain');
  const done = 1 - row.backlog / peakBacklog;
  while (snapDrain.length > 0 && done >= (snapDrain[0] as number)) {
    snapDrain.shift();
    snapshot();
  }
  if (row.backlog <= Number(values.drained) || Date.now() >= drainEnd) break;
}
const drainSecs = (Date.now() - restartAt) / 1000;
// Then, with --live-seconds, the same paced traffic with the backlog gone: every record goes straight through.
phase = 'live';
const liveEnd = Date.now() + Number(values['live-seconds']) * 1000;
const snapLiveAt = values['snapshot-live'] ? Date.now() + Number(values['snapshot-live']) * 1000 : 0;
while (Date.now() < liveEnd) {
  await tick('live');
  if (snapLiveAt && Date.now() >= snapLiveAt && !snapped) snapshot();
}
phase = 'done';
await Promise.allSettled(loops);
await Promise.all(clients.map((c) => c.endAsync()));

const stats = (rs: Row[], k: keyof Row): string =>
  `${rs[0]?.[k]} / ${Math.max(...rs.map((r) => r[k]))} / ${rs[rs.length - 1]?.[k]}`;
const outT = rows.outage.length * 2;
const last = rows.drain[rows.drain.length - 1];
const summary = {
  summary: true,
  backlogPeak: peakBacklog,
  ingestOutageMsgPerSec: Math.round(peakBacklog / outT),
  kafkaRestartSec: Math.round(restartMs / 100) / 10,
  drainSec: Math.round(drainSecs),
  backlogLeft: last?.backlog,
  forwardedPerSecDrain: Math.round(((last?.forwarded ?? 0) - fwd0) / drainSecs),
  ...Object.fromEntries(
    (['outage', 'drain', 'live'] as const)
      .filter((p) => rows[p].length > 0)
      .flatMap((p) =>
        (['rss', 'anon', 'file', 'heap', 'heapTotal', 'newSpace', 'oldSpace', 'ext', 'ab'] as const).map((k) => [
          `${p}.${k}`,
          stats(rows[p], k),
        ]),
      ),
  ),
  dir: snapped ? gw.dataDir : undefined,
};
console.log(JSON.stringify(summary));
// The data dir (with the heap snapshots) is kept only when snapshots were written.
if (snapped) await gw.stop();
else await gw.close();
await kafka.close();
