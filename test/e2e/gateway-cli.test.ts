// The gateway's own command line parses strictly: a misspelt option exits 2 with a suggestion instead of starting (or
// validating) the defaults; and health reports each storage class's oldest record age, as docs say.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { repoRoot } from '../harness/kafka.ts';
import { waitFor } from '../harness/wait.ts';

const MAIN = join(repoRoot, 'app', 'main.ts');

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    cwd: mkdtempSync(join(tmpdir(), 'gw-cli-')),
    env: { ...process.env, GATEWAY_CONFIG: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

it('a misspelt option exits 2 and suggests the right one, even next to --check-config', () => {
  const r = run('--confg', 'gateway.yaml', '--check-config');
  expect(r.status).toBe(2);
  expect(r.stdout).not.toContain('config ok');
  expect(r.stderr).toContain('unknown option --confg (did you mean --config?)');
});

it('--config needs a value; a bare file name is not taken silently', () => {
  for (const args of [['--config'], ['--config', '--check-config'], ['--config=', '--check-config']]) {
    const r = run(...args);
    expect(r.status, args.join(' ')).toBe(2);
    expect(r.stderr).toContain('--config needs a file path');
  }
  const r = run('gateway.yaml', '--check-config');
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('--config gateway.yaml');
});

it('--help lists the options; --check-config validates the named file', () => {
  const help = run('--help');
  expect(help.status).toBe(0);
  for (const o of ['--config', '--check-config', '--print-config', './gw start']) expect(help.stdout).toContain(o);
  const dir = mkdtempSync(join(tmpdir(), 'gw-cli-cfg-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'mqtt:\n  port: abc\n');
  const r = run('--config', bad, '--check-config');
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('mqtt.port');
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'mqtt:\n  port: 1884\n');
  expect(run('--config', good, '--check-config').stdout.trim()).toBe('config ok');
  expect(JSON.parse(run(`--config=${good}`, '--print-config').stdout).mqtt.port).toBe(1884);
});

const gateways: GatewayProcess[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
});

it("health gives each storage class's backlog with its oldest record's age", async () => {
  const gw = await GatewayProcess.create({ env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1' } });
  gateways.push(gw);
  await gw.start();
  const client = await mqtt.connectAsync(gw.url, { clientId: 'age-1', clean: true });
  await client.publishAsync('devices/age-1/state', '{"locked":true}', { qos: 1 });
  await client.endAsync();
  type Cls = { records: number; oldestAgeSec: number };
  type Health = { backlog: { oldestAgeSec: number; classes: Record<string, Cls> } };
  await waitFor('the class to age', async () => {
    const h = (await gw.health()) as Health;
    return (h.backlog.classes.default?.oldestAgeSec ?? 0) > 0;
  });
  const h = (await gw.health()) as Health;
  const cls = h.backlog.classes.default;
  expect(cls?.records).toBeGreaterThanOrEqual(1); // the shipped door-lock flow adds its own record
  expect(cls?.oldestAgeSec).toBeGreaterThan(0);
  expect(cls?.oldestAgeSec).toBeLessThanOrEqual(h.backlog.oldestAgeSec + 1);
});
