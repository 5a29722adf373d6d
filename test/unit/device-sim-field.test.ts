import { describe, expect, it } from 'vitest';
import { flatten, quantize, RegisterBank } from '../../device-sim/field/bank.ts';
import { checkRegisterMap, defaultMap } from '../../device-sim/field/maps.ts';
import { gga, nmeaChecksum, rmc, vtg } from '../../device-sim/field/nmea.ts';
import { PROFILE_NAMES } from '../../device-sim/profiles/index.ts';
import { Rng } from '../../device-sim/profiles/types.ts';
import { parseNmea } from '../../gateway/adapters/nmea.ts';
import { decodePoint, pointWidth } from '../../gateway/adapters/register-map.ts';

describe('register bank', () => {
  it('every default map is valid in the gateway schema and round-trips profile-like values', () => {
    for (const name of PROFILE_NAMES) {
      const map = defaultMap(name);
      const bank = new RegisterBank(map, [1, 7]);
      const rng = new Rng(2);
      for (let i = 0; i < 200; i++) {
        const values: Record<string, number | boolean> = {};
        for (const p of map) values[p.name] = p.type === 'bool' ? rng.chance(0.5) : rng.between(0, 60);
        expect(bank.setByName(7, values), name).toBe(map.length);
        for (const p of map) {
          const got = bank.get(7, p);
          const want = values[p.name]!;
          if (typeof want === 'boolean') expect(got).toBe(want);
          else if (p.type === 'float32') expect(got as number).toBeCloseTo(want, 4);
          else expect(Math.abs((got as number) - want)).toBeLessThanOrEqual(p.scale / 2 + 1e-9);
        }
      }
    }
  });

  it('serves registers through the service vector and tells the profile about writes', () => {
    const map = defaultMap('door-lock');
    const bank = new RegisterBank(map, [1]);
    const writes: [string, unknown][] = [];
    bank.onWrite = (_u, p, v) => writes.push([p.name, v]);
    bank.setByName(1, { locked: true, door_open: false, battery: 87.3 });
    const v = bank.vector() as Required<ReturnType<RegisterBank['vector']>>;
    expect(v.getCoil(0, 1, undefined as never)).toBe(true);
    const battery = map.find((p) => p.name === 'battery')!;
    const regs = v.getMultipleInputRegisters(battery.address, pointWidth(battery), 1, undefined as never) as number[];
    expect(decodePoint(battery, regs)).toBeCloseTo(87.3, 5);
    v.setCoil(0, false, 1, undefined as never);
    expect(writes).toEqual([['locked', false]]);
    // An unknown unit is Modbus exception 2, illegal data address.
    expect(() => v.getCoil(0, 9, undefined as never)).toThrow(expect.objectContaining({ modbusErrorCode: 2 }));
  });

  it('quantizes readings to the point scale and flattens profile bodies', () => {
    const p = checkRegisterMap([{ name: 'x', address: 0, type: 'int16', scale: 0.1, offset: -40 }])[0]!;
    expect(quantize(p, 12.3456)).toBeCloseTo(12.3, 9);
    expect(flatten({ gps: { lat: 1, lon: 2 }, tires: [1, 2, 3, 4], speed: 5 })).toEqual({
      lat: 1,
      lon: 2,
      tire_fl: 1,
      tire_fr: 2,
      tire_rl: 3,
      tire_rr: 4,
      speed: 5,
    });
  });

  it('rejects a bad register map with every problem', () => {
    expect(() => checkRegisterMap([{ name: 'a', address: -1 }, { address: 2 }])).toThrow(
      /register map: .*address.*name/s,
    );
  });
});

describe('NMEA sentences', () => {
  const sample = {
    lat: -33.8568,
    lon: 151.2153,
    speed: 54.3,
    heading: 271.5,
    time: new Date(Date.UTC(2026, 10, 21, 9, 5, 7, 250)),
    satellites: 8,
  };

  it('the gateway parser reads what the simulator writes', () => {
    const fix = parseNmea(gga(sample));
    expect(fix).toMatchObject({ sentence: 'GGA', talker: 'GP', time: '090507.25', satellites: 8, fixQuality: 1 });
    expect(fix?.lat).toBeCloseTo(-33.8568, 4);
    expect(fix?.lon).toBeCloseTo(151.2153, 4);
    const r = parseNmea(rmc(sample));
    expect(r).toMatchObject({ sentence: 'RMC', valid: true, date: '211126' });
    expect(r?.heading).toBeCloseTo(271.5, 1);
    expect(r?.speedKnots).toBeCloseTo(54.3 / 1.852, 2);
    expect(parseNmea(vtg(sample))?.speedKmh).toBeCloseTo(54.3, 2);
  });

  it('checksums are the XOR of the body, and minutes never round up to 60', () => {
    expect(nmeaChecksum('GPGLL,4916.45,N,12311.12,W,225444,A')).toBe('31');
    const edge = gga({ ...sample, lat: 10.999999999, lon: -0.0000001 });
    expect(edge).toContain(',1100.0000,N,');
    expect(edge).toContain(',00000.0000,W,');
    expect(parseNmea(edge)?.lat).toBeCloseTo(11, 6);
  });
});
