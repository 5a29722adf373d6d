// Field devices the gateway polls or listens to: a Modbus slave (TCP, or RTU on a serial line such as a pty) whose
// registers follow a profile, and a GPS receiver writing NMEA on a serial line.
import { once } from 'node:events';
import { createServer } from 'node:net';
import { ServerSerial, ServerTCP } from 'modbus-serial';
import { SerialPort } from 'serialport';
import type { RegisterMap } from '../../gateway/adapters/register-map.ts';
import { getProfile, type ProfileName } from '../profiles/index.ts';
import { Rng } from '../profiles/types.ts';
import { flatten, RegisterBank } from './bank.ts';
import { gga, rmc, vtg } from './nmea.ts';

export interface ModbusSlaveOptions {
  profile: ProfileName;
  units: number[];
  map: RegisterMap;
  /** Modbus TCP on this host:port (port 0 = any free one)… */
  tcp?: { host: string; port: number };
  /** …or Modbus RTU on this serial device. */
  rtu?: { path: string; baudRate: number };
  intervalMs: number;
  seed?: number;
}

export interface ModbusSlave {
  bank: RegisterBank;
  /** TCP port the slave listens on (TCP mode). */
  port: number;
  ticks: () => number;
  close: () => Promise<void>;
}

async function freePort(host: string): Promise<number> {
  const srv = createServer();
  srv.listen(0, host);
  await once(srv, 'listening');
  const a = srv.address();
  srv.close();
  await once(srv, 'close');
  return typeof a === 'object' && a ? a.port : 0;
}

/** The values a profile state shows on its registers: its fields, the last message's, and door → door_open. */
function values(state: unknown, body: Record<string, unknown> | undefined): Record<string, unknown> {
  const v = { ...flatten(state as Record<string, unknown>), ...(body ? flatten(body) : {}) };
  if (typeof v.door === 'string' && v.door_open === undefined) v.door_open = v.door === 'open';
  else if (typeof v.door === 'boolean' && v.door_open === undefined) v.door_open = v.door;
  return v;
}

export async function startModbusSlave(opts: ModbusSlaveOptions): Promise<ModbusSlave> {
  const profile = getProfile(opts.profile);
  const rng = new Rng(opts.seed ?? Date.now());
  const bank = new RegisterBank(opts.map, opts.units);
  const states = new Map<number, unknown>();
  const now = Date.now();
  for (const u of opts.units) {
    const s = profile.init(`unit-${u}`, rng, now);
    states.set(u, s);
    bank.setByName(u, values(s, undefined));
  }
  // A master writing a point the profile also has (a door-lock's `locked` coil) changes the device's state.
  bank.onWrite = (unit, point, value) => {
    const s = states.get(unit) as Record<string, unknown> | undefined;
    if (s && point.name in s && typeof s[point.name] === typeof value) s[point.name] = value;
  };
  let ticks = 0;
  const timer = setInterval(() => {
    const t = Date.now();
    for (const u of opts.units) {
      const s = states.get(u);
      const r = profile.tick(s, `unit-${u}`, t, rng);
      bank.setByName(u, values(s, r.messages[0]?.body));
    }
    ticks++;
  }, opts.intervalMs);
  let server: ServerTCP | ServerSerial;
  let port = 0;
  if (opts.tcp) {
    // modbus-serial treats port 0 as "the default 502", so a free port is picked here.
    port = opts.tcp.port || (await freePort(opts.tcp.host));
    const tcp = new ServerTCP(bank.vector(), { host: opts.tcp.host, port, unitID: 255 });
    server = tcp;
    const failed = once(tcp, 'serverError').then(([err]) => {
      throw err;
    });
    await Promise.race([once(tcp, 'initialized'), failed]);
  } else if (opts.rtu) {
    server = new ServerSerial(bank.vector(), { path: opts.rtu.path, baudRate: opts.rtu.baudRate, unitID: 255 });
    await once(server, 'initialized');
  } else {
    clearInterval(timer);
    throw new Error('give tcp or rtu');
  }
  server.on('error', () => {});
  server.on('socketError', () => {});
  return {
    bank,
    port,
    ticks: () => ticks,
    close: async () => {
      clearInterval(timer);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface NmeaEmitterOptions {
  path: string;
  baudRate: number;
  /** Fixes per second. */
  rateHz: number;
  profile: Extract<ProfileName, 'vehicle' | 'logistics-tracker'>;
  seed?: number;
}

export interface NmeaEmitter {
  sentences: () => number;
  close: () => Promise<void>;
}

/** Writes GGA, RMC and VTG for each fix, following the profile's GPS track. */
export async function startNmeaEmitter(opts: NmeaEmitterOptions): Promise<NmeaEmitter> {
  const profile = getProfile(opts.profile);
  const rng = new Rng(opts.seed ?? Date.now());
  const state = profile.init('gps', rng, Date.now()) as { lat: number; lon: number; heading?: number; speed?: number };
  const port = new SerialPort({ path: opts.path, baudRate: opts.baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  let count = 0;
  let prev = { lat: state.lat, lon: state.lon, t: Date.now() };
  const timer = setInterval(() => {
    const t = Date.now();
    profile.tick(state, 'gps', t, rng);
    // Trackers have no speedometer: speed and course come from the distance between fixes.
    const dKm = Math.hypot(
      (state.lat - prev.lat) * 111.32,
      (state.lon - prev.lon) * 111.32 * Math.cos((state.lat * Math.PI) / 180),
    );
    const speed = state.speed ?? (dKm / Math.max(1, t - prev.t)) * 3_600_000;
    const heading = state.heading ?? 0;
    prev = { lat: state.lat, lon: state.lon, t };
    const sample = { lat: state.lat, lon: state.lon, speed, heading, time: new Date(t), satellites: rng.int(6, 12) };
    port.write(gga(sample) + rmc(sample) + vtg(sample));
    count += 3;
  }, 1000 / opts.rateHz);
  return {
    sentences: () => count,
    close: async () => {
      clearInterval(timer);
      await new Promise<void>((resolve) => port.close(() => resolve()));
    },
  };
}
