// Memory through a Kafka outage: a gateway whose Kafka is down (a closed loopback port) takes sustained QoS 1 ingest
// while its backlog grows; RSS, heap and external memory are sampled from /metrics and the backlog from /healthz.
// `--snapshot-at 20000,200000` writes heap snapshots (SIGUSR2) when the backlog passes those sizes.
//   node bench/memory-outage.ts --devices 40 --seconds 60 [--snapshot-at N,M] [--env KEY=VALUE ...]
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { GatewayProcess } from '../test/harness/gateway-process.ts';
import { freePort } from '../test/harness/kafka.ts';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '40' },
    seconds: { type: 'string', default: '60' },
    inflight: { type: 'string', default: '20' },
    'payload-bytes': { type: 'string', default: '200' },
    'snapshot-at': { type: 'string', default: '' },
    env: { type: 'string', multiple: true, default: [] },
    'node-args': { type: 'string', default: '' },
  },
});
const devices = Number(values.devices);
const seconds = Number(values.seconds);
const inflight = Number(values.inflight);
const payload = Buffer.alloc(Number(values['payload-bytes']), 'x');
const snapAt = values['snapshot-at'] ? values['snapshot-at'].split(',').map(Number) : [];
const env: Record<string, string | undefined> = {
  GATEWAY_KAFKA_BROKERS: `127.0.0.1:${await freePort()}`,
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

async function metric(text: string, name: string): Promise<number> {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}
async function sample(): Promise<{ rss: number; heap: number; ext: number; heapTotal: number; backlog: number }> {
  const text = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  const h = (await (await fetch(`http://127.0.0.1:${gw.httpPort}/healthz`)).json()) as {
    backlog?: { records: number };
  };
  const mb = (n: number): number => Math.round(n / 1e5) / 10;
  return {
    rss: mb(await metric(text, 'process_resident_memory_bytes')),
    heap: mb(await metric(text, 'nodejs_heap_size_used_bytes')),
    ext: mb(await metric(text, 'nodejs_external_memory_bytes')),
    heapTotal: mb(await metric(text, 'nodejs_heap_size_total_bytes')),
    backlog: h.backlog?.records ?? Number.NaN,
  };
}

let stop = false;
let acked = 0;
const clients = await Promise.all(
  Array.from({ length: devices }, (_, i) =>
    mqtt.connectAsync(gw.url, { clientId: `mem-${i}`, clean: true, reconnectPeriod: 0 }),
  ),
);
const loops = clients.map(async (c, i) => {
  const lanes = Array.from({ length: inflight }, async () => {
    while (!stop) {
      await c.publishAsync(`devices/mem-${i}/telemetry`, payload, { qos: 1 });
      acked += 1;
    }
  });
  await Promise.all(lanes);
});
const t0 = Date.now();
const rows: Awaited<ReturnType<typeof sample>>[] = [];
for (let s = 0; s < seconds; s += 2) {
  await new Promise((r) => setTimeout(r, 2000));
  const row = await sample();
  rows.push(row);
  while (snapAt.length > 0 && row.backlog >= (snapAt[0] as number)) {
    snapAt.shift();
    process.kill(gw.pid as number, 'SIGUSR2');
  }
  console.log(JSON.stringify({ t: Math.round((Date.now() - t0) / 1000), acked, ...row }));
}
stop = true;
await Promise.allSettled(loops);
await Promise.all(clients.map((c) => c.endAsync()));
const rss = rows.map((r) => r.rss);
console.log(
  JSON.stringify({
    summary: true,
    backlog: rows[rows.length - 1]?.backlog,
    rssFirst: rss[0],
    rssPeak: Math.max(...rss),
    rssLast: rss[rss.length - 1],
    heapPeak: Math.max(...rows.map((r) => r.heap)),
    extPeak: Math.max(...rows.map((r) => r.ext)),
    heapTotalPeak: Math.max(...rows.map((r) => r.heapTotal)),
    dir: gw.dataDir,
  }),
);
await gw.stop();
