// Modbus TCP polling against real sockets on port 0: the test slave (with faults) and pymodbus as a third-party peer.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { adaptersConfig, type Harness, metricValue, startAdapters } from '../fixtures/modbus-harness.ts';
import { ModbusSlave } from '../fixtures/modbus-slave.ts';
import { waitFor } from '../harness/wait.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function harness(raw: unknown): Promise<Harness> {
  const h = await startAdapters(raw);
  cleanups.push(() => h.close());
  return h;
}

async function slaveOn(
  port = 0,
  units = [1],
): Promise<{ slave: ModbusSlave; port: number; reset: () => void; close: () => Promise<void> }> {
  const slave = new ModbusSlave(units);
  const srv = await slave.serveTcp(port);
  cleanups.push(srv.close);
  return { slave, port: srv.port, reset: srv.reset, close: srv.close };
}

const POINTS = [
  { name: 'voltage', address: 0, type: 'float32', unit: 'V' },
  { name: 'temp', address: 2, type: 'int16', scale: 0.1, offset: -40, unit: 'C', deadband: 0.5 },
  { name: 'energy', address: 3, type: 'uint32', order: 'CDAB', unit: 'Wh' },
  { name: 'serial', address: 5, type: 'string', length: 4 },
  { name: 'setpoint', address: 9, type: 'int16', scale: 0.1, min: 0, max: 100, writable: true },
  { name: 'counter', area: 'input', address: 0, type: 'int64', order: 'DCBA' },
  { name: 'run', area: 'coil', address: 0, type: 'bool', writable: true },
  { name: 'alarm', area: 'discrete', address: 3, type: 'bool' },
];

describe('Modbus TCP', () => {
  it('polls every type in coalesced reads, publishes on change beyond the deadband, and serves writes', async () => {
    const { slave, port } = await slaveOn();
    const cfg = adaptersConfig({ modbus: [{ name: 'meter', port, pollIntervalMs: 50, points: POINTS }] });
    const pts = cfg.modbus[0]?.points ?? [];
    const values: Record<string, boolean | number | string | bigint> = {
      voltage: 230.5,
      temp: 21.5,
      energy: 70000,
      serial: 'SN42',
      setpoint: 12.5,
      counter: -9000000000n,
      run: true,
      alarm: true,
    };
    for (const p of pts) slave.memory.setPoint(p, values[p.name] ?? 0);
    const { bus, adapters, registry } = await harness({ modbus: cfg.modbus });

    await bus.waitFor('modbus/meter/status', (b) => b.status === 'online');
    const seen: Record<string, Record<string, unknown>> = Object.fromEntries(
      bus
        .json('modbus/meter/+')
        .filter((b) => 'point' in b)
        .map((b) => [b.point, b]),
    );
    expect(Object.fromEntries(Object.entries(seen).map(([k, b]) => [k, b.value]))).toEqual({
      voltage: 230.5,
      temp: 21.5,
      energy: 70000,
      serial: 'SN42',
      setpoint: 12.5,
      counter: -9000000000,
      run: true,
      alarm: true,
    });
    expect(seen.voltage).toMatchObject({ device: 'meter', unit: 'V' });
    expect(bus.messages.find((m) => m.topic === 'modbus/meter/voltage')?.clientId).toBe('meter');

    // holding 0..9 (one read), input 0..3, coil 0, discrete 3: four requests per poll.
    const pollCount = () => (adapters.health().modbus as Record<string, { polls: number }>).meter?.polls ?? 0;
    const polls = pollCount();
    const before = slave.requests;
    await waitFor('5 more polls', () => pollCount() >= polls + 5);
    const pollsAfter = pollCount();
    // A poll in flight at either end may be partly counted: allow one poll's requests of slack.
    expect(slave.requests - before).toBeGreaterThanOrEqual((pollsAfter - polls - 1) * 4);
    expect(slave.requests - before).toBeLessThanOrEqual((pollsAfter - polls + 1) * 4);

    // Within the deadband: not published; beyond it: published once.
    const temp = pts.find((p) => p.name === 'temp');
    if (!temp) throw new Error('temp');
    const mark = bus.messages.length;
    slave.memory.setPoint(temp, 21.8);
    slave.memory.setPoint(temp, 21.8);
    const v = pts.find((p) => p.name === 'voltage');
    if (v) slave.memory.setPoint(v, 231);
    await bus.waitFor('modbus/meter/voltage', (b) => b.value === 231, 5000, mark);
    expect(bus.json('modbus/meter/temp').slice(-1)[0]?.value).toBe(21.5);
    slave.memory.setPoint(temp, 22.5);
    await bus.waitFor('modbus/meter/temp', (b) => b.value === 22.5, 5000, mark);

    // A write: validated, written with FC 6, answered, then read back by the next poll.
    await bus.inject('modbus/meter/setpoint/set', { value: 42.5, id: 'w1' });
    expect(await bus.waitFor('modbus/meter/setpoint/set/reply', (b) => b.id === 'w1')).toMatchObject({
      ok: true,
      value: 42.5,
    });
    expect(slave.writes.at(-1)).toEqual({ fc: 6, address: 9, values: [425] });
    await bus.waitFor('modbus/meter/setpoint', (b) => b.value === 42.5);
    await bus.inject('modbus/meter/run/set', false);
    await bus.waitFor('modbus/meter/run/set/reply', (b) => b.ok === true);
    expect(slave.writes.at(-1)).toEqual({ fc: 5, address: 0, values: [0] });

    // Out of range: refused before anything reaches the device.
    const writes = slave.writes.length;
    await bus.inject('modbus/meter/setpoint/set', { value: 120, id: 'w2' });
    expect(await bus.waitFor('modbus/meter/setpoint/set/reply', (b) => b.id === 'w2')).toMatchObject({
      ok: false,
      error: 'GW_ERR_WRITE_INVALID',
    });
    expect(slave.writes.length).toBe(writes);

    // An exception from the device comes back in the reply.
    slave.faults.push({ mode: 'exception', code: 3 });
    await bus.inject('modbus/meter/setpoint/set', { value: 50, id: 'w3' });
    expect(await bus.waitFor('modbus/meter/setpoint/set/reply', (b) => b.id === 'w3')).toMatchObject({
      ok: false,
      error: 'GW_ERR_MODBUS_EXCEPTION',
      exception: 3,
    });
    expect(await metricValue(registry, 'gateway_modbus_writes_total', { device: 'meter', result: 'ok' })).toBe(2);
    expect(await metricValue(registry, 'gateway_modbus_writes_total', { device: 'meter', result: 'exception' })).toBe(
      1,
    );
  });

  it('goes offline when the server disappears, retries with backoff and recovers on the same port', async () => {
    const first = await slaveOn();
    const { bus, adapters, registry } = await harness({
      modbus: [
        {
          name: 'plc',
          port: first.port,
          pollIntervalMs: 50,
          timeoutMs: 200,
          retries: 1,
          reconnectMinMs: 50,
          reconnectMaxMs: 200,
          points: [{ name: 'x', address: 0 }],
        },
      ],
    });
    await bus.waitFor('modbus/plc/status', (b) => b.status === 'online');
    expect(await metricValue(registry, 'gateway_adapter_online', { kind: 'modbus', device: 'plc' })).toBe(1);

    await first.close();
    const mark = bus.messages.length;
    await bus.waitFor('modbus/plc/status', (b) => b.status === 'offline', 5000, mark);
    expect(await metricValue(registry, 'gateway_adapter_online', { kind: 'modbus', device: 'plc' })).toBe(0);
    expect(adapters.health()).toMatchObject({ status: 'down', modbus: { plc: { status: 'offline' } } });
    // It keeps trying: reconnect attempts accumulate while the server is away.
    const key = `tcp:127.0.0.1:${first.port}`;
    await waitFor(
      'three reconnect attempts',
      async () => (await metricValue(registry, 'gateway_adapter_reconnects_total', { kind: 'modbus', port: key })) >= 3,
    );

    const second = await slaveOn(first.port);
    second.slave.memory.holding[0] = 7;
    const back = bus.messages.length;
    await bus.waitFor('modbus/plc/status', (b) => b.status === 'online', 10_000, back);
    await bus.waitFor('modbus/plc/x', (b) => b.value === 7, 5000, back);
    expect(adapters.health()).toMatchObject({ status: 'ok' });

    // A connection reset (device reboot) rather than a clean close: detected and reconnected the same way.
    const reset = bus.messages.length;
    second.reset();
    await bus.waitFor('modbus/plc/status', (b) => b.status === 'offline', 5000, reset);
    second.slave.memory.holding[0] = 8;
    await bus.waitFor('modbus/plc/status', (b) => b.status === 'online', 10_000, reset);
    await bus.waitFor('modbus/plc/x', (b) => b.value === 8, 5000, reset);
  });

  it('counts exceptions and timeouts per device, and one silent device does not stop its neighbour', async () => {
    const { slave, port } = await slaveOn(0, [1, 2]);
    slave.memory.holding[0] = 11;
    const { bus, adapters, registry } = await harness({
      modbus: [1, 2, 3].map((unitId) => ({
        name: `u${unitId}`,
        port,
        unitId,
        pollIntervalMs: 50,
        timeoutMs: 100,
        retries: 1,
        points: [{ name: 'x', address: 0 }],
      })),
    });
    await bus.waitFor('modbus/u1/status', (b) => b.status === 'online');
    await bus.waitFor('modbus/u2/status', (b) => b.status === 'online');
    // Unit 3 does not exist: on Modbus TCP to a device that ignores it, that is a timeout, then offline.
    expect(await bus.waitFor('modbus/u3/status', (b) => b.status === 'offline')).toMatchObject({
      error: 'response timeout',
    });
    slave.faults.push({ mode: 'exception', code: 2 });
    await waitFor(
      'an exception counted',
      async () =>
        (await metricValue(registry, 'gateway_adapter_errors_total', { kind: 'modbus', reason: 'exception' })) >= 1,
    );
    slave.memory.holding[0] = 12;
    await bus.waitFor('modbus/u1/x', (b) => b.value === 12);
    await bus.waitFor('modbus/u2/x', (b) => b.value === 12);
    const h = adapters.health() as {
      status: string;
      modbus: Record<string, { status: string; errors: Record<string, number> }>;
    };
    expect(h.status).toBe('degraded');
    expect(h.modbus.u3?.errors.timeout).toBeGreaterThanOrEqual(2);
    expect(h.modbus.u1?.status).toBe('online');
  });
});

describe('Modbus TCP register map errors', () => {
  it('splits a coalesced read that hits an illegal address, so the valid points keep publishing', async () => {
    const { slave, port } = await slaveOn();
    slave.memory.size = 11; // addresses 0..10 exist
    slave.memory.holding[9] = 99;
    slave.memory.holding[10] = 100;
    const { bus, adapters } = await harness({
      modbus: [
        {
          name: 'gap',
          port,
          pollIntervalMs: 50,
          points: [
            { name: 'a', address: 9 },
            { name: 'b', address: 10 },
            { name: 'missing', address: 11 },
          ],
        },
      ],
    });
    await bus.waitFor('modbus/gap/a', (b) => b.value === 99);
    await bus.waitFor('modbus/gap/b', (b) => b.value === 100);
    type H = { modbus: Record<string, { status: string; errors: Record<string, number> }> };
    const gap = () => (adapters.health() as H).modbus.gap;
    // The first poll's block read failed; later polls fail only on the missing point.
    await waitFor('exceptions on the missing point', () => (gap()?.errors.exception ?? 0) >= 3);
    expect(gap()?.status).toBe('online');
    expect(bus.json('modbus/gap/missing')).toEqual([]);
  });
});

describe('Modbus TCP against pymodbus', () => {
  it('reads values a third-party slave encoded, and writes back', async () => {
    const script = fileURLToPath(new URL('../fixtures/modbus-pymodbus.py', import.meta.url));
    const py: ChildProcess = spawn('/usr/bin/python3', [script, '--mode', 'tcp', '--unit', '3'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(async () => {
      if (py.exitCode === null) {
        const gone = new Promise((r) => py.once('exit', r));
        py.kill('SIGTERM');
        await gone;
      }
    });
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      py.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /READY (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      py.once('exit', (code) => reject(new Error(`pymodbus exited ${code}`)));
    });
    const { bus } = await harness({
      modbus: [
        {
          name: 'py',
          port,
          unitId: 3,
          pollIntervalMs: 100,
          points: [
            { name: 'f32', address: 0, type: 'float32' },
            { name: 'i16', address: 2, type: 'int16', writable: true },
            { name: 'u32', address: 3, type: 'uint32', order: 'CDAB' },
            { name: 'i64', address: 5, type: 'int64' },
            { name: 'f64', address: 9, type: 'float64', order: 'DCBA' },
            { name: 'str', address: 13, type: 'string', length: 3 },
            { name: 'ir', area: 'input', address: 0 },
            { name: 'co', area: 'coil', address: 1, type: 'bool' },
            { name: 'di', area: 'discrete', address: 2, type: 'bool' },
          ],
        },
      ],
    });
    await bus.waitFor('modbus/py/status', (b) => b.status === 'online');
    const got = Object.fromEntries(
      bus
        .json('modbus/py/+')
        .filter((b) => 'point' in b)
        .map((b) => [b.point, b.value]),
    );
    expect(got).toEqual({
      f32: 230.5,
      i16: -123,
      u32: 70000,
      i64: -9000000000,
      f64: 3.25,
      str: 'PYMB',
      ir: 4242,
      co: true,
      di: true,
    });
    await bus.inject('modbus/py/i16/set', -321);
    await bus.waitFor('modbus/py/i16/set/reply', (b) => b.ok === true);
    await bus.waitFor('modbus/py/i16', (b) => b.value === -321);
  });
});
