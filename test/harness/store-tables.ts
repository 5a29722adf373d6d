// A store filled with many LevelDB table files, for the store.maxOpenFiles test and bench/store-tables.ts: the
// gateway's Store with one maxOpenFiles value, records of 280 incompressible bytes written in batches of 1,000 (so
// snappy leaves the tables at full size), and how many of the store's table files the process has mapped right now.
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { type MetaDb, Store } from '../../gateway/store/store.ts';

export async function openStore(dir: string, maxOpenFiles: number): Promise<Store> {
  const store = new Store({
    dir,
    durability: 'os',
    groupCommit: { maxRecords: 1024, windowMs: 0 },
    compactAfterDeletes: 0,
    classes: {},
    maxOpenFiles,
    log: pino({ level: 'silent' }),
  });
  await store.start();
  return store;
}

const POOL = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 2654435761) >>> 24)).toString('latin1');

/** Writes `records` records with keys in write order. */
export async function fill(db: MetaDb, records: number): Promise<void> {
  for (let i = 0; i < records; i += 1000) {
    const ops = [];
    for (let j = i; j < Math.min(records, i + 1000); j++) {
      const off = (j * 271) % (POOL.length - 300);
      ops.push({ type: 'put' as const, key: `k${String(j).padStart(10, '0')}`, value: POOL.slice(off, off + 280) });
    }
    await db.batch(ops);
  }
}

/** Table files (.ldb) under `dir` mapped into this process (LevelDB maps a table it opens and closes its fd). */
export function mappedTables(dir: string): number {
  const files = new Set<string>();
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const at = line.indexOf(dir);
    if (at >= 0 && line.endsWith('.ldb')) files.add(line.slice(at));
  }
  return files.size;
}
