// End to end: values polled from a Modbus slave and read from a serial line reach a real Kafka through the real
// gateway (store, routes, outbox, forwarder), composed the way app/main.ts does, and are read back with kcat.
// Also: a write command published by an MQTT client on the gateway's broker reaches the slave and is answered.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../app/config/index.ts';
import { Gateway } from '../../app/gateway.ts';
import { Adapters } from '../../gateway/adapters/index.ts';
import { PtyPair } from '../fixtures/modbus-pty.ts';
import { ModbusSlave } from '../fixtures/modbus-slave.ts';
import { kcatRead } from '../harness/kcat.ts';
import { waitFor } from '../harness/wait.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

describe('adapters through the gateway to Kafka', () => {
  it('Modbus and serial values land in Kafka keyed by device; a write over MQTT is answered', async () => {
    const topic = `adapters.e2e.${randomBytes(4).toString('hex')}`;
    const slave = new ModbusSlave([1]);
    const srv = await slave.serveTcp();
    cleanups.push(srv.close);
    slave.memory.holding[0] = 2305; // voltage × 10
    const line = await new PtyPair().open();
    cleanups.push(() => line.dispose());
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-adapters-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));

    const config = resolveConfig({
      dataDir,
      mqtt: { port: 0 },
      http: { port: 0 },
      kafka: { brokers: inject('kafkaBrokers') },
      routes: [{ name: 'field', filter: 'field/#', topic }],
      adapters: {
        modbus: [
          {
            name: 'meter-e2e',
            port: srv.port,
            pollIntervalMs: 100,
            topic: 'field/meter',
            points: [{ name: 'voltage', address: 0, type: 'int16', scale: 0.1, unit: 'V', writable: true }],
          },
        ],
        serial: [{ name: 'gps-e2e', path: line.a, framing: 'nmea', topic: 'field/gps' }],
      },
    });
    const log = pino({ level: 'warn' });
    // The wiring app/main.ts uses.
    const gw = new Gateway(config, log).use(
      (g) => new Adapters({ config: g.config.adapters, bus: g.ingest, log: g.log, metrics: g.registry }),
    );
    cleanups.push(() => gw.stop());
    await gw.start();

    type AdapterHealth = { serial: Record<string, { status: string }> };
    const adaptersHealth = () => (gw.health() as unknown as { adapters: AdapterHealth }).adapters;
    await waitFor('serial port open', () => adaptersHealth().serial['gps-e2e']?.status === 'online');
    const dev = new SerialPort({ path: line.b, baudRate: 9600, autoOpen: false });
    await new Promise<void>((resolve, reject) => dev.open((e) => (e ? reject(e) : resolve())));
    cleanups.push(() => new Promise<void>((resolve) => dev.close(() => resolve())));
    dev.write('$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n');

    // The topic is created by the first produce; until then kcat reports it unknown.
    const records = () => {
      try {
        return kcatRead(inject('kafkaBrokers'), topic);
      } catch {
        return [];
      }
    };
    const has = (key: string, field: string) =>
      records().some((x) => x.key === key && field in (JSON.parse(x.payload ?? '{}') as object));
    await waitFor('values in Kafka', () => has('meter-e2e', 'point') && has('gps-e2e', 'sentence'), 60_000);
    const r = records();
    const meter = r.filter((x) => x.key === 'meter-e2e').map((x) => JSON.parse(x.payload ?? '{}'));
    expect(meter).toContainEqual(
      expect.objectContaining({ device: 'meter-e2e', point: 'voltage', value: 230.5, unit: 'V' }),
    );
    expect(meter).toContainEqual(expect.objectContaining({ device: 'meter-e2e', status: 'online' }));
    const gps = r.filter((x) => x.key === 'gps-e2e').map((x) => JSON.parse(x.payload ?? '{}'));
    expect(gps).toContainEqual(expect.objectContaining({ sentence: 'GGA', lat: 48.1173, fixQuality: 1 }));

    // A cloud/flow/device command through the real broker: write, reply, and the new value in Kafka.
    const port = gw.broker.tcpPort;
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'operator' });
    cleanups.push(() => client.endAsync());
    await client.subscribeAsync('field/meter/voltage/set/reply', { qos: 1 });
    const reply = new Promise<Record<string, unknown>>((resolve) =>
      client.on('message', (_t, payload) => resolve(JSON.parse(payload.toString()) as Record<string, unknown>)),
    );
    await client.publishAsync('field/meter/voltage/set', JSON.stringify({ value: 229.9, id: 'op-1' }), { qos: 1 });
    expect(await reply).toMatchObject({ ok: true, id: 'op-1', value: 229.9 });
    expect(slave.memory.holding[0]).toBe(2299);
    await waitFor(
      'written value in Kafka',
      () =>
        records().some(
          (x) => x.key === 'meter-e2e' && (JSON.parse(x.payload ?? '{}') as { value?: number }).value === 229.9,
        ),
      60_000,
    );
    const health = gw.health() as unknown as Record<string, { status?: string }>;
    expect(health.adapters?.status).toBe('ok');
  });

  it('reports adapter config errors through the gateway loader with their paths', () => {
    const bad = () =>
      resolveConfig({
        adapters: {
          modbus: [
            {
              name: 'm',
              points: [
                { name: 'a', address: 0 },
                { name: 'b', address: 1 },
                { name: 'c', address: 2, type: 'float16' },
              ],
            },
          ],
        },
      });
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (err) {
      expect((err as ConfigError).problems.join('\n')).toContain('adapters.modbus[0].points[2].type');
    }
  });
});
