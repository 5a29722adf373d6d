// ./gw checks the tools a command needs up front and names every missing one, with its Debian package, in one list
// (here with a PATH that lacks kcat and mosquitto_pub; --check reports without installing).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { repoRoot } from '../harness/kafka.ts';

const bin = mkdtempSync(join(tmpdir(), 'gw-path-'));
afterAll(() => rmSync(bin, { recursive: true, force: true }));

function pathWithout(missing: string[]): string {
  for (const dir of ['/usr/bin', '/usr/sbin']) {
    for (const name of readdirSync(dir)) {
      if (missing.includes(name)) continue;
      try {
        symlinkSync(join(dir, name), join(bin, name));
      } catch {
        // the same name in both directories: the first one wins, as on a PATH
      }
    }
  }
  return bin;
}

it('names every missing tool and its package in one list, and exits 1', () => {
  const path = pathWithout(['kcat', 'mosquitto_pub']);
  const r = spawnSync('/usr/bin/bash', [join(repoRoot, 'gw'), 'tools', '--check'], {
    encoding: 'utf8',
    env: { PATH: path, HOME: process.env.HOME ?? '/root' },
    timeout: 30_000,
  });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain('missing tools:');
  expect(r.stderr).toContain('- kcat (Debian package kcat)');
  expect(r.stderr).toContain('- mosquitto_pub (Debian package mosquitto-clients)');
  expect(r.stderr).not.toContain('mosquitto_sub (');
  expect(r.stderr).toMatch(/install them with: apt-get install --no-install-recommends kcat mosquitto-clients\s*$/m);
  expect(r.stderr).not.toContain('installing Debian packages');
});

it('passes when everything is there', () => {
  const r = spawnSync(join(repoRoot, 'gw'), ['tools', '--check'], { encoding: 'utf8', timeout: 30_000 });
  expect(r.stderr).toContain('tools ok: curl kcat mosquitto_pub mosquitto_sub');
  expect(r.status).toBe(0);
});

it('refuses an unknown option with status 2', () => {
  const r = spawnSync(join(repoRoot, 'gw'), ['tools', '--chek'], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('unknown option --chek');
});
