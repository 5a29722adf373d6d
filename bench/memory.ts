#!/usr/bin/env node
// `./gw bench memory`: the idle gateway's resident memory (RSS), flows off and flows on, against Node itself
// (`node -e 'setTimeout(() => {}, 1e9)'`) in the same run. Each figure is the median of --runs starts; each start
// idles --idle seconds after "gateway ready", connected to a local Kafka, adapters and downlink off.
// --against DIR measures the gateway in DIR (another checkout, e.g. `git archive` of an older commit with a
// node_modules link, or the JavaScript build in dist/) in the same run, alternating start by start. --modules adds
// what each package costs when it is imported alone in a fresh node, over Node itself.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort, LocalKafka, repoRoot } from '../test/harness/kafka.ts';
import { arg, argString, medianBy } from './lib/cli.ts';
import { benchJson, compared, type JsonRow, machine, writeBenchJson } from './lib/report.ts';

const USAGE = `usage: ./gw bench memory [--runs 3] [--idle 10] [--against DIR[,DIR...]] [--modules] [--node-args ARGS] [--json FILE]

  --runs N       starts of each process; the median RSS is shown
  --idle S       seconds idle after start before RSS is read
  --against DIR  also measure the gateway of another checkout (DIR/app/main.ts), alternating with this one;
                 a JavaScript build (DIR/app/main.js, e.g. dist after \`npm run build\`) when DIR has no main.ts;
                 several, comma-separated, are measured in turn
  --modules      also: RSS of a fresh node that imports one package alone, over Node itself (median of --runs);
                 one more row imports a one-line .ts file: the cost of Node's TypeScript type stripping
  --node-args A  node options for every process measured (gateways, Node itself, imports), e.g.
                 "--max-semi-space-size=1"; space-separated
  --json FILE    also write the rows as JSON (see bench/README.md)`;

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}

const RUNS = arg('runs', 3);
const IDLE_MS = arg('idle', 10) * 1000;
const against = argString('against');
const jsonFile = argString('json');
const NODE_ARGS = (argString('node-args') ?? '').split(' ').filter(Boolean);

/** The packages the gateway can load, each imported alone by --modules. */
const PACKAGES = [
  '@platformatic/kafka',
  'kafkajs',
  'aedes',
  'classic-level',
  'express',
  'prom-client',
  'pino',
  'pino-pretty',
  '@sinclair/typebox/value',
  'jose',
  'yaml',
  'ws',
  'serialport',
  'modbus-serial',
  'node-red',
];

function rssOf(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits for `ready` on the child's output (60 s at most), idles, reads RSS and stops the child. */
async function idleRss(p: ChildProcess, ready: string | undefined, idleMs = IDLE_MS): Promise<number> {
  let out = '';
  const exited = once(p, 'exit');
  if (ready !== undefined) {
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`not ready in 60 s:\n${out.slice(-2000)}`)), 60_000);
      const onData = (d: Buffer): void => {
        out += d.toString();
        if (out.includes(ready)) {
          clearTimeout(timer);
          res();
        }
      };
      p.stdout?.on('data', onData);
      p.stderr?.on('data', onData);
      p.once('exit', (code) => rej(new Error(`exited (${code}) before ready:\n${out.slice(-2000)}`)));
    });
  }
  await sleep(idleMs);
  const rss = rssOf(p.pid);
  p.kill('SIGTERM');
  await exited;
  return rss;
}

const node = (args: string[]): ChildProcess =>
  spawn(process.execPath, [...NODE_ARGS, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });

/** The gateway's entry in `root`: app/main.ts, or app/main.js in a JavaScript build (`npm run build`, dist/). */
const gatewayMain = (root: string): string =>
  existsSync(join(root, 'app', 'main.ts')) ? join(root, 'app', 'main.ts') : join(root, 'app', 'main.js');

/** One gateway start from `root`, flows on or off, connected to `brokers`: its RSS after idling. */
async function gatewayRss(root: string, flows: boolean, brokers: string[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-mem-'));
  const p = spawn(process.execPath, [...NODE_ARGS, gatewayMain(root)], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      GATEWAY_DATA_DIR: join(dir, 'data'),
      GATEWAY_MQTT_HOST: '127.0.0.1',
      GATEWAY_MQTT_PORT: String(await freePort()),
      GATEWAY_HTTP_HOST: '127.0.0.1',
      GATEWAY_HTTP_PORT: String(await freePort()),
      GATEWAY_KAFKA_BROKERS: brokers.join(','),
      GATEWAY_FLOWS_ENABLED: String(flows),
      GATEWAY_DOWNLINK_ENABLED: 'false',
      GATEWAY_LOG_PRETTY: 'off',
    },
  });
  try {
    return await idleRss(p, '"gateway ready"');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => medianBy(xs, (x) => x);
const f0 = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Idle RSS of Node itself and of each gateway (this checkout, then --against), alternating start by start. */
async function idleSection(brokers: string[], rows: [string, string, string, string][], json: JsonRow[]) {
  const roots: [string, string][] = [['this checkout', repoRoot]];
  for (const a of against ? against.split(',') : []) {
    roots.push([`--against ${a}`, resolve(process.env.GW_CALLER ?? process.cwd(), a)]);
  }
  const base: number[] = [];
  const got = new Map<string, number[]>();
  for (let i = 0; i < RUNS; i++) {
    base.push(await idleRss(node(['-e', 'setTimeout(() => {}, 1e9)']), undefined));
    for (const flows of [false, true]) {
      for (const [name, root] of roots) {
        const key = `${name}, flows ${flows ? 'on' : 'off'}`;
        const rss = await gatewayRss(root, flows, brokers);
        got.set(key, [...(got.get(key) ?? []), rss]);
        console.error(`  run ${i + 1}: ${key}: ${f0(rss)} MB (node itself ${f0(base.at(-1) ?? 0)} MB)`);
      }
    }
  }
  const nodeName = `node -e 'setTimeout(()=>{},1e9)' (median of ${RUNS})`;
  for (const [key, xs] of got) {
    const name = `idle RSS after ${IDLE_MS / 1000} s, ${key} (MB, median of ${RUNS})`;
    const value = median(xs);
    rows.push([name, f0(value), f0(median(base)), (value / median(base)).toFixed(2)]);
    json.push(compared(name, value, 'MB', { name: nodeName, value: median(base) }));
  }
}

/** RSS of a fresh node 2 s after it imported `pkg` alone (Node itself for ''). */
async function importRss(pkg: string): Promise<number> {
  const code = pkg ? `await import(${JSON.stringify(pkg)}); setTimeout(() => {}, 1e9);` : 'setTimeout(() => {}, 1e9);';
  return idleRss(node(['--input-type=module', '-e', code]), undefined, 2000);
}

async function modulesSection(rows: [string, string, string, string][], json: JsonRow[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-mem-ts-'));
  const ts = join(dir, 'one-line.ts');
  writeFileSync(ts, 'export const one: number = 1;\n');
  for (const pkg of [...PACKAGES, pathToFileURL(ts).href]) {
    const xs: number[] = [];
    const bs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      bs.push(await importRss(''));
      xs.push(await importRss(pkg));
    }
    const [value, b] = [median(xs), median(bs)];
    const what = pkg.startsWith('file:') ? 'a one-line .ts file (type stripping)' : `'${pkg}'`;
    const name = `import ${what} alone: RSS over Node itself (MB, median of ${RUNS})`;
    rows.push([name, f0(value - b), f0(b), '']);
    json.push({ name, value: value - b, unit: 'MB', baseline: { name: 'node itself (MB)', value: b } });
    console.error(`  ${what}: +${(value - b).toFixed(1)} MB`);
  }
  rmSync(dir, { recursive: true, force: true });
}

const m = machine();
const rows: [string, string, string, string][] = [];
const json: JsonRow[] = [];
const kafka = await LocalKafka.start();
try {
  await idleSection(kafka.brokers, rows, json);
} finally {
  await kafka.close();
}
if (process.argv.includes('--modules')) await modulesSection(rows, json);

const titles = ['measure', 'MB', 'node itself (MB)', 'ratio'];
const w = titles.map((t, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0), t.length));
const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(w[i] ?? 0)).join(' | ')} |`;
const header = `machine: ${m.cores} x ${m.cpu}, ${m.memoryGiB} GiB, Node ${m.node}, ${m.date}, load average ${m.loadavg.join(' ')}${NODE_ARGS.length ? `; node ${NODE_ARGS.join(' ')}` : ''}`;
const table = [header, '', line(titles), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
console.log(table);
mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
writeFileSync(join(repoRoot, 'bench', 'results', `memory-${Date.now()}.md`), `${table}\n`);
if (jsonFile) {
  const file = resolve(process.env.GW_CALLER ?? process.cwd(), jsonFile);
  writeBenchJson(
    file,
    benchJson(
      m,
      { runs: RUNS, idleSeconds: IDLE_MS / 1000, against: against ?? '', nodeArgs: NODE_ARGS.join(' ') },
      json,
    ),
  );
}
