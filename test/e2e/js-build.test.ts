// `npm run build` (the JavaScript build in dist/, bench/README.md "Memory"): the build runs, and the gateway started
// from dist/app/main.js, flows on, is ready, reports its version (package.json), serves the status page (its
// assets), reaches Kafka and loads the gateway's own Node-RED nodes.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, inject, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { repoRoot } from '../harness/kafka.ts';
import { waitFor } from '../harness/wait.ts';

it('the gateway built by npm run build starts from dist/ with its assets and flow nodes', async () => {
  const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  expect(build.status, `${build.stdout}${build.stderr}`).toBe(0);
  const gw = await GatewayProcess.create({
    main: join(repoRoot, 'dist', 'app', 'main.js'),
    env: {
      GATEWAY_KAFKA_BROKERS: inject('kafkaBrokers').join(','),
      GATEWAY_FLOWS_ENABLED: 'true',
      GATEWAY_DOWNLINK_ENABLED: 'false',
      GATEWAY_LOG_PRETTY: 'off',
    },
  });
  try {
    await gw.start();
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    await waitFor('/healthz ok (Kafka link up)', async () => (await gw.health()).status === 'ok', 60_000, 200);
    expect((await gw.health()).version).toBe(version);
    const page = await fetch(`http://127.0.0.1:${gw.httpPort}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const nodes = (await (
      await fetch(`http://127.0.0.1:${gw.httpPort}/editor/nodes`, { headers: { accept: 'application/json' } })
    ).json()) as { types: string[] }[];
    const types = nodes.flatMap((n) => n.types);
    expect(['gateway in', 'gateway out', 'edge rule', 'cloud out'].filter((t) => !types.includes(t))).toEqual([]);
  } finally {
    await gw.close();
  }
});
