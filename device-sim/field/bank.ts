// The memory of a simulated Modbus slave: coils, discrete inputs, input and holding registers per unit id, written
// from profile values through the gateway's register-map codec, and served through modbus-serial's service vector.
import type { IServiceVector } from 'modbus-serial';
import {
  decodePoint,
  encodePoint,
  type Point,
  pointWidth,
  type RegisterMap,
} from '../../gateway/adapters/register-map.ts';

interface UnitMemory {
  coil: Uint8Array;
  discrete: Uint8Array;
  input: Uint16Array;
  holding: Uint16Array;
}

/** Modbus exception 2 (illegal data address) for a unit the slave does not simulate [Modbus App Protocol 7]. */
function illegalAddress(): Error & { modbusErrorCode: number } {
  return Object.assign(new Error('illegal data address'), { modbusErrorCode: 0x02 });
}

export class RegisterBank {
  private readonly units = new Map<number, UnitMemory>();
  readonly map: RegisterMap;
  /** Called after a master wrote a point (e.g. so a door-lock profile follows a written coil). */
  onWrite: ((unit: number, point: Point, value: boolean | number | string) => void) | undefined;

  constructor(map: RegisterMap, unitIds: number[]) {
    this.map = map;
    for (const u of unitIds) {
      this.units.set(u, {
        coil: new Uint8Array(65536),
        discrete: new Uint8Array(65536),
        input: new Uint16Array(65536),
        holding: new Uint16Array(65536),
      });
    }
  }

  private mem(unit: number): UnitMemory {
    const m = this.units.get(unit);
    if (!m) throw illegalAddress();
    return m;
  }

  /** Stores an engineering value in the point's bit or registers; values that do not fit are clamped by the codec's RangeError. */
  set(unit: number, p: Point, value: boolean | number | string): void {
    const m = this.mem(unit);
    const enc = encodePoint(p, value);
    if ('bit' in enc) {
      (p.area === 'coil' ? m.coil : m.discrete)[p.address] = enc.bit ? 1 : 0;
      return;
    }
    const regs = p.area === 'input' ? m.input : m.holding;
    for (let i = 0; i < enc.registers.length; i++) regs[(p.address + i) & 0xffff] = enc.registers[i]!;
  }

  get(unit: number, p: Point): boolean | number | string {
    const m = this.mem(unit);
    if (p.area === 'coil' || p.area === 'discrete') return (p.area === 'coil' ? m.coil : m.discrete)[p.address] === 1;
    const regs = p.area === 'input' ? m.input : m.holding;
    return decodePoint(p, Array.from(regs.subarray(p.address, p.address + pointWidth(p))));
  }

  /** Writes values by point name; names the map does not have are ignored, values that do not fit are skipped. */
  setByName(unit: number, values: Record<string, unknown>): number {
    let n = 0;
    for (const p of this.map) {
      const v = values[p.name];
      if (typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'string') continue;
      try {
        this.set(unit, p, typeof v === 'number' ? quantize(p, v) : v);
        n++;
      } catch {
        // A simulated reading outside the point's range is left at its last value, as a saturated sensor would be.
      }
    }
    return n;
  }

  private written(unit: number, area: 'coil' | 'holding', address: number): void {
    if (!this.onWrite) return;
    for (const p of this.map) {
      if (p.area === area && address >= p.address && address < p.address + pointWidth(p)) {
        this.onWrite(unit, p, this.get(unit, p));
      }
    }
  }

  vector(): IServiceVector {
    return {
      getCoil: (addr: number, unit: number) => this.mem(unit).coil[addr] === 1,
      getDiscreteInput: (addr: number, unit: number) => this.mem(unit).discrete[addr] === 1,
      getInputRegister: (addr: number, unit: number) => this.mem(unit).input[addr]!,
      getHoldingRegister: (addr: number, unit: number) => this.mem(unit).holding[addr]!,
      getMultipleInputRegisters: (addr: number, len: number, unit: number) =>
        Array.from(this.mem(unit).input.subarray(addr, addr + len)),
      getMultipleHoldingRegisters: (addr: number, len: number, unit: number) =>
        Array.from(this.mem(unit).holding.subarray(addr, addr + len)),
      setCoil: (addr: number, value: boolean, unit: number) => {
        this.mem(unit).coil[addr] = value ? 1 : 0;
        this.written(unit, 'coil', addr);
      },
      setRegister: (addr: number, value: number, unit: number) => {
        this.mem(unit).holding[addr] = value;
        this.written(unit, 'holding', addr);
      },
    };
  }
}

/** A reading as an integer register can hold it: the nearest multiple of the point's scale (the codec is strict). */
export function quantize(p: Point, v: number): number {
  if (p.type === 'float32' || p.type === 'float64' || p.type === 'string' || p.type === 'bool') return v;
  // The codec tolerates 1e-9 relative error on the way back, which a product of two doubles stays well within.
  return Math.round((v - p.offset) / p.scale) * p.scale + p.offset;
}

/** Flattens a profile body into point names: {gps: {lat}} → lat, tires[0..3] → tire_fl…, booleans kept. */
export function flatten(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flatten(v as Record<string, unknown>));
    else if (k === 'tires' && Array.isArray(v)) {
      ['tire_fl', 'tire_fr', 'tire_rl', 'tire_rr'].forEach((name, i) => {
        out[name] = v[i];
      });
    } else out[k] = v;
  }
  return out;
}
