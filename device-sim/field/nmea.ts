// NMEA 0183 sentences as a GPS receiver writes them (GGA fix, RMC recommended minimum, VTG track and speed),
// generated from a profile's GPS track. Field layouts per NMEA 0183 v4.10.

export interface GpsSample {
  lat: number;
  lon: number;
  /** km/h */
  speed: number;
  /** degrees true */
  heading: number;
  altitude?: number;
  satellites?: number;
  hdop?: number;
  time: Date;
}

/** XOR of every character between '$' and '*', two hex digits. */
export function nmeaChecksum(body: string): string {
  let x = 0;
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i);
  return x.toString(16).toUpperCase().padStart(2, '0');
}

function sentence(body: string): string {
  return `$${body}*${nmeaChecksum(body)}\r\n`;
}

/** Signed decimal degrees → ddmm.mmmm (lat) / dddmm.mmmm (lon) and hemisphere. */
function coord(deg: number, isLat: boolean): [string, string] {
  const abs = Math.abs(deg);
  let d = Math.floor(abs);
  let m = (abs - d) * 60;
  if (Number(m.toFixed(4)) >= 60) {
    d += 1;
    m = 0;
  }
  const dd = String(d).padStart(isLat ? 2 : 3, '0');
  const mm = m.toFixed(4).padStart(7, '0');
  return [`${dd}${mm}`, isLat ? (deg < 0 ? 'S' : 'N') : deg < 0 ? 'W' : 'E'];
}

function hhmmss(t: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(t.getUTCHours())}${p(t.getUTCMinutes())}${p(t.getUTCSeconds())}.${String(Math.floor(t.getUTCMilliseconds() / 10)).padStart(2, '0')}`;
}

function ddmmyy(t: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(t.getUTCDate())}${p(t.getUTCMonth() + 1)}${p(t.getUTCFullYear() % 100)}`;
}

export function gga(s: GpsSample, talker = 'GP'): string {
  const [la, ns] = coord(s.lat, true);
  const [lo, ew] = coord(s.lon, false);
  const sats = String(s.satellites ?? 9).padStart(2, '0');
  return sentence(
    `${talker}GGA,${hhmmss(s.time)},${la},${ns},${lo},${ew},1,${sats},${(s.hdop ?? 0.9).toFixed(1)},${(s.altitude ?? 120).toFixed(1)},M,47.0,M,,`,
  );
}

export function rmc(s: GpsSample, talker = 'GP'): string {
  const [la, ns] = coord(s.lat, true);
  const [lo, ew] = coord(s.lon, false);
  const knots = (s.speed / 1.852).toFixed(2);
  return sentence(
    `${talker}RMC,${hhmmss(s.time)},A,${la},${ns},${lo},${ew},${knots},${s.heading.toFixed(1)},${ddmmyy(s.time)},,,A`,
  );
}

export function vtg(s: GpsSample, talker = 'GP'): string {
  return sentence(
    `${talker}VTG,${s.heading.toFixed(1)},T,,M,${(s.speed / 1.852).toFixed(2)},N,${s.speed.toFixed(2)},K,A`,
  );
}
