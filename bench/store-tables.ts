// `./gw bench store-tables`: what store.maxOpenFiles costs and saves. Each run is a fresh node process that opens the
// gateway's store (gateway/store/store.ts) with one maxOpenFiles value, writes --records records of 280 incompressible
// bytes in batches of 1,000, then reads them all back in key order (as a read across the whole backlog does), and
// reports the time of each phase, the table files on disk, the most of them mapped at once and the process's RSS
// split into anonymous and file-backed pages (LevelDB maps each open table file). Settings alternate run by run; the
// first one (LevelDB's own default, 1000) is the baseline.
//   ./gw bench store-tables [--records 4000000] [--runs 2] [--settings 1000,100,74]
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fill, mappedTables, openStore } from '../test/harness/store-tables.ts';
import { arg, argString } from './lib/cli.ts';
import { machine } from './lib/report.ts';

interface Mem {
  rss: number;
  anon: number;
  file: number;
}
interface Result {
  maxOpenFiles: number;
  writeMs: number;
  readMs: number;
  tables: number;
  mostMapped: number;
  written: Mem;
  read: Mem;
}

function mem(): Mem {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string): number => Math.round(Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1]) / 1024);
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

async function child(maxOpenFiles: number, records: number): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-tables-'));
  try {
    const store = await openStore(dir, maxOpenFiles);
    const db = store.brokerDb();
    let t = performance.now();
    await fill(db, records);
    const writeMs = performance.now() - t;
    const written = mem();
    t = performance.now();
    let n = 0;
    let mostMapped = 0;
    for await (const _ of db.keys()) {
      if (++n % 50_000 === 0) mostMapped = Math.max(mostMapped, mappedTables(dir));
    }
    if (n !== records) throw new Error(`read ${n} of ${records} records`);
    const readMs = performance.now() - t;
    const read = mem();
    const tables = readdirSync(dir).filter((f) => f.endsWith('.ldb')).length;
    await store.stop();
    return { maxOpenFiles, writeMs, readMs, tables, mostMapped, written, read };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runChild(setting: number, records: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), '--child', String(setting), '--records', String(records)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Result) : reject(new Error(`run exited ${code}`))));
  });
}

const records = arg('records', 4_000_000);
const childSetting = argString('child');
if (childSetting) {
  process.stdout.write(JSON.stringify(await child(Number(childSetting), records)));
} else if (process.argv.includes('--help')) {
  console.log('usage: ./gw bench store-tables [--records 4000000] [--runs 2] [--settings 1000,100,74]');
} else {
  const settings = (argString('settings') ?? '1000,100,74').split(',').map(Number);
  const runs = arg('runs', 2);
  const m = machine();
  const all: Result[] = [];
  for (let r = 0; r < runs; r++) {
    for (const s of settings) {
      const res = await runChild(s, records);
      console.error(`run ${r + 1} maxOpenFiles ${s}: ${JSON.stringify(res)}`);
      all.push(res);
    }
  }
  console.log(
    `store-tables: ${records.toLocaleString('en')} records, median of ${runs}; ${m.cores} cores, node ${m.node}, ${m.date}`,
  );
  console.log(
    '| maxOpenFiles | tables | most mapped | write (s) | read (s) | RSS / anon / file after write (MB) | RSS / anon / file after read (MB) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const s of settings) {
    const rs = all.filter((x) => x.maxOpenFiles === s);
    const med = (f: (x: Result) => number): number => {
      const v = rs.map(f).sort((a, b) => a - b);
      const mid = v.length >> 1;
      return (
        Math.round((v.length % 2 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2) * 10) / 10
      );
    };
    const memOf = (k: 'written' | 'read'): string =>
      `${med((x) => x[k].rss)} / ${med((x) => x[k].anon)} / ${med((x) => x[k].file)}`;
    console.log(
      `| ${s}${s === settings[0] ? ' (baseline)' : ''} | ${med((x) => x.tables)} | ${med((x) => x.mostMapped)} | ${(med((x) => x.writeMs) / 1000).toFixed(1)} | ${(med((x) => x.readMs) / 1000).toFixed(1)} | ${memOf('written')} | ${memOf('read')} |`,
    );
  }
}
