// Durable before acknowledged, against a power cut: the gateway's store sits on a file system that forgets every
// write not yet fsync'd (device-sim/chaos/powercut-fs.py). QoS 1 publishers load it while it forwards to Kafka; each cut
// kills the gateway and drops the unsynced writes, and the gateway starts again on what the disk kept. In `fsync` mode
// every PUBACK'd message reaches Kafka, whether the gateway forwards during the cuts or Kafka is unreachable until the
// end; in `os` mode the same cuts lose acknowledged messages, which shows the file system really drops writes and the
// harness can see a loss. POWERCUT_CUTS=20 runs a longer series; docs/power-cut.md has the figures.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { PowercutFs, runPowercut } from '../harness/powercut.ts';

const CUTS = Number(process.env.POWERCUT_CUTS ?? 5);
// Generous: a cycle takes 2-7 s here; a slower machine gets 20 s per cut plus a minute for the drain.
const TIMEOUT_MS = 60_000 + CUTS * 20_000;
const fuse = existsSync('/dev/fuse');
if (!fuse) console.warn('powercut: /dev/fuse is absent, the power-cut tests are skipped');

describe.skipIf(!fuse)('power cut under load', () => {
  const brokers = (): string[] => inject('kafkaBrokers');
  const topic = (mode: string): string => `powercut.${mode}.${randomBytes(4).toString('hex')}`;
  const log = (line: string): void => console.log(`powercut: ${line}`);

  it("the file system keeps what was fsync'd and forgets the rest when the power is cut", async () => {
    const work = mkdtempSync(join(tmpdir(), 'powercut-fs-'));
    const backing = join(work, 'backing');
    const mnt = join(work, 'mnt');
    mkdirSync(backing);
    mkdirSync(mnt);
    const fs = new PowercutFs(backing, mnt);
    try {
      await fs.mount();
      const write = (name: string, parts: [string, boolean][]): void => {
        const fd = openSync(join(mnt, name), 'w');
        for (const [text, sync] of parts) {
          writeSync(fd, text);
          if (sync) fsyncSync(fd);
        }
        closeSync(fd);
      };
      write('synced', [['kept', true]]);
      write('tail', [
        ['kept', true],
        [' forgotten', false],
      ]);
      write('never', [['forgotten', false]]);
      const fd = openSync(join(mnt, 'cut-short'), 'w');
      writeSync(fd, 'kept whole');
      fsyncSync(fd);
      ftruncateSync(fd, 4); // unsynced: the cut undoes it
      closeSync(fd);
      // Before the cut, the mount shows every write.
      expect(readFileSync(join(mnt, 'tail'), 'utf8')).toBe('kept forgotten');
      expect(readFileSync(join(mnt, 'cut-short'), 'utf8')).toBe('kept');
      await fs.cut();
      expect(readFileSync(join(backing, 'synced'), 'utf8')).toBe('kept');
      expect(readFileSync(join(backing, 'tail'), 'utf8')).toBe('kept');
      expect(readFileSync(join(backing, 'never'), 'utf8')).toBe(''); // the create is durable at once, its data not
      expect(readFileSync(join(backing, 'cut-short'), 'utf8')).toBe('kept whole');
      await fs.mount();
      expect(readFileSync(join(mnt, 'tail'), 'utf8')).toBe('kept');
    } finally {
      await fs.cut();
      rmSync(work, { recursive: true, force: true });
    }
  });

  const run = (durability: 'fsync' | 'os', forwardDuringCuts: boolean) =>
    runPowercut({ durability, forwardDuringCuts, cuts: CUTS, brokers: brokers(), topic: topic(durability), log });

  it(
    `store.durability fsync, forwarding during the cuts: no acknowledged message lost over ${CUTS} cuts`,
    async () => {
      const r = await run('fsync', true);
      log(JSON.stringify(r));
      expect(r.gatewayStarts).toBe(CUTS + 1); // the store opened after every cut
      expect(r.acked).toBeGreaterThan(CUTS * 500 - 1);
      // Not vacuous: cuts caught acknowledged records that had not reached Kafka yet, so only the disk had them.
      expect(r.backlogAtCuts).toBeGreaterThan(0);
      expect(r.lostSample).toEqual([]);
      expect(r.lost).toBe(0);
    },
    TIMEOUT_MS,
  );

  it(
    `store.durability fsync, Kafka unreachable until the end: no acknowledged message lost over ${CUTS} cuts`,
    async () => {
      const r = await run('fsync', false);
      log(JSON.stringify(r));
      expect(r.gatewayStarts).toBe(CUTS + 1);
      expect(r.backlogAtCuts).toBeGreaterThanOrEqual(r.acked); // everything acknowledged was on the disk alone
      expect(r.lostSample).toEqual([]);
      expect(r.lost).toBe(0);
    },
    TIMEOUT_MS,
  );

  // The negative control, with Kafka unreachable so that the cuts hit records nothing else holds: `os` mode never
  // syncs the LevelDB log, so each cut loses what the cycle acknowledged (unless LevelDB wrote it to a table).
  it(
    `store.durability os, the same cuts: acknowledged messages are lost`,
    async () => {
      const r = await run('os', false);
      log(JSON.stringify(r));
      expect(r.acked).toBeGreaterThan(CUTS * 500 - 1);
      expect(r.lost).toBeGreaterThan(0);
      expect(r.perCycle.filter((c) => c.lost === 0)).toEqual([]); // every cut lost acknowledged messages
    },
    TIMEOUT_MS,
  );
});
