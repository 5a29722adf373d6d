// The Eclipse Paho MQTT 3.1.1 interoperability client tests (vendored in test/interop/paho) against the gateway
// process started with examples/paho-interop.yaml: all 10 pass.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { repoRoot } from '../harness/kafka.ts';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function runPaho(port: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      '/usr/bin/python3',
      ['-B', join(repoRoot, 'test', 'interop', 'run_paho.py'), '--hostname', '127.0.0.1', '--port', String(port)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    p.stdout.on('data', (c: Buffer) => (output += c.toString()));
    p.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 180_000);
    p.on('error', reject);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

it('passes the Eclipse Paho MQTT 3.1.1 interoperability client tests, 10 of 10', async () => {
  const gw = await GatewayProcess.create({
    configYaml: readFileSync(join(repoRoot, 'examples', 'paho-interop.yaml'), 'utf8'),
    env: { GATEWAY_KAFKA_BROKERS: '127.0.0.1:1' },
  });
  cleanup.push(() => gw.close());
  await gw.start();
  const { code, output } = await runPaho(gw.mqttPort);
  const summary = /paho: (\d+) passed, (\d+) failed/.exec(output);
  expect(summary, output).not.toBeNull();
  const ok = [...output.matchAll(/^(test\w+) \(client_test\.Test\.\w+\) \.\.\. [\s\S]*?^(ok|FAIL|ERROR)$/gm)];
  expect(ok.map((m) => `${m[1]} ${m[2]}`).sort(), output).toEqual(
    [
      'testBasic',
      'test_dollar_topics',
      'test_keepalive',
      'test_offline_message_queueing',
      'test_overlapping_subscriptions',
      'test_redelivery_on_reconnect',
      'test_retained_messages',
      'test_subscribe_failure',
      'test_unsubscribe',
      'test_zero_length_clientid',
    ].map((t) => `${t} ok`),
  );
  expect([summary?.[1], summary?.[2]], output).toEqual(['10', '0']);
  expect(code).toBe(0);
  // The refused subscription is counted.
  expect(await gw.metric('gateway_acl_denied_total', { action: 'subscribe' })).toBeGreaterThanOrEqual(1);
});
