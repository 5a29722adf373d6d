// `device-sim modbus` and `device-sim serial`: field devices for the gateway's adapters.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, stringify } from 'yaml';
import { commandInfo, defineCommand, type Options, UsageError } from '../args.ts';
import { checkRegisterMap, defaultMap } from '../field/maps.ts';
import { openPtyPair, type PtyPair } from '../field/pty.ts';
import { startModbusSlave, startNmeaEmitter } from '../field/slaves.ts';
import { PROFILE_NAMES } from '../profiles/index.ts';

const modbusInfo = commandInfo({
  name: 'modbus',
  summary: 'a Modbus slave (TCP, or RTU on a pty) whose registers follow a device profile',
  usage:
    './gw sim modbus [--tcp 127.0.0.1:5020 | --rtu-pty | --rtu /dev/ttyUSB0] [--profile factory-sensor] [--units 1]',
  options: {
    tcp: { kind: 'string', help: 'Modbus TCP on host:port', default: '127.0.0.1:5020' },
    'rtu-pty': { kind: 'boolean', help: 'Modbus RTU on a new pty pair; prints the end to give the gateway' },
    rtu: { kind: 'string', help: 'Modbus RTU on this serial device' },
    baud: { kind: 'int', help: 'RTU baud rate', default: 19200, min: 300 },
    profile: { kind: 'string', help: 'profile the values follow', default: 'factory-sensor', choices: PROFILE_NAMES },
    units: { kind: 'list', help: 'unit ids to answer', default: ['1'] },
    map: { kind: 'string', help: 'register map (YAML/JSON list of points, the gateway’s format); default per profile' },
    interval: { kind: 'number', help: 'ms between value updates', default: 1000, min: 10 },
    'print-map': { kind: 'boolean', help: 'print the register map as YAML (for the gateway config) and exit' },
    seed: { kind: 'int', help: 'random seed' },
  },
  examples: [
    './gw sim modbus --tcp 127.0.0.1:5020 --profile vehicle --units 1,2,3',
    './gw sim modbus --rtu-pty --profile door-lock',
    './gw sim modbus --profile factory-sensor --print-map > points.yaml',
  ],
});

function units(list: string[]): number[] {
  return list.map((u) => {
    const n = Number(u);
    if (!Number.isInteger(n) || n < 1 || n > 247) throw new UsageError(`--units: ${u} is not a unit id (1-247)`);
    return n;
  });
}

async function untilSignal(): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

async function registerMap(o: Options<typeof modbusInfo.options>): Promise<ReturnType<typeof defaultMap>> {
  if (!o.map) return defaultMap(o.profile);
  try {
    return checkRegisterMap(parseYaml(await readFile(o.map, 'utf8')));
  } catch (err) {
    throw new UsageError(`--map ${o.map}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

interface ModbusLink {
  pty?: PtyPair;
  rtu?: { path: string; baudRate: number };
  tcp?: { host: string; port: number };
}

/** RTU on a new pty or a serial device, else TCP on --tcp. */
async function modbusLink(o: Options<typeof modbusInfo.options>): Promise<ModbusLink> {
  if (o['rtu-pty']) {
    const pty = await openPtyPair();
    return { pty, rtu: { path: pty.sim, baudRate: o.baud } };
  }
  if (o.rtu) return { rtu: { path: o.rtu, baudRate: o.baud } };
  const m = /^(.+):(\d+)$/.exec(o.tcp);
  if (!m?.[1] || !m[2]) throw new UsageError(`--tcp: "${o.tcp}" is not host:port`);
  return { tcp: { host: m[1], port: Number(m[2]) } };
}

async function modbusMain(o: Options<typeof modbusInfo.options>): Promise<number> {
  const map = await registerMap(o);
  if (o['print-map']) {
    process.stdout.write(stringify(map));
    return 0;
  }
  const { pty, rtu, tcp } = await modbusLink(o);
  const slave = await startModbusSlave({
    profile: o.profile,
    units: units(o.units),
    map,
    ...(tcp ? { tcp } : {}),
    ...(rtu ? { rtu } : {}),
    intervalMs: o.interval,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  });
  const where = tcp
    ? `tcp://${tcp.host}:${slave.port}`
    : pty
      ? `rtu on ${pty.peer} (give this to the gateway)`
      : `rtu on ${rtu?.path}`;
  process.stdout.write(`modbus slave (${o.profile}, units ${o.units.join(',')}): ${where}\n`);
  await untilSignal();
  await slave.close();
  await pty?.close();
  return 0;
}

export const modbusCommand = defineCommand(modbusInfo, modbusMain);

const serialInfo = commandInfo({
  name: 'serial',
  summary: 'a GPS receiver writing NMEA (GGA, RMC, VTG) on a pty or serial device, following a profile’s track',
  usage: './gw sim serial [--pty | --device /dev/ttyUSB0] [--profile vehicle] [--rate 1]',
  options: {
    pty: { kind: 'boolean', help: 'write on a new pty pair; prints the end to give the gateway (default)' },
    device: { kind: 'string', help: 'write on this serial device instead' },
    baud: { kind: 'int', help: 'baud rate', default: 9600, min: 300 },
    profile: { kind: 'string', help: 'track to follow', default: 'vehicle', choices: ['vehicle', 'logistics-tracker'] },
    rate: { kind: 'number', help: 'fixes per second', default: 1, min: 0.01, max: 50 },
    seed: { kind: 'int', help: 'random seed' },
  },
  examples: ['./gw sim serial --pty --profile vehicle --rate 5'],
});

async function serialMain(o: Options<typeof serialInfo.options>): Promise<number> {
  const pty = o.device ? undefined : await openPtyPair();
  const path = o.device ?? pty?.sim ?? '';
  const gps = await startNmeaEmitter({
    path,
    baudRate: o.baud,
    rateHz: o.rate,
    profile: o.profile,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  });
  process.stdout.write(`NMEA GPS (${o.profile}) on ${pty ? `${pty.peer} (give this to the gateway)` : path}\n`);
  await untilSignal();
  await gps.close();
  await pty?.close();
  return 0;
}

export const serialCommand = defineCommand(serialInfo, serialMain);
