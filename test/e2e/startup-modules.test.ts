// What a gateway process loads at startup: a part the config leaves off loads none of its modules (Node-RED, the
// adapters' serialport and modbus-serial, the downlink and its Kafka source, the other Kafka client, pino-pretty, the
// YAML parser without a config file); with the parts on, they are loaded. A loader hook passed with NODE_OPTIONS
// (this test only) records every module the process loads and writes the list to a file on SIGUSR2; it can also
// make a package resolve as not installed, to show the one-line error that names the setting needing it.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, inject, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { freePort } from '../harness/kafka.ts';
import { waitFor } from '../harness/wait.ts';

const HOOK = `import { registerHooks } from 'node:module';
import { renameSync, writeFileSync } from 'node:fs';
const seen = new Set();
// HIDE_PACKAGES: packages that resolve as not installed, as when npm left them out.
const hidden = new Set((process.env.HIDE_PACKAGES ?? '').split(',').filter(Boolean));
registerHooks({
  resolve(specifier, context, next) {
    if (!hidden.has(specifier)) return next(specifier, context);
    const err = new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL);
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  },
  load(url, context, next) { seen.add(url); return next(url, context); },
});
process.on('SIGUSR2', () => {
  const file = process.env.MODULE_LIST_FILE;
  writeFileSync(file + '.tmp', JSON.stringify([...seen]));
  renameSync(file + '.tmp', file);
});
`;

const dir = mkdtempSync(join(tmpdir(), 'gw-modules-'));
const hook = join(dir, 'hook.mjs');
writeFileSync(hook, HOOK);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The package a module URL belongs to (`@scope/name` or `name`), or the repository path of the gateway's own. */
function owner(url: string): string {
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  return pkg ?? url.replace(/^file:\/\/.*?\/(app|gateway|cloud-sync|flows)\//, '$1/');
}

/** The modules loaded (packages and the gateway's own files), asked for again until `until` holds for them. */
async function loaded(gw: GatewayProcess, file: string, until: (m: Set<string>) => boolean): Promise<Set<string>> {
  const ask = (): void => {
    rmSync(file, { force: true });
    if (gw.pid) process.kill(gw.pid, 'SIGUSR2');
  };
  let got = new Set<string>();
  ask();
  await waitFor(
    'a module list with the Kafka client in use',
    () => {
      if (!existsSync(file)) return false;
      got = new Set((JSON.parse(readFileSync(file, 'utf8')) as string[]).map(owner));
      if (until(got)) return true;
      ask();
      return false;
    },
    30_000,
    200,
  );
  return got;
}

async function gateway(name: string, env: Record<string, string>, configYaml?: string) {
  const file = join(dir, `${name}.json`);
  const gw = await GatewayProcess.create({
    env: {
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(hook).href}`.trim(),
      MODULE_LIST_FILE: file,
      GATEWAY_KAFKA_BROKERS: inject('kafkaBrokers').join(','),
      GATEWAY_LOG_PRETTY: 'off',
      ...env,
    },
    ...(configYaml === undefined ? {} : { configYaml }),
  });
  await gw.start();
  return { gw, file };
}

const OPTIONAL = [
  'node-red',
  'serialport',
  '@serialport/stream',
  'modbus-serial',
  'pino-pretty',
  'yaml',
  'kafkajs',
  'cloud-sync/downlink.ts',
  'cloud-sync/sources/platformatic.ts',
  'gateway/adapters/index.ts',
  'flows/runtime.ts',
];

it('a gateway with flows, adapters and downlink off, no config file, loads none of their modules', async () => {
  const { gw, file } = await gateway('off', {
    GATEWAY_FLOWS_ENABLED: 'false',
    GATEWAY_DOWNLINK_ENABLED: 'false',
    GATEWAY_KAFKA_CLIENT: 'platformatic',
  });
  try {
    // The sink in use is loaded once the gateway connects: the list is taken after that.
    const mods = await loaded(gw, file, (m) => m.has('@platformatic/kafka'));
    expect(mods.has('aedes')).toBe(true);
    expect(OPTIONAL.filter((m) => mods.has(m))).toEqual([]);
  } finally {
    await gw.close();
  }
});

it('with adapters, downlink and a YAML file on (kafkajs), their modules are loaded and @platformatic/kafka is not', async () => {
  const modbusPort = await freePort(); // nothing listens: the device stays offline, retried with backoff
  const yaml = `
kafka:
  client: kafkajs
flows:
  enabled: false
downlink:
  enabled: true
  topics: [e2e.modules.commands]
  groupId: e2e-modules
adapters:
  serial:
    - { name: gps, path: ${join(dir, 'no-such-tty')} }
  modbus:
    - name: meter
      host: 127.0.0.1
      port: ${modbusPort}
      points:
        - { name: v, address: 0, type: int16 }
`;
  const { gw, file } = await gateway('on', {}, yaml);
  try {
    const want = [
      'serialport',
      'modbus-serial',
      'yaml',
      'kafkajs',
      'cloud-sync/downlink.ts',
      'gateway/adapters/index.ts',
    ];
    const mods = await loaded(gw, file, (m) => m.has('kafkajs'));
    expect(want.filter((w) => !mods.has(w))).toEqual([]);
    expect(mods.has('@platformatic/kafka')).toBe(false);
    expect(mods.has('node-red')).toBe(false);
  } finally {
    await gw.close();
  }
});

it('an optional part whose package is not installed stops the start with one line naming the setting', async () => {
  const gw = await GatewayProcess.create({
    env: {
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(hook).href}`.trim(),
      HIDE_PACKAGES: 'serialport',
      GATEWAY_KAFKA_BROKERS: inject('kafkaBrokers').join(','),
      GATEWAY_FLOWS_ENABLED: 'false',
      GATEWAY_ADAPTERS_SERIAL: JSON.stringify([{ name: 'gps', path: join(dir, 'no-such-tty') }]),
    },
  });
  try {
    await expect(gw.start()).rejects.toThrow(/exited during start \(1\)/);
    const lines = gw.output.split('\n').filter((l) => l.startsWith('gateway failed to start'));
    expect(lines).toEqual([
      'gateway failed to start: GW_ERR_CONFIG: adapters needs serialport, which is not installed (npm ci installs it)',
    ]);
  } finally {
    await gw.close();
  }
});
