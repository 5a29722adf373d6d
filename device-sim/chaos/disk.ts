// A small data disk for the gateway (a tmpfs of a fixed size, mounted by the tool) that a scenario can fill up:
// `disk-full` writes a filler file until the disk says ENOSPC, `disk-free` deletes it. Needs root (mount).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class DataDisk {
  readonly dir = mkdtempSync(join(tmpdir(), 'dsim-disk-'));
  private mounted = false;
  private readonly filler = join(this.dir, 'filler.bin');

  async mount(sizeMb: number): Promise<void> {
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=${Math.round(sizeMb)}m`, 'tmpfs', this.dir]);
    } catch (err) {
      throw new Error(`cannot mount a ${sizeMb} MB tmpfs for the data disk (needs root): ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.mounted = true;
  }

  /** Fills the disk to the last byte; returns the bytes written. */
  async fill(): Promise<number> {
    const fh = await open(this.filler, 'a');
    let written = 0;
    try {
      for (const size of [1 << 20, 1 << 12, 1]) {
        const chunk = Buffer.alloc(size, 0x5a);
        for (;;) {
          try {
            const { bytesWritten } = await fh.write(chunk);
            written += bytesWritten;
            if (bytesWritten < size) break;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw err;
          }
        }
      }
    } finally {
      await fh.close().catch(() => {});
    }
    return written;
  }

  async free(): Promise<void> {
    await rm(this.filler, { force: true });
  }

  async close(): Promise<void> {
    if (this.mounted) {
      await run('umount', ['-l', this.dir]).catch(() => {});
      this.mounted = false;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
