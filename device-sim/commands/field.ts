// `device-sim modbus` and `device-sim serial`: field devices for the gateway's adapters.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, stringify } from 'yaml';
import { type CommandInfo, type ParsedOptions, UsageError } from '../args.ts';
import { checkRegisterMap, defaultMap } from '../field/maps.ts';
import { openPtyPair, type PtyPair } from '../field/pty.ts';
import { startModbusSlave, startNmeaEmitter } from '../field/slaves.ts';
import { PROFILE_NAMES, type ProfileName } from '../profiles/index.ts';

export const modbusCommand: CommandInfo = {
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
};

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

export async function modbusMain(o: ParsedOptions): Promise<number> {
  const profile = o.profile as ProfileName;
  let map = defaultMap(profile);
  if (o.map) {
    try {
      map = checkRegisterMap(parseYaml(await readFile(o.map as string, 'utf8')));
    } catch (err) {
      throw new UsageError(`--map ${o.map as string}: ${(err as Error).message}`);
    }
  }
  if (o['print-map']) {
    process.stdout.write(stringify(map));
    return 0;
  }
  let pty: PtyPair | undefined;
  let rtu: { path: string; baudRate: number } | undefined;
  if (o['rtu-pty']) {
    pty = await openPtyPair();
    rtu = { path: pty.sim, baudRate: o.baud as number };
  } else if (o.rtu) rtu = { path: o.rtu as string, baudRate: o.baud as number };
  let tcp: { host: string; port: number } | undefined;
  if (!rtu) {
    const m = /^(.+):(\d+)$/.exec(o.tcp as string);
    if (!m) throw new UsageError(`--tcp: "${o.tcp as string}" is not host:port`);
    tcp = { host: m[1]!, port: Number(m[2]) };
  }
  const slave = await startModbusSlave({
    profile,
    units: units(o.units as string[]),
    map,
    ...(tcp ? { tcp } : {}),
    ...(rtu ? { rtu } : {}),
    intervalMs: o.interval as number,
    ...(o.seed !== undefined ? { seed: o.seed as number } : {}),
  });
  const where = tcp
    ? `tcp://${tcp.host}:${slave.port}`
    : pty
      ? `rtu on ${pty.peer} (give this to the gateway)`
      : `rtu on ${rtu!.path}`;
  process.stdout.write(`modbus slave (${profile}, units ${(o.units as string[]).join(',')}): ${where}\n`);
  await untilSignal();
  await slave.close();
  await pty?.close();
  return 0;
}

export const serialCommand: CommandInfo = {
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
};

export async function serialMain(o: ParsedOptions): Promise<number> {
  const pty = o.device ? undefined : await openPtyPair();
  const path = (o.device as string | undefined) ?? pty!.sim;
  const gps = await startNmeaEmitter({
    path,
    baudRate: o.baud as number,
    rateHz: o.rate as number,
    profile: o.profile as 'vehicle' | 'logistics-tracker',
    ...(o.seed !== undefined ? { seed: o.seed as number } : {}),
  });
  process.stdout.write(
    `NMEA GPS (${o.profile as string}) on ${pty ? `${pty.peer} (give this to the gateway)` : path}\n`,
  );
  await untilSignal();
  await gps.close();
  await pty?.close();
  return 0;
}
