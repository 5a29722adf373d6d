import { Value } from '@sinclair/typebox/value';
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Adapters, checkAdaptersConfig } from '../../gateway/adapters/index.ts';
import { parseCommand, validateWrite } from '../../gateway/adapters/modbus-write.ts';
import { AdaptersSchema } from '../../gateway/adapters/schema.ts';
import { adaptersConfig } from '../fixtures/modbus-harness.ts';
import { openIngest } from '../harness/ingest.ts';

describe('adapters config schema', () => {
  it('gives a complete config from nothing', () => {
    expect(adaptersConfig(undefined)).toEqual({ serial: [], modbus: [] });
  });

  it('fills every point default', () => {
    const cfg = adaptersConfig({ modbus: [{ name: 'm', points: [{ name: 'p', address: 3 }] }] });
    expect(cfg.modbus[0]).toMatchObject({ transport: 'tcp', port: 502, unitId: 1, pollIntervalMs: 1000, retries: 2 });
    expect(cfg.modbus[0]?.points[0]).toEqual({
      name: 'p',
      area: 'holding',
      address: 3,
      type: 'uint16',
      order: 'ABCD',
      length: 1,
      bit: -1,
      scale: 1,
      offset: 0,
      unit: '',
      deadband: 0,
      publishOnChange: true,
      writable: false,
    });
  });

  it('reports every error with its path, including unknown keys', () => {
    const raw = {
      modbus: [
        {
          name: 'm',
          points: [
            { name: 'a', address: 0 },
            { name: 'b', address: 1 },
            { name: 'c', address: 2, type: 'float16' },
          ],
        },
      ],
      serial: [{ name: 's', path: '/dev/ttyUSB0', framing: 'nmea', bogus: 1 }],
    };
    const cfg = Value.Default(AdaptersSchema, structuredClone(raw));
    const paths = [...Value.Errors(AdaptersSchema, cfg)].map((e) => e.path);
    expect(paths).toContain('/modbus/0/points/2/type');
    expect(paths).toContain('/serial/0/bogus');
  });

  it('has a description on every field', () => {
    const missing: string[] = [];
    const walk = (s: Record<string, unknown>, path: string) => {
      const props = s.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [k, v] of Object.entries(props ?? {})) {
        if (typeof v.description !== 'string') missing.push(`${path}.${k}`);
        walk(v, `${path}.${k}`);
        if (v.items) walk(v.items as Record<string, unknown>, `${path}.${k}[]`);
      }
    };
    walk(AdaptersSchema as unknown as Record<string, unknown>, 'adapters');
    expect(missing.filter((p) => !p.endsWith('.fields'))).toEqual([]);
  });
});

describe('adapters semantic checks', () => {
  it('reports what the schema cannot, each with its path', () => {
    const cfg = adaptersConfig({
      serial: [{ name: 'gps', path: '/dev/ttyS1' }],
      modbus: [
        { name: 'gps', transport: 'rtu', path: '/dev/ttyS1' },
        { name: 'a', transport: 'rtu', path: '/dev/ttyS2', baudRate: 9600 },
        {
          name: 'b',
          transport: 'rtu',
          path: '/dev/ttyS2',
          baudRate: 19200,
          points: [
            { name: 'x', area: 'coil', address: 0, type: 'uint16' },
            { name: 'x', area: 'input', address: 65535, type: 'uint32', writable: true },
            { name: 'y', address: 1, min: 5, max: 1, scale: 0 },
          ],
        },
        { name: 'c', transport: 'rtu' },
      ],
    });
    const problems = checkAdaptersConfig(cfg).map((p) => p.path);
    expect(problems).toEqual([
      'adapters.modbus[0].name',
      'adapters.modbus[0].path',
      'adapters.modbus[2]',
      'adapters.modbus[2].points[0].type',
      'adapters.modbus[2].points[1].name',
      'adapters.modbus[2].points[1].address',
      'adapters.modbus[2].points[1].writable',
      'adapters.modbus[2].points[2].min',
      'adapters.modbus[2].points[2].scale',
      'adapters.modbus[3].path',
    ]);
  });

  it('refuses to construct with a bad config, without touching any port', async () => {
    const config = adaptersConfig({ modbus: [{ name: 'c', transport: 'rtu' }] });
    const h = await openIngest();
    try {
      const make = () =>
        new Adapters({ config, bus: h.ingest, log: pino({ level: 'silent' }), metrics: new Registry() });
      expect(make).toThrow(expect.objectContaining({ code: 'GW_ERR_CONFIG' }));
    } finally {
      await h.close();
    }
  });
});

describe('write command validation', () => {
  const pts = adaptersConfig({
    modbus: [
      {
        name: 'm',
        points: [
          { name: 'sp', address: 0, type: 'int16', scale: 0.1, min: -20, max: 80, writable: true },
          { name: 'ro', address: 1 },
          { name: 'k', area: 'coil', address: 0, type: 'bool', writable: true },
          { name: 'label', address: 2, type: 'string', length: 2, writable: true },
          { name: 'big', address: 4, type: 'int64', writable: true },
          { name: 'f', address: 8, type: 'float32', order: 'CDAB', writable: true },
        ],
      },
    ],
  }).modbus[0]?.points;
  const point = (name: string) => {
    const p = pts?.find((x) => x.name === name);
    if (!p) throw new Error(name);
    return p;
  };

  it('encodes valid values to registers or a coil state', () => {
    expect(validateWrite(point('sp'), 21.5)).toEqual({ value: 21.5, registers: [215] });
    expect(validateWrite(point('sp'), -2)).toEqual({ value: -2, registers: [0xffec] });
    expect(validateWrite(point('k'), 1)).toEqual({ value: true, coil: true });
    expect(validateWrite(point('label'), 'OK')).toEqual({ value: 'OK', registers: [0x4f4b, 0] });
    expect(validateWrite(point('big'), '-9000000000000000000').registers).toHaveLength(4);
    expect(validateWrite(point('f'), 230.5).registers).toEqual([0x8000, 0x4366]);
  });

  it('rejects values outside the type, the range or the scale step', () => {
    const bad = (name: string, v: unknown) => () => validateWrite(point(name), v);
    const invalid = expect.objectContaining({ code: 'GW_ERR_WRITE_INVALID' });
    expect(bad('sp', 81)).toThrow(invalid);
    expect(bad('sp', 21.55)).toThrow(invalid);
    expect(bad('sp', '21')).toThrow(invalid);
    expect(bad('ro', 1)).toThrow(invalid);
    expect(bad('k', 'on')).toThrow(invalid);
    expect(bad('label', 'TOOLONG')).toThrow(invalid);
    expect(bad('big', 1.5)).toThrow(invalid);
    expect(bad('f', Number.NaN)).toThrow(invalid);
  });

  it('parses bare values and {value, id} commands', () => {
    expect(parseCommand(Buffer.from('21.5'))).toEqual({ value: 21.5 });
    expect(parseCommand(Buffer.from('{"value":true,"id":"c-1"}'))).toEqual({ value: true, id: 'c-1' });
    expect(parseCommand(Buffer.from('hello'))).toEqual({ value: 'hello' });
  });
});
