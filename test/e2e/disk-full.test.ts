// A full data disk (a real tmpfs filled to ENOSPC): nothing is acknowledged that is not on disk, the gateway exits
// with EX_TEMPFAIL (75) instead of writing on through a LevelDB handle that is no longer safe, and a fresh start
// after space is freed has exactly the records that were acknowledged.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const root = process.getuid?.() === 0;

it.skipIf(!root)('disk full: no ack without durability, exit 75, clean recovery after space is freed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-disk-'));
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir]);
  expect(mount.status, String(mount.stderr)).toBe(0);
  cleanup.push(() => {
    spawnSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  const gw = await GatewayProcess.create({
    dataDir: dir,
    env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1', GATEWAY_FLOWS_ENABLED: 'false' },
  });
  cleanup.push(() => gw.close());
  await gw.start();

  const dev = await mqtt.connectAsync(gw.url, { clientId: 'meter-1', reconnectPeriod: 0 });
  for (let i = 0; i < 200; i++) await dev.publishAsync('sensors/meter-1/kwh', `{"seq":${i}}`, { qos: 1 });
  expect(await gw.metric('gateway_backlog_records', { class: 'default' })).toBe(200);

  const filler = join(dir, 'filler');
  const fd = openSync(filler, 'w');
  try {
    for (;;) writeSync(fd, Buffer.alloc(1 << 20));
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
  } finally {
    closeSync(fd);
  }
  // Writes may still fit in the log file's last allocated page; keep publishing until one cannot be made durable.
  const exit = gw.exited(60_000);
  let acked = 200;
  let refused = false;
  const payload = 'x'.repeat(4000);
  for (let i = 0; i < 5000 && !refused; i++) {
    refused = await Promise.race([
      dev.publishAsync('sensors/meter-1/kwh', payload, { qos: 1 }).then(
        () => false,
        () => true,
      ),
      exit.then(() => true),
    ]);
    if (!refused) acked++;
  }
  expect(refused).toBe(true);
  expect(await exit).toBe(75);
  expect(gw.output).toContain('GW_ERR_STORE');
  dev.end(true);

  rmSync(filler);
  await gw.start();
  // Exactly what was acknowledged is on disk: nothing lost, nothing unacknowledged kept.
  expect(await gw.metric('gateway_backlog_records', { class: 'default' })).toBe(acked);
  expect((await gw.health()).status).toBe('degraded');
});
