import { describe, expect, it } from 'vitest';
import { decodeFrame, LineSplitter } from '../../gateway/adapters/framing.ts';
import { parseNmea } from '../../gateway/adapters/nmea.ts';

describe('NMEA 0183', () => {
  it('parses GGA: position, altitude, fix quality, satellites', () => {
    expect(parseNmea('$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47')).toEqual({
      sentence: 'GGA',
      talker: 'GP',
      time: '123519',
      lat: 48.1173,
      lon: 11.5166667,
      fixQuality: 1,
      satellites: 8,
      hdop: 0.9,
      altitude: 545.4,
    });
  });

  it('parses RMC: validity, speed, heading, date; south and west are negative', () => {
    const fix = parseNmea('$GPRMC,123519,A,4807.038,S,01131.000,W,022.4,084.4,230394,003.1,W*65');
    expect(fix).toMatchObject({
      sentence: 'RMC',
      valid: true,
      lat: -48.1173,
      lon: -11.5166667,
      speedKnots: 22.4,
      heading: 84.4,
      date: '230394',
    });
    expect(fix?.speedKmh).toBeCloseTo(41.485, 3);
  });

  it('parses VTG from any talker', () => {
    expect(parseNmea('$GNVTG,054.7,T,034.4,M,005.5,N,010.2,K*56')).toEqual({
      sentence: 'VTG',
      talker: 'GN',
      heading: 54.7,
      speedKnots: 5.5,
      speedKmh: 10.2,
    });
  });

  it('reports a GGA without a fix as fix quality 0 and no position', () => {
    expect(parseNmea('$GPGGA,,,,,,0,00,99.99,,,,,,*48')).toEqual({
      sentence: 'GGA',
      talker: 'GP',
      fixQuality: 0,
      satellites: 0,
      hdop: 99.99,
    });
  });

  it('rejects a bad checksum and ignores other sentence types', () => {
    expect(() => parseNmea('$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48')).toThrow(
      expect.objectContaining({ code: 'GW_ERR_NMEA_CHECKSUM' }),
    );
    expect(parseNmea('$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74')).toBeNull();
    expect(() => parseNmea('GPGGA,1')).toThrow(expect.objectContaining({ code: 'GW_ERR_NMEA_FORMAT' }));
  });
});

describe('serial framing', () => {
  it('splits a stream at the delimiter across chunk boundaries and trims CR', () => {
    const s = new LineSplitter('\n', 64);
    expect(s.push(Buffer.from('ab'))).toEqual([]);
    expect(s.push(Buffer.from('c\r\nde'))).toEqual(['abc']);
    expect(s.push(Buffer.from('f\n\n'))).toEqual(['def', '']);
  });

  it('drops and counts a runaway frame', () => {
    const s = new LineSplitter(';', 16);
    expect(s.push(Buffer.alloc(40, 0x41))).toEqual([]);
    expect(s.overflows).toBe(1);
    expect(s.push(Buffer.from('ok;'))).toEqual(['ok']);
  });

  it('decodes delimited fields, JSON lines and NMEA', () => {
    const lines = { framing: 'lines' as const, fields: ['temp', 'hum', 'id'], separator: ';' };
    expect(decodeFrame('21.5;40;A7', lines)).toEqual({ ok: true, value: { temp: 21.5, hum: 40, id: 'A7' } });
    expect(decodeFrame('hello', { ...lines, fields: [] })).toEqual({ ok: true, value: { line: 'hello' } });
    const json = { framing: 'json' as const, fields: [], separator: ',' };
    expect(decodeFrame('{"t":1}', json)).toEqual({ ok: true, value: { t: 1 } });
    expect(decodeFrame('42', json)).toEqual({ ok: true, value: { value: 42 } });
    expect(decodeFrame('{oops', json)).toEqual({ ok: false, reason: 'json' });
    const nmea = { framing: 'nmea' as const, fields: [], separator: ',' };
    expect(decodeFrame('$GPGGA,,,,,,0,00,99.99,,,,,,*49', nmea)).toEqual({ ok: false, reason: 'checksum' });
    expect(decodeFrame('', nmea)).toBeNull();
  });
});
