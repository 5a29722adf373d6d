// /healthz as a monitor reads it: every adapter device offline is `adapters.state: "down"` and the gateway
// `degraded` (HTTP 200: it still accepts and buffers); the device answering again clears it. Gateway child process,
// real Modbus TCP slave.
import { afterEach, expect, inject, it } from 'vitest';
import { ModbusSlave } from '../fixtures/modbus-slave.ts';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { freePort } from '../harness/kafka.ts';
import { waitFor } from '../harness/wait.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface Health {
  status: string;
  partsDown?: string[];
  kafka: { link: string };
  adapters?: { state: string; online: number; devices: number };
}

it('reports every adapter device offline as adapters down and the gateway degraded, and clears it', async () => {
  const port = await freePort();
  const gw = await GatewayProcess.create({
    env: { GATEWAY_KAFKA_BROKERS: inject('kafkaBrokers').join(','), GATEWAY_FLOWS_ENABLED: 'false' },
    configYaml: `
adapters:
  modbus:
    - { name: meter-1, host: 127.0.0.1, port: ${port}, pollIntervalMs: 100, timeoutMs: 200, reconnectMinMs: 100, reconnectMaxMs: 200, points: [{ name: v, address: 0 }] }
    - { name: meter-2, host: 127.0.0.1, port: ${port}, unitId: 2, pollIntervalMs: 100, timeoutMs: 200, reconnectMinMs: 100, reconnectMaxMs: 200, points: [{ name: v, address: 0 }] }
`,
  });
  cleanup.push(() => gw.close());
  await gw.start();
  const health = async (): Promise<{ code: number; body: Health }> => {
    const r = await fetch(`http://127.0.0.1:${gw.httpPort}/healthz`);
    return { code: r.status, body: (await r.json()) as Health };
  };
  await waitFor('kafka link up and both devices offline', async () => {
    const { body } = await health();
    return body.kafka.link === 'up' && body.adapters?.state === 'down';
  });
  const down = await health();
  expect(down.code).toBe(200);
  expect(down.body).toMatchObject({
    status: 'degraded',
    partsDown: ['adapters'],
    adapters: { state: 'down', online: 0, devices: 2 },
  });

  const slave = new ModbusSlave([1, 2]);
  const srv = await slave.serveTcp(port);
  cleanup.push(srv.close);
  await waitFor('devices online', async () => (await health()).body.adapters?.state === 'ok');
  const up = await health();
  expect(up.code).toBe(200);
  expect(up.body).toMatchObject({ status: 'ok', adapters: { state: 'ok', online: 2, devices: 2 } });
  expect(up.body.partsDown).toBeUndefined();
});
