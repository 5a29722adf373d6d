// Write commands on `<point topic>/set`: validated against the point's type and range before anything goes on the
// wire, then answered on `<point topic>/set/reply` with success or the Modbus exception.
import { AdapterError, type AdapterErrorCode } from './errors.ts';
import type { ModbusClient } from './modbus-bus.ts';
import { encodeRegisters, fromEngineering, type Point } from './register-map.ts';

export type EngValue = boolean | number | string;

export interface WriteReply {
  ok: boolean;
  /** Stable error code; not part of the published reply's `ok: true` form. */
  code: AdapterErrorCode | 'OK';
  device: string;
  point: string;
  id?: unknown;
  value?: EngValue;
  error?: AdapterErrorCode;
  message?: string;
  exception?: number;
  ts: number;
}

export interface WriteTarget {
  cfg: { name: string };
  request<T>(fn: (c: ModbusClient) => Promise<T>): Promise<T>;
}

/** A command is a JSON value, or `{"value": …, "id": …}` where `id` is echoed in the reply. */
export function parseCommand(payload: Buffer): { value: unknown; id?: unknown } {
  const text = payload.toString('utf8').trim();
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { value: text };
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'value' in v) {
    const o = v as { value: unknown; id?: unknown };
    return o.id === undefined ? { value: o.value } : { value: o.value, id: o.id };
  }
  return { value: v };
}

export interface ValidWrite {
  value: EngValue;
  /** Coil state, or the registers to write. */
  coil?: boolean;
  registers?: number[];
}

/** Checks a commanded value against the point; throws AdapterError GW_ERR_WRITE_INVALID with the reason. */
export function validateWrite(p: Point, value: unknown): ValidWrite {
  const invalid = (why: string) => new AdapterError('GW_ERR_WRITE_INVALID', `${p.name}: ${why}`);
  if (!p.writable || p.area === 'discrete' || p.area === 'input') throw invalid('point is not writable');
  if (p.area === 'coil' || p.type === 'bool') {
    const b = value === true || value === 1 ? true : value === false || value === 0 ? false : undefined;
    if (b === undefined) throw invalid('expected true/false or 1/0');
    if (p.area === 'coil') return { value: b, coil: b };
    if (p.bit >= 0) throw invalid('a bit inside a register cannot be written on its own');
    return { value: b, registers: encodeRegisters(b, p) };
  }
  if (p.type === 'string') {
    if (typeof value !== 'string') throw invalid('expected a string');
    if (Buffer.byteLength(value, 'latin1') > p.length * 2) throw invalid(`longer than ${p.length * 2} characters`);
    return { value, registers: encodeRegisters(value, p) };
  }
  const isInt64String = p.type === 'int64' && typeof value === 'string' && /^-?[0-9]+$/.test(value);
  if (!(typeof value === 'number' && Number.isFinite(value)) && !isInt64String) throw invalid('expected a number');
  if (typeof value === 'number') {
    if (p.min !== undefined && value < p.min) throw invalid(`below the minimum ${p.min}`);
    if (p.max !== undefined && value > p.max) throw invalid(`above the maximum ${p.max}`);
  }
  try {
    return { value: value as EngValue, registers: encodeRegisters(fromEngineering(value as EngValue, p), p) };
  } catch (err) {
    throw invalid((err as Error).message);
  }
}

/** `p` is the point, or the name of a point the device does not have (refused like any invalid write). */
export async function handleWrite(dev: WriteTarget, p: Point | string, payload: Buffer): Promise<WriteReply> {
  const cmd = parseCommand(payload);
  const name = typeof p === 'string' ? p : p.name;
  const base = { device: dev.cfg.name, point: name, ...(cmd.id === undefined ? {} : { id: cmd.id }) };
  try {
    if (typeof p === 'string') throw new AdapterError('GW_ERR_WRITE_INVALID', `${p}: no such point`);
    const w = validateWrite(p, cmd.value);
    if (w.coil !== undefined) {
      const state = w.coil;
      await dev.request((c) => c.writeCoil(p.address, state));
    } else {
      const regs = w.registers ?? [];
      if (regs.length === 1) await dev.request((c) => c.writeRegister(p.address, regs[0] ?? 0));
      else await dev.request((c) => c.writeRegisters(p.address, regs));
    }
    return { ok: true, code: 'OK', ...base, value: w.value, ts: Date.now() };
  } catch (err) {
    const e = err instanceof AdapterError ? err : new AdapterError('GW_ERR_MODBUS_IO', String(err), { cause: err });
    return {
      ok: false,
      code: e.code,
      ...base,
      error: e.code,
      message: e.message,
      ...(e.exception === undefined ? {} : { exception: e.exception }),
      ts: Date.now(),
    };
  }
}
