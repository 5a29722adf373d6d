// Serial devices on real pseudo-terminal pairs (socat): framing, publishing, and a port that is absent or unplugged.
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, metricValue, startAdapters } from '../fixtures/modbus-harness.ts';
import { PtyPair } from '../fixtures/modbus-pty.ts';
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

/** The device's side of the line. */
async function device(path: string): Promise<(text: string) => Promise<void>> {
  const port = new SerialPort({ path, baudRate: 9600, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  cleanups.push(() => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())));
  return (text) =>
    new Promise<void>((resolve, reject) => {
      port.write(text, (e) => (e ? reject(e) : port.drain(() => resolve())));
    });
}

describe('serial adapter', () => {
  it('publishes delimited fields, JSON lines and NMEA fixes with the device name', async () => {
    const [csv, json, gps] = await Promise.all([1, 2, 3].map(() => new PtyPair().open()));
    for (const p of [csv, json, gps]) if (p) cleanups.push(() => p.dispose());
    if (!csv || !json || !gps) throw new Error('pty');
    const { bus, registry } = await harness({
      serial: [
        {
          name: 'thermo',
          path: csv.a,
          framing: 'lines',
          fields: ['temp', 'hum'],
          separator: ';',
          topic: 'plant/thermo',
        },
        { name: 'scale', path: json.a, framing: 'json', delimiter: '\r\n' },
        { name: 'gps', path: gps.a, framing: 'nmea' },
      ],
    });
    for (const d of ['plant/thermo', 'serial/scale', 'serial/gps'])
      await bus.waitFor(`${d}/status`, (b) => b.status === 'online');
    const [writeCsv, writeJson, writeGps] = await Promise.all([device(csv.b), device(json.b), device(gps.b)]);

    await writeCsv('21.5;40\n22');
    await writeCsv('.0;41\n');
    await bus.waitFor('plant/thermo', (b) => b.temp === 22);
    expect(bus.json('plant/thermo').map((b) => [b.device, b.temp, b.hum])).toEqual([
      ['thermo', 21.5, 40],
      ['thermo', 22, 41],
    ]);

    await writeJson('{"weight":12.25,"stable":true}\r\n{broken\r\n');
    expect(await bus.waitFor('serial/scale')).toMatchObject({ device: 'scale', weight: 12.25, stable: true });
    await waitFor(
      'json error counted',
      async () =>
        (await metricValue(registry, 'gateway_adapter_errors_total', { device: 'scale', reason: 'json' })) === 1,
    );

    await writeGps(
      [
        '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47',
        '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*00',
        '$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74',
        '$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A',
        '$GPVTG,054.7,T,034.4,M,005.5,N,010.2,K*48',
        '',
      ].join('\r\n'),
    );
    await bus.waitFor('serial/gps', (b) => b.sentence === 'VTG');
    const fixes = bus.json('serial/gps');
    expect(fixes.map((b) => b.sentence)).toEqual(['GGA', 'RMC', 'VTG']);
    expect(fixes[0]).toMatchObject({ device: 'gps', lat: 48.1173, lon: 11.5166667, fixQuality: 1, altitude: 545.4 });
    expect(fixes[1]).toMatchObject({ valid: true, speedKnots: 22.4, heading: 84.4 });
    expect(fixes[2]).toMatchObject({ heading: 54.7, speedKmh: 10.2 });
    expect(await metricValue(registry, 'gateway_adapter_errors_total', { device: 'gps', reason: 'checksum' })).toBe(1);
    expect(bus.messages.find((m) => m.topic === 'serial/gps')?.clientId).toBe('gps');
  });

  it('waits for a port that is not there, and reopens one that is unplugged', async () => {
    const line = new PtyPair(); // paths chosen, nothing there yet
    cleanups.push(() => line.dispose());
    const { bus, adapters, registry } = await harness({
      serial: [{ name: 'usb', path: line.a, reconnectMinMs: 50, reconnectMaxMs: 200 }],
    });
    expect(await bus.waitFor('serial/usb/status')).toMatchObject({ status: 'offline' });
    await waitFor(
      'reopen attempts',
      async () => (await metricValue(registry, 'gateway_adapter_reconnects_total', { kind: 'serial' })) >= 3,
    );
    expect(adapters.health()).toMatchObject({ status: 'down', serial: { usb: { status: 'offline' } } });

    await line.open();
    await bus.waitFor('serial/usb/status', (b) => b.status === 'online');
    const write = await device(line.b);
    await write('hello\n');
    await bus.waitFor('serial/usb', (b) => b.line === 'hello');

    const mark = bus.messages.length;
    await line.close(); // unplugged
    expect(await bus.waitFor('serial/usb/status', () => true, 5000, mark)).toMatchObject({ status: 'offline' });
    expect(await metricValue(registry, 'gateway_adapter_online', { kind: 'serial', device: 'usb' })).toBe(0);

    await line.open(); // plugged back in
    await bus.waitFor('serial/usb/status', (b) => b.status === 'online', 10_000, mark);
    const again = await device(line.b);
    await again('back\n');
    await bus.waitFor('serial/usb', (b) => b.line === 'back');
    expect(adapters.health()).toMatchObject({ status: 'ok' });
  });
});
