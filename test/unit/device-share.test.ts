// A per-device share of a `reject` class: a device over its share is refused while the others are still admitted,
// and its share frees up as the class drains.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { type DropReason, Store } from '../../gateway/store/store.ts';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function open(perDeviceShare?: number): Promise<{ store: Store; drops: DropReason[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-share-'));
  dirs.push(dir);
  const store = new Store({
    dir,
    durability: 'os',
    groupCommit: { maxRecords: 64, windowMs: 0 },
    compactAfterDeletes: 0,
    classes: { default: { maxBytes: 10_000, maxAgeSec: 0, policy: 'reject', perDeviceShare } },
    log: pino({ level: 'silent' }),
  });
  await store.start();
  stores.push(store);
  const drops: DropReason[] = [];
  store.on('drop', (_cls, reason) => drops.push(reason));
  return { store, drops };
}

/** Appends and commits one record of `device`, 100 bytes as stored; false when the store refuses it. */
async function put(store: Store, device: string): Promise<boolean> {
  const to = store.outbox.destination({ class: 'default', kafkaTopic: 't', key: () => '', envelope: false });
  // 16 fixed bytes, 5 length-prefixed strings (10 + 't' + 'x' + the device), the payload, the 8-byte key.
  const payload = Buffer.alloc(100 - 16 - 12 - device.length - 8);
  const msg = { topic: 'x', payload, qos: 1 as const, clientId: device };
  try {
    await new Promise<void>((resolve, reject) => {
      store.outbox.append(msg, [to], {}, (e) => (e ? reject(e) : resolve()));
    });
  } catch {
    return false;
  }
  expect(store.outbox.class('default')!.bytes % 100).toBe(0);
  return true;
}

it('refuses a device over its share while another device is still admitted', async () => {
  const { store, drops } = await open(0.3);
  let admitted = 0;
  for (let i = 0; i < 100 && (await put(store, 'noisy')); i++) admitted++;
  expect(admitted).toBe(30); // 30 × 100 B = 0.3 × 10,000 B
  expect(drops).toEqual(['device_share']);
  expect(await put(store, 'lock-2')).toBe(true);
  expect(await put(store, 'noisy')).toBe(false);
  // The class drains (Kafka acknowledged the oldest half): the noisy device gets room again.
  const cls = store.outbox.class('default')!;
  const seqs = Array.from({ length: 16 }, (_, i) => i + 1);
  store.outbox.remove(
    cls,
    seqs,
    seqs.map(() => 100),
  );
  await store.drain();
  expect(await put(store, 'noisy')).toBe(true);
});

it('without a share one device fills the class and everyone is refused (the fault the share prevents)', async () => {
  const { store, drops } = await open(1);
  let admitted = 0;
  for (let i = 0; i < 200 && (await put(store, 'noisy')); i++) admitted++;
  expect(admitted).toBe(100);
  expect(await put(store, 'lock-2')).toBe(false);
  expect(drops.at(-1)).toBe('rejected');
});
