// What a Modbus point publishes and answers, at the edges the docs promise: the deadband boundary, the unit that is
// always carried, and a reply to every refused write (also to a point that cannot be written). Real TCP slave on port 0.
import { afterEach, describe, expect, it } from 'vitest';
import { adaptersConfig, type Harness, startAdapters } from '../fixtures/modbus-harness.ts';
import { ModbusSlave } from '../fixtures/modbus-slave.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

const POINTS = [
  { name: 'temp', address: 0, type: 'float32', unit: 'C', deadband: 0.5 },
  { name: 'scaled', address: 2, type: 'int16', scale: 0.1, deadband: 0.5 },
  { name: 'count', address: 3, type: 'uint16' },
  { name: 'level', area: 'input', address: 0, type: 'uint16' },
  { name: 'setpoint', address: 4, type: 'uint16', writable: true },
];

async function meter(): Promise<{
  slave: ModbusSlave;
  h: Harness;
  point: (name: string) => Harness['config']['modbus'][number]['points'][number];
}> {
  const slave = new ModbusSlave([1]);
  const srv = await slave.serveTcp(0);
  cleanups.push(srv.close);
  const cfg = adaptersConfig({ modbus: [{ name: 'meter', port: srv.port, pollIntervalMs: 20, points: POINTS }] });
  const point = (name: string) => {
    const p = cfg.modbus[0]?.points.find((q) => q.name === name);
    if (!p) throw new Error(name);
    return p;
  };
  slave.memory.setPoint(point('temp'), 23.0);
  slave.memory.setPoint(point('scaled'), 22.8);
  slave.memory.setPoint(point('count'), 7);
  const h = await startAdapters({ modbus: cfg.modbus });
  cleanups.push(() => h.close());
  await h.bus.waitFor('modbus/meter/status', (b) => b.status === 'online');
  return { slave, h, point };
}

describe('Modbus points', () => {
  it('publishes a change equal to the deadband, and withholds a smaller one', async () => {
    const { slave, h, point } = await meter();
    expect(h.bus.json('modbus/meter/temp').map((b) => b.value)).toEqual([23]);
    // Smaller than the deadband: withheld (another point's change shows that polls went on).
    slave.memory.setPoint(point('temp'), 23.4);
    let mark = h.bus.messages.length;
    slave.memory.setPoint(point('count'), 8);
    await h.bus.waitFor('modbus/meter/count', (b) => b.value === 8, 5000, mark);
    mark = h.bus.messages.length;
    slave.memory.setPoint(point('count'), 9);
    await h.bus.waitFor('modbus/meter/count', (b) => b.value === 9, 5000, mark);
    expect(h.bus.json('modbus/meter/temp').map((b) => b.value)).toEqual([23]);
    // Exactly the deadband away from the last published 23.0: published.
    slave.memory.setPoint(point('temp'), 23.5);
    await h.bus.waitFor('modbus/meter/temp', (b) => b.value === 23.5, 5000);
    // A scaled value a whole deadband away, too.
    slave.memory.setPoint(point('scaled'), 23.3);
    await h.bus.waitFor('modbus/meter/scaled', (b) => b.value === 23.3, 5000);
  });

  it('carries unit "" on a point configured without one', async () => {
    const { h } = await meter();
    const count = await h.bus.waitFor('modbus/meter/count');
    expect(count).toMatchObject({ device: 'meter', point: 'count', value: 7, unit: '' });
    expect(await h.bus.waitFor('modbus/meter/temp')).toMatchObject({ unit: 'C' });
  });

  it('answers a write to a point that is not writable, or does not exist, with an error reply', async () => {
    const { slave, h } = await meter();
    const writes = slave.writes.length;
    await h.bus.inject('modbus/meter/count/set', { value: 5, id: 'r1' });
    expect(await h.bus.waitFor('modbus/meter/count/set/reply', (b) => b.id === 'r1', 5000)).toMatchObject({
      ok: false,
      device: 'meter',
      point: 'count',
      error: 'GW_ERR_WRITE_INVALID',
      message: 'count: point is not writable',
    });
    await h.bus.inject('modbus/meter/level/set', 5);
    expect(await h.bus.waitFor('modbus/meter/level/set/reply', () => true, 5000)).toMatchObject({
      ok: false,
      error: 'GW_ERR_WRITE_INVALID',
    });
    await h.bus.inject('modbus/meter/nosuch/set', { value: 1, id: 'r3' });
    expect(await h.bus.waitFor('modbus/meter/nosuch/set/reply', (b) => b.id === 'r3', 5000)).toMatchObject({
      ok: false,
      point: 'nosuch',
      error: 'GW_ERR_WRITE_INVALID',
      message: 'nosuch: no such point',
    });
    // A writable point still writes, and nothing refused reached the device.
    await h.bus.inject('modbus/meter/setpoint/set', { value: 3, id: 'r4' });
    expect(await h.bus.waitFor('modbus/meter/setpoint/set/reply', (b) => b.id === 'r4', 5000)).toMatchObject({
      ok: true,
      value: 3,
    });
    expect(slave.writes.slice(writes)).toEqual([{ fc: 6, address: 4, values: [3] }]);
  });
});
