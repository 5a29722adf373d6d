#!/usr/bin/env node
// Measures the simulator's own cost: memory and CPU per 1,000 devices. A plain in-memory broker runs in a child
// process (so its cost is not counted), and each fleet size runs in a fresh child process of its own.
//   node device-sim/bench-scale.ts [--sizes 1000,2500,5000,10000] [--seconds 20] [--msg-interval 10000]
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runFleet } from './fleet.ts';

interface Measure {
  devices: number;
  connectedAll: boolean;
  connectSeconds: number;
  baseRssMb: number;
  rssMb: number;
  heapMb: number;
  cpuPct: number;
  msgPerSec: number;
  acked: number;
  sent: number;
}

const here = fileURLToPath(new URL('.', import.meta.url));

async function child(url: string, devices: number, seconds: number, intervalMs: number): Promise<Measure> {
  globalThis.gc?.();
  const baseRss = process.memoryUsage().rss;
  const started = Date.now();
  let steady: { t: number; cpu: NodeJS.CpuUsage; sent: number } | undefined;
  let last = { rss: 0, heap: 0, cpuPct: 0, rate: 0 };
  const result = runFleet({
    url,
    devices,
    profiles: ['door-lock', 'vehicle', 'factory-sensor', 'logistics-tracker'],
    durationMs: seconds * 1000,
    intervalMs,
    qos: 1,
    connectRate: 2000,
    offlineScale: 0,
    quiet: true,
    drainTimeoutMs: 10_000,
    seed: 1,
  });
  const sampler = setInterval(() => {
    const mem = process.memoryUsage();
    last.rss = mem.rss;
    last.heap = mem.heapUsed;
  }, 1000);
  // CPU is measured from the middle of the run (at most 8 s in, once the fleet is up) to its end.
  const probe = setInterval(() => {
    const now = Date.now();
    if (!steady && now - started > Math.min(seconds * 500, 8000)) {
      steady = { t: now, cpu: process.cpuUsage(), sent: 0 };
    } else if (steady) {
      const cpu = process.cpuUsage(steady.cpu);
      last.cpuPct = ((cpu.user + cpu.system) / 1000 / (now - steady.t)) * 100;
    }
  }, 500);
  const r = await result;
  clearInterval(sampler);
  clearInterval(probe);
  const firstFull = r.samples.find((s) => s.connected === devices);
  const steadySamples = r.samples.filter((s) => firstFull && s.t > firstFull.t + 2000 && s.t <= seconds * 1000);
  const rate = steadySamples.length ? steadySamples.reduce((n, s) => n + s.ackRate, 0) / steadySamples.length : 0;
  last = { ...last, rate };
  let sent = 0;
  let acked = 0;
  for (const d of Object.values(r.ledger.devices)) {
    sent += d.sent;
    for (const [a, b] of d.acked) acked += b - a + 1;
  }
  return {
    devices,
    connectedAll: firstFull !== undefined,
    connectSeconds: firstFull ? firstFull.t / 1000 : Number.NaN,
    baseRssMb: baseRss / 2 ** 20,
    rssMb: last.rss / 2 ** 20,
    heapMb: last.heap / 2 ** 20,
    cpuPct: last.cpuPct,
    msgPerSec: last.rate,
    sent,
    acked,
  };
}

async function startBroker(): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [`${here}cli.ts`, 'broker', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  proc.stdout!.setEncoding('utf8');
  const [line] = (await once(proc.stdout!, 'data')) as [string];
  return { url: line.trim(), proc };
}

async function driver(sizes: number[], seconds: number, intervalMs: number): Promise<void> {
  const rows: Measure[] = [];
  for (const n of sizes) {
    const broker = await startBroker();
    const c = spawn(
      process.execPath,
      [
        '--expose-gc',
        fileURLToPath(import.meta.url),
        '--child',
        String(n),
        '--url',
        broker.url,
        '--seconds',
        String(seconds),
        '--msg-interval',
        String(intervalMs),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    c.stdout!.setEncoding('utf8');
    c.stdout!.on('data', (s: string) => {
      out += s;
    });
    await once(c, 'exit');
    broker.proc.kill('SIGTERM');
    await once(broker.proc, 'exit');
    const m = JSON.parse(out.trim().split('\n').pop()!) as Measure;
    rows.push(m);
    process.stderr.write(`${n} devices: ${JSON.stringify(m)}\n`);
  }
  const cpu = cpus()[0];
  console.log(
    `machine: ${cpus().length} × ${cpu?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`,
  );
  console.log(`each device: 1 msg per ${intervalMs / 1000} s (jitter ±20%), QoS 1, persistent session, profiles mixed`);
  console.log('');
  console.log('devices  all connected in  RSS MB  RSS MB/1k  heap MB  CPU %  CPU %/1k  acked msg/s  sent  acked');
  for (const m of rows) {
    const k = m.devices / 1000;
    console.log(
      [
        String(m.devices).padStart(7),
        `${m.connectSeconds.toFixed(1)} s`.padStart(16),
        m.rssMb.toFixed(0).padStart(6),
        ((m.rssMb - m.baseRssMb) / k).toFixed(1).padStart(9),
        m.heapMb.toFixed(0).padStart(7),
        m.cpuPct.toFixed(1).padStart(5),
        (m.cpuPct / k).toFixed(2).padStart(8),
        m.msgPerSec.toFixed(0).padStart(11),
        String(m.sent).padStart(5),
        String(m.acked).padStart(6),
      ].join('  '),
    );
  }
}

const { values } = parseArgs({
  options: {
    child: { type: 'string' },
    url: { type: 'string' },
    sizes: { type: 'string', default: '1000,2500,5000,10000' },
    seconds: { type: 'string', default: '20' },
    'msg-interval': { type: 'string', default: '10000' },
  },
});
const seconds = Number(values.seconds);
const interval = Number(values['msg-interval']);
if (values.child) {
  const m = await child(values.url!, Number(values.child), seconds, interval);
  process.stdout.write(`${JSON.stringify(m)}\n`);
  process.exit(0);
} else {
  await driver(values.sizes.split(',').map(Number), seconds, interval);
}
