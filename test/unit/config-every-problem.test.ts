// Every config problem at once: a type error does not hide a rule error (`scale: 0`) found by the adapters' checks.
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../app/config/load.ts';

function problems(raw: unknown): string[] {
  try {
    resolveConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('config problems', () => {
  it('reports a type error and a rule error of the adapters together', () => {
    const found = problems({
      adapters: {
        modbus: [
          { name: 'meter', port: 'five', points: [{ name: 'v', address: 0, scale: 0 }] },
          {
            name: 'pump',
            points: [
              { name: 'p', address: 'ten' },
              { name: 'q', address: 1, scale: 0 },
            ],
          },
        ],
      },
    });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^adapters\.modbus\[0\]\.port: must be an integer/),
        'adapters.modbus[0].points[0].scale: scale must not be 0',
        expect.stringMatching(/^adapters\.modbus\[1\]\.points\[0\]\.address: must be an integer/),
        'adapters.modbus[1].points[1].scale: scale must not be 0',
      ]),
    );
  });

  it('reports a duplicate device name next to a type error elsewhere in the section', () => {
    const found = problems({
      adapters: {
        serial: [{ name: 'gps', path: '/dev/ttyS0', baudRate: 'fast' }],
        modbus: [{ name: 'gps' }],
      },
    });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^adapters\.serial\[0\]\.baudRate: must be an integer/),
        'adapters.modbus[0].name: device name "gps" is already used by adapters.serial[0]',
      ]),
    );
  });

  it('survives a section of the wrong shape', () => {
    expect(problems({ adapters: { modbus: 'none', serial: [7] } }).length).toBeGreaterThanOrEqual(2);
    expect(problems({ adapters: { modbus: [{ name: 'm', points: 'x' }, null] } }).length).toBeGreaterThanOrEqual(2);
  });
});
