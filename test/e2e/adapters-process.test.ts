// The field adapters in the gateway as users run it (`node app/main.ts --config ...`): a Modbus TCP meter's
// values reach Kafka keyed by the device name, and polling resumes after the gateway is SIGKILLed and restarted.
import { randomBytes } from 'node:crypto';
import { afterEach, expect, inject, it } from 'vitest';
import { ModbusSlave } from '../fixtures/modbus-slave.ts';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { kcatRead } from '../harness/kcat.ts';
import { waitFor } from '../harness/wait.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

it('Modbus values reach Kafka through the gateway process, also after a SIGKILL', async () => {
  const topic = `e2e.field.${randomBytes(4).toString('hex')}`;
  const slave = new ModbusSlave([1]);
  const srv = await slave.serveTcp();
  cleanup.push(srv.close);
  slave.memory.holding[0] = 2305;
  const gw = await GatewayProcess.create({
    env: { GATEWAY_KAFKA_BROKERS: inject('kafkaBrokers').join(','), GATEWAY_FLOWS_ENABLED: 'false' },
    configYaml: `
routes:
  - { name: field, filter: 'field/#', topic: ${topic} }
adapters:
  modbus:
    - name: meter-1
      host: 127.0.0.1
      port: ${srv.port}
      pollIntervalMs: 100
      topic: field/meter-1
      points:
        - { name: voltage, address: 0, type: int16, scale: 0.1, unit: V }
`,
  });
  cleanup.push(() => gw.close());
  await gw.start();
  const values = (): number[] => {
    try {
      return kcatRead(inject('kafkaBrokers'), topic)
        .filter((r) => r.key === 'meter-1')
        .map((r) => (JSON.parse(r.payload ?? '{}') as { value?: number }).value)
        .filter((v): v is number => v !== undefined); // status records (online/offline) carry no value
    } catch {
      return []; // the topic exists from the first record on
    }
  };
  await waitFor('first value in Kafka', () => values().includes(230.5), 60_000, 500);

  await gw.kill('SIGKILL');
  slave.memory.holding[0] = 2299;
  await gw.start();
  await waitFor('value after restart in Kafka', () => values().includes(229.9), 60_000, 500);
  expect(values().every((v) => v === 230.5 || v === 229.9)).toBe(true);
});
