// NMEA 0183 sentences a GPS receiver writes: GGA (fix), RMC (recommended minimum), VTG (track and speed).
// Field layouts per NMEA 0183 v4.10; any talker id (GP, GN, GL, GA, BD) is accepted.
import { GatewayError } from '../errors.ts';

export interface NmeaFix {
  sentence: 'GGA' | 'RMC' | 'VTG';
  talker: string;
  /** UTC time of the fix, hhmmss.ss as sent. */
  time?: string;
  /** Decimal degrees, negative south / west. */
  lat?: number;
  lon?: number;
  /** GGA: metres above mean sea level. */
  altitude?: number;
  /** GGA: 0 invalid, 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float, 6 dead reckoning. */
  fixQuality?: number;
  satellites?: number;
  hdop?: number;
  /** RMC: status A (valid) / V (void). */
  valid?: boolean;
  /** RMC: ddmmyy. */
  date?: string;
  speedKnots?: number;
  speedKmh?: number;
  /** Course over ground, degrees true. */
  heading?: number;
}

export class NmeaError extends GatewayError {
  override name = 'NmeaError';
  constructor(code: 'GW_ERR_NMEA_CHECKSUM' | 'GW_ERR_NMEA_FORMAT', message: string) {
    super(code, message);
  }
}

function num(s: string | undefined): number | undefined {
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** ddmm.mmmm (or dddmm.mmmm) plus hemisphere → signed decimal degrees. */
function coord(v: string | undefined, hemi: string | undefined): number | undefined {
  const n = num(v);
  if (n === undefined) return undefined;
  const deg = Math.trunc(n / 100);
  const dec = deg + (n - deg * 100) / 60;
  const signed = hemi === 'S' || hemi === 'W' ? -dec : dec;
  return Math.round(signed * 1e7) / 1e7;
}

function strip<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/** Parses one sentence. Returns null for well-formed sentences of other types; throws NmeaError on a bad one. */
export function parseNmea(line: string): NmeaFix | null {
  const s = line.trim();
  if (!s.startsWith('$')) throw new NmeaError('GW_ERR_NMEA_FORMAT', 'sentence does not start with $');
  const star = s.lastIndexOf('*');
  let body = s.slice(1);
  if (star !== -1) {
    body = s.slice(1, star);
    const given = Number.parseInt(s.slice(star + 1, star + 3), 16);
    let sum = 0;
    for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i);
    if (Number.isNaN(given) || given !== sum) throw new NmeaError('GW_ERR_NMEA_CHECKSUM', 'checksum mismatch');
  }
  const f = body.split(',');
  const head = f[0] ?? '';
  if (head.length < 5) throw new NmeaError('GW_ERR_NMEA_FORMAT', `bad address field "${head}"`);
  const talker = head.slice(0, head.length - 3);
  const type = head.slice(-3);
  switch (type) {
    case 'GGA':
      return strip({
        sentence: 'GGA' as const,
        talker,
        time: f[1] || undefined,
        lat: coord(f[2], f[3]),
        lon: coord(f[4], f[5]),
        fixQuality: num(f[6]),
        satellites: num(f[7]),
        hdop: num(f[8]),
        altitude: num(f[9]),
      });
    case 'RMC': {
      const knots = num(f[7]);
      return strip({
        sentence: 'RMC' as const,
        talker,
        time: f[1] || undefined,
        valid: f[2] === 'A',
        lat: coord(f[3], f[4]),
        lon: coord(f[5], f[6]),
        speedKnots: knots,
        speedKmh: knots === undefined ? undefined : Math.round(knots * 1.852 * 1000) / 1000,
        heading: num(f[8]),
        date: f[9] || undefined,
      });
    }
    case 'VTG': {
      // NMEA 2.3+: 1 course T, 2 'T', 3 course M, 4 'M', 5 knots, 6 'N', 7 km/h, 8 'K'.
      const knots = num(f[5]);
      const kmh = num(f[7]);
      return strip({
        sentence: 'VTG' as const,
        talker,
        heading: num(f[1]),
        speedKnots: knots,
        speedKmh: kmh ?? (knots === undefined ? undefined : Math.round(knots * 1.852 * 1000) / 1000),
      });
    }
    default:
      return null;
  }
}
