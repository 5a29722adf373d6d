#!/usr/bin/env node
// `./gw bench heap`: the cost and gain of memory settings for the gateway process, measured side by side. Two
// gateways forward to the same local Kafka: A as the gateway's launch starts it (gw's heap options), B with
// `--b-node-options` (its NODE_OPTIONS, in place of the launch's)
// and `--b-env KEY=VALUE` (e.g. MALLOC_ARENA_MAX=2). Runs alternate between them; each run publishes --clients x
// --messages QoS 1 messages of 256 bytes and waits until Kafka acknowledged all of them. The table shows the medians of
// ingest (PUBACK) rate, PUBACK p99 and end-to-end rate, and each gateway's RSS: after start, the peak (VmHWM) and at
// the end. All traffic stays on 127.0.0.1.
//   ./gw bench heap [--runs 5] [--clients 100] [--messages 2000]
//                   [--b-node-options "--max-semi-space-size=1"] [--b-env MALLOC_ARENA_MAX=2 ...]
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { GatewayProcess, pollUntil } from '../test/harness/gateway-process.ts';
import { LocalKafka } from '../test/harness/kafka.ts';
import { medianBy, type PubResult, publish } from './lib/cli.ts';
import { peakRss } from './lib/measure.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    clients: { type: 'string', default: '100' },
    messages: { type: 'string', default: '2000' },
    'b-node-options': { type: 'string', default: '--max-semi-space-size=1' },
    'b-env': { type: 'string', multiple: true, default: ['MALLOC_ARENA_MAX=2'] },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(
    'usage: ./gw bench heap [--runs 5] [--clients 100] [--messages 2000]\n' +
      '                       [--b-node-options "--max-semi-space-size=1"] [--b-env MALLOC_ARENA_MAX=2 ...]\n' +
      'Gateway A (defaults) against gateway B (those settings), alternating runs into one local Kafka.',
  );
  process.exit(0);
}
const RUNS = Number(values.runs);
const CLIENTS = Number(values.clients);
const PER_CLIENT = Number(values.messages);
const bEnv: Record<string, string> = {};
for (const kv of values['b-env'] ?? []) {
  const i = kv.indexOf('=');
  if (i < 1) throw new Error(`--b-env ${kv}: expected KEY=VALUE`);
  bEnv[kv.slice(0, i)] = kv.slice(i + 1);
}
if (values['b-node-options']) bEnv.NODE_OPTIONS = values['b-node-options'];

/** The process's resident set now (VmRSS) in MB. */
function rss(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

interface Run {
  pub: PubResult;
  e2e: number;
}

const kafka = await LocalKafka.start();
const env = { GATEWAY_FLOWS_ENABLED: 'false', GATEWAY_KAFKA_BROKERS: kafka.brokers.join(',') };
const gws = {
  A: await GatewayProcess.create({ env: { ...env, GATEWAY_KAFKA_CLIENT_ID: 'heap-a' } }),
  B: await GatewayProcess.create({ env: { ...env, GATEWAY_KAFKA_CLIENT_ID: 'heap-b', ...bEnv } }),
};
try {
  const startRss: Record<string, number> = {};
  for (const [name, gw] of Object.entries(gws)) {
    await gw.start();
    await new Promise((r) => setTimeout(r, 5000));
    startRss[name] = rss(gw.pid);
  }
  // Warm-up: the topic's creation and the clients' first connections are not part of any run.
  for (const gw of Object.values(gws)) {
    await publish(gw.mqttPort, { clients: CLIENTS, perClient: 1 });
    await pollUntil('warm-up forwarded', async () => (await gw.metric('gateway_forwarded_records_total')) >= CLIENTS);
  }
  const runs: Record<string, Run[]> = { A: [], B: [] };
  const forwarded: Record<string, number> = { A: CLIENTS, B: CLIENTS };
  for (let i = 0; i < RUNS; i++) {
    for (const [name, gw] of Object.entries(gws)) {
      const t0 = performance.now();
      const pub = await publish(gw.mqttPort, { clients: CLIENTS, perClient: PER_CLIENT });
      const want = (forwarded[name] as number) + CLIENTS * PER_CLIENT;
      await pollUntil(
        'forwarded',
        async () => (await gw.metric('gateway_forwarded_records_total')) >= want,
        600_000,
        50,
      );
      forwarded[name] = want;
      const e2e = (CLIENTS * PER_CLIENT) / ((performance.now() - t0) / 1000);
      runs[name]?.push({ pub, e2e });
      console.error(
        `  run ${i + 1} ${name}: ingest ${Math.round(pub.rate)} msg/s, p99 ${pub.p99.toFixed(1)} ms, ` +
          `end to end ${Math.round(e2e)} msg/s, RSS ${Math.round(rss(gw.pid))} MB`,
      );
    }
  }
  const med = (xs: Run[], by: (r: Run) => number): number => by(medianBy(xs, by));
  const f0 = (n: number): string => Math.round(n).toLocaleString('en-US');
  const a = runs.A as Run[];
  const b = runs.B as Run[];
  const settings = Object.entries(bEnv)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ');
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Node ${process.version}, load ${loadavg()[0]}`);
  console.log(
    `${CLIENTS} publishers x ${PER_CLIENT} QoS 1 messages of 256 bytes per run, forwarded to a local Kafka; ` +
      `median of ${RUNS} alternating runs; B: ${settings}`,
  );
  console.log('| measure | A (defaults) | B | B / A |');
  console.log('| --- | --- | --- | --- |');
  const line = (what: string, x: number, y: number, digits = 0) =>
    console.log(`| ${what} | ${x.toFixed(digits)} | ${y.toFixed(digits)} | ${(y / x).toFixed(2)} |`);
  line(
    'ingest, PUBACK rate (msg/s)',
    med(a, (r) => r.pub.rate),
    med(b, (r) => r.pub.rate),
  );
  line(
    'PUBACK p99 (ms)',
    med(a, (r) => r.pub.p99),
    med(b, (r) => r.pub.p99),
    1,
  );
  line(
    'end to end MQTT -> Kafka (msg/s)',
    med(a, (r) => r.e2e),
    med(b, (r) => r.e2e),
  );
  line('RSS 5 s after start (MB)', startRss.A as number, startRss.B as number);
  line('peak RSS, VmHWM (MB)', peakRss(gws.A.pid), peakRss(gws.B.pid));
  line('RSS at the end (MB)', rss(gws.A.pid), rss(gws.B.pid));
  console.log(`records forwarded: A ${f0(forwarded.A as number)}, B ${f0(forwarded.B as number)}`);
} finally {
  await gws.A.close();
  await gws.B.close();
  await kafka.close();
}
