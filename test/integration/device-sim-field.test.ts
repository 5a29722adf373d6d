// The simulated field devices through real transports: the Modbus slave over TCP and over RTU on a socat pty, read by
// a third-party master (mbpoll) and by modbus-serial; the NMEA GPS on a pty, read with serialport and parsed by the
// gateway's NMEA parser.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import ModbusSerial from 'modbus-serial';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import { ReadlineParser, SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultMap } from '../../device-sim/field/maps.ts';
import { openPtyPair } from '../../device-sim/field/pty.ts';
import { startModbusSlave, startNmeaEmitter } from '../../device-sim/field/slaves.ts';
import { parseNmea } from '../../gateway/adapters/nmea.ts';
import { pointWidth } from '../../gateway/adapters/register-map.ts';

const run = promisify(execFile);
// modbus-serial is CommonJS (`module.exports = ModbusRTU`); its typings declare a default export of the class.
const ModbusClient = ModbusSerial as unknown as new () => ModbusRTU;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** mbpoll prints one "[ref]: value" line per register. */
function mbpollValues(out: string): number[] {
  return [...out.matchAll(/^\[\d+\]:\s+(-?[\d.e+]+)/gm)].map((m) => Number(m[1]));
}

describe('device-sim modbus slave', () => {
  it('Modbus TCP: mbpoll and modbus-serial read the profile values; writes reach the profile', async () => {
    const map = defaultMap('door-lock');
    const slave = await startModbusSlave({
      profile: 'door-lock',
      units: [1, 2],
      map,
      tcp: { host: '127.0.0.1', port: 0 },
      intervalMs: 50,
      seed: 4,
    });
    cleanups.push(() => slave.close());
    const battery = map.find((p) => p.name === 'battery')!;
    const { stdout } = await run('mbpoll', [
      '-m',
      'tcp',
      '-p',
      String(slave.port),
      '-a',
      '2',
      '-t',
      '3',
      '-r',
      String(battery.address + 1),
      '-c',
      '1',
      '-1',
      '127.0.0.1',
    ]);
    const [raw] = mbpollValues(stdout);
    expect(raw! * battery.scale).toBeCloseTo(slave.bank.get(2, battery) as number, 5);
    expect(raw! * battery.scale).toBeGreaterThan(0);

    const client = new ModbusClient();
    await client.connectTCP('127.0.0.1', { port: slave.port });
    cleanups.push(() => new Promise((r) => client.close(() => r())));
    client.setID(1);
    client.setTimeout(2000);
    await client.writeCoil(0, true);
    expect((await client.readCoils(0, 1)).data[0]).toBe(true);
    await client.writeCoil(0, false);
    expect((await client.readCoils(0, 1)).data[0]).toBe(false);
    // The lock's state followed the write: the next tick keeps it unlocked instead of restoring the old value.
    const ticks = slave.ticks();
    const deadline = Date.now() + 5000;
    while (slave.ticks() < ticks + 3 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect((await client.readCoils(0, 1)).data[0]).toBe(false);
    await expect(
      client
        .readCoils(0, 1)
        .then(() => client.setID(9))
        .then(() => client.readCoils(0, 1)),
    ).rejects.toThrow();
  });

  it('Modbus RTU on a pty: mbpoll reads float32 registers of a vehicle', async () => {
    const pty = await openPtyPair();
    cleanups.push(() => pty.close());
    const map = defaultMap('vehicle');
    const slave = await startModbusSlave({
      profile: 'vehicle',
      units: [3],
      map,
      rtu: { path: pty.sim, baudRate: 19200 },
      intervalMs: 1000,
      seed: 5,
    });
    cleanups.push(() => slave.close());
    const lat = map.find((p) => p.name === 'lat')!;
    const { stdout } = await run(
      'mbpoll',
      [
        '-m',
        'rtu',
        '-b',
        '19200',
        '-P',
        'none',
        '-a',
        '3',
        '-t',
        '3:float',
        '-B',
        '-r',
        String(lat.address + 1),
        '-c',
        '1',
        '-1',
        pty.peer,
      ],
      { timeout: 10_000 },
    );
    const [value] = mbpollValues(stdout);
    expect(value).toBeCloseTo(slave.bank.get(3, lat) as number, 3);
    expect(value).toBeGreaterThan(40);
    expect(pointWidth(lat)).toBe(2);
  });
});

describe('device-sim NMEA GPS', () => {
  it('writes GGA, RMC and VTG on a pty that a serial reader and the gateway parser accept', async () => {
    const pty = await openPtyPair();
    cleanups.push(() => pty.close());
    const gps = await startNmeaEmitter({ path: pty.sim, baudRate: 9600, rateHz: 10, profile: 'vehicle', seed: 1 });
    cleanups.push(() => gps.close());
    const port = new SerialPort({ path: pty.peer, baudRate: 9600 });
    cleanups.push(() => new Promise((r) => port.close(() => r())));
    const lines = port.pipe(new ReadlineParser({ delimiter: '\r\n' }));
    const seen = new Map<string, number>();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only saw ${[...seen.keys()]}`)), 10_000);
      lines.on('data', (line: string) => {
        const fix = parseNmea(line);
        if (!fix) return;
        seen.set(fix.sentence, (seen.get(fix.sentence) ?? 0) + 1);
        if (fix.sentence === 'GGA') {
          expect(fix.lat).toBeGreaterThan(40);
          expect(fix.satellites).toBeGreaterThanOrEqual(6);
        }
        if ([...seen.values()].every((n) => n >= 3) && seen.size === 3) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    expect([...seen.keys()].sort()).toEqual(['GGA', 'RMC', 'VTG']);
  });
});
