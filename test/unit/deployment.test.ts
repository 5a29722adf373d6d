// The fleet files agree with the gateway: the image runs the JavaScript build of main.ts on Node 24 with the data dir on the volume, the
// ports the compose file publishes are the gateway's defaults, and the variables it names are real settings. The
// container is not privileged and uses only compose fields balena supports; the image has production dependencies
// only, and every native one has a prebuilt linux-arm64 binary (a device has no compiler).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { parse } from 'yaml';
import { envVarNames, loadConfig } from '../../app/config/index.ts';

const root = join(import.meta.dirname, '..', '..');
const read = (f: string): string => readFileSync(join(root, f), 'utf8');

/** Every project file `entry` imports, directly or not, by relative specifiers (static and dynamic imports). */
function importGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [join(root, entry)];
  for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
    if (seen.has(f)) continue;
    seen.add(f);
    for (const m of readFileSync(f, 'utf8').matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+\.ts)'/g)) {
      todo.push(resolve(dirname(f), m[1] as string));
    }
  }
  return seen;
}

it('the image builds from every folder the command it runs imports from, and copies the build', () => {
  const docker = read('Dockerfile');
  const [build, runtime] = docker.split(/^FROM /m).slice(1) as [string, string];
  expect(build).toMatch(/ AS build\n/);
  expect(build).toMatch(/^RUN npm run -s build$/m);
  expect(build).toMatch(/^COPY package\.json package-lock\.json tsconfig\.json \.\/$/m);
  const sources = [...build.matchAll(/^COPY (\S+) \.\/(\S+)$/gm)].map((m) => {
    expect(m[2]).toBe(m[1]);
    return m[1];
  });
  // The bundle's entry and everything it imports, the build script, and what the build copies beside the chunks.
  const script = read('app/build.ts');
  const copied = [...script.matchAll(/\['([\w./-]+)', '[\w./-]+'\]/g)].map((m) => m[1] as string);
  expect(copied).toContain('gateway/status/assets');
  const files = [...importGraph('app/main.ts'), join(root, 'app/build.ts'), ...copied.map((f) => join(root, f))];
  const folders = new Set(files.map((f) => relative(root, f).split('/')[0]).filter((f) => f !== 'package.json'));
  expect(folders.size).toBeGreaterThan(2);
  for (const folder of folders) expect(sources, `the build stage copies ${folder}/`).toContain(folder);
  expect(/"build": "node app\/build\.ts"/.test(read('package.json'))).toBe(true);
  expect(runtime).toMatch(/^COPY --from=build \/usr\/src\/app\/dist\/app \.\/app$/m);
});

it('the image and `gw start` give the gateway the same heap and malloc settings, which Node accepts', () => {
  const image = /NODE_OPTIONS="([^"]+)"/.exec(read('Dockerfile'))?.[1];
  const gw = /^GATEWAY_HEAP_OPTIONS="([^"]+)"$/m.exec(read('gw'))?.[1];
  expect(image).toMatch(/--max-old-space-size=\d+/);
  expect(image).toMatch(/--max-semi-space-size=\d+/);
  expect(gw).toBe(image);
  const arenas = /^\s*MALLOC_ARENA_MAX=(\d+)/m.exec(read('Dockerfile'))?.[1];
  expect(arenas).toMatch(/^\d+$/);
  expect(/^GATEWAY_MALLOC_ARENA_MAX=(\d+)$/m.exec(read('gw'))?.[1]).toBe(arenas);
  expect(read('gw')).toMatch(/^ +export MALLOC_ARENA_MAX="\$\{MALLOC_ARENA_MAX-\$GATEWAY_MALLOC_ARENA_MAX\}"$/m);
  const limit = Number(/--max-old-space-size=(\d+)/.exec(image as string)?.[1]);
  const r = spawnSync(process.execPath, ['-p', 'require("v8").getHeapStatistics().heap_size_limit'], {
    env: { ...process.env, NODE_OPTIONS: image },
    encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  // The limit covers the old generation plus the young one: above the old-space figure, well under twice it.
  const mb = Number(r.stdout) / 2 ** 20;
  expect(mb).toBeGreaterThan(limit);
  expect(mb).toBeLessThan(limit * 2);
});

it('Dockerfile, docker-compose.yml and balena.yml match the gateway defaults', () => {
  const docker = read('Dockerfile');
  expect(docker).toMatch(/^FROM node:24/m);
  expect(docker).toContain('CMD ["node", "app/main.js"]');
  const cfg = loadConfig({ env: {} });
  const compose = parse(read('docker-compose.yml')) as {
    services: { gateway: { ports: string[]; environment: Record<string, string>; volumes: string[] } };
  };
  const gw = compose.services.gateway;
  expect(gw.ports).toEqual(
    expect.arrayContaining([`${cfg.mqtt.port}:${cfg.mqtt.port}`, `${cfg.http.port}:${cfg.http.port}`]),
  );
  expect(gw.volumes).toContain(`gateway-data:${gw.environment.GATEWAY_DATA_DIR}`);
  // Not privileged: serial lines are mapped one by one, and the gateway's user is in their group.
  expect(gw).not.toHaveProperty('privileged');
  const raw = gw as unknown as Record<string, unknown>;
  expect(Array.isArray(raw.devices)).toBe(true);
  expect(raw.group_add).toContain('dialout');
  // balena's supervisor supports named volumes only (no bind mounts) and no device_cgroup_rules.
  for (const v of gw.volumes) expect(v).toMatch(/^[a-z][a-z0-9-]*:\//);
  expect(raw).not.toHaveProperty('device_cgroup_rules');
  // UDEV only does something on balenalib images; this one is the official node image.
  expect(docker).not.toMatch(/UDEV=/);
  expect(docker).toMatch(/^USER node$/m);
  expect(docker).toContain('npm ci --omit=dev');
  // A new device is "not configured" until GATEWAY_KAFKA_BROKERS is set: never a loopback broker that is not there.
  expect(docker).toMatch(/GATEWAY_KAFKA_BROKERS=$/m);
  expect(loadConfig({ env: { GATEWAY_KAFKA_BROKERS: '' } }).kafka.brokers).toEqual([]);
  expect(read('balena.yml')).not.toMatch(/127\.0\.0\.1|localhost/);
  const known = new Set(envVarNames().map((e) => e.env));
  const balena = parse(read('balena.yml')) as { data: { applicationEnvironmentVariables: Record<string, string>[] } };
  for (const v of balena.data.applicationEnvironmentVariables)
    for (const k of Object.keys(v)) expect(known).toContain(k);
  for (const k of Object.keys(gw.environment)) expect(known).toContain(k);
});

/** Package dirs under `root` holding a binding.gyp: the native dependencies. */
function nativePackages(root: string): string[] {
  const out: string[] = [];
  const visit = (dir: string, depth: number): void => {
    if (depth > 8) return;
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'binding.gyp'))) out.push(relative(root, dir));
    const nm = join(dir, 'node_modules');
    const children = dir === root ? [nm] : existsSync(nm) ? [nm] : [];
    for (const base of children) {
      for (const name of readdirSync(base)) {
        const p = join(base, name);
        if (!statSync(p).isDirectory()) continue;
        if (name.startsWith('@')) for (const sub of readdirSync(p)) visit(join(p, sub), depth + 1);
        else visit(p, depth + 1);
      }
    }
  };
  visit(root, 0);
  return out.sort();
}

it('npm ci --omit=dev for linux-arm64 finds a prebuilt binary for every native dependency', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-image-deps-'));
  try {
    copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
    copyFileSync(join(root, 'package-lock.json'), join(dir, 'package-lock.json'));
    // As the Dockerfile installs, for the device's platform; no install scripts, so nothing is compiled or fetched.
    const args = ['ci', '--omit=dev', '--os=linux', '--cpu=arm64', '--ignore-scripts', '--prefer-offline'];
    const r = spawnSync('npm', [...args, '--no-audit', '--no-fund'], { cwd: dir, encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    const native = nativePackages(dir);
    // The two known today; a new native dependency is checked the same way below.
    expect(native).toEqual(
      expect.arrayContaining(['node_modules/@serialport/bindings-cpp', 'node_modules/classic-level']),
    );
    const missing = native.filter((p) => {
      const pre = join(dir, p, 'prebuilds', 'linux-arm64');
      return !existsSync(pre) || !readdirSync(pre).some((f) => f.endsWith('.node'));
    });
    expect(missing, 'native dependencies without a linux-arm64 prebuild').toEqual([]);
    // Dev tools stay out of the image (the gateway's own dev dependencies).
    const pkg = JSON.parse(read('package.json')) as { devDependencies: Record<string, string> };
    for (const dev of ['vitest', '@biomejs/biome', 'playwright-core']) {
      expect(pkg.devDependencies).toHaveProperty(dev);
      expect(existsSync(join(dir, 'node_modules', dev)), dev).toBe(false);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
