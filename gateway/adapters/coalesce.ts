// Groups a device's points into as few reads as the protocol allows: Modbus caps one read at 125 registers
// (FC 3/4) or 2000 coils/inputs (FC 1/2) — Modbus Application Protocol v1.1b3, sections 6.1-6.4.
import { type Area, type Point, pointWidth } from './register-map.ts';

export const MAX_READ_REGISTERS = 125;
export const MAX_READ_BITS = 2000;

export interface ReadBlock<P extends Point = Point> {
  area: Area;
  start: number;
  count: number;
  /** Points in this block with their offset (in registers or bits) from `start`. */
  points: { point: P; offset: number }[];
}

export function coalesce<P extends Point>(points: readonly P[], maxGap = 0): ReadBlock<P>[] {
  const sorted = [...points].sort((a, b) =>
    a.area === b.area ? a.address - b.address || pointWidth(a) - pointWidth(b) : a.area < b.area ? -1 : 1,
  );
  const blocks: ReadBlock<P>[] = [];
  let cur: ReadBlock<P> | undefined;
  for (const p of sorted) {
    const width = pointWidth(p);
    const limit = p.area === 'coil' || p.area === 'discrete' ? MAX_READ_BITS : MAX_READ_REGISTERS;
    const end = p.address + width;
    if (cur && cur.area === p.area && p.address <= cur.start + cur.count + maxGap && end - cur.start <= limit) {
      cur.count = Math.max(cur.count, end - cur.start);
      cur.points.push({ point: p, offset: p.address - cur.start });
      continue;
    }
    cur = { area: p.area, start: p.address, count: width, points: [{ point: p, offset: 0 }] };
    blocks.push(cur);
  }
  return blocks;
}
