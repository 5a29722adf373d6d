// What the box itself says for /healthz and /metrics: the build (version, Node), since when the process runs, and the
// data dir's disk (free and total bytes of its filesystem, the store's own size). The disk is read at most every few
// seconds, however often health and metrics are asked.
import { readdirSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Gauge, type Registry } from 'prom-client';

export interface DiskInfo {
  /** Bytes an unprivileged writer can still use on the data dir's filesystem. */
  freeBytes: number;
  totalBytes: number;
  /** Bytes of the store's files (LevelDB tables, logs, manifest). */
  storeBytes: number;
}

export interface SystemOptions {
  dataDir: string;
  storeDir: string;
  version: string;
  /** How long a disk reading is reused. */
  cacheMs?: number;
  now?: () => number;
}

/** Bytes of the regular files below `dir` (0 when it does not exist yet). */
function dirBytes(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir, { recursive: true }) as string[];
  } catch {
    return 0;
  }
  for (const name of names) {
    try {
      const st = statSync(join(dir, name));
      if (st.isFile()) total += st.size;
    } catch {
      // Compaction removed it between the listing and the stat.
    }
  }
  return total;
}

export class SystemInfo {
  readonly version: string;
  readonly startedAt = new Date();
  private readonly o: SystemOptions;
  private readonly now: () => number;
  private cached: { at: number; disk: DiskInfo } | undefined;

  constructor(o: SystemOptions) {
    this.o = o;
    this.version = o.version;
    this.now = o.now ?? Date.now;
  }

  get uptimeSec(): number {
    return Math.round((this.now() - this.startedAt.getTime()) / 1000);
  }

  disk(): DiskInfo {
    const now = this.now();
    if (this.cached && now - this.cached.at < (this.o.cacheMs ?? 2000)) return this.cached.disk;
    let freeBytes = 0;
    let totalBytes = 0;
    try {
      const fs = statfsSync(this.o.dataDir);
      freeBytes = fs.bavail * fs.bsize;
      totalBytes = fs.blocks * fs.bsize;
    } catch {
      // No filesystem answer (the dir vanished): reported as 0, which readiness reads as full.
    }
    const disk = { freeBytes, totalBytes, storeBytes: dirBytes(this.o.storeDir) };
    this.cached = { at: now, disk };
    return disk;
  }
}

/** gateway_build_info, the data disk's free and total bytes and the store's size, read at scrape time. */
export function systemMetrics(registry: Registry, sys: SystemInfo): void {
  new Gauge({
    name: 'gateway_build_info',
    help: 'Always 1; the labels name the gateway version and the Node.js version it runs on.',
    labelNames: ['version', 'node'],
    registers: [registry],
  }).set({ version: sys.version, node: process.versions.node }, 1);
  const gauge = (name: string, help: string, read: (d: DiskInfo) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(sys.disk()));
      },
    });
  };
  gauge('gateway_data_disk_free_bytes', "Free bytes on the data dir's filesystem.", (d) => d.freeBytes);
  gauge('gateway_data_disk_total_bytes', "Size of the data dir's filesystem in bytes.", (d) => d.totalBytes);
  gauge('gateway_store_size_bytes', "Bytes of the store's files on disk.", (d) => d.storeBytes);
  // prom-client's defaults have external memory but not the ArrayBuffers (Buffers) within it.
  new Gauge({
    name: 'nodejs_array_buffers_bytes',
    help: 'Memory of ArrayBuffers and Buffers in bytes (process.memoryUsage().arrayBuffers; part of external).',
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().arrayBuffers);
    },
  });
}
