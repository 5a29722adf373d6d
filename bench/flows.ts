// Throughput and latency of `gateway in → edge rule → cloud out` through the embedded Node-RED runtime, against a
// plain route doing the same work without Node-RED (parse, same compiled rule, same outbox append, complete), in the
// same run, on the same in-memory bus (so the store's cost is left out of both). Also RSS with Node-RED loaded.
//   node bench/flows.ts [--messages 50000] [--window 1000] [--devices 100]
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Value } from '@sinclair/typebox/value';
import express from 'express';
import pino from 'pino';
import { Registry } from 'prom-client';
import { FlowRuntime } from '../flows/runtime.ts';
import { type FlowsConfig, FlowsSchema } from '../flows/schema.ts';
import { compileRule } from '../flows/sql/compile.ts';
import type { TappedMessage } from '../gateway/bus.ts';
import { BenchBus } from './flows-bus.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '50000' },
    window: { type: 'string', default: '1000' },
    devices: { type: 'string', default: '100' },
  },
});
const N = Number(values.messages);
const WINDOW = Number(values.window);
const DEVICES = Number(values.devices);
const SQL = `SELECT payload.temp AS t, clientid FROM "bench/+/data" WHERE payload.temp > 10 AND payload.unit = 'C'`;
const mb = (n: number) => Math.round(n / 2 ** 20);

interface Result {
  path: string;
  msgs: number;
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
}

const payloads = Array.from({ length: 16 }, (_, i) =>
  Buffer.from(JSON.stringify({ temp: 5 + i * 2, unit: 'C', n: i })),
);
const expectedMatches = (n: number) => {
  let m = 0;
  for (let i = 0; i < n; i++) if (5 + (i % 16) * 2 > 10) m++;
  return m;
};

/** Injects N messages keeping at most WINDOW incomplete; resolves with rate and latency once all completed. */
function drive(bus: BenchBus, label: string, inject: (i: number) => void): Promise<Result> {
  return new Promise((resolve) => {
    const lat = new Float64Array(N);
    const sentAt = new Float64Array(N);
    let sent = 0;
    let done = 0;
    const start = performance.now();
    const pump = () => {
      while (sent < N && sent - done < WINDOW) {
        sentAt[sent] = performance.now();
        inject(sent++);
      }
    };
    bus.onComplete = (m: TappedMessage) => {
      const i = Number((m as TappedMessage & { benchIndex?: number }).benchIndex ?? m.deviceSeq);
      lat[done] = performance.now() - sentAt[i]!;
      done++;
      if (done === N) {
        const seconds = (performance.now() - start) / 1000;
        const sorted = Array.from(lat).sort((a, b) => a - b);
        resolve({
          path: label,
          msgs: N,
          seconds,
          rate: N / seconds,
          p50: sorted[Math.floor(N * 0.5)]!,
          p99: sorted[Math.floor(N * 0.99)]!,
        });
      } else if (sent < N && sent - done < WINDOW / 2) setImmediate(pump);
    };
    pump();
  });
}

const message = (i: number) => {
  const device = `dev-${i % DEVICES}`;
  return {
    topic: `bench/${device}/data`,
    payload: payloads[i % 16]!,
    qos: 1 as const,
    clientId: device,
    benchIndex: i,
  };
};

async function runFlow(bus: BenchBus): Promise<Result> {
  bus.completed = 0;
  bus.appended = 0;
  const r = await drive(bus, 'flow: gateway in → edge rule → cloud out', (i) => bus.inject(message(i)));
  if (bus.appended !== expectedMatches(N))
    throw new Error(`flow appended ${bus.appended}, expected ${expectedMatches(N)}`);
  return r;
}

async function runDirect(bus: BenchBus): Promise<Result> {
  // The plain route: the same work without Node-RED, through a tap registered the same way.
  const rule = compileRule(SQL);
  bus.completed = 0;
  bus.appended = 0;
  const unregister = bus.tap({
    id: 'bench-direct',
    filter: 'direct/+/data',
    deliver(m, complete) {
      const row = {
        topic: m.topic.replace('direct/', 'bench/'),
        payload: JSON.parse(m.payload.toString('utf8')),
        clientid: m.clientId,
        qos: m.qos,
        timestamp: m.ingestTs,
      };
      const out = rule.run(row);
      if (out === null) {
        complete();
        return;
      }
      const payload = Buffer.from(JSON.stringify(out));
      bus
        .appendOutbox({ kafkaTopic: 'bench_out', key: m.clientId, payload, source: { ...m, payload } })
        .then(complete, (err: unknown) => {
          throw err;
        });
    },
  });
  const r = await drive(bus, 'plain route (no Node-RED)', (i) => {
    const m = message(i);
    bus.inject({ ...m, topic: m.topic.replace('bench/', 'direct/') });
  });
  unregister();
  if (bus.appended !== expectedMatches(N)) throw new Error(`direct appended ${bus.appended}`);
  return r;
}

const rssBefore = process.memoryUsage().rss;
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'flows-bench-'));
const app = express();
const server = createServer(app);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const bus = new BenchBus();
const config = Value.Default(FlowsSchema, { installDefaultFlows: true }) as FlowsConfig;
const runtime = new FlowRuntime({
  config,
  bus,
  log: pino({ level: 'error' }),
  metrics: new Registry(),
  app,
  server,
  dataDir,
});
await runtime.start();
const rssLoaded = process.memoryUsage().rss;

// The bench flow, deployed next to the shipped flows through the admin API as an operator would.
const current = (await (await fetch(`${base}/editor/flows`, { headers: { 'node-red-api-version': 'v2' } })).json()) as {
  flows: unknown[];
  rev: string;
};
const benchFlow = [
  { id: 'bench_tab', type: 'tab', label: 'bench' },
  { id: 'bench_in', z: 'bench_tab', x: 120, y: 80, type: 'gateway in', topic: 'bench/+/data', wires: [['bench_rule']] },
  { id: 'bench_rule', z: 'bench_tab', x: 320, y: 80, type: 'edge rule', sql: SQL, wires: [['bench_out']] },
  {
    id: 'bench_out',
    z: 'bench_tab',
    x: 520,
    y: 80,
    type: 'cloud out',
    kafkaTopic: 'bench_out',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a key template, rendered per message.
    key: '${clientid}',
    wires: [],
  },
];
const res = await fetch(`${base}/editor/flows`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'node-red-api-version': 'v2', 'node-red-deployment-type': 'full' },
  body: JSON.stringify({ flows: [...current.flows, ...benchFlow], rev: current.rev }),
});
if (res.status !== 200) throw new Error(`deploy failed: ${res.status} ${await res.text()}`);
await bus.whenTapped('bench_in', 10_000);

// Warm up both, then alternate measured runs.
const results: Result[] = [];
await runFlow(bus);
await runDirect(bus);
for (let round = 0; round < 2; round++) {
  results.push(await runFlow(bus));
  results.push(await runDirect(bus));
}
const rssAfter = process.memoryUsage().rss;
await runtime.stop();
await new Promise((resolve) => server.close(resolve));
await rm(dataDir, { recursive: true, force: true });

const cpus = os.cpus();
console.log(
  `# flows bench — ${N} msgs/run, window ${WINDOW}, ${DEVICES} devices, ${expectedMatches(N)} match the rule`,
);
console.log(`# ${cpus[0]?.model ?? 'cpu'} × ${cpus.length}, Node ${process.version}, ${os.platform()} ${os.release()}`);
console.log('| path | msgs | s | msg/s | p50 ms | p99 ms |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of results) {
  console.log(
    `| ${r.path} | ${r.msgs} | ${r.seconds.toFixed(2)} | ${Math.round(r.rate)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`,
  );
}
console.log(
  `\nRSS: ${mb(rssBefore)} MB before Node-RED, ${mb(rssLoaded)} MB with Node-RED and the shipped flows loaded,`,
);
console.log(`${mb(rssAfter)} MB after the runs.`);
process.exit(0);
