// Modbus RTU over real pseudo-terminal pairs (socat): the test slave with injected line faults, and pymodbus as a
// third-party slave.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, metricValue, startAdapters } from '../fixtures/modbus-harness.ts';
import { PtyPair } from '../fixtures/modbus-pty.ts';
import { ModbusSlave } from '../fixtures/modbus-slave.ts';
import { waitFor } from '../harness/wait.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function pty(): Promise<PtyPair> {
  const p = await new PtyPair().open();
  cleanups.push(() => p.dispose());
  return p;
}

async function harness(raw: unknown): Promise<Harness> {
  const h = await startAdapters(raw);
  cleanups.push(() => h.close());
  return h;
}

type Health = { modbus: Record<string, { status: string; polls: number; errors: Record<string, number> }> };

function rtuDevice(path: string, name: string, unitId: number, extra: Record<string, unknown> = {}) {
  return {
    name,
    transport: 'rtu',
    path,
    baudRate: 115200,
    unitId,
    pollIntervalMs: 20,
    timeoutMs: 150,
    retries: 2,
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    points: [
      { name: 'temp', address: 0, type: 'int16', scale: 0.1 },
      { name: 'flow', address: 1, type: 'float32', order: 'CDAB' },
      { name: 'setpoint', address: 3, type: 'uint16', writable: true },
    ],
    ...extra,
  };
}

describe('Modbus RTU on a pty pair', () => {
  it('shares one bus between devices one request at a time, with writes interleaved', async () => {
    const line = await pty();
    const slave = new ModbusSlave([1, 2, 3]);
    cleanups.push(await slave.serveRtu(line.b, 115200));
    slave.memory.holding[0] = 215;
    const { bus, adapters } = await harness({
      modbus: [1, 2, 3].map((u) => rtuDevice(line.a, `dev${u}`, u)),
    });
    for (const u of [1, 2, 3]) await bus.waitFor(`modbus/dev${u}/temp`, (b) => b.value === 21.5);
    // Writes from several devices at once while all three poll flat out: the queue keeps the line clean.
    await Promise.all([1, 2, 3].map((u) => bus.inject(`modbus/dev${u}/setpoint/set`, { value: 100 + u, id: u })));
    for (const u of [1, 2, 3]) await bus.waitFor(`modbus/dev${u}/setpoint/set/reply`, (b) => b.ok === true);
    const h = adapters.health() as Health;
    await waitFor('20 polls each', () =>
      Object.values((adapters.health() as Health).modbus).every((d) => d.polls >= 20),
    );
    for (const d of Object.values(h.modbus)) expect(d.errors).toEqual({});
    expect(
      slave.writes
        .filter((w) => w.fc === 6)
        .map((w) => w.values[0])
        .sort(),
    ).toEqual([101, 102, 103]);
  });

  it('counts CRC errors, exceptions and timeouts, retries, and goes offline/online with a silent slave', async () => {
    const line = await pty();
    const slave = new ModbusSlave([1]);
    cleanups.push(await slave.serveRtu(line.b, 115200));
    slave.memory.holding[0] = 100;
    const { bus, adapters, registry } = await harness({ modbus: [rtuDevice(line.a, 'drive', 1)] });
    await bus.waitFor('modbus/drive/status', (b) => b.status === 'online');
    const errors = (reason: string) =>
      metricValue(registry, 'gateway_adapter_errors_total', { device: 'drive', reason });

    // A corrupt frame and a lost reply are retried within the same poll: the value still arrives, no offline.
    slave.faults.push({ mode: 'crc' }, { mode: 'silent' });
    slave.memory.holding[0] = 101;
    const mark = bus.messages.length;
    await bus.waitFor('modbus/drive/temp', (b) => b.value === 10.1, 5000, mark);
    expect(await errors('crc')).toBe(1);
    expect(await errors('timeout')).toBe(1);
    expect(bus.json('modbus/drive/status').filter((b) => b.status === 'offline')).toEqual([]);

    // An exception is an answer: counted, not retried, the device stays online.
    slave.faults.push({ mode: 'exception', code: 4 });
    await waitFor('exception counted', async () => (await errors('exception')) === 1);
    expect((adapters.health() as Health).modbus.drive?.status).toBe('online');

    // A slave that stops answering: every retry times out, the device goes offline, and comes back.
    slave.silent = true;
    expect(await bus.waitFor('modbus/drive/status', (b) => b.status === 'offline', 5000, mark)).toMatchObject({
      error: 'response timeout',
    });
    expect(await errors('timeout')).toBeGreaterThanOrEqual(4);
    slave.silent = false;
    slave.memory.holding[0] = 102;
    const back = bus.messages.length;
    await bus.waitFor('modbus/drive/status', (b) => b.status === 'online', 5000, back);
    // After the timeouts the line is drained, so the first value read is the current one, not a stale reply.
    await bus.waitFor('modbus/drive/temp', (b) => b.value === 10.2, 5000, back);
  });

  it('survives the port closing mid-poll and reopens it when it reappears', async () => {
    const line = await pty();
    const slave = new ModbusSlave([1]);
    cleanups.push(await slave.serveRtu(line.b, 115200));
    slave.memory.holding[0] = 5;
    const { bus, adapters, registry } = await harness({ modbus: [rtuDevice(line.a, 'rtu1', 1)] });
    await bus.waitFor('modbus/rtu1/status', (b) => b.status === 'online');
    await waitFor('polling under way', () => slave.requests > 10);

    const mark = bus.messages.length;
    await line.close(); // both pty ends vanish while requests are in flight
    await bus.waitFor('modbus/rtu1/status', (b) => b.status === 'offline', 5000, mark);
    const reconnects = () => metricValue(registry, 'gateway_adapter_reconnects_total', { kind: 'modbus' });
    await waitFor('reopen attempts', async () => (await reconnects()) >= 2);
    expect(adapters.health()).toMatchObject({ buses: { [`rtu:${line.a}`]: { open: false } } });

    await line.open(); // the adapter is plugged back in at the same path
    const slave2 = new ModbusSlave([1]);
    slave2.memory.holding[0] = 6;
    cleanups.push(await slave2.serveRtu(line.b, 115200));
    const back = bus.messages.length;
    await bus.waitFor('modbus/rtu1/status', (b) => b.status === 'online', 10_000, back);
    await bus.waitFor('modbus/rtu1/temp', (b) => b.value === 0.6, 5000, back);
  });
});

describe('Modbus RTU against pymodbus', () => {
  it('reads a third-party slave over a pty pair and writes to it', async () => {
    const line = await pty();
    const script = fileURLToPath(new URL('../fixtures/modbus-pymodbus.py', import.meta.url));
    const py: ChildProcess = spawn('/usr/bin/python3', [script, '--mode', 'rtu', '--device', line.b, '--unit', '7'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(async () => {
      if (py.exitCode !== null) return;
      const gone = new Promise((r) => py.once('exit', r));
      py.kill('SIGTERM');
      await gone;
    });
    await new Promise<void>((resolve, reject) => {
      py.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('READY')) resolve();
      });
      py.once('exit', (code) => reject(new Error(`pymodbus exited ${code}`)));
    });
    const { bus } = await harness({
      modbus: [
        {
          name: 'pyrtu',
          transport: 'rtu',
          path: line.a,
          baudRate: 115200,
          unitId: 7,
          pollIntervalMs: 100,
          timeoutMs: 500,
          points: [
            { name: 'f32', address: 0, type: 'float32' },
            { name: 'i16', address: 2, type: 'int16' },
            { name: 'u32', address: 3, type: 'uint32', order: 'CDAB', writable: true },
            { name: 'f64', address: 9, type: 'float64', order: 'DCBA' },
            { name: 'ir', area: 'input', address: 0 },
            { name: 'co', area: 'coil', address: 0, type: 'bool', writable: true },
          ],
        },
      ],
    });
    await bus.waitFor('modbus/pyrtu/status', (b) => b.status === 'online');
    const got = Object.fromEntries(
      bus
        .json('modbus/pyrtu/+')
        .filter((b) => 'point' in b)
        .map((b) => [b.point, b.value]),
    );
    expect(got).toEqual({ f32: 230.5, i16: -123, u32: 70000, f64: 3.25, ir: 4242, co: false });
    // FC 16 for a two-register value, FC 5 for a coil; read back from the peer by the next polls.
    await bus.inject('modbus/pyrtu/u32/set', 123456);
    await bus.waitFor('modbus/pyrtu/u32/set/reply', (b) => b.ok === true);
    await bus.inject('modbus/pyrtu/co/set', true);
    await bus.waitFor('modbus/pyrtu/co/set/reply', (b) => b.ok === true);
    await bus.waitFor('modbus/pyrtu/u32', (b) => b.value === 123456);
    await bus.waitFor('modbus/pyrtu/co', (b) => b.value === true);
  });
});
