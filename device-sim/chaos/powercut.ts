// The data disk that forgets: the gateway's data dir on powercut-fs.py, a FUSE file system that keeps every write not
// yet fsync'd in memory only. A power cut ends the file system's process (its unsynced writes vanish, the backing dir
// holds exactly what was synced), detaches the dead mount, and a remount over the same backing dir shows what a disk
// would hold after the power came back. Needs root (FUSE mount), /dev/fuse and Debian's python3 with pyfuse3 and trio
// (`./gw tools --test` installs them). Used by the `power-cut` chaos step and by the power-cut integration test.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const POWERCUT_FS_SCRIPT = fileURLToPath(new URL('./powercut-fs.py', import.meta.url));
const PYTHON = '/usr/bin/python3';

/** The FUSE file system, mounted on `mountpoint` over `backing`. */
export class PowercutFs {
  private proc: ChildProcess | undefined;
  readonly backing: string;
  readonly mountpoint: string;
  mounts = 0;
  constructor(backing: string, mountpoint: string) {
    this.backing = backing;
    this.mountpoint = mountpoint;
  }

  async mount(timeoutMs = 20_000): Promise<void> {
    const proc = spawn(PYTHON, [POWERCUT_FS_SCRIPT, this.backing, this.mountpoint], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`powercut-fs not mounted in ${timeoutMs} ms: ${out}`)),
        timeoutMs,
      );
      const onData = (b: Buffer): void => {
        out += b.toString();
        if (out.includes('powercut-fs ready')) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
      proc.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${PYTHON} ${POWERCUT_FS_SCRIPT}: ${err.message}`));
      });
      proc.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`powercut-fs exited (${code ?? sig}): ${out}`));
      });
    });
    this.mounts += 1;
  }

  /** The power cut: the file system process ends, its unsynced writes with it; the dead mount is detached. */
  async cut(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = once(p, 'exit');
      p.kill('SIGUSR1');
      await exited;
    }
    await run('umount', ['-l', this.mountpoint]).catch(() => {});
  }
}

/**
 * A work dir for the gateway whose `data` subdir (its GATEWAY_DATA_DIR, as the chaos rig sets it) is the forgetting
 * mount; the backing dir sits next to it. The gateway's config file and cwd stay on the ordinary disk.
 */
export class PowercutDisk {
  readonly dir = mkdtempSync(join(tmpdir(), 'dsim-powercut-'));
  readonly fs = new PowercutFs(join(this.dir, 'backing'), join(this.dir, 'data'));
  cuts = 0;

  /** Mounts the file system (again, after a cut). */
  async mount(): Promise<void> {
    if (!existsSync('/dev/fuse')) throw new Error('the power-cut disk needs /dev/fuse (FUSE)');
    mkdirSync(this.fs.backing, { recursive: true });
    mkdirSync(this.fs.mountpoint, { recursive: true });
    try {
      await this.fs.mount();
    } catch (err) {
      throw new Error(`cannot mount the power-cut disk (needs root, python3-pyfuse3): ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Forgets every unsynced write. The gateway must be dead already, so that nothing touches the disk in between. */
  async cut(): Promise<void> {
    await this.fs.cut();
    this.cuts += 1;
  }

  async close(): Promise<void> {
    await this.fs.cut();
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // A mount the kernel has not let go of yet; the temp dir is left behind.
    }
  }
}
