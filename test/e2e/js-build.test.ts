// `npm run build` (the bundled JavaScript build in dist/, app/build.ts): the build runs, and the gateway started from
// dist/app/main.js, flows on, is ready, reports its version (package.json), serves the status page (its assets and
// uPlot), loads the gateway's own Node-RED nodes, and carries QoS 1 messages through its store into Kafka.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { expect, inject, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { repoRoot } from '../harness/kafka.ts';
import { kcatRead } from '../harness/kcat.ts';
import { waitFor } from '../harness/wait.ts';

const topic = `js-build-${Date.now()}`;

it('the gateway built by npm run build starts from dist/ with its assets and flow nodes', async () => {
  const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  expect(build.status, `${build.stdout}${build.stderr}`).toBe(0);
  const gw = await GatewayProcess.create({
    main: join(repoRoot, 'dist', 'app', 'main.js'),
    env: {
      GATEWAY_KAFKA_BROKERS: inject('kafkaBrokers').join(','),
      GATEWAY_FLOWS_ENABLED: 'true',
      GATEWAY_ROUTES: JSON.stringify([{ name: 'all', filter: 'devices/#', topic }]),
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
    for (const asset of ['status.js', 'uPlot.iife.min.js']) {
      expect((await fetch(`http://127.0.0.1:${gw.httpPort}/status/${asset}`)).status, asset).toBe(200);
    }
    const client = await mqtt.connectAsync(gw.url, { clientId: 'js-build-1', clean: true });
    for (let i = 0; i < 20; i++) await client.publishAsync('devices/js-build-1/t', JSON.stringify({ i }), { qos: 1 });
    await client.endAsync();
    let got: number[] = [];
    await waitFor(
      'the 20 messages in Kafka',
      async () => {
        got = kcatRead(inject('kafkaBrokers'), topic).map((r) => (JSON.parse(r.payload ?? '{}') as { i: number }).i);
        return got.length >= 20;
      },
      60_000,
      500,
    );
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const nodes = (await (
      await fetch(`http://127.0.0.1:${gw.httpPort}/editor/nodes`, { headers: { accept: 'application/json' } })
    ).json()) as { types: string[] }[];
    const types = nodes.flatMap((n) => n.types);
    expect(['gateway in', 'gateway out', 'edge rule', 'cloud out'].filter((t) => !types.includes(t))).toEqual([]);
  } finally {
    await gw.close();
  }
});
