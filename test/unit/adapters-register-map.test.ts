import { describe, expect, it } from 'vitest';
import {
  decodePoint,
  decodeRegisters,
  encodePoint,
  encodeRegisters,
  fromEngineering,
  ORDERS,
  type Point,
  type PointType,
  toEngineering,
} from '../../gateway/adapters/register-map.ts';
import { adaptersConfig } from '../fixtures/modbus-harness.ts';

const p = (type: PointType, order: Point['order'] = 'ABCD', length = 1) => ({ type, order, length, bit: -1 });

describe('register-map codec', () => {
  it('encodes float32 230.5 in each word/byte order', () => {
    // 230.5 = 0x43668000: A=43 B=66 C=80 D=00
    expect(encodeRegisters(230.5, p('float32', 'ABCD'))).toEqual([0x4366, 0x8000]);
    expect(encodeRegisters(230.5, p('float32', 'CDAB'))).toEqual([0x8000, 0x4366]);
    expect(encodeRegisters(230.5, p('float32', 'BADC'))).toEqual([0x6643, 0x0080]);
    expect(encodeRegisters(230.5, p('float32', 'DCBA'))).toEqual([0x0080, 0x6643]);
  });

  it('reads uint32 word-swapped the way Modicon-style devices send it', () => {
    expect(decodeRegisters([0x1170, 0x0001], p('uint32', 'CDAB'))).toBe(70000);
    expect(decodeRegisters([0x0001, 0x1170], p('uint32', 'ABCD'))).toBe(70000);
  });

  it('swaps bytes of 16-bit values only for BADC/DCBA', () => {
    expect(decodeRegisters([0x0102], p('uint16', 'ABCD'))).toBe(0x0102);
    expect(decodeRegisters([0x0102], p('uint16', 'CDAB'))).toBe(0x0102);
    expect(decodeRegisters([0x0102], p('uint16', 'BADC'))).toBe(0x0201);
    expect(decodeRegisters([0xff85], p('int16'))).toBe(-123);
  });

  const samples: [PointType, number | bigint | string | boolean][] = [
    ['bool', true],
    ['int16', -32768],
    ['uint16', 65535],
    ['int32', -2147483648],
    ['uint32', 4294967295],
    ['int64', -9000000000000000000n],
    ['float32', -1.5],
    ['float64', Math.PI],
  ];
  for (const order of ORDERS) {
    for (const [type, v] of samples) {
      it(`round-trips ${type} ${String(v)} in ${order}`, () => {
        expect(decodeRegisters(encodeRegisters(v, p(type, order)), p(type, order))).toEqual(v);
      });
    }
    it(`round-trips a string in ${order}`, () => {
      const sp = p('string', order, 4);
      expect(encodeRegisters('PYMB', sp)).toHaveLength(4);
      expect(decodeRegisters(encodeRegisters('PYMB', sp), sp)).toBe('PYMB');
    });
  }

  it('decodes a string byte-swapped and stops at NUL', () => {
    expect(decodeRegisters([0x5950, 0x424d, 0], p('string', 'BADC', 3))).toBe('PYMB');
    expect(decodeRegisters([0x5059, 0x4d42, 0], p('string', 'ABCD', 3))).toBe('PYMB');
  });

  it('reads one bit of a register', () => {
    expect(decodeRegisters([0b100], { ...p('bool'), bit: 2 })).toBe(true);
    expect(decodeRegisters([0b100], { ...p('bool'), bit: 1 })).toBe(false);
  });

  it('refuses values that do not fit the type', () => {
    expect(() => encodeRegisters(65536, p('uint16'))).toThrow(RangeError);
    expect(() => encodeRegisters(-1, p('uint32'))).toThrow(RangeError);
    expect(() => encodeRegisters(1.5, p('int16'))).toThrow(RangeError);
    expect(() => encodeRegisters(1e39, p('float32'))).toThrow(RangeError);
    expect(() => encodeRegisters('TOOLONG', p('string', 'ABCD', 2))).toThrow(RangeError);
    expect(() => encodeRegisters(2n ** 63n, p('int64'))).toThrow(RangeError);
  });

  it('applies scale and offset both ways', () => {
    const sp = { type: 'int16' as const, scale: 0.1, offset: -40 };
    expect(toEngineering(650, sp)).toBe(25);
    expect(fromEngineering(25, sp)).toBe(650);
    expect(() => fromEngineering(25.05, sp)).toThrow(/multiple of the scale/);
    expect(toEngineering(101, { scale: 0.1, offset: 0 })).toBe(10.1);
    expect(toEngineering(6, { scale: 0.1, offset: 0 })).toBe(0.6);
  });

  it('keeps 64-bit integers beyond 2^53 exact as strings', () => {
    expect(toEngineering(2n ** 60n, { scale: 1, offset: 0 })).toBe('1152921504606846976');
    expect(toEngineering(-42n, { scale: 1, offset: 0 })).toBe(-42);
  });
});

describe('point codec shared with the simulator', () => {
  it('encodes what a slave stores and decodes what the gateway reads, scale included', () => {
    const pts =
      adaptersConfig({
        modbus: [
          {
            name: 'sim',
            points: [
              { name: 't', address: 0, type: 'int16', scale: 0.1, offset: -40 },
              { name: 'e', address: 1, type: 'uint32', order: 'CDAB', scale: 0.01 },
              { name: 'k', area: 'coil', address: 0, type: 'bool' },
              { name: 's', address: 3, type: 'string', length: 3, order: 'BADC' },
            ],
          },
        ],
      }).modbus[0]?.points ?? [];
    const samples: Record<string, boolean | number | string> = { t: 21.7, e: 1234.56, k: true, s: 'ABCDE' };
    for (const p of pts) {
      const enc = encodePoint(p, samples[p.name] ?? 0);
      const back = decodePoint(p, 'bit' in enc ? enc.bit : enc.registers);
      expect(back).toEqual(samples[p.name]);
    }
    expect(() => encodePoint(pts[0] ?? ({} as never), 10_000)).toThrow(RangeError);
  });
});
