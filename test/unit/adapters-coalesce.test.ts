import { describe, expect, it } from 'vitest';
import { coalesce } from '../../gateway/adapters/coalesce.ts';
import { adaptersConfig } from '../fixtures/modbus-harness.ts';

function points(raw: Record<string, unknown>[]) {
  const cfg = adaptersConfig({ modbus: [{ name: 'd', points: raw }] });
  return cfg.modbus[0]?.points ?? [];
}

describe('coalescing points into reads', () => {
  it('merges contiguous points of one area into one read, whatever their config order', () => {
    const pts = points([
      { name: 'b', address: 2, type: 'float32' },
      { name: 'a', address: 0, type: 'uint32' },
      { name: 'c', address: 4, type: 'int64' },
      { name: 'i', area: 'input', address: 4 },
    ]);
    const blocks = coalesce(pts);
    expect(blocks.map((b) => [b.area, b.start, b.count])).toEqual([
      ['holding', 0, 8],
      ['input', 4, 1],
    ]);
    expect(blocks[0]?.points.map((x) => [x.point.name, x.offset])).toEqual([
      ['a', 0],
      ['b', 2],
      ['c', 4],
    ]);
  });

  it('splits at a gap unless maxGap allows spanning it', () => {
    const pts = points([
      { name: 'a', address: 0 },
      { name: 'b', address: 3 },
    ]);
    expect(coalesce(pts, 0)).toHaveLength(2);
    expect(coalesce(pts, 2).map((b) => [b.start, b.count])).toEqual([[0, 4]]);
  });

  it('keeps overlapping points in one read', () => {
    const pts = points([
      { name: 'word', address: 10, type: 'uint32' },
      { name: 'low', address: 11 },
    ]);
    expect(coalesce(pts).map((b) => [b.start, b.count])).toEqual([[10, 2]]);
  });

  it('never exceeds 125 registers or 2000 coils per read', () => {
    const regs = points(Array.from({ length: 300 }, (_, i) => ({ name: `r${i}`, address: i })));
    const rb = coalesce(regs);
    expect(rb.map((b) => b.count)).toEqual([125, 125, 50]);
    const coils = points(
      Array.from({ length: 4500 }, (_, i) => ({ name: `c${i}`, area: 'coil', address: i, type: 'bool' })),
    );
    expect(coalesce(coils).map((b) => b.count)).toEqual([2000, 2000, 500]);
    // A 4-register value never straddles two reads.
    const wide = points(Array.from({ length: 40 }, (_, i) => ({ name: `f${i}`, address: i * 4, type: 'float64' })));
    expect(coalesce(wide).every((b) => b.count <= 125 && b.count % 4 === 0)).toBe(true);
  });
});
