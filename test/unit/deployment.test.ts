// The fleet files agree with the gateway: the image runs main.ts on Node 24 with the data dir on the volume, the
// ports the compose file publishes are the gateway's defaults, and the variables it names are real settings.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parse } from 'yaml';
import { envVarNames, loadConfig } from '../../gateway/config/index.ts';

const root = join(import.meta.dirname, '..', '..');
const read = (f: string): string => readFileSync(join(root, f), 'utf8');

it('Dockerfile, docker-compose.yml and balena.yml match the gateway defaults', () => {
  const docker = read('Dockerfile');
  expect(docker).toMatch(/^FROM node:24/m);
  expect(docker).toContain('CMD ["node", "gateway/main.ts"]');
  const cfg = loadConfig({ env: {} });
  const compose = parse(read('docker-compose.yml')) as {
    services: { gateway: { ports: string[]; environment: Record<string, string>; volumes: string[] } };
  };
  const gw = compose.services.gateway;
  expect(gw.ports).toEqual(
    expect.arrayContaining([`${cfg.mqtt.port}:${cfg.mqtt.port}`, `${cfg.http.port}:${cfg.http.port}`]),
  );
  expect(gw.volumes).toContain(`gateway-data:${gw.environment.GATEWAY_DATA_DIR}`);
  // The container never runs privileged: the adapters get serial device classes only.
  expect(gw).not.toHaveProperty('privileged');
  const known = new Set(envVarNames().map((e) => e.env));
  const balena = parse(read('balena.yml')) as { data: { applicationEnvironmentVariables: Record<string, string>[] } };
  for (const v of balena.data.applicationEnvironmentVariables)
    for (const k of Object.keys(v)) expect(known).toContain(k);
  for (const k of Object.keys(gw.environment)) expect(known).toContain(k);
});
