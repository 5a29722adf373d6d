// Checks the schema cannot express: names, bus-wide serial settings, points that do not fit their area or type.
// Every problem is reported at once with its config path, like the schema's own errors.
import { pointWidth } from './register-map.ts';
import type { AdaptersConfig } from './schema.ts';

export interface ConfigProblem {
  path: string;
  message: string;
}

export function checkAdaptersConfig(cfg: AdaptersConfig, root = 'adapters'): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const names = new Map<string, string>();
  const claim = (name: string, path: string) => {
    const prev = names.get(name);
    if (prev) out.push({ path: `${path}.name`, message: `device name "${name}" is already used by ${prev}` });
    else names.set(name, path);
  };
  const paths = new Map<string, string>();
  cfg.serial.forEach((s, i) => {
    const path = `${root}.serial[${i}]`;
    claim(s.name, path);
    const prev = paths.get(s.path);
    if (prev) out.push({ path: `${path}.path`, message: `serial port ${s.path} is already used by ${prev}` });
    else paths.set(s.path, path);
  });
  const lines = new Map<string, { path: string; line: string }>();
  cfg.modbus.forEach((d, i) => {
    const path = `${root}.modbus[${i}]`;
    claim(d.name, path);
    if (d.transport === 'rtu') {
      if (d.path === '') out.push({ path: `${path}.path`, message: 'an rtu device needs a serial path' });
      const serialUser = paths.get(d.path);
      if (serialUser)
        out.push({ path: `${path}.path`, message: `serial port ${d.path} is already used by ${serialUser}` });
      const line = `${d.baudRate}/${d.dataBits}${d.parity[0]}${d.stopBits}`;
      const prev = lines.get(d.path);
      if (prev && prev.line !== line)
        out.push({ path, message: `line settings ${line} differ from ${prev.line} of ${prev.path} on the same bus` });
      else if (!prev) lines.set(d.path, { path, line });
    }
    if (d.reconnectMaxMs < d.reconnectMinMs)
      out.push({ path: `${path}.reconnectMaxMs`, message: 'must not be below reconnectMinMs' });
    const points = new Set<string>();
    d.points.forEach((p, j) => {
      const pp = `${path}.points[${j}]`;
      if (points.has(p.name)) out.push({ path: `${pp}.name`, message: `point name "${p.name}" is used twice` });
      points.add(p.name);
      const bitArea = p.area === 'coil' || p.area === 'discrete';
      if (bitArea && p.type !== 'bool')
        out.push({ path: `${pp}.type`, message: `a ${p.area} is a bool, not ${p.type}` });
      if (p.address + pointWidth(p) > 65536)
        out.push({ path: `${pp}.address`, message: 'point runs past address 65535' });
      if (p.writable && (p.area === 'discrete' || p.area === 'input'))
        out.push({ path: `${pp}.writable`, message: `a ${p.area} area is read-only` });
      if (p.min !== undefined && p.max !== undefined && p.min > p.max)
        out.push({ path: `${pp}.min`, message: 'min is above max' });
      if (p.bit >= 0 && (bitArea || p.type !== 'bool'))
        out.push({ path: `${pp}.bit`, message: 'bit applies only to a bool in a register area' });
      if (p.scale === 0) out.push({ path: `${pp}.scale`, message: 'scale must not be 0' });
    });
  });
  return out;
}
