// Checks the schema cannot express: names, bus-wide serial settings, points that do not fit their area or type.
// Every problem is reported at once with its config path, like the schema's own errors. The section may still hold
// values the schema rejected (the config loader reports those next to these): each check looks only at keys whose
// values have the right type, so a type error in one place does not hide a rule error in another.
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { PointSchema, pointWidth } from './register-map.ts';
import { ModbusDeviceSchema } from './schema.ts';

export interface ConfigProblem {
  path: string;
  message: string;
}

type Entry = Record<string, unknown>;
const entries = (v: unknown): Entry[] =>
  Array.isArray(v) ? v.map((e) => (typeof e === 'object' && e !== null && !Array.isArray(e) ? (e as Entry) : {})) : [];
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const fits = (schema: TSchema | undefined, v: unknown): boolean => schema !== undefined && Value.Check(schema, v);
const LINE = ['baudRate', 'dataBits', 'parity', 'stopBits'] as const;

export function checkAdaptersConfig(cfg: unknown, root = 'adapters'): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const section = typeof cfg === 'object' && cfg !== null ? (cfg as Entry) : {};
  const names = new Map<string, string>();
  const claim = (name: string | undefined, path: string) => {
    if (name === undefined) return;
    const prev = names.get(name);
    if (prev) out.push({ path: `${path}.name`, message: `device name "${name}" is already used by ${prev}` });
    else names.set(name, path);
  };
  const paths = new Map<string, string>();
  entries(section.serial).forEach((s, i) => {
    const path = `${root}.serial[${i}]`;
    claim(str(s.name), path);
    const port = str(s.path);
    if (port === undefined) return;
    const prev = paths.get(port);
    if (prev) out.push({ path: `${path}.path`, message: `serial port ${port} is already used by ${prev}` });
    else paths.set(port, path);
  });
  const lines = new Map<string, { path: string; line: string }>();
  entries(section.modbus).forEach((d, i) => {
    const path = `${root}.modbus[${i}]`;
    claim(str(d.name), path);
    const port = str(d.path);
    if (d.transport === 'rtu' && port !== undefined) {
      if (port === '') out.push({ path: `${path}.path`, message: 'an rtu device needs a serial path' });
      const serialUser = paths.get(port);
      if (serialUser)
        out.push({ path: `${path}.path`, message: `serial port ${port} is already used by ${serialUser}` });
      if (LINE.every((k) => fits(ModbusDeviceSchema.properties[k], d[k]))) {
        const line = `${d.baudRate}/${d.dataBits}${String(d.parity)[0]}${d.stopBits}`;
        const prev = lines.get(port);
        if (prev && prev.line !== line)
          out.push({ path, message: `line settings ${line} differ from ${prev.line} of ${prev.path} on the same bus` });
        else if (!prev) lines.set(port, { path, line });
      }
    }
    const min = num(d.reconnectMinMs);
    const max = num(d.reconnectMaxMs);
    if (min !== undefined && max !== undefined && max < min)
      out.push({ path: `${path}.reconnectMaxMs`, message: 'must not be below reconnectMinMs' });
    const points = new Set<string>();
    entries(d.points).forEach((p, j) => {
      checkPoint(p, `${path}.points[${j}]`, points, out);
    });
  });
  return out;
}

function checkPoint(p: Entry, pp: string, points: Set<string>, out: ConfigProblem[]): void {
  const name = str(p.name);
  if (name !== undefined) {
    if (points.has(name)) out.push({ path: `${pp}.name`, message: `point name "${name}" is used twice` });
    points.add(name);
  }
  const min = num(p.min);
  const max = num(p.max);
  if (min !== undefined && max !== undefined && min > max) out.push({ path: `${pp}.min`, message: 'min is above max' });
  if (p.scale === 0) out.push({ path: `${pp}.scale`, message: 'scale must not be 0' });
  // The rest needs the point's area, type and width: only for a point the schema accepts.
  if (!Value.Check(PointSchema, p)) return;
  const bitArea = p.area === 'coil' || p.area === 'discrete';
  if (bitArea && p.type !== 'bool') out.push({ path: `${pp}.type`, message: `a ${p.area} is a bool, not ${p.type}` });
  if (p.address + pointWidth(p) > 65536) out.push({ path: `${pp}.address`, message: 'point runs past address 65535' });
  if (p.writable && (p.area === 'discrete' || p.area === 'input'))
    out.push({ path: `${pp}.writable`, message: `a ${p.area} area is read-only` });
  if (p.bit >= 0 && (bitArea || p.type !== 'bool'))
    out.push({ path: `${pp}.bit`, message: 'bit applies only to a bool in a register area' });
}
