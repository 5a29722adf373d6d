// The gateway's identity with the real store on temporary data dirs: two data dirs on one host get different ids and
// epochs, a restart keeps both, a wiped dir gets a new epoch (so a record id is never reused even when the gateway id
// is fixed by the config or the balena device UUID), and the hostname is never the id.
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { resolveGatewayId } from '../../gateway/identity.ts';
import { Store } from '../../gateway/store/store.ts';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gw-identity-'));
  dirs.push(d);
  return d;
}

/** Opens the store in `dir`, resolves the id as a start does, closes the store again. */
async function boot(
  dir: string,
  opts: { configured?: string; env?: Record<string, string> } = {},
): Promise<{ id: string; source: string; epoch: string }> {
  const store = new Store({
    dir,
    durability: 'fsync',
    groupCommit: { maxRecords: 10, windowMs: 0 },
    compactAfterDeletes: 0,
    classes: { default: { maxBytes: 1e6, maxAgeSec: 0, policy: 'reject' } },
    log,
  });
  await store.start();
  try {
    const r = await resolveGatewayId({
      configured: opts.configured ?? '',
      env: opts.env ?? {},
      meta: store.meta,
      freshStore: store.epochCreated,
      hostname: hostname(),
      log,
    });
    return { ...r, epoch: store.epoch };
  } finally {
    await store.stop();
  }
}

it('two data dirs on one host get different ids and epochs; neither is the hostname', async () => {
  const a = await boot(tempDir());
  const b = await boot(tempDir());
  expect(a.source).toBe('generated');
  expect(a.id).toMatch(/^gw-[0-9a-f]{16}$/);
  expect(a.id).not.toBe(b.id);
  expect(a.epoch).not.toBe(b.epoch);
  expect([a.id, b.id]).not.toContain(hostname());
});

it('a restart keeps the id and the epoch', async () => {
  const dir = tempDir();
  const first = await boot(dir);
  const again = await boot(dir);
  expect(again).toEqual({ ...first, source: 'store' });
});

it('a wiped data dir gets a new epoch, also when the id itself is fixed', async () => {
  const dir = tempDir();
  const env = { BALENA_DEVICE_UUID: '7f3c1b2a9d8e4f60a1b2c3d4e5f60718' };
  const before = await boot(dir, { env });
  rmSync(dir, { recursive: true, force: true });
  const after = await boot(dir, { env });
  expect(after.id).toBe(before.id);
  expect(after.epoch).not.toBe(before.epoch);
  expect(after.epoch).toMatch(/^[0-9a-f]{12}$/);
});

it('precedence: the config, then BALENA_DEVICE_UUID, then the stored id', async () => {
  const dir = tempDir();
  const stored = await boot(dir);
  const env = { BALENA_DEVICE_UUID: 'abc123' };
  expect(await boot(dir, { env })).toMatchObject({ id: 'abc123', source: 'balena' });
  expect(await boot(dir, { env, configured: 'line-3' })).toMatchObject({ id: 'line-3', source: 'config' });
  // Neither overwrote the stored id: without them the box is the same box as before.
  expect(await boot(dir)).toMatchObject({ id: stored.id, source: 'store' });
});

it('a store from before epochs with a hostname-derived id gets a random id; any other stored id is kept', async () => {
  const dir = tempDir();
  const store = new Store({
    dir,
    durability: 'fsync',
    groupCommit: { maxRecords: 10, windowMs: 0 },
    compactAfterDeletes: 0,
    classes: {},
    log,
  });
  await store.start();
  // What an older version left behind: its hostname as the id, no epoch.
  await store.meta.put('gatewayId', hostname().replace(/[^A-Za-z0-9._-]/g, '-'));
  await store.meta.del('epoch');
  await store.stop();
  const upgraded = await boot(dir);
  expect(upgraded.source).toBe('generated');
  expect(upgraded.id).not.toBe(hostname());

  const dir2 = tempDir();
  await boot(dir2);
  const s2 = new Store({ ...store.opts, dir: join(dir2) });
  await s2.start();
  await s2.meta.put('gatewayId', 'trailer-042');
  await s2.meta.del('epoch');
  await s2.stop();
  expect(await boot(dir2)).toMatchObject({ id: 'trailer-042', source: 'store' });
});
