// The register-map format shared by the gateway's Modbus poller and the simulator's Modbus slave: one point schema and
// one codec, so a value written by the slave reads back identically through the gateway (issue 3).
import { type Static, Type } from '@sinclair/typebox';

export const AREAS = ['coil', 'discrete', 'input', 'holding'] as const;
export const POINT_TYPES = [
  'bool',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'float32',
  'float64',
  'string',
] as const;
export const ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;

export type Area = (typeof AREAS)[number];
export type PointType = (typeof POINT_TYPES)[number];
/** Byte order of a value across its registers, named after a 32-bit value A B C D (A = most significant byte). */
export type WordOrder = (typeof ORDERS)[number];

export const PointSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[^/#+]+$', description: 'Point name; the last topic level.' }),
    area: Type.Union(
      AREAS.map((a) => Type.Literal(a)),
      {
        default: 'holding',
        description: 'Modbus data area: coil (0x), discrete input (1x), input register (3x), holding register (4x).',
      },
    ),
    address: Type.Integer({ minimum: 0, maximum: 65535, description: 'Zero-based protocol address.' }),
    type: Type.Union(
      POINT_TYPES.map((t) => Type.Literal(t)),
      { default: 'uint16', description: 'Value type. Coils and discrete inputs are always bool.' },
    ),
    order: Type.Union(
      ORDERS.map((o) => Type.Literal(o)),
      {
        default: 'ABCD',
        description:
          'Word/byte order: ABCD big-endian, CDAB word-swapped, BADC byte-swapped, DCBA little-endian. ' +
          'Strings honour only the byte swap.',
      },
    ),
    length: Type.Integer({
      minimum: 1,
      maximum: 125,
      default: 1,
      description: 'Registers occupied by a string (2 characters each); ignored by other types.',
    }),
    bit: Type.Integer({
      minimum: -1,
      maximum: 15,
      default: -1,
      description: 'For a bool in a register area: the bit to read (0 = least significant); -1 means "register != 0".',
    }),
    scale: Type.Number({ default: 1, description: 'Engineering value = raw * scale + offset.' }),
    offset: Type.Number({ default: 0, description: 'Engineering value = raw * scale + offset.' }),
    unit: Type.String({ default: '', description: 'Engineering unit carried in the published value, e.g. "V".' }),
    deadband: Type.Number({
      minimum: 0,
      default: 0,
      description: 'With publishOnChange: a numeric change smaller than this is not published.',
    }),
    publishOnChange: Type.Boolean({
      default: true,
      description: 'Publish only when the value changed (beyond the deadband); false publishes every poll.',
    }),
    writable: Type.Boolean({
      default: false,
      description: 'Accept writes on "<point topic>/set" (coils and holding registers only).',
    }),
    min: Type.Optional(Type.Number({ description: 'Lowest engineering value a write may set.' })),
    max: Type.Optional(Type.Number({ description: 'Highest engineering value a write may set.' })),
  },
  { additionalProperties: false },
);
export type Point = Static<typeof PointSchema>;

export type RawValue = boolean | number | bigint | string;

/** Registers (or coils) a point occupies. */
export function pointWidth(p: Pick<Point, 'area' | 'type' | 'length'>): number {
  if (p.area === 'coil' || p.area === 'discrete') return 1;
  return typeWidth(p.type, p.length);
}

export function typeWidth(type: PointType, length = 1): number {
  switch (type) {
    case 'bool':
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'int64':
    case 'float64':
      return 4;
    case 'string':
      return length;
  }
}

/** Puts big-endian bytes (A first) into the register order `order`. Symmetric, so it also undoes itself. */
function reorder(bytes: Buffer, order: WordOrder): Buffer {
  const words = bytes.length / 2;
  const out = Buffer.alloc(bytes.length);
  const swapWords = order === 'CDAB' || order === 'DCBA';
  const swapBytes = order === 'BADC' || order === 'DCBA';
  for (let w = 0; w < words; w++) {
    const src = swapWords ? words - 1 - w : w;
    const hi = bytes[src * 2] ?? 0;
    const lo = bytes[src * 2 + 1] ?? 0;
    out[w * 2] = swapBytes ? lo : hi;
    out[w * 2 + 1] = swapBytes ? hi : lo;
  }
  return out;
}

function registersToBuffer(regs: readonly number[]): Buffer {
  const buf = Buffer.alloc(regs.length * 2);
  regs.forEach((r, i) => {
    buf.writeUInt16BE(r & 0xffff, i * 2);
  });
  return buf;
}

function bufferToRegisters(buf: Buffer): number[] {
  const regs: number[] = [];
  for (let i = 0; i < buf.length; i += 2) regs.push(buf.readUInt16BE(i));
  return regs;
}

/** Decodes a register-area point from exactly `typeWidth` registers. int64 decodes to a bigint. */
export function decodeRegisters(
  regs: readonly number[],
  p: Pick<Point, 'type' | 'order' | 'length' | 'bit'>,
): RawValue {
  const width = typeWidth(p.type, p.length);
  if (regs.length < width) throw new RangeError(`${p.type} needs ${width} registers, got ${regs.length}`);
  const raw = registersToBuffer(regs.slice(0, width));
  if (p.type === 'string') {
    const swapBytes = p.order === 'BADC' || p.order === 'DCBA';
    const bytes = swapBytes ? reorder(raw, 'BADC') : raw;
    const end = bytes.indexOf(0);
    return bytes.subarray(0, end === -1 ? bytes.length : end).toString('latin1');
  }
  const b =
    width === 1 ? reorder(raw, p.order === 'BADC' || p.order === 'DCBA' ? 'BADC' : 'ABCD') : reorder(raw, p.order);
  switch (p.type) {
    case 'bool': {
      const v = b.readUInt16BE(0);
      return p.bit >= 0 ? ((v >> p.bit) & 1) === 1 : v !== 0;
    }
    case 'int16':
      return b.readInt16BE(0);
    case 'uint16':
      return b.readUInt16BE(0);
    case 'int32':
      return b.readInt32BE(0);
    case 'uint32':
      return b.readUInt32BE(0);
    case 'float32':
      return b.readFloatBE(0);
    case 'int64':
      return b.readBigInt64BE(0);
    case 'float64':
      return b.readDoubleBE(0);
  }
}

/** Encodes a raw value of a register-area point into its registers. Throws RangeError when it does not fit. */
export function encodeRegisters(value: RawValue, p: Pick<Point, 'type' | 'order' | 'length'>): number[] {
  const width = typeWidth(p.type, p.length);
  const b = Buffer.alloc(width * 2);
  if (p.type === 'string') {
    const s = String(value);
    const bytes = Buffer.from(s, 'latin1');
    if (bytes.length > b.length) throw new RangeError(`string longer than ${b.length} characters`);
    bytes.copy(b);
    const swapBytes = p.order === 'BADC' || p.order === 'DCBA';
    return bufferToRegisters(swapBytes ? reorder(b, 'BADC') : b);
  }
  const n = typeof value === 'boolean' ? (value ? 1 : 0) : value;
  const int = (lo: number, hi: number): number => {
    const v = Number(n);
    if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${String(value)} is not a ${p.type}`);
    return v;
  };
  switch (p.type) {
    case 'bool':
      b.writeUInt16BE(n ? 1 : 0, 0);
      break;
    case 'int16':
      b.writeInt16BE(int(-0x8000, 0x7fff), 0);
      break;
    case 'uint16':
      b.writeUInt16BE(int(0, 0xffff), 0);
      break;
    case 'int32':
      b.writeInt32BE(int(-0x80000000, 0x7fffffff), 0);
      break;
    case 'uint32':
      b.writeUInt32BE(int(0, 0xffffffff), 0);
      break;
    case 'float32': {
      const v = Number(n);
      if (!Number.isFinite(v) || Math.abs(v) > 3.4028234663852886e38) throw new RangeError(`${v} is not a float32`);
      b.writeFloatBE(v, 0);
      break;
    }
    case 'float64': {
      const v = Number(n);
      if (Number.isNaN(v)) throw new RangeError('NaN is not a float64');
      b.writeDoubleBE(v, 0);
      break;
    }
    case 'int64': {
      let v: bigint;
      if (typeof n === 'bigint') v = n;
      else if (typeof n === 'number' && Number.isSafeInteger(n)) v = BigInt(n);
      else if (typeof n === 'string' && /^-?[0-9]+$/.test(n)) v = BigInt(n);
      else throw new RangeError(`${String(value)} is not an int64`);
      if (v < -(2n ** 63n) || v > 2n ** 63n - 1n) throw new RangeError(`${v} is not an int64`);
      b.writeBigInt64BE(v, 0);
      break;
    }
  }
  const ordered =
    width === 1 ? reorder(b, p.order === 'BADC' || p.order === 'DCBA' ? 'BADC' : 'ABCD') : reorder(b, p.order);
  return bufferToRegisters(ordered);
}

/** Engineering value of a decoded raw value: raw * scale + offset; 64-bit integers beyond 2^53 stay exact strings. */
export function toEngineering(raw: RawValue, p: Pick<Point, 'scale' | 'offset'>): boolean | number | string {
  if (typeof raw === 'boolean' || typeof raw === 'string') return raw;
  const identity = p.scale === 1 && p.offset === 0;
  // 15 significant digits drop the binary noise of scaling (101 * 0.1 = 10.100000000000001 → 10.1).
  const clean = (v: number) => Number.parseFloat(v.toPrecision(15));
  if (typeof raw === 'bigint') {
    if (identity)
      return raw >= BigInt(Number.MIN_SAFE_INTEGER) && raw <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(raw)
        : raw.toString();
    return clean(Number(raw) * p.scale + p.offset);
  }
  return identity ? raw : clean(raw * p.scale + p.offset);
}

/** Raw value for an engineering value (the inverse of `toEngineering`); integer types round to the nearest step. */
export function fromEngineering(
  value: boolean | number | string,
  p: Pick<Point, 'type' | 'scale' | 'offset'>,
): RawValue {
  if (p.type === 'string' || p.type === 'bool') return value;
  if (p.type === 'int64' && typeof value === 'string' && p.scale === 1 && p.offset === 0) return value;
  if (typeof value !== 'number') throw new RangeError(`${p.type} needs a number`);
  const raw = p.scale === 1 && p.offset === 0 ? value : (value - p.offset) / p.scale;
  if (p.type === 'float32' || p.type === 'float64') return raw;
  const rounded = Math.round(raw);
  // A value between two raw steps is a request the device cannot honour exactly: refuse instead of guessing.
  if (Math.abs(rounded - raw) > 1e-9 * Math.max(1, Math.abs(raw)))
    throw new RangeError(`${value} is not a multiple of the scale ${p.scale}`);
  return p.type === 'int64' ? BigInt(rounded) : rounded;
}

/** A device's register map: the `points` of a Modbus device in the gateway config, and of a simulated slave. */
export const RegisterMapSchema = Type.Array(PointSchema, { description: 'Points of one Modbus device.' });
export type RegisterMap = Static<typeof RegisterMapSchema>;

/**
 * What a slave stores for a point holding `value` (an engineering value): a coil/discrete state, or the registers.
 * Throws RangeError when the value does not fit the point.
 */
export function encodePoint(p: Point, value: boolean | number | string): { bit: boolean } | { registers: number[] } {
  if (p.area === 'coil' || p.area === 'discrete') {
    if (typeof value !== 'boolean' && value !== 0 && value !== 1) throw new RangeError(`${p.name} needs a bool`);
    return { bit: value === true || value === 1 };
  }
  return { registers: encodeRegisters(fromEngineering(value, p), p) };
}

/** The engineering value of a point from its bit or its registers (exactly `pointWidth(p)` of them). */
export function decodePoint(p: Point, data: boolean | readonly number[]): boolean | number | string {
  if (typeof data === 'boolean') return data;
  return toEngineering(decodeRegisters(data, p), p);
}
